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
  at ``theta_A``), the barrier ``B``, the signed midpoint excess ``B_mid``, the estimate ``B_hat`` and, as a
  control predictor, the squared distance ``||Delta||^2``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

from featurelab import landscape as ls
from featurelab.claims import ClaimSpec
from featurelab.data import Split, load_fashion_mnist
from featurelab.models import mlp
from featurelab.run import ParameterError
from featurelab.train import fit, progress


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One scale of the experiment (``PRESETS`` holds the notebook's two).

    Attributes:
        n_train, n_test: Fashion-MNIST images (class-balanced subsets; the test split measures every loss).
        size: image side after area downsampling (14 → 196 inputs).
        hidden: hidden widths of the MLP ``size² → hidden… → 10``.
        lr, batch_size: plain SGD (no momentum, so a child inherits no optimiser state).
        spawn_steps: parent steps ``k`` at which two children are forked (must include 0).
        child_steps: SGD steps of every child (and of each independent network).
        n_points: evenly spaced points on each path (odd, so ``t = 1/2`` is one of them).
        wm_sweeps: coordinate-ascent sweeps of weight matching.
        independent: ``True`` = the independent arm uses two different initialisations; ``False`` is the
            swap for calibration (the arm becomes a second spawn at ``k = 0``: same init).
        matching: ``True`` = weight matching aligns the independent pair; ``False`` is the swap (identity).
        n_seeds: seeds per run (``run.seeds(cfg.n_seeds)``).
    """

    n_train: int = 6000
    n_test: int = 1000
    size: int = 14
    hidden: tuple[int, ...] = (128, 128)
    lr: float = 0.05
    batch_size: int = 64
    spawn_steps: tuple[int, ...] = (0, 100, 400)
    child_steps: int = 500
    n_points: int = 11
    wm_sweeps: int = 5
    independent: bool = True
    matching: bool = True
    n_seeds: int = 2

    def __post_init__(self) -> None:
        if self.n_train < 100 or self.n_test < 100:
            raise ParameterError(f"n_train={self.n_train}, n_test={self.n_test}: use at least 100 images each")
        if not 4 <= self.size <= 28:
            raise ParameterError(f"size={self.size} must lie in 4..28 (Fashion-MNIST is 28×28)")
        if isinstance(self.hidden, int) or len(self.hidden) < 1 or any(int(h) < 1 for h in self.hidden):
            raise ParameterError(f"hidden={self.hidden!r} must be a tuple of positive widths, e.g. (128, 128)")
        if not self.lr > 0 or self.batch_size < 1:
            raise ParameterError(f"need lr > 0 and batch_size ≥ 1, got lr={self.lr}, batch_size={self.batch_size}")
        if isinstance(self.spawn_steps, int) or 0 not in self.spawn_steps or any(k < 0 for k in self.spawn_steps) \
                or list(self.spawn_steps) != sorted(set(self.spawn_steps)):
            raise ParameterError(f"spawn_steps={self.spawn_steps!r} must be increasing, distinct, ≥ 0 and include 0")
        if self.child_steps < 1:
            raise ParameterError(f"child_steps={self.child_steps} must be positive")
        if self.n_points < 3 or self.n_points % 2 == 0:
            raise ParameterError(f"n_points={self.n_points} must be odd and ≥ 3 (t = 1/2 must be on the grid)")
        if self.wm_sweeps < 1:
            raise ParameterError(f"wm_sweeps={self.wm_sweeps} must be ≥ 1")
        if self.n_seeds < 1:
            raise ParameterError(f"n_seeds={self.n_seeds} must be ≥ 1")

    @property
    def ts(self) -> np.ndarray:
        """The path grid ``(n_points,)`` from 0 to 1."""
        return np.linspace(0.0, 1.0, self.n_points)


PRESETS = {
    "small": Config(),
    "full": Config(n_train=60000, n_test=10000, size=28, hidden=(512, 512), spawn_steps=(0, 100, 400, 1600, 3000),
                   child_steps=4000, n_points=21, n_seeds=5),
}


# --------------------------------------------------------------------------------------------------------
# Data and model
# --------------------------------------------------------------------------------------------------------
def load_data(cfg: Config) -> Split:
    """Fashion-MNIST subsets, ``x`` ``(N, 1, size, size)``; one fixed subset (seed 0) for every run seed, so that
    seeds differ only in initialisation and SGD noise."""
    return load_fashion_mnist(n_train=cfg.n_train, n_test=cfg.n_test, size=cfg.size, seed=0)


def make_model(cfg: Config, init_seed: int) -> nn.Module:
    """The MLP ``size² → hidden… → 10`` (PyTorch default init, seeded by ``init_seed``)."""
    torch.manual_seed(init_seed)
    return mlp([cfg.size * cfg.size, *cfg.hidden, 10])


def sgd_train(model: nn.Module, data: Split, steps: int, cfg: Config, order_seed: int) -> nn.Module:
    """``steps`` plain-SGD steps (lr ``cfg.lr``, batch ``cfg.batch_size``) with data order seeded by ``order_seed``."""
    if steps > 0:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        fit(model, data.x_train, data.y_train, steps=steps, batch_size=cfg.batch_size, optimizer=opt,
            seed=order_seed, progress_bar=False)
    return model


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
    restricted to the interpolated coordinates), "dist2": ||Delta||^2}``.
    """
    end = path_scope(theta_a, theta_b, part)
    losses = ls.loss_along_path(model, theta_a, end, x, y, ts)
    _, g_a = ls.loss_and_grad(model, theta_a, x, y)
    _, g_b = ls.loss_and_grad(model, end, x, y)
    delta = end - theta_a          # zero outside ``part``, so only that layer's gradient enters
    return {"losses": losses, "B": ls.barrier(losses, ts), "B_mid": ls.midpoint_excess(losses, ts),
            "B_hat": hermite_estimate(g_a, g_b, delta), "dist2": float(delta @ delta)}


# --------------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """Rows of one run: one per (seed, pair, scope).

    ``pair`` is ``"k=<steps>"`` for spawned children, ``"indep"`` and ``"indep+wm"``; ``scope`` is ``"net"`` or
    a layer name (``"features.1"``, ...). Each row has ``B``, ``B_mid``, ``B_hat``, ``dist2``, ``losses`` (T,),
    ``acc_a``, ``acc_b`` (test accuracies of the endpoints).
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


def run(cfg: Config, seeds: Sequence[int], device: torch.device | str = "cpu", data: Split | None = None,
        progress_bar: bool | None = None) -> Result:
    """Spawned pairs at every ``k``, the independent pair and its weight-matched version, for each seed.

    Seeds: the parent's init is ``seed``; child ``j`` of the spawn at ``k`` uses data order
    ``1000·seed + 10·k_index + j``; the independent network B has init ``seed + 10_000`` and child B's data order
    of the ``k = 0`` spawn, and the independent network A *is* child A of the ``k = 0`` spawn.
    """
    start = time.perf_counter()
    data = (data or load_data(cfg)).to(device)
    xt, yt = data.x_test, data.y_test
    ts = cfg.ts
    res = Result(cfg, list(seeds))
    bar = progress(total=len(res.seeds) * (len(cfg.spawn_steps) + 1), desc="spawn + train", enabled=progress_bar)
    for seed in res.seeds:
        parent = make_model(cfg, seed).to(device)
        template = parent
        res.layers = list(ls.layer_slices(template))
        thetas: dict[str, tuple[Tensor, Tensor]] = {}
        done = 0
        for ki, k in enumerate(cfg.spawn_steps):
            sgd_train(parent, data, k - done, cfg, order_seed=1000 * seed + 999 - ki)
            done = k
            snap = ls.flatten(parent)
            kids = []
            for j in range(2):
                child = make_model(cfg, seed).to(device)
                ls.load_flat(child, snap)
                sgd_train(child, data, cfg.child_steps, cfg, order_seed=1000 * seed + 10 * ki + j)
                kids.append(ls.flatten(child))
            thetas[f"k={k}"] = (kids[0], kids[1])
            bar.update(1)
        # independent arm: child A of the k=0 spawn vs a network from another init with child B's data order
        init_b = seed + 10_000 if cfg.independent else seed
        other = sgd_train(make_model(cfg, init_b).to(device), data, cfg.child_steps, cfg, order_seed=1000 * seed + 1)
        theta_a, theta_b = thetas["k=0"][0], ls.flatten(other)
        thetas["indep"] = (theta_a, theta_b)
        if cfg.matching:
            theta_wm, _ = ls.weight_matching(template, theta_a, theta_b, sweeps=cfg.wm_sweeps, seed=seed)
        else:
            theta_wm = theta_b
        thetas["indep+wm"] = (theta_a, theta_wm)
        bar.update(1)
        slices = ls.layer_slices(template)
        for pair, (ta, tb) in thetas.items():
            acc_a = _acc(template, ta, xt, yt)
            acc_b = _acc(template, tb, xt, yt)
            for scope, part in [("net", None), *slices.items()]:
                row = measure_pair(template, ta, tb, xt, yt, ts, part)
                row.update(seed=seed, pair=pair, scope=scope, acc_a=acc_a, acc_b=acc_b)
                res.rows.append(row)
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
def rank_agreement(res: Result, seed: int, predictor: str = "B_hat") -> float:
    """Spearman correlation, over every (pair, scope) case of one seed, between ``predictor`` (``"B_hat"`` or the
    control ``"dist2"``) and the measured signed midpoint excess ``B_mid``."""
    rows = [r for r in res.rows if r["seed"] == seed]
    rho = spearmanr([r[predictor] for r in rows], [r["B_mid"] for r in rows]).statistic
    return float(rho)


def claim_values(res: Result) -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)``.

    * ``indep_minus_spawn``: ``B(indep) - B(k = max spawn step)`` — independent inits are separated by a
      barrier, late spawns are not (Sec. 3, the mountainside/ridge picture). Its swap ``spawn0_minus_spawn``
      puts the ``k = 0`` spawn (same init) in the independent arm's place.
    * ``wm_ratio``: ``B(indep+wm) / B(indep)`` — permuting units removes most of the barrier.
    * ``rank_bhat``: Spearman(``B_hat``, ``B_mid``) over all pairs and scopes (Sec. 4's estimate, whole net and
      layer-wise); ``rank_dist2`` is the same for the control predictor ``||Delta||^2`` (reported).
    """
    kmax = f"k={res.cfg.spawn_steps[-1]}"
    b_ind = res.values("B", "indep")
    return {
        "indep_minus_spawn": b_ind - res.values("B", kmax),
        "spawn0_minus_spawn": res.values("B", "k=0") - res.values("B", kmax),
        "wm_ratio": res.values("B", "indep+wm") / np.maximum(b_ind, 1e-8),
        "rank_bhat": np.array([rank_agreement(res, s, "B_hat") for s in res.seeds]),
        "rank_dist2": np.array([rank_agreement(res, s, "dist2") for s in res.seeds]),
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("independent_barrier_exceeds_spawned", "indep_minus_spawn", ">=", 0.05,
              "B(independent inits) - B(children spawned at the last k) in nats",
              "qualitative: independent solutions show barriers, late-spawned ones are LMC (Sec. 3); no number",
              swap="spawn0_minus_spawn"),
    ClaimSpec("weight_matching_removes_barrier", "wm_ratio", "<=", 0.25,
              "B after weight matching / B before, independent pair",
              "qualitative (permutation alignment, Sec. 1 refs [Ainsworth et al.]); no number"),
    ClaimSpec("estimate_ranks_midpoint_excess", "rank_bhat", ">=", 0.8,
              "Spearman(B_hat, B_mid) over pairs × scopes (net + each layer), per seed",
              "qualitative: the estimate tracks barriers, also layer-wise (Sec. 4); no number", swap="rank_dist2"),
)
