"""Prior-data fitted networks (PFNs) — a transformer trained on prior samples does Bayesian inference.

Müller, Hollmann, Pineda Arango, Grabocka & Hutter, "Transformers Can Do Bayesian Inference", ICLR 2022,
arXiv:2112.10510. Used by ``notebooks/05_tabular_sequence_spatial/08_pfn_bayesian_inference.ipynb``.

The recipe (paper Sec. 3, Alg. 1): repeatedly draw a function from a prior and a dataset from it,
``D ∪ {(x, y)} ~ p(D)``, hide some labels, and train a network ``q_θ(y | x, D)`` on the *prior-data NLL*

    ℓ_θ = E_{D ∪ {(x,y)} ~ p(D)} [ -log q_θ(y | x, D) ].

Sec. 3 shows ℓ_θ equals the expected KL divergence from the true posterior predictive ``p(y | x, D)`` to ``q_θ``
plus a constant, so minimising it fits the posterior predictive distribution (PPD) itself. At test time one
forward pass on a real dataset gives the approximate Bayesian prediction — no MCMC, no optimisation.

Architecture (Sec. 4, Fig. 2, and the reference code): a transformer encoder *without positional encoding*, so the
training set is a set. Training points become tokens ``enc_x(x) + enc_y(y)``; query points ``enc_x(x)`` only. The
attention mask lets every position attend to all training tokens, and each query token additionally to itself —
so queries never see each other and each query's prediction depends only on ``(D, x)``. The output is a
*Riemann* ("bar") distribution: a softmax over buckets whose borders are prior-``y`` quantiles, each bucket a
uniform density; the outer buckets are replaced by half-normals for full support (Sec. 4, "Riemann distribution").

What is here
------------
* :func:`pfn_mask` — the attention mask; :func:`full_mask` for the contrast.
* :class:`GaussianHead`, :class:`BarDistribution` — the two output heads (the paper's is the bar distribution;
  the Gaussian head is this notebook's small-scale simplification, exact in form for a GP prior).
* :class:`PFN` — encoders + :class:`featurelab.transformer.TinyEncoder` + head.
* :func:`sample_batch` (the GP prior, :mod:`featurelab.gp`), :func:`train_pfn` (Alg. 1 with warm-up + cosine).
* :func:`evaluate` — per-query NLL of PFN, exact GP PPD, prior predictive and k-NN, per context size.
* :class:`Config`, :data:`PRESETS`, :data:`SMOKE`, :func:`run`, :func:`claim_values`, :data:`CLAIMS`, :data:`SWAPS`
  (the paper contract, :mod:`featurelab.experiment`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab import gp
from featurelab.base import ParameterError, progress
from featurelab.claims import ClaimSpec
from featurelab.experiment import Knobs, Swap, knob
from featurelab.transformer import TinyEncoder

__all__ = [
    "CLAIMS",
    "PFN",
    "PRESETS",
    "SMOKE",
    "SWAPS",
    "BarDistribution",
    "ClaimSpec",
    "Config",
    "EvalResult",
    "GaussianHead",
    "Result",
    "claim_values",
    "evaluate",
    "full_mask",
    "knn_predict",
    "lr_factor",
    "pfn_mask",
    "predict_curve",
    "run",
    "sample_batch",
    "train_pfn",
]


# ----------------------------------------------------------------------------------------------------------
# 1. Configuration
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Knobs):
    """One experiment. Prior: 1-D GP, ``x ~ U[0, 1]``, ``n_points`` per dataset, the first ``n_ctx`` labelled with
    ``n_ctx ~ U{min_ctx..max_ctx}`` drawn per batch (the paper's random ``single_eval_pos``)."""

    kernel: str = knob("rbf", choices=("rbf", "matern12", "matern32", "matern52"), doc="GP prior kernel")
    lengthscale: float = knob(0.2, lo=0.0, lo_open=True, doc="GP prior lengthscale")
    outputscale: float = knob(1.0, lo=0.0, lo_open=True, doc="GP prior output variance")
    noise: float = knob(0.01, lo=0.0, lo_open=True, doc="observation noise variance σ²")
    n_points: int = knob(32, lo=2, doc="points per prior dataset (context + queries)")
    min_ctx: int = knob(1, lo=1, doc="smallest context size")
    max_ctx: int = knob(24, lo=1, doc="largest context size")
    d_model: int = knob(64, lo=1, doc="transformer width")
    n_layers: int = knob(2, lo=1, doc="encoder blocks")
    n_heads: int = knob(4, lo=1, doc="attention heads")
    d_ff: int = knob(128, lo=1, doc="feed-forward width")
    head: str = knob("gaussian", choices=("gaussian", "bar"),
                     doc="'gaussian' (small-scale simplification) or 'bar' (the paper's Riemann distribution)")
    n_buckets: int = knob(100, lo=3, doc="buckets of the bar distribution")
    batch_size: int = knob(32, lo=1, doc="prior datasets per training step")
    steps: int = knob(800, lo=0, doc="training steps (0 = the untrained network)")
    lr: float = knob(3e-3, lo=0.0, lo_open=True, doc="peak Adam learning rate")
    warmup: float = knob(0.1, lo=0.0, hi=0.99, doc="fraction of steps with linear warm-up, then cosine decay")
    predictor: str = knob("pfn", choices=("pfn", "knn"),
                          doc="what the claims measure: the trained PFN, or k-NN in its place (a swap)")
    n_seeds: int = knob(1, lo=1, doc="independently trained PFNs (training seeds); claims average their NLL")
    n_eval_tasks: int = knob(300, lo=1, doc="prior datasets per evaluation set")
    n_eval_sets: int = knob(3, lo=1, doc="evaluation sets (claims: mean over them)")
    n_queries: int = knob(8, lo=1, doc="held-out query points per training sequence and evaluation task")
    knn_k: int = knob(5, lo=1, doc="neighbours of the k-NN baseline")

    def validate(self) -> None:
        if self.max_ctx < self.min_ctx:
            raise ParameterError(f"MAX_CTX={self.max_ctx} must be >= MIN_CTX={self.min_ctx}")
        if self.max_ctx + self.n_queries > self.n_points:
            raise ParameterError(f"MAX_CTX + N_QUERIES = {self.max_ctx + self.n_queries} exceeds N_POINTS={self.n_points}")
        if self.d_model % self.n_heads:
            raise ParameterError(f"D_MODEL={self.d_model} must be divisible by N_HEADS={self.n_heads}")

    def gp_kernel(self) -> gp.Kernel:
        return gp.Kernel(self.kernel, self.lengthscale, self.outputscale)


PRESETS = {
    # Prototype check of the card: batch 32, 800 steps, lr 3e-3, 10 % warm-up + cosine. Gaussian head: the bar
    # head at this budget lands at the 0.30-nat bar (see results/calibration/notes/pfn_bayesian_inference.md).
    "small": Config(),
    # One GPU (estimated, not yet run): the paper's bar head, 6 layers, 20k steps, 3 trained models.
    "full": Config(d_model=256, n_layers=6, n_heads=4, d_ff=512, head="bar", n_buckets=100, batch_size=128,
                   steps=20_000, lr=1e-3, n_seeds=3, n_eval_tasks=1000),
}
#: Cuts ``full`` to two steps of one model on a few tasks (shapes kept) for the smoke test.
SMOKE = {"steps": 2, "n_seeds": 1, "n_eval_tasks": 4, "n_eval_sets": 1}


# ----------------------------------------------------------------------------------------------------------
# 2. The PFN attention mask (Sec. 4, Fig. 2)
# ----------------------------------------------------------------------------------------------------------
def pfn_mask(n_ctx: int, n_total: int, device: torch.device | str | None = None) -> Tensor:
    """``(T, T)`` bool, ``True`` = may attend. Everyone attends to the ``n_ctx`` training tokens (positions
    ``0..n_ctx-1``); a query token (position ``≥ n_ctx``) additionally attends to itself, never to other queries."""
    if not 0 < n_ctx <= n_total:
        raise ParameterError(f"need 0 < n_ctx <= n_total, got n_ctx={n_ctx}, n_total={n_total}")
    mask = torch.zeros(n_total, n_total, dtype=torch.bool, device=device)
    mask[:, :n_ctx] = True
    idx = torch.arange(n_ctx, n_total, device=device)
    mask[idx, idx] = True
    return mask


def full_mask(n_ctx: int, n_total: int, device: torch.device | str | None = None) -> Tensor:
    """Contrast: every token attends to every token (queries see each other's *inputs*)."""
    return torch.ones(n_total, n_total, dtype=torch.bool, device=device)


# ----------------------------------------------------------------------------------------------------------
# 3. Output heads
# ----------------------------------------------------------------------------------------------------------
class GaussianHead(nn.Module):
    """``q(y | x, D) = N(μ, σ²)`` from two outputs (μ, log σ²). Simplification: the paper uses the bar distribution;
    for a GP prior with fixed hyper-parameters the true PPD *is* Gaussian, so this family contains it."""

    n_out = 2

    def nll(self, out: Tensor, y: Tensor) -> Tensor:
        """``out``: ``(..., 2)``, ``y``: ``(...)`` → per-point NLL ``(...)``."""
        mean, var = self.mean_var(out)
        return gp.gaussian_nll(y, mean, var)

    def mean_var(self, out: Tensor) -> tuple[Tensor, Tensor]:
        return out[..., 0], torch.exp(out[..., 1].clamp(-12.0, 8.0))


class BarDistribution(nn.Module):
    """The paper's Riemann distribution with full support (Sec. 4; reference code: ``FullSupportBarDistribution``).

    ``borders``: ``(K+1,)`` increasing. The network outputs ``K`` logits; ``p = softmax(logits)``. Inner bucket
    ``k`` has the uniform density ``p_k / w_k`` (``w_k`` its width). The first and last bucket are replaced by
    half-normals pointing outward from ``borders[1]`` and ``borders[K-1]``, with scale chosen so that half of
    their mass lies inside the bucket's width (as in the reference code) — so every ``y`` has positive density.
    """

    def __init__(self, borders: Tensor):
        super().__init__()
        if borders.dim() != 1 or borders.numel() < 4 or not bool((borders[1:] > borders[:-1]).all()):
            raise ParameterError("borders must be a 1-D increasing tensor with at least 4 entries (3 buckets)")
        self.register_buffer("borders", borders.clone().float())
        widths = borders[1:] - borders[:-1]
        self.register_buffer("widths", widths.float())
        q75 = math.sqrt(2.0) * torch.erfinv(torch.tensor(0.5)).item()  # half-normal median / scale = 0.6745
        self.scale_left = float(widths[0]) / q75
        self.scale_right = float(widths[-1]) / q75

    @property
    def n_out(self) -> int:
        return self.widths.numel()

    @classmethod
    def from_prior_samples(cls, y: Tensor, n_buckets: int) -> BarDistribution:
        """Borders at the ``k / K`` quantiles of prior ``y`` samples (each bucket holds equal prior mass)."""
        qs = torch.linspace(0, 1, n_buckets + 1)
        borders = torch.quantile(y.flatten().float()[:1_000_000], qs)
        return cls(borders)

    def log_density(self, logits: Tensor, y: Tensor) -> Tensor:
        """``logits``: ``(..., K)``, ``y``: ``(...)`` → ``log q(y)`` ``(...)``."""
        K = self.n_out
        logp = F.log_softmax(logits, -1)
        idx = (torch.searchsorted(self.borders, y.contiguous(), right=False) - 1).clamp(0, K - 1)
        inner = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1) - torch.log(self.widths[idx])

        def halfnormal_logpdf(z: Tensor, s: float) -> Tensor:
            return 0.5 * math.log(2 / math.pi) - math.log(s) - 0.5 * (z / s) ** 2

        left = logp[..., 0] + halfnormal_logpdf((self.borders[1] - y).clamp_min(0), self.scale_left)
        right = logp[..., -1] + halfnormal_logpdf((y - self.borders[-2]).clamp_min(0), self.scale_right)
        return torch.where(idx == 0, left, torch.where(idx == K - 1, right, inner))

    def nll(self, logits: Tensor, y: Tensor) -> Tensor:
        return -self.log_density(logits, y)

    def mean_var(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and variance of the bar distribution (uniform inner buckets, half-normal tails)."""
        p = logits.softmax(-1)
        a, b = self.borders[:-1], self.borders[1:]
        m1 = (a + b) / 2
        m2 = (a * a + a * b + b * b) / 3
        c = math.sqrt(2 / math.pi)
        bl, br, sl, sr = self.borders[1], self.borders[-2], self.scale_left, self.scale_right
        m1 = torch.cat([(bl - sl * c).view(1), m1[1:-1], (br + sr * c).view(1)])
        m2 = torch.cat([(bl**2 - 2 * bl * sl * c + sl**2).view(1), m2[1:-1], (br**2 + 2 * br * sr * c + sr**2).view(1)])
        mean = (p * m1).sum(-1)
        return mean, ((p * m2).sum(-1) - mean**2).clamp_min(1e-12)


# ----------------------------------------------------------------------------------------------------------
# 4. The network
# ----------------------------------------------------------------------------------------------------------
class PFN(nn.Module):
    """Tokens → encoder (PFN mask, no positional encoding) → head, for the query positions only.

    ``forward(x, y_ctx)``: ``x`` ``(B, T, 1)`` holds the context inputs first, then the queries; ``y_ctx``
    ``(B, n_ctx)`` the context labels. Returns head outputs ``(B, T - n_ctx, n_out)`` for the queries.
    """

    def __init__(self, cfg: Config, head: GaussianHead | BarDistribution | None = None):
        super().__init__()
        self.head = head if head is not None else GaussianHead()
        self.enc_x = nn.Linear(1, cfg.d_model)
        self.enc_y = nn.Linear(1, cfg.d_model)
        self.encoder = TinyEncoder(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff)
        self.decoder = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, self.head.n_out))
        self.mask_fn = pfn_mask

    def forward(self, x: Tensor, y_ctx: Tensor) -> Tensor:
        n_ctx, T = y_ctx.shape[1], x.shape[1]
        tokens = self.enc_x(x)
        tokens = torch.cat([tokens[:, :n_ctx] + self.enc_y(y_ctx.unsqueeze(-1)), tokens[:, n_ctx:]], dim=1)
        h = self.encoder(tokens, self.mask_fn(n_ctx, T, device=x.device))
        return self.decoder(h[:, n_ctx:])

    def nll(self, x: Tensor, y: Tensor, n_ctx: int) -> Tensor:
        """Per-query NLL ``(B, T - n_ctx)`` of the labels ``y`` ``(B, T)`` given the first ``n_ctx``."""
        return self.head.nll(self(x, y[:, :n_ctx]), y[:, n_ctx:])

    @torch.no_grad()
    def predict(self, x: Tensor, y_ctx: Tensor) -> tuple[Tensor, Tensor]:
        """Predictive mean and variance at the query positions, each ``(B, T - n_ctx)``."""
        return self.head.mean_var(self(x, y_ctx))


# ----------------------------------------------------------------------------------------------------------
# 5. Prior-data and training (Alg. 1)
# ----------------------------------------------------------------------------------------------------------
def sample_batch(cfg: Config, batch: int, generator: torch.Generator, n_points: int | None = None,
                 device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """``batch`` datasets from the GP prior: ``x`` ``(B, T, 1)`` uniform on [0, 1], ``y`` ``(B, T)``."""
    T = n_points or cfg.n_points
    x = torch.rand(batch, T, 1, generator=generator, dtype=torch.float64)
    y = gp.sample_prior(x, cfg.gp_kernel(), cfg.noise, generator=generator)
    return x.float().to(device), y.float().to(device)


def lr_factor(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over ``warmup · total`` steps, then cosine decay to 0."""
    w = max(1, round(warmup * total))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


def make_head(cfg: Config, seed: int) -> GaussianHead | BarDistribution:
    if cfg.head == "gaussian":
        return GaussianHead()
    g = torch.Generator().manual_seed(seed + 7_919)
    _, y = sample_batch(cfg, 2_000, g)
    return BarDistribution.from_prior_samples(y, cfg.n_buckets)


def train_pfn(cfg: Config, seed: int, device: torch.device | str = "cpu", steps: int | None = None,
              progress_bar: bool | None = None, desc: str = "train PFN") -> tuple[PFN, list[float]]:
    """Algorithm 1: sample a batch of prior datasets and a split point, take an Adam step on the NLL of the held-out
    labels. Returns the trained model (eval mode) and the per-step training loss."""
    steps = cfg.steps if steps is None else steps
    torch.manual_seed(seed)
    model = PFN(cfg, make_head(cfg, seed)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(seed)
    losses = []
    bar = progress(total=steps, desc=desc, enabled=progress_bar)
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, steps, cfg.warmup)
        n_ctx = int(torch.randint(cfg.min_ctx, cfg.max_ctx + 1, (1,), generator=g))
        x, y = sample_batch(cfg, cfg.batch_size, g, n_points=n_ctx + cfg.n_queries, device=device)
        loss = model.nll(x, y, n_ctx).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(nll=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    return model, losses


# ----------------------------------------------------------------------------------------------------------
# 6. Evaluation: PFN vs the exact GP PPD, the prior predictive and k-NN, per context size
# ----------------------------------------------------------------------------------------------------------
def knn_predict(x_ctx: Tensor, y_ctx: Tensor, x_q: Tensor, k: int, noise: float) -> tuple[Tensor, Tensor]:
    """k-nearest-neighbour baseline: mean of the ``min(k, n)`` nearest context labels, variance = their spread
    plus the noise variance. ``x_ctx`` ``(B, n, 1)``, ``y_ctx`` ``(B, n)``, ``x_q`` ``(B, m, 1)`` → ``(B, m)`` ×2."""
    k = min(k, x_ctx.shape[1])
    d = (x_q - x_ctx.transpose(1, 2)).abs()  # (B, m, n)
    idx = d.topk(k, dim=-1, largest=False).indices
    ys = torch.gather(y_ctx.unsqueeze(1).expand(-1, x_q.shape[1], -1), 2, idx)
    return ys.mean(-1), ys.var(-1, unbiased=False) + noise


@dataclass
class EvalResult:
    """Per-query NLL, ``(n_sets, n_ctx_sizes)`` arrays (mean over tasks and queries) for each predictor."""

    ctx_sizes: list[int]
    nll: dict[str, np.ndarray]

    def mean(self, name: str) -> np.ndarray:
        """Per evaluation set: mean over context sizes (uniform, as in training) → ``(n_sets,)``."""
        return self.nll[name].mean(1)


@torch.no_grad()
def evaluate(models: list[PFN], cfg: Config, eval_seeds: list[int], device: torch.device | str = "cpu",
             extra: dict[str, PFN] | None = None) -> EvalResult:
    """For each evaluation seed: ``n_eval_tasks`` fresh prior datasets; for every context size ``n`` in
    ``min_ctx..max_ctx`` condition on the first ``n`` points and score the same ``n_queries`` held-out points.
    ``models`` are averaged (their NLLs) into ``"pfn"`` (NaN without models); ``extra`` PFNs are scored under
    their own names."""
    ctx_sizes = list(range(cfg.min_ctx, cfg.max_ctx + 1))
    names = ["pfn", "gp", "prior", "knn"] + list(extra or {})
    out = {n: np.zeros((len(eval_seeds), len(ctx_sizes))) for n in names}
    kernel = cfg.gp_kernel()
    for i, s in enumerate(eval_seeds):
        g = torch.Generator().manual_seed(s)
        x, y = sample_batch(cfg, cfg.n_eval_tasks, g, n_points=cfg.max_ctx + cfg.n_queries)
        xq, yq = x[:, cfg.max_ctx:], y[:, cfg.max_ctx:]
        x64, y64 = x.double(), y.double()
        prior_var = kernel.outputscale + cfg.noise
        for j, n in enumerate(ctx_sizes):
            xin = torch.cat([x[:, :n], xq], 1).to(device)
            yc = y[:, :n].to(device)
            yq_d = yq.to(device)
            out["pfn"][i, j] = (float(np.mean([m.head.nll(m(xin, yc), yq_d).mean().item() for m in models]))
                                if models else float("nan"))
            for name, m in (extra or {}).items():
                out[name][i, j] = m.head.nll(m(xin, yc), yq_d).mean().item()
            mu, var = gp.posterior_predictive(x64[:, :n], y64[:, :n], x64[:, cfg.max_ctx:], kernel, cfg.noise)
            out["gp"][i, j] = gp.gaussian_nll(y64[:, cfg.max_ctx:], mu, var).mean().item()
            out["prior"][i, j] = gp.gaussian_nll(yq, torch.zeros_like(yq), torch.full_like(yq, prior_var)).mean().item()
            mu, var = knn_predict(x[:, :n], y[:, :n], xq, cfg.knn_k, cfg.noise)
            out["knn"][i, j] = gp.gaussian_nll(yq, mu, var).mean().item()
    return EvalResult(ctx_sizes, out)


@torch.no_grad()
def predict_curve(model: PFN, cfg: Config, x_ctx: Tensor, y_ctx: Tensor, grid: Tensor,
                  mask_fn=None) -> dict[str, np.ndarray]:
    """PFN and exact-GP predictive mean/std on ``grid`` ``(G,)`` given one context ``x_ctx``, ``y_ctx`` ``(n,)``.
    All grid points are queries of one forward pass (with the PFN mask they cannot influence each other)."""
    dev = next(model.parameters()).device
    x = torch.cat([x_ctx, grid]).view(1, -1, 1).float().to(dev)
    old = model.mask_fn
    model.mask_fn = mask_fn or old
    try:
        mu, var = model.predict(x, y_ctx.view(1, -1).float().to(dev))
    finally:
        model.mask_fn = old
    gmu, gvar = gp.posterior_predictive(x_ctx.view(1, -1, 1).double(), y_ctx.view(1, -1).double(),
                                        grid.view(1, -1, 1).double(), cfg.gp_kernel(), cfg.noise)
    return {"pfn_mean": mu[0].cpu().numpy(), "pfn_std": var[0].sqrt().cpu().numpy(),
            "gp_mean": gmu[0].numpy(), "gp_std": gvar[0].sqrt().numpy()}


# ----------------------------------------------------------------------------------------------------------
# 7. The experiment and its claims
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    models: list[PFN]
    losses: list[list[float]]
    eval: EvalResult
    eval_seeds: list[int]
    seconds: float
    train_seconds: float
    extra: dict[str, object] = field(default_factory=dict)


def eval_seeds_for(seed: int, n: int) -> list[int]:
    """Evaluation seeds, disjoint from training seeds: ``1_000_003 · (j + 1) + seed``."""
    return [1_000_003 * (j + 1) + seed for j in range(n)]


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None
        ) -> Result:
    """Train ``len(seeds)`` PFNs for ``cfg.steps`` steps (one per seed; none when ``cfg.predictor == "knn"``),
    evaluate them on ``cfg.n_eval_sets`` fresh evaluation sets (seeded from ``seeds[0]``) against the exact GP,
    the prior predictive and k-NN."""
    start = time.perf_counter()
    models, losses = [], []
    if cfg.predictor == "pfn":
        for s in seeds:
            m, l = train_pfn(cfg, s, device, progress_bar=progress, desc=f"train PFN (seed {s})")
            models.append(m)
            losses.append(l)
    t_train = time.perf_counter() - start
    ev_seeds = eval_seeds_for(seeds[0], cfg.n_eval_sets)
    ev = evaluate(models, cfg, ev_seeds, device)
    return Result(cfg, list(seeds), models, losses, ev, ev_seeds, time.perf_counter() - start, t_train)


def claim_values(res: Result) -> dict[str, list[float]]:
    """Per evaluation set, for ``cfg.predictor`` (the PFN unless a swap put k-NN in its place):
    ``gap_to_gp = NLL(predictor) − NLL(exact GP)``; ``gain_over_prior = NLL(prior) − NLL(predictor)``
    (per-query NLL in nats, averaged over context sizes, tasks and queries)."""
    ev = res.eval
    m = ev.mean(res.cfg.predictor)
    return {"gap_to_gp": list(m - ev.mean("gp")), "gain_over_prior": list(ev.mean("prior") - m)}


# Calibrated over 12 seed sets (results/calibration/pfn_bayesian_inference.md); both are means over the 3 evaluation
# sets. Neither is the paper's "nearly indistinguishable": a gap of ≈ 0.2 nats remains at this budget (reported).
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("pfn_matches_gp_posterior", "gap_to_gp", "<=", 0.30,
              "the PFN's per-query NLL is within 0.30 nats of the exact GP posterior predictive (a closeness bar, "
              "not 'indistinguishable')",
              "PFNs 'near-perfectly mimic' GPs with fixed hyper-parameters (abstract; shown in plots, no NLL number)"),
    ClaimSpec("pfn_learns_from_context", "gain_over_prior", ">=", 1.0,
              "the PFN's NLL is at least 1.0 nat below the prior predictive N(0, 1 + σ²)",
              "not reported as a number (Sec. 5 plots)"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("untrained_pfn", {"steps": 0}, ("pfn_matches_gp_posterior", "pfn_learns_from_context"), "mechanism",
         "the same network with no prior-data training (Alg. 1 off): it predicts about the prior"),
    Swap("knn", {"predictor": "knn"}, ("pfn_matches_gp_posterior", "pfn_learns_from_context"), "baseline",
         "5-nearest-neighbour regression (mean of the neighbours, variance their spread + σ²) in the PFN's place"),
    Swap("pfn_150_steps", {"steps": 150}, ("pfn_matches_gp_posterior", "pfn_learns_from_context"), "baseline",
         "the same PFN trained for 150 steps instead of 800: the bars need a trained PFN, not any fit of the prior"),
)
