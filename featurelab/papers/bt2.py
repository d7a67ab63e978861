"""BT²: backward-compatible training with a basis transformation.

Zhou, Li, Shrivastava, Zhao, Torralba, Tian & Lim, *BT^2: Backward-compatible Training with Basis
Transformation*, ICCV 2023, arXiv:2211.03989; official code github.com/YifeiZhou02/BT-2 (adapted from apple/ml-fct).
Used by ``notebooks/04_transferring_features/07_bt2.ipynb``.

**Setting (backward-compatible representation learning).** A retrieval system stores the *old* model's
embeddings ``φ_old(x)`` of a gallery. A *new* model ``φ_new`` should be usable at once: new queries compared with
the old gallery ("new/old") must retrieve at least as well as old/old, without recomputing the gallery
(backfilling). BCT (Shen et al., CVPR 2020) trains the new model with an *influence loss*: the frozen old
classifier applied to the new features, ``CE(W_old φ_new(x), y)``. The paper's starting point is that this
compatibility constraint costs the new model's own new/new accuracy.

**BT² (the method section).** The new embedding gets ``d_extra`` additional dimensions mixed by a learnable
orthonormal *basis transformation* ``B`` (``BᵀB = I``)::

    ψ(x) = B [f(x); u(x)] ∈ R^{d_old + d_extra}

Only the first ``d_old`` coordinates must be compatible; ``B`` is orthonormal, so it keeps all the information of
``[f; u]``, and the extra dimensions can hold what the compatibility constraint would otherwise destroy. New/old
retrieval compares ``ψ[:d_old]`` with the old gallery; new/new retrieval uses all of ``ψ``. The training loss, with
the weights of the official configs (λ1 = 1, λ2 = 10, λ3 = 5)::

    L = CE(fc(ψ), y) + 5 · (1 − cos(φ_old(x), ψ[:d_old])) + 1 · (1 − cos(φ'_new(x), f(x)))
        + 10 · CE(W_old ψ[:d_old], y)

where ``φ'_new`` is an independently trained new model (its features are the transfer target of the branch ``f``
*before* ``B``) and ``W_old`` is the frozen old classifier. ``B`` is ``torch.nn.utils.parametrizations.orthogonal``
of a square linear layer, as in the official ``models/resnet.py``.

**What this module asserts** (per seed, mean over the run's seeds; threshold in :data:`CLAIMS`): BT²'s new/old
mAP beats BCT's with the same old model, gallery and influence weight (the README's comparison). The noise null
(BCT retrained on an independent seed in BT²'s place) and the sceptic's concatenation ``[BCT embedding;
independent embedding projected to d_extra]`` at equal width must break it; BT² without the old-feature cosine
(BCT's influence loss as its only compatibility term) keeps less than half of the gain. **Measured, not asserted:**
BT² − BCT in new/old top-1 (≈ +0.13 on average, below the margin fixed in advance in one of 12 calibration sets);
new/old against old/old (BT²'s new/old mAP is about equal to old/old: above in some seed sets, below in others;
top-1 far below); new/new against the independent model (BT² 0.01–0.03 below it in top-1, 0.04–0.05 in mAP; BCT
0.04 / 0.05–0.07); the swaps without extra dimensions (``d_extra = 0``) or without the transfer (λ1 = 0), which
keep the whole gain over BCT — it comes from the old-feature cosine, which a model without extra dimensions has
too. **Not shown:** that ``B`` itself matters. With a linear last layer an orthogonal ``B`` is a reparametrisation
of that layer (``basis="identity"`` gives the same numbers within seed noise), so the basis transformation's own
role is an exercise, not a claim (status ``partial``).

Simplifications for scale (named): Fashion-MNIST at 14×14 instead of CIFAR-100 / ImageNet; the old model is an
MLP trained on the first 5 classes, the new models MLPs trained on all 10 (instead of ResNet-50s on 50 / 100
classes); d_old = 32, d_extra = 16 (official 128 and 32); a few Adam epochs; no augmentation. BT²'s old
classifier is extended to the new classes by the old model's normalised class means (BCT's recipe for new
classes), scaled to the old rows' mean norm. Retrieval: a fixed query set and gallery from the test images,
cosine similarity, top-1 and mAP over the whole gallery. The old model, the independent new model and the BCT
model are trained once per seed and cached (:mod:`featurelab.cache`); the swap arms retrain only the arm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

from .. import cache
from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import balanced_indices, load_fashion_mnist
from ..experiment import Knobs, Swap, knob
from ..models import Net
from ..train import fit

N_OLD = 5                     # the old model knows Fashion-MNIST classes 0–4 (T-shirt/top … coat)
N_CLASSES = 10
ARMS = ("bt2", "bct", "concat")
BASES = ("orthogonal", "identity")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_train: training images of all 10 classes (class-balanced) for the new models; the old model trains on
            ``n_old_train`` images of classes 0–4 drawn from the same pool. image_size: side of the images.
        hidden_old, hidden_new: hidden width of the old / new MLPs. d_old: embedding width of the old model (and of
            the independent and BCT new models). d_extra: BT²'s extra dimensions.
        epochs, batch_size, lr: Adam training of every model.
        w_old_cos: weight of ``1 − cos(φ_old, ψ[:d_old])`` (official 5). w_new_cos: λ1, weight of
            ``1 − cos(φ'_new, f)`` (official 1). w_influence: weight of ``CE(W_old ψ[:d_old])`` (official 10;
            BCT uses the same weight).
        basis: ``orthogonal`` (the paper's ``B``) or ``identity`` (no transformation; the exercise).
        arm: the compared new model: ``bt2``, ``bct`` (BCT on seed + ``arm_seed_offset``: the noise null) or
            ``concat`` (the sceptic: BCT's embedding concatenated with the independent model's projected to
            ``d_extra`` dimensions by PCA).
        n_query, n_gallery: query and gallery images (from the test set, class-balanced, fixed).
    """

    n_train: int = knob(6000, lo=100, hi=60000, doc="training images of the new models")
    n_old_train: int = knob(3000, lo=50, hi=30000, doc="training images of the old model (classes 0-4)")
    image_size: int = knob(14, lo=7, hi=28, doc="image side (downsampled from 28)")
    hidden_old: int = knob(64, lo=2, doc="hidden width of the old MLP")
    hidden_new: int = knob(128, lo=2, doc="hidden width of the new MLPs")
    d_old: int = knob(32, lo=2, hi=512, doc="embedding width of the old model")
    d_extra: int = knob(16, lo=0, hi=512, doc="BT²'s extra dimensions")
    epochs: int = knob(5, lo=1, doc="training epochs of every model")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    w_old_cos: float = knob(5.0, lo=0.0, doc="weight of the old-feature cosine loss")
    w_new_cos: float = knob(1.0, lo=0.0, doc="λ1, weight of the transfer from the independent new model")
    w_influence: float = knob(10.0, lo=0.0, doc="weight of the influence loss CE(W_old psi[:d_old])")
    basis: str = knob("orthogonal", choices=BASES, doc="the basis transformation B")
    arm: str = knob("bt2", choices=ARMS, doc="the compared new model")
    arm_seed_offset: int = knob(0, lo=0, doc="added to the seed of the arm's training")
    n_query: int = knob(1000, lo=10, hi=5000, doc="query images (test set)")
    n_gallery: int = knob(3000, lo=10, hi=9990, doc="gallery images (test set)")
    n_seeds: int = knob(5, lo=1, doc="seeds (model sets) per run")

    def validate(self) -> None:
        if self.n_old_train > self.n_train:
            raise ParameterError(f"N_OLD_TRAIN={self.n_old_train} must not exceed N_TRAIN={self.n_train}")
        if self.n_query + self.n_gallery > 10000:
            raise ParameterError("N_QUERY + N_GALLERY must not exceed the 10,000 test images")
        if self.arm == "concat" and self.d_extra > self.d_old:
            raise ParameterError(f"D_EXTRA={self.d_extra} must not exceed D_OLD={self.d_old} for ARM='concat'")

    def old_key(self) -> dict:
        keys = ("n_train", "n_old_train", "image_size", "hidden_old", "d_old", "epochs", "batch_size", "lr")
        return {k: getattr(self, k) for k in keys}

    def new_key(self) -> dict:
        keys = ("n_train", "image_size", "hidden_new", "d_old", "epochs", "batch_size", "lr")
        return {k: getattr(self, k) for k in keys}

    def bct_key(self) -> dict:
        return {**self.old_key(), **self.new_key(), "w_influence": self.w_influence}


