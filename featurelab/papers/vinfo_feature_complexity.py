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
* The paper contract (:mod:`featurelab.experiment`): :class:`Config`, :data:`PRESETS`, :func:`run` (:func:`run_seed`
  per network), :func:`claim_values`, :data:`CLAIMS`, :data:`SWAPS` (``featurelab calibrate vinfo_feature_complexity``).

What this notebook is: a demonstration of the *measure* on a small network trained to a meaningful accuracy
(≈ 0.75 on tinted Fashion-MNIST), with one asserted check (a planted pixel-level feature comes out simple) and the
paper's dynamics and importance findings reported, not asserted.

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

from featurelab.base import ParameterError, progress as progress_bar
from featurelab.claims import ClaimSpec
from featurelab.data import load_fashion_mnist
from featurelab.experiment import Knobs, Swap, knob
from featurelab.train import fit, make_optimizer

# ----------------------------------------------------------------------------------------------------------
# Configuration (the paper contract: featurelab.experiment)
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Knobs):
    """One scale of the experiment (the notebook's knobs are the upper-case names).

    ``tint_share``: fraction of images tinted with their own class's colour (the rest: a random class's);
    ``tint_strength``: the tint's amplitude ``s`` (0 removes the planted feature from the pixels — a swap);
    ``early_frac``: the early checkpoint as a fraction of all steps; ``k``: NMF concepts; ``alpha``: ridge penalty
    of the decoders (the family V); ``readout``: ``"all_blocks"`` (the paper's average over depth) or
    ``"last_block"`` (decodability from the penultimate block only — a swap).
    """

    n_train: int = knob(5000, lo=100, doc="training images")
    n_analysis: int = knob(2000, lo=100, doc="held-out images for NMF, probes and importance")
    size: int = knob(14, lo=4, hi=28, doc="image side")
    tint_share: float = knob(0.5, lo=0.0, hi=1.0, doc="share of images with their own class's tint")
    tint_strength: float = knob(1.0, lo=0.0, doc="amplitude of the planted tint (0 = no tint)")
    channels: tuple[int, ...] = knob((8, 16, 32, 32), lo=1, doc="channels of the 4 residual blocks")
    epochs: int = knob(8, lo=1)
    early_frac: float = knob(0.1, lo=0.0, hi=0.99, lo_open=True, doc="early checkpoint, fraction of all steps")
    k: int = knob(16, lo=2, doc="NMF concepts")
    alpha: float = knob(1.0, lo=0.0, lo_open=True, doc="ridge penalty of the decoders")
    n_seeds: int = knob(1, lo=1, doc="networks per run")
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    batch_size: int = knob(128, lo=1)
    readout: str = knob("all_blocks", choices=("all_blocks", "last_block"), doc="blocks the complexity averages")

    def validate(self) -> None:
        if len(self.channels) != 4:
            raise ParameterError(f"CHANNELS must list 4 block widths, got {self.channels}")
        if self.k > self.channels[-1]:
            raise ParameterError(f"K={self.k} must be at most the penultimate width {self.channels[-1]}")


PRESETS = {
    # 8 epochs (320 Adam steps): test accuracy ≈ 0.73–0.78; early checkpoint at 10 % (32 steps)
    "small": Config(),
    "full": Config(n_train=50000, n_analysis=5000, size=28, channels=(16, 32, 64, 128), epochs=10, k=32,
                   n_seeds=5),
}
SMOKE = {"epochs": 1, "n_train": 256, "n_analysis": 256, "n_seeds": 1}


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


@dataclass
class Result:
    """One :class:`SeedResult` per network (index it or iterate over it like a list)."""

    cfg: Config
    runs: list[SeedResult]

    def __getitem__(self, i: int) -> SeedResult:
        return self.runs[i]

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None
        ) -> Result:
    """:func:`run_seed` for every seed."""
    bar = progress_bar(seeds, desc="seeds", enabled=progress if len(seeds) > 1 else False)
    return Result(cfg, [run_seed(cfg, s, device, progress) for s in bar])


# ----------------------------------------------------------------------------------------------------------
# Claims and swaps
# ----------------------------------------------------------------------------------------------------------
def claim_values(result: Result) -> dict[str, list[float]]:
    """Per-seed values. Asserted: ``tint_margin`` = median K(final concepts) − K_φ (planted tint angle), with K
    averaged over the blocks ``cfg.readout`` says. Reported: ``delta_K`` (mean K final − early, the paper's "simple
    first"), ``spearman_K_importance``, ``K_tint``, ``median_K``, ``acc_early`` / ``acc_final``,
    ``max_tint_corr`` (best |correlation| of a final concept with φ)."""
    out: dict[str, list[float]] = {k: [] for k in ("tint_margin", "delta_K", "spearman_K_importance", "K_tint",
                                                   "median_K", "acc_early", "acc_final", "max_tint_corr")}
    last = result.cfg.readout == "last_block"
    for r in result:
        e, f = r.early, r.final
        k_f, k_e = (1 - f.vinfo[-1], 1 - e.vinfo[-1]) if last else (f.K, e.K)
        k_tint = 1 - f.vinfo_tint[-1] if last else f.K_tint
        out["tint_margin"].append(float(np.median(k_f) - k_tint))
        out["delta_K"].append(float(k_f.mean() - k_e.mean()))
        out["spearman_K_importance"].append(spearman(f.K, f.importance))
        out["K_tint"].append(float(k_tint))
        out["median_K"].append(float(np.median(k_f)))
        out["acc_early"].append(e.accuracy)
        out["acc_final"].append(f.accuracy)
        out["max_tint_corr"].append(float(np.abs(f.tint_corr).max()))
    return out


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("tint_simpler_than_concepts", "tint_margin", ">=", 0.10,
              "median K(final concepts) − K(planted tint angle): the measure calls a pixel-level feature simple",
              "colour-like features are among the simplest (Fig. 1, Sec. 3; qualitative, no number)"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("no_tint", {"tint_strength": 0.0}, ("tint_simpler_than_concepts",), "mechanism",
         "the tint is not planted in the pixels (φ still drawn and probed the same way)"),
    Swap("last_block_only", {"readout": "last_block"}, ("tint_simpler_than_concepts",), "mechanism",
         "complexity from the penultimate block's decodability only (no average over depth)"),
)
