"""Loss-landscape tools shared by the course: flat parameter vectors, linear paths between two networks,
the loss barrier along a path, and weight matching (permutation alignment) for MLPs.

Used by ``notebooks/01_how_networks_learn/06_lmc_landscape.ipynb`` (``featurelab.papers.lmc_landscape``).

Notation. A network's parameters are handled as one flat vector ``theta`` of shape ``(P,)`` in the order of
``model.named_parameters()``. The linear path between two solutions is ``theta(t) = (1 - t)·theta_a + t·theta_b``
for ``t`` in ``[0, 1]``, and the loss barrier (Frankle et al. 2020; Singh et al. 2024, Sec. 2) is

    B = max_t [ L(theta(t)) - ((1 - t)·L(theta_a) + t·L(theta_b)) ]

— how far the loss along the straight line rises above the straight line between the endpoint losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from .run import ParameterError
from .train import LossFn


# ------------------------------------------------------------------------------------------------ flat vectors
def flatten(model: nn.Module) -> Tensor:
    """All parameters of ``model`` as one detached vector ``(P,)`` (order of ``named_parameters``)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def unflatten(theta: Tensor, model: nn.Module) -> dict[str, Tensor]:
    """Split ``theta`` ``(P,)`` into ``{name: tensor}`` shaped like ``model``'s parameters (for ``functional_call``)."""
    n = sum(p.numel() for p in model.parameters())
    if theta.dim() != 1 or theta.numel() != n:
        raise ParameterError(f"theta has shape {tuple(theta.shape)} but the model has {n} parameters (need ({n},))")
    out, i = {}, 0
    for name, p in model.named_parameters():
        out[name] = theta[i:i + p.numel()].view_as(p)
        i += p.numel()
    return out


def load_flat(model: nn.Module, theta: Tensor) -> nn.Module:
    """Copy ``theta`` ``(P,)`` into ``model``'s parameters in place; returns ``model``."""
    with torch.no_grad():
        for name, value in unflatten(theta, model).items():
            model.get_parameter(name).copy_(value)
    return model


def layer_slices(model: nn.Module) -> dict[str, slice]:
    """``{module_name: slice}`` of the flat vector for every module that owns parameters directly
    (a ``Linear`` layer's weight and bias form one group). Used for layer-wise interpolation."""
    out: dict[str, slice] = {}
    i = 0
    for mname, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if own:
            n = sum(p.numel() for p in own)
            out[mname] = slice(i, i + n)
            i += n
    return out


# ------------------------------------------------------------------------------------------------ paths
def interpolate(theta_a: Tensor, theta_b: Tensor, t: float) -> Tensor:
    """``(1 - t)·theta_a + t·theta_b``, both ``(P,)``."""
    if theta_a.shape != theta_b.shape:
        raise ParameterError(f"endpoints differ in shape: {tuple(theta_a.shape)} vs {tuple(theta_b.shape)}")
    return torch.lerp(theta_a, theta_b, float(t))


@torch.no_grad()
def loss_at(model: nn.Module, theta: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy) -> float:
    """``L(theta)`` on ``(x, y)`` (full batch), evaluating ``model``'s architecture at parameters ``theta``."""
    return float(loss_fn(functional_call(model, unflatten(theta, model), (x,)), y))


def loss_along_path(model: nn.Module, theta_a: Tensor, theta_b: Tensor, x: Tensor, y: Tensor,
                    ts: Sequence[float] | Tensor, loss_fn: LossFn = F.cross_entropy) -> np.ndarray:
    """Losses ``(T,)`` at ``theta(t)`` for each ``t`` in ``ts`` (models without BatchNorm: no statistics to reset)."""
    return np.array([loss_at(model, interpolate(theta_a, theta_b, float(t)), x, y, loss_fn) for t in ts])


def barrier(losses: Sequence[float] | np.ndarray, ts: Sequence[float] | np.ndarray) -> float:
    """The barrier ``max_t [L(t) - ((1-t)·L(0) + t·L(1))]`` from losses ``(T,)`` at ``ts`` ``(T,)``.

    ``ts`` must start at 0 and end at 1; the result is ≥ 0 (it is 0 at the endpoints).
    """
    losses, ts = np.asarray(losses, dtype=float), np.asarray(ts, dtype=float)
    if losses.shape != ts.shape or ts.ndim != 1 or len(ts) < 2:
        raise ParameterError(f"need matching 1-d losses and ts, got {losses.shape} and {ts.shape}")
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ParameterError("ts must start at 0 and end at 1 (the two endpoints)")
    chord = (1 - ts) * losses[0] + ts * losses[-1]
    return float(np.max(losses - chord))


