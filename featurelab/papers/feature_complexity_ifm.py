"""Feature complexity by Iterative Feature Merging (IFM): how many *functionally different* units does a layer hold?

Chen, Zhou & Yan, "Going Beyond Neural Network Feature Similarity: The Network Feature Complexity and Its
Interpretation Using Category Theory", ICLR 2024, arXiv:2310.06756. Used by the notebook
``notebooks/01_how_networks_learn/07_feature_complexity_ifm.ipynb``.

Two features are *functionally equivalent* when an invertible map ``T`` turns one into the other and the
rest of the network can undo it (``F_B = T F_A``, ``g_B = g_A ∘ T⁻¹``). The **feature complexity** of a layer
is the size of its most compact functionally equivalent version. IFM estimates it greedily: merge the two
most similar units of a layer, again and again, until no pair is close enough; the units left are the
estimate, and the merged net is a pruned net obtained without data or fine-tuning.

Two merge rules (``rule``):

* ``"official"`` — the definition of the official code (``self_merge_weight(perm_to_axes, params, max_ratio,
  threshold)``, ``utils/self_weight_matching.py``). For hidden layer ``l`` with incoming weights ``w_i`` (row
  ``i`` of ``W_l``) and outgoing weights ``v_i`` (column ``i`` of ``W_{l+1}``), the distance is the
  *un-normalised* squared distance over both, ``d²_ij = ‖w_i − w_j‖² + ‖v_i − v_j‖²`` (biases, being 1-d, are
  left out of it). The closest pair is merged while ``min d² ≤ threshold · max d²`` (a threshold *relative* to
  the layer's largest distance): incoming weights and biases are **summed**, outgoing weights are **averaged,
  weighted by how many original units each side already holds** (``c_i``)::

      w_j ← w_i + w_j,   b_j ← b_i + b_j,   v_j ← (c_i v_i + c_j v_j) / (c_i + c_j),   c_j ← c_i + c_j

  exact for two identical ReLU units (``relu(2wᵀx)·(v_i + v_j)/2 = (v_i + v_j) relu(wᵀx)``). Every hidden layer
  gets one merge per sweep, at most ``max_ratio`` of its units in all; sweeps repeat until no layer merges.
* ``"normalised"`` — the course's earlier reading, kept to show beside it: Euclidean distance between
  unit-normalised incoming vectors ``u_i = [w_i; b_i] / ‖[w_i; b_i]‖`` against an absolute threshold β; the
  smaller unit is folded into the larger, ``v_j ← v_j + (n_i / n_j) v_i`` (positive rescaling of a ReLU unit,
  exact when ``u_i = u_j``); layers are merged one after another, input side first.

What is here
------------
* :func:`init_mlp`, :func:`forward`, :func:`train_mlps` — 64→W→W→10 ReLU MLPs kept as plain weight lists
  (``[(W, b), ...]`` in ``nn.Linear`` layout), trained several seeds at once (:class:`featurelab.ensemble.EnsembleMLP`).
* :func:`distances`, :func:`merge_pair`, :func:`ifm` — the mechanism; :func:`random_merge` — the baseline.
* The paper contract: :class:`Config`, :data:`PRESETS`, :func:`run` → :class:`Result`, :func:`claim_values`,
  :data:`CLAIMS`, :data:`SWAPS` (calibrated by ``featurelab calibrate feature_complexity_ifm``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..base import ParameterError
from ..base import progress as _progress
from ..claims import ClaimSpec
from ..data import Split, load_digits_split, subset
from ..ensemble import EnsembleMLP, member_losses
from ..experiment import Knobs, Swap, knob

#: A ReLU MLP as a list of ``(W, b)`` with ``W`` of shape ``(out, in)`` and ``b`` of shape ``(out,)``
#: (``nn.Linear`` layout); ReLU between layers, none after the last.
Layers = list[tuple[torch.Tensor, torch.Tensor]]
RULES = ("official", "normalised")


# ----------------------------------------------------------------------------------------------------------
# 1. The networks
# ----------------------------------------------------------------------------------------------------------
def init_mlp(sizes: list[int], scale: float = 1.0, generator: torch.Generator | None = None) -> Layers:
    """PyTorch's default ``nn.Linear`` init (weights and biases ``U(−1/√fan_in, 1/√fan_in)``) times ``scale``."""
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
        return (forward([(w.float(), b.float()) for w, b in layers], x).argmax(-1) == y).float().mean().item()


