"""FGCNN — Feature Generation by Convolutional Neural Network for CTR prediction (Liu et al., WWW 2019).

arXiv:1904.04447. The paper's model (§3) has two parts:

* **Feature Generation** (§3.2): the ``n_f`` field embeddings ``E ∈ R^{n_f×k}`` form a one-channel image.
  Layer ``i`` convolves along the *field* axis only (kernel ``h_i × 1``, tanh), max-pools (``p_i × 1``) and
  a **recombination** fully connected layer turns the pooled pattern ``S_i`` into ``n_i·r_i`` new features::

      C_i = tanh(Conv(S_{i-1})),   S_i = MaxPool(C_i),   N_i = tanh(W_i flat(S_i) + b_i) ∈ R^{(n_i r_i)×k}.

* **Deep Classifier** (§3.3): an IPNN on the augmented set ``E' = [E; N_1; ...; N_L]`` — input
  ``[flat(E'); ⟨e'_a, e'_b⟩_{a<b}]`` → MLP → sigmoid.

The conv is written channel-last as im2col + ``nn.Linear`` and pooling as a reshape + max (same maths as
``Conv2d((h,1), padding='same')`` / ``MaxPool2d((p,1), ceil_mode=True)``, ≈3× faster on one CPU thread).
As in the FuxiCTR reference implementation, the generator has its own embedding table
(``share_embedding=False``) and BatchNorm after each conv.

The data are a click log from :func:`featurelab.clicklog.make_clicklog` (main effects, noise fields) with
FGCNN-specific *local* effects planted on top by :func:`make_local_log`: pairwise and third-order
(parity) interactions among *adjacent* fields. The experiment compares FGCNN with the fields in the planted
order against FGCNN with the columns interleaved so that no planted term is local (the paper's locality argument, §3.2 / §4.4), and
reports FGCNN − IPNN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..clicklog import auc, logloss, make_clicklog
from ..ctr import IPNN, FieldEmbedding, bce_logits
from ..run import ParameterError
from ..train import fit, predict

__all__ = ["THRESHOLDS", "FGCNN", "FGCNNConfig", "FeatureGenerator", "LocalLog", "PRESETS", "make_local_log",
           "n_generated", "run_seed", "run_experiment"]


@dataclass
class FGCNNConfig:
    """Experiment settings (one preset per scale).

    Data: ``n_train``/``n_test`` rows of a 12-field log (:func:`make_local_log`, effect sizes
    ``pair_effect``, ``triple_effect``). Models: embedding ``emb_dim``, IPNN MLP ``mlp``; generator
    ``channels``, kernel height ``kernel``, pool ``pool``, recombination ``recomb`` per layer.
    Training: Adam ``lr``, ``epochs``, ``batch_size``; ``n_seeds`` paired seeds.
    """

    n_train: int = 40_000
    n_test: int = 20_000
    n_seeds: int = 1
    epochs: int = 3
    batch_size: int = 1024
    lr: float = 1e-2
    emb_dim: int = 8
    mlp: tuple[int, ...] = (64, 32)
    channels: tuple[int, ...] = (6, 8)
    kernel: int = 3
    pool: int = 2
    recomb: tuple[int, ...] = (2, 2)
    pair_effect: float = 1.0
    triple_effect: float = 1.5

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test", "n_seeds", "epochs", "batch_size", "emb_dim", "kernel", "pool"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        if self.n_train < 1000 or self.n_test < 1000:
            raise ParameterError(f"n_train and n_test must be >= 1000 (AUC needs both classes), got "
                                 f"{self.n_train}, {self.n_test}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ParameterError(f"lr must be in (0, 1), got {self.lr!r}")
        if len(self.channels) != len(self.recomb) or not self.channels:
            raise ParameterError(f"channels {self.channels} and recomb {self.recomb} need the same, non-zero length")
        if min(self.channels) < 1 or min(self.recomb) < 0 or (self.mlp and min(self.mlp) < 1):
            raise ParameterError("channels and MLP widths must be >= 1, recomb >= 0")
        if self.kernel % 2 == 0:
            raise ParameterError(f"kernel height must be odd (same padding), got {self.kernel}")
        if self.pair_effect < 0 or self.triple_effect < 0:
            raise ParameterError("planted effects must be >= 0")


PRESETS = {
    "small": FGCNNConfig(n_train=20_000, n_test=10_000, n_seeds=2, epochs=3),
    "full": FGCNNConfig(n_train=400_000, n_test=100_000, n_seeds=5, epochs=3),
}

#: claim thresholds, calibrated over SEED = 0..9 at scale small (results/calibration/fgcnn.md).
THRESHOLDS = {"fgcnn_field_order_gain": 0.02}

# --- data: a click log with planted *local* interactions ------------------------------------------------

#: cardinalities of the 12 fields in planted order (all Zipf-skewed).
CARDS = (12, 15, 8, 10, 12, 20, 12, 15, 8, 10, 12, 20)
#: adjacent pairs and adjacent triples that carry the planted interactions; one distant pair.
LOCAL_PAIRS = ((0, 1), (6, 7))
DISTANT_PAIRS = ((5, 11),)
LOCAL_TRIPLES = ((2, 3, 4), (8, 9, 10))
#: the "shuffled" column order of the ablation: an interleaving that puts the fields of every planted term at
#: least three columns apart (column j holds planted field SHUFFLED_ORDER[j]).
SHUFFLED_ORDER = (0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11)
#: fields with main effects (value weights, from make_clicklog's informative fields).
MAIN_FIELDS = (0, 3, 6, 9, 11)


@dataclass
class LocalLog:
    """A click log whose interactions sit between neighbouring fields.

    Attributes:
        x: ``(N, 12)`` int64 value ids in planted order. y: ``(N,)`` int64 clicks. logit: ``(N,)`` true logit.
        cardinalities: ``(12,)`` ints. pairs / triples: the field index tuples of the planted terms.
    """

    x: np.ndarray
    y: np.ndarray
    logit: np.ndarray
    cardinalities: tuple[int, ...]
    pairs: tuple[tuple[int, ...], ...] = field(default=())
    triples: tuple[tuple[int, ...], ...] = field(default=())


def _balanced_signs(rng: np.random.Generator, x: np.ndarray, k: int) -> np.ndarray:
    """``(k,)`` ±1 value signs with (almost) equal probability mass on each side (greedy by frequency)."""
    counts = np.bincount(x, minlength=k).astype(np.float64)
    signs, mass = np.ones(k), [0.0, 0.0]
    for v in np.lexsort((rng.random(k), -counts)):
        side = int(mass[1] < mass[0])
        signs[v] = 1.0 - 2.0 * side
        mass[side] += counts[v]
    return signs


def make_local_log(n_rows: int, seed: int, pair_effect: float = 1.0, triple_effect: float = 1.5,
                   base_rate: float = 0.2) -> LocalLog:
    """``n_rows`` rows of 12 categorical fields with main effects and *local* interactions.

    Builds on :func:`featurelab.clicklog.make_clicklog` (Zipf values; main effects on ``MAIN_FIELDS``,
    the other fields start as pure noise), then adds, with balanced value signs ``s_f[v] = ±1``::

        logit += pair_effect · s_a s_b           for (a, b) in LOCAL_PAIRS + DISTANT_PAIRS
        logit += triple_effect · s_a s_b s_c     for (a, b, c) in LOCAL_TRIPLES  (parity: no lower-order signal)

    re-solves the intercept for ``base_rate`` and redraws the clicks.
    """
    noise_fields = [i for i in range(len(CARDS)) if i not in MAIN_FIELDS]
    base = make_clicklog(n_rows, informative=tuple(CARDS[i] for i in MAIN_FIELDS), interaction=(), id_noise=(),
                         noise=tuple(CARDS[i] for i in noise_fields), effect=0.5, base_rate=base_rate, seed=seed)
    order = list(MAIN_FIELDS) + noise_fields          # base column j holds planted field order[j]
    x = np.empty_like(base.x)
    x[:, order] = base.x
    rng = np.random.default_rng([seed, 5])
    logit = base.logit - base.logit.mean()
    signs = {f: _balanced_signs(rng, x[:, f], CARDS[f]) for f in range(len(CARDS))}
    for a, b in LOCAL_PAIRS + DISTANT_PAIRS:
        logit = logit + pair_effect * signs[a][x[:, a]] * signs[b][x[:, b]]
    for a, b, c in LOCAL_TRIPLES:
        logit = logit + triple_effect * signs[a][x[:, a]] * signs[b][x[:, b]] * signs[c][x[:, c]]
    bias = float(np.log(base_rate / (1 - base_rate)))
    for _ in range(20):
        p = 1.0 / (1.0 + np.exp(-(bias + logit)))
        bias -= (p.mean() - base_rate) / max(float((p * (1 - p)).mean()), 1e-9)
    logit = logit + bias
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return LocalLog(x, y, logit, CARDS, LOCAL_PAIRS + DISTANT_PAIRS, LOCAL_TRIPLES)


# --- the model -------------------------------------------------------------------------------------------

def n_generated(n_fields: int, pool: int, recomb: Sequence[int]) -> int:
    """Number of generated features ``Σ_i ⌈n_f / p^i⌉ · r_i`` (§3.2)."""
    total, n = 0, n_fields
    for r in recomb:
        n = math.ceil(n / pool)
        total += n * r
    return total


class FeatureGenerator(nn.Module):
    """FGCNN's Feature Generation (§3.2): ``(B, n_f, k)`` embeddings → ``(B, n_new, k)`` new features.

    Per layer ``i`` (channel-last tensors ``S`` of shape ``(B, n, k, c)``):

    1. conv along the field axis, kernel ``h × 1``, 'same' padding: the ``h`` shifted copies of ``S`` are
       concatenated on the channel axis (im2col, ``(B, n, k, h·c)``) and mapped by ``nn.Linear(h·c, m_i)``;
       BatchNorm, then ``tanh`` → ``C_i`` ``(B, n, k, m_i)``;
    2. max-pool ``p × 1`` (ceil mode): ``S_i`` ``(B, ⌈n/p⌉, k, m_i)``;
    3. recombination: ``N_i = tanh(W_i flat(S_i) + b_i)`` reshaped to ``(B, ⌈n/p⌉·r_i, k)``.
    """

    def __init__(self, n_fields: int, dim: int, channels: Sequence[int] = (6, 8), kernel: int = 3, pool: int = 2,
                 recomb: Sequence[int] = (2, 2), batch_norm: bool = True):
        super().__init__()
        if len(channels) != len(recomb):
            raise ParameterError("channels and recomb need one entry per layer")
        if kernel % 2 == 0 or kernel < 1 or pool < 1:
            raise ParameterError(f"kernel must be odd and >= 1, pool >= 1; got {kernel}, {pool}")
        self.kernel, self.pool, self.dim = kernel, pool, dim
        self.convs, self.norms, self.recombs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.heights: list[int] = []
        self.recomb = [int(r) for r in recomb]
        c_in, n = 1, n_fields
        for m, r in zip(channels, recomb):
            self.convs.append(nn.Linear(kernel * c_in, m))
            self.norms.append(nn.BatchNorm1d(m) if batch_norm else nn.Identity())
            n = math.ceil(n / pool)
            self.heights.append(n)
            self.recombs.append(nn.Linear(n * dim * m, max(n * dim * r, 1)))
            c_in = m
        self.n_new = sum(h * r for h, r in zip(self.heights, self.recomb))

    def conv(self, i: int, s: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s field-axis conv + BN + tanh: ``(B, n, k, c)`` → ``(B, n, k, m_i)``."""
        b, n, k, _ = s.shape
        top = (self.kernel - 1) // 2
        padded = nn.functional.pad(s, (0, 0, 0, 0, top, self.kernel - 1 - top))   # pad the field axis
        cols = torch.cat([padded[:, j:j + n] for j in range(self.kernel)], dim=-1)  # im2col (B, n, k, h·c)
        c = self.convs[i](cols)
        c = self.norms[i](c.reshape(-1, c.shape[-1])).reshape(b, n, k, -1)
        return torch.tanh(c)

    def max_pool(self, c: torch.Tensor) -> torch.Tensor:
        """``p × 1`` max-pool along fields, ceil mode: ``(B, n, k, m)`` → ``(B, ⌈n/p⌉, k, m)``."""
        b, n, k, m = c.shape
        n_out = math.ceil(n / self.pool)
        if n_out * self.pool != n:
            c = nn.functional.pad(c, (0, 0, 0, 0, 0, n_out * self.pool - n), value=-float("inf"))
        return c.reshape(b, n_out, self.pool, k, m).amax(dim=2)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        s, new = e.unsqueeze(-1), []
        for i in range(len(self.convs)):
            s = self.max_pool(self.conv(i, s))                                   # S_i (B, n_i, k, m_i)
            if self.recomb[i] > 0:
                n_i = torch.tanh(self.recombs[i](s.flatten(1)))                  # (B, n_i·k·r_i)
                new.append(n_i.reshape(e.shape[0], -1, self.dim))                # (B, n_i·r_i, k)
        if not new:
            return e.new_zeros(e.shape[0], 0, self.dim)
        return torch.cat(new, dim=1)


