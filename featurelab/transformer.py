"""A tiny transformer encoder with a pluggable boolean attention mask.

Shared helper (COURSE_GUIDE §7). Used by ``notebooks/05_tabular_sequence_spatial/08_pfn_bayesian_inference.ipynb``
(via :mod:`featurelab.papers.pfn_bayesian_inference`), whose prior-data fitted network is exactly this encoder with
a special mask. Written by hand on :func:`torch.nn.functional.scaled_dot_product_attention` with a *boolean* mask:
on a CPU this was 1.5-2x faster than ``nn.TransformerEncoderLayer`` with a float mask (PFN card, prototype check).

Mask convention (the one of ``scaled_dot_product_attention``): ``mask[i, j] = True`` means query position ``i``
*may attend* to key position ``j``. A mask is ``(T, T)`` (shared by the batch) or ``(B, T, T)``; ``None`` means
full attention. There is no positional encoding: without one, the encoder is permutation-equivariant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .run import ParameterError

__all__ = ["EncoderBlock", "TinyEncoder", "causal_mask", "coupling_coefficient", "layernorm_jacobian", "ov_pullback",
           "unembed_observable"]


class EncoderBlock(nn.Module):
    """One post-norm encoder block (Vaswani et al. 2017): ``h = LN(x + MHA(x)); out = LN(h + FFN(h))``.

    ``zero_init=True`` zero-initialises the attention output projection and the FFN's second linear layer, as the
    PFN reference implementation does, so every block starts as (normalised) identity.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, zero_init: bool = True):
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_ff < 1:
            raise ParameterError(f"d_model, n_heads and d_ff must be positive, got {d_model}, {n_heads}, {d_ff}")
        if d_model % n_heads:
            raise ParameterError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = dropout
        if zero_init:
            for lin in (self.out, self.ff2):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def attention(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Multi-head self-attention. ``x``: ``(B, T, D)``; ``mask``: bool ``(T, T)`` / ``(B, T, T)`` or None."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, 1, T, T): the same mask for every head
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(h.transpose(1, 2).reshape(B, T, D))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, T, D)`` → ``(B, T, D)``."""
        x = self.norm1(x + self.attention(x, mask))
        return self.norm2(x + self.ff2(F.gelu(self.ff1(x))))


class TinyEncoder(nn.Module):
    """A stack of :class:`EncoderBlock` s sharing one boolean mask. ``(B, T, D)`` → ``(B, T, D)``."""

    def __init__(self, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, d_ff: int = 128,
                 dropout: float = 0.0, zero_init: bool = True):
        super().__init__()
        if n_layers < 1:
            raise ParameterError(f"n_layers must be positive, got {n_layers}")
        self.blocks = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, dropout, zero_init)
                                    for _ in range(n_layers))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            if mask.dtype != torch.bool:
                raise ParameterError(f"the attention mask must be boolean (True = may attend), got {mask.dtype}")
            if mask.shape[-2:] != (x.shape[1], x.shape[1]):
                raise ParameterError(f"mask shape {tuple(mask.shape)} does not fit sequence length {x.shape[1]}")
            if not bool(mask.any(-1).all()):
                raise ParameterError("every position must be allowed to attend to at least one position")
        for block in self.blocks:
            x = block(x, mask)
        return x


def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """The autoregressive mask: position ``i`` attends to ``j ≤ i``. ``(T, T)`` bool."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


