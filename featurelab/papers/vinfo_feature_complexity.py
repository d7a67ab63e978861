"""Feature complexity as (lack of) linear decodability across depth — the V-information measure, small.

Fel, Béthune, Lampinen, Serre & Hermann, "Understanding Visual Feature Reliance through the Lens of
Complexity", NeurIPS 2024, arXiv:2407.06076. Used by
``notebooks/02_which_features/03_vinfo_feature_complexity.ipynb``.

The paper (Sec. 2–3) takes *features* to be directions in a network's penultimate layer, found with an
over-complete non-negative dictionary (CRAFT-style NMF: ``A ≈ Z D``, ``A ≥ 0`` post-ReLU activations,
codes ``Z ≥ 0``, atoms ``D ≥ 0``). A feature ``z`` is *simple* when it can already be read out, with a
restricted predictive family ``V`` (here: linear/ridge decoders), from early blocks of the network, and
*complex* when only the last blocks make it available. Its complexity is one minus the average over blocks
of the (normalised) V-information the block carries about ``z``::

    K(z) = 1 − (1/L) Σ_ℓ Ĩ_V(f_ℓ(x) → z)

What is here (shapes: ``N`` images, ``k`` concepts, ``L`` blocks, ``C_ℓ`` channels of block ℓ):

* :func:`tinted_fashion` — Fashion-MNIST at 14×14 with a planted, deliberately *simple* feature: a colour
  tint (angle φ, two channels) that equals the class's tint on a share of the images and a random class's
  tint on the rest.
* :class:`TinyResNet` — stem + 4 residual blocks; :meth:`TinyResNet.block_features` returns the globally
  average-pooled output of every block (the same pooling for all blocks, so no block wins by dimension).
* :func:`extract_concepts` — NMF on the penultimate (pooled block-4) activations → codes ``Z (N, k)``.
* :func:`ridge_r2` / :func:`vinfo_per_block` / :func:`complexity` — the measure.
* :func:`importance` — drop of the correct-class logit when a concept is replaced by its mean.
* :class:`Config`, :data:`PRESETS`, :func:`run_seed`, :func:`run` — the experiment; :func:`claim_values`,
  :data:`THRESHOLDS` — the calibrated checks (``results/calibration/vinfo_feature_complexity.md``).

Simplifications (named in the notebook): Ĩ_V is the bounded proxy ``max(0, R²_ℓ)`` of a ridge decoder scored
on held-out images (for a Gaussian-noise linear family ``I_V = ½ log(Var z / MSE)``; the paper's exact
normalisation was not verified); NMF with k = 16 instead of 10k features; importance by mean-ablation of the
linear head instead of the paper's attribution method.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.data import load_fashion_mnist
from featurelab.run import ParameterError
from featurelab.train import fit, make_optimizer
from featurelab.train import progress as progress_bar

__all__ = [
    "PRESETS",
    "THRESHOLDS",
    "Checkpoint",
    "Config",
    "SeedResult",
    "TinyResNet",
    "as_rgb",
    "claim_values",
    "complexity",
    "extract_concepts",
    "importance",
    "ridge_r2",
    "run",
    "run_seed",
    "spearman",
    "tint_angles",
    "tinted_fashion",
    "vinfo_per_block",
]


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One scale of the experiment.

    Attributes:
        n_train: training images (class-balanced). n_analysis: held-out images for NMF, probes, importance.
        size: image side (14 = the prototype's amended design).
        tint_share: fraction of images whose tint is their class's tint (the rest get a random class's tint).
        tint_strength: amplitude ``s`` of the tint (see :func:`tinted_fashion`).
        channels: output channels of the 4 residual blocks.
        epochs: training epochs; early_frac: the early checkpoint, as a fraction of all steps.
        k: NMF concepts. alpha: ridge penalty of the decoders (V family).
        n_seeds: networks per run (small: 1, claims per seed; full: several, claims on the mean).
        lr, batch_size: Adam settings.
    """

    n_train: int = 5000
    n_analysis: int = 2000
    size: int = 14
    tint_share: float = 0.5
    tint_strength: float = 1.0
    channels: tuple[int, ...] = (8, 16, 32, 32)
    epochs: int = 2
    early_frac: float = 0.1
    k: int = 16
    alpha: float = 1.0
    n_seeds: int = 1
    lr: float = 3e-3
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.n_train < 100 or self.n_analysis < 100:
            raise ParameterError(f"n_train and n_analysis must be ≥ 100, got {self.n_train}, {self.n_analysis}")
        if not 4 <= self.size <= 28:
            raise ParameterError(f"size must be in 4..28, got {self.size}")
        if not 0.0 <= self.tint_share <= 1.0:
            raise ParameterError(f"tint_share must be in [0, 1], got {self.tint_share}")
        if self.tint_strength < 0:
            raise ParameterError(f"tint_strength must be ≥ 0, got {self.tint_strength}")
        if len(self.channels) != 4 or any(c < 1 for c in self.channels):
            raise ParameterError(f"channels must be 4 positive ints, got {self.channels}")
        if self.epochs < 1:
            raise ParameterError(f"epochs must be ≥ 1, got {self.epochs}")
        if not 0.0 < self.early_frac < 1.0:
            raise ParameterError(f"early_frac must be in (0, 1), got {self.early_frac}")
        if not 2 <= self.k <= self.channels[-1]:
            raise ParameterError(f"k must be in 2..{self.channels[-1]} (penultimate width), got {self.k}")
        if self.alpha <= 0:
            raise ParameterError(f"alpha must be > 0, got {self.alpha}")
        if self.n_seeds < 1:
            raise ParameterError(f"n_seeds must be ≥ 1, got {self.n_seeds}")
        if self.lr <= 0 or self.batch_size < 1:
            raise ParameterError(f"lr must be > 0 and batch_size ≥ 1, got {self.lr}, {self.batch_size}")


