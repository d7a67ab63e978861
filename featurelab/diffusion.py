"""A small diffusion kit: noise schedules, the denoising loss, DDPM / DDIM samplers with guidance, two denoisers
with feature hooks, a zero-shot diffusion classifier, LoRA adapters and a Fréchet distance.

Notation (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", §2 and eq. 4, 14): a schedule
``β_1 … β_T``, ``α_t = 1 − β_t``, ``ᾱ_t = ∏_{s≤t} α_s``; the forward process noises a clean ``x_0`` in one jump,

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε,   ε ~ N(0, I),

and a denoiser ``ε_θ(x_t, t, y)`` is trained to predict ``ε`` (the "simple" loss ``‖ε − ε_θ(x_t, t, y)‖²``).
Timesteps here are integers ``0 … T−1`` (index ``t`` holds ``β_{t+1}``).

Every denoiser takes ``(x, t, y)``: ``x`` of shape ``(N, ...)``, ``t`` integer ``(N,)``, ``y`` integer ``(N,)``
class labels or ``None``. The label ``n_classes`` is the *null* label used for classifier-free guidance (Ho &
Salimans 2022): training with ``p_uncond > 0`` replaces labels by it at random, so one network learns both
``ε(x_t, t, y)`` and ``ε(x_t, t, ∅)``. Every denoiser also has ``features(x, t, y)`` → ``{block: activation}`` for
probing what it learned.

Samplers take an ``eps_fn(x, t) → ε̂`` (build one with :func:`epsilon_fn`, which adds classifier-free and
classifier guidance), so guidance, experts or any other hook composes without touching the sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ParameterError

EpsFn = Callable[[Tensor, Tensor], Tensor]
GradFn = Callable[[Tensor, Tensor], Tensor]


# --------------------------------------------------------------------------------------------------- schedules
@dataclass(frozen=True)
class Schedule:
    """A variance schedule. ``betas``: ``(T,)`` in (0, 1). Derived: ``alphas``, ``alpha_bar`` (both ``(T,)``)."""

    betas: Tensor
    alphas: Tensor = field(init=False, repr=False)
    alpha_bar: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        b = torch.as_tensor(self.betas, dtype=torch.float64)
        if b.ndim != 1 or len(b) < 1 or not bool(((b > 0) & (b < 1)).all()):
            raise ParameterError("betas must be a non-empty 1-d tensor with values in (0, 1)")
        object.__setattr__(self, "betas", b.float())
        object.__setattr__(self, "alphas", (1 - b).float())
        object.__setattr__(self, "alpha_bar", torch.cumprod(1 - b, 0).float())

    @property
    def T(self) -> int:
        return len(self.betas)

    def _at(self, v: Tensor, t: Tensor, like: Tensor) -> Tensor:
        return v.to(like.device)[t].reshape(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """``x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`` for ``x0``, ``noise`` of shape ``(N, ...)`` and ``t`` of shape ``(N,)``."""
        ab = self._at(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def predict_x0(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """The clean image the noise prediction implies: ``x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t``."""
        ab = self._at(self.alpha_bar, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """DDPM's linear schedule (Ho et al. 2020 §4: 1e-4 … 0.02 over T = 1000). For ``T ≠ 1000`` the end points are
    rescaled by ``1000 / T`` so that the total noise added stays about the same."""
    if T < 1:
        raise ParameterError(f"T must be a positive number of steps, got {T}")
    scale = 1000 / T
    start, end = beta_start * scale, min(beta_end * scale, 0.999)
    if not 0 < start <= end < 1:
        raise ParameterError("need 0 < beta_start <= beta_end < 1")
    return Schedule(torch.linspace(start, end, T, dtype=torch.float64))


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal 2021 (eq. 17): ``ᾱ_t = f(t)/f(0)``, ``f(t) = cos²(((t/T + s)/(1 + s)) · π/2)``."""
    if T < 1:
        raise ParameterError(f"T must be a positive number of steps, got {T}")
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(1e-8, max_beta)
    return Schedule(betas)


