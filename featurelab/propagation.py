"""One affinity / label-propagation engine for video: masks (or colours, or any soft labels) are carried from
reference frames to new frames by feature affinity.

**The rule** (the unified formulation of video label propagation used by CRW, Jabri et al. 2020, and analysed by
McKee et al. 2022). For the L2-normalised feature ``q_i`` of a query position in frame ``t`` and the keys ``k_j``
(features) with soft labels ``y_j`` of the context positions::

    a_ij = q_i · k_j / τ                              (divided by τ once)
    a_ij = −∞ where j is in a *recent* context frame and ‖pos_i − pos_j‖ ≥ r     (the radius; frame 0 is never limited)
    ŷ_i  = Σ_{j ∈ topk_k(i)} softmax_{j ∈ topk_k(i)}(a_ij) · y_j               (top-k jointly over all context positions)

The context of frame ``t`` is frame 0 (with its given labels) plus the ``n_recent`` frames before ``t`` (with
their *predicted* soft labels; never ground truth). Labels stay soft until the end; :func:`upsample_labels`
resizes them bilinearly and the argmax comes last.

Other pieces: :func:`l2_affinity` and :class:`MemoryBank` (an XMem-style memory read with the negative squared
L2 distance, Cheng & Schwing 2022), :func:`propagate_with_memory`, :func:`threshold_pseudo_labels` (label an
unlabelled point when its similarity to a labelled prototype reaches a threshold), :func:`one_hot` and the
DAVIS region similarity :func:`region_similarity` (J, the mean IoU).

Shapes: ``D`` feature channels, ``L`` labels, ``T`` frames, ``h × w`` the feature grid, ``N`` queries, ``M`` keys.

Used by ``notebooks/07_propagating_features/01_label_propagation_factors.ipynb`` and the other module-07 notebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import ParameterError

SIMILARITIES = ("dot", "l2")


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ParameterError(msg)


def _check_common(topk: int | None, tau: float) -> None:
    _check(topk is None or (isinstance(topk, int) and topk >= 1), f"topk must be None (all) or an int >= 1, got {topk!r}")
    _check(isinstance(tau, (int, float)) and tau > 0, f"tau must be > 0, got {tau!r}")


# ------------------------------------------------------------------------------------------------ building blocks
def one_hot(mask: Tensor, n_labels: int) -> Tensor:
    """``(..., H, W)`` int labels in ``[0, n_labels)`` → ``(..., n_labels, H, W)`` float one-hot."""
    _check(mask.dtype in (torch.int64, torch.int32, torch.uint8), "mask must hold integer labels")
    _check(int(mask.min()) >= 0 and int(mask.max()) < n_labels, f"mask labels must lie in [0, {n_labels})")
    return F.one_hot(mask.long(), n_labels).movedim(-1, -3).float()


def downsample_labels(labels: Tensor, stride: int) -> Tensor:
    """``(..., L, H, W)`` soft labels → ``(..., L, H/s, W/s)`` by average pooling (each cell: the label shares)."""
    _check(isinstance(stride, int) and stride >= 1, f"stride must be an int >= 1, got {stride!r}")
    if stride == 1:
        return labels
    shape = labels.shape
    out = F.avg_pool2d(labels.reshape(-1, *shape[-3:]), stride)
    return out.reshape(*shape[:-2], *out.shape[-2:])


def upsample_labels(labels: Tensor, size: tuple[int, int]) -> Tensor:
    """``(..., L, h, w)`` soft labels → ``(..., L, H, W)`` bilinearly (``align_corners=False``)."""
    shape = labels.shape
    if tuple(shape[-2:]) == tuple(size):
        return labels
    out = F.interpolate(labels.reshape(-1, *shape[-3:]), size=size, mode="bilinear", align_corners=False)
    return out.reshape(*shape[:-2], *size)


def radius_mask(h: int, w: int, radius: float | None) -> Tensor:
    """``(h·w, h·w)`` bool: True where two grid cells are closer than ``radius`` (Euclidean, strict ``<`` as in
    CRW's ``MaskedAttention``); all True for ``radius=None`` (no limit)."""
    if radius is None:
        return torch.ones(h * w, h * w, dtype=torch.bool)
    _check(radius > 0, f"radius must be > 0 or None, got {radius!r}")
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    return torch.cdist(pos, pos) < radius


def dot_affinity(query: Tensor, keys: Tensor, tau: float = 1.0) -> Tensor:
    """``(N, M)`` logits ``q_i · k_j / τ`` of queries ``(N, D)`` and keys ``(M, D)`` (normalise them first)."""
    return query @ keys.T / tau


def l2_affinity(query: Tensor, keys: Tensor, tau: float = 1.0) -> Tensor:
    """``(N, M)`` XMem's similarity ``−‖q_i − k_j‖² / (√D · τ)``.

    Computed as ``(2 q·k − ‖k‖²) / (√D τ)``: the ``−‖q‖²`` term is the same for every key of a query, so any
    softmax over keys is unchanged by dropping it (as XMem does).
    """
    d = query.shape[1]
    return (2 * query @ keys.T - (keys * keys).sum(1)[None]) / (math.sqrt(d) * tau)


def aggregate(logits: Tensor, values: Tensor, topk: int | None = None) -> Tensor:
    """``(N, L)`` readout ``Σ_{j∈topk(i)} softmax(logits_i over the kept j) · values_j`` from logits ``(N, M)`` and
    values ``(M, L)``; ``topk=None`` keeps every key. Entries equal to ``−inf`` (masked keys) get zero weight."""
    _check(topk is None or topk >= 1, f"topk must be None or >= 1, got {topk!r}")
    if topk is not None and topk < logits.shape[1]:
        top, idx = logits.topk(topk, dim=1)
        w = torch.softmax(top, dim=1)
        return torch.einsum("nk,nkl->nl", w, values[idx])
    return torch.softmax(logits, dim=1) @ values


def context_frames(t: int, n_recent: int, use_first: bool = True) -> tuple[list[int], list[int]]:
    """The context of frame ``t ≥ 1``: ``(long-term frames, recent frames)``.

    Long-term: ``[0]`` when ``use_first`` (never radius-limited). Recent: the ``n_recent`` frames before ``t``
    (fewer near the start), without frame 0 when it is already the long-term frame (no duplicate copies).
    With ``use_first=False`` and ``n_recent=0`` the context would be empty: an error.
    """
    _check(isinstance(n_recent, int) and n_recent >= 0, f"n_recent must be an int >= 0, got {n_recent!r}")
    _check(t >= 1, "frame 0 carries the given labels; propagate to t >= 1")
    _check(use_first or n_recent >= 1, "the context is empty: use the first frame or n_recent >= 1")
    first = [0] if use_first else []
    recent = [s for s in range(max(0, t - n_recent), t) if not (use_first and s == 0)]
    return first, recent


# ------------------------------------------------------------------------------------------------ propagation
def propagate_labels(feats: Tensor, first_labels: Tensor, *, topk: int | None = 10, tau: float = 0.07,
                     radius: float | None = None, n_recent: int = 3, use_first: bool = True,
                     normalize: bool = True) -> Tensor:
    """Propagate soft labels from frame 0 through a clip by feature affinity (the rule in the module docstring).

    Args:
        feats: ``(T, D, h, w)`` features of every frame.
        first_labels: ``(L, h, w)`` soft labels of frame 0 at the feature resolution (e.g. :func:`one_hot` then
            :func:`downsample_labels`).
        topk: k of the top-k (``None`` = every context position). tau: τ (the logits are divided once).
        radius: limit, in feature cells, on the recent frames only (``None`` = no limit).
        n_recent: how many preceding frames (with predicted labels) join the context. use_first: keep frame 0.
        normalize: L2-normalise the features over ``D`` first (as CRW does).

    Returns:
        ``(T, L, h, w)`` soft labels; entry 0 is ``first_labels``.
    """
    _check(feats.dim() == 4, f"feats must be (T, D, h, w), got shape {tuple(feats.shape)}")
    T, D, h, w = feats.shape
    _check(first_labels.dim() == 3 and tuple(first_labels.shape[1:]) == (h, w),
           f"first_labels must be (L, {h}, {w}), got shape {tuple(first_labels.shape)}")
    _check_common(topk, tau)
    context_frames(1, n_recent, use_first)   # validates n_recent / use_first
    f = F.normalize(feats, dim=1) if normalize else feats
    f = f.flatten(2).transpose(1, 2)                                   # (T, hw, D)
    n = h * w
    local = radius_mask(h, w, radius)
    out = [first_labels.flatten(1).T]                                  # (hw, L) per frame
    for t in range(1, T):
        first, recent = context_frames(t, n_recent, use_first)
        ctx = first + recent
        keys = f[ctx].reshape(-1, D)
        values = torch.cat([out[s] for s in ctx])
        logits = dot_affinity(f[t], keys, tau)
        if radius is not None and recent:
            block = logits.view(n, len(ctx), n)[:, len(first):]
            block.masked_fill_(~local[:, None, :], float("-inf"))
        out.append(aggregate(logits, values, topk))
    return torch.stack(out).transpose(1, 2).reshape(T, -1, h, w)


def propagate_masks(feats: Tensor, first_mask: Tensor, n_labels: int, *, stride: int = 1, **kw) -> Tensor:
    """Masks in, masks out: frame 0's ``(H, W)`` int mask is one-hot encoded and pooled to the feature grid
    (``stride = H / h``), propagated with :func:`propagate_labels` (``kw``), upsampled bilinearly to ``(H, W)`` and
    argmaxed. Returns ``(T, H, W)`` int64 (frame 0 = ``first_mask``)."""
    H, W = first_mask.shape
    _check(feats.shape[-2] * stride == H and feats.shape[-1] * stride == W,
           f"features {tuple(feats.shape[-2:])} × stride {stride} must equal the mask size {(H, W)}")
    y0 = downsample_labels(one_hot(first_mask, n_labels), stride)
    soft = propagate_labels(feats, y0, **kw)
    pred = upsample_labels(soft, (H, W)).argmax(1)
    pred[0] = first_mask
    return pred


# ------------------------------------------------------------------------------------------------ memory variant
@dataclass
class MemoryBank:
    """An XMem-style memory of ``(key, value)`` frames, read with an affinity and a softmax.

    ``max_frames``: at most this many frames are kept (``None`` = all); when full, the oldest frame *after the
    first* is dropped (the first frame, with given labels, is kept as long-term memory when ``keep_first``).
    ``similarity``: ``"l2"`` (XMem: −‖q − k‖² / √D) or ``"dot"`` (CRW: q·k on normalised features).
    """

    max_frames: int | None = None
    keep_first: bool = True
    similarity: str = "l2"
    keys: list[Tensor] = field(default_factory=list)
    values: list[Tensor] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(self.max_frames is None or self.max_frames >= 1, f"max_frames must be None or >= 1, got {self.max_frames!r}")
        _check(self.similarity in SIMILARITIES, f"similarity must be one of {', '.join(SIMILARITIES)}, got {self.similarity!r}")

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, keys: Tensor, values: Tensor) -> None:
        """Store one frame: keys ``(M, D)``, values ``(M, L)``; evict as described in the class docstring."""
        _check(keys.dim() == 2 and values.dim() == 2 and keys.shape[0] == values.shape[0],
               "add needs keys (M, D) and values (M, L) with the same M")
        self.keys.append(keys)
        self.values.append(values)
        if self.max_frames is not None and len(self.keys) > self.max_frames:
            drop = 1 if (self.keep_first and self.max_frames > 1) else 0
            del self.keys[drop], self.values[drop]

    def read(self, query: Tensor, *, topk: int | None = None, tau: float = 1.0) -> Tensor:
        """``(N, L)``: each query's softmax-weighted values over the whole memory (top-k, temperature τ)."""
        _check(len(self.keys) > 0, "the memory is empty: add a frame first")
        _check_common(topk, tau)
        keys, values = torch.cat(self.keys), torch.cat(self.values)
        sim = l2_affinity if self.similarity == "l2" else dot_affinity
        return aggregate(sim(query, keys, tau), values, topk)


