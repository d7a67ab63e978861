"""Training environments with a spurious feature, and the out-of-distribution penalties that use them.

Shared by the Module-02 notebooks on invariance (first user:
``notebooks/02_which_features/04_rich_feature_construction.ipynb``).

What is here
------------
* :class:`Environment`, :func:`colour_environment`, :func:`make_coloured_fashion_mnist` — the coloured
  Fashion-MNIST construction (after the ColoredMNIST of Arjovsky et al. 2019, Sec. 5.1): a binary label
  derived from the garment class, flipped with probability ``label_noise``; then a colour that *agrees*
  with the (noisy) label with a probability ``p_agree`` set per environment. The garment's shape predicts
  the label with accuracy ``1 - label_noise`` in every environment (the invariant feature); colour is more
  predictive in training and anti-correlated at test (the spurious feature).
* :func:`irmv1_penalty` — IRMv1 (Arjovsky, Bottou, Gulrajani & Lopez-Paz 2019, Sec. 3.1, Eq. IRMv1):
  the squared gradient of an environment's risk with respect to a dummy classifier scale ``w = 1.0``.
* :func:`vrex_penalty` — V-REx (Krueger et al. 2021, Sec. 3, Eq. 6): the variance of the per-environment
  risks.
* :func:`worst_group_loss`, :func:`group_dro_update` — group DRO (Sagawa, Koh, Hashimoto & Liang 2020):
  the worst-group objective (Eq. 2) and its online algorithm (Algorithm 1), which keeps a weight ``q`` per
  group and exponentiates the group losses.

All losses and penalties accept a leading "member" dimension ``M`` (independent networks trained side by
side, e.g. seeds), and return one value per member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from featurelab.run import ParameterError

__all__ = [
    "FOOTWEAR_AND_BAGS",
    "Environment",
    "agreement_table",
    "colour_environment",
    "group_dro_update",
    "irmv1_penalty",
    "irmv1_penalty_autograd",
    "make_coloured_fashion_mnist",
    "vrex_penalty",
    "worst_group_loss",
]

FOOTWEAR_AND_BAGS = (5, 7, 8, 9)  # sandal, sneaker, bag, ankle boot → label 1; the six garments → label 0


@dataclass
class Environment:
    """One environment. ``x (N, 2, s, s)``: the grey image in channel ``colour``, zeros in the other;
    ``y (N,)`` float in {0, 1}: the noisy label; ``clean (N,)``: the label before noise; ``colour (N,)``
    long in {0, 1}; ``p_agree``: P(colour = y) used to draw it."""

    name: str
    x: Tensor
    y: Tensor
    clean: Tensor
    colour: Tensor
    p_agree: float

    @property
    def flat(self) -> Tensor:
        """``x`` flattened: ``(N, 2·s·s)``."""
        return self.x.flatten(1)

    def colour_agreement(self) -> float:
        """Measured fraction of examples whose colour equals the noisy label."""
        return float((self.colour.float() == self.y).float().mean())

    def to(self, device: torch.device | str) -> Environment:
        return Environment(self.name, self.x.to(device), self.y.to(device), self.clean.to(device),
                           self.colour.to(device), self.p_agree)


def colour_environment(
    images: Tensor, labels: Tensor, p_agree: float, label_noise: float, generator: torch.Generator, name: str = ""
) -> Environment:
    """Colour grey images so that the colour agrees with the noisy label with probability ``p_agree``.

    ``images (N, 1, s, s)`` in [0, 1]; ``labels (N,)`` in {0, 1} (the clean label). Steps (as in ColoredMNIST,
    Arjovsky et al. 2019, Sec. 5.1): flip the label with probability ``label_noise``; draw the colour equal to
    the noisy label with probability ``p_agree``; put the image into channel ``colour``.
    """
    if not 0.0 <= p_agree <= 1.0:
        raise ParameterError(f"p_agree must lie in [0, 1], got {p_agree}")
    if not 0.0 <= label_noise < 0.5:
        raise ParameterError(f"label_noise must lie in [0, 0.5), got {label_noise}")
    if images.ndim != 4 or images.shape[1] != 1 or len(images) != len(labels):
        raise ParameterError(f"images must be (N, 1, s, s) with N = len(labels); got {tuple(images.shape)}")
    n = len(labels)
    clean = labels.long()
    flip = torch.rand(n, generator=generator) < label_noise
    y = clean ^ flip.long()
    disagree = torch.rand(n, generator=generator) >= p_agree
    colour = y ^ disagree.long()
    x = torch.zeros(n, 2, *images.shape[2:])
    x[torch.arange(n), colour] = images[:, 0]
    return Environment(name, x, y.float(), clean, colour, float(p_agree))


def make_coloured_fashion_mnist(
    p_agree: Sequence[float] = (0.9, 0.8),
    p_agree_test: float = 0.1,
    n_per_env: int = 2500,
    n_test: int = 2500,
    size: int = 7,
    label_noise: float = 0.25,
    positive: Sequence[int] = FOOTWEAR_AND_BAGS,
    seed: int = 0,
    path: str | None = None,
) -> tuple[list[Environment], Environment]:
    """Coloured Fashion-MNIST: ``len(p_agree)`` training environments and one test environment.

    Label 1 = a garment class in ``positive`` (footwear and bags by default), else 0. Training environments
    are disjoint class-balanced subsets of the Fashion-MNIST training split; the test environment comes from
    its test split. Returns ``(train_envs, test_env)``; each ``x`` is ``(n, 2, size, size)``.
    """
    from featurelab.data import load_fashion_mnist

    if not p_agree:
        raise ParameterError("need at least one training environment (p_agree is empty)")
    if n_per_env < 10 or n_test < 10:
        raise ParameterError(f"n_per_env and n_test must be at least 10, got {n_per_env}, {n_test}")
    k = len(p_agree)
    d = load_fashion_mnist(n_train=k * n_per_env, n_test=n_test, size=size, seed=seed, path=path)
    pos = torch.tensor(list(positive))
    gen = torch.Generator().manual_seed(int(seed) + 12_345)
    perm = torch.randperm(k * n_per_env, generator=gen)
    x_tr, y_tr = d.x_train[perm], torch.isin(d.y_train[perm], pos).long()
    envs = [
        colour_environment(x_tr[i * n_per_env:(i + 1) * n_per_env], y_tr[i * n_per_env:(i + 1) * n_per_env],
                           p, label_noise, gen, name=f"train {i + 1} (p={p:g})")
        for i, p in enumerate(p_agree)
    ]  # fmt: skip
    test = colour_environment(d.x_test, torch.isin(d.y_test, pos).long(), p_agree_test, label_noise, gen,
                              name=f"test (p={p_agree_test:g})")
    return envs, test


# ----------------------------------------------------------------------------------------------------------
# Penalties. ``logits (M, N)`` binary logits, ``y (M, N)`` or ``(N,)`` float targets in {0, 1}.
# ----------------------------------------------------------------------------------------------------------
def irmv1_penalty(logits: Tensor, y: Tensor) -> Tensor:
    """IRMv1 penalty of one environment, per member: ``(∂/∂w R^e(w · Φ) at w = 1)²`` (Arjovsky et al., Eq. IRMv1).

    ``logits (M, N)`` (or ``(N,)``), ``y`` broadcastable to it → ``(M,)`` (or a scalar). For the logistic
    risk ``R(w) = mean_i BCE(w z_i, y_i)`` the derivative at ``w = 1`` is ``mean_i (σ(z_i) − y_i) z_i``; we use
    this closed form (identical to the autograd version :func:`irmv1_penalty_autograd`, tested) because it
    needs no second-order backward pass.
    """
    g = ((torch.sigmoid(logits) - y) * logits).mean(-1)
    return g**2


def irmv1_penalty_autograd(logits: Tensor, y: Tensor) -> Tensor:
    """IRMv1 as the reference code writes it: ``autograd.grad`` w.r.t. a dummy scale, ``create_graph=True``."""
    squeeze = logits.ndim == 1
    lg = logits[None] if squeeze else logits
    w = torch.ones(lg.shape[0], 1, device=lg.device, dtype=lg.dtype, requires_grad=True)
    risk = F.binary_cross_entropy_with_logits(lg * w, y.expand_as(lg), reduction="none").mean(1)
    (grad,) = torch.autograd.grad(risk.sum(), w, create_graph=True)
    pen = grad[:, 0] ** 2
    return pen[0] if squeeze else pen


def vrex_penalty(env_risks: Tensor) -> Tensor:
    """V-REx penalty, per member: the variance of the risks across environments (Krueger et al., Eq. 6).

    ``env_risks (M, E)`` → ``(M,)``. Uses the population variance ``mean_e (R_e − mean R)²`` (with E = 2
    this is ``(R_1 − R_2)² / 4``).
    """
    if env_risks.shape[-1] < 2:
        raise ParameterError("V-REx needs at least two environments")
    return env_risks.var(dim=-1, unbiased=False)


def worst_group_loss(group_losses: Tensor) -> Tensor:
    """Group DRO objective (Sagawa et al. 2020, Eq. 2): the largest group loss. ``(M, G)`` → ``(M,)``."""
    return group_losses.max(dim=-1).values


def group_dro_update(group_losses: Tensor, q: Tensor, eta: float = 0.01) -> tuple[Tensor, Tensor]:
    """One step of online group DRO (Sagawa et al. 2020, Algorithm 1).

    ``group_losses (M, G)``, ``q (M, G)`` the current group weights (rows sum to 1). Returns the new weights
    ``q ∝ q · exp(η · loss)`` (no gradient) and the loss to minimise, ``Σ_g q_g · loss_g`` → ``(M,)``.
    """
    if eta <= 0:
        raise ParameterError(f"eta must be positive, got {eta}")
    q = q * torch.exp(eta * group_losses.detach())
    q = q / q.sum(dim=-1, keepdim=True)
    return q, (q * group_losses).sum(dim=-1)


def agreement_table(envs: Sequence[Environment]) -> np.ndarray:
    """``(len(envs), 3)``: per environment, P(colour = y), P(clean = y) (shape's best accuracy), size."""
    return np.array([[e.colour_agreement(), float((e.clean.float() == e.y).float().mean()), len(e.y)]
                     for e in envs])
