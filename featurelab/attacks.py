"""Adversarial attacks on classifiers: FGSM and PGD (L-infinity).

- :func:`fgsm` — Goodfellow, Shlens & Szegedy, *Explaining and harnessing adversarial examples*, ICLR 2015,
  Sec. 4: ``x_adv = x + eps * sign(grad_x L(f(x), y))``.
- :func:`pgd` — Madry et al., *Towards deep learning models resistant to adversarial attacks*, ICLR 2018,
  Eq. (2): repeated signed-gradient steps of size ``alpha``, projected back onto the ``eps`` L-infinity ball.

Both clip to the valid pixel range ``[lo, hi]`` and leave the model's train/eval mode and gradients unchanged.
Inputs are ``(N, ...)`` tensors on the model's device, labels ``(N,)`` class indices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.run import ParameterError


def _input_grad(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> Tensor:
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float,
         lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """One signed-gradient step of size ``eps`` (Goodfellow et al. 2015). Returns ``(N, ...)`` adversarial inputs."""
    if eps < 0:
        raise ParameterError(f"eps={eps} must be >= 0")
    if eps == 0:
        return x.detach().clone()
    return (x.detach() + eps * _input_grad(model, x, y).sign()).clamp(lo, hi)


def pgd(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float, steps: int = 10,
        alpha: float | None = None, random_start: bool = True, lo: float = 0.0, hi: float = 1.0,
        generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient descent in the L-infinity ball of radius ``eps`` (Madry et al. 2018).

    Args:
        steps: number of signed-gradient steps. alpha: step size (default ``2.5 * eps / steps``).
        random_start: start from a uniform point of the ball (Madry et al.) instead of ``x``.
        generator: seeds the random start.
    """
    if eps < 0:
        raise ParameterError(f"eps={eps} must be >= 0")
    if steps < 1:
        raise ParameterError(f"steps={steps} must be >= 1")
    x0 = x.detach()
    if eps == 0:
        return x0.clone()
    alpha = 2.5 * eps / steps if alpha is None else alpha
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, device="cpu").to(x0.device, x0.dtype)
        xa = (x0 + (2 * noise - 1) * eps).clamp(lo, hi)
    else:
        xa = x0.clone()
    for _ in range(steps):
        xa = xa + alpha * _input_grad(model, xa, y).sign()
        xa = torch.minimum(torch.maximum(xa, x0 - eps), x0 + eps).clamp(lo, hi)
    return xa.detach()


