"""One small diffusion model in the four roles of the generative/discriminative taxonomy.

Liu, Zhou, Wang, …, Qiao & Shen, *Towards the Unification of Generative and Discriminative Visual Foundation
Models: A Survey*, survey preprint 2023, arXiv:2312.10163. Used by
``notebooks/06_generative_features/01_generative_discriminative_unification.ipynb``.

**The survey.** It sorts visual foundation models into *generative* ones, which model ``p(x)`` or ``p(x | c)``
(GANs, VAEs, autoregressive and above all diffusion models), and *discriminative* ones, which model ``p(y | x)`` or
embeddings (CLIP-style contrastive models, SAM-like segmenters), and names their confluence as the key direction:
generative models used in discriminative contexts (their features, generative classifiers) and discriminative
models that guide or judge generation (abstract). A survey reports no experiments of its own: there is no number
of the paper to reproduce. This module makes the two-way taxonomy hands-on with **one** class-conditional
denoiser used in four roles. Every role rests on one identity: a conditional denoiser estimates the score,

    ∇_x log p_t(x | c) ≈ −ε_θ(x_t, t, c) / √(1 − ᾱ_t),

so the same weights can sample, and — by Bayes' rule with a uniform class prior, the per-class denoising error
being (up to constants) the ELBO's estimate of ``−log p(x | c)`` — classify.

1. **Generate** (generative): class-conditional DDIM samples with classifier-free guidance (Ho & Salimans 2022),
   ``ε̂ = ε_θ(x_t, t, ∅) + s · (ε_θ(x_t, t, c) − ε_θ(x_t, t, ∅))`` with ``s = 2`` (:func:`featurelab.diffusion.epsilon_fn`;
   ``s = 1`` is plain conditional sampling, ``s = 0`` the null class), judged by an independent evaluator
   (logistic regression fitted on real training pixels).
2. **Classify** (generative → discriminative; Li et al. 2023, Alg. 1): ``ŷ = argmin_c mean_i ‖ε_i − ε_θ(x_{t_i},
   t_i, c)‖²`` over ``n_trials`` pairs ``(t_i, ε_i)`` shared by the ten real classes (never the null class), ``t``
   uniform on ``[t_min, t_max]``, plain MSE (no ELBO weights) — :func:`featurelab.diffusion.diffusion_errors` keeps every draw (so accuracy
   against the number of draws is free) and :func:`featurelab.diffusion.diffusion_classifier` averages them. No classifier head is trained, but the denoiser
   did see the labels.
3. **Represent** (features): a linear probe on the denoiser's last block at ``t = probe_t`` with the null label
   (:func:`featurelab.diffusion.noisy_features`), beside the same probe on raw pixels. Reported, not asserted.
4. **Guide** (discriminative → generative; Dhariwal & Nichol 2021, Alg. 2): the null-class model steered by a
   separately trained *noise-aware* classifier ``p_φ(y | x_t, t)``: ``ε̂ = ε_θ(x_t, t, ∅) − s √(1−ᾱ_t)
   ∇_{x_t} log p_φ(y | x_t, t)`` (:func:`featurelab.diffusion.classifier_grad`). Reported, not asserted.

**What is asserted** (one denoiser per seed): the zero-shot diffusion classifier reaches ≥ 0.90 test accuracy and
beats the *same* network trained on labels permuted across images (trained in every run, same seed, steps and
draws) by ≥ 0.70; its CFG samples are recognised by the independent evaluator as the requested digit ≥ 0.90 of the
time, ≥ 0.70 more often than the null-class samples (independent noise), and the network's own diffusion
classifier agrees with the evaluator on those samples ≥ 0.90 of the time ("one model, two roles"). The sceptic's
baselines — QDA and logistic regression on raw pixels, on the same split — are reported beside it and QDA is a
calibration arm: a classical generative classifier does the classification job as well (design note
``results/calibration/notes/generative_discriminative_unification.md``).

Simplifications for scale (named): scikit-learn's 8×8 digits (1,437 train / 360 test, stratified by seed, pixels
mapped to [−1, 1]) instead of web-scale images; an MLP ε-denoiser (:class:`featurelab.diffusion.MLPDenoiser`, width
192, 2 residual blocks, ~0.2 M parameters) trained with plain Adam through :func:`featurelab.train.fit` (no EMA, no
learning-rate schedule) for 1,000 steps; DDPM linear schedule, T = 1000; 50-step DDIM with ``x̂_0`` clipped to
[−1, 1]; label dropout 10 %. Trained networks are cached (:mod:`featurelab.cache`).
"""

