"""Exploring the cloud of feature interaction scores in a Rashomon set (FISC).

Li, Wang, Deng & Barnard, ICLR 2024, arXiv:2305.10181; official code github.com/Sichao-Li/generalized_rashomon_set.
Used by the notebook ``notebooks/03_reading_features/05_rashomon_interaction_cloud.ipynb``. The reusable pieces
(permutation reliance, FIS, mask families, the greedy boundary search, random masks) are in
:mod:`featurelab.rashomon`.

The paper (Sec. 2–3) works in the **Rashomon set** ``R(ε) = {f : L(f) ≤ L(f*) + ε}`` (the official experiments
set ``ε`` relative to ``L*``: ``L ≤ (1 + ε)·L*``). The reliance of a model on a feature set ``S`` is the loss
increase when ``x_S`` is shuffled, ``φ_S(f) = E L(f(x_{S←x̃_S})) − L(f)``, and the **feature interaction score**
is ``FIS_ij(f) = φ_{ij}(f) − φ_i(f) − φ_j(f)`` (Sec. 3.1; permutation-based in the official code). The **FIS
cloud** (FISC) is the set of ``FIS_ij`` over ``R(ε)``. For a trained network the paper explores ``R(ε)`` with
multiplicative input masks ``f_m(x) = f(m ⊙ x)`` and a **greedy search** that pushes one mask coordinate at a
time to the loss boundary, then combines two coordinates at complementary budget fractions (Sec. 3.2), and
claims it explores a wider FISC than random sampling (Sec. 5).

This module runs two experiments (the first on every seed of a run, the second on the first seed):

1. **Redundancy (synthetic, known ground truth).** ``x ∈ R⁶`` standard normal; a latent ``z`` drives the label
   ``y = x0 + z + 2·x0·z + x2 + 0.5·sin(3·x3) + ε`` (``σ_ε = 0.5``) and is observed only through two noisy
   measurements, ``x1 = √ρ z + √(1−ρ) e1`` and ``x5 = √ρ z' + √(1−ρ) e5``; with ``z' = z`` (the default)
   ``x5`` is a redundant copy of ``x1`` (corr ``ρ``), ``x4`` is null. A Rashomon set by retraining: ``n_members``
   MLPs differing only in their seed (one batched :class:`featurelab.ensemble.EnsembleMLP`), keeping those with
   held-out ``L ≤ (1 + ε)·L*``. Measured: the relative spread of ``FIS_01`` over the set, ``(max − min)/|mean|``.
   The ``independent_copy`` swap draws ``z'`` independently of ``z`` (x5 stays a measurement of the same
   quality, of an unrelated latent), with the same seeds and training: the redundancy is gone.
2. **Greedy versus random masks (real data: scikit-learn's diabetes, 442 × 10).** One MLP ``10 → 16 → 1`` is
   trained on the standardized data; the pair with the largest ``|FIS|`` at ``f*`` is followed. The official
   greedy search (:func:`featurelab.rashomon.greedy_mask_search` + :func:`featurelab.rashomon.pair_masks`)
   against random masks at the same number of loss evaluations, both at the card's radius (0.3) and tuned over
   a radius grid (the budget split evenly over the grid). Reported, not asserted: at this scale a tuned random
   sampler spans as wide a cloud as the greedy search (see the design note).

Simplifications for scale: a 6-feature generator and a 442-row real dataset instead of COMPAS, crime and images;
5 fixed permutations per effect (the official code draws 30/100 fresh ones per call — fixed ones remove
Monte-Carlo noise from the cloud); the loss is the training loss for the mask search (as in the paper) and a
held-out loss for the retrained set; the retrained Rashomon set has 12 members at small scale.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import rashomon as rs
from ..base import ParameterError
from ..base import progress as _progress
from ..claims import ClaimSpec
from ..ensemble import EnsembleMLP, member_losses
from ..experiment import Knobs, Swap, knob
from ..models import mlp
from ..train import fit

#: Pairs whose FIS the redundancy experiment reads: the interaction, its copy, the null pair and the copies.
RED_PAIRS = ((0, 1), (0, 5), (0, 4), (1, 5))


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run (one seed set); the notebook's knobs are the upper-case names.

    Attributes:
        n_seeds: seed sets averaged by one run (each: new synthetic draw, new members).
        n_mask_seeds: the first ``n_mask_seeds`` of them also run the diabetes mask search (a new network each).
        eps: Rashomon tolerance, relative: members keep ``L ≤ (1 + eps)·L*``.
        n_train, n_val: synthetic training / held-out rows (the held-out rows give ``L`` and FIS).
        copy_corr: correlation ``ρ`` of the two measurements x1, x5 (each has corr ``√ρ`` with the latent z).
        copy_shared: 1 — x5 measures the same latent as x1 (a redundant copy); 0 — an independent latent (swap).
        n_members: seed-retrained MLPs of the redundancy experiment. hidden: their width (two hidden layers).
        steps, lr: full-batch Adam steps and learning rate of the members (the course's ``fit`` loop).
        n_perms: fixed permutations per reliance effect (shared by every model).
        mask_steps: full-batch Adam steps of the mask-search network on the diabetes data.
        radius_grid: radii of the random-mask sampler tuned over a grid (budget split evenly).
    """

    n_seeds: int = knob(2, lo=1, doc="seed sets averaged by one run")
    n_mask_seeds: int = knob(1, lo=1, doc="of those, how many also run the diabetes mask search")
    eps: float = knob(0.1, lo=0.0, lo_open=True, hi=1.0, doc="Rashomon tolerance (fraction of L*)")
    n_train: int = knob(2000, lo=50, doc="synthetic training rows")
    n_val: int = knob(1000, lo=50, doc="synthetic held-out rows (loss and FIS)")
    copy_corr: float = knob(0.95, lo=0.0, hi=0.999, doc="correlation of x1 and its copy x5")
    copy_shared: int = knob(1, choices=(0, 1), doc="1: x5 measures x1's latent; 0: an independent one")
    n_members: int = knob(12, lo=2, doc="seed-retrained MLPs of the Rashomon set")
    hidden: int = knob(32, lo=1, doc="hidden width of each member (two hidden layers)")
    steps: int = knob(300, lo=1, doc="full-batch Adam steps per member")
    lr: float = knob(1e-2, lo=0.0, lo_open=True)
    n_perms: int = knob(5, lo=1, doc="fixed permutations per reliance effect")
    mask_steps: int = knob(300, lo=1, doc="Adam steps of the mask-search network (diabetes)")
    radius_grid: tuple[float, ...] = knob((0.05, 0.1, 0.2, 0.4, 0.8), lo=0.0, lo_open=True, hi=1.0,
                                          doc="radii of the tuned random-mask sampler")

    def validate(self) -> None:
        if self.n_mask_seeds > self.n_seeds:
            raise ParameterError(f"N_MASK_SEEDS={self.n_mask_seeds} must be at most N_SEEDS={self.n_seeds}")
        if not self.radius_grid or list(self.radius_grid) != sorted(set(self.radius_grid)):
            raise ParameterError(f"RADIUS_GRID={self.radius_grid!r} must be a non-empty increasing tuple in (0, 1]")