@torch.no_grad()
def _acc(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def robust_accuracy(model: nn.Module | Callable[[Tensor], Tensor], x: Tensor, y: Tensor, eps: float,
                    attack: str = "fgsm", **kwargs: object) -> float:
    """Accuracy on ``attack``-perturbed inputs (``"fgsm"`` or ``"pgd"``); ``eps = 0`` gives clean accuracy."""
    if attack not in ("fgsm", "pgd"):
        raise ParameterError(f"attack={attack!r} is unknown; use 'fgsm' or 'pgd'")
    xa = fgsm(model, x, y, eps) if attack == "fgsm" else pgd(model, x, y, eps, **kwargs)  # type: ignore[arg-type]
    return _acc(model, xa, y)


# ----------------------------------------------------------------------------------------------------------
# Ordered top-K attacks: constraints, a batched QP projection and the success metric
# (used by ``notebooks/08_efficient_robust/05_quadattack.ipynb``)
# ----------------------------------------------------------------------------------------------------------
def _check_targets(targets: Tensor, n_classes: int) -> None:
    if targets.dim() != 2 or targets.shape[1] < 1:
        raise ParameterError(f"targets must be a (B, K) tensor of class indices with K >= 1, got shape "
                             f"{tuple(targets.shape)}")
    if targets.shape[1] >= n_classes + 1 or targets.min() < 0 or targets.max() >= n_classes:
        raise ParameterError(f"targets must hold K <= {n_classes} class indices in [0, {n_classes - 1}]")
    s = targets.sort(1).values
    if (s[:, 1:] == s[:, :-1]).any():
        raise ParameterError("every row of targets must list K distinct classes (an ordered top-K target)")


def ordered_topk_difference(targets: Tensor, n_classes: int) -> Tensor:
    """The difference matrices ``D`` of ordered top-K targets: ``(B, C − 1, C)`` with entries in {−1, 0, 1}.

    For a target ``(t_1, …, t_K)`` the rows of ``D z ≥ m`` say: ``z_{t_i} − z_{t_{i+1}} ≥ m`` for ``i < K`` (the
    order inside the top K; ``K − 1`` rows) and ``z_{t_K} − z_j ≥ m`` for every non-target class ``j`` (``C − K``
    rows), so every K gives ``C − 1`` rows and targets of different K batch together.

    Args:
        targets: ``(B, K)`` distinct class indices per row, best first.
        n_classes: ``C``.
    """
    _check_targets(targets, n_classes)
    B, K = targets.shape
    D = torch.zeros(B, n_classes - 1, n_classes, device=targets.device)
    rows = torch.arange(B, device=targets.device)
    for i in range(K - 1):
        D[rows, i, targets[:, i]] = 1.0
        D[rows, i, targets[:, i + 1]] = -1.0
    is_target = torch.zeros(B, n_classes, dtype=torch.bool, device=targets.device)
    is_target[rows[:, None], targets] = True
    others = torch.argsort(is_target.to(torch.int8), dim=1, stable=True)[:, : n_classes - K]   # (B, C − K)
    for j in range(n_classes - K):
        D[rows, K - 1 + j, targets[:, K - 1]] = 1.0
        D[rows, K - 1 + j, others[:, j]] = -1.0
    return D


def ordered_topk_constraints(weight: Tensor, bias: Tensor | None, targets: Tensor,
                             margin: float = 0.0) -> tuple[Tensor, Tensor]:
    """Linear constraints ``G f ≥ h`` on features ``f`` of a linear head ``z = W f + b`` for an ordered top-K target.

    ``G = D W`` and ``h = m − D b`` with ``D`` from :func:`ordered_topk_difference`: every feature vector with
    ``G f ≥ h`` has logits whose top K are exactly ``targets`` in that order, each gap at least ``margin``.

    Args:
        weight: ``(C, d)`` head weight. bias: ``(C,)`` or ``None``. targets: ``(B, K)``. margin: ``m ≥ 0``.

    Returns:
        ``G`` ``(B, C − 1, d)`` and ``h`` ``(B, C − 1)``.
    """
    if margin < 0:
        raise ParameterError(f"margin={margin} must be >= 0")
    if weight.dim() != 2:
        raise ParameterError(f"weight must be a (C, d) matrix, got shape {tuple(weight.shape)}")
    D = ordered_topk_difference(targets, weight.shape[0]).to(weight.dtype)
    G = D @ weight
    h = torch.full(D.shape[:2], float(margin), dtype=weight.dtype, device=weight.device)
    if bias is not None:
        h = h - D @ bias
    return G, h


def batched_qp_projection(x0: Tensor, G: Tensor, h: Tensor, iters: int = 300, tol: float = 1e-6,
                          lam0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Euclidean projection onto polyhedra, batched: ``x* = argmin_x ||x − x0||²  s.t.  G x ≥ h``.

    Solves the dual ``min_{λ ≥ 0} ¼ λᵀ(G Gᵀ)λ + λᵀ(G x0 − h)`` by accelerated projected gradient (FISTA with
    restarts, step ``1 / L`` with ``L = ½ λ_max(G Gᵀ)`` per example) and returns ``x* = x0 + ½ Gᵀ λ`` (the KKT
    stationarity condition). Iterations stop early once every example's dual step moves by less than ``tol``.
    Infeasible problems (empty polyhedra) have an unbounded dual: ``λ`` then grows and the result is not a
    projection; check ``(G x* − h).min()``.

    Args:
        x0: ``(B, d)`` points. G: ``(B, m, d)``. h: ``(B, m)``.
        iters: maximum dual iterations. tol: stopping tolerance on the dual step (max-abs, scaled by ``1 + |λ|``).
        lam0: ``(B, m)`` warm start for the multipliers (``None`` = zeros).

    Returns:
        ``x*`` ``(B, d)`` and the multipliers ``λ`` ``(B, m)`` (``λ_i > 0`` only on active constraints).
    Gradients do not flow through the solver (the result is computed without autograd).
    """
    if x0.dim() != 2 or G.dim() != 3 or h.dim() != 2 or G.shape[0] != x0.shape[0] or G.shape[2] != x0.shape[1] \
            or h.shape != G.shape[:2]:
        raise ParameterError(f"shapes must be x0 (B, d), G (B, m, d), h (B, m); got {tuple(x0.shape)}, "
                             f"{tuple(G.shape)}, {tuple(h.shape)}")
    if iters < 1:
        raise ParameterError(f"iters={iters} must be >= 1")
    with torch.no_grad():
        x0, G, h = x0.detach(), G.detach(), h.detach()
        Q = 0.5 * G @ G.transpose(1, 2)                                  # (B, m, m): Hessian of the dual, ½ G Gᵀ
        q = torch.einsum("bmd,bd->bm", G, x0) - h                         # (B, m)
        L = torch.linalg.eigvalsh(Q)[:, -1].clamp(min=1e-12)             # (B,)
        step = (1.0 / L)[:, None]
        lam = torch.zeros_like(h) if lam0 is None else lam0.detach().clamp(min=0).to(h)
        y, t = lam.clone(), torch.ones_like(step)
        for _ in range(iters):
            grad = torch.einsum("bij,bj->bi", Q, y) + q
            new = (y - step * grad).clamp(min=0)
            moved = (new - lam).abs().amax(1) / (1 + lam.abs().amax(1))
            t_new = 0.5 * (1 + (1 + 4 * t * t).sqrt())
            # adaptive restart (O'Donoghue & Candès 2015): drop the momentum of examples where it points uphill
            uphill = ((y - new) * (new - lam)).sum(1, keepdim=True) > 0
            y = torch.where(uphill, new, new + ((t - 1) / t_new) * (new - lam))
            lam, t = new, torch.where(uphill, torch.ones_like(t), t_new)
            if bool((moved < tol).all()):
                break
        x = x0 + 0.5 * torch.einsum("bmd,bm->bd", G, lam)
    return x, lam


def ordered_topk_success(logits: Tensor, targets: Tensor) -> Tensor:
    """Whether the top-K of each row of ``logits`` is exactly ``targets`` in that order: ``(B,)`` bool.

    ``logits`` ``(B, C)``, ``targets`` ``(B, K)``. Ties count as failures (each gap must be strictly positive),
    so the result does not depend on how ``topk`` breaks ties.
    """
    if logits.dim() != 2 or targets.dim() != 2 or logits.shape[0] != targets.shape[0]:
        raise ParameterError(f"logits must be (B, C) and targets (B, K); got {tuple(logits.shape)}, "
                             f"{tuple(targets.shape)}")
    _check_targets(targets, logits.shape[1])
    D = ordered_topk_difference(targets, logits.shape[1]).to(logits.dtype)
    return (torch.einsum("bmc,bc->bm", D, logits.detach()) > 0).all(1)
