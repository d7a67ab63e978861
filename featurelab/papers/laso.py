"""LaSO: label-set operations networks that synthesise feature vectors for set intersection, union and difference.

Alfassy, Karlinsky, Aides, Shtok, Harary, Feris, Giryes & Bronstein, *LaSO: Label-Set Operations networks for
multi-label few-shot learning*, CVPR 2019 (oral), arXiv:1902.09811; official code github.com/leokarlin/LaSO
(``oneshot/setops_models/res_setops.py``: ``SetOpsResModule`` with ``SetopResBlock_v1``;
``scripts_coco/train_setops_stripped.py``: the losses). Used by the notebook
``notebooks/04_transferring_features/03_laso.ipynb``.

Images ``x, y`` carry label *sets* ``L(x), L(y)`` and feature vectors ``F_x, F_y`` (a backbone's penultimate
layer). Three networks ``M_int, M_uni, M_sub : R^{2d} → R^d`` (Sec. 3) are trained so that a multi-label classifier
``C`` trained on *real* features reads ``L(x) ∩ L(y)``, ``L(x) ∪ L(y)`` and ``L(x) \\ L(y)`` from
``M_int(F_x, F_y)``, ``M_uni(F_x, F_y)`` and ``M_sub(F_x, F_y)``; the operators never see label identities, so
they may work on labels unseen in their training (Sec. 3, Sec. 4.2).

**Operator (official ``SetopResBlock_v1``).** ``h = LeakyReLU_0.2(BN(W [a; b]))``; then ``layers`` residual
blocks ``h ← LeakyReLU_0.2(BN(W_i h) + r)`` fed with an *analytic* op ``r`` of ``(a, b)`` —
``relu(a − b)`` for subtraction, ``min(a, b)`` for intersection, ``a + b`` for union — and a ReLU output
``ReLU(W_out h)`` (to match the backbone's non-negative features). LaSO is "analytic op + learned correction".

**Loss (official defaults, every toggle on, all weights 1).** With ``ℓ`` = multi-label soft-margin loss on the frozen
classifier ``C`` and ``m`` = MSE (:func:`laso_loss`):

* classification of the three operators: ``ℓ(C(S(a,b)), La∖Lb) + ℓ(C(S(b,a)), Lb∖La) + ℓ(C(U(a,b)), La∪Lb)
  + ℓ(C(I(a,b)), La∩Lb)``, and the symmetric ``ℓ(C(U(b,a)), ·) + ℓ(C(I(b,a)), ·)``;
* "tautology" classification: ``(a∖b)∖b``, ``a∖(a∩b)``, ``a∖(b∩a)`` carry ``La∖Lb``; ``(a∪b)∪b`` carries
  ``La∪Lb``; ``(a∩b)∩b`` carries ``La∩Lb`` (and the same with ``a, b`` swapped);
* "tautology" reconstruction: ``m(a∖b, (a∖b)∖b) + m(a∖b, a∖(a∩b)) + m(a∖b, a∖(b∩a))`` (and swapped);
* symmetry: ``m(U(a,b), U(b,a)) + m(I(a,b), I(b,a))``;
* anti-mode-collapse reconstruction: ``â = U(a∖(b∩a), a∩b)`` must equal ``a`` (MSE) and carry ``La``
  (``ℓ(C(â), La)``), and the same for ``b``.

The classifier ``C`` is frozen (official ``train_classifier=False``).

**The evaluation (Sec. 4.1).** Each operator's output on held-out test pairs is scored by mAP (per label AP,
averaged over labels) against the target set. Because LaSO is trained to satisfy ``C``, scoring it with ``C`` is
in-sample optimisation; this module therefore scores every arm with an **independent evaluator** ``C′`` (a
logistic regression fitted on the real features of other training images; LaSO never saw it), and gives the
analytic operations the **same advantage** LaSO had: a classifier **re-fitted** on the analytic outputs of the very
training pairs LaSO was trained on (one per operation), scored on the test pairs. Retrieval (the label set of the
nearest real image, as in the paper's retrieval evaluation) is reported too.

**Unseen labels (Sec. 4.2).** LaSO and the backbone are trained on the seen labels only; on test images that also
hold unseen labels, an evaluator fitted on real features of all labels scores the unseen labels of the synthesised
vectors. At this scale the backbone barely encodes the unseen digits, so only a small margin over chance is
asserted (the paper's few-shot augmentation result is not reproduced; status ``partial``).

Simplifications for scale (named): "multi-digit canvases" (16×16 images with 2×2 slots, each holding 0 or 1 of
sklearn's 8×8 digits, 1–3 distinct digits per image; seen labels 0–6, unseen 7–9) instead of MS-COCO (64 seen /
16 unseen categories); a small CNN backbone trained multi-label on the seen digits and then **frozen** (the official
recipe trains the backbone with the operators, ``train_base=True``) instead of an ImageNet-pretrained
ResNet-34/Inception-v3; 64-d features instead of 2048; one residual block per operator (official
``ops_layer_num=1``); Adam with a constant learning rate for a few hundred steps instead of SGD with a cyclic
schedule for 50 epochs; the few-shot augmentation experiment is left to an exercise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import ParameterError
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..models import cnn
from ..train import fit

OPS = ("int", "uni", "sub")
OP_NAMES = {"int": "intersection ∩", "uni": "union ∪", "sub": "difference ∖"}
TARGETS = ("true", "permuted")
TRAIN_OPS = ("all", "uni")
OPERATORS = ("laso", "analytic")
N_LABELS = 10


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_seen: seen labels (digits ``0 … n_seen−1``); the rest of the ten digits are unseen.
        n_backbone: seen-label training canvases of the backbone (and the pool LaSO's training pairs come from).
        backbone_epochs: epochs of the backbone + classifier ``C`` (multi-label soft-margin loss).
        feat_dim: width ``d`` of the backbone features (the operators map ``R^{2d} → R^d``).
        n_pairs: LaSO training pairs; share_frac: fraction of them drawn to share at least one label (so that
            intersections are mostly non-empty).
        steps, batch_size, lr: Adam steps of the operators (:func:`featurelab.train.fit`).
        layers: residual blocks per operator (official ``ops_layer_num = 1``).
        class_loss: the classification terms (off: MSE terms only — a swap).
        tautology, sym_recon, recon: the official tautology (class + MSE), symmetry-MSE and anti-mode-collapse terms.
        targets: ``true`` target sets, or ``permuted`` across pairs (removes correct set supervision — a swap).
        train_ops: ``all`` three operators trained, or ``uni`` (union only: ∩ and ∖ stay untrained — a swap).
        operator: ``laso`` (learned) or ``analytic`` (relu(a−b), min, a+b in LaSO's place — sanity row).
        n_eval_fit: real training images the independent evaluator ``C′`` is fitted on (seen labels; and the
            all-label evaluator of the unseen half).
        n_test: held-out test pairs (seen labels; the same number of pairs for the unseen half).
        knn: neighbours of the retrieval score (label sets of the nearest real test images).
        n_seeds: seeds per run (independent backbones, operators and data draws).
    """

    n_seen: int = knob(7, lo=2, hi=9, doc="seen labels (digits 0 … N_SEEN−1)")
    n_backbone: int = knob(3000, lo=64, doc="seen-label canvases the backbone is trained on")
    backbone_epochs: int = knob(5, lo=0, doc="epochs of the backbone (0 = untrained features)")
    feat_dim: int = knob(64, lo=4, doc="feature width d")
    n_pairs: int = knob(6000, lo=32, doc="LaSO training pairs")
    share_frac: float = knob(0.5, lo=0.0, hi=1.0, doc="fraction of pairs that share a label")
    steps: int = knob(300, lo=0, doc="Adam steps of the operators (0 = untrained)")
    batch_size: int = knob(256, lo=2)
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    layers: int = knob(1, lo=0, hi=8, doc="residual blocks per operator")
    class_loss: bool = knob(True, choices=(True, False), doc="classification terms of the loss")
    tautology: bool = knob(True, choices=(True, False), doc="tautology class + MSE terms")
    sym_recon: bool = knob(True, choices=(True, False), doc="symmetry MSE for ∪ and ∩")
    recon: bool = knob(True, choices=(True, False), doc="anti-mode-collapse reconstruction U(a∖(b∩a), a∩b) ≈ a")
    targets: str = knob("true", choices=TARGETS, doc="target label sets of the training pairs")
    train_ops: str = knob("all", choices=TRAIN_OPS, doc="which operators are trained")
    operator: str = knob("laso", choices=OPERATORS, doc="learned operators or analytic ones in their place")
    n_eval_fit: int = knob(2000, lo=50, doc="real images the independent evaluator is fitted on")
    n_test: int = knob(2000, lo=50, doc="held-out test pairs")
    knn: int = knob(5, lo=1, doc="neighbours of the retrieval score")
    n_seeds: int = knob(1, lo=1, doc="seeds per run")

    def validate(self) -> None:
        if self.batch_size > self.n_pairs:
            raise ParameterError(f"BATCH_SIZE={self.batch_size} must not exceed N_PAIRS={self.n_pairs}")


