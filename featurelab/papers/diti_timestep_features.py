"""DiTi: diffusion time-steps as ordered feature prefixes, on toy shape-and-texture images.

Yue, Wang, Sun, Ji, Chang & Zhang, *Exploring Diffusion Time-steps for Unsupervised Representation Learning*,
ICLR 2024, arXiv:2401.11430. Official code: github.com/yue-zhongqi/diti. Used by
``notebooks/06_generative_features/03_diti_timestep_features.ipynb``.

**The idea (§3).** Forward diffusion ``x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`` erases attributes progressively: fine ones
(texture) are lost at small ``t``, coarse ones (shape) only at large ``t``. The paper measures the loss of an
attribute by how well the optimal classifier can still tell ``q(x_t | x_0)`` from ``q(x_t | y_0)`` for two images that
differ only in that attribute; for the Gaussian forward process this error is

    Err(x_0, y_0, t) = ½ erfc( √ᾱ_t ‖x_0 − y_0‖ / (2√2 √(1−ᾱ_t)) ),

which rises monotonically with ``t`` (our reading of §3 / Theorem 1: the closed form is the Bayes error of two
isotropic Gaussians with equal priors; the paper's exact typesetting not verified). :func:`attribute_err` computes
it on pairs from the generator and :func:`loss_time` reads off when it reaches ¼ (half-way to chance).

**The mechanism (§4, official ``gaussian_diffusion.pdae_timestep_loss``, mode ``base``; verified in the code).** An
encoder maps ``x_0`` to ``z ∈ R^d``, split into ``k`` ordered subsets. A shift decoder ``g_ψ`` must compensate the
reconstruction error of a **frozen** pre-trained DM ``ε_θ`` at time ``t`` while seeing only the cumulative prefix
``z ⊙ m_idx(t)`` (subsets ``1 … idx(t)``, ``idx(t) = int(t / (T/k))``):

    L = E_{x_0, t, ε} weight_t ‖ε − (ε_θ(x_t, t) + s_t · g_ψ(x_t, t, z ⊙ m_idx(t)))‖²,
    s_t = −√α_t (1 − ᾱ_{t−1}) / √(1 − ᾱ_t)  (PDAE's posterior-mean shift),   weight_t = SNR_t^0.1 / (1 + SNR_t).

A subset first visible at ``t`` should therefore hold the attributes newly lost at ``t``: early subsets fine
attributes, later ones coarse attributes. Decoding uses the official masked DDIM form
``ε̂ = ε_θ(x_t, t) − √(1−ᾱ_t) g_ψ(x_t, t, z ⊙ m)`` (:func:`decode`).

**Arms (``masking``).** ``diti`` (the paper); ``nested`` — nested dropout: the same prefix masks and the same
uniform distribution of prefix lengths, drawn independently of ``t`` (the swap that removes only the link to
diffusion time); ``full`` — PDAE, the whole code at every ``t`` (a reference: all subsets interchangeable);
``reversed`` — the prefix grows as ``t`` falls.

**What is measured.** Per seed: linear probes (standardised, L-BFGS logistic regression,
:mod:`featurelab.probes`) from each code subset to shape and to texture on held-out images; the card's
specialisation index ``SI = [acc_tex(early) − acc_tex(late)] + [acc_shape(late) − acc_shape(early)]`` with early =
the first and late = the last quarter of the subsets; the subsets where each probe peaks. Per run: the Err curves
and loss times of both attributes, and whether the frozen DM can render each attribute — the accuracy of
clean-image readers (shape: linear probe on pixels; texture: linear probe on the pattern energies
:func:`texture_energy`) on the DM's one-step reconstruction ``x̂_0(x_t)``.

**What is asserted** (design note ``results/calibration/notes/diti_timestep_features.md``):
``late_subsets_keep_shape`` — the mean shape-probe accuracy on the second half of the subsets is ≥ 0.80. Nested
dropout, which keeps the prefix masks but unties them from time, packs shape into the first subset and leaves the
later ones near 0.6–0.7, the level of the same encoder untrained (the sceptic's random features, ≈ 0.7); both
must break the claim. PDAE and the reversed map are reported: both also keep shape in the later subsets, so the
claim shows only that tying the prefix to time removes nested dropout's packing-to-the-front, **not** the paper's
fine-first / coarse-last order. That order (SI ≥ 0.20) does not hold across seeds at this scale: SI ranges from
about −0.13 to +0.21 and texture is readable from every subset (reported, not asserted).

**Simplifications for scale (named).** 16×16 grey images with three shapes (coarse) and three 2-px patterns
(fine) plus position and size nuisances, 4,000 training / 1,000 test images per seed; the frozen DM is the kit's
:class:`featurelab.diffusion.MLPDenoiser` (width 256, 2 blocks, ≈ 0.44 M parameters, 3,000 Adam steps, one DM for
all seeds like a public checkpoint, cached and committable); an MLP encoder (z ∈ R^32, k = 4 subsets of 8) and an
MLP shift decoder trained 1,200 Adam steps (lr 1e-3, batch 128) instead of the paper's U-Nets, latent 512, k = 64
and the CelebA stage allocation; uniform subset↔t map (the official default); no EMA; no SSL term (the official
``ssl_weight`` is 0).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cache
from .. import diffusion as D
from ..base import ParameterError
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..probes import fit_linear_probe, probe_accuracy, standardize
from ..train import fit

SHAPES = ("disc", "square", "triangle")
TEXTURES = ("vertical", "horizontal", "checker")
SIZE = 16
DIM = SIZE * SIZE
MASKINGS = ("diti", "nested", "full", "reversed")
SCHEDULE_T = 1000


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names."""

    contrast: float = knob(0.12, lo=0.0, hi=1.0, lo_open=True, doc="texture amplitude (stripe contrast)")
    shape_contrast: float = knob(1.0, lo=0.0, hi=1.8, lo_open=True, doc="shape brightness above the background")
    n_train: int = knob(4000, lo=64, doc="training images")
    n_test: int = knob(1000, lo=64, doc="test images")
    dm_hidden: int = knob(256, lo=8, doc="frozen DM width")
    dm_depth: int = knob(2, lo=1, hi=8, doc="frozen DM residual blocks")
    dm_steps: int = knob(3000, lo=1, doc="frozen DM training steps")
    dm_seed: int = knob(0, lo=0, doc="seed of the pre-trained DM (one frozen model, like a public checkpoint)")
    z_dim: int = knob(32, lo=2, doc="code size d")
    k: int = knob(4, lo=2, doc="number of ordered code subsets")
    masking: str = knob("diti", choices=MASKINGS, doc="how the visible prefix is chosen")
    dec_hidden: int = knob(256, lo=8, doc="shift decoder width")
    steps: int = knob(1200, lo=0, doc="encoder/decoder training steps (0 = untrained encoder)")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(1e-3, lo=0.0, lo_open=True)
    ddim_steps: int = knob(20, lo=1, hi=1000, doc="DDIM steps of the counterfactual decode")
    n_pairs: int = knob(200, lo=1, doc="counterfactual pairs")
    n_seeds: int = knob(1, lo=1, doc="DiTi models (seeds) per run")

    def validate(self) -> None:
        if self.z_dim % self.k:
            raise ParameterError(f"Z_DIM={self.z_dim} must be divisible by K={self.k} (equal subsets)")
        if self.k < 4:
            raise ParameterError(f"K={self.k} must be ≥ 4 (two early and two late subsets are probed)")

    def dm(self) -> dict:
        return {"hidden": self.dm_hidden, "depth": self.dm_depth, "steps": self.dm_steps,
                "contrast": self.contrast, "shape_contrast": self.shape_contrast, "n_train": self.n_train}