PRESETS = {
    "small": Config(),
    "full": Config(n_train=60000, n_old_train=30000, image_size=28, hidden_old=128, hidden_new=512, d_old=64,
                   d_extra=32, epochs=15, n_query=2000, n_gallery=8000, n_seeds=5),
}
SMOKE = {"n_train": 200, "n_old_train": 100, "epochs": 1, "n_query": 50, "n_gallery": 100, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------- the models
def embedder(image_size: int, hidden: int, d: int, n_classes: int) -> Net:
    """An MLP ``image → hidden → d`` (a *linear* embedding, no activation after it) with a linear head ``d → n``."""
    feats = nn.Sequential(nn.Flatten(), nn.Linear(image_size * image_size, hidden), nn.ReLU(), nn.Linear(hidden, d))
    return Net(feats, nn.Linear(d, n_classes))


class BT2Net(nn.Module):
    """BT²'s new model: ``trunk(x) = [f; u]`` (``d_new + d_extra``), ``ψ = B [f; u]``, ``fc(ψ)`` over 10 classes.

    ``forward`` returns ``(logits, ψ, f)``; :meth:`embed` returns ``ψ`` of shape ``(N, d_old + d_extra)``.
    With ``d_extra = 0`` ``ψ = B f`` (the compatibility and the transfer share the same ``d_old`` dimensions).
    """

    def __init__(self, image_size: int, hidden: int, d_old: int, d_extra: int, basis: str = "orthogonal"):
        super().__init__()
        dim = d_old + d_extra
        self.d_old, self.d_extra = d_old, d_extra
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(image_size * image_size, hidden), nn.ReLU(),
                                   nn.Linear(hidden, dim))
        if basis == "orthogonal":
            self.B = parametrizations.orthogonal(nn.Linear(dim, dim, bias=False))
        elif basis == "identity":
            self.B = nn.Identity()
        else:
            raise ParameterError(f"BASIS={basis!r} must be one of {', '.join(BASES)}")
        self.fc = nn.Linear(dim, N_CLASSES)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        z = self.trunk(x)
        psi = self.B(z)
        return self.fc(psi), psi, z[:, : self.d_old]

    def embed(self, x: Tensor) -> Tensor:
        return self.B(self.trunk(x))


