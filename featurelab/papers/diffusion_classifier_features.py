"""A frozen diffusion denoiser as a feature extractor for a linear probe.

Mukhopadhyay, Gwilliam, Agarwal, Padmanabhan, Swaminathan, Hegde, Zhou & Shrivastava, *Diffusion Models Beat GANs
on Image Classification*, preprint 2023, arXiv:2307.08702 (superseded by arXiv:2311.17921). Official code:
github.com/soumik-kanad/diffssl. Used by ``notebooks/06_generative_features/02_diffusion_classifier_features.ipynb``.

**The mechanism (§3).** A diffusion model trained only to predict noise (DDPM, Ho et al. 2020, eq. 4 and 14),

    x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε,        L = E_{t, ε} ‖ε − ε_θ(x_t, t)‖²,

is frozen. To read an image ``x_0``: noise it to a chosen timestep ``t`` with one draw ``ε``, run one forward
pass of the network, take the activation ``h_b(x_t, t)`` of block ``b``, pool it (official probe: adaptive
average pooling to 2×2), and train a light head — linear, MLP, CNN or attention — on the frozen features with
labels. Which ``(b, t)`` is read matters (the paper's Fig. 1 ablations use block 24 at t = 90; the official
``linear.sh`` uses t = 150, block 24, pre-pool 2×2 on the guided-diffusion 256×256 unconditional checkpoint).

**What this module measures.** One *unconditional* ε-denoiser per seed — the course kit's
:class:`featurelab.diffusion.MLPDenoiser` (width 256, 2 residual blocks, ≈ 0.4 M parameters), trained on 10,000
Fashion-MNIST training images at 14×14 with no labels at all, DDPM linear schedule (T = 1000), 2,000 Adam steps —
read at ``t = probe_t`` through one fixed noise draw per image that every readout shares. Readouts, each probed by
the same linear probe (standardised features, ridge classifier, its penalty chosen per readout by leave-one-out
on the probe's own training images — so every arm is tuned alike):

- ``x_t``: the noisy pixels themselves (the reference the claim is measured against);
- ``denoiser``: the network's own estimate of the clean image (``featurelab.diffusion.Schedule.predict_x0``),
  ``x̂_0 = (x_t − √(1−ᾱ_t) ε_θ(x_t, t)) / √ᾱ_t`` — the method's readout;
- ``random_init``: the same ``x̂_0`` from the identical network before training (same initialisation);
- ``wiener``: the sceptic's non-learned denoiser, the posterior mean of ``x_0`` under a Gaussian prior fitted to
  the same clean training images, ``μ + Σ (Σ + σ_t² I)⁻¹ (x_t/√ᾱ_t − μ)`` with ``σ_t² = (1 − ᾱ_t)/ᾱ_t``;
- ``pca``: the sceptic's other one, ``x_t/√ᾱ_t`` projected on the top ``pca_k`` principal components of the clean
  images;
- ``noisy_pixels``: ``x_t`` again with an *independent* noise draw (the noise null);
- and, reported only, the hidden activations (``block0``, ``block1``) of the trained and the untrained network.

**What is asserted.** ``denoised_beats_noisy``: at ``t = 250`` (``√ᾱ_t ≈ 0.72``, signal and noise of about equal
power) the probe on the trained denoiser's ``x̂_0`` beats the probe on ``x_t`` by ≥ 0.03 (mean over the run's
seeds). Swaps that must break it: the untrained network (mechanism), ``x_t`` on independent noise (null), and the
sceptic's two non-learned denoisers, Wiener and PCA (baselines): on prototype seeds they gain only 0.01–0.02 over
``x_t`` where the trained ``x̂_0`` gains 0.04–0.05 (design note
``results/calibration/notes/diffusion_classifier_features.md``). At heavier noise (``t = 500``) the non-learned
denoisers win — reported, not asserted. Not asserted, because they do not hold here: that hidden features of the
trained network beat those of the untrained one, and that accuracy peaks at a middle ``t`` (with the probe refitted
at each ``t``, clean input ``t = 0`` is best for every readout).

**Simplifications for scale (named).** The asserted readout is the denoiser's *output* ``x̂_0``, not the paper's
U-Net intermediate blocks: a U-Net diffusion model does not train inside the CPU budget (a 14→7 U-Net takes
≈ 0.2 s per step on one thread), and the MLP's hidden blocks are reported instead. Fashion-MNIST 14×14 instead of
ImageNet 256×256; an unconditional MLP ε-denoiser (no EMA, no learned variance) instead of the guided-diffusion
U-Net; 2,000 probe-training images and the whole 10,000-image test split; a closed-form ridge probe with leave-one-out penalty instead of
a softmax linear head trained with SGD for 28 epochs; no pooling (the MLP's features are vectors); one fixed noise
draw per image (the official code draws fresh noise on every call; a fixed draw keeps all arms paired); no GAN
comparison (the paper's "beats BigBiGAN" has no arm at this budget).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from .. import cache
from .. import diffusion as D
from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import balanced_indices, load_fashion_mnist
from ..experiment import Knobs, Swap, knob
from ..train import fit

READOUTS = ("denoiser", "random_init", "wiener", "pca", "noisy_pixels")
PIXEL_ARMS = ("x_t", "denoiser", "random_init", "wiener", "pca")
HIDDEN_ARMS = ("block0", "block1", "random block0", "random block1")
N_CLASSES = 10
SCHEDULE_T = 1000
ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 11))     # ridge penalties tried by leave-one-out


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        image_size: side of the images (14 at small, 28 at full). n_train: clean images the denoiser trains on
            (class-balanced, drawn by seed; labels never used). n_probe: of those, the probe's training images.
            n_test: test images (class-balanced, from the official test split, drawn by seed).
        hidden, depth, emb_dim: the MLP ε-denoiser. steps, batch_size, lr: its Adam training.
        probe_t: the timestep the claim reads. sweep_ts: more timesteps probed for the report (not asserted).
        readout: what stands in the method's place — ``denoiser`` (the trained network's x̂_0), ``random_init``
            (the untrained network's x̂_0), ``wiener`` / ``pca`` (non-learned denoisers), ``noisy_pixels``
            (x_t on independent noise: the null).
        pca_k: components kept by the PCA denoiser. n_seeds: denoisers (seeds) per run.
    """

    image_size: int = knob(14, choices=(14, 28), doc="image side")
    n_train: int = knob(10_000, lo=100, hi=60_000, doc="clean images the denoiser trains on")
    n_probe: int = knob(2000, lo=50, doc="probe training images (a subset of the denoiser's)")
    n_test: int = knob(10_000, lo=50, hi=10_000, doc="test images")
    hidden: int = knob(256, lo=8, doc="denoiser width")
    depth: int = knob(2, lo=2, hi=8, doc="residual blocks")
    emb_dim: int = knob(64, lo=4, doc="time embedding width")
    steps: int = knob(2000, lo=1, doc="denoiser training steps")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    probe_t: int = knob(250, lo=0, hi=SCHEDULE_T - 1, doc="timestep the claim reads")
    sweep_ts: tuple = knob((0, 25, 100, 500), lo=0, hi=SCHEDULE_T - 1, doc="extra timesteps probed (reported)")
    readout: str = knob("denoiser", choices=READOUTS, doc="readout in the method's place")
    pca_k: int = knob(20, lo=1, doc="principal components kept by the PCA denoiser")
    n_seeds: int = knob(1, lo=1, doc="denoisers (seeds) per run")

    def validate(self) -> None:
        if self.n_probe > self.n_train:
            raise ParameterError(f"N_PROBE={self.n_probe} must not exceed N_TRAIN={self.n_train}")
        if self.pca_k > self.image_size ** 2:
            raise ParameterError(f"PCA_K={self.pca_k} must not exceed the {self.image_size ** 2} pixels")

    @property
    def dim(self) -> int:
        return self.image_size ** 2

    def denoiser(self) -> dict:
        """The settings a denoiser depends on (its cache key)."""
        keys = ("image_size", "n_train", "hidden", "depth", "emb_dim", "steps", "batch_size", "lr")
        return {k: getattr(self, k) for k in keys}


