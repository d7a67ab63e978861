"""Cauchy-Schwarz Divergence Information Bottleneck for Regression (Yu, Yu, Løkse, Jenssen & Príncipe, ICLR 2024).

arXiv:2404.17951 · official code: https://github.com/SJYuCNEL/Cauchy-Schwarz-Information-Bottleneck
Used by: ``notebooks/05_tabular_sequence_spatial/07_cauchy_schwarz_ib.ipynb``.

CS-IB trains an encoder ``t = f(x)`` and a decoder ``ŷ = g(t)`` on (paper Sec. 3)::

    L = D_CS( p(y|x) ‖ q_θ(ŷ|x) )  +  β · I_CS(x; t)

Both terms are closed-form Gaussian-kernel estimates on the minibatch (``featurelab.info``): the prediction term
is the conditional CS divergence, which for a narrow kernel on ``x`` behaves like a correntropy loss (the gross
errors of a few corrupted labels get almost no weight, unlike MSE); the compression term is the CS quadratic
mutual information between the input and the representation.

The experiment: a synthetic regression problem whose training labels are contaminated by gross outliers; every
variant (MSE, Huber, CS-div = β 0, CS-IB = β > 0, and a *blunted* CS-div with a very wide ``σ_y``) is trained from
the same initial weights on the same batches, and selected at its best epoch on a **clean validation split**.
To train all of them in one go every weight carries a leading *member* dimension (members never interact:
Adam is elementwise, so each member follows exactly the trajectory it would follow alone).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from featurelab import info
from featurelab.run import ParameterError
from featurelab.train import progress as progress_bar

#: Loss kinds a variant can train with.
KINDS: tuple[str, ...] = ("mse", "huber", "cs")

#: Claim thresholds (calibrated over seed sets SEED = 0..15: results/calibration/cauchy_schwarz_ib.md).
THRESHOLDS: dict[str, float] = {"csib_rmse_ratio": 0.80, "ics_beta_ratio": 0.92, "ics_monotone_step": 0.98}


# --------------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One training objective. ``kind``: ``"mse"``, ``"huber"`` or ``"cs"`` (CS-div + β·I_CS)."""

    name: str
    kind: str
    beta: float = 0.0
    sigma_y: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(f"variant {self.name!r}: kind={self.kind!r} is unknown; use one of {KINDS}")
        if self.beta < 0:
            raise ParameterError(f"variant {self.name!r}: beta={self.beta} must be ≥ 0")
        if self.beta > 0 and self.kind != "cs":
            raise ParameterError(f"variant {self.name!r}: beta > 0 needs kind='cs'")
        if self.sigma_y <= 0:
            raise ParameterError(f"variant {self.name!r}: sigma_y={self.sigma_y} must be > 0")


def default_variants(betas: tuple[float, ...], blunt_sigma_y: float) -> tuple[Variant, ...]:
    """MSE, Huber, CS with every β of ``betas`` (β = 0 is "CS-div"), and CS-div with ``σ_y = blunt_sigma_y``."""
    vs = [Variant("mse", "mse"), Variant("huber", "huber")]
    vs += [Variant("cs_div" if b == 0 else f"cs_ib_{b:g}", "cs", beta=float(b)) for b in betas]
    if blunt_sigma_y > 0:
        vs.append(Variant(f"cs_div_sigma{blunt_sigma_y:g}", "cs", sigma_y=float(blunt_sigma_y)))
    return tuple(vs)