def propagate_with_memory(feats: Tensor, first_labels: Tensor, *, mem_every: int = 1, max_frames: int | None = None,
                          similarity: str = "l2", topk: int | None = None, tau: float = 1.0,
                          normalize: bool = False) -> Tensor:
    """Propagate soft labels with a :class:`MemoryBank`: frame 0 is stored; each frame ``t`` reads the memory, and
    every ``mem_every``-th frame is then written with its predicted labels.

    Args:
        feats: ``(T, D, h, w)``; first_labels: ``(L, h, w)``. normalize: L2-normalise the features first.
    Returns:
        ``(T, L, h, w)`` soft labels (entry 0 = ``first_labels``).
    """
    _check(feats.dim() == 4, f"feats must be (T, D, h, w), got shape {tuple(feats.shape)}")
    _check(isinstance(mem_every, int) and mem_every >= 1, f"mem_every must be an int >= 1, got {mem_every!r}")
    T, _, h, w = feats.shape
    _check(first_labels.dim() == 3 and tuple(first_labels.shape[1:]) == (h, w),
           f"first_labels must be (L, {h}, {w}), got shape {tuple(first_labels.shape)}")
    f = F.normalize(feats, dim=1) if normalize else feats
    f = f.flatten(2).transpose(1, 2)
    bank = MemoryBank(max_frames=max_frames, similarity=similarity)
    out = [first_labels.flatten(1).T]
    bank.add(f[0], out[0])
    for t in range(1, T):
        out.append(bank.read(f[t], topk=topk, tau=tau))
        if t % mem_every == 0:
            bank.add(f[t], out[t])
    return torch.stack(out).transpose(1, 2).reshape(T, -1, h, w)