PRESETS = {
    "small": Config(),
    "full": Config(n_train=20000, n_test=4000, dm_steps=20000, steps=8000, n_seeds=3, n_pairs=1000),
}
SMOKE = {"n_train": 128, "n_test": 128, "dm_steps": 2, "steps": 2, "ddim_steps": 2, "n_pairs": 8, "n_seeds": 1}


def schedule() -> D.Schedule:
    """DDPM's linear schedule, T = 1000 (Ho et al. 2020 §4; the official configs use it too)."""
    return D.linear_schedule(SCHEDULE_T)


# ----------------------------------------------------------------------------------------------------- data
def render(shape: Tensor, texture: Tensor, dx: Tensor, dy: Tensor, scale: Tensor, phase: Tensor,
           contrast: float, shape_contrast: float = 1.0) -> Tensor:
    """``(N, 256)`` images in [−1, 1]: background −0.8, the shape filled with 0.2 + contrast · pattern.

    ``shape`` / ``texture`` ``(N,)`` class indices, ``dx, dy`` integer shifts, ``scale`` size factors, ``phase``
    0/1 pattern phase. Patterns have a 2-px period: vertical stripes (−1)^(x+φ), horizontal (−1)^(y+φ), checker
    (−1)^(x+y+φ)."""
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32),
                            indexing="ij")
    xs, ys = xs[None], ys[None]
    cx, cy = (7.5 + dx.float())[:, None, None], (7.5 + dy.float())[:, None, None]
    r = (5.5 * scale.float())[:, None, None]
    disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= r ** 2
    square = ((xs - cx).abs() <= 0.85 * r) & ((ys - cy).abs() <= 0.85 * r)
    top, bot = cy - 1.1 * r, cy + 0.8 * r
    tri = (ys <= bot) & (ys >= top) & ((xs - cx).abs() <= 1.25 * r * (ys - top) / (bot - top))
    s = shape[:, None, None]
    inside = torch.where(s == 0, disc, torch.where(s == 1, square, tri))
    xi, yi = xs.long(), ys.long()
    ph = phase[:, None, None].long()
    par = torch.stack([(xi + ph) % 2, (yi + ph) % 2, (xi + yi + ph) % 2])          # (3, N, S, S)
    pat = 1.0 - 2.0 * par.gather(0, texture[None, :, None, None].expand(1, -1, SIZE, SIZE))[0].float()
    img = torch.where(inside, -0.8 + shape_contrast + contrast * pat, torch.full_like(pat, -0.8))
    return img.reshape(-1, DIM)


