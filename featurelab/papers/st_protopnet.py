"""ST-ProtoPNet: support prototypes near the decision boundary, trivial prototypes far from it.

Wang, Liu, Chen, Liu, Tian, McCarthy, Frazer & Carneiro, *Learning Support and Trivial Prototypes for
Interpretable Image Classification*, ICCV 2023, arXiv:2301.04011 (official code: github.com/cwangrun/ST-ProtoPNet).
Used by ``notebooks/03_reading_features/04_st_protopnet.ipynb``.

**ProtoPNet** (Chen et al. 2019; Sec. 3.1 of the paper). A CNN trunk and 1×1 add-on layers map an image to a
latent map ``Z(x) ∈ R^{H×W×D}``. Each class ``c`` owns ``m`` prototypes ``p_{c,j} ∈ R^D``; prototype ``j``'s score is
its best match over positions, ``s_j(x) = max_{h,w} sim(z_{hw}, p_j)``, and the logits are ``W s`` (``W``
initialised to 1 for the prototype's own class and −0.5 elsewhere). The original ProtoPNet uses the squared
distance ``d = ‖z − p‖²`` and ``sim = log((d + 1)/(d + ε))``; ST-ProtoPNet's official code uses
``sim = ReLU(cos(z, p))`` (from Deformable ProtoPNet). Both are in :func:`prototype_similarity`; the experiment
uses the cosine, as the paper's code does, because the closeness and discrimination losses below are cosines.

Training losses of one branch (official ``train_and_test.py``), ``s`` the branch's max-pooled similarities::

    L_CE   = cross-entropy of the branch's logits
    L_clst = mean_i max_{j ∈ P_{y_i}} s_j(x_i)        (weight −0.8: pull own-class prototypes onto the image)
    L_sep  = mean_i max_{j ∉ P_{y_i}} s_j(x_i)        (weight +0.08 trivial / +0.48 support)
    L_orth = Σ_c ‖P_c P_cᵀ − I‖₁                       (weight 1e-3; P_c the class's unit prototypes)
    L_l1   = ‖W ⊙ (1 − own-class mask)‖₁              (weight 1e-4)

**Support and trivial prototypes** (Sec. 3.2–3.3, the SVM analogy: support vectors lie on the margin). Two
branches share the trunk, each with its own add-on layers, prototypes and head. The *trivial* branch adds the
discrimination loss (Eq. 5 of the paper, weight 1), which pushes prototypes of different classes apart::

    L_dis = 1/(C(C−1)) Σ_{c≠c'} max_{j,j'} cos(p^t_{c,j}, p^t_{c',j'})

and the *support* branch adds the closeness loss (Eq. 3, weight 1), which pulls every cross-class pair of
support prototypes together, so that they settle near the decision boundary::

    L_clo = −1/(C(C−1)) Σ_{c≠c'} min_{j,j'} cos(p^s_{c,j}, p^s_{c',j'})

Even batches step the trivial branch's loss, odd batches the support branch's (Sec. 3.4); the prediction sums
the two heads' logits. After training each prototype is *pushed* (projected) onto its nearest latent patch
among the training images of its own class, so it can be shown as that image patch.

**What this module measures** (the paper's geometric statement, Fig. 1 and Sec. 3.2): the training image that
owns a support prototype's pushed patch should lie near the decision boundary, a trivial prototype's far from
it. The boundary is that of a plain CNN (the pretrained trunk with its own linear head, trained before the
prototypes exist and identical in every arm of a seed), and an image's distance to it is its logit margin
``logit_own − max logit_other``. The claim compares the median margin of the support prototypes' nearest
own-class training images with that of all training images (:func:`claim_values`); the paper's support ÷ trivial
comparison is reported beside it. The T+T control (both branches with the trivial recipe, as the paper's
ProtoPNet baseline) needs the knob ``discr_support``, the discrimination weight on the second branch (0 in the
paper).

Simplifications for scale (named in the notebook): Fashion-MNIST 14×14 instead of CUB / Cars / Dogs at 224²;
the trunk is the course's small CNN (:func:`featurelab.models.cnn`) pretrained for a few epochs on the same
images instead of an ImageNet ResNet; 4 prototypes per class of 32 dimensions (paper: 10 per class, 64-d);
one warm-up and six joint epochs, then one push and no last-layer-only stage (paper: 10 + 110 epochs, pushes
every 10 epochs with last-layer optimisation); prototypes are normalised in the forward pass (a
reparametrisation) instead of being renormalised after each optimiser step, since the course's one training
loop (:func:`featurelab.train.fit`) has no post-step hook; no upsampling in the add-on layers.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import Split, load_fashion_mnist
from ..experiment import Knobs, Swap, knob
from ..models import cnn
from ..train import accuracy, fit, make_optimizer, predict

EPS = 1e-4


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_train, n_test: class-balanced Fashion-MNIST subsets (chosen by the run's first seed).
        image_size: image side; with ``depth = 3`` the trunk's latent map is 3×3 at 14 (two poolings before the
            last conv).
        width: channels of the trunk's first conv (the second has 2×); proto_dim: add-on output channels D.
        per_class: prototypes per class in each branch.
        pretrain_epochs: plain-CNN training of the trunk (its linear head is the reference boundary).
        warm_epochs: add-on layers and prototypes only; joint_epochs: everything but the trunk is trained …
            and the trunk too (branches alternate by batch).
        clst, sep_trivial, sep_support, orth, l1, discr, close: the loss weights of the official settings.
            ``close = 0`` is the "mechanism off" swap: two branches that differ only in their separation weight.
        discr_support: discrimination weight on the support branch (0 in the paper); with ``close = 0`` and
            ``sep_support = sep_trivial`` it gives the T+T control, both branches with the trivial recipe.
        similarity: ``"cosine"`` (official ST-ProtoPNet) or ``"log"`` (original ProtoPNet, log((d+1)/(d+ε))).
        n_seeds: independent runs averaged by the claims.
    """

    n_train: int = knob(6000, lo=100, doc="training images")
    n_test: int = knob(2000, lo=100, doc="test images")
    image_size: int = knob(14, lo=8, hi=28, doc="image side")
    width: int = knob(16, lo=2, doc="channels of the trunk's first conv")
    depth: int = knob(3, lo=1, hi=4, doc="conv stages of the trunk (each doubles the channels)")
    proto_dim: int = knob(32, lo=2, doc="latent dimension D of the prototypes")
    per_class: int = knob(4, lo=2, hi=20, doc="prototypes per class in each branch")
    pretrain_epochs: int = knob(3, lo=1, doc="plain-CNN epochs that train the trunk")
    warm_epochs: int = knob(1, lo=0, doc="epochs of add-on layers and prototypes only")
    joint_epochs: int = knob(6, lo=0, doc="epochs of joint training, branches alternating by batch")
    batch_size: int = knob(64, lo=2)
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    trunk_lr_factor: float = knob(0.1, lo=0.0, hi=1.0, doc="trunk learning rate in the joint stage, as a fraction of LR")
    neighbours: int = knob(10, lo=1, hi=100, doc="own-class training images most similar to each prototype")
    clst: float = knob(-0.8, lo=-10.0, hi=0.0, doc="cluster-loss weight (negative: maximise own-class similarity)")
    sep_trivial: float = knob(0.08, lo=0.0, hi=10.0, doc="separation weight of the trivial branch")
    sep_support: float = knob(0.48, lo=0.0, hi=10.0, doc="separation weight of the support branch")
    orth: float = knob(1e-3, lo=0.0, hi=1.0, doc="orthogonality weight")
    l1: float = knob(1e-4, lo=0.0, hi=1.0, doc="L1 weight on wrong-class head connections")
    discr: float = knob(1.0, lo=-10.0, hi=10.0, doc="discrimination weight (trivial branch)")
    close: float = knob(1.0, lo=-10.0, hi=10.0, doc="closeness weight (support branch); 0 = mechanism off")
    discr_support: float = knob(0.0, lo=-10.0, hi=10.0,
                                doc="discrimination weight on the support branch (0 in the paper; 1 in the T+T control)")
    similarity: str = knob("cosine", choices=("cosine", "log"), doc="prototype similarity")
    n_seeds: int = knob(3, lo=1, doc="independent runs averaged by the claims")

    def validate(self) -> None:
        if self.pretrain_epochs + self.warm_epochs + self.joint_epochs < 1:
            raise ParameterError("train at least one epoch")


