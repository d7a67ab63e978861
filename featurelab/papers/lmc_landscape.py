"""Landscaping Linear Mode Connectivity (Singh, Adilova, Kamp, Fischer, Schölkopf & Hofmann, ICML 2024 workshop
HiLD), arXiv:2406.16300. Used by ``notebooks/01_how_networks_learn/06_lmc_landscape.ipynb``.

Two solutions ``theta_A``, ``theta_B`` are *linearly mode connected* (LMC) when the loss barrier along the
straight line between them is about zero (``featurelab.landscape.barrier``). The paper's picture: networks
that start from the same point late enough in training ("spawning", Frankle et al. 2020) end in one basin,
while networks from independent initialisations are separated by a ridge — unless their hidden units are
first permuted into register (weight matching). It also analyses the barrier height with a second-order
Taylor expansion along the line and uses the result per layer ("layer-wise LMC").

The barrier estimate used here (a cubic Hermite fit of ``phi(t) = L(theta_A + t·Delta)``, ``Delta = theta_B -
theta_A``, from the endpoint losses and gradients ``g_A``, ``g_B``) estimates the signed excess at the midpoint::

    B_hat = (g_A - g_B)^T Delta / 8        ≈  -(1/8) Delta^T H Delta       (to second order)

It is exact for a cubic ``phi`` and, by a Taylor expansion at the midpoint, equals the curvature form
``-(1/8) Delta^T H(theta_1/2) Delta`` up to third-order terms. The exact statement of the paper's theorem could
not be verified from the sources available to the course (only the abstract was reachable); see the notebook.

The experiment (``run``), per seed:

* a parent MLP is trained with plain SGD to steps ``k in spawn_steps``; at each ``k`` two children are forked
  and trained ``child_steps`` more steps with different data orders (the spawning protocol);
* an *independent* pair: two networks from different initialisations trained the same way;
* the independent pair again after weight matching (``featurelab.landscape.weight_matching``);
* for every pair, the loss along the straight line (whole network, and each layer alone with the others held
  at ``theta_A``), the barrier ``B``, the signed midpoint excess ``B_mid``, the estimate ``B_hat`` and, as
  control predictors, the squared distance ``||Delta||^2`` and the endpoint-loss gap ``L(theta_B) - L(theta_A)``
  (a predictor that knows nothing about curvature).

Every network after the parent's fork is trained at once as one batched ensemble (``featurelab.ensemble``):
the children of all spawn steps and the independent network are members with their own data orders, and
plain SGD is written out (``p -= lr * grad``), so a member's update is exactly what it would get alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import Tensor, nn

from featurelab import landscape as ls
from featurelab.base import ParameterError
from featurelab.base import progress as _progress
from featurelab.claims import ClaimSpec
from featurelab.data import Split, load_fashion_mnist
from featurelab.ensemble import EnsembleMLP
from featurelab.experiment import Knobs, Swap, knob
from featurelab.models import mlp

MATCHING = ("weight", "random", "none")
#: the barrier predictor the rank claim is measured on: the paper's estimate, or a control that knows no curvature
ESTIMATORS = {"hermite": "B_hat", "distance": "dist2", "endpoint_gap": "end_gap"}


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Knobs):
    """One scale of the experiment (the notebook's knobs are the upper-case names of these fields).

    Attributes:
        n_train, n_test: Fashion-MNIST images (class-balanced subsets; the test split measures every loss).
        size: image side after area downsampling (14 → 196 inputs).
        hidden: hidden widths of the MLP ``size² → hidden… → 10``.
        lr, batch_size: plain SGD (no momentum, so a child inherits no optimiser state).
        spawn_steps: parent steps ``k`` at which two children are forked (must include 0).
        child_steps: SGD steps of every child (and of the independent network).
        n_points: evenly spaced points on each path (odd, so ``t = 1/2`` is one of them).
        wm_sweeps: coordinate-ascent sweeps of weight matching.
        independent: ``True`` = the independent network has its own initialisation; ``False`` (a swap) = it
            starts from the parent's initialisation (then it *is* child B of the ``k = 0`` spawn).
        matching: how the independent pair is aligned: ``"weight"`` (weight matching, the method), ``"random"``
            (a random permutation of the hidden units — function-preserving but not aligned: the swap) or
            ``"none"`` (identity: ratio 1 by construction).
        estimator: the predictor of the rank claim: ``"hermite"`` (``B_hat``, the method), ``"distance"``
            (``||Delta||^2``) or ``"endpoint_gap"`` (``-(L_B - L_A)``) — the swaps.
        n_seeds: seeds per run.
    """

    n_train: int = knob(6000, lo=100, doc="training images")
    n_test: int = knob(1000, lo=100, doc="test images (every loss is measured on them)")
    size: int = knob(14, lo=4, hi=28, doc="image side")
    hidden: tuple[int, ...] = knob((128, 128), lo=1, doc="hidden widths")
    lr: float = knob(0.05, lo=0.0, lo_open=True, doc="SGD learning rate")
    batch_size: int = knob(64, lo=1)
    spawn_steps: tuple[int, ...] = knob((0, 100, 400), lo=0, doc="parent steps at which children are forked")
    child_steps: int = knob(500, lo=1, doc="SGD steps of every child")
    n_points: int = knob(11, lo=3, doc="points on each path (odd)")
    wm_sweeps: int = knob(5, lo=1, doc="sweeps of weight matching")
    independent: bool = knob(True, choices=(True, False), doc="independent initialisation of the other network")
    matching: str = knob("weight", choices=MATCHING, doc="alignment of the independent pair")
    estimator: str = knob("hermite", choices=tuple(ESTIMATORS), doc="barrier predictor of the rank claim")
    n_seeds: int = knob(2, lo=1, doc="seeds per run")

    def validate(self) -> None:
        if not isinstance(self.hidden, tuple) or not self.hidden:
            raise ParameterError(f"HIDDEN={self.hidden!r} must be a tuple of positive widths, e.g. (128, 128)")
        if not isinstance(self.spawn_steps, tuple) or 0 not in self.spawn_steps \
                or list(self.spawn_steps) != sorted(set(self.spawn_steps)):
            raise ParameterError(f"SPAWN_STEPS={self.spawn_steps!r} must be increasing, distinct and include 0")
        if self.n_points % 2 == 0:
            raise ParameterError(f"N_POINTS={self.n_points} must be odd (t = 1/2 must be on the grid)")

    @property
    def ts(self) -> np.ndarray:
        """The path grid ``(n_points,)`` from 0 to 1."""
        return np.linspace(0.0, 1.0, self.n_points)


PRESETS = {
    "small": Config(),
    "full": Config(n_train=60000, n_test=10000, size=28, hidden=(512, 512), spawn_steps=(0, 100, 400, 1600, 3000),
                   child_steps=4000, n_points=21, n_seeds=5),
}
SMOKE = {"spawn_steps": (0, 2), "child_steps": 2, "n_seeds": 1, "n_points": 3, "n_train": 512, "n_test": 256}


# --------------------------------------------------------------------------------------------------------
# Data, model and training (one batched ensemble of plain-SGD networks)
# --------------------------------------------------------------------------------------------------------
def load_data(cfg: Config) -> Split:
    """Fashion-MNIST subsets, ``x`` ``(N, 1, size, size)``; one fixed subset (seed 0) for every run seed, so that
    seeds differ only in initialisation and SGD noise."""
    return load_fashion_mnist(n_train=cfg.n_train, n_test=cfg.n_test, size=cfg.size, seed=0)


def make_model(cfg: Config, init_seed: int) -> nn.Module:
    """The MLP ``size² → hidden… → 10`` (PyTorch default init, seeded by ``init_seed``)."""
    torch.manual_seed(init_seed)
    return mlp([cfg.size * cfg.size, *cfg.hidden, 10])


def to_ensemble(template: nn.Module, thetas: Sequence[Tensor]) -> EnsembleMLP:
    """An :class:`EnsembleMLP` whose member ``m`` holds the flat parameters ``thetas[m]`` ``(P,)`` of ``template``."""
    linears = [m for m in template.modules() if isinstance(m, nn.Linear)]
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    ens = EnsembleMLP(len(thetas), sizes).to(thetas[0].device)
    with torch.no_grad():
        for m, theta in enumerate(thetas):
            for layer, (w, b) in zip(ens.layers, ls.mlp_weights(template, theta)):
                layer.weight[m].copy_(w.T)
                layer.bias[m, 0].copy_(b)
    return ens


def from_ensemble(ens: EnsembleMLP, m: int) -> Tensor:
    """Member ``m`` as a flat vector ``(P,)`` in the order of :func:`make_model`'s parameters."""
    return torch.cat([t.detach().reshape(-1) for layer in ens.layers for t in (layer.weight[m].T, layer.bias[m, 0])])


def sgd_steps(ens: EnsembleMLP, data: Split, steps: int, cfg: Config, order_seeds: Sequence[int]) -> None:
    """``steps`` plain-SGD steps of every member at once, member ``m`` drawing its batches from its own data order
    (reshuffled each epoch, ``torch.Generator`` seeded ``order_seeds[m]``). The loss is the *sum* of the members'
    batch losses, so each member's gradient — and its update ``p -= lr·grad`` — is exactly its own."""
    if steps <= 0:
        return
    n, b = len(data.x_train), cfg.batch_size
    per_epoch = max(1, n // b)
    orders = []
    for s in order_seeds:
        g = torch.Generator().manual_seed(int(s))
        epochs = -(-steps // per_epoch)
        orders.append(torch.cat([torch.randperm(n, generator=g)[: per_epoch * b] for _ in range(epochs)]))
    order = torch.stack(orders).to(data.x_train.device)                                    # (M, epochs·per_epoch·b)
    x, y = data.x_train.flatten(1), data.y_train
    params = list(ens.parameters())
    for step in range(steps):
        idx = order[:, step * b:(step + 1) * b]                                             # (M, b)
        loss = F.cross_entropy(ens(x[idx]).flatten(0, 1), y[idx].flatten(), reduction="sum") / b
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(cfg.lr * g)


# --------------------------------------------------------------------------------------------------------
# The mechanism: barrier, midpoint excess and the estimate B_hat, for the whole net or one layer
# --------------------------------------------------------------------------------------------------------
def hermite_estimate(g_a: Tensor, g_b: Tensor, delta: Tensor) -> float:
    """``B_hat = (g_A - g_B)^T Delta / 8`` (all ``(P,)``): the midpoint excess of the cubic through the endpoint
    losses with slopes ``phi'(0) = g_A^T Delta`` and ``phi'(1) = g_B^T Delta``; ≈ ``-(1/8) Delta^T H Delta``."""
    return float((g_a - g_b) @ delta) / 8.0


def path_scope(theta_a: Tensor, theta_b: Tensor, part: slice | None) -> Tensor:
    """The far endpoint for a scope: ``theta_b`` for the whole network (``part=None``), else ``theta_a`` with only
    the entries in ``part`` (one layer) taken from ``theta_b`` — layer-wise interpolation (Sec. 4)."""
    if part is None:
        return theta_b
    end = theta_a.clone()
    end[part] = theta_b[part]
    return end


def measure_pair(model: nn.Module, theta_a: Tensor, theta_b: Tensor, x: Tensor, y: Tensor, ts: np.ndarray,
                 part: slice | None = None) -> dict:
    """Everything about one path. ``theta_*`` are ``(P,)``; ``part`` restricts interpolation to one layer.

    Returns ``{"losses": (T,), "B": barrier, "B_mid": signed midpoint excess, "B_hat": Hermite estimate (gradient
    restricted to the interpolated coordinates), "dist2": ||Delta||^2, "end_gap": L(end) - L(theta_a)}``.
    """
    end = path_scope(theta_a, theta_b, part)
    losses = ls.loss_along_path(model, theta_a, end, x, y, ts)
    _, g_a = ls.loss_and_grad(model, theta_a, x, y)
    _, g_b = ls.loss_and_grad(model, end, x, y)
    delta = end - theta_a          # zero outside ``part``, so only that layer's gradient enters
    return {"losses": losses, "B": ls.barrier(losses, ts), "B_mid": ls.midpoint_excess(losses, ts),
            "B_hat": hermite_estimate(g_a, g_b, delta), "dist2": float(delta @ delta),
            "end_gap": float(losses[-1] - losses[0])}


def align(model: nn.Module, theta_a: Tensor, theta_b: Tensor, cfg: Config, seed: int) -> Tensor:
    """``theta_b`` permuted by ``cfg.matching``: weight matching to ``theta_a``, a random permutation, or none."""
    if cfg.matching == "weight":
        return ls.weight_matching(model, theta_a, theta_b, sweeps=cfg.wm_sweeps, seed=seed)[0]
    if cfg.matching == "random":
        g = torch.Generator().manual_seed(seed + 77_777)
        return ls.permute_mlp(model, theta_b, [torch.randperm(h, generator=g) for h in cfg.hidden])
    return theta_b


# --------------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """Rows of one run: one per (seed, pair, scope).

    ``pair`` is ``"k=<steps>"`` for spawned children, ``"indep"`` and ``"indep+wm"``; ``scope`` is ``"net"`` or
    a layer name (``"features.1"``, ...). Each row has ``B``, ``B_mid``, ``B_hat``, ``dist2``, ``end_gap``,
    ``losses`` (T,), ``acc_a``, ``acc_b`` (test accuracies of the endpoints).
    """

    cfg: Config
    seeds: list[int]
    rows: list[dict] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def pairs(self) -> list[str]:
        return [f"k={k}" for k in self.cfg.spawn_steps] + ["indep", "indep+wm"]

    def get(self, seed: int, pair: str, scope: str = "net") -> dict:
        for r in self.rows:
            if r["seed"] == seed and r["pair"] == pair and r["scope"] == scope:
                return r
        raise KeyError((seed, pair, scope))

    def values(self, key: str, pair: str, scope: str = "net") -> np.ndarray:
        """``(S,)``: ``key`` for ``pair``/``scope`` at every seed."""
        return np.array([self.get(s, pair, scope)[key] for s in self.seeds])


def run(cfg: Config, seeds: Sequence[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        data: Split | None = None) -> Result:
    """Spawned pairs at every ``k``, the independent pair and its aligned version, for each seed.

    Seeds: the parent's init is ``seed`` and its data order ``1000·seed + 999 - i`` up to the ``i``-th fork; child ``j`` of the spawn at
    ``k_i`` uses data order ``1000·seed + 10·i + j``; the independent network has init ``seed + 10_000`` and child
    B's data order of the ``k = 0`` spawn, and is paired with child A of that spawn. ``data`` defaults to
    :func:`load_data` (tests pass a tiny split).
    """
    start = time.perf_counter()
    data = (data or load_data(cfg)).to(device)
    xt, yt = data.x_test, data.y_test
    ts = cfg.ts
    res = Result(cfg, list(seeds))
    bar = _progress(total=2 * len(res.seeds), desc="train + measure", enabled=progress)
    for seed in res.seeds:
        template = make_model(cfg, seed).to(device)
        res.layers = list(ls.layer_slices(template))
        # the parent, forked at every k: snapshots theta_k
        parent = to_ensemble(template, [ls.flatten(template)])
        snaps, done = [], 0
        for i, k in enumerate(cfg.spawn_steps):
            sgd_steps(parent, data, k - done, cfg, [1000 * seed + 999 - i])
            done = k
            snaps.append(from_ensemble(parent, 0))
        # all children and the independent network: one ensemble
        other_init = ls.flatten(make_model(cfg, seed + 10_000 if cfg.independent else seed).to(device))
        starts = [snap for snap in snaps for _ in range(2)] + [other_init]
        orders = [1000 * seed + 10 * i + j for i in range(len(snaps)) for j in range(2)] + [1000 * seed + 1]
        kids = to_ensemble(template, starts)
        sgd_steps(kids, data, cfg.child_steps, cfg, orders)
        bar.update(1)
        thetas = {f"k={k}": (from_ensemble(kids, 2 * i), from_ensemble(kids, 2 * i + 1))
                  for i, k in enumerate(cfg.spawn_steps)}
        theta_a, theta_b = thetas["k=0"][0], from_ensemble(kids, len(starts) - 1)
        thetas["indep"] = (theta_a, theta_b)
        thetas["indep+wm"] = (theta_a, align(template, theta_a, theta_b, cfg, seed))
        slices = ls.layer_slices(template)
        for pair, (ta, tb) in thetas.items():
            acc_a, acc_b = _acc(template, ta, xt, yt), _acc(template, tb, xt, yt)
            for scope, part in [("net", None), *slices.items()]:
                row = measure_pair(template, ta, tb, xt, yt, ts, part)
                row.update(seed=seed, pair=pair, scope=scope, acc_a=acc_a, acc_b=acc_b)
                res.rows.append(row)
        bar.update(1)
    bar.close()
    res.seconds = time.perf_counter() - start
    return res


@torch.no_grad()
def _acc(model: nn.Module, theta: Tensor, x: Tensor, y: Tensor) -> float:
    logits = torch.func.functional_call(model, ls.unflatten(theta, model), (x,))
    return float((logits.argmax(-1) == y).float().mean())


# --------------------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------------------
def rank_agreement(res: Result, seed: int, predictor: str = "B_hat", scope: str | None = None) -> float:
    """Spearman correlation between ``predictor`` (``"B_hat"``, or a control: ``"dist2"``, ``"end_gap"``) and the
    measured signed midpoint excess ``B_mid`` over the (pair, scope) cases of one seed: all scopes
    (``scope=None``) or only ``scope`` (``"net"``: whole-network paths)."""
    rows = [r for r in res.rows if r["seed"] == seed and (scope is None or r["scope"] == scope)]
    sign = -1.0 if predictor == "end_gap" else 1.0       # a broken endpoint means a convex (negative) B_mid
    return float(spearmanr([sign * r[predictor] for r in rows], [r["B_mid"] for r in rows]).statistic)


def claim_values(res: Result) -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)``.

    * ``indep_minus_spawn``: ``B_mid(indep) - B_mid(k = last spawn step)``, whole network — independent inits are
      separated by a ridge, late spawns are not (Sec. 3). The signed midpoint excess (equal to the barrier ``B``
      when there is a bump) is used so that a connected pair in the independent arm's place is not pinned at 0.
    * ``wm_ratio``: ``B(indep+aligned) / B(indep)`` — permuting units into register removes most of the barrier.
    * reported, not asserted: ``rank_net`` = Spearman(predictor, ``B_mid``) over the whole-network paths (every
      spawn pair, the independent pair, the aligned pair), the predictor being ``cfg.estimator`` (``B_hat`` for
      the method; 0.85–1.0 over 12 calibration sets, but ``||Delta||^2`` reaches 0.6–0.95, so no threshold
      separates them reliably); ``rank_all`` = Spearman(``B_hat``, ``B_mid``) over all pairs × scopes (the single-
      layer paths end at broken hybrid networks, so they are convex and easy to rank: the control predictor
      ``-(L_B - L_A)`` ranks them too, ``rank_endgap_all``); ``rank_dist2_all``; ``bhat_indep`` and
      ``bmid_indep`` (the size of the one real barrier and its estimate).
    """
    kmax = f"k={res.cfg.spawn_steps[-1]}"
    b_ind = res.values("B", "indep")
    rank = lambda pred, scope=None: np.array([rank_agreement(res, s, pred, scope) for s in res.seeds])
    return {
        "indep_minus_spawn": res.values("B_mid", "indep") - res.values("B_mid", kmax),
        "wm_ratio": res.values("B", "indep+wm") / np.maximum(b_ind, 1e-8),
        "rank_net": rank(ESTIMATORS[res.cfg.estimator], "net"),
        "rank_all": rank("B_hat"),
        "rank_dist2_all": rank("dist2"),
        "rank_endgap_all": rank("end_gap"),
        "bhat_indep": res.values("B_hat", "indep"),
        "bmid_indep": res.values("B_mid", "indep"),
    }


# Calibrated over 12 seed sets at scale small (results/calibration/lmc_landscape.md); means over the run's seeds.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("independent_barrier_exceeds_spawned", "indep_minus_spawn", ">=", 0.05,
              "B_mid(independent inits) - B_mid(children spawned at the last k), whole network, nats",
              "qualitative: independent solutions show barriers, late-spawned ones are LMC (Sec. 3); no number"),
    ClaimSpec("weight_matching_removes_barrier", "wm_ratio", "<=", 0.25,
              "B after weight matching / B before, independent pair",
              "qualitative (permutation alignment, after Ainsworth et al. 2023); no number"),
)
SWAPS: tuple[Swap, ...] = (
    Swap("same_init", {"independent": False}, ("independent_barrier_exceeds_spawned",), "mechanism",
         "the 'independent' network starts from the parent's initialisation (only its data order differs)"),
    Swap("random_permutation", {"matching": "random"}, ("weight_matching_removes_barrier",), "null",
         "a random permutation of the hidden units in weight matching's place: the same function, not aligned"),
)