@dataclass
class Data:
    """Images ``(N, 256)`` in [−1, 1] with their factors (``(N,)`` each)."""

    x: Tensor
    shape: Tensor
    texture: Tensor
    factors: dict


def sample_factors(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"shape": torch.randint(0, 3, (n,), generator=g), "texture": torch.randint(0, 3, (n,), generator=g),
            "dx": torch.randint(-1, 2, (n,), generator=g), "dy": torch.randint(-1, 2, (n,), generator=g),
            "scale": 0.85 + 0.25 * torch.rand(n, generator=g), "phase": torch.zeros(n, dtype=torch.long)}


def make_data(n: int, seed: int, contrast: float, shape_contrast: float = 1.0) -> Data:
    f = sample_factors(n, seed)
    return Data(render(contrast=contrast, shape_contrast=shape_contrast, **f), f["shape"], f["texture"], f)


def attribute_pairs(n: int, seed: int, contrast: float, attribute: str, shape_contrast: float = 1.0
                    ) -> tuple[Tensor, Tensor]:
    """``n`` image pairs ``(x0, y0)`` that differ only in ``attribute`` (another class, all else equal)."""
    f = sample_factors(n, seed)
    g = torch.Generator().manual_seed(seed + 1)
    other = dict(f)
    other[attribute] = (f[attribute] + torch.randint(1, 3, (n,), generator=g)) % 3
    return (render(contrast=contrast, shape_contrast=shape_contrast, **f),
            render(contrast=contrast, shape_contrast=shape_contrast, **other))