PRESETS = {
    "small": Config(),
    "full": Config(image_size=28, n_train=60_000, n_probe=10_000, n_test=10_000, hidden=1024, depth=3, emb_dim=128,
                   steps=30_000, sweep_ts=(0, 25, 50, 100, 500), n_seeds=3),
}
SMOKE = {"n_train": 300, "n_probe": 200, "n_test": 100, "steps": 2, "sweep_ts": (0,), "n_seeds": 1}


def schedule() -> D.Schedule:
    """DDPM's linear schedule, T = 1000 (Ho et al. 2020 §4), as the guided-diffusion checkpoint uses."""
    return D.linear_schedule(SCHEDULE_T)


# ----------------------------------------------------------------------------------------------- data
@dataclass
class Data:
    """Fashion-MNIST flattened, pixels in [−1, 1]: ``x_train`` ``(n_train, d)`` (the first ``n_probe`` rows are the
    probe's training images), ``x_test`` ``(n_test, d)``; labels ``(N,)``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_data(cfg: Config, seed: int) -> Data:
    """Class-balanced random subsets (drawn by ``seed``) of the official train and test splits."""
    full = load_fashion_mnist(size=cfg.image_size)
    tr = torch.as_tensor(balanced_indices(full.y_train.numpy(), cfg.n_train, seed=seed))
    te = torch.as_tensor(balanced_indices(full.y_test.numpy(), cfg.n_test, seed=seed + 1))

    def flat(x: Tensor) -> Tensor:
        return x.reshape(len(x), -1) * 2 - 1

    return Data(flat(full.x_train[tr]), full.y_train[tr], flat(full.x_test[te]), full.y_test[te])


# ----------------------------------------------------------------------------------------------- the denoiser
def build_denoiser(cfg: Config) -> nn.Module:
    """The unconditional MLP ε-denoiser (``n_classes = 0``: it never sees a label)."""
    return D.MLPDenoiser(cfg.dim, 0, hidden=cfg.hidden, depth=cfg.depth, emb_dim=cfg.emb_dim)


def untrained(cfg: Config, seed: int) -> nn.Module:
    """The denoiser's exact initialisation for ``seed`` (the ``random_init`` arm)."""
    torch.manual_seed(seed)
    return build_denoiser(cfg).eval()


