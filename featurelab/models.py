"""Small model builders shared across notebooks.

Every classifier is a :class:`Net` with a ``features`` part (input → representation) and a ``head``
(representation → logits), so notebooks can read, freeze, transfer or probe the representation.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .run import ParameterError

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "identity": nn.Identity}


class Net(nn.Module):
    """``head(features(x))``. ``features`` maps ``(N, ...)`` to ``(N, F)``; ``head`` maps ``(N, F)`` to ``(N, K)``."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _activation(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise ParameterError(f"unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def mlp(sizes: Sequence[int], activation: str = "relu", bias: bool = True) -> Net:
    """An MLP ``sizes[0] → … → sizes[-1]``; inputs of any shape ``(N, ...)`` are flattened first.

    ``features`` is everything up to and including the last hidden activation (width ``sizes[-2]``);
    ``head`` is the final linear layer. ``mlp([64, 10])`` is a linear model (``features`` = flatten).
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ParameterError(f"sizes must list ≥ 2 positive widths, got {sizes}")
    act = _activation(activation)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b, bias=bias), act()]
    return Net(nn.Sequential(*layers), nn.Linear(sizes[-2], sizes[-1], bias=bias))


def cnn(
    in_channels: int = 1,
    n_classes: int = 10,
    widths: Sequence[int] = (16, 32),
    image_size: int = 28,
    hidden: int = 64,
    activation: str = "relu",
) -> Net:
    """A LeNet-style CNN: per width a 3×3 conv + activation + 2×2 max-pool, then a hidden linear layer.

    Input ``(N, in_channels, image_size, image_size)``; ``features`` outputs ``(N, hidden)``; ``head``
    outputs ``(N, n_classes)``.
    """
    if min(in_channels, n_classes, image_size, hidden, *widths) < 1:
        raise ParameterError("cnn sizes must all be positive")
    if image_size // 2 ** len(widths) < 1:
        raise ParameterError(f"image_size {image_size} is too small for {len(widths)} pooling stages")
    act = _activation(activation)
    layers: list[nn.Module] = []
    c, s = in_channels, image_size
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1), act(), nn.MaxPool2d(2)]
        c, s = w, s // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, hidden), act()]
    return Net(nn.Sequential(*layers), nn.Linear(hidden, n_classes))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