PRESETS = {
    "small": Config(),
    "full": Config(n_seeds=4, n_mask_seeds=4, n_train=8000, n_val=4000, n_members=48, hidden=64, steps=600,
                   n_perms=20, mask_steps=600),
}
SMOKE = {"n_seeds": 1, "n_mask_seeds": 1, "n_train": 200, "n_val": 100, "n_members": 3, "hidden": 8, "steps": 3,
         "n_perms": 1, "mask_steps": 3}

#: The card's random sampler: masks uniform in [0.7, 1.3]^d.
CARD_RADIUS = 0.3


def make_redundant_data(n: int, rho: float, shared: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x (n, 6), y (n,))``: ``y = x0 + z + 2·x0·z + x2 + 0.5·sin(3·x3) + 0.5·noise``, with the latent ``z``
    seen through ``x1 = √ρ z + √(1−ρ) e1`` and ``x5 = √ρ z' + √(1−ρ) e5`` (``z' = z`` when ``shared``, else an
    independent normal). ``x4`` is null."""
    if not 0 <= rho < 1:
        raise ParameterError(f"rho must be in [0, 1), got {rho}")
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    z, z_other, e1 = g.normal(size=n), g.normal(size=n), g.normal(size=n)
    a, b = np.sqrt(rho), np.sqrt(1 - rho)
    x[:, 1] = a * z + b * e1
    x[:, 5] = a * (z if shared else z_other) + b * x[:, 5]
    y = x[:, 0] + z + 2 * x[:, 0] * z + x[:, 2] + 0.5 * np.sin(3 * x[:, 3]) + 0.5 * g.normal(size=n)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def load_diabetes_std() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """scikit-learn's bundled diabetes data (442 × 10), every column and the target standardized."""
    from sklearn.datasets import load_diabetes

    ds = load_diabetes()
    x = (ds.data - ds.data.mean(0)) / ds.data.std(0)
    y = (ds.target - ds.target.mean()) / ds.target.std()
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), list(ds.feature_names)