class FGCNN(nn.Module):
    """FGCNN (§3): ``(B, n_f)`` int64 → ``(B,)`` logits.

    ``E = emb_cls(x)``, ``N = FeatureGenerator(emb_gen(x))``, logit ``= IPNN.classify([E; N])``.
    """

    def __init__(self, cardinalities: Sequence[int], dim: int = 8, hidden: Sequence[int] = (64, 32),
                 channels: Sequence[int] = (6, 8), kernel: int = 3, pool: int = 2, recomb: Sequence[int] = (2, 2)):
        super().__init__()
        self.gen_embedding = FieldEmbedding(cardinalities, dim)
        self.generator = FeatureGenerator(len(cardinalities), dim, channels, kernel, pool, recomb)
        self.classifier = IPNN(cardinalities, dim, hidden, n_inputs=len(cardinalities) + self.generator.n_new)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.classifier.embedding(x)                       # (B, n_f, k)
        new = self.generator(self.gen_embedding(x))            # (B, n_new, k)
        return self.classifier.classify(torch.cat([e, new], dim=1))


# --- the experiment --------------------------------------------------------------------------------------

def _train_eval(model: nn.Module, xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: np.ndarray,
                cfg: FGCNNConfig, seed: int, progress: bool, desc: str) -> dict[str, float | np.ndarray]:
    hist = fit(model, xtr, ytr, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, loss_fn=bce_logits,
               seed=seed, progress_bar=progress, desc=desc)
    logit = predict(model, xte).double().cpu().numpy()
    prob = 1.0 / (1.0 + np.exp(-logit))
    return {"auc": auc(yte, logit), "logloss": logloss(yte, prob), "seconds": hist.seconds, "prob": prob,
            "model": model}