# ------------------------------------------------------------------------------------------------ pseudo-labels
def threshold_pseudo_labels(feats: Tensor, labelled: Tensor, labels: Tensor, threshold: float, *,
                            n_classes: int | None = None, prototype: str = "mean",
                            similarity: str = "cosine") -> tuple[Tensor, Tensor]:
    """Label unlabelled points whose similarity to a labelled class prototype reaches ``threshold``.

    Args:
        feats: ``(N, D)`` unlabelled points. labelled: ``(M, D)`` labelled points, labels: ``(M,)`` in
            ``[0, n_classes)``.
        threshold: a point gets the class of its most similar prototype when that similarity is ``≥ threshold``;
            otherwise ``-1`` (left unlabelled).
        prototype: ``"mean"`` (one prototype per class: the mean of its normalised points, renormalised) or
            ``"nearest"`` (every labelled point is a prototype: nearest-neighbour similarity).
        similarity: ``"cosine"`` or ``"l2"`` (``−‖x − p‖``, Euclidean on the raw features).

    Returns:
        ``(pseudo (N,) int64 with -1 = unlabelled, score (N,) the best similarity)``.
    """
    _check(feats.dim() == 2 and labelled.dim() == 2 and feats.shape[1] == labelled.shape[1],
           "feats (N, D) and labelled (M, D) must share D")
    _check(labels.shape == (labelled.shape[0],), "labels must be (M,), one per labelled point")
    _check(prototype in ("mean", "nearest"), f"prototype must be 'mean' or 'nearest', got {prototype!r}")
    _check(similarity in ("cosine", "l2"), f"similarity must be 'cosine' or 'l2', got {similarity!r}")
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    _check(int(labels.min()) >= 0 and int(labels.max()) < n_classes, f"labels must lie in [0, {n_classes})")
    x, p = (F.normalize(feats, dim=1), F.normalize(labelled, dim=1)) if similarity == "cosine" else (feats, labelled)
    if prototype == "mean":
        protos = torch.zeros(n_classes, x.shape[1], dtype=x.dtype).index_add_(0, labels, p)
        counts = torch.bincount(labels, minlength=n_classes).to(x.dtype)
        present = counts > 0
        protos = protos / counts.clamp(min=1)[:, None]
        if similarity == "cosine":
            protos = F.normalize(protos, dim=1)
        proto_labels = torch.arange(n_classes)
        protos, proto_labels = protos[present], proto_labels[present]
    else:
        protos, proto_labels = p, labels
    sim = x @ protos.T if similarity == "cosine" else -torch.cdist(x, protos)
    score, idx = sim.max(1)
    pseudo = torch.where(score >= threshold, proto_labels[idx], torch.full_like(idx, -1))
    return pseudo, score


