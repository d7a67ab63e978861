"""What Can Be Learnt With Wide Convolutional Neural Networks? (Cagnetta, Favero & Wyart, ICML 2023).

arXiv:2208.01003 · official code: none found.
Used by: ``notebooks/01_how_networks_learn/05_wide_cnn_kernel_locality.ipynb``.

The paper studies *hierarchical* (tree-like) CNNs in the kernel regime: ``L`` hidden layers, filters of size
``s`` applied with stride ``s`` (no overlap), input dimension ``d = s^L``. Each hidden neuron sees a
*meta-patch* (a patch of patches) of ``s^l`` adjacent inputs at layer ``l`` (paper Fig. 1). At
infinite width the network is a kernel that follows the tree (the paper's RFK/NNGP and NTK of deep CNNs)::

    K^(1)_i(x, y) = κ1(x_i · y_i)                           leaf i: the s-dim patch x_i, normalised to the sphere
    K^(l)_I(x, y) = κ1( (1/s) Σ_{j child of I} K^(l-1)_j )   node I at layer l (its meta-patch has s^l inputs)
    K(x, y)       = K^(L)_root                              NNGP of the output (readout of the root)

    Θ^(1)_i = κ1(t_i) + t_i κ0(t_i),  t_i = x_i · y_i
    Θ^(l)_I = K^(l)_I + κ0(ρ_I) · (1/s) Σ_j Θ^(l-1)_j,       ρ_I = (1/s) Σ_j K^(l-1)_j      (NTK)

with the arc-cosine maps ``κ1, κ0`` of :mod:`featurelab.kernels`. The kernel's eigenfunctions are organised
by meta-patches, and the error of kernel ridge regression on a target that depends only on a small block of
*adjacent* inputs decays at a rate set by that block's effective dimension, not by ``d``. A
fully connected kernel on all ``d`` inputs has no such adaptation.

What is here: :func:`split_patches`, :func:`tree_cnn_kernels` (vectorised over data points, one tree node
at a time), :func:`make_task` (inputs and the three targets as Gaussian-process samples: leaf-local,
meta-patch, global), :func:`fit_exponent`, and the paper contract (:mod:`featurelab.experiment`):
:class:`Config` / :data:`PRESETS` / :data:`SMOKE`, :func:`run` (learning curves of the method's kernel — the
tree CNN — and of the fully connected baseline kernel), :func:`claim_values`, :data:`CLAIMS`, :data:`SWAPS`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from featurelab.kernels import fc_relu_kernels, kappa0, kappa1, kernel_ridge_curve, normalize_rows, sample_gp
from featurelab.base import ParameterError, progress
from featurelab.claims import ClaimSpec
from featurelab.experiment import Knobs, Swap, knob

__all__ = [
    "split_patches",
    "tree_cnn_kernels",
    "TreeKernels",
    "Config",
    "PRESETS",
    "SMOKE",
    "TARGETS",
    "KERNELS",
    "Task",
    "make_task",
    "method_kernel",
    "CurveResult",
    "run",
    "fit_exponent",
    "claim_values",
    "CLAIMS",
    "SWAPS",
]

TARGETS = ("leaf", "meta", "global")


def split_patches(x: Tensor, s: int) -> Tensor:
    """``(N, d)`` → ``(N, d/s, s)``: the non-overlapping patches of size ``s``, each normalised to the unit sphere."""
    if x.shape[-1] % s:
        raise ParameterError(f"input dimension {x.shape[-1]} is not a multiple of the filter size {s}")
    return normalize_rows(x.reshape(x.shape[0], -1, s))


@dataclass
class TreeKernels:
    """Kernels of the tree CNN between ``x`` (``N`` points) and ``y`` (``M`` points), each ``(N, M)``.

    ``nngp``/``ntk``: the output kernels (root). ``leaf``: ``K^(1)`` of the first patch; ``meta``: ``K^(2)`` of
    the first meta-patch (``s²`` inputs); both are the covariances used to draw the local targets.
    """

    nngp: Tensor
    ntk: Tensor | None
    leaf: Tensor
    meta: Tensor


def tree_cnn_kernels(x: Tensor, y: Tensor | None, s: int, depth: int, ntk: bool = False,
                     block: int | None = None) -> TreeKernels:
    """NNGP (and optionally NTK) of the ``depth``-hidden-layer tree CNN with filter size ``s`` (equations above).

    Args:
        x: ``(N, d)``, y: ``(M, d)`` inputs with ``d = s**depth`` (``y=None``: ``y = x``). Each patch is
            normalised to the unit sphere here.
        block: rows of ``x`` processed at once (default: 64 on a CPU, ~2^25 / M on a GPU). Every tree node is one
            vectorised operation on a ``(block, M)`` slab; on a CPU small slabs stay in cache, which makes the
            build several times faster than whole ``(N, M)`` matrices (the cost is memory traffic, not arithmetic).
    The recursion walks the tree depth-first (at most ``depth · s`` slabs alive at once).
    """
    if not isinstance(s, int) or s < 2 or not isinstance(depth, int) or depth < 1:
        raise ParameterError(f"need filter size s >= 2 and depth >= 1, got s={s!r}, depth={depth!r}")
    d = x.shape[-1]
    if d != s**depth:
        raise ParameterError(f"a tree CNN with s={s}, depth={depth} needs d = s**depth = {s**depth} inputs, got {d}")
    px = split_patches(x, s)  # (N, P, s)
    py = px if y is None else split_patches(y, s)  # (M, P, s)
    pyt = py.permute(1, 2, 0).contiguous()  # (P, s, M)
    N, M = px.shape[0], py.shape[0]
    if block is None:
        block = 64 if x.device.type == "cpu" else max(64, 2**25 // max(M, 1))
    out = {k: torch.empty(N, M, dtype=x.dtype, device=x.device) for k in ("nngp", "leaf", "meta")}
    out_ntk = torch.empty(N, M, dtype=x.dtype, device=x.device) if ntk else None

    def node(rows: Tensor, level: int, index: int, keep: dict) -> tuple[Tensor, Tensor | None]:
        """(K, Θ) slabs ``(B, M)`` of node ``index`` at ``level`` (1 = leaves; leaf ``i`` is patch ``i``)."""
        if level == 1:
            t = rows[:, index] @ pyt[index]  # (B, M): patch dot products x_i · y_i
            k = kappa1(t)
            th = kappa0(t).mul_(t).add_(k) if ntk else None
        else:
            acc_k, acc_t = None, None
            for c in range(s):
                ck, ct = node(rows, level - 1, index * s + c, keep)
                acc_k = ck if acc_k is None else acc_k.add_(ck)
                if ntk:
                    acc_t = ct if acc_t is None else acc_t.add_(ct)
            rho = acc_k.div_(s)
            k = kappa1(rho)
            th = kappa0(rho).mul_(acc_t.div_(s)).add_(k) if ntk else None
        if index == 0 and level in (1, 2):
            keep[level] = k.clone() if level < depth else k
        return k, th

    for i in range(0, N, block):
        keep: dict[int, Tensor] = {}
        k_root, th_root = node(px[i:i + block], depth, 0, keep)
        out["nngp"][i:i + block] = k_root
        out["leaf"][i:i + block] = keep[1]
        out["meta"][i:i + block] = keep.get(2, k_root)
        if ntk:
            out_ntk[i:i + block] = th_root
    return TreeKernels(nngp=out["nngp"], ntk=out_ntk, leaf=out["leaf"], meta=out["meta"])


# ----------------------------------------------------------------------------------------------------------
# The experiment: learning curves of local and global targets (teacher-student)
# ----------------------------------------------------------------------------------------------------------
KERNELS = ("cnn", "cnn_shuffled", "fc", "fc_deep")


@dataclass(frozen=True)
class Config(Knobs):
    """Every knob of the learning-curve experiment. The *method* arm regresses with ``method`` (the tree-CNN
    kernel unless a swap puts another kernel there); the *baseline* arm with the fully connected kernel."""

    n_seeds: int = knob(2, lo=1, doc="independent tasks (inputs + targets) per run")
    s: int = knob(3, lo=2, doc="filter size")
    depth: int = knob(3, lo=2, doc="hidden layers L of the tree CNN; d = s**L")
    ns: tuple[int, ...] = knob((64, 128, 256, 512, 1024, 2048), lo=2, doc="training-set sizes (nested, increasing)")
    n_test: int = knob(500, lo=1, doc="test points")
    ridge: float = knob(1e-6, lo=0, doc="ridge of kernel regression (near-ridgeless, no label noise)")
    student: str = knob("nngp", choices=("nngp", "ntk"), doc="kernel type of both arms: NNGP or NTK")
    fc_depth: int = knob(1, lo=1, doc="hidden layers of the fully connected baseline kernel")
    method: str = knob("cnn", choices=KERNELS, doc="kernel in the method's arm (swaps change it)")

    def validate(self) -> None:
        if self.s**self.depth > 4096:
            raise ParameterError(f"d = S**DEPTH = {self.s ** self.depth} is too large (max 4096)")
        if len(self.ns) < 2 or list(self.ns) != sorted(set(self.ns)):
            raise ParameterError(f"NS={self.ns!r} must hold at least two strictly increasing sizes")
        if self.ns[-1] + self.n_test > 40_000:
            raise ParameterError("max(NS) + N_TEST must stay <= 40000 (memory)")


PRESETS: dict[str, Config] = {
    "small": Config(),
    "full": Config(n_seeds=5, s=4, depth=3, ns=(64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
                   n_test=2000),  # N = 18384 points: the (N, N) float64 kernels need a GPU's memory
}
SMOKE = {"n_seeds": 1, "ns": (16, 32), "n_test": 16}


@dataclass
class Task:
    """Inputs ``x (N, d)`` (each patch uniform on the sphere ``S^{s-1}``) and unit-variance targets
    ``y (N, 3)`` — columns in :data:`TARGETS` order; the first ``n_train`` rows train, the rest test."""

    x: Tensor
    y: Tensor
    n_train: int


def make_task(cfg: Config, seed: int, device: torch.device | str = "cpu") -> tuple[Task, TreeKernels]:
    """Draw inputs and the three Gaussian-process targets jointly on train+test points.

    leaf: covariance ``K^(1)`` of patch 1 (``s`` inputs); meta: ``K^(2)`` of the first meta-patch (``s²``
    inputs); global: the full tree kernel (a random infinitely wide tree CNN as teacher). Returns the task and
    the tree kernels on all points (the method's kernel is one of them unless a swap changes it).
    """
    g = torch.Generator().manual_seed(seed)
    n_train = cfg.ns[-1]
    N, d = n_train + cfg.n_test, cfg.s**cfg.depth
    x = torch.randn(N, d, generator=g, dtype=torch.float64)
    x = split_patches(x, cfg.s).reshape(N, d).to(device)  # each patch uniform on the unit sphere
    kern = tree_cnn_kernels(x, None, cfg.s, cfg.depth, ntk=cfg.student == "ntk")
    ys = []
    for k in (kern.leaf, kern.meta, kern.nngp):
        f = sample_gp(k, 1, generator=g, jitter=1e-8)[:, 0]
        ys.append((f - f.mean()) / f.std())
    return Task(x=x, y=torch.stack(ys, 1), n_train=n_train), kern


def method_kernel(cfg: Config, task: Task, kern: TreeKernels, seed: int) -> Tensor:
    """The kernel of the method's arm between all points and the training points, ``(N, ≥ n_train)``.

    ``cnn``: the tree-CNN kernel the targets were drawn with. ``cnn_shuffled``: the same tree CNN on the inputs
    in a random order (fixed per seed), so that the target's patch is spread over the tree — locality removed,
    hierarchy kept. ``fc`` / ``fc_deep``: the fully connected kernel with ``fc_depth`` / 3 hidden layers.
    """
    if cfg.method == "cnn":
        return kern.ntk if cfg.student == "ntk" else kern.nngp
    if cfg.method == "cnn_shuffled":
        d = task.x.shape[1]
        perm = torch.randperm(d, generator=torch.Generator().manual_seed(seed + 7_777_777)).to(task.x.device)
        k = tree_cnn_kernels(task.x[:, perm], None, cfg.s, cfg.depth, ntk=cfg.student == "ntk")
        return k.ntk if cfg.student == "ntk" else k.nngp
    depth = cfg.fc_depth if cfg.method == "fc" else 3
    nngp, ntk = fc_relu_kernels(task.x, task.x[: task.n_train], depth)
    return ntk if cfg.student == "ntk" else nngp


@dataclass
class CurveResult:
    """``mse[arm]``: ``(S, len(ns), 3)`` test MSE per seed, training size and target (:data:`TARGETS`) for the
    arms ``"method"`` (``kernel["method"]``, the tree CNN unless swapped) and ``"baseline"`` (the FC kernel)."""

    ns: np.ndarray
    seeds: list[int]
    kernel: dict[str, str] = field(default_factory=dict)
    mse: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def _curve(k_all: Tensor, task: Task, ns: list[int], ridge: float) -> np.ndarray:
    """``k_all``: ``(N, n_train)`` kernel between all points and the training points → MSE ``(len(ns), 3)``."""
    n = task.n_train
    c = kernel_ridge_curve(k_all[:n, :n], task.y[:n], k_all[n:, :n], task.y[n:], ns, ridge)
    return c.test_mse.cpu().numpy()


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu",
        progress: bool | None = None) -> CurveResult:
    """For each seed: draw a task, fit kernel ridge regression with the method's kernel (the tree CNN) and the
    fully connected baseline kernel on the first ``n`` points for every ``n`` in ``cfg.ns``, and record the test
    MSE of each target."""
    start = time.perf_counter()
    res = CurveResult(ns=np.array(cfg.ns), seeds=list(seeds), kernel={"method": cfg.method, "baseline": "fc"})
    res.mse = {a: np.zeros((len(seeds), len(cfg.ns), 3)) for a in ("method", "baseline")}
    bar = _progress(total=len(seeds), desc="learning curves", enabled=progress)
    for i, seed in enumerate(seeds):
        task, kern = make_task(cfg, seed, device)
        res.mse["method"][i] = _curve(method_kernel(cfg, task, kern, seed), task, list(cfg.ns), cfg.ridge)
        nngp_fc, ntk_fc = fc_relu_kernels(task.x, task.x[: task.n_train], cfg.fc_depth)  # (N, n_train)
        res.mse["baseline"][i] = _curve(ntk_fc if cfg.student == "ntk" else nngp_fc, task, list(cfg.ns), cfg.ridge)
        bar.update(1)
    bar.close()
    res.seconds = time.perf_counter() - start
    return res


_progress = progress  # run() has a parameter named progress


def fit_exponent(ns: np.ndarray, mse: np.ndarray, last: int = 4) -> float:
    """``β`` of ``mse ≈ C n^{-β}`` fitted by least squares on the last ``last`` points (log-log)."""
    ns, mse = np.asarray(ns, float)[-last:], np.asarray(mse, float)[-last:]
    return float(-np.polyfit(np.log(ns), np.log(mse), 1)[0])


# ----------------------------------------------------------------------------------------------------------
# The claims and the swaps that must break them
# ----------------------------------------------------------------------------------------------------------
def claim_values(res: CurveResult) -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)`` at the largest training size.

    * ``locality_advantage``: ``err_baseline / err_method`` on the leaf-local target.
    * ``global_advantage``: ``err_baseline / err_method`` on the global target (a random CNN as teacher).
    * ``advantage_gap``: ``locality_advantage − global_advantage`` — how much of the advantage is specific to
      the local target rather than to the student matching the teacher's architecture.
    * ``local_vs_global``: ``err_method(global) / err_method(leaf)`` — how much easier the local target is.
    * reported, not asserted: ``beta_leaf_method_minus_baseline`` — the fitted learning-curve exponent on the
      leaf target (last 4 sizes), method minus baseline: the paper's "steeper curve", which does not show here.
    """
    leaf, glob = TARGETS.index("leaf"), TARGETS.index("global")
    m, b = res.mse["method"], res.mse["baseline"]
    adv_leaf = b[:, -1, leaf] / m[:, -1, leaf]
    adv_glob = b[:, -1, glob] / m[:, -1, glob]
    beta = np.array([fit_exponent(res.ns, m[i, :, leaf]) - fit_exponent(res.ns, b[i, :, leaf]) for i in range(len(m))])
    return {
        "locality_advantage": adv_leaf,
        "global_advantage": adv_glob,
        "advantage_gap": adv_leaf - adv_glob,
        "local_vs_global": m[:, -1, glob] / m[:, -1, leaf],
        "beta_leaf_method_minus_baseline": beta,
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("locality_advantage_leaf", "locality_advantage", ">=", 1.5,
              "test error of the FC kernel over that of the tree-CNN kernel on the leaf-local target at the largest "
              "n (mean over the run's seeds)",
              "qualitative: a local target is learnt at a rate set by its patch, not by d (the learning-curve "
              "exponents of the teacher–student analysis); "
              "no error ratio reported"),
    ClaimSpec("locality_advantage_minus_global", "advantage_gap", ">=", 0.3,
              "that ratio on the leaf target minus the same ratio on the global target (mean over seeds): the "
              "advantage is about locality, not only about the student matching the teacher's architecture",
              "qualitative: a global target stays hard for the CNN too (curse of dimensionality); no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("cnn_shuffled_inputs", {"method": "cnn_shuffled"},
         ("locality_advantage_leaf", "locality_advantage_minus_global"), "mechanism",
         "the same tree-CNN kernel on the inputs in a random order: hierarchy kept, locality removed (the target's "
         "patch is spread over the tree)"),
    Swap("fc_deep", {"method": "fc_deep"}, ("locality_advantage_leaf", "locality_advantage_minus_global"),
         "baseline", "a deeper (3 hidden layers) fully connected kernel in the CNN's place: another non-local "
         "kernel that could beat the 1-layer FC kernel"),
    Swap("fc_as_method", {"method": "fc"}, ("locality_advantage_leaf", "locality_advantage_minus_global"), "sanity",
         "the baseline's own FC kernel in the CNN's place (ratio exactly 1, gap exactly 0 by construction)"),
)