@dataclass
class Redundancy:
    """The retrained Rashomon set of one data draw.

    Attributes:
        losses: ``(M,)`` held-out MSE of every member; keep: ``(M,)`` members inside ``R(ε)``.
        fis: ``(M, 4)`` FIS of :data:`RED_PAIRS` per member; group: ``(M,)`` ``φ_{0,1,5} − φ_0 − φ_{1,5}``
            (the interaction of x0 with the pair {x1, x5}); phi: ``(M, 3)`` reliance on x0, x1, x5.
    """

    losses: np.ndarray
    keep: np.ndarray
    fis: np.ndarray
    group: np.ndarray
    phi: np.ndarray

    def spread(self, col: int = 0) -> float:
        """``(max − min) / |mean|`` of FIS column ``col`` over the kept members."""
        v = self.fis[self.keep, col]
        return float(np.ptp(v) / abs(v.mean()))

    @property
    def group_spread(self) -> float:
        v = self.group[self.keep]
        return float(np.ptp(v) / abs(v.mean()))


def redundancy_experiment(cfg: Config, seed: int, shared: bool, device: torch.device | str = "cpu") -> Redundancy:
    """Train ``cfg.n_members`` MLPs (member ``k`` from seed ``1000·seed + k``) on one synthetic draw, keep those in
    ``R(ε)`` by held-out loss, and read FIS and reliance off each."""
    x, y = make_redundant_data(cfg.n_train, cfg.copy_corr, shared, seed)
    xv, yv = make_redundant_data(cfg.n_val, cfg.copy_corr, shared, seed + 50_000)
    x, y, xv, yv = x.to(device), y.to(device), xv.to(device), yv.to(device)
    members = [1000 * seed + k for k in range(cfg.n_members)]
    net = EnsembleMLP(members, [6, cfg.hidden, cfg.hidden, 1]).to(device)
    torch.manual_seed(seed)
    fit(net, x, y, steps=cfg.steps, batch_size=x.shape[0], lr=cfg.lr, progress_bar=False,
        loss_fn=lambda out, t: member_losses(out, t, "mse").sum(), desc="members")

    def family(r: torch.Tensor) -> torch.Tensor:
        return net(r).squeeze(-1)

    losses = rs.family_losses(family, xv, yv).cpu().numpy()
    keep = rs.admissible(losses, float(losses.min()), cfg.eps)
    perms = rs.fixed_permutations(xv.shape[0], cfg.n_perms, seed).to(device)
    fis = rs.fis(family, xv, yv, RED_PAIRS, perms).numpy()
    phi = rs.reliance(family, xv, yv, [[0], [1], [5], [1, 5], [0, 1, 5]], perms).numpy()
    group = phi[:, 4] - phi[:, 0] - phi[:, 3]
    return Redundancy(losses, keep, fis, group, phi[:, :3])


