"""On the Foundations of Shortcut Learning (Hermann, Mobahi, Fel & Mozer, ICLR 2024): availability bias.

arXiv:2310.16228 · official code: none found · used by the ``shortcut_availability`` notebook.

The paper's synthetic framework (Sec. 3), as far as public sources describe it:

* **Two latent features and a label.** ``y ∈ {-1, +1}``; a *core* latent ``z_c`` and a *shortcut* latent
  ``z_s`` are class-conditionally Gaussian, ``z | y ~ N(y·μ, Σ)``. Each feature's **predictivity** ``ρ_i``
  is set through its class mean ``μ_i``; the core is the more predictive one (the paper fixes ``ρ_c = 0.9``).
* **Availability** — how easily a model can extract a feature — is manipulated by **amplification**
  ``α_i`` (the scale of the latent in input space) and **nesting** ``η_i`` (a nonlinear embedding). The
  paper's heat map (Fig. 2) varies amplification only (``η = 0``); so does this module.
* **Embedding.** Each latent is embedded by a random direction ``w_i ∈ R^d`` (``d = 100`` in the paper) and
  the two embeddings are summed: ``x = α_s z_s w_s + α_c z_c w_c``.
* **Reliance and shortcut bias** are read off the model's *binary decisions* ``ŷ(z)`` on a uniform probe
  grid in latent space (``±3 μ_i`` along each axis):
  ``reliance = |E[ŷ·sgn z_s]| - |E[ŷ·sgn z_c]|`` (``+1``: uses only ``z_s``; ``-1``: only ``z_c``), and
  ``shortcut bias = reliance(model) - reliance(Bayes-optimal classifier)``; the Bayes classifier of two
  equal-covariance Gaussians is linear discriminant analysis (LDA) in latent space.

Reconstruction, not transcription: the paper's text was not available to us, only secondary summaries
(see ``results/calibration/shortcut_availability.md``). Where they are silent we chose, and say so:
predictivity is the accuracy of the single-feature Bayes classifier, ``ρ_i = Φ(μ_i)`` with unit
within-class variance; the reported ``σ_sc = 0.6`` is read as the within-class covariance of ``z_s`` and
``z_c`` (:attr:`ShortcutConfig.latent_corr`); models are trained by full-batch gradient descent.

What we measured (and the notebook shows): amplification biases *early* training toward the shortcut —
the first gradient step weights feature ``i`` by ``α_i² μ_i`` — for a linear model just as for an MLP, and
at matched training loss the two are equally biased; trained to convergence, both come back to the Bayes
reliance. The paper's headline (a bias specific to nonlinear networks) did **not** reproduce here.

What is here: :func:`make_two_latent_dataset` (the generator), :func:`latent_grid`, :func:`reliance`,
:func:`bayes_decision` / :func:`fit_lda` (the optimal reference), :func:`shortcut_bias`,
:func:`first_step_decision` (where gradient descent heads first: latent weights ``α_i² μ_i``),
:class:`BatchedMLP` (linear model, MLP and deep linear network, one set of weights per seed/condition),
:func:`train_gd` (full-batch gradient descent that records loss and probe decisions),
:func:`converged_linear_decisions` (the logistic-regression MLE), :func:`bias_at_matched_loss`,
:class:`ShortcutConfig` / :data:`PRESETS` and :func:`run` (the experiment, returning
:class:`ShortcutResult`), :func:`summarize` and :data:`CLAIMS` (the calibrated claim checks and their
baseline swaps).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import norm
from torch import Tensor

from featurelab.claims import ClaimSpec
from featurelab.run import ParameterError

__all__ = [
    "TwoLatentDataset",
    "predictivity_to_mean",
    "make_two_latent_dataset",
    "latent_grid",
    "reliance",
    "bayes_decision",
    "fit_lda",
    "shortcut_bias",
    "first_step_decision",
    "BatchedMLP",
    "MODEL_SPECS",
    "build_model",
    "Trajectory",
    "train_gd",
    "converged_linear_decisions",
    "bias_at_matched_loss",
    "ShortcutConfig",
    "PRESETS",
    "ShortcutResult",
    "run",
    "summarize",
    "ClaimSpec",
    "CLAIMS",
]


# ---------------------------------------------------------------------------------------------------------
# 1. The generator (paper Sec. 3): two latents with a predictivity and an availability knob each
# ---------------------------------------------------------------------------------------------------------


def predictivity_to_mean(rho: float) -> float:
    """Class mean ``μ`` of a unit-variance latent whose single-feature Bayes accuracy is ``rho``: ``Φ⁻¹(ρ)``.

    ``ρ = 0.5`` is a useless feature (``μ = 0``); ``ρ = 0.9`` gives ``μ ≈ 1.28``. Raises for ``ρ ∉ [0.5, 1)``.
    """
    if not (0.5 <= rho < 1.0):
        raise ParameterError(f"predictivity must be in [0.5, 1) (0.5 = useless feature), got {rho}")
    return float(norm.ppf(rho))


@dataclass(frozen=True)
class TwoLatentDataset:
    """A sample of the two-latent generator. Column 0 is the shortcut ``z_s``, column 1 the core ``z_c``.

    Attributes:
        x: ``(n, d)`` float32 inputs, ``x = α_s z_s w_s + α_c z_c w_c (+ noise)``.
        y: ``(n,)`` float32 labels in ``{-1, +1}``.
        z: ``(n, 2)`` float32 latents ``[z_s, z_c]``.
        embedding: ``(2, d)`` float32 unit-norm directions ``[w_s, w_c]``.
        mu: ``(2,)`` class means ``[μ_s, μ_c]`` (``z | y ~ N(y μ, cov)``).
        cov: ``(2, 2)`` within-class covariance of the latents.
        alpha: ``(2,)`` amplifications ``[α_s, α_c]``.
        rho: ``(2,)`` predictivities ``[ρ_s, ρ_c]``.
        noise: std of the isotropic input noise (0 in the paper's setting).
    """

    x: Tensor
    y: Tensor
    z: Tensor
    embedding: Tensor
    mu: Tensor
    cov: Tensor
    alpha: Tensor
    rho: Tensor
    noise: float = 0.0

    def embed(self, z: Tensor) -> Tensor:
        """Map latents ``(..., 2)`` to inputs ``(..., d)`` with this dataset's amplification and embedding."""
        return (z * self.alpha.to(z)) @ self.embedding.to(z)


def make_two_latent_dataset(
    n: int,
    rho_s: float = 0.8,
    rho_c: float = 0.9,
    alpha_s: float = 1.0,
    alpha_c: float = 1.0,
    latent_corr: float = 0.6,
    dim: int = 100,
    noise: float = 0.0,
    seed: int = 0,
) -> TwoLatentDataset:
    """Sample ``n`` labelled inputs from the paper's two-latent generator (Sec. 3, amplification only).

    ``y`` is ±1 with equal probability; ``z | y ~ N(y [μ_s, μ_c], [[1, c], [c, 1]])`` with
    ``μ_i = Φ⁻¹(ρ_i)`` and ``c = latent_corr``; ``x = α_s z_s w_s + α_c z_c w_c + noise·ε`` with random unit
    directions ``w_s, w_c ∈ R^dim`` and ``ε ~ N(0, I_dim)``.

    The random draws depend on ``seed`` only, not on the amplifications: datasets that differ only in
    ``alpha_s`` share ``y``, ``z`` and the directions, so a sweep over availability is a paired comparison.

    Returns:
        :class:`TwoLatentDataset` (``x`` is ``(n, dim)``, ``y`` ``(n,)``, ``z`` ``(n, 2)``).
    """
    if n < 2:
        raise ParameterError(f"need at least 2 samples, got n={n}")
    if dim < 2:
        raise ParameterError(f"input dimension must be >= 2 to hold two latent directions, got dim={dim}")
    if alpha_s <= 0 or alpha_c <= 0:
        raise ParameterError(f"amplifications must be > 0, got alpha_s={alpha_s}, alpha_c={alpha_c}")
    if not (-1.0 < latent_corr < 1.0):
        raise ParameterError(f"latent_corr is a correlation, must be in (-1, 1), got {latent_corr}")
    if noise < 0:
        raise ParameterError(f"noise must be >= 0, got {noise}")
    mu = np.array([predictivity_to_mean(rho_s), predictivity_to_mean(rho_c)])
    cov = np.array([[1.0, latent_corr], [latent_corr, 1.0]])
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    z = y[:, None] * mu + rng.multivariate_normal(np.zeros(2), cov, size=n)
    w = rng.standard_normal((2, dim))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    eps = rng.standard_normal((n, dim))
    alpha = np.array([alpha_s, alpha_c])
    x = (z * alpha) @ w + noise * eps
    def f32(a) -> Tensor:
        return torch.as_tensor(a, dtype=torch.float32)

    return TwoLatentDataset(x=f32(x), y=f32(y), z=f32(z), embedding=f32(w), mu=f32(mu), cov=f32(cov),
                            alpha=f32(alpha), rho=f32([rho_s, rho_c]), noise=float(noise))


# ---------------------------------------------------------------------------------------------------------
# 2. Reliance, the Bayes-optimal reference and shortcut bias (paper Sec. 3, "Quantifying shortcut bias")
# ---------------------------------------------------------------------------------------------------------


def latent_grid(mu: Tensor, size: int = 40, extent: float = 3.0) -> Tensor:
    """The probe set: a uniform ``size × size`` grid on ``[-e μ_s, e μ_s] × [-e μ_c, e μ_c]``, ``e = extent``.

    Cell-centred, so no probe lies on an axis (``sgn`` is never 0) and ``z_s``, ``z_c`` are independent and
    symmetric over the grid. Returns ``(size*size, 2)`` latents, row-major in ``z_s`` (reshape predictions
    to ``(size, size)``: first index ``z_s``, second ``z_c``).
    """
    if size < 2:
        raise ParameterError(f"grid size must be >= 2, got {size}")
    u = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 * extent - extent
    zs, zc = torch.meshgrid(u * float(mu[0]), u * float(mu[1]), indexing="ij")
    return torch.stack([zs.reshape(-1), zc.reshape(-1)], dim=1)


def reliance(decisions: Tensor | np.ndarray, z: Tensor | np.ndarray) -> np.ndarray:
    """Reliance on the shortcut relative to the core: ``|E[ŷ sgn z_s]| - |E[ŷ sgn z_c]|`` over the probes.

    Args:
        decisions: ``(..., m)`` binary decisions ``ŷ ∈ {-1, +1}`` (or logits; only their sign is used).
        z: ``(m, 2)`` probe latents ``[z_s, z_c]`` (e.g. :func:`latent_grid`).

    Returns:
        ``(...)`` array in ``[-1, 1]``: ``+1`` for a classifier that uses only ``z_s``, ``-1`` for one that
        uses only ``z_c``, 0 for one that weighs them equally (on the grid's scale ``μ_i``).
    """
    d = np.sign(np.asarray(decisions, dtype=np.float64))
    z = np.asarray(z, dtype=np.float64)
    agree_s = np.abs((d * np.sign(z[:, 0])).mean(-1))
    agree_c = np.abs((d * np.sign(z[:, 1])).mean(-1))
    return agree_s - agree_c


def bayes_decision(z: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """Bayes-optimal decision for ``z | y ~ N(y μ, Σ)``, equal priors: ``sgn(zᵀ Σ⁻¹ μ)`` (LDA).

    ``z``: ``(m, 2)`` latents → ``(m,)`` signs.
    """
    w = torch.linalg.solve(cov.double(), mu.double())
    return torch.sign(z.double() @ w).float()


def fit_lda(z: Tensor, y: Tensor):
    """Fit scikit-learn's ``LinearDiscriminantAnalysis`` on latents ``(n, 2)`` and labels ``(n,)``.

    The plug-in estimate of the Bayes classifier (what LDA learns from a finite sample); use its
    ``predict`` on probe latents to compare with :func:`bayes_decision`.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    return LinearDiscriminantAnalysis().fit(np.asarray(z), np.asarray(y))


def shortcut_bias(decisions: Tensor | np.ndarray, z: Tensor, mu: Tensor, cov: Tensor) -> np.ndarray:
    """Shortcut bias ``reliance(model) - reliance(Bayes)`` on probes ``z`` ``(m, 2)``, decisions ``(..., m)``.

    Positive: the model leans on the shortcut more than the optimal classifier does.
    """
    return reliance(decisions, z) - reliance(bayes_decision(z, mu, cov), z)


def first_step_decision(z: Tensor, data: TwoLatentDataset) -> Tensor:
    """A linear model's decisions after one small GD step from zero: why amplification biases early training.

    At ``w = 0`` the logistic-loss gradient is ``-½ E[y x]``, so GD first moves ``w`` along the class-mean
    difference ``m = α_s μ_s w_s + α_c μ_c w_c``, and the model scores a latent ``z`` by ``x(z)·m``. With
    (nearly) orthogonal directions that is ``α_s² μ_s z_s + α_c² μ_c z_c``: the latent weights grow with the
    *square* of the amplification, while the Bayes weights ``Σ⁻¹ μ`` do not depend on it at all. Exact for
    the Gram matrix of the actual directions. ``z``: ``(m, 2)`` → ``(m,)`` signs.
    """
    a = data.alpha.double()
    gram = data.embedding.double() @ data.embedding.double().T
    w = a * (gram @ (a * data.mu.double()))
    return torch.sign(z.double() @ w).float()


# ---------------------------------------------------------------------------------------------------------
# 3. Models: one weight set per (seed, condition), trained in parallel by batched matrix products
# ---------------------------------------------------------------------------------------------------------

#: model name → (number of hidden layers, activation). ``linear`` is logistic regression on ``x``;
#: ``deep_linear3`` has the depth of ``mlp3`` without the nonlinearity (it still computes a linear function).
MODEL_SPECS: dict[str, tuple[int, str]] = {
    "linear": (0, "identity"),
    "mlp1": (1, "relu"),
    "mlp2": (2, "relu"),
    "mlp3": (3, "relu"),
    "tanh1": (1, "tanh"),
    "deep_linear3": (3, "identity"),
}
_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda h: h}


class BatchedMLP(torch.nn.Module):
    """``batch`` independent MLPs ``d → width (× depth) → 1`` evaluated together with batched matmuls.

    ``depth = 0`` is a linear model. Initialisation matches :class:`torch.nn.Linear` (weights and biases
    ``U(-1/√fan_in, 1/√fan_in)``). ``forward`` maps ``(batch, n, d)`` to logits ``(batch, n)``.
    """

    def __init__(self, batch: int, dim: int, width: int = 64, depth: int = 1, activation: str = "relu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if depth < 0 or width < 1 or batch < 1:
            raise ParameterError(f"need depth >= 0, width >= 1, batch >= 1; got {depth}, {width}, {batch}")
        self.depth, self.activation = depth, activation
        sizes = [dim] + [width] * depth + [1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(batch, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(batch, 1, fan_out, generator=generator) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))

    def forward(self, x: Tensor) -> Tensor:
        act = _ACTIVATIONS[self.activation]
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < self.depth:
                h = act(h)
        return h.squeeze(-1)


def build_model(name: str, batch: int, dim: int, width: int, seed: int = 0) -> BatchedMLP:
    """A :class:`BatchedMLP` for a name in :data:`MODEL_SPECS`, initialised from ``seed``."""
    if name not in MODEL_SPECS:
        raise ParameterError(f"unknown model {name!r}; choose from {sorted(MODEL_SPECS)}")
    depth, act = MODEL_SPECS[name]
    return BatchedMLP(batch, dim, width, depth, act, generator=torch.Generator().manual_seed(seed))


@dataclass
class Trajectory:
    """What :func:`train_gd` recorded at each checkpoint.

    Attributes:
        steps: ``(C,)`` numbers of gradient steps taken at the checkpoints (0 = initialisation).
        loss: ``(B, C)`` mean training cross-entropy of each model.
        decisions: ``(B, C, m)`` int8 signs of the logits on the probe inputs.
    """

    steps: np.ndarray
    loss: np.ndarray
    decisions: np.ndarray


def train_gd(model: BatchedMLP, x: Tensor, y: Tensor, probe_x: Tensor, steps: int, lr: float,
             checkpoints: list[int] | np.ndarray, progress: bool = False, desc: str = "") -> Trajectory:
    """Full-batch gradient descent on the logistic loss; records loss and probe decisions at ``checkpoints``.

    Args:
        model: ``B`` models; ``x`` ``(B, n, d)`` inputs, ``y`` ``(B, n)`` labels in ``{-1, +1}``.
        probe_x: ``(B, m, d)`` probe inputs (the latent grid embedded by each dataset).
        steps: number of gradient steps; ``checkpoints`` are step counts in ``[0, steps]``.
        lr: learning rate (plain GD, the same for every model in the batch).
    """
    cps = sorted({int(c) for c in checkpoints if 0 <= int(c) <= steps})
    t = (y > 0).to(x.dtype)
    params = list(model.parameters())
    losses, decisions = [], []

    def record() -> None:
        with torch.no_grad():
            losses.append(F.binary_cross_entropy_with_logits(model(x), t, reduction="none").mean(-1).cpu())
            decisions.append(torch.sign(model(probe_x)).to(torch.int8).cpu())

    it = iter(cps)
    nxt = next(it, None)
    loop = range(steps + 1)
    if progress:
        from featurelab.train import progress as bar

        loop = bar(loop, desc=desc)
    for step in loop:
        if step == nxt:
            record()
            nxt = next(it, None)
        if step == steps:
            break
        # one gradient step for every model: summing the per-model mean losses keeps their gradients separate
        loss = F.binary_cross_entropy_with_logits(model(x), t, reduction="none").mean(-1).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
    return Trajectory(steps=np.array(cps), loss=torch.stack(losses, 1).numpy(),
                      decisions=torch.stack(decisions, 1).numpy())


def converged_linear_decisions(x: Tensor, y: Tensor, probe_x: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression trained to convergence (the maximum-likelihood solution, scikit-learn L-BFGS).

    The MLE of a linear model does not depend on how the features are scaled, so amplification cannot bias
    it: this is the "converged linear" reference. ``x`` ``(B, n, d)``, ``y`` ``(B, n)``, ``probe_x``
    ``(B, m, d)``; returns decisions ``(B, m)`` and training losses ``(B,)``.
    """
    from sklearn.linear_model import LogisticRegression

    dec, loss = [], []
    for xb, yb, pb in zip(x.cpu().numpy(), y.cpu().numpy(), probe_x.cpu().numpy()):
        clf = LogisticRegression(C=1e6, tol=1e-8, max_iter=10_000).fit(xb.astype(np.float64), yb)
        dec.append(np.sign(clf.decision_function(pb.astype(np.float64))))
        margin = yb * clf.decision_function(xb.astype(np.float64))
        loss.append(np.logaddexp(0.0, -margin).mean())
    return np.stack(dec), np.array(loss)


def bias_at_matched_loss(loss: np.ndarray, bias: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Interpolate a bias trajectory at given training-loss levels.

    ``loss`` and ``bias`` are ``(C,)`` along training (loss decreasing); returns ``(len(levels),)``, NaN for
    levels outside the range the trajectory visited. This is how two models trained at different speeds
    are compared fairly: at the same training loss, not at the same step.
    """
    order = np.argsort(loss)
    lo, hi = loss[order[0]], loss[order[-1]]
    out = np.interp(levels, loss[order], bias[order])
    out[(levels < lo) | (levels > hi)] = np.nan
    return out


# ---------------------------------------------------------------------------------------------------------
# 4. The experiment
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShortcutConfig:
    """Experiment settings (one preset per scale in :data:`PRESETS`).

    Attributes:
        n_train: training points per dataset (paper: 3200).
        dim: input dimension ``d`` (paper: 100).
        rho_s, rho_c: predictivities (paper fixes ``ρ_c = 0.9``).
        latent_corr: within-class correlation of ``z_s`` and ``z_c`` (paper's ``σ_sc = 0.6``, our reading).
        alphas: shortcut amplifications ``α_s`` to sweep (``α_c = 1``).
        models: names from :data:`MODEL_SPECS` trained at every ``α_s``.
        depth_models: extra models trained only at the largest ``α_s`` (the depth comparison).
        width: hidden width.
        lr, steps: full-batch gradient descent.
        early_step: the "briefly trained" checkpoint.
        n_seeds: datasets (and inits) per condition.
        grid_size: probe grid is ``grid_size²`` latents.
        n_checkpoints: log-spaced checkpoints recorded along training.
        heatmap_rhos, heatmap_alphas: optional predictivity × availability sweep (Fig. 2); empty = skip.
        heatmap_models: models trained in the sweep.
    """

    n_train: int = 600
    dim: int = 20
    rho_s: float = 0.8
    rho_c: float = 0.9
    latent_corr: float = 0.6
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    models: tuple[str, ...] = ("linear", "mlp1")
    depth_models: tuple[str, ...] = ("mlp2", "deep_linear3")
    width: int = 32
    lr: float = 0.1
    steps: int = 600
    early_step: int = 40
    n_seeds: int = 5
    grid_size: int = 40
    n_checkpoints: int = 24
    heatmap_rhos: tuple[float, ...] = ()
    heatmap_alphas: tuple[float, ...] = ()
    heatmap_models: tuple[str, ...] = ("linear", "mlp1")

    def __post_init__(self) -> None:
        if self.n_train < 10:
            raise ParameterError(f"n_train must be >= 10, got {self.n_train}")
        if self.dim < 2:
            raise ParameterError(f"dim must be >= 2, got {self.dim}")
        for name in ("rho_s", "rho_c"):
            v = getattr(self, name)
            if not (0.5 <= v < 1.0):
                raise ParameterError(f"{name} must be in [0.5, 1) (0.5 = useless feature), got {v}")
        if self.rho_s > self.rho_c:
            raise ParameterError(f"the shortcut must not be more predictive than the core: "
                                 f"rho_s={self.rho_s} > rho_c={self.rho_c}")
        if not self.alphas or any(a <= 0 for a in self.alphas):
            raise ParameterError(f"alphas must be a non-empty tuple of positive amplifications, "
                                 f"got {self.alphas}")
        for m in (*self.models, *self.depth_models, *self.heatmap_models):
            if m not in MODEL_SPECS:
                raise ParameterError(f"unknown model {m!r}; choose from {sorted(MODEL_SPECS)}")
        if "linear" not in self.models:
            raise ParameterError("models must include 'linear' (the baseline every claim is checked against)")
        if not (0 < self.early_step < self.steps):
            raise ParameterError(f"need 0 < early_step < steps, got early_step={self.early_step}, "
                                 f"steps={self.steps}")
        if self.lr <= 0 or self.width < 1 or self.n_seeds < 1 or self.grid_size < 2 or self.n_checkpoints < 2:
            raise ParameterError("lr, width, n_seeds, n_checkpoints must be positive and grid_size >= 2")
        if bool(self.heatmap_rhos) != bool(self.heatmap_alphas):
            raise ParameterError("give both heatmap_rhos and heatmap_alphas, or neither")
        if any(not (0.5 <= r <= self.rho_c) for r in self.heatmap_rhos):
            raise ParameterError(f"heatmap_rhos must lie in [0.5, rho_c={self.rho_c}], "
                                 f"got {self.heatmap_rhos}")


PRESETS: dict[str, ShortcutConfig] = {
    # CPU, one thread, ≤ ~15 s: 5 seeds × 4 amplifications for linear and MLP; depth at α_s = 8 only.
    "small": ShortcutConfig(),
    # One GPU, ≤ 10 min: the paper's sizes (d = 100, n = 3200), 10 seeds, width 128, depth 1-3, and the
    # predictivity × availability heat map of Fig. 2 for linear and MLP (early-stopped and trained on).
    "full": ShortcutConfig(
        n_train=3200, dim=100, width=128, n_seeds=10, steps=3000, early_step=40, n_checkpoints=40,
        alphas=(1.0, 2.0, 4.0, 8.0), models=("linear", "mlp1", "tanh1"),
        depth_models=("mlp2", "mlp3", "deep_linear3"), grid_size=60,
        heatmap_rhos=(0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9),
        heatmap_alphas=(1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0),
    ),
}


@dataclass
class ShortcutResult:
    """Everything :func:`run` measured (arrays are numpy).

    Attributes:
        config: the :class:`ShortcutConfig` used; ``seeds``: ``(S,)`` dataset/initialisation seeds.
        alphas: ``(A,)`` shortcut amplifications; ``steps``: ``(C,)`` checkpoint step counts.
        bayes_reliance: reliance of the Bayes (LDA) classifier on the grid (the same for every dataset).
        loss: model → ``(S, A, C)`` training loss along training (depth models: ``A = 1``, largest ``α_s``).
        bias: model → ``(S, A, C)`` shortcut bias along training.
        converged_linear_bias: ``(S, A)`` bias of logistic regression trained to convergence (the MLE).
        converged_linear_loss: ``(S, A)`` its training loss (the best a linear model can do).
        lda_bias: ``(S, A)`` bias of LDA fitted on the training latents (sampling noise of the reference).
        early_index: index into ``steps`` of ``config.early_step``.
        loss_levels: ``(L,)`` training-loss levels for the matched-loss comparison (at the largest ``α_s``).
        matched_bias: model → ``(S, L)`` bias interpolated at ``loss_levels`` (largest ``α_s``).
        grid_axes: ``(2, G)`` probe coordinates along ``z_s`` and ``z_c`` (the same for every dataset).
        bayes_surface: ``(G, G)`` Bayes (LDA) decisions on the grid (first index ``z_s``, second ``z_c``).
        surfaces: model → ``(A, C, G, G)`` int8 decisions of the first seed at every ``α_s`` and checkpoint
            (depth models: ``A = 1``), for decision-surface plots and the widget.
        heatmap: optional sweep ``{"rhos": (R,), "alphas": (A',), "<model>_early": (S, R, A'),
            "<model>_final": (S, R, A')}``.
        seconds: wall-clock time of the run.
    """

    config: ShortcutConfig
    seeds: np.ndarray
    alphas: np.ndarray
    steps: np.ndarray
    bayes_reliance: float
    loss: dict[str, np.ndarray]
    bias: dict[str, np.ndarray]
    converged_linear_bias: np.ndarray
    converged_linear_loss: np.ndarray
    lda_bias: np.ndarray
    early_index: int
    loss_levels: np.ndarray
    matched_bias: dict[str, np.ndarray]
    grid_axes: np.ndarray
    bayes_surface: np.ndarray
    surfaces: dict[str, np.ndarray]
    heatmap: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

    def early_bias(self, model: str) -> np.ndarray:
        """``(S, A)`` bias after ``config.early_step`` steps."""
        return self.bias[model][:, :, self.early_index]

    def final_bias(self, model: str) -> np.ndarray:
        """``(S, A)`` bias after ``config.steps`` steps."""
        return self.bias[model][:, :, -1]


def _checkpoints(cfg: ShortcutConfig) -> np.ndarray:
    cps = np.unique(np.concatenate([[0, cfg.early_step, cfg.steps],
                                    np.geomspace(1, cfg.steps, cfg.n_checkpoints).round()]).astype(int))
    return cps


def _datasets(cfg: ShortcutConfig, seeds: list[int], alphas, rho_s: float,
              device) -> tuple[list, Tensor, Tensor, Tensor]:
    """Stack datasets for every (seed, alpha): x ``(S*A, n, d)``, y ``(S*A, n)``, probe_x ``(S*A, m, d)``."""
    data = [make_two_latent_dataset(cfg.n_train, rho_s, cfg.rho_c, a, 1.0, cfg.latent_corr, cfg.dim, seed=s)
            for s in seeds for a in alphas]
    grid = latent_grid(data[0].mu, cfg.grid_size)
    x = torch.stack([d.x for d in data]).to(device)
    y = torch.stack([d.y for d in data]).to(device)
    px = torch.stack([d.embed(grid) for d in data]).to(device)
    return data, x, y, px


def _train(name: str, cfg: ShortcutConfig, x: Tensor, y: Tensor, px: Tensor, seed: int, cps, progress: bool,
           device) -> Trajectory:
    model = build_model(name, x.shape[0], cfg.dim, cfg.width, seed=seed).to(device)
    return train_gd(model, x, y, px, cfg.steps, cfg.lr, cps, progress=progress, desc=name)


def run(cfg: ShortcutConfig, seeds: list[int], progress: bool = True,
        device: torch.device | str = "cpu") -> ShortcutResult:
    """Train every model on every (seed, ``α_s``) dataset by full-batch GD and measure shortcut bias.

    For each seed the datasets at different ``α_s`` share latents, labels and embedding directions (only
    the amplification changes). Models of one kind are trained together as one :class:`BatchedMLP`.

    Args:
        cfg: the experiment (see :data:`PRESETS`); ``seeds``: one dataset and initialisation per seed.
        progress: show progress bars; ``device``: where to train.

    Returns:
        :class:`ShortcutResult` with bias-vs-step, bias-vs-loss, the converged-linear and LDA references,
        decision surfaces and (if configured) the predictivity × availability heat map.
    """
    t0 = time.perf_counter()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ParameterError("need at least one seed")
    S, A = len(seeds), len(cfg.alphas)
    cps = _checkpoints(cfg)
    early_index = int(np.searchsorted(cps, cfg.early_step))

    data, x, y, px = _datasets(cfg, seeds, cfg.alphas, cfg.rho_s, device)
    grid = latent_grid(data[0].mu, cfg.grid_size)
    mu, cov = data[0].mu, data[0].cov
    bayes = bayes_decision(grid, mu, cov)
    r_bayes = float(reliance(bayes, grid))

    loss: dict[str, np.ndarray] = {}
    bias: dict[str, np.ndarray] = {}
    decisions: dict[str, np.ndarray] = {}
    for k, name in enumerate(cfg.models):
        tr = _train(name, cfg, x, y, px, seed=1000 * seeds[0] + k, cps=cps, progress=progress, device=device)
        loss[name] = tr.loss.reshape(S, A, -1)
        bias[name] = (reliance(tr.decisions, grid) - r_bayes).reshape(S, A, -1)
        decisions[name] = tr.decisions.reshape(S, A, len(cps), -1)

    # depth comparison at the largest amplification only
    top = int(np.argmax(cfg.alphas))
    sel = [s * A + top for s in range(S)]
    for k, name in enumerate(n for n in cfg.depth_models if n not in cfg.models):
        tr = _train(name, cfg, x[sel], y[sel], px[sel], seed=1000 * seeds[0] + 50 + k, cps=cps,
                    progress=progress, device=device)
        loss[name] = tr.loss.reshape(S, 1, -1)
        bias[name] = (reliance(tr.decisions, grid) - r_bayes).reshape(S, 1, -1)
        decisions[name] = tr.decisions.reshape(S, 1, len(cps), -1)

    conv_dec, conv_loss = converged_linear_decisions(x, y, px)
    conv_bias = (reliance(conv_dec, grid) - r_bayes).reshape(S, A)
    lda_bias = np.array([reliance(fit_lda(d.z, d.y).predict(grid.numpy()), grid) - r_bayes
                         for d in data]).reshape(S, A)

    # matched-loss comparison at the largest amplification: levels inside every model's visited range
    names = list(loss)
    top_loss = {n: loss[n][:, -1 if loss[n].shape[1] == 1 else top] for n in names}
    lo = max(float(top_loss[n][:, -1].max()) for n in names)
    hi = min(float(top_loss[n][:, 0].min()) for n in names)
    levels = np.linspace(lo, hi, 12)[1:-1] if hi > lo else np.array([])
    matched = {}
    for n in names:
        b = bias[n][:, -1 if bias[n].shape[1] == 1 else top]
        matched[n] = np.stack([bias_at_matched_loss(top_loss[n][s], b[s], levels) for s in range(S)])

    G = cfg.grid_size
    axes = np.stack([grid[::G, 0].numpy(), grid[:G, 1].numpy()])
    surfaces = {n: decisions[n][0].reshape(decisions[n].shape[1], len(cps), G, G) for n in names}

    heat: dict[str, np.ndarray] = {}
    if cfg.heatmap_rhos:
        heat = _heatmap(cfg, seeds, progress, device)

    return ShortcutResult(
        config=cfg, seeds=np.array(seeds), alphas=np.array(cfg.alphas), steps=cps, bayes_reliance=r_bayes,
        loss=loss, bias=bias, converged_linear_bias=conv_bias, converged_linear_loss=conv_loss.reshape(S, A),
        lda_bias=lda_bias, early_index=early_index, loss_levels=levels, matched_bias=matched,
        grid_axes=axes, bayes_surface=bayes.numpy().reshape(G, G).astype(np.int8), surfaces=surfaces,
        heatmap=heat, seconds=time.perf_counter() - t0,
    )


def _heatmap(cfg: ShortcutConfig, seeds: list[int], progress: bool, device) -> dict[str, np.ndarray]:
    """Fig. 2: bias over shortcut predictivity × amplification, early-stopped and at the end of training."""
    S, R, A = len(seeds), len(cfg.heatmap_rhos), len(cfg.heatmap_alphas)
    xs, ys, pxs, biases_bayes, grids = [], [], [], [], []
    for rho in cfg.heatmap_rhos:
        data, x, y, px = _datasets(cfg, seeds, cfg.heatmap_alphas, rho, device)
        grid = latent_grid(data[0].mu, cfg.grid_size)
        xs.append(x), ys.append(y), pxs.append(px), grids.append(grid)
        biases_bayes.append(float(reliance(bayes_decision(grid, data[0].mu, data[0].cov), grid)))
    # batch order: (rho, seed, alpha)
    x, y, px = torch.cat(xs), torch.cat(ys), torch.cat(pxs)
    cps = np.array([0, cfg.early_step, cfg.steps])
    out: dict[str, np.ndarray] = {"rhos": np.array(cfg.heatmap_rhos), "alphas": np.array(cfg.heatmap_alphas)}
    for k, name in enumerate(cfg.heatmap_models):
        tr = _train(name, cfg, x, y, px, seed=1000 * seeds[0] + 90 + k, cps=cps, progress=progress,
                    device=device)
        dec = tr.decisions.reshape(R, S * A, 3, -1)
        early = np.stack([reliance(dec[r, :, 1], grids[r]) - biases_bayes[r] for r in range(R)])
        final = np.stack([reliance(dec[r, :, 2], grids[r]) - biases_bayes[r] for r in range(R)])
        out[f"{name}_early"] = early.reshape(R, S, A).transpose(1, 0, 2)
        out[f"{name}_final"] = final.reshape(R, S, A).transpose(1, 0, 2)
    return out


# ---------------------------------------------------------------------------------------------------------
# 5. Claim quantities (what the notebook checks) and their baseline swaps
# ---------------------------------------------------------------------------------------------------------


def _nanmean(a: np.ndarray) -> float:
    """Mean over the finite entries; NaN (without a warning) when there are none."""
    a = np.asarray(a, dtype=float)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


def _matched_gap(loss_a: np.ndarray, bias_a: np.ndarray, loss_b: np.ndarray, bias_b: np.ndarray,
                 n_levels: int = 10) -> np.ndarray:
    """Seed-mean ``bias_a - bias_b`` at ``n_levels`` training losses both runs visited, low loss first.

    ``loss_*``, ``bias_*``: ``(S, C)`` trajectories. Returns ``(n_levels,)`` (NaN where undefined).
    """
    lo = max(loss_a[:, -1].max(), loss_b[:, -1].max())
    hi = min(loss_a[:, 0].min(), loss_b[:, 0].min())
    if hi <= lo:
        return np.full(n_levels, np.nan)
    levels = np.linspace(lo, hi, n_levels + 2)[1:-1]
    gaps = [bias_at_matched_loss(loss_a[s], bias_a[s], levels)
            - bias_at_matched_loss(loss_b[s], bias_b[s], levels) for s in range(loss_a.shape[0])]
    gaps = np.stack(gaps)
    return np.array([_nanmean(gaps[:, j]) for j in range(n_levels)])


def summarize(result: ShortcutResult, mlp: str = "mlp1") -> dict[str, float]:
    """The numbers the claims are checked on (means over seeds), with the values their baseline swaps give.

    ``hi``/``lo`` are the largest/smallest ``α_s`` of the run (8 and 1 in the presets). Keys:

    * ``early_linear_excess`` — linear model after ``early_step`` GD steps minus the converged linear model,
      at ``α_hi``; swap ``early_linear_excess_lo`` (same at ``α_lo``: no availability difference).
    * ``converged_linear_abs_bias`` — ``|bias|`` of the logistic-regression MLE at ``α_hi``; swap
      ``early_linear_abs_bias`` (the same linear model stopped early).
    * ``mlp_early_gain`` — early MLP bias at ``α_hi`` minus at ``α_lo``; swaps ``converged_linear_gain``
      (the MLE, which no amplification can move) and ``mlp_final_gain`` (the MLP after ``steps``).
    * ``mlp_final_abs_bias`` — ``|bias|`` of the MLP after ``steps`` at ``α_hi``; swap
      ``mlp_early_abs_bias`` (the MLP stopped early).
    * ``matched_loss_gap`` — ``|MLP - linear|`` bias gap at matched training loss (mean over loss levels,
      ``α_hi``); swap ``matched_step_gap`` (the gap at a matched number of steps, ``early_step``).
    * reported only: ``late_matched_gap_<model>`` (gap to linear at the three lowest common loss levels,
      ``α_hi``), ``late_matched_gap_lo`` (MLP at ``α_lo``), ``early_bias_<model>`` and
      ``final_bias_<model>`` at ``α_hi`` for every model, ``fixed_step_gap_<model>`` (early bias minus
      the linear model's).
    """
    if mlp not in result.bias or "linear" not in result.bias:
        raise ParameterError(f"summarize needs 'linear' and {mlp!r} among the run's models, "
                             f"got {sorted(result.bias)}")
    hi, lo = int(np.argmax(result.alphas)), int(np.argmin(result.alphas))

    def at(model: str, which: str, a: int) -> np.ndarray:
        b = result.bias[model]
        a = 0 if b.shape[1] == 1 else a
        return b[:, a, result.early_index if which == "early" else -1]

    conv = result.converged_linear_bias
    out = {
        "early_linear_excess": float(np.mean(at("linear", "early", hi) - conv[:, hi])),
        "early_linear_excess_lo": float(np.mean(at("linear", "early", lo) - conv[:, lo])),
        "converged_linear_abs_bias": float(abs(np.mean(conv[:, hi]))),
        "early_linear_abs_bias": float(abs(np.mean(at("linear", "early", hi)))),
        "mlp_early_gain": float(np.mean(at(mlp, "early", hi) - at(mlp, "early", lo))),
        "converged_linear_gain": float(np.mean(conv[:, hi] - conv[:, lo])),
        "mlp_final_gain": float(np.mean(at(mlp, "final", hi) - at(mlp, "final", lo))),
        "mlp_final_abs_bias": float(abs(np.mean(at(mlp, "final", hi)))),
        "mlp_early_abs_bias": float(abs(np.mean(at(mlp, "early", hi)))),
        "matched_step_gap": float(np.mean(at(mlp, "early", hi) - at("linear", "early", hi))),
    }
    gap = _matched_gap(result.loss[mlp][:, hi], result.bias[mlp][:, hi],
                       result.loss["linear"][:, hi], result.bias["linear"][:, hi])
    out["matched_loss_gap"] = abs(_nanmean(gap))
    gap_lo = _matched_gap(result.loss[mlp][:, lo], result.bias[mlp][:, lo],
                          result.loss["linear"][:, lo], result.bias["linear"][:, lo])
    out["late_matched_gap_lo"] = _nanmean(gap_lo[:3])
    for m in result.bias:
        a = 0 if result.bias[m].shape[1] == 1 else hi
        out[f"early_bias_{m}"] = float(np.mean(result.bias[m][:, a, result.early_index]))
        out[f"final_bias_{m}"] = float(np.mean(result.bias[m][:, a, -1]))
        out[f"fixed_step_gap_{m}"] = out[f"early_bias_{m}"] - out["early_bias_linear"]
        if m != "linear":
            g = _matched_gap(result.loss[m][:, a], result.bias[m][:, a],
                             result.loss["linear"][:, hi], result.bias["linear"][:, hi])
            out[f"late_matched_gap_{m}"] = _nanmean(g[:3])
    return out


#: The claims the notebook asserts (calibrated over 10 seed sets at scale ``small``; see
#: ``results/calibration/shortcut_availability.md``). None of them is the paper's MLP-specific claim,
#: which did not reproduce; ``matched_loss_gap`` asserts its absence at matched training loss.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("early_linear_shortcut_bias", "early_linear_excess", ">=", 0.60, swap="early_linear_excess_lo",
              description="a linear model stopped early at α_s=8 is biased toward the shortcut (vs. the converged MLE)"),
    ClaimSpec("converged_linear_unbiased", "converged_linear_abs_bias", "<=", 0.10, swap="early_linear_abs_bias",
              description="trained to convergence, a linear model is unbiased (its MLE ignores feature scale)"),
    ClaimSpec("amplification_drives_bias", "mlp_early_gain", ">=", 0.60, swap="converged_linear_gain",
              description="amplifying the shortcut (α_s 1 → 8) raises the early MLP's bias"),
    ClaimSpec("mlp_unbiased_after_training", "mlp_final_abs_bias", "<=", 0.15, swap="mlp_early_abs_bias",
              description="trained on (all steps), the MLP is as unbiased as the linear model: no MLP-specific bias"),
    ClaimSpec("matched_loss_no_mlp_gap", "matched_loss_gap", "<=", 0.20, swap="matched_step_gap",
              description="at matched training loss the MLP is not more biased than the linear model"),
)
