"""DANN on images: Fashion-MNIST → "FMNIST-M" (the MNIST → MNIST-M pattern of Ganin et al. 2016, Sec. 5.2.4,
Table 2) — an illustration beside :mod:`featurelab.papers.dann`, which holds the mechanism and the claims.

The target domain pastes each garment over a procedural colour texture (:func:`featurelab.data.make_fmnist_m`).
The network is a small LeNet-style CNN after the paper's MNIST net (Fig. 4a) with the same three parts as the
moons network, so :func:`featurelab.papers.dann.train_dann` trains it unchanged. At scale small it runs one seed
and asserts nothing (see ``results/calibration/notes/dann.md``); ``IMAGE_PRESETS["full"]`` follows the paper's
MNIST setting and has not been run on a GPU yet.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from featurelab.ensemble import EnsembleMLP
from featurelab.experiment import Knobs, knob
from featurelab.papers.dann import (TrainLog, accuracy, domain_head_accuracy, features_of, proxy_a_distance,
                                    train_dann)


class DANNConvNet(nn.Module):
    """``len(seeds)`` independent LeNet-style DANN networks for ``(3, size, size)`` images.

    * ``G_f``: conv(3→c1, k) → ReLU → maxpool 2 → conv(c1→c2, k) → ReLU → maxpool 2 → flatten (one small
      ``nn.Sequential`` per member; inputs ``(M, B, 3, size, size)``);
    * ``G_y``: ``D → 100 → n_classes`` and ``G_d``: ``D → 100 → 1`` (ensembles of :mod:`featurelab.ensemble`).
    """

    def __init__(self, seeds: Sequence[int], size: int = 28, n_classes: int = 10, c1: int = 32, c2: int = 48):
        super().__init__()
        k, pad = (5, 0) if size >= 28 else (3, 1)
        self.members = len(seeds)
        convs = []
        for s in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(s))
                convs.append(nn.Sequential(nn.Conv2d(3, c1, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
                                           nn.Conv2d(c1, c2, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
                                           nn.Flatten()))
        self.convs = nn.ModuleList(convs)
        side = ((size - k + 1 + 2 * pad) // 2 - k + 1 + 2 * pad) // 2
        self.feature_dim = c2 * side * side
        self.gy = EnsembleMLP(seeds, [self.feature_dim, 100, n_classes])
        self.gd = EnsembleMLP([int(s) + 7_777_777 for s in seeds], [self.feature_dim, 100, 1])

    def features(self, x: Tensor) -> Tensor:
        """``G_f``: ``(M, B, 3, size, size)`` → ``(M, B, feature_dim)``."""
        return torch.stack([conv(x[m]) for m, conv in enumerate(self.convs)])

    def label_head(self, f: Tensor) -> Tensor:
        return self.gy(f)

    def domain_head(self, f: Tensor) -> Tensor:
        return self.gd(f).squeeze(-1)


@dataclass(frozen=True)
class ImagesConfig(Knobs):
    """Knobs of the Fashion-MNIST → "FMNIST-M" illustration."""

    n_seeds: int = knob(1, lo=1)
    n_train: int = knob(2000, lo=10, doc="images per domain")
    n_test: int = knob(1000, lo=10, doc="held-out images per domain")
    size: int = knob(14, lo=8, hi=28, doc="side length (28 = original)")
    channels: tuple[int, int] = knob((16, 32), lo=1)
    steps: int = knob(600, lo=1)
    batch: int = knob(32, lo=1, doc="images per domain per step")
    lr0: float = knob(0.05, lo=0.0, lo_open=True, doc="paper: 0.01 (too slow for 600 CPU steps)")
    momentum: float = knob(0.9, lo=0.0, hi=0.999)
    lambda_max: float = knob(0.3, lo=0.0, doc="paper: 1; at 600 steps λ → 1 collapsed 2 of 6 seeds")
    gamma: float = knob(10.0, lo=0.0, lo_open=True)
    train_on_target: bool = False  # also train the upper bound (target labels revealed)


IMAGE_PRESETS: dict[str, ImagesConfig] = {
    "small": ImagesConfig(),
    "full": ImagesConfig(n_seeds=3, n_train=20000, n_test=5000, size=28, channels=(32, 48), steps=6000, batch=64,
                         lr0=0.01, lambda_max=1.0, train_on_target=True),
}


@dataclass
class ImagesResult:
    """Per-seed arrays ``(n_seeds,)`` (``acc_target_train_on_target`` NaN unless asked); ``examples`` holds a
    few source and target training images ``(8, 3, size, size)``."""

    config: ImagesConfig
    seeds: list[int]
    acc_target_dann: np.ndarray
    acc_target_source_only: np.ndarray
    acc_target_train_on_target: np.ndarray
    acc_source_dann: np.ndarray
    acc_source_source_only: np.ndarray
    domain_head_acc_dann: np.ndarray
    domain_head_acc_source_only: np.ndarray
    pad_dann: np.ndarray
    pad_source_only: np.ndarray
    seconds: float
    examples: dict[str, np.ndarray] = field(repr=False)
    log: TrainLog = field(repr=False)

    @property
    def margin(self) -> np.ndarray:
        return self.acc_target_dann - self.acc_target_source_only


def _domains(cfg: ImagesConfig, seed: int) -> dict[str, Tensor]:
    """Disjoint garments for source and target: source grey→RGB, target over textures; centred at 0."""
    from featurelab.data import load_fashion_mnist, make_fmnist_m, to_rgb

    d = load_fashion_mnist(n_train=2 * cfg.n_train, n_test=2 * cfg.n_test, size=cfg.size, seed=seed)
    n, k = cfg.n_train, cfg.n_test
    return {"xs": to_rgb(d.x_train[:n]) - 0.5, "ys": d.y_train[:n],
            "xt": make_fmnist_m(d.x_train[n:], seed=seed) - 0.5, "yt": d.y_train[n:],
            "xs_test": to_rgb(d.x_test[:k]) - 0.5, "ys_test": d.y_test[:k],
            "xt_test": make_fmnist_m(d.x_test[k:], seed=seed + 1) - 0.5, "yt_test": d.y_test[k:]}


def run_images(cfg: ImagesConfig, seeds: Sequence[int], *, device: Any = "cpu", progress: bool | None = None
               ) -> ImagesResult:
    """Per seed: DANN, source-only (and train-on-target) share data, initial weights and batch order, and train
    together with :func:`featurelab.papers.dann.train_dann`. Needs the Fashion-MNIST files."""
    t0 = time.perf_counter()
    seeds = [int(s) for s in seeds]
    cols: dict[str, list[float]] = {}
    logs = []
    for s in seeds:
        d = _domains(cfg, s)
        arms = ["dann", "source_only"] + (["train_on_target"] if cfg.train_on_target else [])
        src = {"dann": ("xs", "ys"), "source_only": ("xs", "ys"), "train_on_target": ("xt", "yt")}
        rep = len(arms)
        xs = torch.stack([d[src[a][0]] for a in arms]).to(device)
        ys = torch.stack([d[src[a][1]] for a in arms]).to(device)
        model = DANNConvNet([s] * rep, size=cfg.size, c1=cfg.channels[0], c2=cfg.channels[1]).to(device)
        logs.append(train_dann(
            model, xs, ys, torch.stack([d["xt"]] * rep).to(device), torch.tensor([cfg.lambda_max] + [0.0] * (rep - 1)),
            [s] * rep, steps=cfg.steps, batch=cfg.batch, lr0=cfg.lr0, momentum=cfg.momentum, gamma=cfg.gamma,
            progress=progress, desc=f"FMNIST→FMNIST-M, seed {s}"))
        xs_te, xt_te = (torch.stack([d[k]] * rep).to(device) for k in ("xs_test", "xt_test"))
        ys_te, yt_te = (torch.stack([d[k]] * rep).to(device) for k in ("ys_test", "yt_test"))
        acc_s, acc_t = accuracy(model, xs_te, ys_te), accuracy(model, xt_te, yt_te)
        dom = domain_head_accuracy(model, xs_te, xt_te)
        fs, ft = features_of(model, xs_te).cpu().numpy(), features_of(model, xt_te).cpu().numpy()
        row = {"acc_target_dann": acc_t[0], "acc_target_source_only": acc_t[1],
               "acc_target_train_on_target": acc_t[2] if cfg.train_on_target else float("nan"),
               "acc_source_dann": acc_s[0], "acc_source_source_only": acc_s[1],
               "domain_head_acc_dann": dom[0], "domain_head_acc_source_only": dom[1],
               "pad_dann": proxy_a_distance(fs[0], ft[0], seed=s),
               "pad_source_only": proxy_a_distance(fs[1], ft[1], seed=s)}
        for k, v in row.items():
            cols.setdefault(k, []).append(float(v))
    examples = {"source": (d["xs"][:8] + 0.5).numpy(), "target": (d["xt"][:8] + 0.5).numpy()}
    return ImagesResult(config=cfg, seeds=seeds, **{k: np.array(v) for k, v in cols.items()},
                        seconds=time.perf_counter() - t0, examples=examples, log=logs[0])
