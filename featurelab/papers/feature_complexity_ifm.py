"""Feature complexity by Iterative Feature Merging (IFM): how many *functionally different* units does a layer hold?

Chen, Zhou & Yan, "Going Beyond Neural Network Feature Similarity: The Network Feature Complexity and Its
Interpretation Using Category Theory", ICLR 2024, arXiv:2310.06756. Used by the notebook
``notebooks/01_how_networks_learn/07_feature_complexity_ifm.ipynb``.

Two features are *functionally equivalent* when an invertible map ``T`` turns one into the other and the
rest of the network can undo it (``F_B = T F_A``, ``g_B = g_A ∘ T⁻¹``). The **feature complexity** of a layer
is the size of its most compact functionally equivalent version. For a ReLU unit the simplest such ``T`` is
a positive rescaling, ``a·relu(wᵀx + b) = relu(a·(wᵀx + b))`` for ``a > 0``: two units whose incoming vectors
``[w; b]`` point the same way compute the same feature up to scale, and one can be folded into the other by
adding its (rescaled) outgoing weights to the other's. IFM estimates the complexity by doing exactly that,
greedily, until the closest remaining pair is farther apart than a threshold β; the units left are the
estimate, and the merged net is a pruned net obtained without data or fine-tuning.

What is here
------------
* :func:`init_mlp`, :func:`forward`, :func:`train_mlps` — 64→W→W→10 ReLU MLPs kept as plain weight lists
  (``[(W, b), ...]`` in ``nn.Linear`` layout), trained several seeds at once as a batched ensemble.
* :func:`unit_directions`, :func:`merge_units`, :func:`ifm_layer`, :func:`ifm` — the mechanism.
* :func:`random_merge` — the baseline: merge as many units, but random pairs.
* :class:`IFMConfig`, :data:`PRESETS`, :func:`run_experiment` → :class:`IFMResult`.

The exact distance of the official code was not verified (see the notebook); we use the Euclidean distance
between unit-normalised incoming vectors ``u_i = [w_i; b_i] / ‖[w_i; b_i]‖``, for which a merge is exact when
``u_i = u_j``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..data import Split, load_digits_split, subset
from ..run import ParameterError
from ..train import progress

__all__ = [
    "Layers",
    "IFMConfig",
    "PRESETS",
    "init_mlp",
    "forward",
    "accuracy",
    "train_mlps",
    "unit_directions",
    "merge_units",
    "apply_merges",
    "ifm_layer",
    "ifm",
    "random_merge",
    "IFMResult",
    "run_experiment",
    "THRESHOLDS",
]

#: A ReLU MLP as a list of ``(W, b)`` with ``W`` of shape ``(out, in)`` and ``b`` of shape ``(out,)``
#: (``nn.Linear`` layout); ReLU between layers, none after the last.
Layers = list[tuple[torch.Tensor, torch.Tensor]]


# ----------------------------------------------------------------------------------------------------------
# 1. The networks
# ----------------------------------------------------------------------------------------------------------
def init_mlp(sizes: list[int], scale: float = 1.0, generator: torch.Generator | None = None) -> Layers:
    """PyTorch's default ``nn.Linear`` init (weights and biases ``U(−1/√fan_in, 1/√fan_in)``) times ``scale``.

    ``scale < 1`` is the small-initialisation regime where units *condense* (many hidden units align their
    incoming weights during training), which makes functional redundancy visible in a few hundred steps.
    """
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(fan_out, fan_in, generator=generator) * 2 - 1) * bound * scale
        b = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound * scale
        layers.append((w, b))
    return layers


def forward(layers: Layers, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(N, K)`` of the MLP for inputs ``x`` ``(N, D)``."""
    h = x
    for k, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if k < len(layers) - 1:
            h = torch.relu(h)
    return h