from __future__ import annotations

import functools
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
from ..data import Split, to_unit
from ..data import load_digits_signed as load_data
from ..experiment import Knobs, Swap, knob
from ..train import fit

LABELS = ("true", "shuffled")
CLASSIFIERS = ("diffusion", "qda")
N_CLASSES = 10
DIM = 64


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        hidden, depth, emb_dim: the MLP denoiser (width, residual blocks, time/class embedding width).
        steps, batch_size, lr: training with Adam (:func:`featurelab.train.fit`). p_uncond: label dropout (CFG).
        labels: ``true`` (the method) or ``shuffled`` (the training labels permuted across images: the control).
        n_trials: (t, ε) draws per test image of the diffusion classifier. t_min, t_max: the range t is drawn from.
        n_test: test digits scored (≤ 360). classifier: ``diffusion`` (the method) or ``qda`` (the sceptic's
            Gaussian generative classifier on raw pixels in its place).
        cfg_scale: s of classifier-free guidance (1 = conditional, 0 = null class). samples_per_class: CFG samples
            per digit. ddim_steps: sampler steps.
        probe_t: noise level of the feature probe. guide_steps: training steps of the noise-aware classifier
            (0 = no classifier guidance). guide_scale: its guidance scale.
        n_seeds: denoisers (seeds) per run.
    """

    hidden: int = knob(192, lo=8, doc="denoiser width")
    depth: int = knob(2, lo=1, hi=8, doc="residual blocks")
    emb_dim: int = knob(64, lo=4, doc="time/class embedding width")
    steps: int = knob(1000, lo=1, doc="denoiser training steps")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    p_uncond: float = knob(0.1, lo=0.0, hi=1.0, doc="label dropout for classifier-free guidance")
    labels: str = knob("true", choices=LABELS, doc="training labels")
    n_trials: int = knob(32, lo=1, hi=256, doc="(t, ε) draws per image of the diffusion classifier")
    t_min: int = knob(50, lo=0, hi=999, doc="smallest timestep of the diffusion classifier")
    t_max: int = knob(500, lo=0, hi=999, doc="largest timestep of the diffusion classifier")
    n_test: int = knob(360, lo=10, hi=360, doc="test digits scored")
    classifier: str = knob("diffusion", choices=CLASSIFIERS, doc="what classifies the test digits")
    cfg_scale: float = knob(2.0, lo=0.0, hi=20.0, doc="classifier-free guidance scale s (1 = conditional)")
    samples_per_class: int = knob(30, lo=1, hi=500, doc="generated digits per class")
    ddim_steps: int = knob(50, lo=1, hi=1000, doc="DDIM sampler steps")
    probe_t: int = knob(50, lo=0, hi=999, doc="noise level of the feature probe")
    guide_steps: int = knob(1000, lo=0, doc="training steps of the noise-aware guiding classifier (0 = none)")
    guide_scale: float = knob(2.0, lo=0.0, hi=100.0, doc="classifier-guidance scale")
    n_seeds: int = knob(1, lo=1, doc="denoisers (seeds) per run")

    def validate(self) -> None:
        if self.t_min > self.t_max:
            raise ParameterError(f"T_MIN={self.t_min} must not exceed T_MAX={self.t_max}")

    def denoiser(self) -> dict:
        """The settings a denoiser depends on (the cache key, without the labels)."""
        keys = ("hidden", "depth", "emb_dim", "steps", "batch_size", "lr", "p_uncond")
        return {k: getattr(self, k) for k in keys}


PRESETS = {
    "small": Config(),
    "full": Config(hidden=512, depth=3, emb_dim=128, steps=20_000, n_trials=64, samples_per_class=200,
                   guide_steps=5000, n_seeds=3),
}
SMOKE = {"steps": 3, "guide_steps": 3, "n_trials": 2, "n_test": 20, "samples_per_class": 2, "ddim_steps": 2,
         "n_seeds": 1}

SCHEDULE_T = 1000


def schedule() -> D.Schedule:
    """DDPM's linear schedule, T = 1000 (Ho et al. 2020 §4)."""
    return D.linear_schedule(SCHEDULE_T)


# ----------------------------------------------------------------------------------------------- data
def shuffled_labels(y: Tensor, seed: int) -> Tensor:
    """The labels permuted across images (same class counts, no image–label pairing)."""
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


