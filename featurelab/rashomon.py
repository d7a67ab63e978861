"""Rashomon sets of small models and the feature interaction scores read off them.

The Rashomon set of a model class at tolerance ``ε`` is every model whose loss is within a factor ``1 + ε`` of
the best one found, ``R(ε) = {f : L(f) ≤ (1 + ε)·L(f*)}`` (ε relative to ``L*``, as in the official code of
Li et al., ICLR 2024, arXiv:2305.10181). This module explores such a set for a trained network and reads a
permutation-based interaction score off each member:

* **model families** — a family is a function ``predict(x (N, d)) -> (K, N)``: ``K`` models evaluated on the same
  rows. :func:`mask_family` builds the family ``f_m(x) = f(m ⊙ x)`` of one network under ``K`` multiplicative input
  masks ``m`` (the paper's Sec. 3 exploration); a batched ensemble of retrained networks is a family too.
* **reliance and FIS** — :func:`reliance` is the loss increase when the columns of a feature group are shuffled,
  ``φ_S(f) = E_π L(f(x_{S←π})) − L(f)``, averaged over a *fixed* set of permutations (:func:`fixed_permutations`)
  shared by every model, so Monte-Carlo noise does not masquerade as variation across the set;
  :func:`fis` is ``FIS_ij = φ_{ij} − φ_i − φ_j``.
* **exploration** — :func:`greedy_mask_search` pushes one mask coordinate at a time up and down until the loss
  reaches each fraction of the budget ``ε·L*`` (the official ``_greedy_search``: step 0.1, shrunk ×0.1 up to 4
  times); :func:`pair_masks` combines two coordinates' boundary masks at complementary budget fractions;
  :func:`random_masks` is the random-sampling alternative; :func:`admissible` keeps members of ``R(ε)``.

Every exploration counts its loss evaluations, so two explorers can be compared at the same budget.
Used by ``notebooks/03_reading_features/05_rashomon_interaction_cloud.ipynb``
(:mod:`featurelab.papers.rashomon_interaction_cloud`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from .base import ParameterError

Family = Callable[[Tensor], Tensor]
LOSSES = ("mse", "bce")


def _pointwise(pred: Tensor, y: Tensor, loss: str) -> Tensor:
    """Per-row loss ``(K, N)`` of predictions ``(K, N)`` against targets ``(N,)``."""
    if loss == "mse":
        return (pred - y) ** 2
    if loss == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(pred, y.expand_as(pred).float(), reduction="none")
    raise ParameterError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


@torch.no_grad()
def family_losses(predict: Family, x: Tensor, y: Tensor, loss: str = "mse") -> Tensor:
    """Mean loss of every model of the family: ``x (N, d)``, ``y (N,)`` → ``(K,)``."""
    return _pointwise(predict(x), y, loss).mean(1)


def mask_family(f: Callable[[Tensor], Tensor], masks: Tensor) -> Family:
    """The family ``f_m(x) = f(m ⊙ x)`` for every row ``m`` of ``masks (K, d)``.

    ``f`` maps rows ``(R, d)`` to predictions ``(R,)`` (or ``(R, 1)``); the family maps ``(N, d)`` to ``(K, N)``
    with one batched call of ``f`` on ``K·N`` rows.
    """
    if masks.dim() != 2:
        raise ParameterError(f"masks must be (K, d), got shape {tuple(masks.shape)}")

    def predict(x: Tensor) -> Tensor:
        if x.shape[-1] != masks.shape[1]:
            raise ParameterError(f"x has {x.shape[-1]} features but the masks have {masks.shape[1]}")
        k, n = masks.shape[0], x.shape[0]
        if k == 0:
            return x.new_zeros(0, n)
        rows = (masks[:, None, :].to(x) * x[None]).reshape(k * n, -1)
        return f(rows).reshape(k, n)

    return predict


def fixed_permutations(n: int, k: int, seed: int = 0) -> Tensor:
    """``k`` permutations of ``range(n)`` as a ``(k, n)`` long tensor, drawn once from ``seed``."""
    if n < 2 or k < 1:
        raise ParameterError(f"need n >= 2 rows and k >= 1 permutations, got n={n}, k={k}")
    g = torch.Generator().manual_seed(int(seed))
    return torch.stack([torch.randperm(n, generator=g) for _ in range(k)])


@torch.no_grad()
def reliance(predict: Family, x: Tensor, y: Tensor, groups: Sequence[Sequence[int]], perms: Tensor,
             loss: str = "mse") -> Tensor:
    """Permutation model reliance ``φ_S = mean_π L(f(x_{S←π})) − L(f)`` of every group ``S``, for every model.

    Args:
        predict: a family ``(N, d) -> (K, N)``. x: ``(N, d)``; y: ``(N,)``.
        groups: feature index groups; the columns of a group are shuffled *jointly* (one permutation).
        perms: ``(P, N)`` fixed permutations (:func:`fixed_permutations`), the same for every model.

    Returns:
        ``(K, G)``: the reliance of each of the ``K`` models on each of the ``G`` groups.
    """
    if perms.dim() != 2 or perms.shape[1] != x.shape[0]:
        raise ParameterError(f"perms must be (P, N={x.shape[0]}), got {tuple(perms.shape)}")
    d = x.shape[1]
    for g in groups:
        if not len(g) or min(g) < 0 or max(g) >= d:
            raise ParameterError(f"group {tuple(g)} must hold feature indices in [0, {d})")
    base = _pointwise(predict(x), y, loss).mean(1)
    out = torch.empty(base.shape[0], len(groups))
    for gi, g in enumerate(groups):
        cols = list(g)
        total = torch.zeros_like(base)
        for p in perms:
            xs = x.clone()
            xs[:, cols] = x[p][:, cols]
            total += _pointwise(predict(xs), y, loss).mean(1)
        out[:, gi] = total / perms.shape[0] - base
    return out


def fis(predict: Family, x: Tensor, y: Tensor, pairs: Sequence[tuple[int, int]], perms: Tensor,
        loss: str = "mse") -> Tensor:
    """Feature interaction score ``FIS_ij = φ_{ij} − φ_i − φ_j`` (permutation reliance) → ``(K, len(pairs))``.

    Each single feature's reliance is computed once and shared by all pairs that contain it.
    """
    pairs = [tuple(int(v) for v in p) for p in pairs]
    if any(len(p) != 2 or p[0] == p[1] for p in pairs):
        raise ParameterError(f"pairs must be pairs of distinct features, got {pairs}")
    singles = sorted({i for p in pairs for i in p})
    where = {i: k for k, i in enumerate(singles)}
    phi = reliance(predict, x, y, [[i] for i in singles] + [list(p) for p in pairs], perms, loss)
    s = len(singles)
    return torch.stack([phi[:, s + k] - phi[:, where[i]] - phi[:, where[j]] for k, (i, j) in enumerate(pairs)], 1)


def admissible(losses: Tensor | np.ndarray, best: float, eps: float) -> np.ndarray:
    """Members of the Rashomon set: ``loss ≤ (1 + eps)·best`` (a boolean array)."""
    if eps < 0 or best <= 0:
        raise ParameterError(f"need eps >= 0 and a positive best loss, got eps={eps}, best={best}")
    return np.asarray(losses, dtype=float) <= (1.0 + eps) * best * (1 + 1e-9)


def random_masks(n: int, d: int, radius: float, seed: int = 0) -> Tensor:
    """``n`` masks drawn uniformly from ``[1 − radius, 1 + radius]^d`` → ``(n, d)``."""
    if n < 1 or d < 1 or not 0 < radius <= 1:
        raise ParameterError(f"need n, d >= 1 and radius in (0, 1], got n={n}, d={d}, radius={radius}")
    g = torch.Generator().manual_seed(int(seed))
    return 1.0 + radius * (2 * torch.rand(n, d, generator=g) - 1)


@dataclass
class GreedyResult:
    """What :func:`greedy_mask_search` found.

    Attributes:
        values: ``(d, 2, L)`` mask value of coordinate ``i``, pushed down (``[:, 0]``) or up (``[:, 1]``), at budget
            fractions ``fractions`` (``values[i, s, l]`` reaches a loss of at most ``L* + fractions[l]·ε·L*``).
        fractions: ``(L,)`` budget fractions, ``0.1, …, 1``.
        losses: ``(d, 2, L)`` the loss of each of those single-coordinate masks.
        n_evals: loss evaluations spent (one per mask evaluated).
    """

    values: np.ndarray
    fractions: np.ndarray
    losses: np.ndarray
    n_evals: int

    def masks(self) -> Tensor:
        """Every single-coordinate boundary mask as rows ``(2·d·L, d)`` (the others stay at 1)."""
        d = self.values.shape[0]
        rows = []
        for i in range(d):
            for v in self.values[i].ravel():
                m = np.ones(d)
                m[i] = v
                rows.append(m)
        return torch.tensor(np.array(rows), dtype=torch.float32)


@torch.no_grad()
def greedy_mask_search(loss_of_masks: Callable[[Tensor], Tensor], d: int, best: float, eps: float, *,
                       levels: int = 10, step: float = 0.1, shrink: float = 0.1, n_shrink: int = 4,
                       max_delta: float = 1.0, max_iter: int = 200) -> GreedyResult:
    """Push each mask coordinate down and up until the loss reaches each budget level (all walkers batched).

    Walker ``(i, s)`` starts at ``m_i = 1`` and, for level ``l = 1..levels`` in turn, steps ``m_i ± step`` while the
    loss stays within ``best·(1 + eps·l/levels)``; a step that would leave it is refused and the step shrunk by
    ``shrink`` (at most ``n_shrink`` times), then the walker records its value and moves on to the next level with
    the step reset. ``|m_i − 1| ≤ max_delta`` bounds features the model ignores. One call of ``loss_of_masks``
    evaluates every active walker's candidate, ``(B, d) -> (B,)``.
    """
    if d < 1 or levels < 1 or best <= 0 or eps <= 0 or not 0 < shrink < 1 or step <= 0 or max_delta <= 0:
        raise ParameterError("need d, levels >= 1, best > 0, eps > 0, step > 0, 0 < shrink < 1, max_delta > 0")
    n_w = 2 * d
    feat = np.repeat(np.arange(d), 2)
    sign = np.tile([-1.0, 1.0], d)
    m = np.ones(n_w)
    values = np.ones((d, 2, levels))
    losses = np.zeros((d, 2, levels))
    level = np.zeros(n_w, dtype=int)
    cur_step = np.full(n_w, step)
    shrinks = np.zeros(n_w, dtype=int)
    cur_loss = np.full(n_w, best)
    fractions = np.arange(1, levels + 1) / levels
    n_evals = 0
    for _ in range(max_iter * levels):
        active = np.flatnonzero(level < levels)
        if active.size == 0:
            break
        cand = np.clip(m[active] + sign[active] * cur_step[active], 1 - max_delta, 1 + max_delta)
        masks = torch.ones(active.size, d)
        masks[torch.arange(active.size), torch.as_tensor(feat[active])] = torch.as_tensor(cand, dtype=torch.float32)
        lc = loss_of_masks(masks).detach().cpu().double().numpy()
        n_evals += active.size
        bound = best * (1 + eps * fractions[level[active]])
        moved = np.abs(cand - m[active]) > 0
        ok = (lc <= bound) & moved
        for k, w in enumerate(active):
            if ok[k]:
                m[w], cur_loss[w] = cand[k], lc[k]
                continue
            if moved[k] and shrinks[w] < n_shrink:
                cur_step[w] *= shrink
                shrinks[w] += 1
                continue
            i, s = feat[w], int(sign[w] > 0)
            values[i, s, level[w]], losses[i, s, level[w]] = m[w], cur_loss[w]
            level[w] += 1
            cur_step[w], shrinks[w] = step, 0
    for w in np.flatnonzero(level < levels):  # max_iter reached: record where the walker stands
        values[feat[w], int(sign[w] > 0), level[w]:] = m[w]
        losses[feat[w], int(sign[w] > 0), level[w]:] = cur_loss[w]
    return GreedyResult(values, fractions, losses, n_evals)


def pair_masks(search: GreedyResult, i: int, j: int, splits: int = 9) -> Tensor:
    """Masks that move coordinates ``i`` and ``j`` together: ``m_i`` at budget fraction ``α`` and ``m_j`` at ``1 − α``.

    ``α`` runs over ``splits`` evenly spaced fractions strictly inside (0, 1) (nearest recorded level), in all four
    sign quadrants (down/up for each): ``4·splits`` rows ``(4·splits, d)`` (36 at the default, as in the official
    code). Their losses are *not* guaranteed to stay inside ``R(ε)``: filter them with :func:`admissible`.
    """
    d, _, levels = search.values.shape
    if not (0 <= i < d and 0 <= j < d and i != j) or splits < 1:
        raise ParameterError(f"need two distinct features in [0, {d}) and splits >= 1, got ({i}, {j}), {splits}")
    rows = []
    for a in np.arange(1, splits + 1) / (splits + 1):
        li = int(np.clip(round(a * levels) - 1, 0, levels - 1))
        lj = int(np.clip(round((1 - a) * levels) - 1, 0, levels - 1))
        for si in (0, 1):
            for sj in (0, 1):
                m = np.ones(d)
                m[i], m[j] = search.values[i, si, li], search.values[j, sj, lj]
                rows.append(m)
    return torch.tensor(np.array(rows), dtype=torch.float32)


def cloud_width(values: Tensor | np.ndarray, keep: np.ndarray | None = None) -> float:
    """``max − min`` of a score over the kept members (all when ``keep`` is None); 0 for a single member."""
    v = np.asarray(values, dtype=float)
    if keep is not None:
        v = v[np.asarray(keep, dtype=bool)]
    if v.size == 0:
        raise ParameterError("no member kept: the cloud is empty")
    return float(v.max() - v.min())


__all__ = ["GreedyResult", "admissible", "cloud_width", "family_losses", "fis", "fixed_permutations",
           "greedy_mask_search", "mask_family", "pair_masks", "random_masks", "reliance"]
