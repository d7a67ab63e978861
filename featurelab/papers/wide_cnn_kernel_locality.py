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
at a time), :class:`LocalityConfig` / :data:`PRESETS`, :func:`make_task` (inputs and the three targets as
Gaussian-process samples: leaf-local, meta-patch, global), :func:`run_learning_curves` (the experiment:
tree-CNN kernel vs fully connected kernel) and :func:`fit_exponent`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from featurelab.kernels import fc_relu_kernels, kappa0, kappa1, kernel_ridge_curve, normalize_rows, sample_gp
from featurelab.run import ParameterError

__all__ = [
    "split_patches",
    "tree_cnn_kernels",
    "TreeKernels",
    "LocalityConfig",
    "PRESETS",
    "TARGETS",
    "Task",
    "make_task",
    "CurveResult",
    "run_learning_curves",
    "fit_exponent",
    "claim_values",
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
@dataclass(frozen=True)
class LocalityConfig:
    """Every knob of the learning-curve experiment."""

    n_seeds: int = 2
    s: int = 3  # filter size
    depth: int = 3  # hidden layers L; d = s**L
    ns: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)  # training-set sizes (nested)
    n_test: int = 500
    ridge: float = 1e-6  # near-ridgeless (no label noise)
    student: str = "nngp"  # tree-CNN kernel used for regression: "nngp" or "ntk"
    fc_depth: int = 1  # hidden layers of the fully connected baseline kernel

    def __post_init__(self) -> None:
        for name in ("n_seeds", "s", "depth", "n_test", "fc_depth"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"LocalityConfig.{name} must be a positive integer, got {v!r}")
        if self.s < 2 or self.depth < 2:
            raise ParameterError(f"need s >= 2 and depth >= 2 (leaf, meta-patch and root differ), got s={self.s}, "
                                 f"depth={self.depth}")
        if self.s**self.depth > 4096:
            raise ParameterError(f"d = s**depth = {self.s ** self.depth} is too large (max 4096)")
        if len(self.ns) < 2 or any(not isinstance(n, int) or n < 2 for n in self.ns) or list(self.ns) != sorted(
                set(self.ns)):
            raise ParameterError(f"LocalityConfig.ns must be >= 2 increasing integers >= 2, got {self.ns!r}")
        if self.ns[-1] + self.n_test > 40_000:
            raise ParameterError("LocalityConfig: max(ns) + n_test must stay <= 40000 (memory)")
        if not (isinstance(self.ridge, (int, float)) and math.isfinite(self.ridge) and self.ridge >= 0):
            raise ParameterError(f"LocalityConfig.ridge must be a number >= 0, got {self.ridge!r}")
        if self.student not in ("nngp", "ntk"):
            raise ParameterError(f"LocalityConfig.student must be 'nngp' or 'ntk', got {self.student!r}")


PRESETS: dict[str, LocalityConfig] = {
    "small": LocalityConfig(),
    "full": LocalityConfig(n_seeds=5, s=4, depth=3, ns=(64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384),
                           n_test=2000),  # N = 18384 points: the (N, N) float64 kernels need a GPU's memory
}


@dataclass
class Task:
    """Inputs ``x (N, d)`` (each patch uniform on the sphere ``S^{s-1}``) and unit-variance targets
    ``y (N, 3)`` — columns in :data:`TARGETS` order; the first ``n_train`` rows train, the rest test."""

    x: Tensor
    y: Tensor
    n_train: int