# ----------------------------------------------------------------------------------------------- the denoiser
def train_denoiser(model: nn.Module, x: Tensor, y: Tensor, cfg: Config, seed: int,
                   progress: bool | None = None) -> dict:
    """The simple DDPM loss with label dropout (:func:`featurelab.diffusion.epsilon_loss`) through the course's fit."""
    loss = functools.partial(D.epsilon_loss, schedule=schedule(), p_uncond=cfg.p_uncond,
                             generator=torch.Generator().manual_seed(seed + 1))
    hist = fit(model, x, y, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, batch_loss=loss, seed=seed,
               progress_bar=progress, desc=f"denoiser (seed {seed})")
    return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}


def denoiser(cfg: Config, seed: int, labels: str = "true", perm: int = 0, data: Split | None = None,
             progress: bool | None = None, refresh: bool = False,
             device: torch.device | str = "cpu") -> tuple[nn.Module, cache.CacheInfo]:
    """The class-conditional MLP denoiser for ``seed`` from the model cache (trained when missing).

    ``labels="shuffled"`` trains the identical network (same initialisation, batches and noise draws) on the labels
    permuted across images with permutation number ``perm``; the run's control uses ``perm = 0``, the
    ``shuffled_labels`` swap puts ``perm = 1`` in the method's place (an independent permutation).
    """
    if labels not in LABELS:
        raise ParameterError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}")

    def build() -> nn.Module:
        torch.manual_seed(seed)
        return D.MLPDenoiser(DIM, N_CLASSES, hidden=cfg.hidden, depth=cfg.depth, emb_dim=cfg.emb_dim)

    def train(m: nn.Module) -> dict:
        d = data if data is not None else load_data(seed)
        y = d.y_train if labels == "true" else shuffled_labels(d.y_train, 7919 * (perm + 1) + seed)
        dev = next(m.parameters()).device
        return train_denoiser(m, d.x_train.to(dev), y.to(dev), cfg, seed, progress)

    key = dict(cfg.denoiser(), labels=labels, perm=perm if labels == "shuffled" else 0)
    model, info = cache.load_or_train("gdu_denoiser", key, seed, build, train, version=1, refresh=refresh,
                                      device=device)
    model.eval()
    return model, info


# ----------------------------------------------------------------------------------------------- role 2: classify
@torch.no_grad()
def accuracy_vs_draws(errors: Tensor, y: Tensor, draws: tuple[int, ...]) -> list[float]:
    """Accuracy of the arg-min mean error over the first ``k`` draws, for each ``k`` in ``draws``."""
    return [float((errors[:, :k].mean(1).argmin(1) == y).float().mean()) for k in draws]