@dataclass
class MaskSearch:
    """Greedy versus random masks on one trained network (diabetes).

    Attributes:
        names: feature names; pair: the followed pair (largest ``|FIS|`` at ``f*``); best: ``L*``.
        fis_star: ``(P,)`` FIS of all pairs at ``f*``; pairs: those pairs.
        greedy: the :class:`featurelab.rashomon.GreedyResult`; budget: its loss evaluations + the pair masks.
        combo_outside: fraction of the 36 pair masks that leave ``R(ε)`` (the official code does not filter them).
        greedy_masks, greedy_fis: admissible greedy masks ``(G, d)`` and the pair's FIS on them ``(G,)``.
        random_fis: ``{radius: FIS of the pair on the admissible random masks}`` (each radius its own draw);
        random_kept: ``{radius: (kept, drawn)}``.
        card_fis: FIS on admissible masks of radius 0.3 drawn with the *whole* budget (the card's sampler).
        swarm: ``(S, P)`` FIS of all pairs on up to 40 admissible greedy masks (for the swarm plot).
    """

    names: list[str]
    pair: tuple[int, int]
    best: float
    pairs: list[tuple[int, int]]
    fis_star: np.ndarray
    greedy: rs.GreedyResult
    budget: int
    combo_outside: float
    greedy_masks: np.ndarray
    greedy_fis: np.ndarray
    random_fis: dict[float, np.ndarray]
    random_kept: dict[float, tuple[int, int]]
    card_fis: np.ndarray
    swarm: np.ndarray

    def width(self, values: np.ndarray) -> float:
        """``max − min`` of the pair's FIS over ``values`` together with ``f*`` itself (m = 1)."""
        return float(np.ptp(np.r_[values, self.fis_star[self.pairs.index(self.pair)]]))

    @property
    def width_greedy(self) -> float:
        return self.width(self.greedy_fis)

    @property
    def width_random_tuned(self) -> float:
        return self.width(np.concatenate(list(self.random_fis.values())))

    @property
    def width_random_card(self) -> float:
        return self.width(self.card_fis)


def mask_search_experiment(cfg: Config, seed: int, device: torch.device | str = "cpu") -> MaskSearch:
    """Train one MLP on diabetes (init ``seed``), then explore ``R(ε)`` with greedy and random masks at one budget."""
    x, y, names = load_diabetes_std()
    x, y = x.to(device), y.to(device)
    d = x.shape[1]
    torch.manual_seed(seed)
    net = mlp([d, 16, 1]).to(device)
    fit(net, x, y.view(-1, 1), steps=cfg.mask_steps, batch_size=x.shape[0], lr=1e-2, weight_decay=1e-2,
        loss_fn=nn.functional.mse_loss, progress_bar=False, desc="mask net")
    net.eval()

    def f(r: torch.Tensor) -> torch.Tensor:
        return net(r).squeeze(-1)

    def loss_of(masks: torch.Tensor) -> torch.Tensor:
        return rs.family_losses(rs.mask_family(f, masks.to(device)), x, y)

    ones = torch.ones(1, d)
    best = float(loss_of(ones)[0])
    perms = rs.fixed_permutations(x.shape[0], cfg.n_perms, seed).to(device)
    pairs = list(itertools.combinations(range(d), 2))
    fis_star = rs.fis(rs.mask_family(f, ones.to(device)), x, y, pairs, perms)[0].numpy()
    pair = pairs[int(np.argmax(np.abs(fis_star)))]

    greedy = rs.greedy_mask_search(loss_of, d, best, cfg.eps)
    combos = rs.pair_masks(greedy, *pair)
    combo_loss = loss_of(combos).numpy()
    combo_outside = float(1 - rs.admissible(combo_loss, best, cfg.eps).mean())
    gm = torch.cat([greedy.masks(), combos])
    budget = greedy.n_evals + combos.shape[0]
    gkeep = rs.admissible(loss_of(gm).numpy(), best, cfg.eps)
    gm = gm[torch.as_tensor(gkeep)]

    def pair_fis(masks: torch.Tensor) -> np.ndarray:
        return rs.fis(rs.mask_family(f, masks.to(device)), x, y, [pair], perms)[:, 0].numpy()

    random_fis, random_kept = {}, {}
    per = budget // len(cfg.radius_grid)
    for k, r in enumerate(cfg.radius_grid):
        rm = rs.random_masks(per, d, r, seed=10 * seed + k + 1)
        keep = rs.admissible(loss_of(rm).numpy(), best, cfg.eps)
        random_fis[r] = pair_fis(rm[torch.as_tensor(keep)])
        random_kept[r] = (int(keep.sum()), per)
    cm = rs.random_masks(budget, d, CARD_RADIUS, seed=10 * seed)
    ckeep = rs.admissible(loss_of(cm).numpy(), best, cfg.eps)
    card_fis = pair_fis(cm[torch.as_tensor(ckeep)])
    pick = np.linspace(0, gm.shape[0] - 1, min(40, gm.shape[0])).round().astype(int)
    swarm = rs.fis(rs.mask_family(f, gm[pick].to(device)), x, y, pairs, perms).numpy()
    return MaskSearch(names, pair, best, pairs, fis_star, greedy, budget, combo_outside, gm.numpy(),
                      pair_fis(gm), random_fis, random_kept, card_fis, swarm)