class WithFeatures(nn.Module):
    """Wraps a :class:`Net` so that ``forward`` returns ``(logits, features)`` (for BCT's loss in ``fit``)."""

    def __init__(self, net: Net):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.net.features(x)
        return self.net.head(f), f


def bt2_loss(out: tuple[Tensor, Tensor, Tensor], y: Tensor, phi_old: Tensor, phi_new: Tensor | None,
             w_old: Tensor, b_old: Tensor, w_old_cos: float = 5.0, w_new_cos: float = 1.0,
             w_influence: float = 10.0) -> Tensor:
    """The official transfer loss (λ3 = ``w_old_cos``, λ1 = ``w_new_cos``, λ2 = ``w_influence``)::

        CE(fc(ψ), y) + λ3 (1 − cos(φ_old, ψ[:d_old])) + λ1 (1 − cos(φ'_new, f)) + λ2 CE(W_old ψ[:d_old] + b_old, y)

    ``out = (logits (N, 10), ψ (N, d_old + d_extra), f (N, d_old))``; ``phi_old`` ``(N, d_old)``; ``phi_new``
    ``(N, d_old)`` or ``None``; ``w_old`` ``(10, d_old)`` the old classifier extended to the new classes.
    """
    logits, psi, f = out
    d = phi_old.shape[1]
    loss = F.cross_entropy(logits, y)
    if w_old_cos:
        loss = loss + w_old_cos * (1 - F.cosine_similarity(phi_old, psi[:, :d], dim=1)).mean()
    if w_new_cos and phi_new is not None:
        loss = loss + w_new_cos * (1 - F.cosine_similarity(phi_new, f, dim=1)).mean()
    if w_influence:
        loss = loss + w_influence * F.cross_entropy(psi[:, :d] @ w_old.T + b_old, y)
    return loss


