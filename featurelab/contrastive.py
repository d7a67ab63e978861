"""MoCo-style contrastive learning pieces: augmentations for 28×28 images, a queue of negatives, the momentum
update and InfoNCE against a queue (He et al., *Momentum Contrast*, CVPR 2020, arXiv:1911.05722).

MoCo trains a query encoder ``f_q`` and keeps a key encoder ``f_k`` that follows it by a moving average; each
batch gives a positive pair (two augmented views of one image) and is scored against ``K`` keys of earlier
batches held in a FIFO queue::

    θ_k ← m·θ_k + (1 − m)·θ_q                                       (momentum update, Eq. 2 of MoCo)
    q = f_q(aug(x)), k = f_k(aug'(x))  (both L2-normalised, k without gradient)
    L = −log  exp(qᵀk/τ) / (exp(qᵀk/τ) + Σ_j exp(qᵀn_j/τ))        (InfoNCE, Eq. 1 of MoCo)
    queue ← queue[B:] ∪ {k}                                          (enqueue the newest keys, drop the oldest)

Every function accepts an optional leading *member* dimension, so that ``M`` independent models trained in one
batched call (:mod:`featurelab.ensemble`) each keep their own queue: ``q``/``k`` are ``(..., N, d)`` and the queue
is ``(..., K, d)`` with the same leading shape.

Used by ``featurelab.papers.contrastive_feature_transformation`` (Zhu et al., ICCV 2021).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ParameterError


# ----------------------------------------------------------------------------------------------- augmentations
def augment(x: Tensor, generator: torch.Generator | None = None, *, scale: tuple[float, float] = (0.8, 1.2),
            max_shift: float = 0.15, max_rotate: float = 15.0, erase_p: float = 0.5,
            erase_size: tuple[float, float] = (0.2, 0.45), brightness: float = 0.3, noise: float = 0.05) -> Tensor:
    """One random view of every image: affine crop/zoom/rotate, random erasing, brightness jitter, Gaussian noise.

    Args:
        x: ``(N, C, H, W)`` images in [0, 1] (made for 28×28 Fashion-MNIST, works at any size).
        generator: a CPU ``torch.Generator`` (seeded: the same generator state gives the same views).
        scale: zoom range (> 1 zooms in: a random crop resized to full size; < 1 zooms out).
        max_shift: largest translation, as a fraction of the half-width (grid units).
        max_rotate: largest rotation in degrees.
        erase_p, erase_size: probability of erasing one rectangle per image and its side range (fraction of H, W).
        brightness: multiplicative jitter ``× U(1 − b, 1 + b)``. noise: std of additive Gaussian noise.

    Returns:
        ``(N, C, H, W)`` in [0, 1], on ``x``'s device.
    """
    if x.dim() != 4:
        raise ParameterError(f"augment expects (N, C, H, W) images, got shape {tuple(x.shape)}")
    if not (0 < scale[0] <= scale[1]) or not (0 <= erase_p <= 1) or not (0 < erase_size[0] <= erase_size[1] <= 1) \
            or brightness < 0 or brightness >= 1 or noise < 0 or max_shift < 0 or max_rotate < 0:
        raise ParameterError("augment: need 0 < scale[0] ≤ scale[1], 0 ≤ erase_p ≤ 1, 0 < erase_size ≤ 1, "
                             "0 ≤ brightness < 1 and non-negative noise, shift and rotation")
    n, c, h, w = x.shape

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    s = u(n, lo=scale[0], hi=scale[1])
    a = u(n, lo=-max_rotate, hi=max_rotate) * math.pi / 180
    t = u(n, 2, lo=-max_shift, hi=max_shift)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a) / s, -torch.sin(a) / s
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a) / s, torch.cos(a) / s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # random erasing: one rectangle per image (with probability erase_p) set to 0
    eh = (u(n, lo=erase_size[0], hi=erase_size[1]) * h).round()
    ew = (u(n, lo=erase_size[0], hi=erase_size[1]) * w).round()
    y0 = (u(n) * (h - eh + 1)).floor()
    x0 = (u(n) * (w - ew + 1)).floor()
    on = u(n) < erase_p
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    box = ((rows >= y0.view(-1, 1, 1)) & (rows < (y0 + eh).view(-1, 1, 1))
           & (cols >= x0.view(-1, 1, 1)) & (cols < (x0 + ew).view(-1, 1, 1)) & on.view(-1, 1, 1))
    out = out * (~box).unsqueeze(1).to(x.device, out.dtype)
    out = out * u(n, 1, 1, 1, lo=1 - brightness, hi=1 + brightness).to(x.device)
    if noise > 0:
        out = out + noise * torch.randn(out.shape, generator=generator).to(x.device)
    return out.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------- the queue
class NegativeQueue(nn.Module):
    """A FIFO queue of ``size`` keys of dimension ``dim`` (MoCo's dictionary), one per member.

    ``keys`` is ``(size, dim)``, or ``(members, size, dim)`` with ``members``; it starts as random unit vectors
    (as in MoCo) drawn from ``generator``. :meth:`enqueue` writes a batch of keys over the oldest entries.
    """

    def __init__(self, size: int, dim: int, members: int | None = None, generator: torch.Generator | None = None):
        super().__init__()
        if size < 1 or dim < 1 or (members is not None and members < 1):
            raise ParameterError(f"queue size, dim and members must be positive, got {size}, {dim}, {members}")
        shape = (size, dim) if members is None else (members, size, dim)
        self.register_buffer("keys", F.normalize(torch.randn(shape, generator=generator), dim=-1))
        self.ptr = 0

    @property
    def size(self) -> int:
        return self.keys.shape[-2]

    @torch.no_grad()
    def enqueue(self, k: Tensor) -> None:
        """Write ``k`` ``(..., B, dim)`` (the queue's leading shape) over the oldest ``B`` entries (wrapping)."""
        if k.shape[:-2] != self.keys.shape[:-2] or k.shape[-1] != self.keys.shape[-1]:
            raise ParameterError(f"keys of shape {tuple(k.shape)} do not fit a queue of shape {tuple(self.keys.shape)}")
        b = k.shape[-2]
        if b > self.size:
            raise ParameterError(f"batch of {b} keys is larger than the queue ({self.size})")
        idx = (torch.arange(b) + self.ptr) % self.size
        self.keys.index_copy_(self.keys.dim() - 2, idx.to(self.keys.device), k.detach().to(self.keys.dtype))
        self.ptr = int((self.ptr + b) % self.size)


# ----------------------------------------------------------------------------------------------- momentum update
@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """``θ_target ← m·θ_target + (1 − m)·θ_online`` for every parameter (MoCo Eq. 2); buffers are copied.

    ``m = 0`` copies the online network; ``m = 1`` freezes the target.
    """
    if not 0.0 <= m <= 1.0:
        raise ParameterError(f"momentum must be in [0, 1], got {m}")
    p_on, p_tg = list(online.parameters()), list(target.parameters())
    if len(p_on) != len(p_tg) or any(a.shape != b.shape for a, b in zip(p_on, p_tg)):
        raise ParameterError("momentum_update: online and target networks must have the same parameter shapes")
    for a, b in zip(p_on, p_tg):
        b.mul_(m).add_(a.detach(), alpha=1.0 - m)
    for a, b in zip(online.buffers(), target.buffers()):
        b.copy_(a)


# ----------------------------------------------------------------------------------------------- InfoNCE
def queue_logits(q: Tensor, k: Tensor, queue: Tensor, tau: float | Tensor = 0.2,
                 pos_scale: float | Tensor = 1.0) -> Tensor:
    """MoCo's logits ``[qᵀk, qᵀn_1 … qᵀn_K] / τ`` → ``(..., N, 1 + K)`` (the positive in column 0).

    Args:
        q, k: ``(..., N, d)`` queries and their positive keys (the caller normalises; the feature-transformation
            paper mixes them first and does not renormalise). queue: ``(..., K, d)`` negatives.
        tau: temperature, a float or a tensor broadcastable to ``(..., 1, 1)`` (per member).
        pos_scale: multiplies the positive logit only (1 = plain InfoNCE); > 1 up-weights the positive term.
    """
    if q.shape != k.shape or q.shape[:-2] != queue.shape[:-2] or q.shape[-1] != queue.shape[-1]:
        raise ParameterError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and queue {tuple(queue.shape)} do not match")
    pos = (q * k).sum(-1, keepdim=True) * pos_scale
    neg = q @ queue.transpose(-1, -2)
    return torch.cat([pos, neg], dim=-1) / tau


def info_nce(q: Tensor, k: Tensor, queue: Tensor, tau: float | Tensor = 0.2, pos_scale: float | Tensor = 1.0) -> Tensor:
    """InfoNCE against a queue (MoCo Eq. 1), mean over the ``N`` queries → shape ``q.shape[:-2]`` (per member).

    Sum the result over members before ``backward()`` so that each member gets its own gradient.
    """
    logits = queue_logits(q, k, queue, tau, pos_scale)
    return -torch.log_softmax(logits, dim=-1)[..., 0].mean(-1)


@torch.no_grad()
def score_stats(q: Tensor, k: Tensor, queue: Tensor) -> dict[str, Tensor]:
    """The scores the feature-transformation paper visualises (its ``get_score``): per query the positive score
    ``qᵀk`` and the mean and variance of its negative scores ``qᵀn_j`` over the queue.

    Returns ``{"pos": (..., N), "neg_mean": (..., N), "neg_var": (..., N)}``.
    """
    neg = q @ queue.transpose(-1, -2)
    return {"pos": (q * k).sum(-1), "neg_mean": neg.mean(-1), "neg_var": neg.var(-1)}


def alignment(z1: Tensor, z2: Tensor) -> Tensor:
    """Mean cosine similarity of matching rows, ``(..., N, d)`` × 2 → ``(...)`` (1 = perfectly view-invariant)."""
    if z1.shape != z2.shape:
        raise ParameterError(f"alignment needs equal shapes, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    return F.cosine_similarity(z1, z2, dim=-1).mean(-1)


def beta_draws(alpha: float, shape: Sequence[int], generator: torch.Generator | None = None) -> Tensor:
    """``Beta(α, α)`` samples of ``shape`` from a torch generator (via two Gamma draws; seeded and reproducible)."""
    if alpha <= 0:
        raise ParameterError(f"Beta parameter must be positive, got {alpha}")
    # torch.distributions.Beta takes no generator, so draw Beta = X / (X + Y) from two Marsaglia–Tsang gammas.
    return _gamma_ratio(alpha, tuple(shape), generator)


def _std_gamma(alpha: float, shape: tuple[int, ...], g: torch.Generator | None) -> Tensor:
    """Standard Gamma(α) by Marsaglia–Tsang (α < 1 via the boost ``G(α+1)·U^{1/α}``), with a seeded generator."""
    boost = alpha < 1
    a = alpha + 1 if boost else alpha
    d = a - 1.0 / 3
    c = 1.0 / math.sqrt(9 * d)
    n = int(math.prod(shape)) if shape else 1
    out = torch.empty(n)
    filled = 0
    while filled < n:
        m = 2 * (n - filled) + 8
        z = torch.randn(m, generator=g)
        u = torch.rand(m, generator=g)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-30)) < 0.5 * z ** 2 + d - d * v + d * torch.log(v.clamp_min(1e-30)))
        acc = (d * v)[ok][: n - filled]
        out[filled:filled + acc.numel()] = acc
        filled += acc.numel()
    if boost:
        out = out * torch.rand(n, generator=g) ** (1.0 / alpha)
    return out.view(shape)


def _gamma_ratio(alpha: float, shape: tuple[int, ...], g: torch.Generator | None) -> Tensor:
    x = _std_gamma(alpha, shape, g)
    y = _std_gamma(alpha, shape, g)
    return x / (x + y)


__all__ = ["NegativeQueue", "alignment", "augment", "beta_draws", "info_nce", "momentum_update", "queue_logits",
           "score_stats"]