# ----------------------------------------------------------------------------------------------------------
# Reading feature vectors off the weights (observable propagation, Dunefsky & Cohan 2024). Used by
# ``notebooks/03_reading_features/03_observable_propagation.ipynb`` via
# :mod:`featurelab.papers.observable_propagation`. Row-vector convention: a head maps a residual row ``x`` to
# ``x @ w_v @ w_o``, the unembedding maps ``r`` to ``r @ w_u.T``.
# ----------------------------------------------------------------------------------------------------------
def unembed_observable(w_u: Tensor, n: Tensor, ln_weight: Tensor | None = None) -> Tensor:
    """The residual-stream direction an observable ``n`` reads through the unembedding (and a final LayerNorm).

    For logits ``l = LN(r) @ w_u.T + b``, ``n·l = (γ ⊙ W_Uᵀ n)·(r − mean(r))/σ(r) + const``. This returns
    ``P(γ ⊙ W_Uᵀ n)`` with ``P = I − 11ᵀ/d`` the centring projection (γ folded in, the mean direction removed);
    only the positive scale ``1/σ(r)`` is left out, so the *direction* is exact. Without ``ln_weight`` it is
    plain ``W_Uᵀ n`` (the "logit lens" direction, no LayerNorm).

    Args:
        w_u: ``(V_out, d)`` unembedding weight (``nn.Linear(d, V_out).weight``). n: ``(V_out,)`` observable.
        ln_weight: ``(d,)`` the final LayerNorm's γ, or None for a model without one.

    Returns:
        ``(d,)``.
    """
    if w_u.ndim != 2 or n.shape != (w_u.shape[0],):
        raise ParameterError(f"w_u must be (V_out, d) and n (V_out,); got {tuple(w_u.shape)} and {tuple(n.shape)}")
    u = n.to(w_u.dtype) @ w_u
    if ln_weight is not None:
        if ln_weight.shape != u.shape:
            raise ParameterError(f"ln_weight must be ({u.shape[0]},), got {tuple(ln_weight.shape)}")
        u = ln_weight * u
        u = u - u.mean()
    return u


def ov_pullback(w_v: Tensor, w_o: Tensor, y: Tensor) -> Tensor:
    """Pull a feature vector back through attention heads' OV circuits: ``y_h = W_V,h W_O,h y``.

    With the attention pattern held fixed, a head adds ``a · x @ w_v @ w_o`` to the residual stream for a
    source token ``x`` it attends to with weight ``a``; so ``y·(that) = a · (w_v @ w_o @ y)·x``. In the paper's
    column convention this is ``y_h = W_V,hᵀ W_O,hᵀ y`` (Dunefsky & Cohan, Sec. 3).

    Args:
        w_v: ``(d, d_head)`` or ``(H, d, d_head)``. w_o: ``(d_head, d)`` or ``(H, d_head, d)``. y: ``(d,)``.

    Returns:
        ``(d,)``, or ``(H, d)`` for stacked heads.
    """
    if w_v.ndim != w_o.ndim or w_v.ndim not in (2, 3) or w_v.shape[-1] != w_o.shape[-2] \
            or w_v.shape[-2] != w_o.shape[-1] or y.shape != (w_o.shape[-1],):
        raise ParameterError(f"need w_v (H, d, d_head), w_o (H, d_head, d), y (d,) (H optional); got "
                             f"{tuple(w_v.shape)}, {tuple(w_o.shape)}, {tuple(y.shape)}")
    return (w_v @ (w_o @ y).unsqueeze(-1)).squeeze(-1)


def coupling_coefficient(y1: Tensor, y2: Tensor) -> Tensor:
    """``C(y1, y2) = <y1, y2> / ||y1||²`` (Dunefsky & Cohan, Sec. 3.3): for isotropic ``x``, the expected
    ``y2·x`` given ``y1·x = 1``. Not symmetric. ``y1 = 0`` raises."""
    n1 = (y1 * y1).sum()
    if float(n1) == 0.0:
        raise ParameterError("coupling_coefficient: y1 is the zero vector")
    return (y1 * y2).sum() / n1


def layernorm_jacobian(x: Tensor, weight: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Jacobian ``∂LN(x)/∂x`` of ``LN(x) = γ ⊙ (x − μ)/σ + β`` at one point ``x`` of shape ``(d,)``: ``(d, d)``.

    ``J = diag(γ) (I − 11ᵀ/d − x̂x̂ᵀ/d) / σ`` with ``x̂ = (x − μ)/σ`` and ``σ = sqrt(var(x) + eps)`` (population
    variance, as ``nn.LayerNorm``). A feature vector ``y`` read after the LayerNorm is read before it as ``Jᵀy``:
    only the mean direction and the direction of ``x`` are removed, so in high dimension ``Jᵀy`` keeps almost
    all of ``y``'s direction (the paper's Sec. 3.2 argument).
    """
    if x.ndim != 1:
        raise ParameterError(f"x must be one vector (d,), got shape {tuple(x.shape)}")
    d = x.shape[0]
    mu = x.mean()
    sigma = torch.sqrt(((x - mu) ** 2).mean() + eps)
    xh = (x - mu) / sigma
    j = (torch.eye(d, dtype=x.dtype) - torch.full((d, d), 1.0 / d, dtype=x.dtype) - torch.outer(xh, xh) / d) / sigma
    if weight is not None:
        j = weight[:, None] * j
    return j