# ----------------------------------------------------------------------------------------------- role 1: generate
def _device(model: nn.Module) -> torch.device:
    """Where the model's parameters live (CPU for a parameter-free model)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def generate(model: nn.Module, y: Tensor | None, cfg_scale: float, sched: D.Schedule, *, steps: int,
             seed: int, n: int | None = None) -> Tensor:
    """``(N, 64)`` DDIM samples (η = 0, ``x̂_0`` clipped to [−1, 1]) following ``ε̂ = ε_∅ + s (ε_c − ε_∅)``;
    ``y = None`` samples the null class (``n`` of them). ``seed`` draws ``x_T``."""
    n = len(y) if y is not None else n
    dev = _device(model)
    x_T = torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed)).to(dev)
    eps = D.epsilon_fn(model, y, cfg_scale=cfg_scale) if y is not None and cfg_scale != 0 else D.epsilon_fn(model, None)
    return D.ddim_sample(eps, (n, DIM), sched, steps=steps, x_T=x_T, clip=1.0)


def requested_labels(samples_per_class: int) -> Tensor:
    """``(10·n,)`` labels ``0…0, 1…1, …``: the digit each generated sample is asked to be."""
    return torch.arange(N_CLASSES).repeat_interleave(samples_per_class)


# ----------------------------------------------------------------------------------------------- role 4: guide
class NoisyClassifier(nn.Module):
    """``p_φ(y | x_t, t)``: an MLP on ``[x_t, e(t)]`` → logits ``(N, 10)``, trained on noised digits (noise-aware,
    as classifier guidance needs; Dhariwal & Nichol 2021 §4)."""

    def __init__(self, dim: int = DIM, n_classes: int = N_CLASSES, hidden: int = 128, emb_dim: int = 32):
        super().__init__()
        self.emb_dim = emb_dim
        self.net = nn.Sequential(nn.Linear(dim + emb_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, n_classes))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        return self.net(torch.cat([x, D.timestep_embedding(t, self.emb_dim)], -1))


def noisy_ce_loss(model: nn.Module, x0: Tensor, y: Tensor, sched: D.Schedule,
                  generator: torch.Generator | None = None) -> Tensor:
    """Cross-entropy of ``p_φ(y | x_t, t)`` with ``t`` uniform and fresh noise per batch."""
    t = torch.randint(0, sched.T, (x0.shape[0],), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    return F.cross_entropy(model(sched.q_sample(x0, t, noise), t), y)


def guide_classifier(cfg: Config, seed: int, data: Split, progress: bool | None = None,
                     device: torch.device | str = "cpu") -> nn.Module:
    """The noise-aware classifier for classifier guidance, trained on the true labels (cached)."""
    def build() -> nn.Module:
        torch.manual_seed(seed + 3)
        return NoisyClassifier()

    def train(m: nn.Module) -> dict:
        loss = functools.partial(noisy_ce_loss, sched=schedule(), generator=torch.Generator().manual_seed(seed + 4))
        dev = next(m.parameters()).device
        hist = fit(m, data.x_train.to(dev), data.y_train.to(dev), steps=cfg.guide_steps, batch_size=cfg.batch_size,
                   lr=cfg.lr, batch_loss=loss, seed=seed + 3, progress_bar=progress, desc="guiding classifier")
        return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}

    model, _ = cache.load_or_train("gdu_noisy_classifier", {"steps": cfg.guide_steps, "batch_size": cfg.batch_size,
                                                           "lr": cfg.lr}, seed, build, train, version=1, device=device)
    model.eval()
    return model


@torch.no_grad()
def classifier_guided(model: nn.Module, clf: nn.Module, y: Tensor, scale: float, sched: D.Schedule, *, steps: int,
                      seed: int) -> Tensor:
    """Null-class DDIM samples steered towards ``y`` by ``∇ log p_φ(y | x_t, t)``:
    ``ε̂ = ε_θ(x_t, t, ∅) − scale · √(1−ᾱ_t) ∇_{x_t} log p_φ(y | x_t, t)``."""
    dev = _device(model)
    x_T = torch.randn(len(y), DIM, generator=torch.Generator().manual_seed(seed)).to(dev)
    eps = D.epsilon_fn(model, None, grad_fn=D.classifier_grad(clf, y), grad_scale=scale, schedule=sched)
    return D.ddim_sample(eps, (len(y), DIM), sched, steps=steps, x_T=x_T, clip=1.0)


# ----------------------------------------------------------------------------------------------- pixel classifiers
def logreg():
    """The evaluator and the sceptic's linear baseline: logistic regression on raw [0, 1] pixels (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=3000)


def probe():
    """The linear probe on denoiser features: standardised logistic regression (features have any scale)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))


def qda():
    """The sceptic's generative classifier: class-wise Gaussians on raw pixels (QDA, ``reg_param`` 0.1)."""
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    return QuadraticDiscriminantAnalysis(reg_param=0.1)


def nearest_ratio(samples: Tensor, train: Tensor, held_out: Tensor) -> float:
    """Median distance of a sample to its nearest training digit over the same for held-out real digits
    (≈ 1: samples are as far from the training set as new real digits; ≪ 1: copies)."""
    d_s = torch.cdist(samples, train).min(1).values.median()
    d_h = torch.cdist(held_out, train).min(1).values.median()
    return float(d_s / d_h)


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class Seed:
    """Everything one seed measured. Accuracies in [0, 1]; ``errors`` ``(n_test, n_trials, 10)`` of the method
    slot's network; ``control_errors`` of the shuffled-label control; samples ``(10·n, 64)`` in [−1, 1]."""

    seed: int
    data: Split
    model: nn.Module
    control: nn.Module
    errors: Tensor
    control_errors: Tensor
    acc: float                 # the classifier in the method's slot (diffusion or QDA)
    acc_diffusion: float       # the method slot's diffusion classifier
    acc_control: float         # the shuffled-label control's diffusion classifier
    acc_qda: float
    acc_logreg: float
    acc_probe: float
    acc_probe_pixels: float
    y_req: Tensor
    samples: Tensor
    null_samples: Tensor
    guided: Tensor | None
    acc_cfg: float             # evaluator on CFG samples vs requested label
    acc_null: float            # evaluator on null-class samples vs the same requested labels
    acc_guided: float          # evaluator on classifier-guided samples (nan without guidance)
    agreement: float           # own classifier vs evaluator on the CFG samples
    own_vs_requested: float    # own classifier vs requested label
    copy_ratio: float
    sources: tuple[str, str]


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[Seed]
    seconds_train: float
    seconds_eval: float

    def values(self, key: str) -> list[float]:
        return [float(getattr(s, key)) for s in self.per_seed]


