"""A batched ensemble: ``M`` independent small networks trained in one call (one ``torch.baddbmm`` per layer).

Many experiments train the same small MLP from several seeds (or under several settings) and average a
claim over them. Training the members one after another wastes the CPU on tiny matmuls; stacking their
weights along a leading *member* dimension turns ``M`` matmuls into one batched matmul. Members never
share parameters, and because the loss is a *sum* over members, each member's gradient is exactly the
gradient it would get alone (Adam and SGD act per parameter entry, so the whole update is per member too)::

    x (M, N, d_in) ──baddbmm(b, x, W)──▶ (M, N, d_out)      W: (M, d_in, d_out), b: (M, 1, d_out)

Initialisation matches ``nn.Linear`` (uniform in ±1/√d_in) and is drawn per member from that member's own
``torch.Generator`` seeded with ``seeds[m]``: member ``m`` is the same network whatever the other members are.

Used by the DANN, shortcut-availability, rich-feature-construction, CAT, Cauchy–Schwarz IB, IFM and
unified-embedding notebooks (``featurelab.papers.*``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .base import ParameterError

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "gelu": nn.functional.gelu, "identity": lambda h: h}


class EnsembleLinear(nn.Module):
    """``M`` independent linear layers. ``x (M, N, d_in)`` (or ``(N, d_in)``, shared by all) → ``(M, N, d_out)``.

    Attributes:
        weight: ``(M, d_in, d_out)``; bias: ``(M, 1, d_out)`` or None.
    """

    def __init__(self, seeds: Sequence[int] | int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
        if not seeds or d_in < 1 or d_out < 1:
            raise ParameterError(f"need ≥ 1 member and positive sizes, got {len(seeds)} members, {d_in}→{d_out}")
        m = len(seeds)
        self.weight = nn.Parameter(torch.empty(m, d_in, d_out))
        self.bias = nn.Parameter(torch.empty(m, 1, d_out)) if bias else None
        for i, s in enumerate(seeds):
            self.init_member(i, torch.Generator().manual_seed(s))

    @property
    def members(self) -> int:
        return self.weight.shape[0]

    @torch.no_grad()
    def init_member(self, m: int, gen: torch.Generator) -> None:
        """Redraw member ``m`` like ``nn.Linear``: uniform in ±1/√d_in, from ``gen``."""
        bound = 1.0 / math.sqrt(self.weight.shape[1])
        self.weight[m].copy_(torch.rand(self.weight.shape[1:], generator=gen) * 2 * bound - bound)
        if self.bias is not None:
            self.bias[m].copy_(torch.rand(self.bias.shape[1:], generator=gen) * 2 * bound - bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.members, -1, -1)
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """``M`` independent MLPs ``sizes[0] → … → sizes[-1]`` with one activation between layers.

    ``features(x)`` is everything up to the last hidden activation ``(M, N, sizes[-2])``; ``head(h)`` the last
    layer; ``forward(x) = head(features(x))`` → ``(M, N, sizes[-1])``. Inputs ``(N, d)`` are shared by every
    member, ``(M, N, d)`` give each member its own batch; inputs with more dims are flattened after ``N``.
    ``mlp([d, K])`` (no hidden layer) is ``M`` linear models.
    """

    def __init__(self, seeds: Sequence[int] | int, sizes: Sequence[int], activation: str = "relu",
                 bias: bool = True):
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ParameterError(f"sizes must list ≥ 2 positive widths, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ParameterError(f"unknown activation {activation!r}; use one of {', '.join(ACTIVATIONS)}")
        seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
        self.sizes, self.activation = sizes, activation
        # layer l of member m is drawn from seed (seeds[m], l): members and layers are independent streams
        self.layers = nn.ModuleList(
            EnsembleLinear([_mix(s, layer) for s in seeds], a, b, bias)
            for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    @property
    def members(self) -> int:
        return self.layers[0].members

    def _prepare(self, x: Tensor) -> Tensor:
        if x.dim() >= 3 and x.shape[0] == self.members and x[0, 0].numel() == self.sizes[0]:
            return x.reshape(x.shape[0], x.shape[1], -1)
        return x.reshape(x.shape[0], -1)

    def features(self, x: Tensor) -> Tensor:
        h = self._prepare(x)
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            h = act(layer(h))
        if h.dim() == 2:
            h = h.unsqueeze(0).expand(self.members, -1, -1)
        return h

    def head(self, h: Tensor) -> Tensor:
        return self.layers[-1](h)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def member(self, m: int) -> nn.Sequential:
        """Member ``m`` as a plain ``nn.Sequential`` of ``nn.Linear`` layers (a copy, for inspection/tests)."""
        mods: list[nn.Module] = [nn.Flatten()]
        for i, layer in enumerate(self.layers):
            lin = nn.Linear(*layer.weight.shape[1:], bias=layer.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(layer.weight[m].T)
                if layer.bias is not None:
                    lin.bias.copy_(layer.bias[m, 0])
            mods.append(lin)
            if i < len(self.layers) - 1:
                mods.append(_ActModule(self.activation))
        return nn.Sequential(*mods)


class _ActModule(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def forward(self, h: Tensor) -> Tensor:
        return ACTIVATIONS[self.name](h)


def _mix(seed: int, layer: int) -> int:
    """A deterministic 63-bit seed for (member seed, layer index)."""
    return (int(seed) * 1_000_003 + 7919 * (layer + 1)) % (2**63 - 1)


def member_losses(logits: Tensor, y: Tensor, loss: str = "ce") -> Tensor:
    """Per-member mean loss ``(M,)`` of ``logits (M, N, K)`` against labels ``y (N,)`` or ``(M, N)``.

    ``loss``: ``"ce"`` (cross-entropy, integer labels), ``"bce"`` (``K = 1``, labels in {0, 1}), ``"mse"``.
    Sum the result to train all members at once: each member's gradient is its own loss's gradient.
    """
    if y.dim() == 1:  # labels shared by every member
        y = y.unsqueeze(0).expand(logits.shape[0], -1)
    if loss == "ce":
        return nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1)
    if loss == "bce":
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(-1), y.float(), reduction="none").mean(1)
    if loss == "mse":
        return ((logits.squeeze(-1) - y.float()) ** 2).mean(1)
    raise ParameterError(f"loss must be 'ce', 'bce' or 'mse', got {loss!r}")