def members(ens: EnsembleMLP) -> list[Layers]:
    """The ensemble's members as :data:`Layers` (copies, on the ensemble's device: IFM runs there too)."""
    return [[(l.weight[m].detach().T.contiguous().clone(), l.bias[m, 0].detach().clone()) for l in ens.layers]
            for m in range(ens.members)]


def train_mlps(sizes: list[int], seeds: list[int], x: torch.Tensor, y: torch.Tensor, *, init_scale: float,
               steps: int, lr: float, weight_decay: float, device: torch.device | str = "cpu",
               progress: bool | None = None, desc: str = "train") -> tuple[list[Layers], list[Layers]]:
    """Train one MLP per seed, all at once (:class:`featurelab.ensemble.EnsembleMLP`), full-batch Adam with
    (coupled) weight decay, from the default init times ``init_scale``. Returns ``(trained, initial)`` nets."""
    ens = EnsembleMLP(seeds, sizes).to(device)
    with torch.no_grad():
        for p in ens.parameters():
            p.mul_(init_scale)
    initial = members(ens)
    opt = torch.optim.Adam(ens.parameters(), lr=lr, weight_decay=weight_decay)
    x, y = x.to(device), y.to(device)
    for _ in _progress(range(steps), desc=desc, enabled=progress):
        loss = member_losses(ens(x), y).sum()     # a sum: each member gets its own gradient
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return members(ens), initial