def run_seed(cfg: Config, seed: int, *, device: torch.device | str = "cpu", progress: bool | None = None,
             refresh: bool = False) -> tuple[Seed, float, float]:
    """Train (or load) the method slot's denoiser and the shuffled-label control for ``seed``; measure all roles."""
    t0 = time.perf_counter()
    data = load_data(seed)
    sched = schedule()
    model, info = denoiser(cfg, seed, cfg.labels, perm=1 if cfg.labels == "shuffled" else 0, data=data,
                           progress=progress, refresh=refresh, device=device)
    control, cinfo = denoiser(cfg, seed, "shuffled", perm=0, data=data, progress=progress, refresh=refresh,
                              device=device)
    clf = guide_classifier(cfg, seed, data, progress, device) if cfg.guide_steps > 0 else None
    t1 = time.perf_counter()
    dev = next(model.parameters()).device
    x_te, y_te = data.x_test[:cfg.n_test], data.y_test[:cfg.n_test]
    xtr_np, ytr_np = to_unit(data.x_train), data.y_train.numpy()
    xte_np, yte_np = to_unit(x_te), y_te.numpy()

    def draws(s: int) -> torch.Generator:
        return torch.Generator().manual_seed(s)

    kw = dict(n_trials=cfg.n_trials, timesteps=range(cfg.t_min, cfg.t_max + 1))
    errors = D.diffusion_errors(model, x_te.to(dev), sched, generator=draws(seed + 2), **kw)
    control_errors = D.diffusion_errors(control, x_te.to(dev), sched, generator=draws(seed + 2), **kw)
    acc_diff = float((errors.mean(1).argmin(1) == y_te).float().mean())
    acc_control = float((control_errors.mean(1).argmin(1) == y_te).float().mean())
    acc_qda = float(qda().fit(xtr_np, ytr_np).score(xte_np, yte_np))
    evaluator = logreg().fit(xtr_np, ytr_np)
    acc_lr = float(evaluator.score(xte_np, yte_np))
    acc = acc_diff if cfg.classifier == "diffusion" else acc_qda

    # role 3: a linear probe on the denoiser's last block (null label, t = probe_t), beside raw pixels
    last = f"block{cfg.depth - 1}"
    f_tr = D.noisy_features(model, data.x_train.to(dev), cfg.probe_t, sched, generator=draws(seed + 5))[last]
    f_te = D.noisy_features(model, x_te.to(dev), cfg.probe_t, sched, generator=draws(seed + 6))[last]
    acc_probe = float(probe().fit(f_tr.cpu().numpy(), ytr_np).score(f_te.cpu().numpy(), yte_np))

    # role 1: generation with classifier-free guidance, judged by the independent evaluator
    y_req = requested_labels(cfg.samples_per_class).to(dev)
    samples = generate(model, y_req, cfg.cfg_scale, sched, steps=cfg.ddim_steps, seed=seed + 10).cpu()
    null_samples = generate(model, None, 0.0, sched, steps=cfg.ddim_steps, seed=seed + 11, n=len(y_req)).cpu()
    yr = y_req.cpu().numpy()
    pred_cfg = evaluator.predict(to_unit(samples))
    acc_cfg = float((pred_cfg == yr).mean())
    acc_null = float((evaluator.predict(to_unit(null_samples)) == yr).mean())
    if cfg.classifier == "diffusion":
        own = D.diffusion_errors(model, samples.to(dev), sched, generator=draws(seed + 12), **kw).mean(1).argmin(1)
    else:
        own = torch.from_numpy(qda().fit(xtr_np, ytr_np).predict(to_unit(samples)))
    agreement = float((own.numpy() == pred_cfg).mean())
    own_vs_req = float((own.numpy() == yr).mean())

    # role 4: classifier guidance of the null-class model (reported)
    guided, acc_guided = None, float("nan")
    if clf is not None:
        guided = classifier_guided(model, clf.to(dev), y_req, cfg.guide_scale, sched, steps=cfg.ddim_steps,
                                   seed=seed + 13).cpu()
        acc_guided = float((evaluator.predict(to_unit(guided)) == yr).mean())
    ratio = nearest_ratio(samples, data.x_train, x_te)
    sd = Seed(seed, data, model, control, errors, control_errors, acc, acc_diff, acc_control, acc_qda, acc_lr,
              acc_probe, acc_lr, y_req.cpu(), samples, null_samples, guided, acc_cfg, acc_null, acc_guided,
              agreement, own_vs_req, ratio, (info.source, cinfo.source))
    return sd, t1 - t0, time.perf_counter() - t1


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        refresh: bool = False) -> Result:
    """For every seed: one denoiser in the method's slot (true labels unless swapped), one shuffled-label control,
    one noise-aware guiding classifier; then the four roles and the pixel baselines on the seed's split."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    per, tt, te = [], 0.0, 0.0
    for s in seeds:
        sd, a, b = run_seed(cfg, s, device=device, progress=progress, refresh=refresh)
        per.append(sd)
        tt, te = tt + a, te + b
    return Result(cfg, seeds, per, tt, te)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed accuracies and gaps (the claims take their mean over the run's seeds)."""
    acc, ctrl = res.values("acc"), res.values("acc_control")
    cfg_acc, null = res.values("acc_cfg"), res.values("acc_null")
    return {
        "classify_acc": acc,
        "classify_gap": [a - c for a, c in zip(acc, ctrl)],
        "cfg_acc": cfg_acc,
        "cfg_gap": [a - n for a, n in zip(cfg_acc, null)],
        "agreement": res.values("agreement"),
        "qda_acc": float(np.mean(res.values("acc_qda"))),
        "logreg_acc": float(np.mean(res.values("acc_logreg"))),
        "probe_acc": float(np.mean(res.values("acc_probe"))),
        "guided_acc": res.values("acc_guided"),
        "copy_ratio": float(np.mean(res.values("copy_ratio"))),
    }