def bct_loss(logits: Tensor, feats: Tensor, y: Tensor, w_old: Tensor, b_old: Tensor, w_influence: float) -> Tensor:
    """BCT (Shen et al. 2020): ``CE(head(φ_new), y) + λ CE(W_old φ_new + b_old, y)`` with the extended old head."""
    return F.cross_entropy(logits, y) + w_influence * F.cross_entropy(feats @ w_old.T + b_old, y)


@torch.no_grad()
def extend_old_classifier(head: nn.Linear, feats: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """``(W (10, d), b (10,))``: the old head's 5 rows, then one row per new class = the old model's normalised
    class-mean feature scaled to the old rows' mean norm, bias = the old biases' mean (BCT's new-class recipe)."""
    w, b = head.weight.detach().clone(), head.bias.detach().clone()
    norm = w.norm(dim=1).mean()
    rows = [F.normalize(feats[y == c].mean(0), dim=0) * norm for c in range(N_OLD, N_CLASSES)]
    return torch.cat([w, torch.stack(rows)]), torch.cat([b, b.mean().repeat(N_CLASSES - N_OLD)])


# ----------------------------------------------------------------------------------------------- retrieval
def retrieval(q: Tensor, q_y: Tensor, g: Tensor, g_y: Tensor) -> dict[str, float]:
    """Top-1 accuracy and mAP of cosine retrieval: each query ranks the whole gallery.

    ``q`` ``(Q, d)``, ``g`` ``(G, d)``; a gallery item is relevant when its label equals the query's. mAP is the mean
    over queries of average precision (equal to :func:`sklearn.metrics.average_precision_score` per query).
    """
    sim = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    order = sim.argsort(dim=1, descending=True, stable=True)
    rel = (g_y[order] == q_y[:, None]).float()
    hits = rel.cumsum(1)
    ranks = torch.arange(1, g.shape[0] + 1, dtype=torch.float32)
    ap = (rel * hits / ranks).sum(1) / rel.sum(1).clamp(min=1)
    return {"top1": rel[:, 0].mean().item(), "map": ap.mean().item()}


# ----------------------------------------------------------------------------------------------- data
@dataclass
class Data:
    """``x`` ``(n_train, 1, s, s)``, ``y`` labels 0–9; ``old_idx`` the old model's rows (classes 0–4);
    ``q_x, q_y`` the queries, ``g_x, g_y`` the gallery (both from the test set, the same for every seed)."""

    x: Tensor
    y: Tensor
    old_idx: Tensor
    q_x: Tensor
    q_y: Tensor
    g_x: Tensor
    g_y: Tensor
    classes: tuple[str, ...]


def load_data(cfg: Config, seed: int) -> Data:
    """The new models' training subset (drawn by ``seed``), the old model's subset of classes 0–4 within it, and a
    fixed query / gallery split of the test images."""
    full = load_fashion_mnist(size=cfg.image_size)
    ytr, yte = full.y_train.numpy(), full.y_test.numpy()
    idx = balanced_indices(ytr, cfg.n_train, seed=seed)
    y = ytr[idx]
    old_rows = np.flatnonzero(y < N_OLD)
    old_idx = old_rows[balanced_indices(y[old_rows], min(cfg.n_old_train, len(old_rows)), seed=seed + 1)]
    test = balanced_indices(yte, cfg.n_query + cfg.n_gallery, seed=10_000)
    qi, gi = test[: cfg.n_query], test[cfg.n_query:]
    return Data(full.x_train[idx], full.y_train[idx], torch.from_numpy(np.sort(old_idx)), full.x_test[qi],
                full.y_test[qi], full.x_test[gi], full.y_test[gi], full.classes)


# ----------------------------------------------------------------------------------------------- training
def _fit(model: nn.Module, x: Tensor, target: Tensor, loss_fn, cfg: Config, seed: int, progress, desc: str) -> dict:
    torch.manual_seed(seed)
    hist = fit(model, x, target, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, loss_fn=loss_fn,
               seed=seed, progress_bar=progress, desc=desc)
    return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}


