"""Unsupervised learning under latent label shift: DDFA (Discriminate, Discretize, Factorize, Adjust).

Roberts, Mani, Garg & Lipton, *Unsupervised Learning under Latent Label Shift*, NeurIPS 2022, arXiv:2207.13179;
official code github.com/acmi-lab/Latent-Label-Shift-DDFA (``ddfa/components``). Used by the notebook
``notebooks/04_transferring_features/05_latent_label_shift_ddfa.ipynb``.

**The setting (paper Sec. 3).** Unlabelled data come from domains ``d = 1 … r``; in domain ``d``

    p_d(x) = Σ_y p_d(y) p(x | y):

the label marginals ``p_d(y)`` shift from domain to domain, the class conditionals ``p(x | y)`` do not. We see
``(x, d)`` pairs, never ``y``. For a finite input space this is topic modelling (inputs ↔ words, domains ↔
documents, labels ↔ topics); for images the key identity is ``x ⊥ d | y``, which gives (Sec. 4)

    p(d | x) = Σ_y p(d | y) p(y | x).

**DDFA (Sec. 5, Algorithm 1), as the official code runs it:**

1. *Discriminate* — train a domain classifier ``q̂(d | x)`` on one split (:func:`train_discriminator`); the
   course adds temperature scaling on the validation split (:func:`fit_temperature`).
2. *Discretize* — k-means with ``m ≥ k`` clusters on the vectors ``q̂(· | x)`` of a held-out split
   (``clustering.py``: Faiss k-means; here scikit-learn).
3. *Factorize* — the cluster-by-domain matrix ``Q[c, d] = p̂(c | d)`` (columns normalised) is factorised by NMF,
   ``Q ≈ p(c | y) · p_d(y)``, with the factors renormalised to stochastic matrices (:func:`factorize`,
   ``class_prior_estimation.py``: ``NMF(init='random')`` on ``Qᵀ``). Identifiable under the anchor
   (separability) assumption and a well-conditioned ``p_d(y)`` (Sec. 4).
4. *Adjust* — ``p(y | x) = pinv(p(d | y)) · q̂(d | x)`` (``experiment_utils.solve_p_y_x``), then the domain-specific
   posterior ``p_d(y | x) ∝ p(y | x) · p(d | y) ∝ p(y | x) p_d(y) / p(y)`` (``solve_p_y_x_d``)
   (:func:`solve_and_adjust`). Labels are identified up to a permutation: evaluation matches them to the true
   classes with the Hungarian algorithm (:func:`hungarian_accuracy`).

**Data at this scale.** Fashion-MNIST; ``k = 5`` latent classes, each the union of two *dissimilar* garments
(:data:`PAIRS`), so a similarity-based clusterer is misled by construction. ``r`` domains with priors drawn
from a Dirichlet and redrawn until the ``r × k`` prior matrix has condition number ≤ ``max_cond`` (official
``generate_class_priors``). Per domain: a discriminator-training split, a validation split (temperature,
clustering, NMF) and a test split (accuracy), drawn with the same ``p_d(y)``.

**Arms in one run** (all share the data): the method (``discretiser = "discriminator"``: DDFA); the sceptic's
baseline (:func:`pca_histogram_features`: k-means on PCA-50 pixels, the cluster's domain histogram ``p̂(d | c(x))``
used in place of ``q̂(d | x)``, then the *same* discretise/factorise/solve/adjust — only "Discriminate" removed);
k-means on PCA pixels with ``k`` clusters (context); a supervised MLP on the true labels (oracle, context).

**Simplifications (named).** An MLP discriminator trained for a few epochs instead of a ResNet (the paper also
initialises from SCAN); temperature scaling added; the Dirichlet concentration is *per class* (``Dir(α·1)``;
the official code draws ``Dir(α/k·1)``, so official α = 2.5 equals our 0.5 at ``k = 5``); negative entries of the
pseudo-inverse solution are clipped to 0 before the adjustment (the official code does not clip; a row whose
entries are all ≤ 0 falls back to the domain prior); the best of 10 NMF random initialisations by
reconstruction error (official: one ``init='random'``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF, PCA

from featurelab.base import ParameterError
from featurelab.claims import ClaimSpec
from featurelab.data import FASHION_CLASSES, load_fashion_mnist
from featurelab.experiment import Knobs, Swap, knob
from featurelab.models import mlp
from featurelab.train import fit, predict

#: Latent classes: unions of two visually dissimilar Fashion-MNIST classes (card design).
PAIRS: dict[str, tuple[tuple[int, int], ...]] = {
    "dissimilar": ((0, 7), (1, 8), (2, 5), (3, 9), (4, 6)),  # T-shirt+Sneaker, Trouser+Bag, Pullover+Sandal,
                                                              # Dress+Ankle boot, Coat+Shirt
    "similar": ((0, 6), (2, 4), (5, 7), (1, 3), (8, 9)),     # T-shirt+Shirt, Pullover+Coat, Sandal+Sneaker,
                                                              # Trouser+Dress, Bag+Ankle boot (exercise)
}


def pair_names(pairs: str) -> tuple[str, ...]:
    """``("T-shirt/top + Sneaker", ...)``: the latent classes of ``PAIRS[pairs]`` in words."""
    return tuple(f"{FASHION_CLASSES[a]} + {FASHION_CLASSES[b]}" for a, b in PAIRS[pairs])


# ----------------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class Config(Knobs):
    n_domains: int = knob(15, lo=2, doc="number of domains r")
    alpha: float = knob(0.5, lo=0.0, hi=30.0, lo_open=True, doc="per-class Dirichlet concentration of p_d(y)")
    max_cond: float = knob(8.0, lo=1.0, doc="reject prior matrices with a larger condition number")
    n_train: int = knob(500, lo=10, doc="images per domain that train the discriminator")
    n_valid: int = knob(200, lo=10, doc="images per domain for temperature, clustering and NMF")
    n_test: int = knob(200, lo=10, doc="images per domain for the test accuracy")
    hidden: int = knob(256, lo=1, doc="hidden width of the MLP discriminator")
    epochs: int = knob(5, lo=0, doc="epochs of discriminator training")
    lr: float = knob(1e-3, lo=0.0, lo_open=True, doc="Adam learning rate")
    batch_size: int = knob(128, lo=1, doc="minibatch size")
    temperature: bool = knob(True, choices=(True, False), doc="temperature-scale q(d|x) on the validation split")
    n_clusters: int = knob(15, lo=2, doc="m, the k-means clusters of the Discretize step")
    pca_dim: int = knob(50, lo=1, doc="PCA dimension of the pixel baselines")
    nmf_restarts: int = knob(10, lo=1, doc="NMF random restarts (lowest reconstruction error kept)")
    pairs: str = knob("dissimilar", choices=tuple(PAIRS), doc="which Fashion-MNIST pairs form the latent classes")
    discretiser: str = knob("discriminator", choices=("discriminator", "pca_kmeans"),
                            doc="the method arm's features: q(d|x) (DDFA) or the PCA-cluster domain histogram")
    shuffle_domains: bool = knob(False, choices=(True, False), doc="permute the domain labels (no shift signal)")
    method_seed_offset: int = knob(0, lo=0, doc="offset of the method arm's model seeds (noise null)")
    pool: int = knob(30000, lo=1000, hi=60000, doc="class-balanced Fashion-MNIST training images to draw from")
    n_seeds: int = knob(3, lo=1, doc="seeds per run (each: new priors, data, models)")

    def validate(self) -> None:
        if self.n_clusters < 5:
            raise ParameterError(f"N_CLUSTERS={self.n_clusters} must be at least the 5 latent classes")
        if self.n_domains < 5:
            raise ParameterError(f"N_DOMAINS={self.n_domains} must be at least the 5 latent classes "
                                 "(p_d(y) must have full column rank)")
        if self.pca_dim > 784:
            raise ParameterError(f"PCA_DIM={self.pca_dim} must be ≤ 784 pixels")


PRESETS = {
    "small": Config(),
    "full": Config(n_train=1200, n_valid=400, n_test=400, hidden=512, epochs=15, pool=60000, n_seeds=5),
}
SMOKE = {"n_train": 40, "n_valid": 20, "n_test": 20, "epochs": 1, "n_seeds": 1, "pool": 5000}

K = 5  # latent classes


# ----------------------------------------------------------------------------------------------------- data
def sample_priors(k: int, r: int, alpha: float, max_cond: float, rng: np.random.Generator,
                  max_tries: int = 20000) -> tuple[np.ndarray, float, int]:
    """``(P, cond, tries)``: an ``(r, k)`` matrix of domain priors ``P[d] = p_d(y) ~ Dir(α·1)``, redrawn until
    ``cond(P) ≤ max_cond`` (official ``generate_class_priors``). Raises a clear error when ``max_tries`` draws all
    fail (large α makes every domain alike: raise ``MAX_COND`` or lower ``ALPHA``)."""
    for t in range(1, max_tries + 1):
        p = rng.dirichlet(np.full(k, alpha), size=r)
        p = np.where(p < 1e-7, 0.0, p)
        p /= p.sum(1, keepdims=True)
        c = float(np.linalg.cond(p))
        if c <= max_cond:
            return p, c, t
    raise ParameterError(f"no Dir({alpha}) prior matrix with condition number ≤ {max_cond} in {max_tries} draws: "
                         "at large ALPHA the domains look alike; raise MAX_COND or lower ALPHA")


def domain_counts(priors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(r, k)`` integer counts: ``n`` images per domain, classes drawn multinomially from ``p_d(y)``."""
    return np.stack([rng.multinomial(n, p) for p in priors])