def denoiser(cfg: Config, seed: int, data: Data | None = None, progress: bool | None = None,
             refresh: bool = False, device: torch.device | str = "cpu") -> tuple[nn.Module, cache.CacheInfo]:
    """The trained denoiser for ``seed``: the simple DDPM loss (:func:`featurelab.diffusion.epsilon_loss`) through
    :func:`featurelab.train.fit`, cached (and served from the committed-model store for the default seeds)."""
    def build() -> nn.Module:
        return untrained(cfg, seed).train()

    def train(m: nn.Module) -> dict:
        d = data if data is not None else load_data(cfg, seed)
        dev = next(m.parameters()).device
        loss = functools.partial(D.epsilon_loss, schedule=schedule(), generator=torch.Generator().manual_seed(seed + 1))
        no_labels = torch.zeros(len(d.x_train), dtype=torch.long, device=dev)    # the denoiser never sees labels
        hist = fit(m, d.x_train.to(dev), no_labels, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                   batch_loss=loss, seed=seed, progress_bar=progress, desc=f"denoiser (seed {seed})")
        return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}

    model, info = cache.load_or_train("dcf_denoiser", cfg.denoiser(), seed, build, train, version=1, refresh=refresh,
                                      device=device, commit=True)
    return model.eval(), info


# ----------------------------------------------------------------------------------------------- readouts
@torch.no_grad()
def read(model: nn.Module, x0: Tensor, t: int, noise: Tensor, sched: D.Schedule) -> dict[str, Tensor]:
    """One forward pass at timestep ``t`` on ``x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε`` (``noise`` = ε, ``(N, d)``).

    Returns ``{"x_t", "x0_hat", "block0", "block1", ...}``: the noisy input, the network's estimate of the clean
    image ``x̂_0 = (x_t − √(1−ᾱ_t) ε_θ(x_t, t)) / √ᾱ_t`` and every block's activation ``(N, hidden)``."""
    model.eval()
    dev = next(model.parameters()).device
    x0, noise = x0.to(dev), noise.to(dev)
    tt = torch.full((len(x0),), t, dtype=torch.long, device=dev)
    x_t = sched.q_sample(x0, tt, noise)
    feats = model.features(x_t, tt, None)
    eps = model(x_t, tt, None)
    return {"x_t": x_t.cpu(), "x0_hat": sched.predict_x0(x_t, tt, eps).cpu(), **{k: v.cpu() for k, v in feats.items()}}