PRESETS = {
    "small": Config(),
    "full": Config(n_train=50000, n_analysis=5000, size=28, channels=(16, 32, 64, 128), epochs=6, k=32,
                   n_seeds=5),
}


# ----------------------------------------------------------------------------------------------------------
# Data: Fashion-MNIST with a planted colour tint
# ----------------------------------------------------------------------------------------------------------
def tint_angles(n_classes: int = 10) -> Tensor:
    """The tint angle of each class, evenly spread over [0, π/2]: ``(n_classes,)``."""
    return torch.linspace(0.0, math.pi / 2, n_classes)


def tinted_fashion(x: Tensor, y: Tensor, share: float, generator: torch.Generator, strength: float = 1.0,
                   ) -> tuple[Tensor, Tensor]:
    """Tint grey images with a colour of angle φ: channel 0 = x + s·cos φ, channel 1 = x + s·sin φ.

    With probability ``share`` an image gets its own class's angle, otherwise the angle of a uniformly random
    class. So the tint is predictive but not sufficient, and it is trivially (linearly) readable from pixels.

    Args:
        x: ``(N, 1, H, W)`` grey images in [0, 1]. y: ``(N,)`` labels in 0..9.
        share: probability of the class's own tint. strength: ``s``, the tint's amplitude.

    Returns:
        ``(N, 2, H, W)`` tinted images and ``(N,)`` the angle φ used for each image.
    """
    n = x.shape[0]
    own = torch.rand(n, generator=generator) < share
    other = torch.randint(0, 10, (n,), generator=generator)
    phi = tint_angles()[torch.where(own, y, other)]
    tint = torch.stack([phi.cos(), phi.sin()], 1)[:, :, None, None]  # (N, 2, 1, 1)
    return x + strength * tint, phi


def as_rgb(x: Tensor) -> Tensor:
    """For display only: ``(N, 2, H, W)`` tinted images → ``(N, 3, H, W)`` RGB in [0, 1] (R, G = the two
    channels, B = their mean)."""
    x = x / x.amax().clamp_min(1e-6)
    return torch.cat([x, x.mean(1, keepdim=True)], 1).clamp(0, 1)