# ----------------------------------------------------------------------------------------------------------
# 2. The mechanism: Iterative Feature Merging
# ----------------------------------------------------------------------------------------------------------
def unit_directions(w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Incoming vectors ``[w_i; b_i]`` ``(H, D + 1)`` of a layer's units, unit-normalised, and their norms ``(H,)``."""
    v = torch.cat([w, b.unsqueeze(1)], dim=1)
    norms = v.norm(dim=1)
    return v / norms.clamp_min(1e-12).unsqueeze(1), norms


def distances(layers: Layers, l: int, rule: str = "official") -> torch.Tensor:
    """``(H, H)`` distances between the units of hidden layer ``l`` (diagonal set to ``inf``).

    ``"official"``: ``‖w_i − w_j‖² + ‖v_i − v_j‖²`` over incoming rows of ``W_l`` and outgoing columns of
    ``W_{l+1}``; ``"normalised"``: ``‖u_i − u_j‖`` between unit-normalised incoming vectors ``[w; b]``.
    """
    (w, b), (v, _) = layers[l], layers[l + 1]
    if rule == "official":
        a = w @ w.T + v.T @ v                                   # Gram matrix of the stacked [w_i; v_i]
        d = (a.diag()[:, None] + a.diag()[None, :] - 2 * a).clamp_min(0)
    else:
        u, _ = unit_directions(w, b)
        d = torch.cdist(u, u)
    return d.fill_diagonal_(float("inf"))


def merge_pair(layers: Layers, l: int, i: int, j: int, counts: torch.Tensor, rule: str = "official"
               ) -> tuple[Layers, torch.Tensor]:
    """Merge unit ``i`` of hidden layer ``l`` into unit ``j`` and delete ``i``; ``counts`` ``(H,)`` = original units
    each unit holds. Returns new layers and counts (inputs unchanged). Rules: see the module docstring."""
    (w, b), (v, c) = layers[l], layers[l + 1]
    w, b, v = w.clone(), b.clone(), v.clone()
    if rule == "official":
        w[j] += w[i]
        b[j] += b[i]
        v[:, j] = (counts[i] * v[:, i] + counts[j] * v[:, j]) / (counts[i] + counts[j])
    else:
        _, norms = unit_directions(w, b)
        v[:, j] += (norms[i] / norms[j].clamp_min(1e-12)) * v[:, i]
    counts = counts.clone()
    counts[j] += counts[i]
    keep = torch.arange(w.shape[0], device=w.device) != i
    out = list(layers)
    out[l], out[l + 1] = (w[keep], b[keep]), (v[:, keep], c)
    return out, counts[keep]


def ifm(layers: Layers, threshold: float, rule: str = "official", max_ratio: float = 1.0
        ) -> tuple[Layers, list[int]]:
    """Iterative Feature Merging on every hidden layer. Returns ``(merged_layers, kept)`` with ``kept[l]`` the
    units left in hidden layer ``l`` — IFM's estimate of that layer's feature complexity.

    ``"official"``: sweeps over the layers, one merge per layer and sweep, of the closest pair while
    ``min d² ≤ threshold · max d²`` and fewer than ``max_ratio`` of the layer's units have been merged; stop
    when a sweep merges nothing. ``"normalised"``: layer by layer (input side first), merge the closest pair
    while its distance is below ``threshold`` (β).
    """
    if threshold < 0 or not 0 <= max_ratio <= 1 or rule not in RULES:
        raise ParameterError(f"need threshold ≥ 0, 0 ≤ max_ratio ≤ 1 and rule in {RULES}; got {threshold}, "
                             f"{max_ratio}, {rule!r}")
    layers = [(w.double(), b.double()) for w, b in layers]
    hidden = range(len(layers) - 1)
    sizes = [layers[l][0].shape[0] for l in hidden]
    counts = [torch.ones(n, dtype=torch.float64, device=layers[0][0].device) for n in sizes]
    budget = [int(max_ratio * n) for n in sizes]
    order = [[l] for l in hidden] if rule == "normalised" else [list(hidden)]   # layer by layer, or interleaved
    for group in order:
        active = True
        while active:
            active = False
            for l in group:
                n = layers[l][0].shape[0]
                if sizes[l] - n >= budget[l] or n < 2:
                    continue
                d = distances(layers, l, rule)
                k = int(torch.argmin(d))
                dmin = d.view(-1)[k]
                limit = threshold * d[torch.isfinite(d)].max() if rule == "official" else threshold
                if dmin <= limit and (rule == "official" or dmin < limit):
                    i, j = divmod(k, n)
                    if rule == "normalised" and _norm(layers, l, i) > _norm(layers, l, j):
                        i, j = j, i                                 # fold the smaller unit into the larger
                    layers, counts[l] = merge_pair(layers, l, i, j, counts[l], rule)
                    active = True
    return [(w.float(), b.float()) for w, b in layers], [layers[l][0].shape[0] for l in hidden]


def _norm(layers: Layers, l: int, i: int) -> float:
    w, b = layers[l]
    return float(torch.cat([w[i], b[i:i + 1]]).norm())


def random_merge(layers: Layers, n_merges: list[int], generator: torch.Generator, rule: str = "official") -> Layers:
    """The baseline: in each hidden layer ``l``, merge ``n_merges[l]`` *random* pairs with the same merge rule."""
    layers = [(w.double(), b.double()) for w, b in layers]
    for l, n in enumerate(n_merges):
        counts = torch.ones(layers[l][0].shape[0], dtype=torch.float64, device=layers[l][0].device)
        for _ in range(n):
            i, j = torch.randperm(layers[l][0].shape[0], generator=generator)[:2].tolist()
            layers, counts = merge_pair(layers, l, i, j, counts, rule)
    return [(w.float(), b.float()) for w, b in layers]


# ----------------------------------------------------------------------------------------------------------
# 3. The experiment
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run (the notebook's knobs are the upper-case names).

    Attributes:
        widths: hidden widths ``W`` of the 64→W→W→10 MLPs, increasing.
        n_seeds: networks per width (the claims average over them).
        init_scale: multiplies PyTorch's default init (0.01: small init, where units condense).
        steps, lr, weight_decay: full-batch Adam training.
        rule: the merge rule (``"official"``, the method; ``"normalised"``, the course's earlier reading).
        threshold: the official rule's relative threshold (merge while ``min d² ≤ threshold · max d²``).
        beta: the normalised rule's absolute threshold on ``‖u_i − u_j‖`` (0.3 ≈ cosine ≥ 0.955).
        max_ratio: at most this fraction of a layer's units is merged (the official ``--max_ratio``).
        thresholds: the grid of the Explore widget (for ``rule``'s threshold).
        selection: ``"closest"`` (IFM) or ``"random"`` (a swap: as many merges, random pairs, same rule).
        contrast_seeds: seeds of the default-init contrast (the widest width from PyTorch's default init).
        test_size: fraction of scikit-learn's 1,797 digits held out; n_train: class-balanced training digits.
    """

    widths: tuple[int, ...] = knob((16, 32, 64, 128), lo=2, doc="hidden widths, increasing")
    n_seeds: int = knob(3, lo=1, doc="networks per width")
    init_scale: float = knob(0.01, lo=0.0, lo_open=True, doc="multiplies the default init")
    steps: int = knob(400, lo=0, doc="full-batch Adam steps")
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    weight_decay: float = knob(1e-4, lo=0.0)
    rule: str = knob("official", choices=RULES, doc="merge rule")
    threshold: float = knob(0.02, lo=0.0, lo_open=True, hi=1.0, doc="official rule: merge while d²min ≤ t·d²max")
    beta: float = knob(0.3, lo=0.0, lo_open=True, hi=2.0, doc="normalised rule: merge while ‖u_i − u_j‖ < β")
    max_ratio: float = knob(1.0, lo=0.0, hi=1.0, doc="cap on the fraction of a layer merged")
    thresholds: tuple[float, ...] = knob((0.005, 0.01, 0.02, 0.05, 0.1), lo=0.0, lo_open=True)
    selection: str = knob("closest", choices=("closest", "random"), doc="which pairs are merged")
    contrast_seeds: int = knob(1, lo=0, doc="seeds of the default-init contrast")
    test_size: float = knob(0.33, lo=0.05, hi=0.95)
    n_train: int = knob(600, lo=0, doc="class-balanced training digits (0 = all)")

    def validate(self) -> None:
        if len(self.widths) < 2 or list(self.widths) != sorted(set(self.widths)):
            raise ParameterError(f"WIDTHS={self.widths!r} must list ≥ 2 increasing widths")
        if self.contrast_seeds > self.n_seeds or self.n_train == 1:
            raise ParameterError(f"need CONTRAST_SEEDS ≤ N_SEEDS and N_TRAIN = 0 or ≥ 2; got {self.contrast_seeds}, "
                                 f"{self.n_train}")

    @property
    def level(self) -> float:
        """The threshold the chosen rule uses."""
        return self.threshold if self.rule == "official" else self.beta

    @property
    def grid(self) -> list[float]:
        """The widget's grid for the chosen rule (the normalised rule's β grid is fixed)."""
        return list(self.thresholds) if self.rule == "official" else [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


PRESETS = {
    "small": Config(),
    "full": Config(widths=(16, 32, 64, 128, 256, 512, 1024), n_seeds=8, contrast_seeds=8, n_train=0, steps=2000,
                   thresholds=(0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1)),
}
SMOKE = {"steps": 2, "n_seeds": 1, "contrast_seeds": 1, "thresholds": (0.02,)}


@dataclass
class Result:
    """Per width ``W``, lists over seeds.

    Attributes:
        frac_merged: ``{W: [fraction of the 2W hidden units merged]}``; frac_merged_layer: per layer.
        acc_before, acc_after, acc_random: ``{W: [test accuracy]}`` of the trained net, after IFM, and after
            merging as many random pairs with the same rule.
        untrained_frac: ``{W: [fraction IFM merges at init]}``.
        default_frac, default_acc: the widest width trained from the default init (contrast, reported).
        other_frac, other_drop: at the widest width, the other merge rule (official ↔ normalised) at its own
            default threshold (reported beside the method).
        sweep: ``{W: {threshold: (fraction merged, accuracy drop)}}`` over ``cfg.grid``, first seed's network.
        nets: ``{W: [trained layers]}`` (for plots); seconds: wall-clock time.
    """

    cfg: Config
    frac_merged: dict[int, list[float]] = field(default_factory=dict)
    frac_merged_layer: dict[int, list[list[float]]] = field(default_factory=dict)
    acc_before: dict[int, list[float]] = field(default_factory=dict)
    acc_after: dict[int, list[float]] = field(default_factory=dict)
    acc_random: dict[int, list[float]] = field(default_factory=dict)
    untrained_frac: dict[int, list[float]] = field(default_factory=dict)
    default_frac: list[float] = field(default_factory=list)
    default_acc: list[float] = field(default_factory=list)
    other_frac: list[float] = field(default_factory=list)
    other_drop: list[float] = field(default_factory=list)
    sweep: dict[int, dict[float, tuple[float, float]]] = field(default_factory=dict)
    nets: dict[int, list[Layers]] = field(default_factory=dict, repr=False)
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


def merge(net: Layers, cfg: Config, gen: torch.Generator, level: float | None = None, rule: str | None = None
          ) -> tuple[Layers, list[int]]:
    """IFM on ``net`` with the config's rule and threshold — or, with ``selection="random"``, as many merges per
    layer as IFM would make, on random pairs."""
    rule = rule or cfg.rule
    merged, kept = ifm(net, cfg.level if level is None else level, rule, cfg.max_ratio)
    if cfg.selection == "random":
        merged = random_merge(net, [net[l][0].shape[0] - k for l, k in enumerate(kept)], gen, rule)
    return merged, kept


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        data: Split | None = None) -> Result:
    """Train ``len(seeds)`` MLPs per width, merge them (``cfg.rule`` at its threshold, and the widget's grid),
    and the controls: random merges, untrained nets, the default-init contrast, the other rule.

    ``data`` defaults to scikit-learn's digits (64 features) split by ``seeds[0]``.
    """
    seeds = list(seeds)
    t0 = time.perf_counter()
    if data is None:
        data = load_digits_split(test_size=cfg.test_size, seed=seeds[0])
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    if cfg.n_train and cfg.n_train < xtr.shape[0]:
        xtr, ytr = subset(xtr, ytr, cfg.n_train, seed=seeds[0])
    d_in, k = xtr.shape[1], data.n_classes
    xte, yte = xte.to(device), yte.to(device)
    res = Result(cfg)
    gen = torch.Generator().manual_seed(seeds[0])
    other = "normalised" if cfg.rule == "official" else "official"
    other_level = Config.beta if other == "normalised" else Config.threshold      # the other rule's default
    for width in cfg.widths:
        sizes = [d_in, width, width, k]
        nets, inits = train_mlps(sizes, seeds, xtr, ytr, init_scale=cfg.init_scale, steps=cfg.steps, lr=cfg.lr,
                                 weight_decay=cfg.weight_decay, device=device, progress=progress, desc=f"W={width}")
        res.nets[width] = nets
        for key in ("frac_merged", "frac_merged_layer", "acc_before", "acc_after", "acc_random", "untrained_frac"):
            getattr(res, key)[width] = []
        for net, init in zip(nets, inits):
            merged, kept = merge(net, cfg, gen)
            res.frac_merged[width].append(_frac(kept, width))
            res.frac_merged_layer[width].append([1 - kk / width for kk in kept])
            res.acc_before[width].append(accuracy(net, xte, yte))
            res.acc_after[width].append(accuracy(merged, xte, yte))
            n_merges = [width - kk for kk in kept]
            res.acc_random[width].append(accuracy(random_merge(net, n_merges, gen, cfg.rule), xte, yte))
            res.untrained_frac[width].append(_frac(ifm(init, cfg.level, cfg.rule, cfg.max_ratio)[1], width))
            if width == cfg.widths[-1]:
                m_other, kept_other = ifm(net, other_level, other, cfg.max_ratio)
                res.other_frac.append(_frac(kept_other, width))
                res.other_drop.append(res.acc_before[width][-1] - accuracy(m_other, xte, yte))
        res.sweep[width] = {}
        for level in cfg.grid:       # the widget's grid, on the first seed's network (runtime)
            merged, kept = merge(nets[0], cfg, gen, level)
            res.sweep[width][level] = (_frac(kept, width), res.acc_before[width][0] - accuracy(merged, xte, yte))
    if cfg.contrast_seeds:
        width = cfg.widths[-1]
        nets, _ = train_mlps([d_in, width, width, k], seeds[: cfg.contrast_seeds], xtr, ytr, init_scale=1.0,
                             steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, device=device,
                             progress=progress, desc=f"W={width}, default init")
        for net in nets:
            res.default_frac.append(_frac(ifm(net, cfg.level, cfg.rule, cfg.max_ratio)[1], width))
            res.default_acc.append(accuracy(net, xte, yte))
    res.seconds = time.perf_counter() - t0
    return res


def claim_values(res: Result) -> dict[str, list[float]]:
    """Per-seed values at the widest width ``W`` (and the narrowest ``W₀``).

    * ``redundancy_gain``: fraction merged at ``W`` − at ``W₀``;
    * ``random_minus_ifm_drop``: accuracy lost by as many *random* merges − accuracy lost by IFM: merging the
      *closest* pairs is what makes the merge cheap (0 when nothing merges, so it cannot pass by merging nothing);
    * ``merged_at_no_cost``: the fraction IFM merges at ``W`` when that costs ≤ 0.02 accuracy, else 0;
    * reported, not asserted: ``ifm_drop``, ``merged_fraction``, ``default_init_merged`` (the contrast),
      ``untrained_merged``, ``other_rule_merged`` / ``other_rule_drop``.
    """
    w = max(res.frac_merged)
    drop = res.drop()
    return {
        "redundancy_gain": res.redundancy_gain(),
        "random_minus_ifm_drop": [r - d for r, d in zip(res.drop(random=True), drop)],
        "merged_at_no_cost": [f if d <= 0.02 else 0.0 for f, d in zip(res.frac_merged[w], drop)],
        "ifm_drop": drop,
        "merged_fraction": res.frac_merged[w],
        "default_init_merged": res.default_frac or [float("nan")],
        "untrained_merged": res.untrained_frac[w],
        "other_rule_merged": res.other_frac,
        "other_rule_drop": res.other_drop,
    }


# Calibrated over 12 seed sets at scale small (results/calibration/feature_complexity_ifm.md); means over seeds.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("wider_nets_more_redundant", "redundancy_gain", ">=", 0.15,
              "fraction of hidden units IFM merges at W=128 minus at W=16",
              "qualitative: the larger the network, the more redundant features it learns; no number"),
    ClaimSpec("ifm_merges_cost_less_than_random", "random_minus_ifm_drop", ">=", 0.3,
              "accuracy drop after as many random merges minus after IFM's merges, W=128, no fine-tuning",
              "qualitative: IFM removes parameters with little performance loss; no number (our baseline)"),
    ClaimSpec("merges_a_quarter_nearly_free", "merged_at_no_cost", ">=", 0.25,
              "fraction of the W=128 units IFM merges, counted only where the accuracy drop is ≤ 0.02",
              "qualitative: IFM prunes without fine-tuning at little cost; no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("random_pairs", {"selection": "random"}, ("ifm_merges_cost_less_than_random",), "null",
         "as many merges as IFM makes, on random pairs, with the same merge rule (the noise null of the baseline)"),
    Swap("default_init", {"init_scale": 1.0},
         ("wider_nets_more_redundant", "merges_a_quarter_nearly_free"), "baseline",
         "PyTorch's default init instead of 0.01×: the standard recipe, in which units do not condense"),
)