@dataclass
class GaussianPrior:
    """Mean ``μ`` ``(d,)`` and covariance eigen-decomposition (``evals`` ``(d,)`` ascending, ``evecs`` ``(d, d)``)
    of clean training images: the sceptic's non-learned denoisers."""

    mu: Tensor
    evals: Tensor
    evecs: Tensor

    @classmethod
    def fit(cls, x: Tensor) -> "GaussianPrior":
        x = x.double()
        mu = x.mean(0)
        evals, evecs = torch.linalg.eigh(torch.cov((x - mu).T))
        return cls(mu, evals.clamp_min(0), evecs)

    def wiener(self, x_t: Tensor, alpha_bar: float) -> Tensor:
        """``E[x_0 | x_t]`` when ``x_0 ~ N(μ, Σ)``: ``μ + Σ (Σ + σ² I)⁻¹ (x_t/√ᾱ − μ)``, ``σ² = (1 − ᾱ)/ᾱ``."""
        s2 = (1 - alpha_bar) / alpha_bar
        gain = self.evecs @ torch.diag(self.evals / (self.evals + s2)) @ self.evecs.T
        return (self.mu + (x_t.double() / alpha_bar ** 0.5 - self.mu) @ gain).float()

    def pca(self, x_t: Tensor, alpha_bar: float, k: int) -> Tensor:
        """``x_t/√ᾱ`` projected on the top ``k`` principal components (through ``μ``)."""
        u = self.evecs[:, -k:]
        return (self.mu + (x_t.double() / alpha_bar ** 0.5 - self.mu) @ u @ u.T).float()


# ----------------------------------------------------------------------------------------------- the probe
def probe_accuracy(f_train: Tensor, y_train: Tensor, f_test: Tensor, y_test: Tensor) -> float:
    """Test accuracy of the linear probe: per-feature standardisation (training statistics), then a ridge
    classifier on one-hot targets with its penalty chosen from :data:`ALPHAS` by exact leave-one-out on the
    training features (scikit-learn's ``RidgeClassifierCV``)."""
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=ALPHAS))
    clf.fit(f_train.double().numpy(), y_train.numpy())
    return float(clf.score(f_test.double().numpy(), y_test.numpy()))


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class Seed:
    """One denoiser's probe accuracies: ``acc[t][arm]`` for every probed timestep and readout (pixel-space arms
    :data:`PIXEL_ARMS`, hidden arms :data:`HIDDEN_ARMS`, and ``"noisy_pixels"`` at ``probe_t``); ``arm`` is the
    accuracy of the readout in the method's place at ``probe_t``, ``x_t`` that of the noisy pixels there."""

    seed: int
    acc: dict[int, dict[str, float]]
    arm: float
    x_t: float
    data: Data
    model: nn.Module
    prior: GaussianPrior
    source: str
    final_loss: float = float("nan")


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[Seed]
    seconds_train: float
    seconds_eval: float
    timesteps: list[int] = field(default_factory=list)

    def curve(self, arm: str) -> np.ndarray:
        """``(n_seeds, n_timesteps)`` accuracy of ``arm`` over :attr:`timesteps`."""
        return np.array([[sd.acc[t][arm] for t in self.timesteps] for sd in self.per_seed])


