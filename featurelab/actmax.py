"""Activation maximisation (AM): synthesise the input that most excites one unit, by gradient ascent.

    x* = argmax_x  a_k(x) − R(x)

The toolkit the "reading features" notebooks share (first user:
``notebooks/03_reading_features/01_multifaceted_feature_vis.ipynb``). Pieces:

* :func:`unit_objective` — a differentiable objective ``x ↦ a_k(x)`` ``(N,)`` read from any submodule with a forward
  hook (``layer=None`` reads the model's output, e.g. a pre-softmax logit). :func:`unit_activations` reads the same
  unit over a dataset without gradients via :func:`featurelab.features.capture` (to find top-activating images).
* :func:`normalized_step` — the step of the official multifaceted-AM code (Nguyen et al. 2016):
  ``x ← x + η · g / mean|g|``, one normalisation per image, so the step size is in pixel units whatever the scale
  of the gradient.
* Regularisers: :func:`tv_denoise` (Chambolle's total-variation denoising, applied after every step as the
  official code does), :func:`gaussian_blur` and L2 decay (the Yosinski et al. 2015 set), clipping to the data
  range; :class:`Regularizer` holds their settings.
* :func:`jitter` — a random per-image translation before each gradient (and its inverse on the gradient).
* :func:`maximize` — the loop, batched: every image of the batch is optimised independently (its own
  normalisation, its own jitter), which holds for any model without batch-coupled layers (no batch norm in
  training mode); the model is put in eval mode.

Shapes: images are ``(N, C, H, W)`` tensors; objectives return ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import features as ft
from .base import ParameterError
from .train import predict

__all__ = ["Regularizer", "AMResult", "unit_objective", "unit_activations", "normalized_step", "tv_denoise",
           "gaussian_blur", "jitter", "maximize"]

Objective = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------- objectives
def _reduce_unit(out: torch.Tensor, unit: int, reduce: str) -> torch.Tensor:
    if out.dim() < 2 or not 0 <= unit < out.shape[1]:
        raise ParameterError(f"unit {unit} is out of range for a layer output of shape {tuple(out.shape)}")
    a = out[:, unit]
    if a.dim() == 1:
        return a
    if reduce == "mean":
        return a.flatten(1).mean(1)
    if reduce == "center":
        h, w = a.shape[-2:]
        return a[..., h // 2, w // 2].reshape(a.shape[0], -1).mean(1)
    raise ParameterError(f"reduce must be 'mean' or 'center', got {reduce!r}")


def unit_objective(model: nn.Module, unit: int, layer: str | None = None, reduce: str = "mean") -> Objective:
    """A differentiable objective ``f(x) -> (N,)``: unit ``unit`` of submodule ``layer`` (``None`` = the model's output).

    A conv unit (channel) gives ``(N, H, W)`` values: ``reduce="mean"`` averages them, ``"center"`` takes the centre
    position. The value is read with a forward hook that is removed after every call, so the objective leaves the
    model unchanged. Raises :class:`ParameterError` for an unknown layer, a unit out of range or a bad ``reduce``.
    """
    if reduce not in ("mean", "center"):
        raise ParameterError(f"reduce must be 'mean' or 'center', got {reduce!r}")
    modules = dict(model.named_modules())
    if layer is not None and layer not in modules:
        choices = ", ".join(n for n in modules if n)
        raise ParameterError(f"unknown layer {layer!r}; this model's submodules are: {choices}")

    def objective(x: torch.Tensor) -> torch.Tensor:
        if layer is None:
            return _reduce_unit(model(x), unit, reduce)
        store: list[torch.Tensor] = []
        handle = modules[layer].register_forward_hook(lambda _m, _i, out: store.append(out))
        try:
            model(x)
        finally:
            handle.remove()
        return _reduce_unit(store[0], unit, reduce)

    return objective


def unit_activations(model: nn.Module, x: torch.Tensor, unit: int, layer: str | None = None, reduce: str = "mean",
                     batch_size: int = 1024) -> torch.Tensor:
    """``(N,)`` activations of one unit over a dataset ``x``, without gradients (hooks of
    :func:`featurelab.features.capture`; ``layer=None`` reads the model's output)."""
    if layer is None:
        return _reduce_unit(predict(model, x, batch_size).float().cpu(), unit, reduce)
    out = ft.capture(model, x, {"unit": layer}, batch_size=batch_size)["unit"]
    return _reduce_unit(out, unit, reduce)


# ---------------------------------------------------------------------------------------------- steps and priors
def normalized_step(x: torch.Tensor, grad: torch.Tensor, step_size: float, eps: float = 1e-12) -> torch.Tensor:
    """``x + step_size · g / mean|g|`` with ``mean|g|`` taken per image (the official multifaceted-AM step).

    An image whose gradient is all zero does not move.
    """
    if step_size < 0:
        raise ParameterError(f"step_size must be non-negative, got {step_size}")
    scale = grad.abs().flatten(1).mean(1).clamp_min(eps).view(-1, *([1] * (grad.dim() - 1)))
    return x + step_size * grad / scale


def _grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along H and W (zero at the last row / column)."""
    gh = torch.zeros_like(u)
    gw = torch.zeros_like(u)
    gh[..., :-1, :] = u[..., 1:, :] - u[..., :-1, :]
    gw[..., :, :-1] = u[..., :, 1:] - u[..., :, :-1]
    return gh, gw


def _div(ph: torch.Tensor, pw: torch.Tensor) -> torch.Tensor:
    """The negative adjoint of :func:`_grad` (the discrete divergence)."""
    d = ph.clone()
    d[..., 1:, :] -= ph[..., :-1, :]
    d2 = pw.clone()
    d2[..., :, 1:] -= pw[..., :, :-1]
    return d + d2


def tv_denoise(x: torch.Tensor, weight: float, n_iter: int = 20) -> torch.Tensor:
    """Total-variation denoising of every image and channel of ``x`` ``(..., H, W)`` (Chambolle 2004).

    Solves ``min_u ‖u − x‖² / 2 + weight · TV(u)`` (isotropic TV over the two spatial axes) with Chambolle's
    dual projection, ``n_iter`` fixed iterations (step τ = 1/4); the same algorithm and weight convention as
    ``skimage.restoration.denoise_tv_chambolle`` applied per image. ``weight = 0`` returns ``x`` unchanged.
    """
    if weight < 0 or n_iter < 0:
        raise ParameterError(f"weight and n_iter must be non-negative, got {weight}, {n_iter}")
    if weight == 0 or n_iter == 0:
        return x.clone()
    tau = 0.25
    ph = torch.zeros_like(x)
    pw = torch.zeros_like(x)
    out = x
    for _ in range(n_iter):
        out = x + _div(ph, pw)
        gh, gw = _grad(out)
        norm = 1.0 + (tau / weight) * torch.sqrt(gh ** 2 + gw ** 2)
        ph = (ph + tau * gh) / norm
        pw = (pw + tau * gw) / norm
    return x + _div(ph, pw)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` images (reflect padding, kernel radius ⌈3σ⌉); σ = 0 is a copy."""
    if sigma < 0:
        raise ParameterError(f"sigma must be non-negative, got {sigma}")
    if sigma == 0:
        return x.clone()
    r = max(1, int(torch.ceil(torch.tensor(3.0 * sigma)).item()))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    pad_r = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    if pad_r < r:  # reflect padding needs r < side: cut the kernel
        k = k[r - pad_r: r + pad_r + 1]
        k = k / k.sum()
        r = pad_r
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def jitter(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll image ``i`` of ``x`` ``(N, C, H, W)`` by ``shifts[i] = (dy, dx)`` pixels (circular); ``-shifts`` undoes it."""
    if shifts.shape != (x.shape[0], 2):
        raise ParameterError(f"shifts must have shape ({x.shape[0]}, 2), got {tuple(shifts.shape)}")
    out = torch.empty_like(x)
    pairs = shifts.tolist()
    for key in set(map(tuple, pairs)):
        idx = [i for i, p in enumerate(pairs) if tuple(p) == key]
        out[idx] = torch.roll(x[idx], shifts=key, dims=(-2, -1))
    return out


@dataclass(frozen=True)
class Regularizer:
    """The image prior R(x) of activation maximisation, as operations applied after every gradient step.

    Attributes:
        tv_weight: Chambolle TV denoising weight applied after every step (official multifaceted-AM code); 0 = off.
        tv_iter: Chambolle iterations per denoising.
        l2_decay: ``x ← (1 − l2_decay) · x`` after every step (Yosinski et al. 2015); 0 = off.
        blur_sigma, blur_every: Gaussian blur of width σ every ``blur_every`` steps (Yosinski et al. 2015); 0 = off.
        clip: the data range ``(lo, hi)`` every image is clipped to after every step (``None`` = no clipping).
        jitter: the largest random translation (pixels, each axis) before every gradient; 0 = off.
    """

    tv_weight: float = 0.0
    tv_iter: int = 20
    l2_decay: float = 0.0
    blur_sigma: float = 0.0
    blur_every: int = 0
    clip: tuple[float, float] | None = (0.0, 1.0)
    jitter: int = 0

    def __post_init__(self) -> None:
        bad = [n for n in ("tv_weight", "tv_iter", "l2_decay", "blur_sigma", "blur_every", "jitter")
               if getattr(self, n) < 0]
        if bad or self.l2_decay >= 1:
            raise ParameterError(f"regularizer settings must be non-negative (l2_decay < 1); bad: {bad or ['l2_decay']}")
        if self.clip is not None and not self.clip[0] < self.clip[1]:
            raise ParameterError(f"clip must be (lo, hi) with lo < hi, got {self.clip}")

    def apply(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """The prior's operations after gradient step ``step`` (1-based): decay, blur, TV, then clipping."""
        if self.l2_decay:
            x = x * (1.0 - self.l2_decay)
        if self.blur_sigma and self.blur_every and step % self.blur_every == 0:
            x = gaussian_blur(x, self.blur_sigma)
        if self.tv_weight:
            x = tv_denoise(x, self.tv_weight, self.tv_iter)
        if self.clip is not None:
            x = x.clamp(*self.clip)
        return x


@dataclass
class AMResult:
    """What :func:`maximize` returns.

    Attributes:
        images: ``(N, C, H, W)`` the final visualisations.
        start: ``(N,)`` the objective at the starting images; final: ``(N,)`` at the final images.
        trace: ``(steps + 1, N)`` the objective at every step (on the jittered image the gradient was taken at),
            then at the final image.
    """

    images: torch.Tensor
    start: torch.Tensor
    final: torch.Tensor
    trace: torch.Tensor = field(repr=False)


def maximize(objective: Objective, x0: torch.Tensor, *, steps: int, step_size: float,
             regularizer: Regularizer | None = None, seed: int = 0, model: nn.Module | None = None) -> AMResult:
    """Gradient ascent on ``objective`` from ``x0`` ``(N, C, H, W)``, every image independently.

    Each step: jitter every image by a random shift (``regularizer.jitter``), take the gradient of the summed
    objective (= each image's own gradient), shift the gradient back, take a :func:`normalized_step`, then apply
    the regulariser (:meth:`Regularizer.apply`: decay, blur, TV denoising, clipping). ``seed`` drives the jitter.
    ``model``, when given, is put in eval mode during the ascent (its flag is restored) and its parameters are
    not changed.
    """
    if steps < 0:
        raise ParameterError(f"steps must be non-negative, got {steps}")
    if x0.dim() != 4:
        raise ParameterError(f"x0 must be (N, C, H, W), got shape {tuple(x0.shape)}")
    reg = regularizer or Regularizer()
    gen = torch.Generator().manual_seed(seed)
    was = model.training if model is not None else None
    if model is not None:
        model.eval()
    x = x0.detach().clone()
    trace = []
    try:
        for step in range(1, steps + 1):
            if reg.jitter:
                shifts = torch.randint(-reg.jitter, reg.jitter + 1, (x.shape[0], 2), generator=gen)
                xj = jitter(x, shifts).requires_grad_(True)
            else:
                shifts, xj = None, x.clone().requires_grad_(True)
            val = objective(xj)
            (g,) = torch.autograd.grad(val.sum(), xj)
            trace.append(val.detach())
            if shifts is not None:
                g = jitter(g, -shifts)
            x = reg.apply(normalized_step(x, g, step_size), step).detach()
        with torch.no_grad():
            x_eval = x0.detach()
            start = objective(x_eval).detach()
            final = objective(x).detach()
    finally:
        if model is not None:
            model.train(was)
    return AMResult(x, start, final, torch.stack(trace + [final]))
