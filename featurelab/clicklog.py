"""A synthetic click log: categorical fields with planted effects, for the Module-05 CTR notebooks.

Used by ``notebooks/05_tabular_sequence_spatial/04_outrank.ipynb`` (feature ranking) and
``03_unified_embedding.ipynb`` (embedding tables); later CTR notebooks (``optfs``, ``fgcnn``) reuse it.

A click log is a table of ``F`` categorical fields (ad id, site, device, hour ...) and a binary label
(clicked or not). Real logs have three properties that matter for feature work, and the generator plants
all three with a known ground truth:

* **skewed values** — each field has a set cardinality ``K`` and values drawn from a Zipf law
  ``p(k) ∝ 1 / k^s`` over ``k = 1..K`` (value ids are shuffled, so id order says nothing about frequency);
* **planted effects** — an *informative* field gives each of its values a weight ``w_f[v]`` (Gaussian draws,
  centred and rescaled so that ``Var(w_f[x]) = effect²`` under the field's value frequencies);
  an *interaction* pair adds ``γ · s_a[x_a] · s_b[x_b]`` with value signs ``s = ±1`` balanced in
  probability mass, so each field of the pair alone carries (almost) no information about the click;
* **distractors** — *id-like* noise fields with thousands of nearly unique values, low-cardinality noise,
  and *redundant* fields: an exact relabelled *copy* or a *hash* (``x mod m`` of a relabelling) of an
  informative field.

The click probability is logistic in the planted effects (:func:`make_clicklog`)::

    logit_i = b + Σ_{f informative} w_f[x_{i,f}] + Σ_{(a,b) pairs} γ s_a[x_{i,a}] s_b[x_{i,b}],
    y_i ~ Bernoulli(sigmoid(logit_i)),

with ``b`` chosen so that the mean click rate is close to ``base_rate``. Everything is vectorised numpy and
seeded by one integer. :func:`auc` and :func:`logloss` are the two CTR metrics (scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .run import ParameterError

__all__ = ["FIELD_KINDS", "ClickLog", "FieldInfo", "auc", "logloss", "make_clicklog", "zipf_sample"]

FIELD_KINDS = ("informative", "interaction", "id_noise", "noise", "copy", "hash")


@dataclass(frozen=True)
class FieldInfo:
    """Ground truth of one field.

    Attributes:
        name: e.g. ``"inf_50"`` (kind and cardinality), unique within the log.
        kind: one of :data:`FIELD_KINDS`.
        cardinality: number of possible values ``K`` (ids are ``0..K-1``; rare values may not occur).
        source: for ``copy``/``hash``, the index of the informative field it derives from, else ``-1``;
            for ``interaction``, the index of its partner field.
    """

    name: str
    kind: str
    cardinality: int
    source: int = -1


@dataclass
class ClickLog:
    """A generated click log with its ground truth.

    Attributes:
        x: ``(N, F)`` int64, value ids, column ``f`` in ``0..fields[f].cardinality-1``.
        y: ``(N,)`` int64 labels in {0, 1}.
        logit: ``(N,)`` float64, the true logit of each row (for the Bayes-optimal AUC).
        fields: ``F`` :class:`FieldInfo`.
        weights: ``{field index: (K,) array}`` value weights of informative fields, and value signs of
            interaction fields.
    """

    x: np.ndarray
    y: np.ndarray
    logit: np.ndarray
    fields: list[FieldInfo]
    weights: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def cardinalities(self) -> np.ndarray:
        """``(F,)`` int64, the set cardinality of each field."""
        return np.array([f.cardinality for f in self.fields], dtype=np.int64)

    def kinds(self) -> np.ndarray:
        """``(F,)`` array of kind strings."""
        return np.array([f.kind for f in self.fields])

    def indices(self, *kinds: str) -> np.ndarray:
        """Indices of the fields whose kind is one of ``kinds``."""
        bad = [k for k in kinds if k not in FIELD_KINDS]
        if bad:
            raise ParameterError(f"unknown field kind(s) {bad}; kinds are {', '.join(FIELD_KINDS)}")
        return np.array([i for i, f in enumerate(self.fields) if f.kind in kinds], dtype=np.int64)

    def marginally_relevant(self) -> np.ndarray:
        """Fields that carry information about the click on their own: informative fields, copies and hashes.

        Interaction fields are excluded: by construction their marginal information is (almost) zero.
        """
        return self.indices("informative", "copy", "hash")

    def split(self, test_fraction: float = 0.25) -> tuple[ClickLog, ClickLog]:
        """The first ``1 - test_fraction`` of the rows (already in random order) and the rest."""
        if not 0.0 < test_fraction < 1.0:
            raise ParameterError(f"test_fraction must be in (0, 1), got {test_fraction}")
        cut = round(self.n_rows * (1.0 - test_fraction))
        part = lambda s: ClickLog(self.x[s], self.y[s], self.logit[s], self.fields, self.weights)
        return part(slice(0, cut)), part(slice(cut, None))


def zipf_sample(rng: np.random.Generator, n: int, cardinality: int, exponent: float) -> np.ndarray:
    """``(n,)`` int64 value ids in ``0..cardinality-1`` with ``P(rank k) ∝ k^-exponent``, ids shuffled.

    ``exponent = 0`` gives uniform values (ID-like fields).
    """
    if cardinality < 1:
        raise ParameterError(f"cardinality must be >= 1, got {cardinality}")
    if exponent < 0:
        raise ParameterError(f"Zipf exponent must be >= 0, got {exponent}")
    p = np.arange(1, cardinality + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(p / p.sum())
    ranks = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), cardinality - 1)
    return rng.permutation(cardinality)[ranks]


def _balanced_signs(rng: np.random.Generator, x: np.ndarray, cardinality: int) -> np.ndarray:
    """``(K,)`` ±1 signs whose probability mass under the empirical value frequencies is balanced.

    Greedy: values in decreasing frequency join the side with less mass (ties at random), so
    ``P(s = +1) ≈ 1/2`` and the partner field of an interaction learns (almost) nothing on its own.
    """
    counts = np.bincount(x, minlength=cardinality).astype(np.float64)
    order = np.lexsort((rng.random(cardinality), -counts))
    signs = np.ones(cardinality)
    mass = [0.0, 0.0]
    for v in order:
        side = 0 if mass[0] <= mass[1] else 1
        signs[v] = 1.0 if side == 0 else -1.0
        mass[side] += counts[v]
    return signs


def make_clicklog(
    n_rows: int,
    *,
    informative: tuple[int, ...] = (5, 20, 50, 200),
    interaction: tuple[tuple[int, int], ...] = ((10, 10),),
    id_noise: tuple[int, ...] = (2000, 5000, 10000, 20000),
    noise: tuple[int, ...] = (2, 3, 5, 8, 12, 20),
    copies: tuple[int, ...] = (),
    hashes: tuple[tuple[int, int], ...] = (),
    zipf: float = 1.1,
    id_zipf: float = 0.3,
    effect: float = 0.5,
    interaction_effect: float = 1.0,
    base_rate: float = 0.2,
    seed: int = 0,
) -> ClickLog:
    """Generate a click log with planted effects (see the module docstring for the model).

    Args:
        n_rows: number of rows ``N``.
        informative: cardinality of each informative field (value weights with ``Var(w[x]) = effect²``).
        interaction: ``(K_a, K_b)`` per interaction pair (effect ``± interaction_effect``).
        id_noise: cardinality of each ID-like noise field (values near uniform, Zipf ``id_zipf``).
        noise: cardinality of each low-cardinality noise field.
        copies: for each copy, the position in ``informative`` it duplicates (values relabelled).
        hashes: ``(position in informative, buckets m)``: ``relabel(x) mod m``.
        zipf: Zipf exponent of informative, interaction, noise fields.
        base_rate: target mean click rate (the intercept is solved for it).
        seed: the generator's seed.

    Returns:
        A :class:`ClickLog`; ``x`` is ``(N, F)`` with fields in the order informative, interaction pairs,
        id_noise, noise, copies, hashes.
    """
    if n_rows < 2:
        raise ParameterError(f"n_rows must be >= 2, got {n_rows}")
    if not 0.0 < base_rate < 1.0:
        raise ParameterError(f"base_rate must be in (0, 1), got {base_rate}")
    if effect < 0 or interaction_effect < 0:
        raise ParameterError("effects must be >= 0")
    for k in (*informative, *id_noise, *noise, *(c for pair in interaction for c in pair)):
        if int(k) < 2:
            raise ParameterError(f"every field needs cardinality >= 2, got {k}")
    for pos in (*copies, *(h[0] for h in hashes)):
        if not 0 <= pos < len(informative):
            raise ParameterError(f"copy/hash source {pos} is not a position in informative ({len(informative)} fields)")
    for _, m in hashes:
        if m < 2:
            raise ParameterError(f"hash buckets must be >= 2, got {m}")
    rng = np.random.default_rng(seed)
    cols: list[np.ndarray] = []
    fields: list[FieldInfo] = []
    weights: dict[int, np.ndarray] = {}
    logit = np.zeros(n_rows)
    for k in informative:
        x = zipf_sample(rng, n_rows, k, zipf)
        w = rng.normal(0.0, 1.0, size=k)
        freq = np.bincount(x, minlength=k) / n_rows
        w = w - (freq * w).sum()
        w = effect * w / np.sqrt(max((freq * w**2).sum(), 1e-12))  # standardised: Var(w[x]) = effect²
        weights[len(cols)] = w
        logit += w[x]
        fields.append(FieldInfo(f"inf_{k}", "informative", k))
        cols.append(x)
    for ka, kb in interaction:
        xa, xb = zipf_sample(rng, n_rows, ka, zipf), zipf_sample(rng, n_rows, kb, zipf)
        sa, sb = _balanced_signs(rng, xa, ka), _balanced_signs(rng, xb, kb)
        ia = len(cols)
        weights[ia], weights[ia + 1] = sa, sb
        logit += interaction_effect * sa[xa] * sb[xb]
        fields += [FieldInfo(f"pair{ia}_a_{ka}", "interaction", ka, ia + 1),
                   FieldInfo(f"pair{ia}_b_{kb}", "interaction", kb, ia)]
        cols += [xa, xb]
    for k in id_noise:
        fields.append(FieldInfo(f"id_{k}", "id_noise", k))
        cols.append(zipf_sample(rng, n_rows, k, id_zipf))
    for k in noise:
        fields.append(FieldInfo(f"noise_{k}", "noise", k))
        cols.append(zipf_sample(rng, n_rows, k, zipf))
    for j, pos in enumerate(copies):
        k = informative[pos]
        fields.append(FieldInfo(f"copy{j}_of_inf_{k}", "copy", k, pos))
        cols.append(rng.permutation(k)[cols[pos]])
    for j, (pos, m) in enumerate(hashes):
        k = informative[pos]
        fields.append(FieldInfo(f"hash{j}_of_inf_{k}_m{m}", "hash", min(k, m), pos))
        cols.append(rng.permutation(k)[cols[pos]] % m)
    # intercept for the target click rate: a few Newton steps on mean(sigmoid(b + logit)) = base_rate
    b = float(np.log(base_rate / (1 - base_rate)))
    for _ in range(20):
        p = 1.0 / (1.0 + np.exp(-(b + logit)))
        b -= (p.mean() - base_rate) / max(float((p * (1 - p)).mean()), 1e-9)
    logit = logit + b
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    x = np.stack(cols, axis=1).astype(np.int64) if cols else np.zeros((n_rows, 0), dtype=np.int64)
    return ClickLog(x=x, y=y, logit=logit, fields=fields, weights=weights)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of scores (``(N,)`` probabilities or logits) for ``(N,)`` binary labels (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y), np.asarray(score)))


def logloss(y: np.ndarray, prob: np.ndarray) -> float:
    """Mean binary cross-entropy of ``(N,)`` probabilities (scikit-learn ``log_loss``, clipped)."""
    from sklearn.metrics import log_loss

    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-7, 1 - 1e-7)
    return float(log_loss(np.asarray(y), p, labels=[0, 1]))