@dataclass(frozen=True)
class Config:
    """One scale of the experiment. ``PRESETS`` holds the two the notebook uses.

    Attributes:
        n_train, n_val, n_test: sizes of the training split (contaminated) and the clean validation/test splits.
        dim: input dimension (the target uses the first three coordinates; the rest are distractors).
        noise: standard deviation of the clean label noise.
        outlier_frac: fraction of training labels shifted by ``± outlier_scale · std(y)``.
        outlier_scale: size of the gross errors, in standard deviations of the clean target.
        hidden, bottleneck, dec_hidden: encoder ``dim → hidden → hidden → bottleneck``, decoder ``→ dec_hidden → 1``.
        epochs, batch_size, lr: Adam training budget (the same for every variant).
        betas: the β grid of the CS variants (0 = CS-div, the prediction term alone).
        sigma_x, sigma_y: kernel widths of the prediction term (the official code's 1 and 1 on standardised data).
        blunt_sigma_y: ``σ_y`` of the blunted CS-div control (0 = leave it out).
        huber_delta: the Huber loss's switch point (standardised units).
        n_eval_info: test points used to estimate ``I_CS(x; t)`` for the information plane.
        fgsm_eps: FGSM perturbation sizes (inputs are standardised) for the robustness curve.
        n_seeds: how many seeds the notebook runs (``run.seeds(cfg.n_seeds)``).
    """

    n_train: int = 2000
    n_val: int = 500
    n_test: int = 1000
    dim: int = 8
    noise: float = 0.1
    outlier_frac: float = 0.1
    outlier_scale: float = 8.0
    hidden: int = 64
    bottleneck: int = 16
    dec_hidden: int = 32
    epochs: int = 10
    batch_size: int = 128
    lr: float = 5e-3
    betas: tuple[float, ...] = (0.0, 0.1, 0.3)
    sigma_x: float = 1.0
    sigma_y: float = 1.0
    blunt_sigma_y: float = 10.0
    huber_delta: float = 1.0
    n_eval_info: int = 256
    fgsm_eps: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)
    n_seeds: int = 3

    def __post_init__(self) -> None:
        if self.n_train < 2 * self.batch_size:
            raise ParameterError(f"n_train={self.n_train} must be at least 2 × batch_size={self.batch_size}")
        if self.n_val < 10 or self.n_test < 10:
            raise ParameterError(f"n_val={self.n_val} and n_test={self.n_test} must be ≥ 10")
        if self.dim < 3:
            raise ParameterError(f"dim={self.dim} must be ≥ 3 (the target uses x1, x2, x3)")
        if not 0.0 <= self.outlier_frac < 0.5:
            raise ParameterError(f"outlier_frac={self.outlier_frac} must lie in [0, 0.5)")
        if self.outlier_scale < 0 or self.noise < 0:
            raise ParameterError("outlier_scale and noise must be ≥ 0")
        if min(self.hidden, self.bottleneck, self.dec_hidden) < 1:
            raise ParameterError("hidden, bottleneck and dec_hidden must be positive")
        if self.epochs < 1:
            raise ParameterError(f"epochs={self.epochs} must be ≥ 1")
        if self.batch_size < 8:
            raise ParameterError(f"batch_size={self.batch_size} must be ≥ 8 (kernel estimates need samples)")
        if self.lr <= 0:
            raise ParameterError(f"lr={self.lr} must be > 0")
        if isinstance(self.betas, (int, float)) or len(self.betas) < 2 or 0.0 not in self.betas \
                or any(b < 0 for b in self.betas):
            raise ParameterError(f"betas={self.betas!r} must be a tuple of ≥ 2 values ≥ 0 that includes 0")
        if self.sigma_x <= 0 or self.sigma_y <= 0 or self.blunt_sigma_y < 0 or self.huber_delta <= 0:
            raise ParameterError("sigma_x, sigma_y, huber_delta must be > 0 and blunt_sigma_y ≥ 0")
        if not 8 <= self.n_eval_info <= self.n_test:
            raise ParameterError(f"n_eval_info={self.n_eval_info} must lie in [8, n_test={self.n_test}]")
        if self.n_seeds < 1:
            raise ParameterError(f"n_seeds={self.n_seeds} must be ≥ 1")

    @property
    def variants(self) -> tuple[Variant, ...]:
        return default_variants(tuple(sorted(self.betas)), self.blunt_sigma_y)


PRESETS: dict[str, Config] = {
    # CPU, one torch thread: 2k points, 10 epochs at lr 5e-3, β ∈ {0, 0.1, 0.3}, 3 seeds × 6 variants trained together.
    "small": Config(),
    # One GPU, ≤ 10 min (estimated, not yet run on a GPU): 10k points, the card's β grid, 5 seeds, 60 epochs.
    "full": Config(n_train=10000, n_val=2000, n_test=4000, epochs=60, lr=1e-3, betas=(0.0, 1e-2, 0.1, 0.3),
                   n_eval_info=512, n_seeds=5),
}


