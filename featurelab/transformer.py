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
           "unembed_observable", "ROUTERS", "RoutedBlock", "RoutedViT", "patchify", "routed_macs",
           "straight_through_gate", "straight_through_topk", "token_compute_fraction"]


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


# ----------------------------------------------------------------------------------------------------------
# A tiny vision transformer with per-token routing gates (dynamic depth). Used by
# ``notebooks/08_efficient_robust/01_dit_dynamic_token_routing.ipynb`` via
# :mod:`featurelab.papers.dit_dynamic_token_routing`. Each layer ``l`` has a gate ``g^l_i ∈ {0, 1}`` per image
# token ``i``: a token with ``g = 1`` goes through the block, one with ``g = 0`` takes the identity path *and is
# left out of that layer's attention* (as key and value too), so skipping really removes its compute. The CLS
# token is always computed. Gates are hard 0/1 in the forward pass; the straight-through estimator passes the
# gradient of the sigmoid probability (Bengio et al. 2013), so a budget loss on the gates can be trained.
# ----------------------------------------------------------------------------------------------------------
ROUTERS = ("token", "position", "random", "fixed", "none")


def straight_through_gate(logits: Tensor) -> Tensor:
    """Hard gate ``1[σ(z) > 1/2]`` in the forward pass with the gradient of ``σ(z)`` in the backward pass.

    ``logits``: any shape → the same shape, values exactly 0.0 or 1.0; ``d out / d z = σ(z)(1 − σ(z))``.
    """
    p = torch.sigmoid(logits)
    hard = (logits > 0).to(p.dtype)
    return hard + p - p.detach()


def straight_through_topk(logits: Tensor, k: int) -> Tensor:
    """Hard gate on the ``k`` largest logits along the last dimension (a fixed capacity) with the gradient of
    ``σ(z)`` in the backward pass. ``logits``: ``(..., N)`` → ``(..., N)`` with exactly ``k`` ones per row."""
    if not 1 <= k <= logits.shape[-1]:
        raise ParameterError(f"capacity k={k} must be in 1..{logits.shape[-1]}")
    p = torch.sigmoid(logits)
    hard = torch.zeros_like(p).scatter_(-1, logits.topk(k, dim=-1).indices, 1.0)
    return hard + p - p.detach()


