"""Layers and losses for dense (per-pixel) prediction: partial convolutions, attention with an additive logit
bias, and the binned optical-flow loss with its sparse-guide sampler.

- :class:`PartialConv2d` — Liu et al. 2018, "Image Inpainting for Irregular Holes Using Partial Convolutions",
  eq. 1–2: a convolution that sees only valid pixels, renormalised by how many it saw, and an updated mask.
- :func:`biased_attention`, :func:`group_logit_bias` — scaled dot-product attention with a bias added to the
  pre-softmax logits, e.g. to tie the pixels inside an object mask to the text tokens that describe it.
- :func:`flow_to_bins`, :func:`binned_flow_loss`, :func:`bins_to_flow`, :func:`sample_guides` — flow predicted as a
  classification over bins per axis (Zhan et al. 2019, "Self-Supervised Learning via Conditional Motion
  Propagation", the official ``DiscreteLoss``), and sparse flow hints taken where the motion changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import ParameterError


# ------------------------------------------------------------------------------------------ partial convolution
class PartialConv2d(nn.Conv2d):
    """``forward(x, mask)`` → ``(out, new_mask)`` for ``x`` ``(N, C, H, W)`` and a validity mask ``(N, 1, H, W)``
    (1 = known pixel, 0 = hole), Liu et al. 2018 eq. 1–2:

        x' = W·(X ⊙ M) · sum(1) / sum(M) + b   if sum(M) > 0,   else 0;      m' = 1 if sum(M) > 0, else 0,

    where the sums run over the kernel window (``sum(1)`` = kernel area). A window with no valid pixel outputs 0
    and stays a hole; the hole shrinks by the kernel's reach at every layer."""

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
            raise ParameterError(f"mask must be (N, 1, H, W) matching x {tuple(x.shape)}, got {tuple(mask.shape)}")
        ones = torch.ones(1, 1, *self.kernel_size, device=x.device, dtype=x.dtype)
        with torch.no_grad():
            count = F.conv2d(mask, ones, stride=self.stride, padding=self.padding, dilation=self.dilation)
        valid = (count > 0).to(x.dtype)
        ratio = self.kernel_size[0] * self.kernel_size[1] / count.clamp_min(1.0) * valid
        raw = F.conv2d(x * mask, self.weight, None, self.stride, self.padding, self.dilation, self.groups)
        out = raw * ratio
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1) * valid
        return out, valid


# ------------------------------------------------------------------------------------------ biased attention
def biased_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``softmax(q kᵀ / √d + bias) v`` for ``q`` ``(N, L, d)``, ``k`` ``(N, T, d)``, ``v`` ``(N, T, d_v)`` and an
    optional ``bias`` broadcastable to ``(N, L, T)``. Returns ``(out (N, L, d_v), weights (N, L, T))``."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ParameterError(f"shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if bias is not None:
        logits = logits + bias
    w = logits.softmax(-1)
    return w @ v, w


def group_logit_bias(masks: Tensor, token_group: Tensor, strength: float | Tensor) -> Tensor:
    """An additive attention bias tying image regions to groups of tokens.

    ``masks``: ``(N, G, L)`` soft or hard membership of each of ``L`` query pixels in ``G`` regions;
    ``token_group``: ``(T,)`` the region each key token describes (``-1`` = no region, e.g. a background or
    padding token). A pixel inside region ``g`` gets ``+strength`` towards the tokens of ``g`` and ``−strength``
    towards the tokens of every other region; tokens of group ``-1`` and pixels in no region get 0.
    ``strength``: a number or a tensor broadcastable to ``(N, 1, 1)`` (e.g. scaled by each layer's logit spread).
    Returns ``(N, L, T)``."""
    G = masks.shape[1]
    if token_group.ndim != 1 or token_group.numel() == 0 or int(token_group.max()) >= G or int(token_group.min()) < -1:
        raise ParameterError(f"token_group must be a non-empty (T,) with values in -1..{G - 1}")
    onehot = F.one_hot((token_group + 1).clamp_min(0), G + 1)[:, 1:].to(masks.dtype)      # (T, G), -1 → zeros
    same = masks.transpose(1, 2) @ onehot.T                                                # (N, L, T)
    inside = masks.sum(1, keepdim=True).transpose(1, 2).clamp(max=1.0)                     # (N, L, 1)
    other = (inside - same) * (token_group >= 0).to(masks.dtype)
    return strength * (same - other)


# ----------------------------------------------------------------------------------------------- binned flow
def _check_bins(nbins: int, fmax: float) -> None:
    if nbins < 2 or fmax <= 0:
        raise ParameterError(f"need nbins ≥ 2 and fmax > 0, got nbins={nbins}, fmax={fmax}")