def make_model(kind: str, cards: Sequence[int], cfg: FGCNNConfig, seed: int) -> nn.Module:
    """``"ipnn"`` or ``"fgcnn"`` with the config's sizes, initialised from ``seed``."""
    torch.manual_seed(seed)
    if kind == "ipnn":
        return IPNN(cards, cfg.emb_dim, cfg.mlp)
    if kind == "fgcnn":
        return FGCNN(cards, cfg.emb_dim, cfg.mlp, cfg.channels, cfg.kernel, cfg.pool, cfg.recomb)
    raise ParameterError(f"unknown model {kind!r}; use 'ipnn' or 'fgcnn'")


def run_seed(cfg: FGCNNConfig, seed: int, device: torch.device | str = "cpu", progress: bool = False,
             runs: Sequence[tuple[str, str]] = (("ipnn", "planted"), ("fgcnn", "planted"), ("fgcnn", "permuted")),
             ) -> dict:
    """One paired seed: data from ``seed``, every model initialised from ``seed`` (so runs differ only in
    the model and the field order). ``runs`` lists ``(model, order)`` with order ``planted`` or
    ``permuted`` (columns in :data:`SHUFFLED_ORDER`, which separates the fields of every planted term).

    Returns ``{"perm": (12,) permutation, "y_test": (N_test,), "runs": {"model/order": metrics}}``.
    """
    log = make_local_log(cfg.n_train + cfg.n_test, seed, cfg.pair_effect, cfg.triple_effect)
    perm = np.array(SHUFFLED_ORDER)
    out: dict = {"perm": perm, "y_test": log.y[cfg.n_train:], "bayes_auc": auc(log.y[cfg.n_train:],
                                                                               log.logit[cfg.n_train:]),
                 "runs": {}}
    ytr = torch.as_tensor(log.y[:cfg.n_train], dtype=torch.float32, device=device)
    for kind, order in runs:
        if order not in ("planted", "permuted"):
            raise ParameterError(f"field order must be 'planted' or 'permuted', got {order!r}")
        cols = np.arange(len(log.cardinalities)) if order == "planted" else perm
        x = torch.as_tensor(log.x[:, cols], device=device)
        model = make_model(kind, [log.cardinalities[c] for c in cols], cfg, seed).to(device)
        out["runs"][f"{kind}/{order}"] = _train_eval(model, x[:cfg.n_train], ytr, x[cfg.n_train:],
                                                     log.y[cfg.n_train:], cfg, seed, progress,
                                                     f"{kind} ({order}) seed {seed}")
    return out


def run_experiment(cfg: FGCNNConfig, seeds: Sequence[int], device: torch.device | str = "cpu",
                   progress: bool = False, **kw) -> list[dict]:
    """:func:`run_seed` for each seed."""
    return [run_seed(cfg, s, device, progress, **kw) for s in seeds]


def order_gain(results: list[dict], model: str = "fgcnn", metric: str = "auc") -> list[float]:
    """Per seed ``metric(model, planted) − metric(model, permuted)``."""
    return [r["runs"][f"{model}/planted"][metric] - r["runs"][f"{model}/permuted"][metric] for r in results]