@dataclass
class Result:
    """Everything the notebook plots and checks: per seed set, the redundancy experiment with the configured copy
    (``red``), with an independent copy for contrast (``red_indep``; equal to ``red`` when the copy is already
    independent), and the diabetes mask search (``masks``)."""

    cfg: Config
    red: list[Redundancy]
    red_indep: list[Redundancy]
    masks: list[MaskSearch]
    seconds: float


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """The redundancy experiment (configured copy and, for contrast, an independent one) for every seed of ``seeds``
    (``cfg.n_seeds`` of them); the diabetes mask search for the first ``cfg.n_mask_seeds``."""
    seeds = list(seeds)
    if len(seeds) != cfg.n_seeds:
        raise ParameterError(f"need {cfg.n_seeds} seeds (N_SEEDS), got {len(seeds)}")
    t0 = time.perf_counter()
    red, red_indep, masks = [], [], []
    for k, s in enumerate(_progress(seeds, desc="seed sets", enabled=progress)):
        red.append(redundancy_experiment(cfg, s, bool(cfg.copy_shared), device))
        red_indep.append(redundancy_experiment(cfg, s, False, device) if cfg.copy_shared else red[-1])
        if k < cfg.n_mask_seeds:
            masks.append(mask_search_experiment(cfg, s, device))
    return Result(cfg, red, red_indep, masks, time.perf_counter() - t0)


def claim_values(res: Result) -> dict[str, list[float]]:
    """The asserted value (spread of FIS_01 over the retrained set) and, reported only, its contrast and the mask
    search's widths."""
    return {
        "fis01_spread": [r.spread(0) for r in res.red],
        "fis01_spread_independent": [r.spread(0) for r in res.red_indep],
        "group_spread": [r.group_spread for r in res.red],
        "greedy_over_tuned_random": [m.width_greedy / m.width_random_tuned for m in res.masks],
        "greedy_over_card_random": [m.width_greedy / m.width_random_card for m in res.masks],
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("redundant_copy_spreads_fis", "fis01_spread", ">=", 0.05,
              "with a redundant copy x5 of x1, equally good retrained MLPs (L ≤ 1.1·L*) disagree about FIS(0,1): "
              "(max − min)/|mean| over the Rashomon set",
              "qualitative: interaction importance varies dramatically across similarly accurate models "
              "(Sec. 5, COMPAS and images); no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("independent_copy", {"copy_shared": 0}, ("redundant_copy_spreads_fis",), "mechanism",
         "x5 measures an unrelated latent (same noise level, same seeds and training): no redundant feature, so "
         "the Rashomon set has nothing to trade x1 against"),
)
