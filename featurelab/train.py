"""The course's one training loop (:func:`fit`) and evaluation helpers.

Papers whose mechanism *is* a training procedure (adversarial, subspace, spawned) write their own step in
``featurelab.papers.<slug>`` and reuse :func:`progress` and :class:`History` from here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .base import ParameterError, progress  # noqa: F401  (progress re-exported for the paper modules)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        step: optimiser steps at which ``loss`` was logged.
        loss: training loss (mean over the logging interval).
        evals: ``[(step, {"loss": .., "acc": ..}), ...]`` on ``eval_data``.
        seconds: wall-clock training time.
        stopped_by_budget: True when ``time_budget`` ended training early.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    seconds: float = 0.0
    stopped_by_budget: bool = False


def make_optimizer(params, name: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """``adam``, ``adamw`` or ``sgd`` (with momentum)."""
    if lr <= 0:
        raise ParameterError(f"lr must be positive, got {lr}")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ParameterError(f"unknown optimizer {name!r}; use 'adam', 'adamw' or 'sgd'")


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    weight_decay: float = 0.0,
    loss_fn: LossFn = F.cross_entropy,
    batch_loss: BatchLoss | None = None,
    eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
    eval_every: int | None = None,
    time_budget: float | None = None,
    seed: int | None = None,
    progress_bar: bool | None = None,
    desc: str = "train",
) -> History:
    """Train ``model`` on ``(x, y)`` with minibatches; return a :class:`History`.

    Args:
        x: ``(N, ...)`` inputs, already on the model's device. y: ``(N,)`` or ``(N, ...)`` targets.
        epochs / steps: give exactly one. ``batch_size >= N`` means full-batch training.
        optimizer: a name (see :func:`make_optimizer`) or a ready optimizer.
        batch_loss: ``batch_loss(model, xb, yb)`` → scalar loss, for objectives that are not
            ``loss_fn(model(xb), yb)`` (e.g. the denoising loss of :mod:`featurelab.diffusion`, which draws a
            noise level and noise per batch); replaces ``loss_fn`` when given.
        eval_data: ``(x, y)`` evaluated with :func:`evaluate` every ``eval_every`` steps and at the end.
        time_budget: seconds; training stops (flagged in the history) when exceeded.
        seed: seeds the batch order (default: torch's global generator).
    """
    if (epochs is None) == (steps is None):
        raise ParameterError("give exactly one of epochs or steps")
    n = x.shape[0]
    if n != y.shape[0]:
        raise ParameterError(f"x has {n} rows but y has {y.shape[0]}")
    if batch_size < 1 or (epochs is not None and epochs < 0) or (steps is not None and steps < 0):
        raise ParameterError("batch_size must be positive and epochs/steps non-negative")
    batch_size = min(batch_size, n)
    per_epoch = -(-n // batch_size)
    total = steps if steps is not None else epochs * per_epoch
    opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else make_optimizer(
        model.parameters(), optimizer, lr, weight_decay)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    hist = History()
    log_every = max(1, total // 50)
    running, count, step = 0.0, 0, 0
    start = time.perf_counter()
    model.train()
    bar = progress(total=total, desc=desc, enabled=progress_bar)
    while step < total:
        order = torch.randperm(n, generator=gen).to(x.device) if batch_size < n else None
        for b in range(per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size] if order is not None else slice(None)
            xb, yb = x[idx], y[idx]
            loss = batch_loss(model, xb, yb) if batch_loss is not None else loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running, count = running + loss.item(), count + 1
            bar.update(1)
            if time_budget is not None and time.perf_counter() - start > time_budget:
                hist.stopped_by_budget = True
                total = step
            if step % log_every == 0 or step == total:
                hist.step.append(step)
                hist.loss.append(running / count)
                bar.set_postfix(loss=f"{running / count:.3f}")
                running, count = 0.0, 0
            if eval_data is not None and eval_every and step % eval_every == 0 and step < total:
                hist.evals.append((step, evaluate(model, *eval_data)))
                model.train()
            if step >= total:
                break
    bar.close()
    if eval_data is not None:
        hist.evals.append((step, evaluate(model, *eval_data)))
    hist.seconds = time.perf_counter() - start
    model.eval()
    return hist


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Model outputs for ``x`` of shape ``(N, ...)`` → ``(N, K)``, in eval mode, batched."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    model.train(was_training)
    return out


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``(N, K)`` logits against ``(N,)`` labels."""
    return (logits.argmax(-1) == y).float().mean().item()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy) -> dict[str, float]:
    """``{"loss": ..., "acc": ...}`` of a classifier on ``(x, y)``."""
    logits = predict(model, x)
    return {"loss": loss_fn(logits, y).item(), "acc": accuracy(logits, y)}