def old_model(cfg: Config, seed: int, data: Data, progress=None, device="cpu"):
    """The old model: an MLP embedding of width ``d_old`` with a 5-class head, trained on classes 0–4 (cached)."""
    def build():
        torch.manual_seed(seed)
        return embedder(cfg.image_size, cfg.hidden_old, cfg.d_old, N_OLD)

    def train(m):
        x, y = data.x[data.old_idx].to(device), data.y[data.old_idx].to(device)
        return _fit(m, x, y, F.cross_entropy, cfg, seed, progress, f"old model (seed {seed})")

    return cache.load_or_train("bt2_old", cfg.old_key(), seed, build, train, version=1, device=device)


def independent_model(cfg: Config, seed: int, data: Data, progress=None, device="cpu"):
    """φ'_new: the same MLP as BCT's new model, trained with cross-entropy on all 10 classes (cached)."""
    def build():
        torch.manual_seed(seed + 1)
        return embedder(cfg.image_size, cfg.hidden_new, cfg.d_old, N_CLASSES)

    def train(m):
        return _fit(m, data.x.to(device), data.y.to(device), F.cross_entropy, cfg, seed + 1, progress,
                    f"independent new model (seed {seed})")

    return cache.load_or_train("bt2_independent", cfg.new_key(), seed, build, train, version=1, device=device)


def _old_targets(old: Net, data: Data, device) -> tuple[Tensor, Tensor, Tensor]:
    with torch.no_grad():
        phi_old = old.features(data.x.to(device))
    w_old, b_old = extend_old_classifier(old.head, phi_old, data.y.to(device))
    return phi_old, w_old, b_old


def bct_model(cfg: Config, seed: int, data: Data, old: Net, progress=None, device="cpu", train_seed: int | None = None):
    """BCT's new model: the independent model's MLP trained with CE + λ·CE(W_old φ_new) (cached). ``seed`` fixes
    the data and the old model; ``train_seed`` (default ``seed``) the initialisation and batch order."""
    ts = seed if train_seed is None else train_seed

    def build():
        torch.manual_seed(ts + 2)
        return embedder(cfg.image_size, cfg.hidden_new, cfg.d_old, N_CLASSES)

    def train(m):
        _, w_old, b_old = _old_targets(old, data, device)
        return _fit(WithFeatures(m), data.x.to(device), data.y.to(device),
                    lambda out, y: bct_loss(out[0], out[1], y, w_old, b_old, cfg.w_influence), cfg, ts + 2,
                    progress, f"BCT (seed {ts})")

    return cache.load_or_train("bt2_bct", {**cfg.bct_key(), "data_seed": seed}, ts, build, train, version=1,
                               device=device)


