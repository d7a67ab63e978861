"""Building blocks for click-through-rate (CTR) models: field embeddings, FM, inner products, IPNN, MLP heads.

Module-05 CTR notebooks (``fgcnn`` and later ones) build their models from these pieces. Inputs are
integer-coded categorical fields, ``x`` of shape ``(B, F)`` int64 with column ``f`` in ``0..K_f-1`` (the
format of :mod:`featurelab.clicklog`). Every model returns one *logit* per row, shape ``(B,)``; train with
:func:`bce_logits` as the loss of :func:`featurelab.train.fit`.

* :class:`FieldEmbedding` — one table for all fields (offsets), ``(B, F) → (B, F, k)``.
* :func:`fm_interaction` — factorization machine second-order term (Rendle 2010), ``(B, F, k) → (B,)``.
* :func:`inner_products` — all pairwise inner products ``⟨e_a, e_b⟩, a < b`` (the "product layer" of
  IPNN, Qu et al. 2016), ``(B, n, k) → (B, n(n-1)/2)``, computed with one ``bmm``.
* :func:`mlp_head` — the DNN part: ``Linear → ReLU`` stack ending in one logit.
* :class:`IPNN` — embeddings → ``[flat(E); inner products]`` → MLP; its :meth:`IPNN.classify` takes any
  embedding set, so FGCNN can reuse it on the augmented feature set.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .run import ParameterError

__all__ = ["FieldEmbedding", "IPNN", "bce_logits", "fm_interaction", "inner_products", "mlp_head",
           "pair_count"]


def bce_logits(logit: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``(B,)`` logits against ``(B,)`` labels in {0, 1} (any dtype)."""
    return F.binary_cross_entropy_with_logits(logit, y.to(logit.dtype))


def pair_count(n: int) -> int:
    """Number of unordered field pairs ``n(n-1)/2``."""
    return n * (n - 1) // 2


class FieldEmbedding(nn.Module):
    """One embedding vector per (field, value): ``(B, F)`` int64 → ``(B, F, k)``.

    All fields share one ``nn.Embedding`` of ``sum(K_f)`` rows; field ``f``'s value ``v`` is row
    ``offset_f + v``. Initialised ``N(0, std²)``.
    """

    def __init__(self, cardinalities: Sequence[int], dim: int, std: float = 0.01):
        super().__init__()
        cards = [int(c) for c in cardinalities]
        if not cards or min(cards) < 1:
            raise ParameterError(f"need at least one field with cardinality >= 1, got {cards}")
        if dim < 1:
            raise ParameterError(f"embedding dim must be >= 1, got {dim}")
        self.n_fields, self.dim = len(cards), int(dim)
        self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(cards)[:-1]]), dtype=torch.long))
        self.table = nn.Embedding(int(sum(cards)), dim)
        nn.init.normal_(self.table.weight, 0.0, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.n_fields:
            raise ParameterError(f"expected x of shape (B, {self.n_fields}), got {tuple(x.shape)}")
        return self.table(x + self.offsets)


def fm_interaction(e: torch.Tensor) -> torch.Tensor:
    """FM second-order term ``Σ_{a<b} ⟨e_a, e_b⟩`` for ``e`` of shape ``(B, n, k)`` → ``(B,)``.

    Uses Rendle's identity ``½ Σ_d [(Σ_a e_ad)² − Σ_a e_ad²]`` (linear in ``n``).
    """
    s = e.sum(dim=1)
    return 0.5 * (s.pow(2) - e.pow(2).sum(dim=1)).sum(dim=1)


def inner_products(e: torch.Tensor) -> torch.Tensor:
    """All pairwise inner products ``⟨e_a, e_b⟩`` for ``a < b``: ``(B, n, k)`` → ``(B, n(n-1)/2)``.

    One batched matmul ``E Eᵀ`` (``(B, n, n)``) and the strict upper triangle, row-major
    (pairs (0,1), (0,2), ..., (n-2, n-1)).
    """
    n = e.shape[1]
    gram = torch.bmm(e, e.transpose(1, 2))
    iu = torch.triu_indices(n, n, offset=1, device=e.device)
    return gram[:, iu[0], iu[1]]


def mlp_head(in_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """The DNN part of a CTR model: ``Linear → ReLU`` for each width in ``hidden``, then ``Linear → 1``.

    ``(B, in_dim)`` → ``(B, 1)`` (squeeze for a ``(B,)`` logit).
    """
    if in_dim < 1 or any(h < 1 for h in hidden):
        raise ParameterError(f"MLP sizes must be positive, got in_dim={in_dim}, hidden={list(hidden)}")
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, 1))
    return nn.Sequential(*layers)


class IPNN(nn.Module):
    """Inner-product neural network (Qu et al. 2016): ``(B, F)`` int64 → ``(B,)`` logits.

    ``E = emb(x)`` ``(B, n, k)``; the classifier input is ``[flat(E); ⟨e_a, e_b⟩_{a<b}]`` of size
    ``n·k + n(n-1)/2``, fed to :func:`mlp_head`. ``n_inputs`` (default ``F``) is the number of embeddings
    :meth:`classify` will receive, so a wrapper may append generated features (FGCNN).
    """

    def __init__(self, cardinalities: Sequence[int], dim: int = 8, hidden: Sequence[int] = (64, 32),
                 n_inputs: int | None = None):
        super().__init__()
        self.embedding = FieldEmbedding(cardinalities, dim)
        n = len(cardinalities) if n_inputs is None else int(n_inputs)
        self.n_inputs = n
        self.head = mlp_head(n * dim + pair_count(n), hidden)

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        """``(B, n_inputs, k)`` embeddings → ``(B,)`` logits."""
        if e.shape[1] != self.n_inputs:
            raise ParameterError(f"classifier expects {self.n_inputs} embeddings, got {e.shape[1]}")
        z = torch.cat([e.flatten(1), inner_products(e)], dim=1)
        return self.head(z).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embedding(x))