# ------------------------------------------------------------------------------------------------------ loss
def epsilon_loss(model: nn.Module, x0: Tensor, y: Tensor | None, schedule: Schedule, *, p_uncond: float = 0.0,
                 generator: torch.Generator | None = None) -> Tensor:
    """The simple DDPM loss ``E_{t, ε} ‖ε − ε_θ(x_t, t, y)‖²`` on one batch ``x0`` ``(N, ...)``, ``y`` ``(N,)``.

    ``t`` is uniform over ``0 … T−1``; with ``p_uncond`` > 0 each label is replaced by the null label
    ``model.n_classes`` with that probability (condition dropout for classifier-free guidance). ``generator``
    (CPU) draws ``t``, the noise and the dropout, so a seeded generator makes training reproducible. Use it in
    :func:`featurelab.train.fit` as ``batch_loss=functools.partial(epsilon_loss, schedule=..., ...)``.
    """
    if not 0 <= p_uncond <= 1:
        raise ParameterError(f"p_uncond must be a probability, got {p_uncond}")
    n = x0.shape[0]
    t = torch.randint(0, schedule.T, (n,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    if y is not None and p_uncond > 0:
        drop = (torch.rand(n, generator=generator) < p_uncond).to(x0.device)
        y = torch.where(drop, torch.full_like(y, model.n_classes), y)
    return F.mse_loss(model(schedule.q_sample(x0, t, noise), t, y), noise)


# -------------------------------------------------------------------------------------------------- guidance
def classifier_grad(classifier: Callable[[Tensor, Tensor], Tensor], y: Tensor) -> GradFn:
    """``(x_t, t) → ∇_{x_t} log p_φ(y | x_t, t)`` for a noise-aware classifier ``classifier(x_t, t)`` → logits
    ``(N, K)``: the gradient classifier guidance needs (Dhariwal & Nichol 2021, Alg. 2)."""
    def grad(x: Tensor, t: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            logp = F.log_softmax(classifier(x, t), -1).gather(1, y.to(x.device)[:, None]).sum()
            return torch.autograd.grad(logp, x)[0]
    return grad


def epsilon_fn(model: nn.Module, y: Tensor | None = None, *, cfg_scale: float = 1.0,
               grad_fn: GradFn | None = None, grad_scale: float = 0.0,
               schedule: Schedule | None = None) -> EpsFn:
    """The noise prediction a sampler follows, with optional guidance.

    - Classifier-free guidance (Ho & Salimans 2022, eq. 6 written with ``s = 1 + w``):
      ``ε̂ = ε(x_t, ∅) + s · (ε(x_t, y) − ε(x_t, ∅))``; ``s = 1`` is plain conditional sampling, ``s = 0``
      unconditional, ``s > 1`` sharpens towards ``y``.
    - Gradient (classifier) guidance (Dhariwal & Nichol 2021, eq. 14 / Alg. 2):
      ``ε̂ ← ε̂ − √(1−ᾱ_t) · grad_scale · grad_fn(x_t, t)``, where ``grad_fn`` returns ``∇ log p(y | x_t)`` (see
      :func:`classifier_grad`) or any other guiding gradient. Needs ``schedule``.

    ``y``: ``(N,)`` labels for a batch of ``N`` samples, or ``None`` for the null label (unconditional).
    """
    if grad_fn is not None and schedule is None:
        raise ParameterError("gradient guidance needs the schedule (pass schedule=...)")
    if y is None and cfg_scale != 1.0:
        raise ParameterError("classifier-free guidance needs labels y (cfg_scale ≠ 1 without y)")

    def eps(x: Tensor, t: Tensor) -> Tensor:
        yy = None if y is None else y.to(x.device)
        if yy is not None and cfg_scale != 1.0:
            null = torch.full_like(yy, model.n_classes)
            e_c, e_u = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([yy, null])).chunk(2)
            e = e_u + cfg_scale * (e_c - e_u)
        else:
            e = model(x, t, yy)
        if grad_fn is not None and grad_scale != 0.0:
            ab = schedule._at(schedule.alpha_bar, t, x)
            e = e - (1 - ab).sqrt() * grad_scale * grad_fn(x, t)
        return e
    return eps


# -------------------------------------------------------------------------------------------------- samplers
def _start(shape: tuple[int, ...], x_T: Tensor | None, generator: torch.Generator | None, device) -> Tensor:
    if x_T is not None:
        if tuple(x_T.shape) != tuple(shape):
            raise ParameterError(f"x_T has shape {tuple(x_T.shape)}, expected {tuple(shape)}")
        return x_T.clone()
    return torch.randn(shape, generator=generator).to(device)


@torch.no_grad()
def ddpm_sample(eps_fn: EpsFn, shape: tuple[int, ...], schedule: Schedule, *,
                generator: torch.Generator | None = None, x_T: Tensor | None = None, device="cpu") -> Tensor:
    """Ancestral sampling (Ho et al. 2020, Alg. 2) with the posterior variance ``β̃_t`` (their eq. 7):

        x_{t−1} = (x_t − β_t / √(1−ᾱ_t) · ε̂) / √α_t + √β̃_t · z,   β̃_t = β_t (1−ᾱ_{t−1}) / (1−ᾱ_t).

    Returns ``x_0`` of shape ``shape`` (first dimension = number of samples).
    """
    x = _start(shape, x_T, generator, device)
    b, a, ab = schedule.betas, schedule.alphas, schedule.alpha_bar
    for i in reversed(range(schedule.T)):
        t = torch.full((shape[0],), i, dtype=torch.long, device=x.device)
        e = eps_fn(x, t)
        x = (x - b[i] / (1 - ab[i]).sqrt() * e) / a[i].sqrt()
        if i > 0:
            var = b[i] * (1 - ab[i - 1]) / (1 - ab[i])
            x = x + var.sqrt() * torch.randn(x.shape, generator=generator).to(x.device)
    return x


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` evenly spaced timesteps from ``T−1`` down to 0 (Song et al. 2021 §4.2, "linear" sub-sequence)."""
    if not 1 <= steps <= T:
        raise ParameterError(f"steps must be in 1..T={T}, got {steps}")
    return sorted({int(round(v)) for v in np.linspace(T - 1, 0, steps)}, reverse=True)


@torch.no_grad()
def ddim_sample(eps_fn: EpsFn, shape: tuple[int, ...], schedule: Schedule, *, steps: int = 50, eta: float = 0.0,
                generator: torch.Generator | None = None, x_T: Tensor | None = None, clip: float | None = None,
                device="cpu", on_step: Callable[[int, Tensor, Tensor], None] | None = None) -> Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12) on a sub-sequence of ``steps`` timesteps:

        x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t,
        x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z,   σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev).

    ``eta = 0`` is deterministic given ``x_T``; ``eta = 1`` matches DDPM's variance. ``clip`` clamps ``x̂_0`` to
    ``[−clip, clip]``. ``on_step(t, x_t, x̂_0)`` is called at every step (for pictures of the trajectory).
    """
    if eta < 0:
        raise ParameterError(f"eta must be ≥ 0, got {eta}")
    x = _start(shape, x_T, generator, device)
    ab = schedule.alpha_bar
    ts = ddim_timesteps(schedule.T, steps)
    for k, i in enumerate(ts):
        t = torch.full((shape[0],), i, dtype=torch.long, device=x.device)
        e = eps_fn(x, t)
        x0 = (x - (1 - ab[i]).sqrt() * e) / ab[i].sqrt()
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
            e = (x - ab[i].sqrt() * x0) / (1 - ab[i]).sqrt()
        if on_step is not None:
            on_step(i, x, x0)
        ab_prev = ab[ts[k + 1]] if k + 1 < len(ts) else torch.tensor(1.0)
        sigma = eta * ((1 - ab_prev) / (1 - ab[i])).sqrt() * (1 - ab[i] / ab_prev).sqrt()
        x = ab_prev.sqrt() * x0 + (1 - ab_prev - sigma ** 2).clamp_min(0).sqrt() * e
        if eta > 0 and k + 1 < len(ts):
            x = x + sigma * torch.randn(x.shape, generator=generator).to(x.device)
    return x


# ------------------------------------------------------------------------------------------------- denoisers
def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal embedding of integer timesteps ``t`` ``(N,)`` → ``(N, dim)`` (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], -1)
    return F.pad(emb, (0, dim % 2))


class _Conditioning(nn.Module):
    """Time (+ class) embedding shared by the denoisers: ``(t, y)`` → ``(N, dim)``."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.dim, self.n_classes = dim, n_classes
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.label = nn.Embedding(n_classes + 1, dim) if n_classes > 0 else None

    def forward(self, t: Tensor, y: Tensor | None) -> Tensor:
        emb = self.time(timestep_embedding(t, self.dim))
        if self.label is not None:
            if y is None:
                y = torch.full_like(t, self.n_classes)
            emb = emb + self.label(y)
        return emb


def _check_sizes(**sizes: int) -> None:
    bad = {k: v for k, v in sizes.items() if v < 1}
    if bad:
        raise ParameterError(f"sizes must be positive: {bad}")


class _Denoiser(nn.Module):
    """Shared interface: ``forward(x, t, y)`` → ``ε̂`` (shape of ``x``); ``features(x, t, y)`` → ``{block: activation}``.
    Subclasses implement ``_run(x, t, y, keep)``, filling ``keep`` with block outputs when it is a dict."""

    n_classes: int

    def _run(self, x: Tensor, t: Tensor, y: Tensor | None, keep: dict | None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        return self._run(x, t, y, None)

    def features(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        keep: dict[str, Tensor] = {}
        self._run(x, t, y, keep)
        return keep


class MLPDenoiser(_Denoiser):
    """``ε_θ(x, t, y)`` for vectors ``x`` ``(N, dim)``: residual blocks ``h ← h + W₂ SiLU(W₁ LN(h) + e(t, y))``.

    ``n_classes = 0`` makes it unconditional (``y`` ignored). ``features`` returns ``{"block0": (N, hidden), …}``.
    """

    def __init__(self, dim: int, n_classes: int = 0, hidden: int = 128, depth: int = 3, emb_dim: int = 64):
        super().__init__()
        _check_sizes(dim=dim, hidden=hidden, depth=depth, emb_dim=emb_dim)
        if n_classes < 0:
            raise ParameterError(f"n_classes must be ≥ 0, got {n_classes}")
        self.n_classes = n_classes
        self.cond = _Conditioning(emb_dim, n_classes)
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": nn.LayerNorm(hidden), "w1": nn.Linear(hidden, hidden),
                                                   "emb": nn.Linear(emb_dim, hidden), "w2": nn.Linear(hidden, hidden)})
                                    for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, dim))

    def _run(self, x: Tensor, t: Tensor, y: Tensor | None, keep: dict | None) -> Tensor:
        e = self.cond(t, y)
        h = self.inp(x)
        for k, b in enumerate(self.blocks):
            h = h + b["w2"](F.silu(b["w1"](b["norm"](h)) + b["emb"](e)))
            if keep is not None:
                keep[f"block{k}"] = h
        return self.out(h)



class _ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(math.gcd(8, c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.n2, self.c2 = nn.GroupNorm(math.gcd(8, c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, e: Tensor) -> Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class UNetDenoiser(_Denoiser):
    """A two-level U-Net ``ε_θ(x, t, y)`` for images ``(N, C, S, S)`` with ``S`` divisible by 4.

    Blocks (each a residual block conditioned on time and class): ``down1`` at S (``width`` channels), ``down2``
    at S/2 (2·width), ``mid`` at S/4, ``up2`` at S/2, ``up1`` at S — the names ``features`` returns, each
    ``(N, channels, side, side)``.
    """

    BLOCKS = ("down1", "down2", "mid", "up2", "up1")

    def __init__(self, in_channels: int = 1, n_classes: int = 0, width: int = 32, emb_dim: int = 64):
        super().__init__()
        _check_sizes(in_channels=in_channels, width=width, emb_dim=emb_dim)
        if n_classes < 0:
            raise ParameterError(f"n_classes must be ≥ 0, got {n_classes}")
        self.n_classes = n_classes
        w, w2 = width, 2 * width
        self.cond = _Conditioning(emb_dim, n_classes)
        self.inp = nn.Conv2d(in_channels, w, 3, padding=1)
        self.down1, self.down2, self.mid = _ResBlock(w, w, emb_dim), _ResBlock(w, w2, emb_dim), _ResBlock(w2, w2, emb_dim)
        self.up2, self.up1 = _ResBlock(w2 + w2, w2, emb_dim), _ResBlock(w2 + w, w, emb_dim)
        self.out = nn.Sequential(nn.GroupNorm(math.gcd(8, w), w), nn.SiLU(), nn.Conv2d(w, in_channels, 3, padding=1))

    def _run(self, x: Tensor, t: Tensor, y: Tensor | None, keep: dict | None) -> Tensor:
        if x.ndim != 4 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ParameterError(f"UNetDenoiser needs (N, C, S, S) images with S divisible by 4, got {tuple(x.shape)}")
        e = self.cond(t, y)
        d1 = self.down1(self.inp(x), e)
        d2 = self.down2(F.avg_pool2d(d1, 2), e)
        m = self.mid(F.avg_pool2d(d2, 2), e)
        u2 = self.up2(torch.cat([F.interpolate(m, scale_factor=2.0, mode="nearest"), d2], 1), e)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0, mode="nearest"), d1], 1), e)
        if keep is not None:
            keep.update(down1=d1, down2=d2, mid=m, up2=u2, up1=u1)
        return self.out(u1)



@torch.no_grad()
def noisy_features(model: nn.Module, x0: Tensor, t: int, schedule: Schedule, *, y: Tensor | None = None,
                   generator: torch.Generator | None = None, batch_size: int = 512) -> dict[str, Tensor]:
    """The denoiser's block activations on clean inputs ``x0`` ``(N, ...)`` noised to timestep ``t`` (one fresh
    noise draw each), batched: ``{block: (N, ...)}`` — the features a diffusion-feature probe reads."""
    if not 0 <= t < schedule.T:
        raise ParameterError(f"t must be in 0..{schedule.T - 1}, got {t}")
    was = model.training
    model.eval()
    out: dict[str, list[Tensor]] = {}
    for i in range(0, x0.shape[0], batch_size):
        xb = x0[i:i + batch_size]
        tt = torch.full((xb.shape[0],), t, dtype=torch.long, device=xb.device)
        noise = torch.randn(xb.shape, generator=generator).to(xb.device)
        yb = None if y is None else y[i:i + batch_size]
        for k, v in model.features(schedule.q_sample(xb, tt, noise), tt, yb).items():
            out.setdefault(k, []).append(v)
    model.train(was)
    return {k: torch.cat(v) for k, v in out.items()}


# ------------------------------------------------------------------------------ zero-shot diffusion classifier
@torch.no_grad()
def diffusion_errors(model: nn.Module, x0: Tensor, schedule: Schedule, *, n_trials: int = 32,
                     timesteps: Tensor | range | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Per-draw denoising errors ``‖ε_i − ε_θ(x_{t_i}, t_i, c)‖² / d`` of every image under every real class ``c``
    (never the null label): ``x0`` ``(N, ...)`` → ``(N, n_trials, K)`` with ``K = model.n_classes``.

    For each image, ``n_trials`` pairs ``(t_i, ε_i)`` are drawn (``t_i`` uniform over ``timesteps``, default all)
    and shared by every class, so the comparison between classes is paired (Li et al. 2023, "Your Diffusion Model
    is Secretly a Zero-Shot Classifier", Alg. 1). Keeping every draw makes the accuracy after the first ``k`` draws
    free: ``errors[:, :k].mean(1).argmin(1)``.
    """
    K = int(getattr(model, "n_classes", 0))
    if K < 1:
        raise ParameterError("diffusion_classifier needs a class-conditional denoiser (n_classes ≥ 1)")
    if n_trials < 1:
        raise ParameterError(f"n_trials must be positive, got {n_trials}")
    pool = torch.arange(schedule.T) if timesteps is None else torch.as_tensor(timesteps, dtype=torch.long)
    if len(pool) == 0 or int(pool.min()) < 0 or int(pool.max()) >= schedule.T:
        raise ParameterError(f"timesteps must be a non-empty subset of 0..{schedule.T - 1}")
    was = model.training
    model.eval()
    out = torch.empty(x0.shape[0], n_trials, K)
    for i in range(x0.shape[0]):
        x = x0[i:i + 1]
        t = pool[torch.randint(0, len(pool), (n_trials,), generator=generator)].to(x.device)
        noise = torch.randn((n_trials, *x.shape[1:]), generator=generator).to(x.device)
        xt = schedule.q_sample(x.expand(n_trials, *x.shape[1:]), t, noise)
        rep = [1] * (xt.ndim - 1)
        y_all = torch.arange(K, device=x.device).repeat_interleave(n_trials)
        err = (model(xt.repeat(K, *rep), t.repeat(K), y_all) - noise.repeat(K, *rep)) ** 2
        out[i] = err.reshape(K, n_trials, -1).mean(-1).T.cpu()
    model.train(was)
    return out


def diffusion_classifier(model: nn.Module, x0: Tensor, schedule: Schedule, *, n_trials: int = 32,
                         timesteps: Tensor | range | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Zero-shot classification with a class-conditional denoiser (Li et al. 2023, Alg. 1): scores ``(N, K)`` =
    ``−mean_i ‖ε_i − ε_θ(x_{t_i}, t_i, c)‖² / d`` over :func:`diffusion_errors`' shared draws (higher = more
    likely); the predicted class is the arg-max."""
    return -diffusion_errors(model, x0, schedule, n_trials=n_trials, timesteps=timesteps, generator=generator).mean(1)


# ----------------------------------------------------------------------------------------------------- LoRA
class LoRA(nn.Module):
    """A low-rank adapter around a frozen ``nn.Linear`` or ``nn.Conv2d`` (Hu et al. 2022, eq. 3):
    ``h = W x + (α / r) · B A x`` with ``A`` random, ``B`` zero, so the wrapped layer starts exactly as the base.
    For convolutions ``A`` has the base kernel and ``B`` is 1×1 (the update ``B·A`` has rank ≤ r)."""

    def __init__(self, base: nn.Linear | nn.Conv2d, rank: int = 4, alpha: float | None = None):
        super().__init__()
        if rank < 1:
            raise ParameterError(f"rank must be positive, got {rank}")
        self.base, self.rank = base, rank
        self.scale = (alpha if alpha is not None else rank) / rank
        for p in base.parameters():
            p.requires_grad_(False)
        if isinstance(base, nn.Linear):
            self.A = nn.Linear(base.in_features, rank, bias=False)
            self.B = nn.Linear(rank, base.out_features, bias=False)
        elif isinstance(base, nn.Conv2d):
            self.A = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, base.dilation,
                               bias=False)
            self.B = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        else:
            raise ParameterError(f"LoRA wraps nn.Linear or nn.Conv2d, got {type(base).__name__}")
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.B.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + self.scale * self.B(self.A(x))

    def delta_weight(self) -> Tensor:
        """The update ``(α/r)·B A`` in the base weight's shape."""
        a, b = self.A.weight, self.B.weight
        if isinstance(self.base, nn.Linear):
            return self.scale * b @ a
        return self.scale * torch.einsum("or,rikl->oikl", b[:, :, 0, 0], a)


def add_lora(model: nn.Module, rank: int = 4, alpha: float | None = None,
             select: Callable[[str, nn.Module], bool] | None = None) -> list[str]:
    """Freeze ``model`` and wrap its ``Linear`` / ``Conv2d`` layers (those ``select(name, layer)`` accepts; default
    all) in :class:`LoRA`, in place. Returns the wrapped names; only the adapters' ``A``, ``B`` stay trainable."""
    for p in model.parameters():
        p.requires_grad_(False)
    chosen = [(n, m) for n, m in model.named_modules()
              if isinstance(m, (nn.Linear, nn.Conv2d)) and (select is None or select(n, m))]
    if not chosen:
        raise ParameterError("add_lora found no Linear/Conv2d layer to wrap (check select)")
    for name, layer in chosen:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, LoRA(layer, rank, alpha))
    return [n for n, _ in chosen]


# ------------------------------------------------------------------------------------------------ evaluation
def frechet_distance(a: np.ndarray | Tensor, b: np.ndarray | Tensor, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``(N, F)`` and ``b`` ``(M, F)`` (Heusel et
    al. 2017, the formula behind FID): ``‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})``. Which features is up
    to the caller: use an evaluator network independent of the generator being judged. Singular covariances (class
    probabilities, which sum to 1) make scipy's matrix square root warn although the distance is well defined: that
    warning is silenced, and a non-finite root is retried with ``eps`` added to both diagonals."""
    import warnings

    from scipy import linalg

    a = np.asarray(a.detach().cpu() if isinstance(a, Tensor) else a, dtype=np.float64)
    b = np.asarray(b.detach().cpu() if isinstance(b, Tensor) else b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ParameterError("frechet_distance needs two (N, F) feature arrays with the same F and N ≥ 2")
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():
            off = eps * np.eye(len(sa))
            covmean = linalg.sqrtm((sa + off) @ (sb + off))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean.real))