def train_bt2(cfg: Config, seed: int, data: Data, old: Net, indep: Net | None, progress=None,
              device="cpu") -> BT2Net:
    """BT²'s new model trained with :func:`bt2_loss` (not cached: it is the arm every swap changes)."""
    torch.manual_seed(seed + 3)
    model = BT2Net(cfg.image_size, cfg.hidden_new, cfg.d_old, cfg.d_extra, cfg.basis).to(device)
    phi_old, w_old, b_old = _old_targets(old, data, device)
    with torch.no_grad():
        phi_new = indep.features(data.x.to(device)) if indep is not None else torch.zeros_like(phi_old)
    d = cfg.d_old
    target = torch.cat([data.y.to(device).float()[:, None], phi_old, phi_new], 1)   # fit() batches one target

    def loss_fn(out, t):
        return bt2_loss(out, t[:, 0].long(), t[:, 1:1 + d], t[:, 1 + d:], w_old, b_old, cfg.w_old_cos,
                        cfg.w_new_cos if indep is not None else 0.0, cfg.w_influence)

    _fit(model, data.x.to(device), target, loss_fn, cfg, seed + 3, progress, f"BT² (seed {seed})")
    return model.eval()


@torch.no_grad()
def embed(model: nn.Module, x: Tensor, device="cpu") -> Tensor:
    """``(N, d)`` embeddings on the CPU (``embed`` for BT², ``features`` for the MLPs)."""
    model.eval()
    fn = model.embed if hasattr(model, "embed") else model.features
    return fn(x.to(device)).cpu()


def pca_project(train_feats: Tensor, feats: Tensor, k: int) -> Tensor:
    """``feats`` projected on the top-``k`` principal directions of ``train_feats`` (the sceptic's projection)."""
    mu = train_feats.mean(0)
    _, _, v = torch.linalg.svd(train_feats - mu, full_matrices=False)
    return (feats - mu) @ v[:k].T


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class Seed:
    """One seed's embeddings of the queries and the gallery, kept for the notebook.

    ``emb[name] = (queries (Q, d), gallery (G, d))`` for ``old``, ``independent``, ``bct`` and ``arm``; ``d_old``
    tells which leading dimensions a new/old comparison uses."""

    seed: int
    emb: dict[str, tuple[Tensor, Tensor]]
    q_y: Tensor
    g_y: Tensor
    d_old: int
    sources: dict[str, str]

    def score(self, query: str, gallery: str) -> dict[str, float]:
        """Retrieval of ``query``'s query embeddings against ``gallery``'s gallery (first ``d_old`` dims when the
        gallery is the old model's)."""
        q, g = self.emb[query][0], self.emb[gallery][1]
        if gallery == "old":
            q = q[:, : self.d_old]
        elif query == "old":
            g = g[:, : self.d_old]
        return retrieval(q, self.q_y, g, self.g_y)


@dataclass
class Result:
    """``scores[m][(query, gallery)]`` retrieval dicts per seed; ``seeds_data`` the embeddings."""

    cfg: Config
    seeds: list[int]
    scores: list[dict[tuple[str, str], dict[str, float]]]
    seeds_data: list[Seed]
    seconds: float

    def get(self, query: str, gallery: str, metric: str) -> np.ndarray:
        return np.array([s[(query, gallery)][metric] for s in self.scores])


