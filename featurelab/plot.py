"""One visual style for the course, and the few plot helpers several notebooks share."""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

#: The course palette: method first, baseline second (colour-blind friendly, Okabe–Ito).
COLORS = {"method": "#0072B2", "baseline": "#D55E00", "reference": "#009E73", "neutral": "#7f7f7f",
          "accent": "#CC79A7", "extra": "#E69F00"}

STYLE = {
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "figure.figsize": (6.4, 3.6),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=list(COLORS.values())),
}


def use_style() -> None:
    """Apply the course style to matplotlib (called by every notebook's setup cell)."""
    mpl.rcParams.update(STYLE)


def show_images(images: torch.Tensor | np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
                size: float = 1.1, suptitle: str | None = None) -> plt.Figure:
    """A grid of ``(N, C, H, W)`` or ``(N, H, W)`` images in [0, 1] (grey when C = 1, RGB when C = 3)."""
    imgs = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if imgs.ndim == 4:
        imgs = imgs.transpose(0, 2, 3, 1)
        if imgs.shape[-1] == 1:
            imgs = imgs[..., 0]
    n = len(imgs)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def decision_surface(ax: plt.Axes, prob_fn: Callable[[np.ndarray], np.ndarray], xlim: tuple[float, float],
                     ylim: tuple[float, float], resolution: int = 150, cmap: str = "RdBu_r") -> None:
    """Shade ``prob_fn`` (``(M, 2)`` points → ``(M,)`` probability of class 1) over a 2-D box, with the 0.5 contour."""
    xs, ys = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    xx, yy = np.meshgrid(xs, ys)
    p = np.asarray(prob_fn(np.c_[xx.ravel(), yy.ravel()])).reshape(xx.shape)
    ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap=cmap, alpha=0.35)
    ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.2)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def bars(ax: plt.Axes, labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None,
         colors: Sequence[str] | None = None, fmt: str = "{:.2f}") -> None:
    """A bar chart with each bar's value written above it (numbers beside every plot, COURSE_GUIDE §2.9)."""
    colors = colors or [COLORS["method"], COLORS["baseline"], COLORS["reference"], COLORS["neutral"]][: len(values)]
    b = ax.bar(labels, values, yerr=errors, color=colors, capsize=3)
    ax.bar_label(b, labels=[fmt.format(v) for v in values], padding=2, fontsize=9)
    ax.margins(y=0.15)