PRESETS = {
    "small": Config(),
    "full": Config(n_backbone=20000, backbone_epochs=8, feat_dim=128, n_pairs=40000, steps=4000, batch_size=256,
                   layers=2, n_eval_fit=8000, n_test=8000, n_seeds=3),
}
SMOKE = {"n_backbone": 200, "backbone_epochs": 1, "n_pairs": 300, "steps": 2, "batch_size": 64, "n_eval_fit": 200,
         "n_test": 100, "n_seeds": 1}


# ------------------------------------------------------------------------------------------------------ the data
def digit_pools(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """sklearn's 8×8 digits split 50/50 per class into a training and a test pool: ``pool[c]`` is ``(n_c, 8, 8)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(N_LABELS):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        half = len(idx) // 2
        train.append(x[idx[:half]])
        test.append(x[idx[half:]])
    return train, test


def render(label_sets: list[list[int]], pool: list[np.ndarray], rng: np.random.Generator) -> Tensor:
    """Canvases ``(N, 1, 16, 16)``: each set's digits (at most 4) drawn from ``pool`` into random distinct 2×2 slots."""
    out = np.zeros((len(label_sets), 1, 16, 16), np.float32)
    for i, labels in enumerate(label_sets):
        if len(labels) > 4:
            raise ParameterError(f"a canvas holds at most 4 digits, got {labels}")
        slots = rng.permutation(4)[: len(labels)]
        for lab, s in zip(labels, slots):
            img = pool[lab][rng.integers(len(pool[lab]))]
            r, c = divmod(int(s), 2)
            out[i, 0, 8 * r:8 * r + 8, 8 * c:8 * c + 8] = img
    return torch.from_numpy(out)


def random_sets(n: int, labels: int, rng: np.random.Generator, min_size: int = 1, max_size: int = 3) -> list[list[int]]:
    """``n`` label sets of ``min_size … max_size`` distinct labels from ``0 … labels−1``."""
    return [sorted(rng.choice(labels, rng.integers(min_size, max_size + 1), replace=False).tolist()) for _ in range(n)]


def multi_hot(label_sets: list[list[int]], n: int = N_LABELS) -> Tensor:
    """``(N, n)`` 0/1 matrix of label sets."""
    y = torch.zeros(len(label_sets), n)
    for i, s in enumerate(label_sets):
        y[i, s] = 1.0
    return y


def sample_pairs(y: Tensor, n: int, share_frac: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i ≠ j``, into the rows of ``y`` ``(N, L)``; a ``share_frac`` fraction share a label."""
    N = len(y)
    n_share = int(round(n * share_frac))
    i = rng.integers(N, size=n)
    j = rng.integers(N, size=n)
    yn = y.numpy().astype(bool)
    for k in range(n_share):  # redraw j until the pair shares a label (rejection; sets are small)
        for _ in range(200):
            if j[k] != i[k] and (yn[i[k]] & yn[j[k]]).any():
                break
            j[k] = rng.integers(N)
    same = i == j
    j[same] = (j[same] + 1) % N
    return i, j


def set_targets(ya: Tensor, yb: Tensor) -> dict[str, Tensor]:
    """Target label sets of the three operations: ``{"int": ya∧yb, "uni": ya∨yb, "sub": ya∧¬yb}`` (0/1 floats)."""
    return {"int": ya * yb, "uni": torch.clamp(ya + yb, max=1.0), "sub": ya * (1 - yb)}


# ------------------------------------------------------------------------------------------------- the mechanism
def analytic_op(op: str, a: Tensor, b: Tensor) -> Tensor:
    """The analytic set operation on non-negative features (official residual ops): ``min``, ``a + b``, ``relu(a − b)``."""
    if op == "int":
        return torch.minimum(a, b)
    if op == "uni":
        return a + b
    if op == "sub":
        return F.relu(a - b)
    raise ParameterError(f"op must be one of {OPS}, got {op!r}")


class ResBasicBlock(nn.Module):
    """Official ``SetopResBasicBlock``: ``LeakyReLU_0.2(BN(W h) + r)``."""

    def __init__(self, d: int):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.bn = nn.BatchNorm1d(d)

    def forward(self, h: Tensor, residual: Tensor) -> Tensor:
        return F.leaky_relu(self.bn(self.fc(h)) + residual, 0.2)


class SetOp(nn.Module):
    """One label-set operator (official ``SetopResBlock_v1``): ``(N, d), (N, d) → (N, d)``, non-negative output.

    ``h = LeakyReLU(BN(W[a; b]))``, then ``layers`` residual blocks fed with ``analytic_op(op, a, b)``, then
    ``ReLU(W_out h)``.
    """

    def __init__(self, op: str, d: int, layers: int = 1):
        super().__init__()
        if op not in OPS:
            raise ParameterError(f"op must be one of {OPS}, got {op!r}")
        self.op = op
        self.net_ab = nn.Sequential(nn.Linear(2 * d, d), nn.BatchNorm1d(d), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(ResBasicBlock(d) for _ in range(layers))
        self.fc_out = nn.Linear(d, d)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        h = self.net_ab(torch.cat([a, b], dim=1))
        r = analytic_op(self.op, a, b)
        for block in self.blocks:
            h = block(h, r)
        return F.relu(self.fc_out(h))


class LaSO(nn.Module):
    """The three operators ``M_int, M_uni, M_sub`` (official ``SetOpsResModule``); ``analytic=True`` puts the
    analytic operations in their place (no parameters are used)."""

    def __init__(self, d: int, layers: int = 1, analytic: bool = False):
        super().__init__()
        self.ops = nn.ModuleDict({op: SetOp(op, d, layers) for op in OPS})
        self.analytic = analytic

    def synthesize(self, op: str, a: Tensor, b: Tensor) -> Tensor:
        """``M_op(a, b)``: ``(N, d), (N, d) → (N, d)``."""
        return analytic_op(op, a, b) if self.analytic else self.ops[op](a, b)

    def forward(self, a: Tensor, b: Tensor) -> dict[str, Tensor]:
        """The 18 outputs of the official module's forward (names as in ``train_setops_stripped.py``).

        Calls that share an operator and a depth are batched into one call (7 calls instead of 18); in training
        mode their BatchNorm statistics are therefore pooled over those calls.
        """
        def many(op: str, firsts: list[Tensor], seconds: list[Tensor]) -> list[Tensor]:
            return list(self.synthesize(op, torch.cat(firsts), torch.cat(seconds)).chunk(len(firsts)))

        o: dict[str, Tensor] = {}
        o["a_S_b"], o["b_S_a"] = many("sub", [a, b], [b, a])
        o["a_I_b"], o["b_I_a"] = many("int", [a, b], [b, a])
        o["a_U_b"], o["b_U_a"] = many("uni", [a, b], [b, a])
        (o["a_S_b_b"], o["b_S_a_a"], o["a_S_b_I_a"], o["b_S_a_I_b"], o["a_S_a_I_b"], o["b_S_b_I_a"]) = many(
            "sub", [o["a_S_b"], o["b_S_a"], a, b, a, b], [b, a, o["b_I_a"], o["a_I_b"], o["a_I_b"], o["b_I_a"]])
        o["a_I_b_b"], o["b_I_a_a"] = many("int", [o["a_I_b"], o["b_I_a"]], [b, a])
        o["a_U_b_b"], o["b_U_a_a"] = many("uni", [o["a_U_b"], o["b_U_a"]], [b, a])
        o["fake_a"], o["fake_b"] = many("uni", [o["a_S_b_I_a"], o["b_S_a_I_b"]], [o["a_I_b"], o["b_I_a"]])
        return o


def loss_terms(cfg: Config) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The official loss as lists of terms: classification ``(output, target)`` and MSE ``(output, output|input)``.

    Targets: ``"ya"``, ``"yb"``, ``"int"`` (La∩Lb), ``"uni"`` (La∪Lb), ``"sub"`` (La∖Lb), ``"sub_ba"`` (Lb∖La).
    ``cfg.train_ops == "uni"`` keeps only the union terms (the union-only swap).
    """
    cls = [("a_S_b", "sub"), ("b_S_a", "sub_ba"), ("a_U_b", "uni"), ("b_U_a", "uni"),   # b_U_a, b_I_a: sym_class
           ("a_I_b", "int"), ("b_I_a", "int"), ("fake_a", "ya"), ("fake_b", "yb")]      # fake_*: class_fake
    if cfg.tautology:
        cls += [("a_S_b_b", "sub"), ("b_S_a_a", "sub_ba"), ("a_S_a_I_b", "sub"), ("b_S_a_I_b", "sub_ba"),
                ("b_S_b_I_a", "sub_ba"), ("a_S_b_I_a", "sub"), ("a_U_b_b", "uni"), ("b_U_a_a", "uni"),
                ("a_I_b_b", "int"), ("b_I_a_a", "int")]
    mse = []
    if cfg.tautology:
        mse += [("a_S_b", "a_S_b_b"), ("a_S_b", "a_S_a_I_b"), ("a_S_b", "a_S_b_I_a"),
                ("b_S_a", "b_S_a_a"), ("b_S_a", "b_S_a_I_b"), ("b_S_a", "b_S_b_I_a")]
    if cfg.sym_recon:
        mse += [("a_U_b", "b_U_a"), ("a_I_b", "b_I_a")]
    if cfg.recon:
        mse += [("fake_a", "a"), ("fake_b", "b")]
    if not cfg.class_loss:
        cls = []
    if cfg.train_ops == "uni":
        cls = [t for t in cls if t[1] == "uni"]
        mse = [t for t in mse if t == ("a_U_b", "b_U_a")]
    return cls, mse


def laso_loss(o: dict[str, Tensor], a: Tensor, b: Tensor, ya: Tensor, yb: Tensor, classifier: nn.Module,
              cfg: Config) -> Tensor:
    """The official training loss (``create_setops_trainer``; every toggle on, every weight 1): the sum of the
    multi-label soft-margin losses of ``C`` on the classification terms plus the MSE terms of :func:`loss_terms`.

    ``o``: :meth:`LaSO.forward`'s outputs; ``a, b`` ``(N, d)`` real features; ``ya, yb`` ``(N, L)`` their (seen)
    label sets; ``classifier``: the frozen ``C``. All classification terms go through ``C`` in one call.
    """
    t = set_targets(ya, yb)
    targets = {"ya": ya, "yb": yb, "sub_ba": yb * (1 - ya), **t}
    feats = {**o, "a": a, "b": b}
    cls, mse = loss_terms(cfg)
    loss = o["a_U_b"].sum() * 0.0
    if cls:
        logits = classifier(torch.cat([o[k] for k, _ in cls]))
        y = torch.cat([targets[k] for _, k in cls])
        # multi-label soft margin = mean over labels of BCE-with-logits; each term is a mean over the batch
        loss = loss + F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(1).sum() / len(a)
    for k1, k2 in mse:
        loss = loss + F.mse_loss(feats[k1], feats[k2])
    return loss


class _PairTrainer(nn.Module):
    """Wraps LaSO for :func:`featurelab.train.fit`: ``forward(idx)`` is the loss of one batch of training pairs."""

    def __init__(self, model: LaSO, classifier: nn.Module, fa: Tensor, fb: Tensor, ya: Tensor, yb: Tensor,
                 cfg: Config):
        super().__init__()
        self.model, self.classifier, self.cfg = model, classifier, cfg
        self.fa, self.fb, self.ya, self.yb = fa, fb, ya, yb

    def forward(self, idx: Tensor) -> Tensor:
        a, b = self.fa[idx], self.fb[idx]
        return laso_loss(self.model(a, b), a, b, self.ya[idx], self.yb[idx], self.classifier, self.cfg)


# ----------------------------------------------------------------------------------------------------- metrics
def mean_ap(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP: average precision per label (column), averaged over labels with at least one positive."""
    from sklearn.metrics import average_precision_score

    aps = [average_precision_score(targets[:, k], scores[:, k]) for k in range(targets.shape[1])
           if targets[:, k].any()]
    return float(np.mean(aps)) if aps else float("nan")


def chance_map(targets: np.ndarray) -> float:
    """mAP of random scores in expectation: the mean prevalence of the labels with at least one positive."""
    prev = targets.mean(0)
    prev = prev[prev > 0]
    return float(prev.mean()) if len(prev) else float("nan")


def fit_evaluator(x: np.ndarray | Tensor, y: np.ndarray | Tensor, l2: float = 1e-3, standardize: bool = False,
                  iters: int = 60):
    """A multi-label logistic regression (one sigmoid per label, L2 penalty ``l2·‖W‖²``) fitted by L-BFGS.

    ``x`` ``(N, d)`` features, ``y`` ``(N, L)`` 0/1 label sets. ``standardize`` rescales every feature to unit
    variance first (on the fitting data). Returns ``score(x') -> (N', L)`` probabilities as a numpy array.
    """
    x = torch.as_tensor(np.asarray(x, np.float32))
    y = torch.as_tensor(np.asarray(y, np.float32))
    mu = x.mean(0) if standardize else torch.zeros(x.shape[1])
    sd = x.std(0) + 1e-3 if standardize else torch.ones(x.shape[1])
    z = (x - mu) / sd
    w = torch.zeros(x.shape[1], y.shape[1], requires_grad=True)
    prev = y.mean(0).clamp(1e-4, 1 - 1e-4)
    b = torch.log(prev / (1 - prev)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z @ w + b, y) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()

    def score(xq: np.ndarray | Tensor) -> np.ndarray:
        zq = (torch.as_tensor(np.asarray(xq, np.float32)) - mu) / sd
        return torch.sigmoid(zq @ w + b).numpy()

    return score


def knn_scores(query: np.ndarray, gallery: np.ndarray, gallery_y: np.ndarray, k: int) -> np.ndarray:
    """Retrieval: the mean label set of the ``k`` nearest real gallery features (Euclidean)."""
    d = ((query ** 2).sum(1, keepdims=True) - 2 * query @ gallery.T + (gallery ** 2).sum(1))
    nn_idx = np.argpartition(d, kth=min(k, len(gallery) - 1), axis=1)[:, :k]
    return gallery_y[nn_idx].mean(1)


# --------------------------------------------------------------------------------------------------- one seed
@dataclass
class SeedResult:
    """One seed's measurements. ``maps[scorer][arm][op]`` are seen-label mAPs; ``unseen[arm][op]`` unseen-label
    mAPs (labels ``n_seen … 9``), ``unseen_chance[op]`` their chance level."""

    maps: dict
    chance: dict
    unseen: dict
    unseen_chance: dict
    backbone_map: float
    loss: list
    seconds: float


@torch.no_grad()
def _features(backbone: nn.Module, x: Tensor) -> Tensor:
    backbone.eval()
    return torch.cat([backbone.features(x[i:i + 2048]) for i in range(0, len(x), 2048)])


def run_seed(cfg: Config, seed: int, device: torch.device, progress: bool | None = None, keep: bool = False):
    """Train the backbone, LaSO, and evaluate every arm for one seed; ``keep`` also returns the models and data."""
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_pool, test_pool = digit_pools(seed)
    ns = cfg.n_seen
    # backbone + classifier C on seen-label canvases (training pool of digit instances)
    sets_tr = random_sets(cfg.n_backbone, ns, rng)
    x_tr = render(sets_tr, train_pool, rng).to(device)
    y_tr = multi_hot(sets_tr)[:, :ns].to(device)
    backbone = cnn(1, ns, widths=(16, 32), image_size=16, hidden=cfg.feat_dim).to(device)
    if cfg.backbone_epochs:
        fit(backbone, x_tr, y_tr, epochs=cfg.backbone_epochs, batch_size=128, lr=2e-3,
            loss_fn=F.multilabel_soft_margin_loss, seed=seed, progress_bar=progress, desc="backbone")
    backbone.eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    classifier = backbone.head
    f_tr = _features(backbone, x_tr)

    # LaSO training pairs (seen labels only)
    i, j = sample_pairs(y_tr.cpu(), cfg.n_pairs, cfg.share_frac, rng)
    ya, yb = y_tr[i], y_tr[j]
    if cfg.targets == "permuted":  # wrong but same-distribution target sets: each pair gets another pair's sets
        perm = torch.from_numpy(rng.permutation(cfg.n_pairs)).to(device)
        ya, yb = ya[perm], yb[perm]
    torch.manual_seed(seed + 1)
    model = LaSO(cfg.feat_dim, cfg.layers, analytic=cfg.operator == "analytic").to(device)
    hist_loss: list[float] = []
    if cfg.operator == "laso" and cfg.steps:
        trainer = _PairTrainer(model, classifier, f_tr[i], f_tr[j], ya, yb, cfg)
        idx = torch.arange(cfg.n_pairs, device=device)
        hist = fit(trainer, idx, idx, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                   loss_fn=lambda loss, _y: loss, seed=seed + 2, progress_bar=progress, desc="LaSO")
        hist_loss = list(hist.loss)
    model.eval()

    def synth(fa: Tensor, fb: Tensor, analytic: bool) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {op: (analytic_op(op, fa, fb) if analytic else model.synthesize(op, fa, fb)).cpu().numpy()
                    for op in OPS}

    # independent evaluator C′: logistic regression on real features of other seen-label training canvases
    sets_ev = random_sets(cfg.n_eval_fit, ns, rng)
    f_ev = _features(backbone, render(sets_ev, train_pool, rng).to(device)).cpu().numpy()
    y_ev = multi_hot(sets_ev)[:, :ns].numpy()
    c_ind = fit_evaluator(f_ev, y_ev)

    # seen-label test pairs (test pool of digit instances)
    sets_te = random_sets(cfg.n_test, ns, rng)
    x_te = render(sets_te, test_pool, rng).to(device)
    y_te = multi_hot(sets_te)[:, :ns]
    f_te = _features(backbone, x_te)
    ti, tj = sample_pairs(y_te, cfg.n_test, cfg.share_frac, rng)
    tgt = {op: v.numpy() for op, v in set_targets(y_te[ti], y_te[tj]).items()}
    out = {"laso": synth(f_te[ti], f_te[tj], False), "analytic": synth(f_te[ti], f_te[tj], True)}
    # the same re-fit for each arm: a classifier fitted per operation on that arm's outputs of the training pairs
    tr_t = {op: v.cpu().numpy() for op, v in set_targets(y_tr[i], y_tr[j]).items()}
    n_refit = min(cfg.n_pairs, 3000)
    tr_out = {"laso": synth(f_tr[i[:n_refit]], f_tr[j[:n_refit]], False),
              "analytic": synth(f_tr[i[:n_refit]], f_tr[j[:n_refit]], True)}
    gallery = f_te.cpu().numpy()
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    maps: dict = {"C": {}, "independent": {}, "refit": {}, "retrieval": {}}
    for arm in ("laso", "analytic"):
        for sc in maps:
            maps[sc][arm] = {}
        for op in OPS:
            v = out[arm][op]
            with torch.no_grad():
                s_c = sig(classifier(torch.from_numpy(v).to(device)).cpu().numpy())
            maps["C"][arm][op] = mean_ap(s_c, tgt[op])
            maps["independent"][arm][op] = mean_ap(c_ind(v), tgt[op])
            refit = fit_evaluator(tr_out[arm][op], tr_t[op][:n_refit])
            maps["refit"][arm][op] = mean_ap(refit(v), tgt[op])
            maps["retrieval"][arm][op] = mean_ap(knn_scores(v, gallery, y_te.numpy(), cfg.knn), tgt[op])
    # real-image oracle: canvases that carry the target set (up to 4 labels), scored by C′
    oracle = {}
    for op in OPS:
        sets_o = [np.flatnonzero(t).tolist() for t in tgt[op]]
        keep_o = [k for k, s in enumerate(sets_o) if len(s) <= 4]
        f_o = _features(backbone, render([sets_o[k] for k in keep_o], test_pool, rng).to(device)).cpu().numpy()
        oracle[op] = mean_ap(c_ind(f_o), tgt[op][keep_o])
    maps["independent"]["oracle"] = oracle
    chance = {op: chance_map(tgt[op]) for op in OPS}

    # unseen labels: canvases over all ten digits; evaluator fitted on real features of all labels
    sets_ev10 = random_sets(cfg.n_eval_fit, N_LABELS, rng)
    f_ev10 = _features(backbone, render(sets_ev10, train_pool, rng).to(device)).cpu().numpy()
    c_all = fit_evaluator(f_ev10, multi_hot(sets_ev10).numpy())
    sets_u = random_sets(cfg.n_test, N_LABELS, rng)
    y_u = multi_hot(sets_u)
    f_u = _features(backbone, render(sets_u, test_pool, rng).to(device))
    ui, uj = sample_pairs(y_u[:, ns:], cfg.n_test, cfg.share_frac, rng)  # pairs mostly share an unseen label
    tgt_u = {op: v[:, ns:].numpy() for op, v in set_targets(y_u[ui], y_u[uj]).items()}
    out_u = {"laso": synth(f_u[ui], f_u[uj], False), "analytic": synth(f_u[ui], f_u[uj], True)}
    unseen: dict = {arm: {op: mean_ap(c_all(out_u[arm][op])[:, ns:], tgt_u[op]) for op in OPS} for arm in out_u}
    oracle_u = {}
    for op in OPS:
        full = set_targets(y_u[ui], y_u[uj])[op].numpy()
        sets_o = [np.flatnonzero(t).tolist() for t in full]
        keep_o = [k for k, s in enumerate(sets_o) if len(s) <= 4]
        f_o = _features(backbone, render([sets_o[k] for k in keep_o], test_pool, rng).to(device)).cpu().numpy()
        oracle_u[op] = mean_ap(c_all(f_o)[:, ns:], tgt_u[op][keep_o])
    unseen["oracle"] = oracle_u
    unseen_chance = {op: chance_map(tgt_u[op]) for op in OPS}
    with torch.no_grad():
        bb_map = mean_ap(sig(classifier(f_te).cpu().numpy()), y_te.numpy())
    res = SeedResult(maps, chance, unseen, unseen_chance, bb_map, hist_loss, time.perf_counter() - t0)
    if keep:
        return res, {"backbone": backbone, "laso": model, "x_test": x_te.cpu(), "sets_test": sets_te,
                     "f_test": f_te.cpu(), "c_ind": c_ind, "n_seen": ns}
    return res


# ----------------------------------------------------------------------------------------------------- the run
@dataclass
class Result:
    """Per-seed results plus, for the notebook, the first seed's trained models and test data (``extras``)."""

    seeds: list
    per_seed: list
    extras: dict
    seconds: float

    def table(self, scorer: str, arm: str) -> np.ndarray:
        """``(n_seeds, 3)`` seen-label mAP per seed and operation (``OPS`` order)."""
        return np.array([[r.maps[scorer][arm][op] for op in OPS] for r in self.per_seed])

    def unseen_table(self, arm: str) -> np.ndarray:
        """``(n_seeds, 3)`` unseen-label mAP per seed and operation."""
        return np.array([[r.unseen[arm][op] for op in OPS] for r in self.per_seed])

    def chance_table(self, unseen: bool = False) -> np.ndarray:
        return np.array([[(r.unseen_chance if unseen else r.chance)[op] for op in OPS] for r in self.per_seed])


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Run every seed (independent data draws, backbone and operators); keep the first seed's models."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    device = torch.device(device)
    t0 = time.perf_counter()
    per_seed, extras = [], {}
    for k, s in enumerate(seeds):
        if k == 0:
            r, extras = run_seed(cfg, s, device, progress, keep=True)
        else:
            r = run_seed(cfg, s, device, progress)
        per_seed.append(r)
    return Result(seeds, per_seed, extras, time.perf_counter() - t0)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed values (means over the three operations unless named)."""
    m = lambda sc, arm: res.table(sc, arm).mean(1)  # noqa: E731
    u_l, u_a = res.unseen_table("laso"), res.unseen_table("analytic")
    u_ch = res.chance_table(unseen=True)
    ii = [OPS.index("int"), OPS.index("uni")]
    return {
        # seen labels: LaSO − analytic, both scored by the independent evaluator C′
        "seen_gain_independent": list(m("independent", "laso") - m("independent", "analytic")),
        # seen labels: LaSO − analytic, each scored by a classifier re-fitted on its own training-pair outputs
        "seen_gain_refit": list(m("refit", "laso") - m("refit", "analytic")),
        "seen_gain_C": list(m("C", "laso") - m("C", "analytic")),
        "seen_gain_retrieval": list(m("retrieval", "laso") - m("retrieval", "analytic")),
        "seen_map_laso_independent": list(m("independent", "laso")),
        "seen_map_analytic_independent": list(m("independent", "analytic")),
        # unseen labels: LaSO's ∩ and ∪ over chance (evaluator fitted on real features of all ten digits)
        "unseen_over_chance": list((u_l[:, ii] - u_ch[:, ii]).mean(1)),
        "unseen_analytic_over_chance": list((u_a[:, ii] - u_ch[:, ii]).mean(1)),
        "unseen_laso_minus_analytic": list((u_l - u_a).mean(1)),
    }


# Thresholds set from prototype seeds 5000–5002 (design note), before calibrating on SEED = 0 … 11.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("seen_gain_refit", "seen_gain_refit", ">=", 0.02,
              "seen labels, mean over ∩ ∪ ∖: mAP of LaSO − analytic ops, each scored by a classifier re-fitted "
              "on its own outputs for LaSO's training pairs (the same advantage for both)",
              "qualitative: LaSO beats analytic feature-space ops on COCO (Sec. 4.1); numbers not retrieved"),
    ClaimSpec("unseen_over_chance", "unseen_over_chance", ">=", 0.08,
              "unseen labels 7–9, mean over ∩ ∪: mAP of LaSO's outputs (evaluator fitted on real features of all "
              "ten digits) − chance",
              "qualitative: LaSO generalises to unseen COCO labels (Sec. 4.2); numbers not retrieved"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("permuted_targets", {"targets": "permuted"}, ("seen_gain_refit", "unseen_over_chance"), "mechanism",
         "the training pairs' target label sets permuted across pairs: same architecture, losses, steps and data, "
         "but no correct set supervision"),
    Swap("no_class_loss", {"class_loss": False}, ("seen_gain_refit", "unseen_over_chance"), "mechanism",
         "the classification terms removed: only the MSE terms (tautology, symmetry, reconstruction) train LaSO"),
    Swap("union_only", {"train_ops": "uni"}, ("seen_gain_refit",), "mechanism",
         "only the union operator is trained (its classification and symmetry terms); ∩ and ∖ stay at "
         "initialisation (analytic residual inside a random network)"),
    Swap("untrained_operators", {"steps": 0}, ("seen_gain_refit", "unseen_over_chance"), "baseline",
         "the random-features sceptic: LaSO's architecture at initialisation (analytic op inside a random "
         "network), given the same re-fitted classifier — capacity without training"),
    Swap("analytic_in_laso_place", {"operator": "analytic"}, (), "sanity",
         "relu(a−b), min(a,b), a+b in LaSO's place: the seen-label margin is zero by construction (reported only)"),
)