_NO_PAPER = "none: a survey without experiments (arXiv:2312.10163, abstract states the taxonomy only)"

CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("zero_shot_classifier", "classify_acc", ">=", 0.90,
              "test accuracy of the denoiser's per-class denoising error (arg-min over 10 classes, 32 shared draws, "
              "t in [50, 500]); chance 0.10", _NO_PAPER),
    ClaimSpec("classifier_needs_pairing", "classify_gap", ">=", 0.70,
              "that accuracy minus the same network trained on labels permuted across images", _NO_PAPER),
    ClaimSpec("cfg_samples_recognised", "cfg_acc", ">=", 0.90,
              "share of CFG samples (s = 2) an independent pixel classifier reads as the requested digit", _NO_PAPER),
    ClaimSpec("cfg_beats_null_class", "cfg_gap", ">=", 0.70,
              "that share minus the same for null-class samples (independent noise)", _NO_PAPER),
    ClaimSpec("one_model_two_roles", "agreement", ">=", 0.90,
              "the network's own diffusion classifier agrees with the independent evaluator on its CFG samples",
              _NO_PAPER),
    ClaimSpec("classifier_guidance", "guided_acc", ">=", 0.80,
              "share of null-class samples steered by the noise-aware classifier (scale 2) that the independent "
              "evaluator reads as the requested digit", _NO_PAPER),
)

SWAPS: tuple[Swap, ...] = (
    Swap("shuffled_labels", {"labels": "shuffled"},
         ("zero_shot_classifier", "classifier_needs_pairing", "cfg_samples_recognised", "cfg_beats_null_class",
          "one_model_two_roles"), "mechanism",
         "the same network, seed, steps and draws trained on labels permuted across images (an independent "
         "permutation from the control's): no image-label pairing"),
    Swap("null_class_sampling", {"cfg_scale": 0.0}, ("cfg_samples_recognised", "cfg_beats_null_class"), "null",
         "null-class samples (s = 0) in the CFG samples' place: unconditional against unconditional on independent noise"),
    Swap("no_classifier_guidance", {"guide_scale": 0.0}, ("classifier_guidance",), "mechanism",
         "the same null-class sampler and noise with guidance scale 0: the guiding gradient removed"),
    Swap("qda_classifier", {"classifier": "qda"}, (), "baseline",
         "the sceptic: QDA on raw pixels (reg 0.1) classifies the test digits and the samples in the diffusion "
         "classifier's place"),
)