def midpoint_excess(losses: Sequence[float] | np.ndarray, ts: Sequence[float] | np.ndarray) -> float:
    """The *signed* excess at the midpoint, ``L(1/2) - (L(0) + L(1))/2`` (needs 0.5 in ``ts``).

    Negative when the path is convex there; unlike :func:`barrier` it is not clipped at 0.
    """
    losses, ts = np.asarray(losses, dtype=float), np.asarray(ts, dtype=float)
    hit = np.flatnonzero(np.isclose(ts, 0.5))
    if len(hit) == 0:
        raise ParameterError("midpoint_excess needs t = 0.5 among ts (use an odd number of evenly spaced points)")
    return float(losses[hit[0]] - 0.5 * (losses[0] + losses[-1]))


def loss_and_grad(model: nn.Module, theta: Tensor, x: Tensor, y: Tensor,
                  loss_fn: LossFn = F.cross_entropy) -> tuple[float, Tensor]:
    """Full-batch ``L(theta)`` and its gradient ``(P,)`` with respect to the flat vector."""
    th = theta.detach().clone().requires_grad_(True)
    loss = loss_fn(functional_call(model, unflatten(th, model), (x,)), y)
    (g,) = torch.autograd.grad(loss, th)
    return float(loss.detach()), g.detach()


# ------------------------------------------------------------------------------------------------ weight matching
def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    others = [m for m in model.modules() if list(m.parameters(recurse=False)) and not isinstance(m, nn.Linear)]
    if len(layers) < 2 or others:
        raise ParameterError("weight matching supports MLPs made of ≥ 2 nn.Linear layers (no other parameters)")
    return layers


def mlp_weights(model: nn.Module, theta: Tensor) -> list[tuple[Tensor, Tensor | None]]:
    """``[(W_l (out, in), b_l (out,) or None), ...]`` of an MLP's linear layers read from ``theta`` ``(P,)``."""
    params = unflatten(theta, model)
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out.append((params[f"{name}.weight"], params.get(f"{name}.bias")))
    return out


def permute_mlp(model: nn.Module, theta: Tensor, perms: Sequence[Tensor]) -> Tensor:
    """Apply hidden-unit permutations to an MLP: ``perms[l]`` ``(width_l,)`` reorders the units of hidden layer
    ``l``. Rows of ``W_l, b_l`` and columns of ``W_{l+1}`` move together, so the function is unchanged.
    Returns the permuted flat vector ``(P,)``."""
    _linear_layers(model)
    layers = mlp_weights(model, theta)
    if len(perms) != len(layers) - 1:
        raise ParameterError(f"need {len(layers) - 1} permutations (one per hidden layer), got {len(perms)}")
    new = [(w.clone(), None if b is None else b.clone()) for w, b in layers]
    for l, p in enumerate(perms):
        w, b = new[l]
        new[l] = (w[p], None if b is None else b[p])
        w2, b2 = new[l + 1]
        new[l + 1] = (w2[:, p], b2)
    return torch.cat([t.reshape(-1) for w, b in new for t in ((w,) if b is None else (w, b))])


def weight_matching(model: nn.Module, theta_a: Tensor, theta_b: Tensor, sweeps: int = 5,
                    seed: int = 0) -> tuple[Tensor, list[Tensor]]:
    """Permute ``theta_b``'s hidden units to best match ``theta_a`` (Ainsworth et al. 2023, "weight matching").

    Maximises ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T>_F`` (biases included) by coordinate ascent: each sweep
    visits the hidden layers in random order and solves one linear assignment problem (Hungarian, scipy)
    per layer with the other permutations fixed. Returns ``(theta_b permuted (P,), perms)``.
    """
    from scipy.optimize import linear_sum_assignment

    if sweeps < 1:
        raise ParameterError(f"sweeps must be ≥ 1, got {sweeps}")
    _linear_layers(model)
    la, lb = mlp_weights(model, theta_a), mlp_weights(model, theta_b)
    n_hidden = len(la) - 1
    perms = [torch.arange(la[l][0].shape[0]) for l in range(n_hidden)]
    rng = np.random.default_rng(seed)
    for _ in range(sweeps):
        changed = False
        for l in rng.permutation(n_hidden):
            wa, ba = la[l]
            wb, bb = lb[l]
            wb_in = wb if l == 0 else wb[:, perms[l - 1]]          # inputs already permuted by P_{l-1}
            cost = wa @ wb_in.T                                     # (width, width): unit i of A vs unit j of B
            if ba is not None:
                cost = cost + torch.outer(ba, bb)
            wa_next, _ = la[l + 1]
            wb_next, _ = lb[l + 1]
            wb_next_out = wb_next if l + 1 == n_hidden else wb_next[perms[l + 1]]
            cost = cost + wa_next.T @ wb_next_out                   # outgoing weights
            _, col = linear_sum_assignment(cost.detach().cpu().numpy(), maximize=True)
            new = torch.as_tensor(col, dtype=torch.long)
            changed |= not torch.equal(new, perms[l])
            perms[l] = new
        if not changed:
            break
    return permute_mlp(model, theta_b, perms), perms