# ----------------------------------------------------------------------------------------------------------
# Model: a tiny ResNet whose every block output is pooled the same way
# ----------------------------------------------------------------------------------------------------------
class Block(nn.Module):
    """Residual block ``relu(x' + conv(relu(conv(x))))`` with ``x'`` a 1×1 projection when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Identity() if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.skip(x) + self.conv2(F.relu(self.conv1(x))))


class TinyResNet(nn.Module):
    """Stem conv → 4 residual blocks (strides 1, 2, 2, 1) → global average pool → linear head.

    ``x``: ``(N, 2, H, W)`` → logits ``(N, 10)``. The pooled block-4 output is the penultimate layer.
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 64), n_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(2, channels[0], 3, 1, 1)
        strides = (1, 2, 2, 1)
        c_in = channels[0]
        blocks = []
        for c, s in zip(channels, strides):
            blocks.append(Block(c_in, c, s))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(channels[-1], n_classes)

    def block_features(self, x: Tensor) -> list[Tensor]:
        """Globally average-pooled output of each block: a list of ``L = 4`` tensors ``(N, C_ℓ)``, all ≥ 0."""
        h = F.relu(self.stem(x))
        out = []
        for b in self.blocks:
            h = b(h)
            out.append(h.mean((2, 3)))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.block_features(x)[-1])