# --------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------
@dataclass
class Data:
    """Standardised tensors: ``x_*`` ``(N, dim)``, ``y_*`` ``(N,)``; ``outlier`` marks the corrupted training labels."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    outlier: Tensor
    y_train_clean: Tensor


def target(x: Tensor) -> Tensor:
    """The clean regression function ``sin(3 x1) + x2² − x3``: ``(N, dim)`` → ``(N,)``."""
    return torch.sin(3 * x[:, 0]) + x[:, 1] ** 2 - x[:, 2]


def make_data(cfg: Config, seed: int) -> Data:
    """``x ~ N(0, I_dim)``, ``y = target(x) + noise·ε``, standardised with the clean training statistics.

    A fraction ``outlier_frac`` of the *training* labels is moved by ``± outlier_scale`` (random sign), in units
    of the clean target's standard deviation; validation and test labels are clean.
    """
    g = torch.Generator().manual_seed(int(seed))
    n = cfg.n_train + cfg.n_val + cfg.n_test
    x = torch.randn(n, cfg.dim, generator=g)
    y = target(x) + cfg.noise * torch.randn(n, generator=g)
    mu, sd = y[: cfg.n_train].mean(), y[: cfg.n_train].std()
    y = (y - mu) / sd
    ytr_clean = y[: cfg.n_train].clone()
    n_out = round(cfg.outlier_frac * cfg.n_train)
    idx = torch.randperm(cfg.n_train, generator=g)[:n_out]
    sign = torch.randint(0, 2, (n_out,), generator=g).float() * 2 - 1
    ytr = ytr_clean.clone()
    ytr[idx] += sign * cfg.outlier_scale
    outlier = torch.zeros(cfg.n_train, dtype=torch.bool)
    outlier[idx] = True
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    return Data(x[:a], ytr, x[a:b], y[a:b], x[b:], y[b:], outlier, ytr_clean)


# --------------------------------------------------------------------------------------------------------
# Model: M independent encoder/decoder pairs in one set of tensors
# --------------------------------------------------------------------------------------------------------
class MemberMLP(torch.nn.Module):
    """``M`` independent networks ``x → ReLU(64) → ReLU(64) → t (16) → ReLU(32) → ŷ``, weights ``(M, in, out)``.

    ``encode``: ``x`` ``(M, B, dim)`` → ``t`` ``(M, B, bottleneck)``; ``forward`` → ``(t, ŷ)`` with ŷ ``(M, B)``.
    The encoder is deterministic, as in the official training loop (which calls the network with
    ``training=False``, i.e. uses the encoder mean).
    """

    def __init__(self, n_members: int, sizes_enc: tuple[int, ...], sizes_dec: tuple[int, ...]) -> None:
        super().__init__()
        self.n_enc = len(sizes_enc) - 1
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for a, b in list(pairwise(sizes_enc)) + list(pairwise(sizes_dec)):
            bound = 1 / math.sqrt(a)  # PyTorch's nn.Linear default (uniform ±1/sqrt(fan_in))
            self.weights.append(torch.nn.Parameter(torch.empty(n_members, a, b).uniform_(-bound, bound)))
            self.biases.append(torch.nn.Parameter(torch.empty(n_members, 1, b).uniform_(-bound, bound)))

    def _layers(self, h: Tensor, lo: int, hi: int) -> Tensor:
        for i in range(lo, hi):
            h = torch.baddbmm(self.biases[i], h, self.weights[i])
            if i != self.n_enc - 1 and i != len(self.weights) - 1:
                h = torch.relu(h)
        return h

    def encode(self, x: Tensor) -> Tensor:
        return self._layers(x, 0, self.n_enc)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        t = self.encode(x)
        return t, self._layers(t, self.n_enc, len(self.weights)).squeeze(-1)


def make_model(cfg: Config, n_seeds: int, n_variants: int, seeds: list[int], device: torch.device | str) -> MemberMLP:
    """Members ordered seed-major (``m = s·V + v``); all variants of a seed share their initial weights."""
    enc = (cfg.dim, cfg.hidden, cfg.hidden, cfg.bottleneck)
    dec = (cfg.bottleneck, cfg.dec_hidden, 1)
    parts = []
    for s in seeds:
        torch.manual_seed(int(s) + 7919)
        parts.append(MemberMLP(1, enc, dec))
    model = MemberMLP(n_seeds * n_variants, enc, dec)
    with torch.no_grad():
        for i in range(len(model.weights)):
            model.weights[i].copy_(torch.cat([p.weights[i].expand(n_variants, -1, -1) for p in parts]))
            model.biases[i].copy_(torch.cat([p.biases[i].expand(n_variants, -1, -1) for p in parts]))
    return model.to(device)


# --------------------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------------------
def cs_ib_loss(x: Tensor, t: Tensor, y: Tensor, y_hat: Tensor, beta: Tensor, sigma_x: float, sigma_y: Tensor,
               k_x: Tensor | None = None, k_x_info: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """CS-IB loss per member (Sec. 3): ``D_CS(p(y|x) ‖ q(ŷ|x)) + β · I_CS(x; t)``.

    Args:
        x: ``(M, B, dim)`` inputs; t: ``(M, B, K)`` representations; y, y_hat: ``(M, B)``.
        beta: ``(M,)`` compression weights; sigma_y: ``(M,)`` target-kernel widths; sigma_x: input-kernel width.
        k_x: optional precomputed input Gram matrix ``(M, B, B)`` of the prediction term (width ``sigma_x``).
        k_x_info: optional precomputed input Gram matrix ``(M, B, B)`` of the compression term (median heuristic).

    Returns:
        ``(loss, prediction_term, compression_term)``, each ``(M,)``. The compression term uses the median
        heuristic for both widths (the official default, 10 × the median *squared* distance, made both Gram
        matrices ≈ 1 and the float32 estimate noise); members with β = 0 skip it (returned as 0).
    """
    pred = info.conditional_cs_divergence(x, y, y_hat, sigma_x, sigma_y, k_x=k_x)
    comp = torch.zeros_like(pred)
    on = beta > 0
    if on.any():
        comp = comp.clone()
        comp[on] = info.cs_qmi(x[on], t[on], k_x=None if k_x_info is None else k_x_info[on])
    return pred + beta * comp, pred, comp


def huber(y_hat: Tensor, y: Tensor, delta: float) -> Tensor:
    """Mean Huber loss per member: ``(M, B)`` → ``(M,)``."""
    return F.huber_loss(y_hat, y, reduction="none", delta=delta).mean(-1)


# --------------------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    """Per-seed results; arrays are ``(n_seeds, n_variants)`` unless noted.

    Attributes:
        variants: the variants, in column order.
        seeds: the seeds, in row order.
        rmse_test: clean test RMSE at each member's best clean-validation epoch.
        rmse_val: the best clean-validation RMSE.
        best_epoch: the selected epoch (1-based).
        ics: ``I_CS(x; t)`` on ``n_eval_info`` test points at the selected epoch (median-heuristic widths).
        pred_term: the conditional CS divergence ``D_CS`` (σ_x = σ_y = 1) on the same points at that epoch.
        fgsm_rmse: ``(n_seeds, n_variants, n_eps)`` test RMSE under FGSM at each ``fgsm_eps``.
        val_curve: ``(epochs, n_seeds, n_variants)`` validation RMSE after every epoch.
        seconds: wall time of training and evaluation.
    """

    variants: tuple[Variant, ...]
    seeds: list[int]
    rmse_test: np.ndarray
    rmse_val: np.ndarray
    best_epoch: np.ndarray
    ics: np.ndarray
    pred_term: np.ndarray
    fgsm_rmse: np.ndarray
    fgsm_eps: tuple[float, ...]
    val_curve: np.ndarray
    seconds: float
    example: Data | None = field(default=None, repr=False)
    example_pred: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def col(self, name: str) -> int:
        names = [v.name for v in self.variants]
        if name not in names:
            raise KeyError(f"no variant {name!r}; have {names}")
        return names.index(name)

    def get(self, arr: str, name: str) -> np.ndarray:
        """``getattr(self, arr)[:, col(name)]``: one variant's per-seed values."""
        return getattr(self, arr)[:, self.col(name)]