@dataclass
class DomainData:
    """One seed's data. ``x_*``: ``(N, 784)`` float32 pixels; ``y_*`` latent labels; ``d_*`` domain labels;
    ``orig_*`` the Fashion-MNIST class; ``priors`` ``(r, k)`` the true ``p_d(y)``; ``cond`` its condition number."""

    x_train: np.ndarray
    y_train: np.ndarray
    d_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    d_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    d_test: np.ndarray
    orig_test: np.ndarray
    priors: np.ndarray
    cond: float


_POOL_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def fashion_pool(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (n, 784) float32, y (n,))``: a class-balanced subset of the Fashion-MNIST training set (fixed seed 0,
    cached: every seed draws its domains from this pool)."""
    if n not in _POOL_CACHE:
        split = load_fashion_mnist(n_train=n, n_test=10, seed=0)
        _POOL_CACHE[n] = (split.x_train.flatten(1).numpy(), split.y_train.numpy())
    return _POOL_CACHE[n]


def make_domains(cfg: Config, seed: int, pool: tuple[np.ndarray, np.ndarray] | None = None) -> DomainData:
    """Priors, then for each split and domain the class counts, then images drawn without replacement from the
    pool, each latent class an equal mix of its two garments. ``pool`` defaults to :func:`fashion_pool`."""
    rng = np.random.default_rng(seed)
    x_pool, orig_pool = pool if pool is not None else fashion_pool(cfg.pool)
    priors, cond, _ = sample_priors(K, cfg.n_domains, cfg.alpha, cfg.max_cond, rng)
    lut = np.full(10, -1)
    for y, (a, b) in enumerate(PAIRS[cfg.pairs]):
        lut[a] = lut[b] = y
    latent_pool = lut[orig_pool]
    free = {y: list(rng.permutation(np.flatnonzero(latent_pool == y))) for y in range(K)}
    out: list[np.ndarray] = []
    for n in (cfg.n_train, cfg.n_valid, cfg.n_test):
        counts = domain_counts(priors, n, rng)
        idx, dom = [], []
        for d in range(cfg.n_domains):
            for y in range(K):
                c = int(counts[d, y])
                if c > len(free[y]):
                    raise ParameterError(f"the pool of POOL={cfg.pool} images has too few of latent class {y}; "
                                         "raise POOL or lower the images per domain")
                idx += free[y][:c]
                free[y] = free[y][c:]
                dom += [d] * c
        idx_a, dom_a = np.array(idx, dtype=np.int64), np.array(dom, dtype=np.int64)
        order = rng.permutation(len(idx_a))
        idx_a, dom_a = idx_a[order], dom_a[order]
        out += [x_pool[idx_a], latent_pool[idx_a], dom_a, orig_pool[idx_a]]
    xtr, ytr, dtr, _, xva, yva, dva, _, xte, yte, dte, ote = out
    return DomainData(xtr, ytr, dtr, xva, yva, dva, xte, yte, dte, ote, priors, cond)


# ----------------------------------------------------------------------------------------------------- 1. discriminate
def train_discriminator(x: np.ndarray, d: np.ndarray, n_domains: int, cfg: Config, seed: int,
                        progress: bool | None = None) -> torch.nn.Module:
    """An MLP ``784 → hidden → r`` trained with cross-entropy to predict the domain of each image."""
    torch.manual_seed(seed)
    model = mlp([x.shape[1], cfg.hidden, n_domains])
    if cfg.epochs > 0:
        fit(model, torch.from_numpy(x), torch.from_numpy(d), epochs=cfg.epochs, batch_size=cfg.batch_size,
            lr=cfg.lr, seed=seed, progress_bar=progress, desc="domain discriminator")
    model.eval()
    return model


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, lo: float = 0.05, hi: float = 20.0,
                    n_grid: int = 241) -> float:
    """Temperature scaling (Guo et al. 2017): the ``T`` in ``[lo, hi]`` (a log-spaced grid) minimising the NLL of
    ``softmax(logits / T)`` on held-out ``(logits (N, r), labels (N,))``."""
    temps = torch.logspace(np.log10(lo), np.log10(hi), n_grid, dtype=logits.dtype)
    nll = torch.stack([F.cross_entropy(logits / t, labels) for t in temps])
    return float(temps[int(torch.argmin(nll))])


def domain_posteriors(model: torch.nn.Module, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``q̂(d | x)``: ``(N, r)`` softmax of the discriminator's logits divided by ``temperature``."""
    with torch.no_grad():
        logits = predict(model, torch.from_numpy(x))
    return torch.softmax(logits / temperature, -1).numpy().astype(np.float64)


