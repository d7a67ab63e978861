"""TAS: network pruning by a differentiable search of each layer's width, then distillation.

Dong & Yang, *Network Pruning via Transformable Architecture Search*, NeurIPS 2019, arXiv:1905.09717; official
code github.com/D-X-Y/AutoDL-Projects (``lib/models/shape_searchs/SoftSelect.py``: ``select2withP``,
``ChannelWiseInterV2``, ``get_width_choices``; ``SearchCifarResNet_width.py``: the search forward and FLOP count;
the search procedure's ``get_flop_loss`` and ``search_train``; the KD procedure's ``loss_KD_fn``). Used by
``notebooks/08_efficient_robust/02_tas_transformable_pruning.ipynb``.

**Mechanism (Sec. 3, checked against the official code).**

- Width distribution (3.1): layer l has candidates ``C_{l,j} = int(r·C)``, r = 0.3 … 1.0, and logits α_l;
  ``p_l = softmax(α_l)``. A candidate uses the *first* C_{l,j} filters (weights shared); BatchNorm per candidate.
- Sampling (3.2, ``select2withP``): ``z = (log_softmax(α_l) + g)/τ``, g ~ Gumbel(0, 1); two candidates drawn
  without replacement from softmax(z); their weights are softmax of the two selected z (differentiable).
  τ anneals linearly 10 → 0.1.
- Channel-wise interpolation (3.2, ``ChannelWiseInterV2``): each sampled output is average-pooled along the
  channel axis to the larger sampled width, and ``Ô_l = Σ_j p̂_j · CWI(O_{l,1:C_j}, max C)``.
- Cost (3.3): ``E[C_l] = Σ_j p_{l,j} C_{l,j}``; a conv costs ``k·positions·C_{l−1}·C_l``, and the expected cost
  uses ``E[C_{l−1}]·E[C_l]``. Cost loss as in the code (one-sided, the paper's upper tolerance is commented out):
  ``log E[F]`` if the arg-max architecture's F > R, ``−log E[F]`` if F < R − t·R, else 0; α minimises
  ``CE + 2·L_cost`` on one half of the training data, the weights CE on the other half (first order).
- Retraining (3.4): the arg-max widths, trained from scratch with ``(1 − α)·CE + α·T²·KL(p_T ‖ p_S)``, α = 0.9,
  T = 4, from the unpruned teacher.

The shared pieces are in :mod:`featurelab.pruning`; this module holds the supernet, the search loop, the
networks and the experiment.

**What is asserted** (3 seeds a run): the searched widths meet the FLOP target (mean ``|F/(R·F_full) − 1| ≤
0.25``, R = 0.3) and spend it by layer cost (the last, cheapest layer ≥ 1.10× the width of one uniform width at
≥ equal FLOPs); the same search without its cost loss breaks both. **Reported, not asserted** (they do not hold
at this scale; design note ``results/calibration/notes/tas_transformable_pruning.md``): TAS + KD − uniform + KD
at ≥ equal FLOPs (≈ +0.02 on average, within the seed noise), TAS + KD − TAS without KD (negative: KD hurts the
200-step retraining), random widths at equal FLOPs, and L1 pruning (the teacher's largest-L1 filters at the
uniform widths, fine-tuned with the same KD), which beats TAS by a wide margin.

**Simplifications for scale (named).** MNIST-1D (4,000 / 1,000 signals) instead of CIFAR / ImageNet; a 4-layer
1D CNN (24 channels, kernels 5-5-3-3, max-pool by 4 after layer 2, flattened linear head) instead of ResNets,
with deliberately unequal per-channel costs (~6.7× between layers 2 and 3–4); width only, no depth search;
Adam instead of SGD; 120 search steps (20 weight-only warm-up) and 200 retraining steps (cosine learning rate)
instead of hundreds of epochs; the teacher is trained 600 steps and cached (:mod:`featurelab.cache`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cache
from ..base import ParameterError, progress
from ..claims import ClaimSpec
from ..data import load_mnist1d
from ..experiment import Knobs, Swap, knob
from ..pruning import (
    chain_flops,
    cwi_mix,
    flop_loss,
    gumbel_tau,
    gumbel_top_k,
    kd_loss,
    l1_keep,
    uniform_width,
    width_choices,
)
from ..train import accuracy, fit, predict

ARMS = ("tas", "uniform", "random", "l1")
LENGTH = 40          # MNIST-1D signal length
N_CLASSES = 10


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Per seed: train (or load) the unpruned teacher; run TAS's width search at the FLOP target; train the searched
    widths from scratch with KD (the *arm*, by default) and the references: the searched widths without KD, and one
    uniform width ratio at (at least) the searched FLOPs with the same KD.

    Attributes:
        n_samples: MNIST-1D samples (80 % train, 20 % test). max_widths: the teacher's channels per conv layer.
        kernels: kernel size per layer. pool_after: the layer after which the signal is max-pooled by ``pool``.
        teacher_steps, search_steps, retrain_steps, batch_size, lr: Adam steps and settings.
        arch_lr: Adam learning rate of the width logits α. warmup: search steps that train only the weights.
        tau_max, tau_min: the Gumbel temperature, annealed linearly. flop_ratio: target R as a share of the
        teacher's FLOPs. flop_tolerance: t (a share of R) of the one-sided cost loss. flop_weight: its weight
        (0 = no cost loss). kd_alpha, kd_temperature: the KD loss of the arm. arm: which widths the arm trains —
        ``tas`` (searched), ``uniform`` (one ratio, equal FLOPs), ``random`` (random widths from the candidates,
        equal FLOPs), ``l1`` (uniform widths whose weights are the teacher's largest-L1 filters, fine-tuned).
        arm_seed_offset: added to the arm's training seed (independent re-training for the noise nulls).
    """

    n_samples: int = knob(5000, lo=500, hi=20000, doc="MNIST-1D samples (80 % train)")
    max_widths: tuple = knob((24, 24, 24, 24), lo=4, hi=256, doc="teacher channels per conv layer")
    kernels: tuple = knob((5, 5, 3, 3), lo=1, hi=9, doc="kernel size per conv layer")
    pool_after: int = knob(2, lo=1, hi=8, doc="conv layers before the max-pool")
    pool: int = knob(4, lo=1, hi=8, doc="max-pool factor")
    teacher_steps: int = knob(600, lo=0, doc="teacher training steps")
    search_steps: int = knob(120, lo=1, doc="width-search steps")
    warmup: int = knob(20, lo=0, doc="search steps that train only the weights")
    retrain_steps: int = knob(200, lo=1, doc="training steps of each pruned network")
    batch_size: int = knob(128, lo=8, doc="batch size of the teacher and the retraining")
    search_batch: int = knob(64, lo=8, doc="batch size of each search step")
    lr: float = knob(3e-3, lo=0.0, lo_open=True, doc="Adam learning rate of the weights")
    arch_lr: float = knob(5e-2, lo=0.0, lo_open=True, doc="Adam learning rate of the width logits α")
    tau_max: float = knob(10.0, lo=0.0, lo_open=True, doc="Gumbel temperature at the start")
    tau_min: float = knob(0.1, lo=0.0, lo_open=True, doc="Gumbel temperature at the end")
    flop_ratio: float = knob(0.3, lo=0.05, hi=1.0, doc="FLOP target R as a share of the teacher's")
    flop_tolerance: float = knob(0.05, lo=0.0, hi=0.5, doc="t: lower tolerance of the cost loss, share of R")
    flop_weight: float = knob(2.0, lo=0.0, doc="weight of the cost loss (0 = off)")
    kd_alpha: float = knob(0.9, lo=0.0, hi=1.0, doc="KD weight α of the arm (0 = cross-entropy only)")
    kd_temperature: float = knob(4.0, lo=0.0, lo_open=True, doc="KD temperature T")
    arm: str = knob("tas", choices=ARMS, doc="widths the arm trains")
    arm_seed_offset: int = knob(0, lo=0, doc="offset of the arm's training seed")
    n_seeds: int = knob(3, lo=1, doc="seeds (teacher, search and retraining each)")

    def validate(self) -> None:
        if len(self.max_widths) != len(self.kernels):
            raise ParameterError(f"MAX_WIDTHS has {len(self.max_widths)} layers but KERNELS has {len(self.kernels)}")
        if self.pool_after >= len(self.max_widths):
            raise ParameterError(f"POOL_AFTER={self.pool_after} must be below the number of layers "
                                 f"({len(self.max_widths)})")
        if self.warmup >= self.search_steps:
            raise ParameterError(f"WARMUP={self.warmup} must be below SEARCH_STEPS={self.search_steps}")
        if self.tau_min > self.tau_max:
            raise ParameterError(f"TAU_MIN={self.tau_min} must not exceed TAU_MAX={self.tau_max}")

    def teacher(self) -> dict:
        """The settings the teacher depends on (the cache key)."""
        keys = ("n_samples", "max_widths", "kernels", "pool_after", "pool", "teacher_steps", "batch_size", "lr")
        return {k: getattr(self, k) for k in keys}

    def positions(self) -> tuple[int, ...]:
        """Output positions of each conv layer ('same' padding; the max-pool shortens the later layers)."""
        return tuple(LENGTH if i < self.pool_after else LENGTH // self.pool for i in range(len(self.max_widths)))

    def choices(self) -> list[tuple[int, ...]]:
        """Candidate widths per layer (TAS's ratios 0.3 … 1.0)."""
        return [width_choices(c) for c in self.max_widths]


PRESETS = {
    "small": Config(),
    "full": Config(n_samples=20000, max_widths=(64, 64, 64, 64), teacher_steps=4000, search_steps=1500, warmup=200,
                   retrain_steps=3000, n_seeds=5),
}
SMOKE = {"n_samples": 500, "teacher_steps": 2, "search_steps": 3, "warmup": 1, "retrain_steps": 2, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------- FLOPs
def flops(cfg: Config, widths) -> float | Tensor:
    """FLOPs (multiply–accumulates) of the conv net with per-layer ``widths`` (ints or expected-width tensors).

    Conv layer l: ``k_l · positions_l · C_{l−1} · C_l`` (:func:`featurelab.pruning.chain_flops`); the head reads
    the flattened last feature map: ``C_L · positions_L · 10``.
    """
    pos = cfg.positions()
    return chain_flops(list(widths), 1, cfg.kernels, pos, n_classes=N_CLASSES * pos[-1])


# ----------------------------------------------------------------------------------------------- networks
class PrunedNet(nn.Module):
    """A plain 1D conv net with fixed per-layer ``widths``: conv → BN → ReLU per layer, max-pool after
    ``pool_after`` layers, flatten, linear head. Input ``(N, 40)`` (or ``(N, 1, 40)``); output ``(N, 10)``."""

    def __init__(self, cfg: Config, widths):
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        c_prev, layers = 1, []
        for i, (w, k) in enumerate(zip(self.widths, cfg.kernels)):
            layers += [nn.Conv1d(c_prev, w, k, padding=k // 2, bias=False), nn.BatchNorm1d(w), nn.ReLU()]
            if i + 1 == cfg.pool_after:
                layers.append(nn.MaxPool1d(cfg.pool))
            c_prev = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_prev * cfg.positions()[-1], N_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(1) if x.dim() == 2 else x
        return self.head(self.body(x).flatten(1))


class SearchNet(nn.Module):
    """The TAS supernet: each conv layer at its maximum width, a BatchNorm per candidate width (as in the official
    code), and width logits ``alpha`` ``(L, J)``. A candidate of width ``C_j`` uses the *first* ``C_j`` filters,
    so all candidates share weights."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.choices = cfg.choices()
        n_cand = {len(c) for c in self.choices}
        if len(n_cand) != 1:
            raise ParameterError("every layer needs the same number of candidate widths (use widths ≥ 10)")
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        c_prev = 1
        for c, k, ch in zip(cfg.max_widths, cfg.kernels, self.choices):
            self.convs.append(nn.Conv1d(c_prev, c, k, padding=k // 2, bias=False))
            self.bns.append(nn.ModuleList(nn.BatchNorm1d(w) for w in ch))
            c_prev = c
        self.head = nn.Linear(c_prev * cfg.positions()[-1], N_CLASSES)
        self.alpha = nn.Parameter(1e-2 * torch.randn(len(self.choices), n_cand.pop()))

    def weights(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def expected_widths(self) -> list[Tensor]:
        """``E[C_l] = Σ_j softmax(α_l)_j · C_{l,j}`` (differentiable in α)."""
        p = torch.softmax(self.alpha, dim=1)
        return [(p[i] * torch.tensor(ch, dtype=p.dtype)).sum() for i, ch in enumerate(self.choices)]

    def argmax_widths(self) -> tuple[int, ...]:
        """The current architecture: the most probable width of each layer."""
        idx = self.alpha.argmax(1).tolist()
        return tuple(ch[i] for ch, i in zip(self.choices, idx))

    def layer(self, i: int, h: Tensor, index: Tensor, probs: Tensor) -> Tensor:
        """Layer ``i`` with the sampled candidates ``index`` ``(2,)`` and their probabilities ``probs`` ``(2,)``:
        ``ReLU(Σ_j p_j · CWI(BN_j(conv(h)[:, :C_j]), max C_j))``; ``h`` ``(N, C, len)`` is zero-filled to the conv's
        input width first (the official ``conv_forward``)."""
        conv = self.convs[i]
        if h.shape[1] < conv.in_channels:
            h = F.pad(h, (0, 0, 0, conv.in_channels - h.shape[1]))
        out = conv(h)
        ws = [self.choices[i][j] for j in index.tolist()]
        outs = [self.bns[i][j](out[:, :w]) for j, w in zip(index.tolist(), ws)]
        return F.relu(cwi_mix(outs, probs, max(ws)))

    def forward(self, x: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
        """Search forward: per layer, sample 2 widths (Gumbel top-2), take the first ``C_j`` outputs of the conv, BN
        each, align them by CWI to the larger width and sum them weighted by the re-normalised probabilities."""
        index, probs = gumbel_top_k(self.alpha, tau, 2, generator)
        h = x.unsqueeze(1) if x.dim() == 2 else x
        for i in range(len(self.convs)):
            h = self.layer(i, h, index[i], probs[i])
            if i + 1 == self.cfg.pool_after:
                h = F.max_pool1d(h, self.cfg.pool)
        c = h.shape[1]                                              # the head reads its first c channels
        w = self.head.weight.view(N_CLASSES, self.convs[-1].out_channels, -1)[:, :c]
        return F.linear(h.flatten(1), w.reshape(N_CLASSES, -1), self.head.bias)


# ----------------------------------------------------------------------------------------------- data, teacher
@dataclass
class Data:
    """MNIST-1D: ``x`` ``(N, 40)``, ``y`` ``(N,)``; the training set is split in halves for the weights and for α."""

    x: Tensor
    y: Tensor
    x_test: Tensor
    y_test: Tensor


@functools.lru_cache(maxsize=4)
def load_data(n_samples: int) -> Data:
    """The MNIST-1D dataset (the generator's default seed: the same data for every run seed)."""
    s = load_mnist1d(num_samples=n_samples)
    return Data(s.x_train, s.y_train, s.x_test, s.y_test)


def train_teacher(cfg: Config, seed: int, data: Data, progress_bar: bool | None = None,
                  device: torch.device | str = "cpu", refresh: bool = False) -> tuple[PrunedNet, cache.CacheInfo]:
    """The unpruned network (all layers at ``max_widths``), trained with cross-entropy, cached."""
    def build() -> PrunedNet:
        torch.manual_seed(seed)
        return PrunedNet(cfg, cfg.max_widths)

    def train(m: PrunedNet) -> dict:
        fit(m, data.x.to(device), data.y.to(device), steps=cfg.teacher_steps, batch_size=cfg.batch_size, lr=cfg.lr,
            seed=seed, progress_bar=progress_bar, desc="teacher")
        return {"acc": accuracy(predict(m, data.x_test.to(device)).cpu(), data.y_test)}

    return cache.load_or_train("tas_teacher", cfg.teacher(), seed, build, train, device=device, refresh=refresh)


# ----------------------------------------------------------------------------------------------- the search
@dataclass
class Search:
    """What the width search did: ``widths`` the final arg-max widths; per step the expected FLOPs, the arg-max
    FLOPs and the width probabilities ``probs`` ``(steps, L, J)``."""

    widths: tuple[int, ...]
    expected: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    probs: np.ndarray | None = None


def search_widths(cfg: Config, data: Data, seed: int, device: torch.device | str = "cpu",
                  progress_bar: bool | None = None) -> Search:
    """TAS's width search (official ``search_train``), first-order, on two halves of the training set.

    Each step: (1) a weight step on a batch of the first half with cross-entropy through the sampled
    supernet; (2) after ``warmup`` steps, an α step on a batch of the second half with
    ``CE + flop_weight · flop_loss(E[FLOPs], FLOPs(arg-max), R, t·R)``. τ anneals linearly.
    """
    torch.manual_seed(seed)
    net = SearchNet(cfg).to(device)
    g = torch.Generator().manual_seed(seed + 7)
    w_opt = torch.optim.Adam(net.weights(), lr=cfg.lr)
    a_opt = torch.optim.Adam([net.alpha], lr=cfg.arch_lr)
    n = len(data.x) // 2
    xa, ya = data.x[:n].to(device), data.y[:n].to(device)
    xb, yb = data.x[n:].to(device), data.y[n:].to(device)
    target = cfg.flop_ratio * flops(cfg, cfg.max_widths)
    tol = cfg.flop_tolerance * target
    rec = Search(widths=())
    probs = []
    net.train()
    for step in progress(range(cfg.search_steps), desc="search", enabled=progress_bar):
        tau = gumbel_tau(step, cfg.search_steps, cfg.tau_max, cfg.tau_min)
        i = torch.randint(0, n, (cfg.search_batch,), generator=g)
        loss = F.cross_entropy(net(xa[i], tau, g), ya[i])
        w_opt.zero_grad(set_to_none=True)
        loss.backward()
        w_opt.step()
        expected = flops(cfg, net.expected_widths())
        current = flops(cfg, net.argmax_widths())
        if step >= cfg.warmup:
            j = torch.randint(0, len(xb), (cfg.search_batch,), generator=g)
            a_loss = F.cross_entropy(net(xb[j], tau, g), yb[j])
            if cfg.flop_weight > 0:
                a_loss = a_loss + cfg.flop_weight * flop_loss(expected, current, target, tol)
            a_opt.zero_grad(set_to_none=True)
            a_loss.backward()
            a_opt.step()
        rec.expected.append(float(expected.detach()) / flops(cfg, cfg.max_widths))
        rec.current.append(current / flops(cfg, cfg.max_widths))
        probs.append(torch.softmax(net.alpha.detach(), 1).cpu().numpy())
    rec.widths = net.argmax_widths()
    rec.probs = np.stack(probs)
    return rec


# ----------------------------------------------------------------------------------------------- baselines
def random_widths(cfg: Config, budget: float, seed: int, tries: int = 2000) -> tuple[int, ...]:
    """Random widths from the candidates whose FLOPs are closest to ``budget``, among ``tries`` uniform draws (the search replaced by chance at equal FLOPs)."""
    rng = np.random.default_rng(seed)
    best, best_gap = tuple(cfg.max_widths), float("inf")
    for _ in range(tries):
        ws = tuple(int(rng.choice(ch)) for ch in cfg.choices())
        gap = abs(flops(cfg, ws) - budget)
        if gap < best_gap:
            best, best_gap = ws, gap
    return best


def l1_init(student: PrunedNet, teacher: PrunedNet) -> PrunedNet:
    """Copy into ``student`` the teacher's largest-L1 filters of every conv layer (Li et al. 2017, ``l1_keep``),
    their BatchNorm entries and the matching input channels of the next layer and of the head."""
    t_convs = [m for m in teacher.body if isinstance(m, nn.Conv1d)]
    t_bns = [m for m in teacher.body if isinstance(m, nn.BatchNorm1d)]
    s_convs = [m for m in student.body if isinstance(m, nn.Conv1d)]
    s_bns = [m for m in student.body if isinstance(m, nn.BatchNorm1d)]
    keep_in = torch.arange(1)
    with torch.no_grad():
        for tc, tb, sc, sb in zip(t_convs, t_bns, s_convs, s_bns):
            keep = l1_keep(tc.weight, sc.out_channels)
            sc.weight.copy_(tc.weight[keep][:, keep_in])
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(sb, name).copy_(getattr(tb, name)[keep])
            keep_in = keep
        pos = student.head.in_features // s_convs[-1].out_channels
        tw = teacher.head.weight.view(N_CLASSES, -1, pos)[:, keep_in]
        student.head.weight.copy_(tw.reshape(N_CLASSES, -1))
        student.head.bias.copy_(teacher.head.bias)
    return student


def train_pruned(cfg: Config, widths, data: Data, teacher_logits: Tensor, seed: int, kd_alpha: float,
                 teacher: PrunedNet | None = None, device: torch.device | str = "cpu",
                 progress_bar: bool | None = None) -> tuple[PrunedNet, float]:
    """Train a :class:`PrunedNet` of ``widths`` for ``retrain_steps`` (Adam, cosine-annealed learning rate) with
    :func:`featurelab.pruning.kd_loss`
    (``kd_alpha = 0``: cross-entropy only); from scratch, or from the teacher's largest-L1 filters when ``teacher``
    is given. Returns the network and its test accuracy."""
    torch.manual_seed(seed)
    net = PrunedNet(cfg, widths).to(device)
    if teacher is not None:
        l1_init(net, teacher)
    x, y, t = data.x.to(device), data.y.to(device), teacher_logits.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.retrain_steps)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in progress(range(cfg.retrain_steps), desc="retrain", enabled=progress_bar):
        i = torch.randint(0, len(x), (cfg.batch_size,), generator=g).to(device)
        loss = kd_loss(net(x[i]), t[i], y[i], kd_alpha, cfg.kd_temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net, accuracy(predict(net, data.x_test.to(device)).cpu(), data.y_test)


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class SeedResult:
    """One seed: the teacher's accuracy, the search, the widths and FLOP ratios of the arm and the references, and
    the test accuracies ``acc[name]`` for ``arm``, ``tas_nokd`` and ``uniform_kd``."""

    seed: int
    teacher_acc: float
    search: Search
    widths: dict
    flop_ratio: dict
    acc: dict
    source: str


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[SeedResult]
    teacher_flops: float
    seconds: float

    def acc(self, name: str) -> np.ndarray:
        """``(n_seeds,)`` test accuracy of ``arm``, ``tas_nokd`` or ``uniform_kd``."""
        return np.array([s.acc[name] for s in self.per_seed])


def arm_widths(cfg: Config, searched: tuple[int, ...], seed: int) -> tuple[int, ...]:
    """The widths the arm trains: the searched ones, or a baseline at (at least) the searched FLOPs."""
    if cfg.arm == "tas":
        return searched
    budget = flops(cfg, searched)
    if cfg.arm == "random":
        return random_widths(cfg, budget, seed + 3)
    return uniform_width(cfg.max_widths, lambda w: flops(cfg, w), budget, "at_least")


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        refresh: bool = False) -> Result:
    """Per seed: teacher (cached), width search, then three trainings of ``retrain_steps``: the arm, the searched
    widths without KD, and uniform widths at (at least) the searched FLOPs with KD."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    data = load_data(cfg.n_samples)
    full = flops(cfg, cfg.max_widths)
    out = []
    for s in seeds:
        teacher, info = train_teacher(cfg, s, data, progress, device, refresh)
        t_logits = predict(teacher, data.x.to(device)).cpu()
        t_acc = accuracy(predict(teacher, data.x_test.to(device)).cpu(), data.y_test)
        srch = search_widths(cfg, data, s, device, progress)
        uni = uniform_width(cfg.max_widths, lambda w: flops(cfg, w), flops(cfg, srch.widths), "at_least")
        aw = arm_widths(cfg, srch.widths, s)
        seed_arm = s + 1000 + cfg.arm_seed_offset
        _, a_arm = train_pruned(cfg, aw, data, t_logits, seed_arm, cfg.kd_alpha,
                                teacher if cfg.arm == "l1" else None, device, progress)
        _, a_nokd = train_pruned(cfg, srch.widths, data, t_logits, s + 1000, 0.0, None, device, progress)
        _, a_uni = train_pruned(cfg, uni, data, t_logits, s + 1000, 0.9, None, device, progress)
        widths = {"searched": srch.widths, "arm": aw, "uniform": uni}
        out.append(SeedResult(s, t_acc, srch, widths, {k: flops(cfg, w) / full for k, w in widths.items()},
                              {"arm": a_arm, "tas_nokd": a_nokd, "uniform_kd": a_uni}, info.source))
    return Result(cfg, seeds, out, full, time.perf_counter() - t0)


def claim_values(res: Result) -> dict:
    """Per-seed values: the arm's FLOPs against the target, its last (cheap) layer's width against the uniform
    architecture at (at least) equal FLOPs, and the accuracy gaps to the references (reported)."""
    r = res.cfg.flop_ratio
    return {
        "flop_miss": [abs(s.flop_ratio["arm"] / r - 1) for s in res.per_seed],
        "last_width_ratio": [s.widths["arm"][-1] / s.widths["uniform"][-1] for s in res.per_seed],
        "gain_vs_uniform": (res.acc("arm") - res.acc("uniform_kd")).tolist(),
        "gain_vs_nokd": (res.acc("arm") - res.acc("tas_nokd")).tolist(),
        "teacher_acc": float(np.mean([s.teacher_acc for s in res.per_seed])),
        "arm_acc": float(res.acc("arm").mean()),
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("flops_on_target", "flop_miss", "<=", 0.25,
              "|FLOPs(searched widths) / (R · FLOPs(unpruned)) − 1|, R = 0.3 (mean over seeds)",
              "qualitative: the searched network meets the FLOP budget (Sec. 3.3); no number retrieved"),
    ClaimSpec("cheap_layer_kept_wider", "last_width_ratio", ">=", 1.10,
              "width of the cheapest conv layer (the last one, after the pool), searched / uniform at ≥ equal FLOPs",
              "qualitative: searched widths are non-uniform across layers (figures of searched shapes); no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("no_cost_loss", {"flop_weight": 0.0}, ("flops_on_target", "cheap_layer_kept_wider"), "mechanism",
         "the same search without its cost loss (α trained by cross-entropy only)"),
    Swap("random_widths", {"arm": "random"}, (), "mechanism",
         "random candidate widths at the searched FLOPs in place of the searched ones, same KD (reported)"),
    Swap("uniform_null", {"arm": "uniform", "arm_seed_offset": 500}, (), "null",
         "uniform widths + KD on an independent training seed in TAS's place: the noise of the accuracy gap (reported)"),
    Swap("no_kd_null", {"kd_alpha": 0.0, "arm_seed_offset": 500}, (), "null",
         "the searched widths without KD on an independent training seed in TAS's place (reported)"),
    Swap("l1_pruned", {"arm": "l1"}, (), "baseline",
         "uniform widths filled with the teacher's largest-L1 filters, fine-tuned with the same KD (reported)"),
)