def patchify(images: Tensor, patch: int) -> Tensor:
    """``(B, C, H, W)`` → ``(B, N, C·patch²)`` non-overlapping patches in row-major order (``N = (H/p)(W/p)``)."""
    B, C, H, W = images.shape
    if patch < 1 or H % patch or W % patch:
        raise ParameterError(f"patch={patch} must divide the image sides {H}×{W}")
    x = images.unfold(2, patch, patch).unfold(3, patch, patch)          # (B, C, H/p, W/p, p, p)
    return x.permute(0, 2, 3, 1, 4, 5).reshape(B, (H // patch) * (W // patch), C * patch * patch)


class RoutedBlock(nn.Module):
    """One pre-norm ViT block whose residual branches are gated per token:

    ``x_i ← x_i + g_i · Attn(LN(x))_i`` then ``x_i ← x_i + g_i · MLP(LN(x_i))``, where the attention of the
    active tokens uses only active tokens as keys and values (``kv_skipped=False``; with ``True`` skipped tokens
    still serve as keys/values, which saves only their query rows and MLP).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model < 1 or n_heads < 1 or d_ff < 1 or d_model % n_heads:
            raise ParameterError(f"need positive d_model, n_heads, d_ff with d_model divisible by n_heads; got "
                                 f"{d_model}, {n_heads}, {d_ff}")
        self.n_heads = n_heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ff1, self.ff2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x: Tensor, gate: Tensor | None = None, kv_skipped: bool = False) -> Tensor:
        """``x``: ``(B, T, D)``; ``gate``: ``(B, T)`` with values in {0, 1} (straight-through values allowed) or
        None (every token active) → ``(B, T, D)``. Skipped rows are returned unchanged."""
        B, T, D = x.shape
        h = self.norm1(x)
        q, k, v = self.qkv(h).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        # explicit attention: for a few dozen tokens it is several times faster on a CPU than the fused kernel
        s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)                  # (B, H, T, T)
        if gate is not None and not kv_skipped:
            # masked softmax with the gates as key weights (as DynamicViT, Rao et al. 2021, Sec. 3.3):
            # softmax_j(s_ij) restricted to keys with g_j = 1 (and the query itself). With 0/1 gates this *is*
            # masking; with straight-through gates the gradient also reaches the gates of skipped keys.
            eye = torch.eye(T, dtype=x.dtype, device=x.device)
            w = gate[:, None, None, :] * (1 - eye) + eye                       # (B, 1, T, T)
            e = torch.exp(s - s.max(-1, keepdim=True).values.detach()) * w
            att = e / e.sum(-1, keepdim=True)
        else:
            att = s.softmax(-1)
        a = self.out((att @ v).transpose(1, 2).reshape(B, T, D))
        g = gate.unsqueeze(-1) if gate is not None else 1.0
        x = x + g * a
        return x + g * self.ff2(F.gelu(self.ff1(self.norm2(x))))


class RoutedViT(nn.Module):
    """A tiny ViT (linear patch embedding, learned positions, a CLS token) with a routing gate per token and layer.

    Routers (``router``):
        ``"token"``: data-dependent, ``z^l_i = w_l·LN(x^l_i) + b_l`` on the token's current state (the DiT gate);
        ``"position"``: a learned logit per layer and position, ``z^l_i = θ_{l,i}`` (sees only where the token is);
        ``"random"``: Bernoulli(``keep``) gates drawn afresh every forward pass (no learning);
        ``"fixed"``: the gates given to :meth:`forward` (``gates=``), e.g. a hand-made rule;
        ``"none"``: every token through every block.
    ``capacity=k`` replaces the threshold of the learned routers by "the ``k`` tokens with the largest logits" in
    every layer (:func:`straight_through_topk`), which fixes the compute exactly.
    ``early_stop=True`` makes a skip permanent: the effective gate is ``Π_{m ≤ l} g^m_i`` (early stopping).
    ``depth`` blocks are built; ``forward(..., n_layers=k)`` runs only the first ``k`` (a static shallower model).
    ``detach_router=True`` feeds the ``"token"`` router a detached copy of the token states: the router's gradient
    trains the router only and does not flow back into the blocks through the router's input (default ``False``).

    Shapes: images ``(B, C, H, W)`` → logits ``(B, n_classes)``; after each forward, ``self.last_gates`` holds the
    gates ``(B, L, N)`` that were applied (straight-through values, so a loss on them trains the router).
    """

    def __init__(self, image_size: int = 24, patch: int = 4, in_channels: int = 1, d_model: int = 32,
                 depth: int = 4, n_heads: int = 4, d_ff: int = 64, n_classes: int = 10, router: str = "token",
                 keep: float = 0.5, gate_bias: float = 2.0, early_stop: bool = False, capacity: int | None = None,
                 detach_router: bool = False):
        super().__init__()
        if router not in ROUTERS:
            raise ParameterError(f"router={router!r} must be one of {', '.join(ROUTERS)}")
        if depth < 1 or n_classes < 1:
            raise ParameterError(f"depth and n_classes must be positive, got {depth}, {n_classes}")
        if not 0.0 < keep <= 1.0:
            raise ParameterError(f"keep={keep} (the random router's keep probability) must be in (0, 1]")
        if patch < 1 or image_size % patch:
            raise ParameterError(f"patch={patch} must divide image_size={image_size}")
        self.patch, self.router, self.keep, self.early_stop = patch, router, keep, early_stop
        self.detach_router = bool(detach_router)
        self.n_tokens = (image_size // patch) ** 2
        if capacity is not None and not 1 <= capacity <= self.n_tokens:
            raise ParameterError(f"capacity={capacity} must be in 1..{self.n_tokens} (tokens per image)")
        self.capacity = capacity
        self.embed = nn.Linear(in_channels * patch * patch, d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.n_tokens + 1, d_model))
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.blocks = nn.ModuleList(RoutedBlock(d_model, n_heads, d_ff) for _ in range(depth))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)
        self.gate_norm = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(depth))
        self.gate_token = nn.ModuleList(nn.Linear(d_model, 1) for _ in range(depth))
        # a tiny jitter breaks the ties between positions (matters for ``capacity``: top-k of equal logits)
        self.gate_position = nn.Parameter(float(gate_bias) + 0.01 * torch.randn(depth, self.n_tokens))
        for lin in self.gate_token:
            nn.init.zeros_(lin.weight)
            nn.init.constant_(lin.bias, gate_bias)
        self.last_gates: Tensor | None = None

    def gate_parameters(self) -> list[nn.Parameter]:
        """The routers' parameters (for a separate learning rate)."""
        return [self.gate_position, *self.gate_norm.parameters(), *self.gate_token.parameters()]

    def gate_logits(self, layer: int, tokens: Tensor) -> Tensor:
        """Router logits ``(B, N)`` of ``layer`` for image tokens ``(B, N, D)`` (``token``/``position`` routers)."""
        if self.router == "token":
            if self.detach_router:
                tokens = tokens.detach()
            return self.gate_token[layer](self.gate_norm[layer](tokens)).squeeze(-1)
        return self.gate_position[layer].expand(tokens.shape[0], -1)

    def forward(self, images: Tensor, gates: Tensor | None = None, n_layers: int | None = None,
                kv_skipped: bool = False) -> Tensor:
        """``images`` ``(B, C, H, W)`` → logits ``(B, n_classes)``; ``gates`` ``(B, L, N)`` only for ``"fixed"``."""
        n_layers = len(self.blocks) if n_layers is None else n_layers
        if not 1 <= n_layers <= len(self.blocks):
            raise ParameterError(f"n_layers={n_layers} must be in 1..{len(self.blocks)}")
        if (self.router == "fixed") != (gates is not None):
            raise ParameterError("pass gates= exactly when router='fixed'")
        if gates is not None and gates.shape != (images.shape[0], n_layers, self.n_tokens):
            raise ParameterError(f"gates must be (B, L, N) = ({images.shape[0]}, {n_layers}, {self.n_tokens}), "
                                 f"got {tuple(gates.shape)}")
        tok = self.embed(patchify(images, self.patch))
        x = torch.cat([self.cls.expand(len(tok), -1, -1), tok], 1) + self.pos
        ones = torch.ones(len(x), 1, dtype=x.dtype, device=x.device)
        applied, alive = [], None
        for layer in range(n_layers):
            if self.router == "none":
                g = torch.ones(len(x), self.n_tokens, dtype=x.dtype, device=x.device)
            elif self.router == "fixed":
                g = gates[:, layer].to(x.dtype)
            elif self.router == "random":
                g = (torch.rand(len(x), self.n_tokens, device=x.device) < self.keep).to(x.dtype)
            elif self.capacity is not None:
                g = straight_through_topk(self.gate_logits(layer, x[:, 1:]), self.capacity)
            else:
                g = straight_through_gate(self.gate_logits(layer, x[:, 1:]))
            if self.early_stop:
                g = g if alive is None else g * alive
                alive = g
            applied.append(g)
            x = self.blocks[layer](x, torch.cat([ones, g], 1), kv_skipped)
        self.last_gates = torch.stack(applied, 1)
        return self.head(self.norm(x[:, 0]))


def routed_macs(gates: Tensor, d_model: int, d_ff: int, kv_skipped: bool = False, router_cost: bool = True) -> Tensor:
    """Multiply-accumulates per image of the routed blocks, counting only what is computed.

    ``gates``: ``(B, L, N)`` 0/1 gates of the image tokens (the CLS token is always computed on top). With ``n``
    active tokens (CLS included) and ``T = N + 1`` tokens in a layer, a block costs
    ``n·(4D² + 2·D·d_ff) + 2·n·m·D`` with ``m = n`` keys/values (``m = T`` and ``3D²`` for every token's projection
    when ``kv_skipped``); the router adds ``D`` per image token and layer. Returns ``(B,)`` float.
    """
    if gates.dim() != 3:
        raise ParameterError(f"gates must be (B, L, N), got shape {tuple(gates.shape)}")
    n = gates.detach().float().sum(-1) + 1.0                         # (B, L) active tokens incl. CLS
    T = gates.shape[-1] + 1
    D = float(d_model)
    if kv_skipped:
        per = n * (D * D + 2 * D * d_ff) + T * 3 * D * D + 2 * n * T * D
    else:
        per = n * (4 * D * D + 2 * D * d_ff) + 2 * n * n * D
    total = per.sum(-1)
    if router_cost:
        total = total + gates.shape[1] * gates.shape[2] * D
    return total


def token_compute_fraction(gates: Tensor) -> Tensor:
    """Realised compute as the fraction of executed (image token, layer) blocks: ``(B, L, N)`` → ``(B,)``."""
    if gates.dim() != 3:
        raise ParameterError(f"gates must be (B, L, N), got shape {tuple(gates.shape)}")
    return gates.detach().float().mean((1, 2))
