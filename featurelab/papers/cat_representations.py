"""Learning useful representations for shifting tasks and distributions (Zhang & Bottou, ICML 2023).

arXiv:2212.07346 · official code: https://github.com/TjuJianyu/RRL
Used by: ``notebooks/02_which_features/05_cat_representations.ipynb``.

The paper's argument (§2–3): one optimisation episode builds only the features that reduce the *training*
loss; features that would matter after a shift of task or distribution are left out. Training the same
architecture on the same data ``n`` times with different seeds and concatenating the representations,

    Φ_CATn(x) = [Φ_1(x); Φ_2(x); …; Φ_n(x)],

collects a richer set of features. The paper's evidence (§4, Fig. 1–3): CATn probes better than a single
network and, at equal feature size, better than a wider network, on *new* tasks (linear probing, few-shot,
OoD), while gaining little on the training task itself.

Here: MLP members on Fashion-MNIST classes 0–4 (the source task), frozen, then few-shot linear probes on
classes 5–9 (the target task) and a linear probe on the source task (in-distribution). The probes are the
batched L-BFGS probes of :mod:`featurelab.probes`. ``same_seed_members=True`` is the null control: four
copies of one member.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from featurelab.data import load_fashion_mnist
from featurelab.models import Net, mlp
from featurelab.probes import few_shot_indices, fit_linear_probe, probe_accuracy, standardize
from featurelab.claims import ClaimSpec
from featurelab.run import ParameterError
from featurelab.train import fit
from featurelab.train import progress as progress_bar

SOURCE_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4)
TARGET_CLASSES: tuple[int, ...] = (5, 6, 7, 8, 9)


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One scale of the experiment (``PRESETS`` holds the notebook's two).

    Attributes:
        size: image side (Fashion-MNIST downsampled by area averaging; 14 → 196 inputs).
        n_source: source-task training images (classes 0–4, balanced subset per seed).
        n_source_test: source test images (the in-distribution probe's test set).
        n_target_pool: labelled target images (classes 5–9) the k-shot sets are drawn from; their inputs,
            without labels, also give the standardisation statistics for target probes.
        n_target_test: target test images.
        member_hidden: hidden widths of a member; the last one is its feature size.
        wide_hidden: hidden widths of the WIDE baseline (its last width = n_members × member feature size).
        n_members: how many members CAT concatenates.
        epochs, lr, batch_size: Adam training of every network on the source task.
        shots: labelled target examples per class; n_resamples: k-shot training sets per probe.
        l2: the probes' weight penalty (the same for every representation; features are standardised).
        n_id_train: source training images the in-distribution probe is fitted on (the first ones).
        probe_iters: L-BFGS iterations of every probe (50: accuracies within ≈ 0.002 of 200 iterations).
        explore_shots: shot counts precomputed for the Explore widget (first seed only).
        n_seeds: seeds of the run (each: its own source subset, members, WIDE and k-shot draws).
        same_seed_members: the null control — all members use the same seed (CAT4 = four copies of one).
    """

    size: int = 14
    n_source: int = 10000
    n_source_test: int = 2000
    n_target_pool: int = 5000
    n_target_test: int = 2000
    member_hidden: tuple[int, ...] = (128, 64)
    wide_hidden: tuple[int, ...] = (512, 256)
    n_members: int = 4
    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 128
    shots: int = 10
    n_resamples: int = 20
    l2: float = 1e-2
    n_id_train: int = 2000
    probe_iters: int = 50
    explore_shots: tuple[int, ...] = (1, 5, 10)
    n_seeds: int = 3
    same_seed_members: bool = False

    def __post_init__(self) -> None:
        if not 4 <= self.size <= 28:
            raise ParameterError(f"size={self.size} must lie in [4, 28]")
        if min(self.n_source, self.n_source_test, self.n_target_pool, self.n_target_test) < 50:
            raise ParameterError("n_source, n_source_test, n_target_pool and n_target_test must each be ≥ 50")
        for name in ("member_hidden", "wide_hidden"):
            widths = getattr(self, name)
            if isinstance(widths, int) or len(widths) < 1 or any(int(w) < 1 for w in widths):
                raise ParameterError(f"{name}={widths!r} must be a tuple of positive widths")
        if self.n_members < 2:
            raise ParameterError(f"n_members={self.n_members} must be ≥ 2 (CAT concatenates several networks)")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ParameterError("epochs and batch_size must be positive ints and lr > 0")
        if self.shots < 1 or self.n_resamples < 1:
            raise ParameterError(f"shots={self.shots} and n_resamples={self.n_resamples} must be ≥ 1")
        if self.shots * len(TARGET_CLASSES) > self.n_target_pool // 2:
            raise ParameterError(f"shots={self.shots} is too many for n_target_pool={self.n_target_pool}")
        if self.l2 < 0:
            raise ParameterError(f"l2={self.l2} must be ≥ 0")
        if any(s < 1 or s * len(TARGET_CLASSES) > self.n_target_pool // 2 for s in self.explore_shots):
            raise ParameterError(f"explore_shots={self.explore_shots} must be positive and fit the target pool")
        if self.n_seeds < 1:
            raise ParameterError(f"n_seeds={self.n_seeds} must be ≥ 1")
        if self.n_id_train < 50 or self.probe_iters < 1:
            raise ParameterError(f"n_id_train={self.n_id_train} must be ≥ 50 and probe_iters={self.probe_iters} ≥ 1")

    @property
    def member_dim(self) -> int:
        return int(self.member_hidden[-1])

    @property
    def cat_dim(self) -> int:
        return self.n_members * self.member_dim


PRESETS: dict[str, Config] = {
    # CPU, one torch thread: 2 seeds × (4 members + WIDE), 10-shot × 20 resamples (≈ 8 s of CPU for run()).
    "small": Config(n_seeds=2),
    # One GPU, ≤ 10 min (estimated, not run on a GPU): all source images, longer training, 5 seeds, 8 members
    # of 64 features vs WIDE with 512. (The card's CNN variant is not implemented.)
    "full": Config(size=28, n_source=30000, n_target_pool=20000, n_target_test=5000, n_source_test=5000,
                   member_hidden=(256, 64), wide_hidden=(1024, 512), n_members=8, epochs=10,
                   n_resamples=50, n_id_train=10000, probe_iters=200, explore_shots=(1, 5, 10, 20), n_seeds=5),
}


# --------------------------------------------------------------------------------------------------------
# Data and networks
# --------------------------------------------------------------------------------------------------------
@dataclass
class Data:
    """One seed's data; images flattened to ``(N, size²)`` float32 in [0, 1], labels ``(N,)`` in 0..4."""

    x_source: Tensor
    y_source: Tensor
    x_source_test: Tensor
    y_source_test: Tensor
    x_pool: Tensor
    y_pool: Tensor
    x_target_test: Tensor
    y_target_test: Tensor

    def to(self, device: torch.device | str) -> "Data":
        return Data(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def load_data(cfg: Config, seed: int) -> Data:
    """Source task = Fashion-MNIST classes 0–4, target task = classes 5–9 (relabelled 0–4).

    Source train/test come from the official train/test splits; the target pool from the train split and the
    target test set from the test split (balanced random subsets that depend on ``seed``).
    """
    src = load_fashion_mnist(cfg.n_source, cfg.n_source_test, size=cfg.size, seed=seed, classes=SOURCE_CLASSES)
    tgt = load_fashion_mnist(cfg.n_target_pool, cfg.n_target_test, size=cfg.size, seed=seed + 50_000,
                             classes=TARGET_CLASSES)
    return Data(src.x_train.flatten(1), src.y_train, src.x_test.flatten(1), src.y_test,
                tgt.x_train.flatten(1), tgt.y_train, tgt.x_test.flatten(1), tgt.y_test)


def train_network(cfg: Config, data: Data, hidden: Sequence[int], seed: int, device: torch.device | str = "cpu",
                  progress: bool = False) -> Net:
    """An MLP ``size² → hidden… → 5`` trained on the source task with :func:`featurelab.train.fit`.

    ``seed`` fixes the initialisation and the batch order — the only difference between CAT's members.
    """
    torch.manual_seed(seed)
    net = mlp([cfg.size * cfg.size, *hidden, len(SOURCE_CLASSES)]).to(device)
    fit(net, data.x_source, data.y_source, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed,
        progress_bar=progress, desc=f"net {seed}")
    net.eval()
    return net


def train_members(cfg: Config, data: Data, seeds: Sequence[int], device: torch.device | str = "cpu") -> list[Net]:
    """Train ``len(seeds)`` member MLPs at once, each exactly as :func:`train_network` would (same
    initialisation from its seed, its own batch order, its own Adam state), as one batched computation.

    The members' weights are stacked into ``(K, in, out)`` tensors and every layer is a batched matrix product
    ``(K, B, in) @ (K, in, out)``; the loss is the sum of the K members' mean cross-entropies, so each member
    receives exactly its own gradient, and Adam is element-wise. This is only a speed-up (one Python loop
    instead of K), checked against :func:`train_network` in the unit tests.
    """
    nets = []
    for s in seeds:
        torch.manual_seed(s)
        nets.append(mlp([cfg.size * cfg.size, *cfg.member_hidden, len(SOURCE_CLASSES)]).to(device))
    linears = [[m for m in n.modules() if isinstance(m, torch.nn.Linear)] for n in nets]
    weights = [torch.stack([ls[i].weight.detach().T for ls in linears]).requires_grad_()
               for i in range(len(linears[0]))]  # (K, in, out)
    biases = [torch.stack([ls[i].bias.detach()[None] for ls in linears]).requires_grad_()
              for i in range(len(linears[0]))]  # (K, 1, out)
    opt = torch.optim.Adam([*weights, *biases], lr=cfg.lr)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x, y = data.x_source, data.y_source
    n = x.shape[0]
    bs = min(cfg.batch_size, n)
    per_epoch = -(-n // bs)
    K = len(seeds)
    for _ in range(cfg.epochs):
        orders = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)  # (K, n)
        for b in range(per_epoch):
            idx = orders[:, b * bs:(b + 1) * bs]  # (K, B)
            h = x[idx]  # (K, B, in)
            for i, (w, c) in enumerate(zip(weights, biases)):
                h = torch.baddbmm(c, h, w)
                if i < len(weights) - 1:
                    h = torch.relu(h)
            loss = torch.nn.functional.cross_entropy(h.reshape(-1, h.shape[-1]), y[idx].reshape(-1),
                                                     reduction="none").view(K, -1).mean(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        for k, ls in enumerate(linears):
            for i, lin in enumerate(ls):
                lin.weight.copy_(weights[i][k].T)
                lin.bias.copy_(biases[i][k, 0])
    for net in nets:
        net.eval()
    return nets


@torch.no_grad()
def features(net: Net, x: Tensor) -> Tensor:
    """The frozen representation ``Φ(x)``: ``(N, size²)`` → ``(N, hidden[-1])`` (last hidden layer)."""
    return net.features(x)


def concat_features(nets: Sequence[Net], x: Tensor) -> Tensor:
    """CATn (§2): ``Φ_CAT(x) = [Φ_1(x); …; Φ_n(x)]``, shape ``(N, Σ_k F_k)``."""
    return torch.cat([features(n, x) for n in nets], dim=1)


# --------------------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------------------
def pad_features(feats: Sequence[Tensor], dim: int) -> Tensor:
    """Stack representations of different widths ``[(N, F_r)]`` into ``(R, N, dim)`` with zero columns.

    A zero column gets no gradient from the data and is pulled to 0 by the L2 term, so a probe on the
    padded features is the probe on the original ones: this lets one L-BFGS run fit all representations.
    """
    out = torch.zeros(len(feats), feats[0].shape[0], dim, device=feats[0].device)
    for r, f in enumerate(feats):
        out[r, :, : f.shape[1]] = f
    return out


def few_shot_accuracy(pool_feats: Sequence[Tensor], y_pool: Tensor, test_feats: Sequence[Tensor], y_test: Tensor,
                      idx: Tensor, l2: float, max_iter: int = 100) -> Tensor:
    """Target k-shot linear-probe accuracy of several representations at once.

    Args:
        pool_feats: per representation ``(P, F_r)`` features of the labelled target pool; y_pool ``(P,)``.
        test_feats: per representation ``(M, F_r)`` features of the target test set; y_test ``(M,)``.
        idx: ``(S, k·C)`` indices into the pool (:func:`featurelab.probes.few_shot_indices`); every
            representation is probed on the same ``S`` draws.
        l2: the probes' L2 penalty; max_iter: L-BFGS iterations.

    Each representation is standardised with the statistics of the whole pool's *inputs* (unlabelled: the
    labels are used only for the k-shot picks), with the sd floored so that dead units are not blown up and
    no member dominates by scale.

    Returns:
        ``(R, S)`` accuracies on the target test set.
    """
    dim = max(f.shape[1] for f in pool_feats)
    std = [standardize(p, t) for p, t in zip(pool_feats, test_feats)]
    pool = pad_features([p for p, _ in std], dim)  # (R, P, dim)
    test = pad_features([t for _, t in std], dim)  # (R, M, dim)
    R, S = pool.shape[0], idx.shape[0]
    x = pool[:, idx].reshape(R * S, idx.shape[1], dim)  # (R·S, k·C, dim)
    y = y_pool[idx].repeat(R, 1)  # (R·S, k·C)
    probe = fit_linear_probe(x, y, n_classes=len(TARGET_CLASSES), l2=l2, max_iter=max_iter)
    w = probe.weight.view(R, S, dim, -1)
    with torch.no_grad():
        logits = torch.einsum("rmd,rsdc->rsmc", test, w) + probe.bias.view(R, S, 1, -1)  # (R, S, M, C)
    return (logits.argmax(-1) == y_test).float().mean(-1)


def id_accuracy(train_feats: Sequence[Tensor], y_train: Tensor, test_feats: Sequence[Tensor], y_test: Tensor,
                l2: float, max_iter: int = 100) -> Tensor:
    """In-distribution linear-probe accuracy of several representations: one probe each on the source
    training features, tested on the source test set (standardised with the training statistics).

    ``train_feats``: per representation ``(N, F_r)``; ``test_feats``: ``(M, F_r)``. Returns ``(R,)``.
    """
    dim = max(f.shape[1] for f in train_feats)
    std = [standardize(a, b) for a, b in zip(train_feats, test_feats)]
    tr = pad_features([a for a, _ in std], dim)
    te = pad_features([b for _, b in std], dim)
    probe = fit_linear_probe(tr, y_train.repeat(len(std), 1), n_classes=len(SOURCE_CLASSES), l2=l2,
                             max_iter=max_iter)
    return probe_accuracy(probe, te, y_test)


# --------------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------------
@dataclass
class SeedResult:
    """One seed.

    Attributes:
        target_member: ``(n_members,)`` mean k-shot target accuracy of each single member (CAT1).
        target_cat: ``{n: mean accuracy}`` of CATn = the first ``n`` members, n = 2..n_members.
        target_wide: WIDE's mean k-shot accuracy.
        target_per_resample: ``{"cat": (R,), "member0": (R,), "wide": (R,)}`` for error bars.
        id_member: ``(n_members,)`` source-task probe accuracy of each member; id_cat, id_wide likewise.
        source_acc: the source-task test accuracy of each network's own head (members…, WIDE last).
        cka: ``(n_members, n_members)`` linear CKA between members on the target test set.
        explore: ``{shots: {"member": acc, "cat2": …, "wide": …}}`` (first seed only, else empty).
        n_params: ``{"member": …, "cat": …, "wide": …}`` parameter counts.
    """

    seed: int
    target_member: np.ndarray
    target_cat: dict[int, float]
    target_wide: float
    target_per_resample: dict[str, np.ndarray]
    id_member: np.ndarray
    id_cat: float
    id_wide: float
    source_acc: np.ndarray
    cka: np.ndarray
    explore: dict[int, dict[str, float]] = field(default_factory=dict)
    n_params: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    """All seeds of one run."""

    cfg: Config
    seeds: list[int]
    runs: list[SeedResult] = field(default_factory=list)
    seconds: float = 0.0


def run_seed(cfg: Config, seed: int, device: torch.device | str = "cpu", explore: bool = False) -> SeedResult:
    """Train the members and WIDE on the source task, then probe every representation.

    Member ``k`` uses seed ``1000·seed + k`` (or ``1000·seed`` for all with ``same_seed_members``), WIDE uses
    ``1000·seed + 999``. Every representation is probed on the *same* k-shot draws.
    """
    from featurelab.features import linear_cka
    from featurelab.models import count_parameters

    data = load_data(cfg, seed).to(device)
    member_seeds = [1000 * seed + (0 if cfg.same_seed_members else k) for k in range(cfg.n_members)]
    members = train_members(cfg, data, member_seeds, device)
    wide = train_network(cfg, data, cfg.wide_hidden, 1000 * seed + 999, device)
    nets = [*members, wide]
    with torch.no_grad():
        source_acc = np.array([(n(data.x_source_test).argmax(1) == data.y_source_test).float().mean().item()
                               for n in nets])

    # frozen features of every split
    feats = {name: [features(n, getattr(data, name)) for n in nets]
             for name in ("x_pool", "x_target_test", "x_source", "x_source_test")}

    def rep(name: str, which: str) -> Tensor:
        """Features of split ``name`` for representation ``which``: "m<k>", "cat<n>" or "wide"."""
        fs = feats[name]
        if which == "wide":
            return fs[-1]
        if which.startswith("cat"):
            return torch.cat(fs[: int(which[3:])], dim=1)
        return fs[int(which[1:])]

    g = torch.Generator().manual_seed(seed + 123)
    idx = few_shot_indices(data.y_pool.cpu(), cfg.shots, cfg.n_resamples, generator=g).to(device)
    reps = [f"m{k}" for k in range(cfg.n_members)] + [f"cat{n}" for n in range(2, cfg.n_members + 1)] + ["wide"]

    def target(names: Sequence[str], index: Tensor) -> Tensor:
        return few_shot_accuracy([rep("x_pool", r) for r in names], data.y_pool,
                                 [rep("x_target_test", r) for r in names], data.y_target_test, index, cfg.l2,
                                 max_iter=cfg.probe_iters)

    acc = dict(zip(reps, target(reps, idx)))  # name -> (S,)
    member_acc = [acc[f"m{k}"] for k in range(cfg.n_members)]
    cat_acc = {n: acc[f"cat{n}"] for n in range(2, cfg.n_members + 1)}
    wide_acc = acc["wide"]

    id_reps = [f"m{k}" for k in range(cfg.n_members)] + [f"cat{cfg.n_members}", "wide"]
    n_id = min(cfg.n_id_train, data.x_source.shape[0])
    id_acc = id_accuracy([rep("x_source", r)[:n_id] for r in id_reps], data.y_source[:n_id],
                         [rep("x_source_test", r) for r in id_reps], data.y_source_test, cfg.l2,
                         max_iter=cfg.probe_iters).cpu().numpy()
    id_member, id_cat, id_wide = id_acc[: cfg.n_members], float(id_acc[-2]), float(id_acc[-1])
    test_feats = [f.cpu().numpy() for f in feats["x_target_test"][:-1]]
    cka = np.ones((cfg.n_members, cfg.n_members))
    for i in range(cfg.n_members):
        for j in range(i + 1, cfg.n_members):
            try:
                cka[i, j] = cka[j, i] = linear_cka(test_feats[i], test_feats[j])
            except ParameterError:
                cka[i, j] = cka[j, i] = float("nan")
    out = SeedResult(
        seed=seed,
        target_member=np.array([float(a.mean()) for a in member_acc]),
        target_cat={n: float(a.mean()) for n, a in cat_acc.items()},
        target_wide=float(wide_acc.mean()),
        target_per_resample={"cat": cat_acc[cfg.n_members].cpu().numpy(), "member0": member_acc[0].cpu().numpy(),
                             "wide": wide_acc.cpu().numpy()},
        id_member=id_member, id_cat=id_cat, id_wide=id_wide, source_acc=source_acc, cka=cka,
        n_params={"member": count_parameters(members[0]), "cat": sum(count_parameters(m) for m in members),
                  "wide": count_parameters(wide)},
    )
    if explore:
        names = ["m0"] + [f"cat{n}" for n in range(2, cfg.n_members + 1)] + ["wide"]
        keys = [f"cat{n}" for n in range(1, cfg.n_members + 1)] + ["wide"]
        for shots in cfg.explore_shots:
            if shots == cfg.shots:
                vals = [acc[r].mean() for r in names]
            else:
                ix = few_shot_indices(data.y_pool.cpu(), shots, cfg.n_resamples, generator=g).to(device)
                vals = target(names, ix).mean(1)
            out.explore[shots] = {k: float(v) for k, v in zip(keys, vals)}
    return out


def run(cfg: Config, seeds: Sequence[int], device: torch.device | str = "cpu", progress: bool = True,
        explore: bool = True) -> Result:
    """:func:`run_seed` for every seed (the Explore grid on the first seed only)."""
    if not seeds:
        raise ParameterError("run() needs at least one seed")
    start = time.perf_counter()
    res = Result(cfg=cfg, seeds=list(seeds))
    for i, s in enumerate(progress_bar(list(seeds), desc="seeds", enabled=None if progress else False)):
        res.runs.append(run_seed(cfg, s, device, explore=explore and i == 0))
    res.seconds = time.perf_counter() - start
    return res


# --------------------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------------------
def claim_values(res: Result) -> dict[str, list[float]]:
    """Per-seed values the notebook checks (the checks use their mean over seeds).

    - ``target_gain``: CATn minus the mean single member, k-shot target accuracy (n = n_members).
    - ``id_gain``: the same on the source task (in-distribution probe).
    - ``task_specific_gain``: ``target_gain − id_gain`` — the gain shows on the new task, not the training task.
    - ``cat_minus_wide``: CATn minus WIDE on the target.
    """
    n = res.cfg.n_members
    target = [r.target_cat[n] - float(r.target_member.mean()) for r in res.runs]
    ident = [r.id_cat - float(r.id_member.mean()) for r in res.runs]
    return {
        "target_gain": target,
        "id_gain": ident,
        "task_specific_gain": [t - i for t, i in zip(target, ident)],
        "cat_minus_wide": [r.target_cat[n] - r.target_wide for r in res.runs],
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("cat_beats_single_member_on_target", "target_gain", ">=", 0.02,
              "10-shot target probe: CAT4 beats the mean single member by ≥ 0.02 (mean over seeds)",
              "CATn > a single network on new tasks: linear probing, few-shot (abstract; §4, Figs. 1, 3)"),
    ClaimSpec("cat_gain_is_task_specific", "task_specific_gain", ">=", 0.015,
              "CAT4's gain on the new task exceeds its gain on the training task by ≥ 0.015 (mean over seeds)",
              "little extra information about the training task, much more after a shift (abstract)"),
)
