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