def make_task(cfg: LocalityConfig, seed: int, device: torch.device | str = "cpu") -> tuple[Task, TreeKernels]:
    """Draw inputs and the three Gaussian-process targets jointly on train+test points.

    leaf: covariance ``K^(1)`` of patch 1 (``s`` inputs); meta: ``K^(2)`` of the first meta-patch (``s²``
    inputs); global: the full tree kernel (a random infinitely wide tree CNN as teacher). Returns the task and
    the student's kernels on all points (reused by :func:`run_learning_curves`).
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


@dataclass
class CurveResult:
    """``mse[kernel]``: ``(S, len(ns), 3)`` test MSE per seed, training size and target (:data:`TARGETS`)."""

    ns: np.ndarray
    seeds: list[int]
    mse: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def _curve(k_all: Tensor, task: Task, ns: list[int], ridge: float) -> np.ndarray:
    """``k_all``: ``(N, n_train)`` kernel between all points and the training points → MSE ``(len(ns), 3)``."""
    n = task.n_train
    c = kernel_ridge_curve(k_all[:n, :n], task.y[:n], k_all[n:, :n], task.y[n:], ns, ridge)
    return c.test_mse.cpu().numpy()


def run_learning_curves(cfg: LocalityConfig, seeds: list[int], device: torch.device | str = "cpu",
                        progress_bar: bool | None = None) -> CurveResult:
    """For each seed: draw a task, fit kernel ridge regression with the tree-CNN kernel (``"cnn"``) and the
    fully connected ReLU kernel (``"fc"``) on the first ``n`` points for every ``n`` in ``cfg.ns``, and
    record the test MSE of each target."""
    from featurelab.train import progress

    start = time.perf_counter()
    res = CurveResult(ns=np.array(cfg.ns), seeds=list(seeds))
    res.mse = {"cnn": np.zeros((len(seeds), len(cfg.ns), 3)), "fc": np.zeros((len(seeds), len(cfg.ns), 3))}
    bar = progress(total=len(seeds), desc="learning curves", enabled=progress_bar)
    for i, seed in enumerate(seeds):
        task, kern = make_task(cfg, seed, device)
        k_cnn = kern.ntk if cfg.student == "ntk" else kern.nngp
        res.mse["cnn"][i] = _curve(k_cnn, task, list(cfg.ns), cfg.ridge)
        nngp_fc, ntk_fc = fc_relu_kernels(task.x, task.x[: task.n_train], cfg.fc_depth)  # (N, n_train)
        res.mse["fc"][i] = _curve(ntk_fc if cfg.student == "ntk" else nngp_fc, task, list(cfg.ns), cfg.ridge)
        bar.update(1)
    bar.close()
    res.seconds = time.perf_counter() - start
    return res


def fit_exponent(ns: np.ndarray, mse: np.ndarray, last: int = 4) -> float:
    """``β`` of ``mse ≈ C n^{-β}`` fitted by least squares on the last ``last`` points (log-log)."""
    ns, mse = np.asarray(ns, float)[-last:], np.asarray(mse, float)[-last:]
    return float(-np.polyfit(np.log(ns), np.log(mse), 1)[0])


def claim_values(res: CurveResult, method: str = "cnn", baseline: str = "fc") -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)`` at the largest training size (pass ``method="fc"`` for the baseline swap).

    * ``locality_advantage``: ``err_baseline / err_method`` on the leaf-local target.
    * ``global_advantage``: ``err_baseline / err_method`` on the global target (a random CNN as teacher).
    * ``advantage_gap``: ``locality_advantage - global_advantage`` — how much of the advantage is specific to
      the local target rather than to the student matching the teacher's architecture.
    * ``local_vs_global``: ``err_method(global) / err_method(leaf)`` — how much easier the local target is.
    """
    leaf, glob = TARGETS.index("leaf"), TARGETS.index("global")
    adv_leaf = res.mse[baseline][:, -1, leaf] / res.mse[method][:, -1, leaf]
    adv_glob = res.mse[baseline][:, -1, glob] / res.mse[method][:, -1, glob]
    return {
        "locality_advantage": adv_leaf,
        "global_advantage": adv_glob,
        "advantage_gap": adv_leaf - adv_glob,
        "local_vs_global": res.mse[method][:, -1, glob] / res.mse[method][:, -1, leaf],
    }