# ------------------------------------------------------------------------------------------------ metric
def region_similarity(pred: Tensor, gt: Tensor, labels: list[int] | tuple[int, ...] | None = None,
                      frames: slice | None = slice(1, None)) -> Tensor:
    """DAVIS region similarity **J**: per object, per frame IoU of the predicted and true masks.

    Args:
        pred, gt: ``(T, H, W)`` int masks. labels: the objects scored (default: every label > 0 in ``gt``).
        frames: the frames scored (default: all but frame 0, whose mask was given).
    Returns:
        ``(n_objects, n_frames)`` IoU values; a frame where the object is absent from both masks scores 1.
    """
    _check(pred.shape == gt.shape and pred.dim() == 3, "pred and gt must both be (T, H, W)")
    if labels is None:
        labels = [int(v) for v in torch.unique(gt) if v > 0]
    p, g = pred[frames], gt[frames]
    rows = []
    for lab in labels:
        a, b = p == lab, g == lab
        inter = (a & b).flatten(1).sum(1).float()
        union = (a | b).flatten(1).sum(1).float()
        rows.append(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)))
    return torch.stack(rows) if rows else torch.zeros(0, p.shape[0])


__all__ = ["SIMILARITIES", "MemoryBank", "aggregate", "context_frames", "dot_affinity", "downsample_labels",
           "l2_affinity", "one_hot", "propagate_labels", "propagate_masks", "propagate_with_memory", "radius_mask",
           "region_similarity", "threshold_pseudo_labels", "upsample_labels"]