PRESETS = {
    "small": Config(),
    "full": Config(n_train=20000, n_test=5000, image_size=28, width=32, proto_dim=64, per_class=5,
                   pretrain_epochs=4, warm_epochs=2, joint_epochs=8, batch_size=128, lr=1e-3, n_seeds=3),
}
SMOKE = {"n_train": 200, "n_test": 100, "pretrain_epochs": 1, "warm_epochs": 1, "joint_epochs": 1, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------------------
# The prototype layer and the losses
# ----------------------------------------------------------------------------------------------------------
def prototype_similarity(z: torch.Tensor, protos: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Similarity of every latent patch to every prototype.

    Args:
        z: ``(N, D, H, W)`` latent map. protos: ``(P, D)`` prototypes.
        kind: ``"cosine"`` → ``ReLU(cos(z_hw, p_j))`` (ST-ProtoPNet's code); ``"log"`` → ``log((d+1)/(d+ε))`` with
            ``d = ‖z_hw − p_j‖²`` (ProtoPNet, Chen et al. 2019, Eq. in Sec. 2.1).

    Returns:
        ``(N, P, H, W)`` similarity maps (larger = closer).
    """
    if z.dim() != 4 or protos.dim() != 2 or z.shape[1] != protos.shape[1]:
        raise ParameterError(f"need z (N, D, H, W) and protos (P, D) with the same D, got {tuple(z.shape)}, "
                             f"{tuple(protos.shape)}")
    if kind == "cosine":
        cos = F.conv2d(F.normalize(z, dim=1), F.normalize(protos, dim=1)[:, :, None, None])
        return torch.relu(cos)
    if kind == "log":
        z2 = (z ** 2).sum(1, keepdim=True)                                        # (N, 1, H, W)
        p2 = (protos ** 2).sum(1)[None, :, None, None]                            # (1, P, 1, 1)
        d = torch.relu(z2 - 2 * F.conv2d(z, protos[:, :, None, None]) + p2)       # (N, P, H, W)
        return torch.log((d + 1) / (d + EPS))
    raise ParameterError(f"similarity must be 'cosine' or 'log', got {kind!r}")


def cross_class_cosines(protos: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(C, C, m·m)``: cosines between the prototypes of class ``c`` and class ``c'`` (``protos`` is ``(C·m, D)``,
    class-major)."""
    p = F.normalize(protos, dim=1).reshape(n_classes, -1, protos.shape[1])        # (C, m, D)
    sim = torch.einsum("amd,bnd->abmn", p, p)                                     # (C, C, m, m)
    return sim.reshape(n_classes, n_classes, -1)


def closeness_loss(protos: torch.Tensor, n_classes: int) -> torch.Tensor:
    """ST-ProtoPNet's closeness loss (Eq. 3): ``−mean_{c≠c'} min_{j,j'} cos(p_{c,j}, p_{c',j'})``.

    Minimising it raises even the *least* similar cross-class pair: every support prototype is pulled towards
    every other class's support prototypes, i.e. towards the boundary between the classes."""
    m = cross_class_cosines(protos, n_classes).min(-1).values
    off = 1 - torch.eye(n_classes, device=protos.device)
    return -(m * off).sum() / off.sum()


def discrimination_loss(protos: torch.Tensor, n_classes: int) -> torch.Tensor:
    """ST-ProtoPNet's discrimination loss (Eq. 5): ``mean_{c≠c'} max_{j,j'} cos(p_{c,j}, p_{c',j'})``.

    Minimising it lowers even the *most* similar cross-class pair: trivial prototypes of different classes are
    pushed apart, away from the boundary."""
    m = cross_class_cosines(protos, n_classes).max(-1).values
    off = 1 - torch.eye(n_classes, device=protos.device)
    return (m * off).sum() / off.sum()


def orthogonality_loss(protos: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``Σ_c ‖P_c P_cᵀ − I‖₁`` over each class's unit prototypes ``P_c`` (``(m, D)``): diverse prototypes per class."""
    p = F.normalize(protos, dim=1).reshape(n_classes, -1, protos.shape[1])
    gram = p @ p.transpose(1, 2)
    return (gram - torch.eye(p.shape[1], device=p.device)).abs().sum()


class Branch(nn.Module):
    """One prototype branch: add-on 1×1 convs → ``C·m`` prototypes → head ``Linear(C·m, C)`` without bias."""

    def __init__(self, in_channels: int, dim: int, n_classes: int, per_class: int, similarity: str = "cosine"):
        super().__init__()
        self.add_on = nn.Sequential(nn.Conv2d(in_channels, dim, 1), nn.Conv2d(dim, dim, 1))
        for m in self.add_on:
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        protos = torch.rand(n_classes * per_class, dim)                           # official init: U[0, 1)^D …
        # … on the unit sphere for the cosine (the official code renormalises after every step; here the forward
        # pass normalises, and a unit-norm start keeps Adam's step size on the sphere the same)
        self.prototypes = nn.Parameter(F.normalize(protos, dim=1) if similarity == "cosine" else protos)
        self.n_classes, self.per_class, self.similarity = n_classes, per_class, similarity
        identity = torch.zeros(n_classes * per_class, n_classes)
        identity[torch.arange(n_classes * per_class), torch.arange(n_classes * per_class) // per_class] = 1
        self.register_buffer("identity", identity)                                # (P, C) one-hot class of each prototype
        self.head = nn.Linear(n_classes * per_class, n_classes, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(identity.t() - 0.5 * (1 - identity.t()))

    def protos(self) -> torch.Tensor:
        """The prototypes as used: unit vectors for the cosine similarity (the forward-pass normalisation)."""
        return F.normalize(self.prototypes, dim=1) if self.similarity == "cosine" else self.prototypes

    def latent(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N, D, H, W)`` latent map of the trunk's ``(N, C_in, H, W)`` features."""
        return self.add_on(feats)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, C), scores (N, P))``, scores = similarity max-pooled over positions."""
        scores = prototype_similarity(self.latent(feats), self.protos(), self.similarity).amax((2, 3))
        return self.head(scores), scores


class STProtoPNet(nn.Module):
    """Shared trunk, a trivial branch and a support branch; ``forward`` returns the summed logits ``(N, C)`` and
    keeps each branch's ``(logits, scores)`` in ``self.last`` for the losses."""

    def __init__(self, trunk: nn.Module, in_channels: int, cfg: Config, n_classes: int):
        super().__init__()
        self.trunk = trunk
        self.trivial = Branch(in_channels, cfg.proto_dim, n_classes, cfg.per_class, cfg.similarity)
        self.support = Branch(in_channels, cfg.proto_dim, n_classes, cfg.per_class, cfg.similarity)
        self.last: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.trunk(x)
        self.last = {"trivial": self.trivial(f), "support": self.support(f)}
        return self.last["trivial"][0] + self.last["support"][0]


def branch_loss(branch: Branch, logits: torch.Tensor, scores: torch.Tensor, y: torch.Tensor, cfg: Config,
                kind: str) -> torch.Tensor:
    """One branch's loss (official ``train_and_test.py``): CE + clst·L_clst + sep·L_sep + orth·L_orth + l1·L_l1,
    plus ``discr·L_dis`` for ``kind="trivial"`` or ``close·L_clo`` for ``kind="support"``."""
    own = branch.identity.t()[y]                                                  # (N, P)
    cluster = (scores * own).amax(1).mean()
    separation = (scores * (1 - own)).amax(1).mean()
    protos, c = branch.protos(), branch.n_classes
    l1 = (branch.head.weight * (1 - branch.identity.t())).abs().sum()
    loss = (F.cross_entropy(logits, y) + cfg.clst * cluster + cfg.orth * orthogonality_loss(protos, c)
            + cfg.l1 * l1)
    if kind == "trivial":
        return loss + cfg.sep_trivial * separation + cfg.discr * discrimination_loss(protos, c)
    loss = loss + cfg.sep_support * separation + cfg.close * closeness_loss(protos, c)
    if cfg.discr_support:                                                         # the T+T control only
        loss = loss + cfg.discr_support * discrimination_loss(protos, c)
    return loss


class AlternatingLoss:
    """The ``loss_fn`` handed to :func:`featurelab.train.fit`: even batches return the trivial branch's loss, odd
    batches the support branch's (Sec. 3.4). Branch parameters that a batch's loss does not touch get no gradient,
    so the optimiser leaves them alone on that step."""

    def __init__(self, model: STProtoPNet, cfg: Config):
        self.model, self.cfg, self.calls = model, cfg, 0

    def __call__(self, _summed: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        kind = "trivial" if self.calls % 2 == 0 else "support"
        self.calls += 1
        logits, scores = self.model.last[kind]
        return branch_loss(getattr(self.model, kind), logits, scores, y, self.cfg, kind)


# ----------------------------------------------------------------------------------------------------------
# Push and the margin of a prototype's source image
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Push:
    """Where each prototype of a branch was projected.

    Attributes:
        image: ``(P,)`` index (into the training set) of the image owning the nearest own-class patch.
        pos: ``(P, 2)`` its ``(h, w)`` on the latent map. sim: ``(P,)`` the similarity before the push.
        top: ``(P, k)`` the ``k`` own-class training images most similar to the prototype (before the push; the
            first is the source image).
    """

    image: np.ndarray
    pos: np.ndarray
    sim: np.ndarray
    top: np.ndarray


@torch.no_grad()
def push(model: STProtoPNet, kind: str, x: torch.Tensor, y: torch.Tensor, k: int = 10, batch_size: int = 1024) -> Push:
    """Project each prototype of branch ``kind`` onto its most similar latent patch among the training images of
    its own class (class-specific push, official ``push_support.py`` / ``push_trivial.py``), in place."""
    branch: Branch = getattr(model, kind)
    model.eval()
    lat = torch.cat([branch.latent(model.trunk(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])
    n, d, h, w = lat.shape
    sims = prototype_similarity(lat, branch.protos(), "cosine") if branch.similarity == "cosine" else \
        prototype_similarity(lat, branch.protos(), "log")                         # (N, P, H, W)
    cls = branch.identity.argmax(1)                                               # (P,)
    flat = sims.reshape(n, -1, h * w).permute(1, 0, 2).reshape(len(cls), -1)      # (P, N·H·W)
    flat = flat.masked_fill((y.to(cls.device)[None, :] != cls[:, None]).repeat_interleave(h * w, 1), -1e9)
    per_image = sims.amax((2, 3)).t().masked_fill(y.to(cls.device)[None, :] != cls[:, None], -1e9)   # (P, N)
    top = per_image.topk(min(k, n), dim=1).indices
    best, arg = flat.max(1)
    img, loc = arg // (h * w), arg % (h * w)
    patch = lat.permute(0, 2, 3, 1)[img, loc // w, loc % w]                      # (P, D)
    branch.prototypes.data.copy_(F.normalize(patch, dim=1) if branch.similarity == "cosine" else patch)
    return Push(img.cpu().numpy(), torch.stack([loc // w, loc % w], 1).cpu().numpy(), best.cpu().numpy(),
                top.cpu().numpy())


def logit_margin(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """``(N,)`` ``logit_y − max_{c≠y} logit_c``: how far each image sits on the right side of the boundary."""
    own = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return (own - other).cpu().numpy()


# ----------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------
@dataclass
class SeedRun:
    """One seed's trained model and measurements.

    Attributes:
        model: the trained, pushed :class:`STProtoPNet`; reference: the plain CNN whose head gives the boundary.
        pushes: ``{"trivial": Push, "support": Push}``.
        margins: ``{"trivial", "support", "random"}`` → reference-CNN margins of the trivial / support prototypes'
            source images, and of every training image (the random reference).
        own_margins: the same source images' margins under the ST model's own summed logits.
        acc: test accuracy ``{"st", "trivial", "support", "cnn"}`` (the two heads summed, each head alone, the
            reference CNN). cross_cos: mean cross-class cosine of each branch's prototypes after the push.
        distinct: ``{"trivial", "support"}`` distinct source images among a branch's prototypes;
            distinct_patches: distinct (image, position) patches, i.e. distinct prototypes after the push.
    """

    model: STProtoPNet
    reference: nn.Module
    pushes: dict[str, Push]
    margins: dict[str, np.ndarray]
    own_margins: dict[str, np.ndarray]
    acc: dict[str, float]
    cross_cos: dict[str, float]
    distinct: dict[str, int]
    distinct_patches: dict[str, int]
    seconds: float


@dataclass
class Result:
    """Everything the notebook plots and checks: one :class:`SeedRun` per seed, the data and the config."""

    runs: list[SeedRun]
    data: Split
    cfg: Config

    def ratio(self, kind: str, over: str = "trivial", own: bool = False) -> list[float]:
        """Per seed: median margin of ``kind``'s images ÷ median margin of ``over``'s. Keys of
        :attr:`SeedRun.margins`: ``"support"`` / ``"trivial"`` (source images), ``"support_top"`` / ``"trivial_top"``
        (each prototype's ``k`` most similar own-class images), ``"random"`` (all training images); ``own=True``
        reads the ST model's own margins of the source images instead of the reference CNN's. NaN when the
        denominator's median is not positive."""
        m = [r.own_margins if own else r.margins for r in self.runs]
        # a ratio to a non-positive median (the reference images sit on or across the boundary) means nothing
        return [float(np.median(x[kind]) / np.median(x[over])) if np.median(x[over]) > 0 else float("nan") for x in m]


def load_data(cfg: Config, seeds: list[int]) -> Split:
    """Fashion-MNIST at ``cfg.image_size``: ``cfg.n_train`` / ``cfg.n_test`` class-balanced images (``seeds[0]``)."""
    return load_fashion_mnist(n_train=cfg.n_train, n_test=cfg.n_test, size=cfg.image_size, seed=seeds[0])


def make_trunk(cfg: Config, n_classes: int) -> tuple[nn.Module, nn.Module, int]:
    """``(reference CNN, trunk, trunk channels)``: :func:`featurelab.models.cnn` with widths ``(w, 2w, …)`` (``depth``
    stages); the trunk is its conv part up to the last ReLU (before the last pooling), so 14×14 images give a 3×3
    latent map at ``depth = 3``."""
    widths = tuple(cfg.width * 2 ** i for i in range(cfg.depth))
    net = cnn(1, n_classes, widths, image_size=cfg.image_size, hidden=64)
    trunk = net.features[:3 * cfg.depth - 1]                                      # (conv-relu-pool)^(depth-1), conv-relu
    return net, trunk, widths[-1]


def train_seed(cfg: Config, data: Split, seed: int, device: torch.device | str = "cpu",
               progress: bool | None = None) -> SeedRun:
    """Pretrain the trunk as a plain CNN, build ST-ProtoPNet on it, warm up, train jointly, push both branches."""
    t0 = time.perf_counter()
    x, y = data.x_train.to(device), data.y_train.to(device)
    xt, yt = data.x_test.to(device), data.y_test.to(device)
    torch.manual_seed(seed)
    ref, trunk, ch = make_trunk(cfg, data.n_classes)
    ref.to(device)
    fit(ref, x, y, epochs=cfg.pretrain_epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed,
        progress_bar=progress, desc="pretrain trunk (plain CNN)")
    ref_logits = predict(ref, x)
    model = STProtoPNet(copy.deepcopy(trunk), ch, cfg, data.n_classes).to(device)
    loss = AlternatingLoss(model, cfg)
    if cfg.warm_epochs:
        warm = [p for b in (model.trivial, model.support) for p in (*b.add_on.parameters(), b.prototypes)]
        frozen = [p for p in model.parameters() if all(p is not q for q in warm)]
        for p in frozen:
            p.requires_grad_(False)
        fit(model, x, y, epochs=cfg.warm_epochs, batch_size=cfg.batch_size, optimizer=make_optimizer(warm, lr=cfg.lr),
            loss_fn=loss, seed=seed + 1, progress_bar=progress, desc="warm-up (add-ons, prototypes)")
        for p in frozen:
            p.requires_grad_(True)
    if cfg.joint_epochs:
        opt = torch.optim.Adam([{"params": model.trunk.parameters(), "lr": cfg.lr * cfg.trunk_lr_factor},
                                {"params": [p for n, p in model.named_parameters() if not n.startswith("trunk.")]}],
                               lr=cfg.lr)
        fit(model, x, y, epochs=cfg.joint_epochs, batch_size=cfg.batch_size, optimizer=opt, loss_fn=loss,
            seed=seed + 2, progress_bar=progress, desc="joint (branches alternate)")
    pushes = {k: push(model, k, x, y, cfg.neighbours) for k in ("trivial", "support")}
    model.eval()
    own = predict(model, x)
    margins = {k: logit_margin(ref_logits[p.image], y[p.image]) for k, p in pushes.items()}
    margins["random"] = logit_margin(ref_logits, y)
    margins.update({f"{k}_top": logit_margin(ref_logits[p.top.ravel()], y[p.top.ravel()]) for k, p in pushes.items()})
    own_margins = {k: logit_margin(own[p.image], y[p.image]) for k, p in pushes.items()}
    with torch.no_grad():
        model(xt)
        acc = {"st": accuracy(model.last["trivial"][0] + model.last["support"][0], yt),
               "trivial": accuracy(model.last["trivial"][0], yt), "support": accuracy(model.last["support"][0], yt),
               "cnn": accuracy(predict(ref, xt), yt)}
        off = ~torch.eye(data.n_classes, dtype=torch.bool, device=x.device)
        cross = {k: float(cross_class_cosines(getattr(model, k).protos(), data.n_classes).mean(-1)[off].mean())
                 for k in pushes}
    distinct = {k: int(len(np.unique(p.image))) for k, p in pushes.items()}
    patches = {k: distinct_patches(p) for k, p in pushes.items()}
    return SeedRun(model, ref, pushes, margins, own_margins, acc, cross, distinct, patches, time.perf_counter() - t0)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        data: Split | None = None) -> Result:
    """Train one ST-ProtoPNet per seed (same data, chosen by ``seeds[0]``); ``data`` defaults to :func:`load_data`."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    if data is None:
        data = load_data(cfg, seeds)
    return Result([train_seed(cfg, data, s, device, progress) for s in seeds], data, cfg)


#: The support branch must classify on its own well above chance (0.1), and its prototypes must sit on at least a
#: quarter as many distinct patches as there are prototypes (one per class with 4 per class), or a small margin may
#: only mean that the support prototypes collapsed onto a few ambiguous patches.
MIN_SUPPORT_ACC = 0.5
MIN_DISTINCT_FRACTION = 0.25


def distinct_patches(p: Push) -> int:
    """How many different (image, position) patches a branch's prototypes were pushed onto: prototypes pushed
    onto the same patch are identical."""
    return int(len({(int(i), int(a), int(b)) for i, (a, b) in zip(p.image, p.pos)}))


def guarded(res: Result, values: list[float]) -> list[float]:
    """``values`` with a seed's entry set to NaN (a failing claim) when its support branch collapsed:
    support-alone test accuracy < :data:`MIN_SUPPORT_ACC`, or distinct pushed patches < :data:`MIN_DISTINCT_FRACTION`
    of its prototypes."""
    out = []
    for r, v in zip(res.runs, values):
        push_s = r.pushes["support"]
        ok = r.acc["support"] >= MIN_SUPPORT_ACC and distinct_patches(push_s) >= MIN_DISTINCT_FRACTION * len(push_s.image)
        out.append(v if ok else float("nan"))
    return out


def claim_values(res: Result) -> dict[str, list[float]]:
    """Per seed: the claim ratio (guarded against collapse) and, reported only, the other ratios and ingredients."""
    return {
        "support_top_vs_random": guarded(res, res.ratio("support_top", "random")),
        "support_vs_trivial_top": guarded(res, res.ratio("support_top", "trivial_top")),
        "support_vs_trivial_own": guarded(res, res.ratio("support", "trivial", own=True)),
        "support_vs_trivial_source": res.ratio("support", "trivial"),
        "trivial_top_vs_random": res.ratio("trivial_top", "random"),
        "acc_st": [r.acc["st"] for r in res.runs],
        "acc_support": [r.acc["support"] for r in res.runs],
        "acc_trivial": [r.acc["trivial"] for r in res.runs],
        "acc_cnn": [r.acc["cnn"] for r in res.runs],
        "cross_cos_support": [r.cross_cos["support"] for r in res.runs],
        "cross_cos_trivial": [r.cross_cos["trivial"] for r in res.runs],
        "distinct_support": [r.distinct_patches["support"] for r in res.runs],
    }


BOTH = ("support_nearer_boundary",)

# Threshold from fresh prototype seed sets (seeds 5000-5017 as six sets of three, data from each set's first seed;
# results/calibration/notes/st_protopnet.md): the method's set means were 0.79-0.97 (single seeds 0.37-1.35), the
# no-closeness arm's 1.51-1.74 and T+T's 1.64-1.96; 1.25 is the midpoint between the method's worst set and the
# best set of a counting swap. The paper's own comparison, support / trivial ("support_vs_trivial_top"), separates
# the arms too but with far less room (its denominator, the trivial prototypes' neighbours, is noisy), so it is
# reported, as is the ratio under the ST model's own logits.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("support_nearer_boundary", "support_top_vs_random", "<=", 1.25,
              "median plain-CNN logit margin of the 10 own-class training images most similar to each support "
              "prototype ÷ the median margin of all training images (support branch not collapsed)",
              "qualitative: support prototypes lie near the decision boundary, trivial ones far from it "
              "(Sec. 3.2, Fig. 1); no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("no_closeness", {"close": 0.0}, BOTH, "mechanism",
         "closeness loss off: the same two-branch model, same seeds, data order, pushes and the support branch's "
         "separation weight 0.48 - only L_clo is removed"),
    Swap("tt_protopnet", {"close": 0.0, "sep_support": 0.08, "discr_support": 1.0}, BOTH, "baseline",
         "T+T: both branches get the trivial recipe (separation 0.08, discrimination, no closeness) - the "
         "sceptic's two-branch ProtoPNet with identical coefficients"),
    Swap("closeness_flipped", {"close": -1.0}, (), "mechanism",
         "closeness with its sign flipped (reported): it pushes the least similar cross-class pair apart, which "
         "also raises the most similar pair's cosine, so it is not a clean opposite"),
)
