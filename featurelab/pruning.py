"""Channel pruning and width search: the pieces of a differentiable width search and of its baselines.

Built for ``notebooks/08_efficient_robust/02_tas_transformable_pruning.ipynb`` (TAS, Dong & Yang, NeurIPS 2019,
arXiv:1905.09717) and written for any small conv net:

- :func:`width_choices` — candidate channel counts of a layer (TAS: ``int(r·C)`` for r = 0.3 … 1.0);
- :func:`gumbel_top_k` — sample ``k`` candidate widths per layer with Gumbel noise and re-normalise their
  probabilities (TAS's ``select2withP``, k = 2);
- :func:`channel_interp` / :func:`cwi_mix` — channel-wise interpolation (CWI): average-pool the channel axis to a
  common width, so feature maps of different widths can be summed with the sampled probabilities;
- :func:`conv_flops`, :func:`chain_flops` — multiply–accumulate counts of a plain conv chain from its per-layer
  widths (float or differentiable tensor widths, so *expected* FLOPs come from expected widths);
- :func:`flop_loss` — TAS's cost loss (official ``get_flop_loss``: one-sided tolerance);
- :func:`kd_loss` — Hinton-style distillation, ``(1 − α)·CE + α·T²·KL(p_T ‖ p_S)``;
- :func:`l1_keep`, :func:`uniform_width` — the classic baselines: keep the largest-L1 filters (Li et al. 2017),
  and one width ratio for every layer that meets a FLOP budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import ParameterError

#: TAS's width ratios (official ``get_width_choices``).
TAS_RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def width_choices(c_max: int, ratios: Sequence[float] = TAS_RATIOS) -> tuple[int, ...]:
    """Sorted distinct candidate widths ``int(c_max · r)`` (each ≥ 1; the full width is always a candidate)."""
    if int(c_max) < 1:
        raise ParameterError(f"c_max must be a positive channel count, got {c_max}")
    if not ratios or any(not (0 < r <= 1) for r in ratios):
        raise ParameterError(f"width ratios must lie in (0, 1], got {tuple(ratios)}")
    return tuple(sorted({max(1, int(c_max * r)) for r in ratios} | {int(c_max)}))


def gumbel_top_k(logits: Tensor, tau: float, k: int = 2, generator: torch.Generator | None = None,
                 eps: float = 1e-7) -> tuple[Tensor, Tensor]:
    """Sample ``k`` distinct candidates per row with Gumbel noise; their re-normalised probabilities.

    The official ``select2withP``: ``z = (log_softmax(α) + g) / τ`` with ``g ~ Gumbel(0, 1)``; ``k`` indices drawn
    without replacement from ``softmax(z)``; the returned probabilities are ``softmax`` of the ``k`` selected
    entries of ``z`` (differentiable in ``logits``). A draw giving inf/nan is redrawn.

    Args:
        logits: ``(L, J)`` architecture logits α (L layers, J candidates).
        tau: Gumbel temperature (> 0).
        k: candidates per row (2 in TAS; ``1 ≤ k ≤ J``).

    Returns:
        ``(index, probs)``: ``(L, k)`` long indices and ``(L, k)`` probabilities (rows sum to 1).
    """
    if logits.dim() != 2:
        raise ParameterError(f"logits must be (layers, candidates), got shape {tuple(logits.shape)}")
    if not 1 <= k <= logits.shape[1]:
        raise ParameterError(f"k={k} must lie in [1, {logits.shape[1]}] (the number of candidates)")
    if not tau > 0:
        raise ParameterError(f"tau must be positive, got {tau}")
    for _ in range(100):
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype).to(logits.device)
        gumbels = -torch.log(-torch.log(u.clamp_min(1e-20)))
        z = (logits.log_softmax(dim=1) + gumbels) / tau
        probs = torch.softmax(z, dim=1)
        if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
            break
    with torch.no_grad():
        index = torch.multinomial(probs.detach().cpu() + eps, k, replacement=False, generator=generator)
    index = index.to(logits.device)
    return index, torch.softmax(torch.gather(z, 1, index), dim=1)


def channel_interp(x: Tensor, c_out: int) -> Tensor:
    """Channel-wise interpolation: adaptive average pooling of the channel axis of ``x`` to ``c_out`` channels.

    ``x`` is ``(N, C, *spatial)`` (any number of spatial axes); returns ``(N, c_out, *spatial)``. Output channel
    ``o`` is the mean of input channels ``floor(o·C/c_out) … ceil((o+1)·C/c_out) − 1`` (PyTorch's adaptive pooling,
    the official ``ChannelWiseInterV2``); ``c_out == C`` returns ``x``; ``c_out > C`` repeats channels.
    """
    if x.dim() < 2:
        raise ParameterError(f"x must be (N, C, ...), got shape {tuple(x.shape)}")
    if int(c_out) < 1:
        raise ParameterError(f"c_out must be a positive channel count, got {c_out}")
    n, c = x.shape[:2]
    if c == c_out:
        return x
    rest = x.shape[2:]
    flat = x.reshape(n, c, -1).transpose(1, 2).reshape(-1, 1, c)          # (N·S, 1, C)
    pooled = F.adaptive_avg_pool1d(flat, int(c_out))                         # (N·S, 1, c_out)
    return pooled.reshape(n, -1, c_out).transpose(1, 2).reshape(n, c_out, *rest)


def cwi_mix(outputs: Sequence[Tensor], probs: Tensor, c_out: int | None = None) -> Tensor:
    """``Σ_j p_j · CWI(O_j, c_out)``: the probability-weighted sum of feature maps of different widths.

    Args:
        outputs: feature maps ``(N, C_j, *spatial)`` (same N and spatial shape).
        probs: ``(len(outputs),)`` weights (the sampled candidates' probabilities).
        c_out: the common width; default the largest ``C_j`` (as in TAS).
    """
    if len(outputs) == 0 or probs.shape != (len(outputs),):
        raise ParameterError(f"need one probability per output: {len(outputs)} outputs, probs {tuple(probs.shape)}")
    c_out = max(o.shape[1] for o in outputs) if c_out is None else c_out
    return sum(p * channel_interp(o, c_out) for p, o in zip(probs, outputs))


def conv_flops(c_in: float | Tensor, c_out: float | Tensor, kernel: int, positions: int,
               groups: int = 1) -> float | Tensor:
    """Multiply–accumulates of one convolution: ``kernel · positions · c_in · c_out / groups``.

    ``kernel`` is the kernel's size (product over its axes), ``positions`` the number of output positions (product
    of the output's spatial sizes). Widths may be tensors (expected widths): the result is then differentiable.
    """
    if kernel < 1 or positions < 1 or groups < 1:
        raise ParameterError("kernel, positions and groups must be positive")
    return kernel * positions * c_in * c_out / groups


def chain_flops(widths: Sequence[float | Tensor], in_channels: int, kernels: Sequence[int],
                positions: Sequence[int], n_classes: int = 0) -> float | Tensor:
    """FLOPs of a plain conv chain ``in_channels → widths[0] → … → widths[-1]`` plus a linear head.

    Layer ``l`` costs :func:`conv_flops` ``(widths[l-1], widths[l], kernels[l], positions[l])`` (``widths[-1]`` of
    layer 0 is ``in_channels``); the head (after global pooling) costs ``widths[-1] · n_classes``. With expected
    widths ``E[C_l] = Σ_j p_{l,j} C_{l,j}`` this is TAS's expected cost: layer ``l`` costs ``E[C_{l-1}]·E[C_l]``
    times its constant.
    """
    if not (len(widths) == len(kernels) == len(positions)) or len(widths) == 0:
        raise ParameterError(f"widths, kernels and positions need one entry per layer, got {len(widths)}, "
                             f"{len(kernels)}, {len(positions)}")
    total, c_prev = 0.0, in_channels
    for w, k, p in zip(widths, kernels, positions):
        total = total + conv_flops(c_prev, w, k, p)
        c_prev = w
    return total + c_prev * n_classes


def flop_loss(expected_flops: Tensor, current_flops: float, target: float, tolerance: float) -> Tensor:
    """TAS's cost loss (official ``get_flop_loss``; the one-sided rule of the code, not the paper's symmetric band).

    ``log E[F]`` when the current arg-max architecture's FLOPs exceed ``target``; ``−log E[F]`` when they fall below
    ``target − tolerance``; ``0`` otherwise. (The ``target + tolerance`` upper line is commented out in the official
    code: any excess pushes the cost down.) ``expected_flops`` is a differentiable scalar; ``tolerance`` is absolute.
    """
    if target <= 0 or tolerance < 0:
        raise ParameterError(f"target must be positive and tolerance non-negative, got {target}, {tolerance}")
    if current_flops > target:
        return torch.log(expected_flops)
    if current_flops < target - tolerance:
        return -torch.log(expected_flops)
    return expected_flops.sum() * 0.0


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, alpha: float = 0.9,
            temperature: float = 4.0) -> Tensor:
    """Knowledge distillation: ``(1 − α)·CE(s, y) + α·T²·KL(softmax(t/T) ‖ softmax(s/T))`` (batch mean).

    ``student_logits``, ``teacher_logits``: ``(N, K)``; ``targets``: ``(N,)``. ``α = 0`` is plain cross-entropy.
    (The form of TAS's official ``loss_KD_fn``, α = 0.9, T = 4.)
    """
    if not 0 <= alpha <= 1 or not temperature > 0:
        raise ParameterError(f"need 0 ≤ alpha ≤ 1 and temperature > 0, got {alpha}, {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise ParameterError(f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} "
                             "logits must have the same shape")
    loss = (1 - alpha) * F.cross_entropy(student_logits, targets)
    if alpha > 0:
        log_s = F.log_softmax(student_logits / temperature, dim=1)
        p_t = F.softmax(teacher_logits.detach() / temperature, dim=1)
        loss = loss + alpha * temperature ** 2 * F.kl_div(log_s, p_t, reduction="batchmean")
    return loss


def l1_keep(weight: Tensor, n_keep: int) -> Tensor:
    """Indices (sorted) of the ``n_keep`` output filters of ``weight`` ``(C_out, ...)`` with the largest L1 norm."""
    if not 1 <= n_keep <= weight.shape[0]:
        raise ParameterError(f"n_keep={n_keep} must lie in [1, {weight.shape[0]}] (the filters of the layer)")
    norms = weight.detach().abs().reshape(weight.shape[0], -1).sum(1)
    return torch.sort(torch.topk(norms, n_keep).indices).values


def uniform_width(max_widths: Sequence[int], flops: Callable[[Sequence[int]], float], budget: float,
                  mode: str = "closest") -> tuple[int, ...]:
    """One width ratio for every layer, matched to a FLOP budget.

    Widths ``max(1, round(r · C_l))`` for one ratio r ∈ (0, 1]. ``mode``: ``"closest"`` — the architecture whose
    ``flops(widths)`` is nearest to ``budget``; ``"at_least"`` — the cheapest one with FLOPs ≥ ``budget``;
    ``"at_most"`` — the most expensive one with FLOPs ≤ ``budget`` (the smallest widths if none is).
    ``flops`` maps a tuple of widths to their cost.
    """
    if budget <= 0 or not max_widths:
        raise ParameterError("budget must be positive and max_widths non-empty")
    if mode not in ("closest", "at_least", "at_most"):
        raise ParameterError(f"mode must be 'closest', 'at_least' or 'at_most', got {mode!r}")
    cands = sorted({tuple(max(1, round(c * k / max(max_widths))) for c in max_widths)
                    for k in range(1, max(max_widths) + 1)}, key=flops)
    costs = [flops(w) for w in cands]
    if mode == "at_least":
        return next((w for w, f in zip(cands, costs) if f >= budget), cands[-1])
    if mode == "at_most":
        below = [w for w, f in zip(cands, costs) if f <= budget]
        return below[-1] if below else cands[0]
    return min(zip(cands, costs), key=lambda wf: (abs(wf[1] - budget), wf[1]))[0]


def gumbel_tau(step: int, total: int, tau_max: float = 10.0, tau_min: float = 0.1) -> float:
    """TAS's Gumbel temperature schedule: linear from ``tau_max`` at step 0 to ``tau_min`` at the last step."""
    if total < 1:
        raise ParameterError("total must be positive")
    frac = min(1.0, max(0.0, step / max(1, total - 1)))
    return tau_max - (tau_max - tau_min) * frac


__all__ = ["TAS_RATIOS", "chain_flops", "channel_interp", "conv_flops", "cwi_mix", "flop_loss", "gumbel_tau",
           "gumbel_top_k", "kd_loss", "l1_keep", "uniform_width", "width_choices"]