def flow_to_bins(flow: Tensor, nbins: int, fmax: float) -> Tensor:
    """Flow ``(N, 2, H, W)`` (pixels) → bin indices ``(N, 2, H, W)`` in ``0..nbins−1``, as the official CMP
    ``DiscreteLoss``: clamp to ``±(fmax − 1e-3)``, ``bin = ⌊(f + fmax) / step⌋`` with ``step = 2·fmax / nbins``."""
    _check_bins(nbins, fmax)
    step = 2 * fmax / nbins
    f = flow.clamp(-fmax + 1e-3, fmax - 1e-3)
    return torch.floor((f + fmax) / step).long().clamp(0, nbins - 1)


def bins_to_flow(logits: Tensor, fmax: float, mode: str = "expectation") -> Tensor:
    """Decode ``logits`` ``(N, 2·nbins, H, W)`` (x bins, then y bins) to flow ``(N, 2, H, W)``: the bin centre of the
    arg-max (``mode="argmax"``) or the softmax expectation of the bin centres (``"expectation"``)."""
    nbins = logits.shape[1] // 2
    _check_bins(nbins, fmax)
    if mode not in ("argmax", "expectation") or logits.shape[1] != 2 * nbins:
        raise ParameterError("mode must be 'argmax' or 'expectation', logits (N, 2·nbins, H, W)")
    step = 2 * fmax / nbins
    centres = -fmax + step * (torch.arange(nbins, device=logits.device, dtype=logits.dtype) + 0.5)
    out = []
    for part in logits.split(nbins, dim=1):
        if mode == "argmax":
            out.append(centres[part.argmax(1)])
        else:
            out.append((part.softmax(1) * centres.view(1, -1, 1, 1)).sum(1))
    return torch.stack(out, 1)


def binned_flow_loss(logits: Tensor, flow: Tensor, fmax: float, valid: Tensor | None = None) -> Tensor:
    """Cross-entropy of ``logits`` ``(N, 2·nbins, h, w)`` against the bins of ``flow`` ``(N, 2, H, W)``, x and y
    separately (their mean); logits at a lower resolution are upsampled bilinearly to ``(H, W)`` first, as in the
    official code. ``valid`` ``(N, H, W)`` bool restricts the loss to some pixels (e.g. not occluded)."""
    nbins = logits.shape[1] // 2
    target = flow_to_bins(flow, nbins, fmax)
    if logits.shape[-2:] != flow.shape[-2:]:
        logits = F.interpolate(logits, size=flow.shape[-2:], mode="bilinear", align_corners=False)
    losses = []
    for a, part in enumerate(logits.split(nbins, dim=1)):
        ce = F.cross_entropy(part, target[:, a], reduction="none")
        losses.append(ce[valid].mean() if valid is not None else ce.mean())
    return (losses[0] + losses[1]) / 2


def sample_guides(flow: Tensor, k: int, generator: torch.Generator | None = None, edge_weight: float = 0.8
                  ) -> tuple[Tensor, Tensor]:
    """Sparse flow hints: ``k`` pixels per image, drawn without replacement with probability
    ``edge_weight · (normalised flow-gradient magnitude) + (1 − edge_weight) · uniform`` — most hints land where
    the motion changes, as CMP's watershed sampler intends (a simplification of it: no watershed, no grid).

    Returns ``(sparse (N, 2, H, W), mask (N, 1, H, W))`` with ``sparse = flow ⊙ mask``. ``k = 0`` gives no hints."""
    N, _, H, W = flow.shape
    if not 0 <= k <= H * W or not 0 <= edge_weight <= 1:
        raise ParameterError(f"need 0 ≤ k ≤ H·W = {H * W} and edge_weight in [0, 1]")
    mask = torch.zeros(N, 1, H, W, device=flow.device)
    if k > 0:
        gx = F.pad((flow[..., :, 1:] - flow[..., :, :-1]).abs().sum(1), (0, 1))
        gy = F.pad((flow[..., 1:, :] - flow[..., :-1, :]).abs().sum(1), (0, 0, 0, 1))
        edge = (gx + gy).flatten(1)
        edge = edge / edge.sum(1, keepdim=True).clamp_min(1e-12)
        p = edge_weight * edge + (1 - edge_weight) / (H * W)
        p = torch.where(edge.sum(1, keepdim=True) > 0, p, torch.full_like(p, 1.0 / (H * W)))
        idx = torch.multinomial(p.cpu(), k, replacement=False, generator=generator).to(flow.device)
        mask.view(N, -1).scatter_(1, idx, 1.0)
    return flow * mask, mask