def _noise(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def probe_timestep(model: nn.Module, rand: nn.Module, prior: GaussianPrior, data: Data, cfg: Config, t: int,
                   noise_tr: Tensor, noise_te: Tensor, sched: D.Schedule) -> dict[str, float]:
    """Accuracy of every readout at timestep ``t`` (same noise draw for all of them)."""
    n = cfg.n_probe
    x_tr, y_tr = data.x_train[:n], data.y_train[:n]
    trained = (read(model, x_tr, t, noise_tr, sched), read(model, data.x_test, t, noise_te, sched))
    random = (read(rand, x_tr, t, noise_tr, sched), read(rand, data.x_test, t, noise_te, sched))
    ab = float(sched.alpha_bar[t])
    feats = {
        "x_t": (trained[0]["x_t"], trained[1]["x_t"]),
        "denoiser": (trained[0]["x0_hat"], trained[1]["x0_hat"]),
        "random_init": (random[0]["x0_hat"], random[1]["x0_hat"]),
        "wiener": (prior.wiener(trained[0]["x_t"], ab), prior.wiener(trained[1]["x_t"], ab)),
        "pca": (prior.pca(trained[0]["x_t"], ab, cfg.pca_k), prior.pca(trained[1]["x_t"], ab, cfg.pca_k)),
    }
    for b in ("block0", "block1"):
        feats[b] = (trained[0][b], trained[1][b])
        feats["random " + b] = (random[0][b], random[1][b])
    return {k: probe_accuracy(a, y_tr, b, data.y_test) for k, (a, b) in feats.items()}


def run_seed(cfg: Config, seed: int, *, device: torch.device | str = "cpu", progress: bool | None = None,
             refresh: bool = False) -> tuple[Seed, float, float]:
    """Train (or load) the denoiser for ``seed`` and probe every readout at ``probe_t`` and ``sweep_ts``."""
    t0 = time.perf_counter()
    data = load_data(cfg, seed)
    model, info = denoiser(cfg, seed, data, progress=progress, refresh=refresh, device=device)
    t1 = time.perf_counter()
    rand = untrained(cfg, seed).to(next(model.parameters()).device)
    prior = GaussianPrior.fit(data.x_train)
    sched = schedule()
    noise_tr, noise_te = _noise((cfg.n_probe, cfg.dim), seed + 5), _noise((cfg.n_test, cfg.dim), seed + 6)
    acc = {}
    for t in sorted({cfg.probe_t, *cfg.sweep_ts}):
        acc[t] = probe_timestep(model, rand, prior, data, cfg, t, noise_tr, noise_te, sched)
    # the noise null: the noisy pixels again, on an independent draw
    ab = float(sched.alpha_bar[cfg.probe_t])
    n = cfg.n_probe
    null_tr = ab ** 0.5 * data.x_train[:n] + (1 - ab) ** 0.5 * _noise((n, cfg.dim), seed + 7)
    null_te = ab ** 0.5 * data.x_test + (1 - ab) ** 0.5 * _noise((cfg.n_test, cfg.dim), seed + 8)
    acc[cfg.probe_t]["noisy_pixels"] = probe_accuracy(null_tr, data.y_train[:n], null_te, data.y_test)
    at = acc[cfg.probe_t]
    sd = Seed(seed, acc, at[cfg.readout], at["x_t"], data, model, prior, info.source,
              float((info.meta or {}).get("final_loss", float("nan"))))
    return sd, t1 - t0, time.perf_counter() - t1


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        refresh: bool = False) -> Result:
    """One denoiser per seed; every readout probed at ``probe_t`` and at ``sweep_ts``."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    per, tt, te = [], 0.0, 0.0
    for s in seeds:
        sd, a, b = run_seed(cfg, s, device=device, progress=progress, refresh=refresh)
        per.append(sd)
        tt, te = tt + a, te + b
    return Result(cfg, seeds, per, tt, te, sorted(per[0].acc))


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed gain of the readout in the method's place over the noisy pixels at ``probe_t``, plus reported
    values (means over seeds)."""
    t = res.cfg.probe_t

    def mean(arm: str, tt: int = t) -> float:
        return float(np.mean([sd.acc[tt][arm] for sd in res.per_seed]))

    best = {a: float(np.mean([max(sd.acc[tt][a] for tt in res.timesteps) for sd in res.per_seed]))
            for a in PIXEL_ARMS + HIDDEN_ARMS}
    return {
        "denoise_gain": [sd.arm - sd.x_t for sd in res.per_seed],
        "readout_acc": float(np.mean([sd.arm for sd in res.per_seed])),
        "x_t_acc": mean("x_t"),
        "denoiser_minus_wiener": mean("denoiser") - mean("wiener"),
        "denoiser_minus_pca": mean("denoiser") - mean("pca"),
        "trained_minus_random_hidden": max(best["block0"], best["block1"])
        - max(best["random block0"], best["random block1"]),
        "best_t_denoiser": float(np.mean([max(res.timesteps, key=lambda tt: sd.acc[tt]["denoiser"])
                                          for sd in res.per_seed])),
    }


_PAPER = ("not comparable: ImageNet top-1 of the attention head on guided-diffusion U-Net features 71.89 % "
          "(third-party summary of arXiv:2307.08702; not verified in the paper text); the paper reports no "
          "x_t-pixel baseline")

CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("denoised_beats_noisy", "denoise_gain", ">=", 0.03,
              "linear-probe accuracy on the trained denoiser's x̂_0 minus that on the noisy pixels x_t, at t = 250 "
              "(same noise draw, same probe tuned per readout)", _PAPER),
)

SWAPS: tuple[Swap, ...] = (
    Swap("random_init", {"readout": "random_init"}, ("denoised_beats_noisy",), "mechanism",
         "x̂_0 of the identical network before training (same initialisation, noise and probe): diffusion "
         "training removed"),
    Swap("noise_null", {"readout": "noisy_pixels"}, ("denoised_beats_noisy",), "null",
         "the noisy pixels on an independent noise draw in x̂_0's place: x_t against x_t"),
    Swap("wiener_denoiser", {"readout": "wiener"}, ("denoised_beats_noisy",), "baseline",
         "the sceptic: the Gaussian-prior posterior mean (Wiener filter) fitted to the same clean images, no "
         "training, in x̂_0's place"),
    Swap("pca_denoiser", {"readout": "pca"}, ("denoised_beats_noisy",), "baseline",
         "the sceptic: projection of x_t/√ᾱ_t on the top 20 principal components of the clean images in x̂_0's place"),
)