def attribute_err(x0: Tensor, y0: Tensor, sched: D.Schedule, ts: Tensor) -> Tensor:
    """The paper's attribute-loss measure (§3): the error of the optimal classifier telling ``q(x_t | x0)`` from
    ``q(x_t | y0)``, two Gaussians ``N(√ᾱ_t x, (1−ᾱ_t) I)``: ``Err = ½ erfc(√ᾱ_t ‖x0 − y0‖ / (2√2 √(1−ᾱ_t)))``.
    ``(P, D)`` pairs, ``ts`` ``(M,)`` → ``(M,)`` mean over pairs (0 = attribute intact, ½ = lost)."""
    d = (x0 - y0).norm(dim=1)                                              # (P,)
    ab = sched.alpha_bar[ts][:, None]
    return 0.5 * torch.erfc(ab.sqrt() * d[None] / (2 * math.sqrt(2) * (1 - ab).sqrt())).mean(1)


def loss_time(err: Tensor, ts: Tensor, level: float = 0.25) -> int:
    """The first ``t`` where the mean ``Err`` reaches ``level`` (half-way to chance ½)."""
    hit = (err >= level).nonzero()
    return int(ts[hit[0, 0]]) if len(hit) else int(ts[-1])


# -------------------------------------------------------------------------------------------- frozen DM
def train_dm(cfg: Config, progress: bool | None = None, device: torch.device | str = "cpu"
             ) -> tuple[nn.Module, cache.CacheInfo]:
    """The pre-trained unconditional ε-denoiser (DDPM loss), trained once on its own images and frozen."""
    seed = cfg.dm_seed

    def build() -> nn.Module:
        torch.manual_seed(seed)
        return D.MLPDenoiser(DIM, 0, hidden=cfg.dm_hidden, depth=cfg.dm_depth, emb_dim=64)

    def train(m: nn.Module) -> dict:
        d = make_data(cfg.n_train, 777_000 + seed, cfg.contrast, cfg.shape_contrast)
        dev = next(m.parameters()).device
        loss = functools.partial(D.epsilon_loss, schedule=schedule(), generator=torch.Generator().manual_seed(seed + 1))
        x = d.x.to(dev)
        hist = fit(m, x, torch.zeros(len(x), device=dev), steps=cfg.dm_steps, batch_size=cfg.batch_size, lr=2e-3,
                   batch_loss=lambda mm, xb, yb: loss(mm, xb, None), seed=seed, progress_bar=progress,
                   desc="pre-trained DM")
        return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}

    model, info = cache.load_or_train("diti_dm", cfg.dm(), seed, build, train, version=1, device=device,
                                      commit=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, info


# ---------------------------------------------------------------------------------------------- DiTi
def shift_coef(sched: D.Schedule) -> Tensor:
    """PDAE's posterior-mean shift ``s_t = −√α_t (1 − ᾱ_{t−1}) / √(1 − ᾱ_t)`` (ᾱ_{−1} = 1), ``(T,)``."""
    ab_prev = torch.cat([torch.ones(1), sched.alpha_bar[:-1]])
    return -sched.alphas.sqrt() * (1 - ab_prev) / (1 - sched.alpha_bar).sqrt()


def loss_weight(sched: D.Schedule, gamma: float = 0.1) -> Tensor:
    """``weight_t = SNR_t^γ / (1 + SNR_t)``, ``SNR_t = ᾱ_t / (1 − ᾱ_t)``, γ = 0.1 (official code), ``(T,)``."""
    snr = sched.alpha_bar / (1 - sched.alpha_bar)
    return snr ** gamma / (1 + snr)


def prefix_masks(k: int, z_dim: int) -> Tensor:
    """``(k, z_dim)``: row ``i`` keeps the subsets ``0 … i`` (cumulative prefix, official ``masks``)."""
    sub = torch.arange(z_dim) // (z_dim // k)
    return (sub[None] <= torch.arange(k)[:, None]).float()


def subset_index(t: Tensor, T: int, k: int) -> Tensor:
    """``int(t / (T / k))``: the last visible subset at time-step ``t`` (uniform map, official default)."""
    return (t.float() / (float(T) / k)).long().clamp(0, k - 1)


def visible_index(t: Tensor, T: int, k: int, masking: str, generator: torch.Generator | None = None) -> Tensor:
    """The prefix length (last visible subset) used with each ``t``:

    - ``diti``: tied to time, ``int(t/(T/k))`` (the paper);
    - ``nested``: nested dropout — drawn uniformly from ``0 … k−1`` independently of ``t`` (the same distribution
      of prefix lengths as ``diti`` under uniform ``t``, the link to time removed);
    - ``full``: always ``k−1``, the whole code at every ``t`` (PDAE);
    - ``reversed``: ``k−1−int(t/(T/k))``, the prefix grows as ``t`` falls (time direction reversed).
    """
    if masking == "diti":
        return subset_index(t, T, k)
    if masking == "nested":
        return torch.randint(0, k, t.shape, generator=generator).to(t.device)
    if masking == "full":
        return torch.full_like(t, k - 1)
    if masking == "reversed":
        return k - 1 - subset_index(t, T, k)
    raise ParameterError(f"masking must be one of {', '.join(MASKINGS)}, got {masking!r}")


class Encoder(nn.Module):
    """``x_0`` ``(N, 256)`` → ``z`` ``(N, z_dim)``: three 3×3 convs (16 → 32 → 32 channels, two stride-2) + linear."""

    def __init__(self, z_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(DIM, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, z_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ShiftDecoder(nn.Module):
    """``g_ψ(x_t, t, z ⊙ m)`` → ``(N, 256)``: an MLP on ``[x_t, z ⊙ m]`` with a time embedding added."""

    def __init__(self, z_dim: int, hidden: int, emb_dim: int = 64):
        super().__init__()
        self.emb_dim = emb_dim
        self.inp = nn.Linear(DIM + z_dim, hidden)
        self.time = nn.Sequential(nn.Linear(emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.net = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, DIM))

    def forward(self, x_t: Tensor, t: Tensor, zm: Tensor) -> Tensor:
        return self.net(self.inp(torch.cat([x_t, zm], 1)) + self.time(D.timestep_embedding(t, self.emb_dim)))


class DiTi(nn.Module):
    """The trainable pair (encoder, shift decoder); the frozen DM is held outside."""

    def __init__(self, z_dim: int, k: int, hidden: int):
        super().__init__()
        self.k = k
        self.encoder = Encoder(z_dim)
        self.decoder = ShiftDecoder(z_dim, hidden)
        self.register_buffer("masks", prefix_masks(k, z_dim))


def diti_loss(model: DiTi, x0: Tensor, dm: nn.Module, sched: D.Schedule, masking: str = "diti",
              generator: torch.Generator | None = None) -> Tensor:
    """One batch of the DiTi objective (official ``pdae_timestep_loss``, mode ``base``):

        L = E_{x0, t, ε} weight_t ‖ε − (ε_θ(x_t, t) + s_t · g_ψ(x_t, t, z ⊙ m_idx(t)))‖²,  z = E(x0),

    with the frozen DM ``ε_θ``, the PDAE shift ``s_t`` (:func:`shift_coef`), ``weight_t`` (:func:`loss_weight`) and
    the prefix mask chosen by :func:`visible_index`."""
    n = x0.shape[0]
    t = torch.randint(0, sched.T, (n,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    x_t = sched.q_sample(x0, t, noise)
    with torch.no_grad():
        eps = dm(x_t, t)
    z = model.encoder(x0)
    idx = visible_index(t, sched.T, model.k, masking, generator)
    g = model.decoder(x_t, t, z * model.masks[idx])
    s = shift_coef(sched).to(x0.device)[t][:, None]
    w = loss_weight(sched).to(x0.device)[t][:, None]
    return (w * (noise - (eps + s * g)) ** 2).mean()


def train_diti(cfg: Config, seed: int, data: Data, dm: nn.Module, progress: bool | None = None,
               device: torch.device | str = "cpu") -> DiTi:
    torch.manual_seed(seed)
    model = DiTi(cfg.z_dim, cfg.k, cfg.dec_hidden).to(device)
    loss = functools.partial(diti_loss, dm=dm, sched=schedule(), masking=cfg.masking,
                             generator=torch.Generator().manual_seed(seed + 1))
    x = data.x.to(device)
    if cfg.steps > 0:
        fit(model, x, torch.zeros(len(x), device=device), steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
            batch_loss=lambda m, xb, yb: loss(m, xb), seed=seed, progress_bar=progress, desc=f"DiTi {cfg.masking}")
    model.eval()
    return model


@torch.no_grad()
def encode(model: DiTi, x: Tensor) -> Tensor:
    return model.encoder(x)


# --------------------------------------------------------------------------------------------- probes
def group_probe(z_tr: Tensor, y_tr: Tensor, z_te: Tensor, y_te: Tensor, groups: list[list[int]], sub: int
                ) -> Tensor:
    """Test accuracy of a linear probe on each group of subsets (each group the same number of subsets)."""
    cols = [torch.cat([torch.arange(s * sub, (s + 1) * sub) for s in g]) for g in groups]
    tr = torch.stack([z_tr[:, c] for c in cols])
    te = torch.stack([z_te[:, c] for c in cols])
    tr, te = standardize(tr, te)
    p = fit_linear_probe(tr, y_tr[None].expand(len(groups), -1), n_classes=3)
    return probe_accuracy(p, te, y_te)


def specialisation(tex_early: float, tex_late: float, shape_early: float, shape_late: float) -> float:
    """``SI = [acc_tex(early) − acc_tex(late)] + [acc_shape(late) − acc_shape(early)]``."""
    return (tex_early - tex_late) + (shape_late - shape_early)


def texture_energy(x: Tensor) -> Tensor:
    """``(N, 256)`` → ``(N, 3)``: ``|⟨x, p⟩|`` for the three 2-px patterns (phase-free texture read-out)."""
    ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    pats = torch.stack([xs % 2, ys % 2, (xs + ys) % 2]).reshape(3, DIM).float() * 2 - 1
    return (x @ pats.T.to(x.device)).abs()


class Reader:
    """Attribute classifiers fitted on clean training images: shape = linear probe on pixels, texture = linear
    probe on :func:`texture_energy`. ``__call__(x, attribute)`` → predicted classes ``(N,)``."""

    def __init__(self, x: Tensor, shape: Tensor, texture: Tensor):
        self.shape_stats = x
        self.tex_stats = texture_energy(x)
        xs, = standardize(x)
        xt, = standardize(self.tex_stats)
        self.p_shape = fit_linear_probe(xs, shape, n_classes=3)
        self.p_tex = fit_linear_probe(xt, texture, n_classes=3)

    @torch.no_grad()
    def __call__(self, x: Tensor, attribute: str) -> Tensor:
        if attribute == "shape":
            _, f = standardize(self.shape_stats, x)
            return self.p_shape.logits(f)[0].argmax(-1)
        _, f = standardize(self.tex_stats, texture_energy(x))
        return self.p_tex.logits(f)[0].argmax(-1)


# --------------------------------------------------------------------------------------------- decoding
@torch.no_grad()
def decode(model: DiTi, dm: nn.Module, x_start: Tensor, t_start: int, z: Tensor, sched: D.Schedule, *,
           steps: int = 20, masking: str = "diti", n_visible: int | None = None) -> Tensor:
    """Masked DDIM (η = 0, ``x̂_0`` clipped to [−1, 1]) from ``x_start`` at ``t_start`` down to 0, following the
    official sampler ``ε̂ = ε_θ(x_t, t) − √(1−ᾱ_t) · g_ψ(x_t, t, z ⊙ m)``; ``m`` is the prefix the training used at
    ``t`` (``diti``/``reversed``: the time map; ``nested``/``full``: the whole code), cut to the first
    ``n_visible`` subsets when given."""
    T, k = sched.T, model.k
    ts = [t for t in D.ddim_timesteps(T, max(2, round(steps * T / max(t_start, 1)))) if t <= t_start]
    ts = sorted(set(ts) | {t_start}, reverse=True)
    ab = sched.alpha_bar
    x = x_start.clone()
    for j, i in enumerate(ts):
        t = torch.full((x.shape[0],), i, dtype=torch.long, device=x.device)
        idx = subset_index(t, T, k) if masking in ("diti",) else (
            k - 1 - subset_index(t, T, k) if masking == "reversed" else torch.full_like(t, k - 1))
        if n_visible is not None:
            idx = idx.clamp(max=n_visible - 1)
        e = dm(x, t) - (1 - ab[i]).sqrt() * model.decoder(x, t, z * model.masks[idx])
        x0 = ((x - (1 - ab[i]).sqrt() * e) / ab[i].sqrt()).clamp(-1, 1)
        e = (x - ab[i].sqrt() * x0) / (1 - ab[i]).sqrt()
        ab_prev = ab[ts[j + 1]] if j + 1 < len(ts) else torch.tensor(1.0)
        x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * e
    return x


# ---------------------------------------------------------------------------------------------- the run
ERR_TS = tuple(range(0, SCHEDULE_T, 25))
READ_TS = (0, 50, 100, 200, 300, 400, 600, 800)


@dataclass
class Seed:
    """Everything one seed measured. Accuracies in [0, 1]; ``tex_acc`` / ``shape_acc`` ``(k,)`` per code subset."""

    seed: int
    model: DiTi
    data: Data
    test: Data
    z_train: Tensor
    z_test: Tensor
    tex_acc: np.ndarray
    shape_acc: np.ndarray
    si: float
    late_shape: float
    early_tex: float
    peak_tex: int
    peak_shape: int
    seconds: float


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[Seed]
    dm: nn.Module
    dm_source: str
    err_ts: Tensor
    err: dict            # attribute -> (len(ERR_TS),) mean Err over pairs
    loss_times: dict     # attribute -> first t with Err ≥ 0.25
    readable: dict       # attribute -> [(t, accuracy of the reader on the frozen DM's x̂_0(x_t))]
    reader: Reader
    seconds: float

    def values(self, key: str) -> list[float]:
        return [float(getattr(s, key)) for s in self.per_seed]


@torch.no_grad()
def dm_readability(dm: nn.Module, reader: Reader, test: Data, sched: D.Schedule, seed: int,
                   ts: tuple[int, ...] = READ_TS) -> dict:
    """Accuracy of the clean-image readers on the frozen DM's one-step reconstruction ``x̂_0(x_t)``, per ``t``."""
    out: dict = {"texture": [], "shape": []}
    dev = next(dm.parameters()).device
    for t in ts:
        tt = torch.full((len(test.x),), t, device=dev)
        noise = torch.randn(test.x.shape, generator=torch.Generator().manual_seed(seed + t)).to(dev)
        x_t = sched.q_sample(test.x.to(dev), tt, noise)
        x0 = sched.predict_x0(x_t, tt, dm(x_t, tt)).clamp(-1, 1).cpu()
        for att in out:
            out[att].append((t, float((reader(x0, att) == getattr(test, att)).float().mean())))
    return out


def subset_probes(z_tr: Tensor, d_tr: Data, z_te: Tensor, d_te: Data, k: int) -> tuple[np.ndarray, np.ndarray]:
    sub = z_tr.shape[1] // k
    per = [[i] for i in range(k)]
    tex = group_probe(z_tr, d_tr.texture, z_te, d_te.texture, per, sub).numpy()
    shp = group_probe(z_tr, d_tr.shape, z_te, d_te.shape, per, sub).numpy()
    return tex, shp


def run_seed(cfg: Config, seed: int, dm: nn.Module, *, device: torch.device | str = "cpu",
             progress: bool | None = None) -> Seed:
    """Train DiTi (or the swapped masking) for ``seed`` on its own images; probe every code subset."""
    t0 = time.perf_counter()
    data = make_data(cfg.n_train, seed, cfg.contrast, cfg.shape_contrast)
    test = make_data(cfg.n_test, seed + 500_000, cfg.contrast, cfg.shape_contrast)
    model = train_diti(cfg, seed, data, dm, progress, device)
    z_tr, z_te = encode(model, data.x.to(device)).cpu(), encode(model, test.x.to(device)).cpu()
    tex, shp = subset_probes(z_tr, data, z_te, test, cfg.k)
    q = max(1, cfg.k // 4)
    early, late = list(range(q)), list(range(cfg.k - q, cfg.k))
    sub = cfg.z_dim // cfg.k
    g_t = group_probe(z_tr, data.texture, z_te, test.texture, [early, late], sub)
    g_s = group_probe(z_tr, data.shape, z_te, test.shape, [early, late], sub)
    si = specialisation(float(g_t[0]), float(g_t[1]), float(g_s[0]), float(g_s[1]))
    late_shape = float(shp[cfg.k // 2:].mean())
    early_tex = float(tex[:cfg.k // 2].mean())
    return Seed(seed, model.cpu(), data, test, z_tr, z_te, tex, shp, si, late_shape, early_tex,
                int(tex.argmax()), int(shp.argmax()), time.perf_counter() - t0)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None
        ) -> Result:
    """Load (or train once) the frozen DM; measure the attribute-loss curves (Err) and what the DM can render;
    then, for every seed, train the encoder and shift decoder with ``cfg.masking`` and probe each code subset."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    sched = schedule()
    dm, info = train_dm(cfg, progress, device)
    ts = torch.tensor(ERR_TS)
    err, times = {}, {}
    for att in ("texture", "shape"):
        a, b = attribute_pairs(500, 4242, cfg.contrast, att, cfg.shape_contrast)
        err[att] = attribute_err(a, b, sched, ts)
        times[att] = loss_time(err[att], ts)
    ref = make_data(2000, 4343, cfg.contrast, cfg.shape_contrast)
    reader = Reader(ref.x, ref.shape, ref.texture)
    readable = dm_readability(dm, reader, make_data(500, 4444, cfg.contrast, cfg.shape_contrast), sched, 4545)
    per = [run_seed(cfg, s, dm, device=device, progress=progress) for s in seeds]
    return Result(cfg, seeds, per, dm, info.source, ts, err, times, readable, reader, time.perf_counter() - t0)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed probe summaries (the claims take their mean over the run's seeds)."""
    tex50 = dict(res.readable["texture"]).get(50, float("nan"))
    return {
        "late_shape": res.values("late_shape"),
        "si": res.values("si"),
        "early_tex": res.values("early_tex"),
        "order": [float(s.peak_shape - s.peak_tex) for s in res.per_seed],
        "dm_texture_t50": tex50,
        "tex_loss_time": float(res.loss_times["texture"]),
        "shape_loss_time": float(res.loss_times["shape"]),
    }


_PAPER = ("no number to compare: the paper reports attribute-classification AP on CelebA / FFHQ / Bedroom (Table values "
          "not verified) and no code-subset probe; its qualitative claim (§4, Fig. 2): early subsets hold fine, "
          "later subsets coarse attributes")

CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("late_subsets_keep_shape", "late_shape", ">=", 0.80,
              "mean test accuracy of linear probes for the coarse attribute (shape, 3 classes, chance 1/3) on each "
              "code subset of the second half (subsets used only at t ≥ T/2)", _PAPER),
)

SWAPS: tuple[Swap, ...] = (
    Swap("nested_dropout", {"masking": "nested"}, ("late_subsets_keep_shape",), "mechanism",
         "the same prefix masks and the same distribution of prefix lengths, drawn independently of t: the link "
         "between the visible prefix and diffusion time removed, all else equal"),
    Swap("pdae_full_code", {"masking": "full"}, (), "baseline",
         "PDAE: the whole code at every t (no masks); reported as the reference, breaks nothing by design"),
    Swap("untrained_encoder", {"steps": 0}, ("late_subsets_keep_shape",), "baseline",
         "the sceptic's random features: the same encoder at its initialisation (no training), probed alike"),
    Swap("reversed_time_map", {"masking": "reversed"}, (), "mechanism",
         "the prefix grows as t falls (subset index k−1−int(t/(T/k))): time-tied masks in the wrong direction; "
         "reported"),
)