PAIRS = (("old", "old"), ("independent", "old"), ("independent", "independent"), ("bct", "old"), ("bct", "bct"),
         ("arm", "old"), ("arm", "arm"))


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Per seed: the old, independent and BCT models (cached), the arm (BT² by default, trained), their query and
    gallery embeddings, and retrieval for every (query model, gallery model) pair in :data:`PAIRS`."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    per_seed, scores = [], []
    for s in seeds:
        data = load_data(cfg, s)
        old, i_old = old_model(cfg, s, data, progress, device)
        indep, i_ind = independent_model(cfg, s, data, progress, device)
        bct, i_bct = bct_model(cfg, s, data, old, progress, device)
        a = s + cfg.arm_seed_offset
        if cfg.arm == "bt2":
            m = train_bt2(cfg, a, data, old, indep if cfg.w_new_cos else None, progress, device)
            arm_q, arm_g = embed(m, data.q_x, device), embed(m, data.g_x, device)
            src = "trained"
        elif cfg.arm == "bct":
            arm_model, info = (bct_model(cfg, s, data, old, progress, device, train_seed=a) if cfg.arm_seed_offset
                               else (bct, i_bct))
            arm_q, arm_g = embed(arm_model, data.q_x, device), embed(arm_model, data.g_x, device)
            src = info.source
        else:  # concat: [BCT embedding ; independent embedding projected to d_extra by PCA]
            ref = embed(indep, data.x, device)
            proj = [pca_project(ref, embed(indep, x, device), cfg.d_extra) for x in (data.q_x, data.g_x)]
            arm_q, arm_g = (torch.cat([embed(bct, x, device), p], 1) for x, p in zip((data.q_x, data.g_x), proj))
            src = "concat"
        emb = {"old": (embed(old, data.q_x, device), embed(old, data.g_x, device)),
               "independent": (embed(indep, data.q_x, device), embed(indep, data.g_x, device)),
               "bct": (embed(bct, data.q_x, device), embed(bct, data.g_x, device)),
               "arm": (arm_q, arm_g)}
        sd = Seed(s, emb, data.q_y, data.g_y, cfg.d_old,
                  {"old": i_old.source, "independent": i_ind.source, "bct": i_bct.source, "arm": src})
        per_seed.append(sd)
        scores.append({p: sd.score(*p) for p in PAIRS})
    return Result(cfg, seeds, scores, per_seed, time.perf_counter() - t0)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed differences; the claims take their mean over the run's seeds."""
    g = res.get
    return {
        "compat_map": (g("arm", "old", "map") - g("old", "old", "map")).tolist(),
        "top1_vs_bct": (g("arm", "old", "top1") - g("bct", "old", "top1")).tolist(),
        "map_vs_bct": (g("arm", "old", "map") - g("bct", "old", "map")).tolist(),
        "newnew_map_gap": (g("arm", "arm", "map") - g("independent", "independent", "map")).tolist(),
        "newnew_top1_vs_bct": (g("arm", "arm", "top1") - g("bct", "bct", "top1")).tolist(),
        "newnew_map_vs_bct": (g("arm", "arm", "map") - g("bct", "bct", "map")).tolist(),
        "compat_top1": (g("arm", "old", "top1") - g("old", "old", "top1")).tolist(),
        "newnew_top1_gap": (g("arm", "arm", "top1") - g("independent", "independent", "top1")).tolist(),
        "bct_compat_map": (g("bct", "old", "map") - g("old", "old", "map")).tolist(),
        "bct_newnew_map_gap": (g("bct", "bct", "map") - g("independent", "independent", "map")).tolist(),
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("map_beats_bct", "map_vs_bct", ">=", 0.015,
              "new/old mAP, BT² − BCT (same old model and gallery, same influence weight 10)",
              "README CIFAR-100 new/old mAP: BT² 27.7 vs BCT 24.7 (+3.0); old/old 24.4"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("influence_only", {"w_old_cos": 0.0}, ("map_beats_bct",), "mechanism",
         "no old-feature cosine: BT² (extra dims, B, transfer) with BCT's influence loss as the only compatibility term"),
    Swap("bct_independent_seed", {"arm": "bct", "arm_seed_offset": 10_000}, ("map_beats_bct",),
         "null", "BCT retrained on an independent seed in BT²'s place (the noise null of the BCT comparison)"),
    Swap("concat_sceptic", {"arm": "concat"}, ("map_beats_bct",), "baseline",
         "the sceptic at equal width: [BCT embedding ; independent embedding projected to d_extra by PCA]"),
    Swap("no_extra_dims", {"d_extra": 0}, (), "mechanism",
         "d_extra = 0: the same losses on a d_old-wide ψ (reported: new/new and new/old against BT²)"),
    Swap("no_transfer", {"w_new_cos": 0.0}, (), "mechanism",
         "λ1 = 0: no transfer from the independent new model (reported)"),
)