# ----------------------------------------------------------------------------------------------------------
# The measure (Sec. 2): concepts by NMF, V-information per block by held-out ridge decoding
# ----------------------------------------------------------------------------------------------------------
def extract_concepts(acts: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative dictionary of the penultimate activations (CRAFT-style NMF), ``A ≈ Z D``.

    Args:
        acts: ``(N, C)`` non-negative activations. k: number of concepts.

    Returns:
        ``Z (N, k)`` codes (the features whose complexity is measured) and ``D (k, C)`` atoms.
    """
    from sklearn.decomposition import NMF

    if (acts < 0).any():
        raise ParameterError("NMF needs non-negative activations (use post-ReLU outputs)")
    nmf = NMF(n_components=k, init="nndsvda", max_iter=200, random_state=seed)
    z = nmf.fit_transform(acts)
    return z, nmf.components_


def ridge_r2(feats: Tensor, z: Tensor, alpha: float = 1.0, split: float = 0.5) -> Tensor:
    """Held-out R² of ridge decoders of every column of ``z`` from ``feats`` (the predictive family V).

    Features are standardised with the fit half's statistics; fit on the first ``split`` of the rows,
    score on the rest. In-sample R² would make every feature look decodable.

    Args:
        feats: ``(N, C)`` block activations. z: ``(N, k)`` targets. alpha: ridge penalty.

    Returns:
        ``(k,)`` float64 R² on the held-out rows (can be negative for a useless decoder).
    """
    if feats.shape[0] != z.shape[0]:
        raise ParameterError(f"feats has {feats.shape[0]} rows but z has {z.shape[0]}")
    f = feats.double()
    t = z.double()
    n = int(split * f.shape[0])
    if n < 2 or f.shape[0] - n < 2:
        raise ParameterError(f"need at least 2 rows on each side of the split, got N={f.shape[0]}")
    mu, sd = f[:n].mean(0), f[:n].std(0).clamp_min(1e-6)
    f = (f - mu) / sd
    tm = t[:n].mean(0)
    a, b = f[:n], t[:n] - tm
    w = torch.linalg.solve(a.T @ a + alpha * torch.eye(a.shape[1], dtype=a.dtype), a.T @ b)
    pred = f[n:] @ w + tm
    resid = (t[n:] - pred).square().sum(0)
    total = (t[n:] - t[n:].mean(0)).square().sum(0).clamp_min(1e-12)
    return 1.0 - resid / total


def vinfo_per_block(blocks: list[Tensor], z: Tensor, alpha: float = 1.0) -> Tensor:
    """Normalised V-information proxy ``Ĩ_V(f_ℓ → z) = max(0, R²_ℓ)`` for every block and feature.

    Args:
        blocks: L tensors ``(N, C_ℓ)``. z: ``(N, k)``.

    Returns:
        ``(L, k)`` values in [0, 1].
    """
    return torch.stack([ridge_r2(f, z, alpha).clamp_min(0.0) for f in blocks])


def complexity(vinfo: Tensor) -> Tensor:
    """``K(z) = 1 − mean_ℓ Ĩ_V(f_ℓ → z)``: ``(L, k)`` → ``(k,)``. 0 = readable everywhere, 1 = nowhere."""
    return 1.0 - vinfo.mean(0)


def importance(z: np.ndarray, atoms: np.ndarray, head: nn.Linear, y: Tensor) -> np.ndarray:
    """Mean drop of the correct-class logit when concept ``j``'s code is replaced by its mean.

    Activations are re-synthesised as ``Z D``; the head is linear, so the drop for image ``i`` is
    ``(z_ij − z̄_j) · (D_j · W_{y_i})``.

    Args:
        z: ``(N, k)`` codes. atoms: ``(k, C)``. head: the network's ``Linear(C, classes)``. y: ``(N,)``.

    Returns:
        ``(k,)`` importance per concept.
    """
    w = head.weight.detach().cpu().double().numpy()  # (classes, C)
    proj = atoms @ w.T  # (k, classes)
    zc = z - z.mean(0, keepdims=True)
    return (zc * proj[:, y.cpu().numpy()].T).mean(0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two ``(k,)`` vectors."""
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


# ----------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    """The measure at one checkpoint. Shapes: ``vinfo (L, k)``, ``K (k,)``, ``importance (k,)``,
    ``vinfo_tint (L,)``; ``atoms (k, C)``; ``codes (N, k)``."""

    step: int
    accuracy: float
    vinfo: np.ndarray
    K: np.ndarray
    importance: np.ndarray
    vinfo_tint: np.ndarray
    K_tint: float
    tint_corr: np.ndarray
    atoms: np.ndarray
    codes: np.ndarray


@dataclass
class SeedResult:
    """One trained network: the early and final :class:`Checkpoint` and the analysis inputs for plots."""

    seed: int
    early: Checkpoint
    final: Checkpoint
    seconds: float
    x_analysis: Tensor = field(repr=False)
    phi_analysis: Tensor = field(repr=False)
    y_analysis: Tensor = field(repr=False)


def _measure(model: TinyResNet, x: Tensor, y: Tensor, phi: Tensor, cfg: Config, seed: int, step: int) -> Checkpoint:
    model.eval()
    with torch.no_grad():
        blocks = [b.cpu() for b in model.block_features(x)]
        acc = float((model.head(blocks[-1].to(x.device)).argmax(1) == y).float().mean())
    z, atoms = extract_concepts(blocks[-1].numpy().astype(np.float64), cfg.k, seed)
    vinfo = vinfo_per_block(blocks, torch.from_numpy(z), cfg.alpha)
    v_tint = vinfo_per_block(blocks, phi.cpu()[:, None], cfg.alpha)[:, 0]
    imp = importance(z, atoms, model.head, y)
    zc = (z - z.mean(0)) / (z.std(0) + 1e-12)
    pc = (phi.cpu().numpy() - phi.cpu().numpy().mean()) / (phi.cpu().numpy().std() + 1e-12)
    model.train()
    return Checkpoint(step, acc, vinfo.numpy(), complexity(vinfo).numpy(), imp, v_tint.numpy(),
                      float(complexity(v_tint[:, None])[0]), (zc * pc[:, None]).mean(0), atoms, z)


def run_seed(cfg: Config, seed: int, device: torch.device | str = "cpu", progress: bool | None = None) -> SeedResult:
    """Train one network on tinted Fashion-MNIST and measure feature complexity at the early and final
    checkpoints. Everything (data subset, tint draw, init, batch order, NMF) follows ``seed``."""
    t0 = time.perf_counter()
    data = load_fashion_mnist(cfg.n_train, cfg.n_analysis, size=cfg.size, seed=seed)
    g = torch.Generator().manual_seed(seed)
    xtr, _ = tinted_fashion(data.x_train, data.y_train, cfg.tint_share, g, cfg.tint_strength)
    xan, phi = tinted_fashion(data.x_test, data.y_test, cfg.tint_share, g, cfg.tint_strength)
    xtr, ytr = xtr.to(device), data.y_train.to(device)
    xan, yan = xan.to(device), data.y_test.to(device)
    torch.manual_seed(seed)
    model = TinyResNet(cfg.channels).to(device)
    opt = make_optimizer(model.parameters(), "adam", lr=cfg.lr)
    total = cfg.epochs * math.ceil(cfg.n_train / cfg.batch_size)
    early_steps = max(1, round(cfg.early_frac * total))
    fit(model, xtr, ytr, steps=early_steps, batch_size=cfg.batch_size, optimizer=opt, seed=seed,
        progress_bar=progress, desc=f"seed {seed}: to early ckpt")
    early = _measure(model, xan, yan, phi, cfg, seed, early_steps)
    fit(model, xtr, ytr, steps=total - early_steps, batch_size=cfg.batch_size, optimizer=opt, seed=seed + 1,
        progress_bar=progress, desc=f"seed {seed}: to final ckpt")
    final = _measure(model, xan, yan, phi, cfg, seed, total)
    return SeedResult(seed, early, final, time.perf_counter() - t0, xan.cpu(), phi.cpu(), yan.cpu())


def run(cfg: Config, seeds: list[int], device: torch.device | str = "cpu", progress: bool | None = None,
        ) -> list[SeedResult]:
    """:func:`run_seed` for every seed."""
    bar = progress_bar(seeds, desc="seeds", enabled=None if len(seeds) > 1 else False)
    return [run_seed(cfg, s, device, progress) for s in bar]


# ----------------------------------------------------------------------------------------------------------
# Claims (calibrated in results/calibration/vinfo_feature_complexity.md)
# ----------------------------------------------------------------------------------------------------------
THRESHOLDS = {"tint_margin": 0.10}
"""Asserted: ``tint_margin ≥ 0.10`` (min 0.197 over 12 seed sets). ``delta_K`` is reported only: it fell below
0.02 in 3 of 12 seed sets at scale small (calibration record)."""


def claim_values(results: list[SeedResult]) -> dict[str, list[float]]:
    """Per-seed values of the checks and of their baselines.

    * ``tint_margin`` = median(K of final concepts) − K_φ (planted tint angle): asserted ≥ 0.10.
    * ``delta_K`` = mean K(final concepts) − mean K(early concepts): reported (positive on average, not in
      every seed).
    * ``*_lastlayer``: the same quantities when V-information is read from the penultimate block only
      (the "decodable at the end" baseline with the across-depth average switched off).
    * ``spearman_K_importance``: reported only.
    """
    out: dict[str, list[float]] = {k: [] for k in ("tint_margin", "delta_K", "tint_margin_lastlayer",
                                                   "delta_K_lastlayer", "spearman_K_importance",
                                                   "K_tint", "median_K", "acc_early", "acc_final",
                                                   "max_tint_corr")}
    for r in results:
        e, f = r.early, r.final
        out["tint_margin"].append(float(np.median(f.K) - f.K_tint))
        out["delta_K"].append(float(f.K.mean() - e.K.mean()))
        last_f, last_e = 1 - f.vinfo[-1], 1 - e.vinfo[-1]
        out["tint_margin_lastlayer"].append(float(np.median(last_f) - (1 - f.vinfo_tint[-1])))
        out["delta_K_lastlayer"].append(float(last_f.mean() - last_e.mean()))
        out["spearman_K_importance"].append(spearman(f.K, f.importance))
        out["K_tint"].append(f.K_tint)
        out["median_K"].append(float(np.median(f.K)))
        out["acc_early"].append(e.accuracy)
        out["acc_final"].append(f.accuracy)
        out["max_tint_corr"].append(float(np.abs(f.tint_corr).max()))
    return out