def accuracy(layers: Layers, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of the MLP on ``(x, y)``."""
    with torch.no_grad():
        return (forward(layers, x).argmax(-1) == y).float().mean().item()


def train_mlps(sizes: list[int], seeds: list[int], x: torch.Tensor, y: torch.Tensor, *, init_scale: float,
               steps: int, lr: float, weight_decay: float, device: torch.device | str = "cpu",
               progress_bar: bool | None = None, desc: str = "train") -> list[Layers]:
    """Train one MLP per seed, all at once (a batched ensemble), full-batch Adam with (coupled) weight decay.

    Member ``m`` is initialised with :func:`init_mlp` from ``torch.Generator().manual_seed(seeds[m])``; the
    ensemble only stacks the members' weights along a leading dimension ``(M, ...)`` so one ``torch.baddbmm``
    serves all of them (same result as training each alone, up to float rounding).

    Args:
        x: ``(N, D)`` inputs, y: ``(N,)`` labels. Returns one :data:`Layers` per seed (CPU tensors).
    """
    if steps < 0 or lr <= 0:
        raise ParameterError(f"steps must be ≥ 0 and lr positive, got steps={steps}, lr={lr}")
    inits = [init_mlp(sizes, init_scale, torch.Generator().manual_seed(s)) for s in seeds]
    params = []
    for k in range(len(sizes) - 1):
        params.append(torch.stack([m[k][0].T for m in inits]).to(device).requires_grad_())  # (M, in, out)
        params.append(torch.stack([m[k][1] for m in inits]).unsqueeze(1).to(device).requires_grad_())  # (M, 1, out)
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    xm = x.to(device).unsqueeze(0).expand(len(seeds), -1, -1)
    ym = y.to(device).repeat(len(seeds))
    n_layers = len(sizes) - 1
    for _ in progress(range(steps), desc=desc, enabled=progress_bar):
        h = xm
        for k in range(n_layers):
            h = torch.baddbmm(params[2 * k + 1], h, params[2 * k])
            if k < n_layers - 1:
                h = torch.relu(h)
        loss = F.cross_entropy(h.reshape(-1, h.shape[-1]), ym) * len(seeds)  # sum of the members' mean losses
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    out = []
    for m in range(len(seeds)):
        out.append([(params[2 * k][m].detach().T.contiguous().cpu(), params[2 * k + 1][m, 0].detach().cpu())
                    for k in range(n_layers)])
    return out


# ----------------------------------------------------------------------------------------------------------
# 2. The mechanism: Iterative Feature Merging
# ----------------------------------------------------------------------------------------------------------
def unit_directions(w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Incoming vectors ``[w_i; b_i]`` of the units of a layer, unit-normalised, and their norms.

    ``w``: ``(H, D)``, ``b``: ``(H,)`` → ``u`` ``(H, D + 1)`` with unit rows and ``norms`` ``(H,)``. Positive
    rescaling of a ReLU unit leaves ``u`` unchanged: it is the unit's feature up to the equivalence ``T``.
    """
    v = torch.cat([w, b.unsqueeze(1)], dim=1)
    norms = v.norm(dim=1)
    return v / norms.clamp_min(1e-12).unsqueeze(1), norms


def merge_units(layers: Layers, l: int, i: int, j: int) -> Layers:
    """Fold unit ``i`` of hidden layer ``l`` into unit ``j`` and delete it.

    With ``n = ‖[w; b]‖``: ``relu(wᵢᵀx + bᵢ) ≈ (nᵢ/nⱼ) relu(wⱼᵀx + bⱼ)`` when ``uᵢ ≈ uⱼ``, so unit ``i``'s
    outgoing weights move to ``j`` rescaled, ``v[:, j] ← v[:, j] + (nᵢ/nⱼ) v[:, i]`` — exact when ``uᵢ = uⱼ``.
    Returns new layers (inputs are not modified); hidden layer ``l`` loses one unit.
    """
    return apply_merges(layers, l, [(i, j)])


def apply_merges(layers: Layers, l: int, merges: list[tuple[int, int]]) -> Layers:
    """Apply a sequence of merges ``(i, j)`` ("fold unit i into unit j"), indices of the *original* layer ``l``.

    Every folded unit's outgoing weights are added, rescaled by ``nᵢ/nⱼ``, to its partner's (as in
    :func:`merge_units`); the folded units are deleted once at the end. A unit must not be used after it has
    been folded.
    """
    (w, b), (v, c) = layers[l], layers[l + 1]
    _, norms = unit_directions(w, b)
    v = v.clone()
    keep = torch.ones(w.shape[0], dtype=torch.bool)
    for i, j in merges:
        if not (keep[i] and keep[j]) or i == j:
            raise ParameterError(f"cannot fold unit {i} into {j}: each must be a distinct, not yet folded unit")
        v[:, j] += (norms[i] / norms[j].clamp_min(1e-12)) * v[:, i]
        keep[i] = False
    out = list(layers)
    out[l] = (w[keep], b[keep])
    out[l + 1] = (v[:, keep], c)
    return out


def ifm_layer(layers: Layers, l: int, beta: float, max_ratio: float = 1.0) -> tuple[Layers, list[float]]:
    """Iterative Feature Merging on hidden layer ``l`` (the paper's IFM, one layer).

    Repeat: find the two remaining units whose directions ``u`` are closest (Euclidean distance); if that
    distance is below ``beta``, fold the one with the smaller norm into the other — else stop. ``max_ratio``
    caps the fraction of the layer's units that may be merged (the official code's ``--max_ratio``). A merge
    changes only the kept unit's *outgoing* weights, so the incoming directions of the remaining units — and
    their distances — stay as they were: one distance matrix serves the whole loop (a folded unit's row and
    column are set to ∞, and only the rows that pointed at it look for a new nearest unit).

    Returns ``(merged_layers, distances)`` where ``distances`` lists the distance of every merge, in order.
    """
    if beta < 0:
        raise ParameterError(f"beta must be ≥ 0, got {beta}")
    if not 0 <= max_ratio <= 1:
        raise ParameterError(f"max_ratio must be in [0, 1], got {max_ratio}")
    if not 0 <= l < len(layers) - 1:
        raise ParameterError(f"layer {l} is not a hidden layer (this net has {len(layers) - 1})")
    w, b = layers[l]
    u, norms = unit_directions(w.double(), b.double())
    h = u.shape[0]
    d = torch.cdist(u, u)
    d.fill_diagonal_(float("inf"))
    best, partner = d.min(dim=1)  # each unit's nearest other unit (kept up to date as units are folded)
    merges: list[tuple[int, int]] = []
    distances: list[float] = []
    while len(merges) < int(max_ratio * h) and len(merges) < h - 1:
        a = int(torch.argmin(best))
        c = int(partner[a])
        if not best[a] < beta:
            break
        i, j = (a, c) if norms[a] <= norms[c] else (c, a)  # fold the smaller unit into the larger
        merges.append((i, j))
        distances.append(float(best[a]))
        d[i, :] = float("inf")
        d[:, i] = float("inf")
        stale = (partner == i) | (torch.arange(h) == i)  # rows whose nearest unit was just folded away
        best[stale], partner[stale] = d[stale].min(dim=1)
    return apply_merges(layers, l, merges), distances


def ifm(layers: Layers, beta: float, max_ratio: float = 1.0) -> tuple[Layers, list[int]]:
    """IFM on every hidden layer, from the input side to the output side.

    Merging layer ``l`` edits the *incoming* weights of layer ``l + 1`` (its columns), so layer ``l + 1`` is
    measured after layer ``l`` has been merged. Returns ``(merged_layers, kept)`` with ``kept[l]`` the number
    of units left in hidden layer ``l`` — IFM's estimate of that layer's feature complexity.
    """
    kept = []
    for l in range(len(layers) - 1):
        layers, _ = ifm_layer(layers, l, beta, max_ratio)
        kept.append(layers[l][0].shape[0])
    return layers, kept


def random_merge(layers: Layers, n_merges: list[int], generator: torch.Generator) -> Layers:
    """The baseline: in each hidden layer ``l``, fold ``n_merges[l]`` *random* pairs with the same rule."""
    for l, n in enumerate(n_merges):
        alive = list(range(layers[l][0].shape[0]))
        merges = []
        for _ in range(n):
            p, q = torch.randperm(len(alive), generator=generator)[:2].tolist()
            merges.append((alive[p], alive[q]))
            del alive[p]
        layers = apply_merges(layers, l, merges)
    return layers


# ----------------------------------------------------------------------------------------------------------
# 3. The experiment
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IFMConfig:
    """Settings of one run.

    Attributes:
        widths: hidden widths ``W`` of the 64→W→W→10 MLPs, comma-separated, increasing.
        n_seeds: networks per width (the claims average over them).
        init_scale: multiplies PyTorch's default init (0.01: small init, where units condense).
        steps, lr, weight_decay: full-batch Adam training.
        beta: IFM's merge threshold on the distance between unit directions (0.3 ≈ cosine ≥ 0.955).
        betas: the β grid precomputed for the Explore widget (comma-separated).
        default_init_contrast: also train the widest net at the default init (scale 1) as the contrast.
        contrast_seeds: how many seeds the default-init contrast uses (the first ones of the run).
        test_size: fraction of scikit-learn's 1,797 digits held out.
        n_train: keep only this many (class-balanced) training digits; 0 keeps all (≈ 1,200).
    """

    widths: str = "16,32,64,128"
    n_seeds: int = 3
    init_scale: float = 0.01
    steps: int = 400
    lr: float = 3e-3
    weight_decay: float = 1e-4
    beta: float = 0.3
    betas: str = "0.1,0.2,0.3,0.4,0.5,0.6"
    default_init_contrast: bool = True
    contrast_seeds: int = 1
    test_size: float = 0.33
    n_train: int = 600

    def __post_init__(self) -> None:
        try:
            ws, bs = self.width_list, self.beta_grid
        except ValueError:
            raise ParameterError(f"widths and betas must be comma-separated numbers, got {self.widths!r}, "
                                 f"{self.betas!r}") from None
        if len(ws) < 2 or min(ws) < 2 or ws != sorted(set(ws)):
            raise ParameterError(f"widths must list ≥ 2 increasing widths ≥ 2, got {self.widths!r}")
        if not bs or min(bs) <= 0:
            raise ParameterError(f"betas must be positive, got {self.betas!r}")
        if self.n_seeds < 1 or self.steps < 0:
            raise ParameterError(f"n_seeds must be ≥ 1 and steps ≥ 0, got {self.n_seeds}, {self.steps}")
        if not self.init_scale > 0 or not self.lr > 0 or self.weight_decay < 0:
            raise ParameterError("init_scale and lr must be positive and weight_decay ≥ 0")
        if not 0 < self.beta < 2:
            raise ParameterError(f"beta must be in (0, 2) (distances between unit vectors are ≤ 2), got {self.beta}")
        if self.n_train < 0 or self.n_train == 1 or not 1 <= self.contrast_seeds <= self.n_seeds:
            raise ParameterError(f"n_train must be 0 (all) or ≥ 2, and 1 ≤ contrast_seeds ≤ n_seeds; got "
                                 f"{self.n_train}, {self.contrast_seeds}")
        if not 0 < self.test_size < 1:
            raise ParameterError(f"test_size must be in (0, 1), got {self.test_size}")

    @property
    def width_list(self) -> list[int]:
        return [int(w) for w in self.widths.split(",") if w.strip()]

    @property
    def beta_grid(self) -> list[float]:
        return sorted(float(b) for b in self.betas.split(",") if b.strip())


PRESETS = {
    "small": IFMConfig(),
    "full": IFMConfig(widths="16,32,64,128,256,512,1024", n_seeds=8, contrast_seeds=8, n_train=0, steps=2000,
                      betas="0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.6,0.7,0.8"),
}

#: Claim thresholds, calibrated over 12 seed sets at scale small (results/calibration/feature_complexity_ifm.md).
THRESHOLDS = {"wider_nets_more_redundant": 0.10, "merge_drop_ifm": 0.02, "merge_drop_random": 0.05,
              "default_init_merges_little": 0.03}


@dataclass
class IFMResult:
    """Per width ``W``, lists over seeds.

    Attributes:
        frac_merged: ``{W: [fraction of the 2W hidden units merged at cfg.beta]}``.
        frac_merged_layer: ``{W: [[fraction of layer 1, of layer 2], ...]}``.
        acc_before, acc_after, acc_random: ``{W: [test accuracy]}`` of the trained net, after IFM, and after
            merging as many random pairs.
        untrained_frac: ``{W: [fraction merged by IFM at init]}`` (the random-units control).
        default_frac, default_acc: the widest width trained at the default init (contrast), if run.
        sweep: ``{W: {beta: (mean fraction merged, mean accuracy drop)}}`` over ``cfg.beta_grid``.
        nets: ``{W: [trained layers]}`` (for plots); seconds: wall-clock time.
    """

    frac_merged: dict[int, list[float]]
    frac_merged_layer: dict[int, list[list[float]]]
    acc_before: dict[int, list[float]]
    acc_after: dict[int, list[float]]
    acc_random: dict[int, list[float]]
    untrained_frac: dict[int, list[float]]
    default_frac: list[float]
    default_acc: list[float]
    sweep: dict[int, dict[float, tuple[float, float]]]
    nets: dict[int, list[Layers]] = field(repr=False)
    seconds: float = 0.0

    def redundancy_gain(self) -> list[float]:
        """Per seed: fraction merged at the widest width minus at the narrowest (claim 1)."""
        ws = sorted(self.frac_merged)
        return [a - b for a, b in zip(self.frac_merged[ws[-1]], self.frac_merged[ws[0]])]

    def drop(self, width: int | None = None, random: bool = False) -> list[float]:
        """Per seed: accuracy lost by IFM (or by as many random merges) at ``width`` (default: the widest)."""
        w = width or max(self.frac_merged)
        after = self.acc_random[w] if random else self.acc_after[w]
        return [b - a for b, a in zip(self.acc_before[w], after)]


def _frac(kept: list[int], width: int) -> float:
    return 1.0 - sum(kept) / (width * len(kept))


def run_experiment(cfg: IFMConfig, seeds: list[int], device: torch.device | str = "cpu",
                   data: Split | None = None, progress_bar: bool | None = None) -> IFMResult:
    """Train ``cfg.n_seeds`` MLPs per width, run IFM at ``cfg.beta`` (and the β grid), and the controls.

    ``data`` defaults to scikit-learn's digits (64 features) split by ``seeds[0]``.
    """
    if len(seeds) < cfg.n_seeds:
        raise ParameterError(f"need {cfg.n_seeds} seeds, got {len(seeds)}")
    seeds = list(seeds[: cfg.n_seeds])
    t0 = time.perf_counter()
    if data is None:
        data = load_digits_split(test_size=cfg.test_size, seed=seeds[0])
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    if cfg.n_train and cfg.n_train < xtr.shape[0]:
        xtr, ytr = subset(xtr, ytr, cfg.n_train, seed=seeds[0])
    d_in, k = xtr.shape[1], data.n_classes
    res = IFMResult({}, {}, {}, {}, {}, {}, [], [], {}, {})
    gen = torch.Generator().manual_seed(seeds[0])
    for width in cfg.width_list:
        sizes = [d_in, width, width, k]
        nets = train_mlps(sizes, seeds, xtr, ytr, init_scale=cfg.init_scale, steps=cfg.steps, lr=cfg.lr,
                          weight_decay=cfg.weight_decay, device=device, progress_bar=progress_bar,
                          desc=f"W={width}")
        res.nets[width] = nets
        for key in ("frac_merged", "frac_merged_layer", "acc_before", "acc_after", "acc_random", "untrained_frac"):
            getattr(res, key)[width] = []
        for s, net in zip(seeds, nets):
            merged, kept = ifm(net, cfg.beta)
            res.frac_merged[width].append(_frac(kept, width))
            res.frac_merged_layer[width].append([1 - kk / width for kk in kept])
            res.acc_before[width].append(accuracy(net, xte, yte))
            res.acc_after[width].append(accuracy(merged, xte, yte))
            res.acc_random[width].append(accuracy(random_merge(net, [width - kk for kk in kept], gen), xte, yte))
            init = init_mlp(sizes, cfg.init_scale, torch.Generator().manual_seed(s))
            res.untrained_frac[width].append(_frac(ifm(init, cfg.beta)[1], width))
        res.sweep[width] = {}
        for beta in cfg.beta_grid:
            fr, dr = [], []
            for net, before in zip(nets, res.acc_before[width]):
                merged, kept = ifm(net, beta)
                fr.append(_frac(kept, width))
                dr.append(before - accuracy(merged, xte, yte))
            res.sweep[width][beta] = (float(np.mean(fr)), float(np.mean(dr)))
    if cfg.default_init_contrast:
        width = cfg.width_list[-1]
        nets = train_mlps([d_in, width, width, k], seeds[: cfg.contrast_seeds], xtr, ytr, init_scale=1.0, steps=cfg.steps, lr=cfg.lr,
                          weight_decay=cfg.weight_decay, device=device, progress_bar=progress_bar,
                          desc=f"W={width}, default init")
        for net in nets:
            res.default_frac.append(_frac(ifm(net, cfg.beta)[1], width))
            res.default_acc.append(accuracy(net, xte, yte))
    res.seconds = time.perf_counter() - t0
    return res