# ----------------------------------------------------------------------------------------------------- 2. discretize
def discretize(features: np.ndarray, m: int, seed: int) -> KMeans:
    """k-means with ``m`` clusters on the rows of ``features`` (``(N, F)``; DDFA: ``q̂(· | x)``)."""
    return KMeans(n_clusters=m, n_init=3, random_state=seed).fit(features)


def cluster_domain_matrix(clusters: np.ndarray, domains: np.ndarray, m: int, r: int) -> np.ndarray:
    """``Q`` of shape ``(m, r)``: ``Q[c, d] = p̂(c | d)``, the fraction of domain ``d``'s images in cluster ``c``."""
    q = np.zeros((m, r))
    np.add.at(q, (clusters, domains), 1.0)
    return q / np.maximum(q.sum(0, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------------------------------- 3. factorize
def factorize(q: np.ndarray, k: int, seed: int, restarts: int = 1) -> tuple[np.ndarray, np.ndarray, float]:
    """NMF of ``Q ≈ p(c | y) · p(y | d)`` (official: ``NMF(init='random').fit_transform(Qᵀ)``).

    Returns ``(p_c_y (m, k), p_y_d (k, r), error)``: both factors column-stochastic, and the relative
    Frobenius reconstruction error of the best of ``restarts`` random initialisations.
    """
    best = None
    for i in range(restarts):
        model = NMF(n_components=k, init="random", random_state=seed + i, max_iter=5000, tol=1e-5)
        w = model.fit_transform(q.T).T            # (k, r): domain loadings
        c = model.components_.T.copy()            # (m, k): cluster profiles
        scale = np.maximum(c.sum(0, keepdims=True), 1e-12)
        c /= scale
        w = w * scale.T
        w /= np.maximum(w.sum(0, keepdims=True), 1e-12)
        err = float(np.linalg.norm(q - c @ w) / np.linalg.norm(q))
        if best is None or err < best[2]:
            best = (c, w, err)
    return best


# ----------------------------------------------------------------------------------------------------- 4. solve, adjust
def solve_and_adjust(p_d_x: np.ndarray, p_y_d: np.ndarray, domains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ``p(d | x) = Σ_y p(d | y) p(y | x)``: ``p(y | x) = pinv(p(d | y)) p(d | x)``; then adjust to the domain.

    Args:
        p_d_x: ``(N, r)`` domain posteriors of the test images. p_y_d: ``(k, r)`` estimated ``p_d(y)`` (columns).
        domains: ``(N,)`` the domain of each test image.
    Returns:
        ``(p_y_x (N, k), p_y_xd (N, k))``: the solved posterior (unconstrained, as the official code) and the
        domain-adjusted posterior ``p_d(y | x) ∝ max(p(y | x), 0) · p(d | y)`` (equal domain sizes, so
        ``p(d | y) ∝ p_d(y) / p(y)``; rows with no positive entry fall back to ``p_d(y)``).
    """
    p_d_y = p_y_d.T / np.maximum(p_y_d.T.sum(0, keepdims=True), 1e-12)        # (r, k), columns sum to 1
    p_y_x = (np.linalg.pinv(p_d_y) @ p_d_x.T).T                                  # (N, k)
    adj = np.clip(p_y_x, 0.0, None) * p_d_y[domains]
    s = adj.sum(1, keepdims=True)
    adj = np.where(s > 0, adj / np.where(s > 0, s, 1.0), p_y_d.T[domains])
    return p_y_x, adj


def hungarian_accuracy(pred: np.ndarray, y: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """Accuracy after the best one-to-one relabelling (Hungarian algorithm); returns ``(acc, perm)`` with
    ``perm[predicted] = true``."""
    conf = np.zeros((k, k))
    np.add.at(conf, (pred, y), 1.0)
    rows, cols = linear_sum_assignment(conf, maximize=True)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return float(conf[rows, cols].sum() / len(y)), perm


def prior_mae(p_y_d: np.ndarray, priors: np.ndarray, perm: np.ndarray) -> float:
    """Mean absolute error of the estimated ``p_d(y)`` (``(k, r)``, relabelled by ``perm``) against the truth
    ``(r, k)``, over all ``r·k`` entries."""
    est = np.zeros_like(p_y_d)
    est[perm] = p_y_d
    return float(np.abs(est.T - priors).mean())


@dataclass
class Pipeline:
    """The outcome of discretize → factorize → solve → adjust on one kind of features.

    ``p_c_y`` ``(m, k)``, ``p_y_d`` ``(k, r)`` (matched to the true labels by ``perm``), ``q`` the cluster-by-domain
    matrix, ``nmf_error``, ``pred`` the test predictions (matched), ``acc``, ``acc_unadjusted`` (argmax of the solved
    ``p(y | x)`` alone, no domain adjustment), ``mae`` of ``p_d(y)``."""

    q: np.ndarray
    p_c_y: np.ndarray
    p_y_d: np.ndarray
    nmf_error: float
    pred: np.ndarray
    acc: float
    acc_unadjusted: float
    mae: float


def ddfa_pipeline(feat_valid: np.ndarray, d_valid: np.ndarray, feat_test: np.ndarray, d_test: np.ndarray,
                  y_test: np.ndarray, priors: np.ndarray, m: int, seed: int, restarts: int = 1,
                  cluster_features: tuple[np.ndarray, np.ndarray] | None = None) -> Pipeline:
    """Steps 2–4 of DDFA on domain-posterior features ``p(d | x)`` (validation rows ``(Nv, r)``, test ``(Nt, r)``).

    ``cluster_features`` (optional ``(valid, test)``) are what k-means runs on when it is not ``feat`` itself
    (the sceptic's arm clusters PCA pixels, then uses the clusters' domain histograms as ``p(d | x)``).
    """
    r = priors.shape[0]
    cv = feat_valid if cluster_features is None else cluster_features[0]
    km = discretize(cv, m, seed)
    q = cluster_domain_matrix(km.labels_, d_valid, m, r)
    p_c_y, p_y_d, err = factorize(q, K, seed, restarts)
    p_y_x, adj = solve_and_adjust(feat_test, p_y_d, d_test)
    acc, perm = hungarian_accuracy(adj.argmax(1), y_test, K)
    acc_u, _ = hungarian_accuracy(p_y_x.argmax(1), y_test, K)
    p_y_d_m = np.zeros_like(p_y_d)
    p_y_d_m[perm] = p_y_d
    p_c_y_m = np.zeros_like(p_c_y)
    p_c_y_m[:, perm] = p_c_y
    return Pipeline(q, p_c_y_m, p_y_d_m, err, perm[adj.argmax(1)], acc, acc_u, prior_mae(p_y_d, priors, perm))


def pca_histogram_features(x_valid: np.ndarray, d_valid: np.ndarray, x_test: np.ndarray, r: int, m: int,
                           dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The sceptic's "discriminator" without training: k-means (``m``) on PCA-``dim`` pixels of the validation
    split; ``p̂(d | c)`` is each cluster's domain histogram; an image's feature is ``p̂(d | c(x))``.

    Returns ``(feat_valid (Nv, r), feat_test (Nt, r), z_valid, z_test)`` (``z``: the PCA coordinates)."""
    pca = PCA(n_components=dim, random_state=seed).fit(x_valid)
    zv, zt = pca.transform(x_valid), pca.transform(x_test)
    km = KMeans(n_clusters=m, n_init=3, random_state=seed).fit(zv)
    hist = np.zeros((m, r))
    np.add.at(hist, (km.labels_, d_valid), 1.0)
    hist /= np.maximum(hist.sum(1, keepdims=True), 1e-12)
    return hist[km.labels_], hist[km.predict(zt)], zv, zt


# ----------------------------------------------------------------------------------------------------- experiment
@dataclass
class SeedResult:
    """Everything one seed measured (arms: ``method`` = the config's discretiser, ``pca_nmf`` = the sceptic's
    arm with true settings, ``kmeans`` = k-means on PCA pixels with ``k`` clusters, ``oracle`` = supervised)."""

    seed: int
    priors: np.ndarray
    cond: float
    temperature: float
    disc_acc_valid: float
    method: Pipeline
    pca_nmf: Pipeline
    acc_kmeans: float
    acc_oracle: float
    acc_oracle_adjusted: float
    acc_prior_only: float
    p_d_x_test: np.ndarray
    y_test: np.ndarray
    d_test: np.ndarray
    orig_test: np.ndarray


@dataclass
class Result:
    """Per-seed results and timings. ``cfg`` is the config that ran; ``images``: a few test images per latent
    class ``(k, 6, 784)`` for the data figure."""

    cfg: Config
    seeds: list[int]
    per_seed: list[SeedResult]
    images: np.ndarray
    seconds: float

    def values(self, fn) -> list[float]:
        return [float(fn(s)) for s in self.per_seed]


def run_seed(cfg: Config, seed: int, progress: bool | None = None, data: DomainData | None = None) -> SeedResult:
    """One seed of every arm on shared data (priors, images, splits)."""
    data = data if data is not None else make_domains(cfg, seed)
    r = cfg.n_domains
    rng = np.random.default_rng(seed + 1)
    d_tr, d_va, d_te = data.d_train, data.d_valid, data.d_test
    if cfg.shuffle_domains:  # mechanism off: domain labels carry no information about the label shift
        d_tr, d_va, d_te = (rng.permutation(d) for d in (d_tr, d_va, d_te))
    ms = seed + cfg.method_seed_offset
    # the sceptic's arm (always computed with the run's data and its own seed)
    fv_p, ft_p, zv, zt = pca_histogram_features(data.x_valid, d_va, data.x_test, r, cfg.n_clusters, cfg.pca_dim, seed)
    pca_nmf = ddfa_pipeline(fv_p, d_va, ft_p, d_te, data.y_test, data.priors, cfg.n_clusters, seed,
                            cfg.nmf_restarts)
    temp, disc_acc = 1.0, float("nan")
    p_d_x_test = ft_p
    if cfg.discretiser == "discriminator":
        model = train_discriminator(data.x_train, d_tr, r, cfg, ms, progress)
        with torch.no_grad():
            lv = predict(model, torch.from_numpy(data.x_valid))
        disc_acc = float((lv.argmax(1).numpy() == d_va).mean())
        if cfg.temperature:
            temp = fit_temperature(lv, torch.from_numpy(d_va))
        fv, ft = domain_posteriors(model, data.x_valid, temp), domain_posteriors(model, data.x_test, temp)
        method = ddfa_pipeline(fv, d_va, ft, d_te, data.y_test, data.priors, cfg.n_clusters, ms, cfg.nmf_restarts)
        p_d_x_test = ft
    elif cfg.method_seed_offset == 0:
        method = pca_nmf
    else:
        fv2, ft2, _, _ = pca_histogram_features(data.x_valid, d_va, data.x_test, r, cfg.n_clusters, cfg.pca_dim, ms)
        method = ddfa_pipeline(fv2, d_va, ft2, d_te, data.y_test, data.priors, cfg.n_clusters, ms, cfg.nmf_restarts)
    # context: k-means with k clusters on PCA pixels (similarity-based), Hungarian-matched on the test split
    km = KMeans(n_clusters=K, n_init=3, random_state=seed).fit(zv)
    acc_km, _ = hungarian_accuracy(km.predict(zt), data.y_test, K)
    # context: a supervised MLP on the true latent labels (same width and epochs), with and without the true priors
    torch.manual_seed(seed + 2)
    oracle = mlp([data.x_train.shape[1], cfg.hidden, K])
    if cfg.epochs > 0:
        fit(oracle, torch.from_numpy(data.x_train), torch.from_numpy(data.y_train), epochs=cfg.epochs,
            batch_size=cfg.batch_size, lr=cfg.lr, seed=seed + 2, progress_bar=progress, desc="oracle")
    with torch.no_grad():
        po = torch.softmax(predict(oracle, torch.from_numpy(data.x_test)), -1).numpy()
    acc_or = float((po.argmax(1) == data.y_test).mean())
    train_prior = np.bincount(data.y_train, minlength=K) / len(data.y_train)
    po_adj = po * data.priors[data.d_test] / np.maximum(train_prior, 1e-12)
    acc_or_adj = float((po_adj.argmax(1) == data.y_test).mean())
    acc_prior = float((data.priors[data.d_test].argmax(1) == data.y_test).mean())
    return SeedResult(seed, data.priors, data.cond, temp, disc_acc, method, pca_nmf, acc_km, acc_or, acc_or_adj,
                      acc_prior, p_d_x_test, data.y_test, data.d_test, data.orig_test)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Every arm for each seed (CPU only: the models are small; ``device`` is accepted for the contract)."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    per = [run_seed(cfg, s, progress) for s in seeds]
    x_pool, orig_pool = fashion_pool(cfg.pool)
    images = np.stack([np.concatenate([x_pool[orig_pool == a][:3], x_pool[orig_pool == b][:3]])
                       for a, b in PAIRS[cfg.pairs]])
    return Result(cfg, seeds, per, images, time.perf_counter() - t0)


def alpha_sweep(cfg: Config, alphas: tuple[float, ...], seed: int, progress: bool | None = None) -> dict[str, list]:
    """One seed per Dirichlet ``α`` (the shift strength; same ``max_cond``): accuracies of DDFA, the PCA-discretised
    arm, k-means and the prior-only rule, and DDFA's prior error, for the notebook's Explore widget."""
    out: dict[str, list] = {"alpha": [], "ddfa": [], "ddfa_unadjusted": [], "pca_nmf": [], "kmeans": [],
                            "prior_only": [], "mae": [], "priors": []}
    for a in alphas:
        s = run_seed(replace(cfg, alpha=float(a)), seed, progress)
        for key, v in (("alpha", float(a)), ("ddfa", s.method.acc), ("ddfa_unadjusted", s.method.acc_unadjusted),
                       ("pca_nmf", s.pca_nmf.acc), ("kmeans", s.acc_kmeans), ("prior_only", s.acc_prior_only),
                       ("mae", s.method.mae), ("priors", s.priors)):
            out[key].append(v)
    return out


def claim_values(res: Result) -> dict[str, Any]:
    """Per-seed accuracies, gains and prior errors of the method arm against the baselines."""
    return {
        "acc_method": res.values(lambda s: s.method.acc),
        "acc_pca_nmf": res.values(lambda s: s.pca_nmf.acc),
        "acc_kmeans": res.values(lambda s: s.acc_kmeans),
        "acc_oracle": res.values(lambda s: s.acc_oracle),
        "acc_oracle_adjusted": res.values(lambda s: s.acc_oracle_adjusted),
        "acc_prior_only": res.values(lambda s: s.acc_prior_only),
        "acc_method_unadjusted": res.values(lambda s: s.method.acc_unadjusted),
        "acc_pca_nmf_unadjusted": res.values(lambda s: s.pca_nmf.acc_unadjusted),
        "gain_over_pca_nmf": res.values(lambda s: s.method.acc - s.pca_nmf.acc),
        "gain_over_pca_nmf_unadjusted": res.values(lambda s: s.method.acc_unadjusted - s.pca_nmf.acc_unadjusted),
        "gain_over_kmeans": res.values(lambda s: s.method.acc - s.acc_kmeans),
        "mae_method": res.values(lambda s: s.method.mae),
        "mae_pca_nmf": res.values(lambda s: s.pca_nmf.mae),
    }


# Thresholds set from prototype seeds ≥ 5000 before calibration (design note).
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("ddfa_domain_free_gain", "gain_over_pca_nmf_unadjusted", ">=", 0.05,
              "test accuracy of the solved p(y|x) (no test-domain adjustment, Hungarian-matched), DDFA − the "
              "sceptic's PCA-discretised NMF (same NMF, solve, m), mean over seeds",
              "qualitative: the discriminator's p(d|x) is what makes the continuous case work (Sec. 4-5); "
              "no number retrieved"),
    ClaimSpec("ddfa_adjusted_gain_over_pca_nmf", "gain_over_pca_nmf", ">=", 0.02,
              "test accuracy (domain-adjusted, Hungarian-matched), DDFA − the sceptic's PCA-discretised NMF, "
              "mean over seeds",
              "qualitative: DDFA improves over clustering-based alternatives (Sec. 6); no number retrieved"),
    ClaimSpec("ddfa_gain_over_kmeans", "gain_over_kmeans", ">=", 0.15,
              "test accuracy (domain-adjusted, Hungarian-matched), DDFA − k-means with k clusters on PCA-50 "
              "pixels, mean over seeds",
              "qualitative: DDFA beats similarity-based clustering, most when shift is strong (Sec. 6); "
              "table values not retrieved"),
    ClaimSpec("ddfa_prior_mae", "mae_method", "<=", 0.10,
              "mean absolute error of the recovered p_d(y) over all r·k entries, mean over seeds",
              "prior-recovery error is reported in the paper's tables; values not retrieved"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("shuffled_domains", {"shuffle_domains": True},
         ("ddfa_domain_free_gain", "ddfa_adjusted_gain_over_pca_nmf", "ddfa_gain_over_kmeans", "ddfa_prior_mae"),
         "mechanism",
         "domain labels permuted before training, clustering, NMF and adjustment: no shift signal, all else equal"),
    Swap("pca_discretiser", {"discretiser": "pca_kmeans", "method_seed_offset": 10_000},
         ("ddfa_domain_free_gain", "ddfa_adjusted_gain_over_pca_nmf"), "baseline",
         "the sceptic in DDFA's place: k-means on PCA-50 pixels, clusters' domain histograms instead of q(d|x), "
         "then the same NMF, solve and adjust, with independent k-means/NMF seeds (a noise null for claims 1-2; it "
         "passes claims 3 and 4, see the note)"),
)