def fgsm_rmse(model: MemberMLP, x: Tensor, y: Tensor, eps: tuple[float, ...]) -> Tensor:
    """Test RMSE under FGSM (``x + ε·sign ∇_x MSE``, the official code's attack), per member: → ``(M, n_eps)``.

    ``x``: ``(M, N, dim)``; ``y``: ``(M, N)``.
    """
    xa = x.clone().requires_grad_(True)
    _, out = model(xa)
    grad, = torch.autograd.grad(((out - y) ** 2).mean(-1).sum(), xa)
    rows = []
    with torch.no_grad():
        for e in eps:
            _, o = model(x + e * grad.sign())
            rows.append(((o - y) ** 2).mean(-1).sqrt())
    return torch.stack(rows, -1)


def run(cfg: Config, seeds: list[int], device: torch.device | str = "cpu", variants: tuple[Variant, ...] | None = None,
        progress: bool = True) -> Result:
    """Train every variant for every seed (one member each), select each at its best clean-validation epoch.

    All variants of a seed see the same data, initial weights and batch order. Returns a :class:`Result`.
    """
    t0 = time.perf_counter()
    device = torch.device(device)
    variants = cfg.variants if variants is None else tuple(variants)
    S, V = len(seeds), len(variants)
    data = [make_data(cfg, s) for s in seeds]
    stack = lambda name: torch.stack([getattr(d, name) for d in data]).to(device)
    xtr, ytr, xva, yva, xte, yte = (stack(n) for n in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"))
    rep = lambda a: a.repeat_interleave(V, 0)  # (S, ...) → (S·V, ...), seed-major
    xva_m, yva_m, xte_m, yte_m = rep(xva), rep(yva), rep(xte), rep(yte)
    xinfo = xte_m[:, : cfg.n_eval_info]
    model = make_model(cfg, S, V, seeds, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    kind = torch.tensor([KINDS.index(v.kind) for v in variants] * S, device=device)
    beta = torch.tensor([v.beta for v in variants] * S, device=device)
    sig_y = torch.tensor([v.sigma_y * cfg.sigma_y for v in variants] * S, device=device)
    is_cs = kind == KINDS.index("cs")
    w_mse = (kind == KINDS.index("mse")).float()
    w_hub = (kind == KINDS.index("huber")).float()

    gen = torch.Generator().manual_seed(int(seeds[0]) * 7 + 1)
    n_steps = cfg.n_train // cfg.batch_size
    best_val = torch.full((S * V,), float("inf"), device=device)
    best_state = [p.detach().clone() for p in model.parameters()]
    best_epoch = torch.zeros(S * V, dtype=torch.long, device=device)
    val_curve = []
    bar = progress_bar(total=cfg.epochs * n_steps, desc=f"training {S * V} networks", enabled=None if progress else False)
    for epoch in range(cfg.epochs):
        perms = torch.stack([torch.randperm(cfg.n_train, generator=gen) for _ in range(S)]).to(device)
        for step in range(n_steps):
            idx = perms[:, step * cfg.batch_size: (step + 1) * cfg.batch_size]  # (S, B)
            xb = torch.gather(xtr, 1, idx[..., None].expand(-1, -1, cfg.dim))
            yb = torch.gather(ytr, 1, idx)
            k_x = info.gram(xb, sigma=cfg.sigma_x)  # (S, B, B): the prediction term's input kernel, per seed
            xb_m, yb_m, k_m = rep(xb), rep(yb), rep(k_x)
            k_info = rep(info.gram(xb)) if (beta > 0).any() else None  # compression term's input kernel (median σ)
            t, out = model(xb_m)
            loss = w_mse * ((out - yb_m) ** 2).mean(-1) + w_hub * huber(out, yb_m, cfg.huber_delta)
            if is_cs.any():
                cs_loss = torch.zeros_like(loss)
                c = is_cs
                cs_loss[c], _, _ = cs_ib_loss(xb_m[c], t[c], yb_m[c], out[c], beta[c], cfg.sigma_x, sig_y[c],
                                              k_x=k_m[c], k_x_info=None if k_info is None else k_info[c])
                loss = loss + cs_loss
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            bar.update(1)
        with torch.no_grad():
            _, o = model(xva_m)
            val = ((o - yva_m) ** 2).mean(-1).sqrt()
            val_curve.append(val.view(S, V).cpu().numpy())
            better = val < best_val
            best_val = torch.where(better, val, best_val)
            best_epoch = torch.where(better, torch.full_like(best_epoch, epoch + 1), best_epoch)
            for b, p in zip(best_state, model.parameters()):
                b.copy_(torch.where(better.view(-1, *([1] * (p.dim() - 1))), p, b))
    bar.close()
    with torch.no_grad():
        for b, p in zip(best_state, model.parameters()):
            p.copy_(b)
        t, o = model(xte_m)
        rmse_test = ((o - yte_m) ** 2).mean(-1).sqrt()
        tinfo, oinfo = model(xinfo)
        ics = info.cs_qmi(xinfo, tinfo)
        pred_term = info.conditional_cs_divergence(xinfo, yte_m[:, : cfg.n_eval_info], oinfo, cfg.sigma_x, cfg.sigma_y)
    fg = fgsm_rmse(model, xte_m, yte_m, cfg.fgsm_eps)
    ex_pred = {v.name: o[i, :].cpu().numpy() for i, v in enumerate(variants)}  # first seed's members
    shape = lambda a: a.detach().view(S, V, *a.shape[1:]).cpu().numpy()
    return Result(variants, list(seeds), shape(rmse_test), shape(best_val), shape(best_epoch), shape(ics),
                  shape(pred_term), shape(fg), tuple(cfg.fgsm_eps), np.stack(val_curve),
                  time.perf_counter() - t0, example=data[0], example_pred=ex_pred)


# --------------------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------------------
def best_cs(res: Result, beta_max: float | None = None) -> np.ndarray:
    """Per seed: test RMSE of the CS variant (any β of the grid up to ``beta_max``) with the best clean-validation RMSE."""
    cols = [i for i, v in enumerate(res.variants)
            if v.kind == "cs" and v.sigma_y == 1.0 and (beta_max is None or v.beta <= beta_max)]
    val = res.rmse_val[:, cols]
    pick = np.asarray(cols)[val.argmin(1)]
    return res.rmse_test[np.arange(len(res.seeds)), pick]


def beta_columns(res: Result) -> list[int]:
    """Columns of the CS variants with the default ``σ_y`` (the β grid), in increasing β."""
    cols = [i for i, v in enumerate(res.variants) if v.kind == "cs" and v.sigma_y == 1.0]
    return sorted(cols, key=lambda i: res.variants[i].beta)


def claim_values(res: Result, method: str = "cs", baseline: str = "mse", compress: str | None = None
                 ) -> dict[str, np.ndarray]:
    """Per-seed values of the claims (and of the Huber comparison, shown but not asserted).

    ``csib_rmse_ratio``: clean test RMSE of the CS model whose β (on the grid) has the best clean-validation
    RMSE, divided by the baseline's. ``method`` may name one variant instead of ``"cs"`` (the swaps:
    ``"mse"``, ``"cs_div_sigma10"``, ``"huber"``).
    ``ics_beta_ratio``: ``I_CS(x; t)`` at the largest β divided by ``I_CS(x; t)`` at β = 0.
    ``ics_monotone_step``: per seed, the ratio ``I_CS(β_{k+1}) / I_CS(β_k)`` of each consecutive grid pair,
    shape ``(n_seeds, n_pairs)``; the claim takes the *largest* seed-mean over the pairs (all must fall).
    ``compress`` names a variant to use in place of every β > 0 model (the swap "β switched off": ``"cs_div"``).
    ``huber_rmse_ratio``: Huber / MSE.
    """
    num = best_cs(res) if method == "cs" else res.get("rmse_test", method)
    cols = beta_columns(res)
    ics = res.ics[:, cols]
    if compress is not None:
        ics = np.repeat(res.get("ics", compress)[:, None], len(cols), 1)
    return {
        "csib_rmse_ratio": num / res.get("rmse_test", baseline),
        "ics_beta_ratio": ics[:, -1] / ics[:, 0],
        "ics_monotone_step": ics[:, 1:] / ics[:, :-1],
        "huber_rmse_ratio": res.get("rmse_test", "huber") / res.get("rmse_test", baseline),
    }


def monotone_step(values: np.ndarray) -> float:
    """The largest seed-mean ``I_CS(β_{k+1}) / I_CS(β_k)`` over the grid: ``(n_seeds, n_pairs)`` → float."""
    return float(np.asarray(values).mean(0).max())


def loss_profile(residual: np.ndarray, sigma_y: float) -> np.ndarray:
    """Per-sample influence of a residual ``r`` under the correntropy limit of the CS prediction term.

    ``1 − exp(−r²/2σ_y²)`` (scaled to 1 at r → ∞): what one sample adds to ``−Σ κ_σy(ŷ − y)``; quadratic
    ``r²/2σ_y²`` near 0, flat for ``|r| ≫ σ_y``.
    """
    return 1.0 - np.exp(-np.asarray(residual) ** 2 / (2 * sigma_y**2))
