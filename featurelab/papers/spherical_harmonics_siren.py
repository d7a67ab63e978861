"""Spherical-harmonic location encoding + SIREN — the mechanism, small enough to read.

Rußwurm, Klemmer, Rolf, Zbinden & Tuia, "Geographic Location Encoding with Spherical Harmonics and Sinusoidal
Representation Networks", ICLR 2024, arXiv:2310.06743. Used by
``notebooks/05_tabular_sequence_spatial/06_spherical_harmonics_siren.ipynb``.

A location encoder is ``y = NN(PE(λ, φ))`` (longitude λ, latitude φ, radians). The paper's PE is the set of real
**spherical harmonics** ``Y_l^m`` for degrees ``l = 0..L-1`` (``L²`` features), an orthogonal basis of functions on
the sphere with no seam at the dateline and no singularity at the poles; its NN is a **SIREN**, layers
``h ↦ sin(ω₀(W h + b))`` (Sitzmann et al. 2020). Baselines here: raw (λ, φ) and a multi-scale "double Fourier
sphere" (DFS) encoding — sines and cosines of scaled λ and φ separately, as in Space2Vec's ``grid`` encoder — which
treats the sphere as a rectangle and is blind to the poles' geometry.

What is here
------------
* :func:`real_sph_harm` — real orthonormal ``Y_l^m`` by the stable associated-Legendre recurrence.
* :func:`dfs_encoding`, :func:`raw_encoding` — the baselines' encodings.
* :class:`Siren`, :func:`mlp` — the networks.
* :func:`fibonacci_lattice`, :func:`make_checkerboard` — the paper's checkerboard task (official data recipe).
* :class:`Config`, :data:`PRESETS`, :func:`run` — five encoder/network pairs × seeds; :data:`CLAIMS`.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.claims import ClaimSpec
from featurelab.run import ParameterError
from featurelab.train import progress

__all__ = [
    "ARMS",
    "CLAIMS",
    "PRESETS",
    "Checkerboard",
    "ClaimSpec",
    "Config",
    "Result",
    "Siren",
    "claim_values",
    "dfs_encoding",
    "encode",
    "fibonacci_lattice",
    "globe_pixels",
    "make_checkerboard",
    "make_model",
    "mlp",
    "orthographic",
    "predict_classes",
    "raw_encoding",
    "real_sph_harm",
    "run",
    "train_arm",
]


# ----------------------------------------------------------------------------------------------------------
# 1. Real spherical harmonics (paper Sec. 3.1)
# ----------------------------------------------------------------------------------------------------------
def real_sph_harm(lon: Tensor, lat: Tensor, L: int) -> Tensor:
    """Real orthonormal spherical harmonics ``Y_l^m(λ, φ)`` for ``l < L``, ``-l ≤ m ≤ l``: ``(N,)`` → ``(N, L²)``.

    Column ``l² + l + m`` holds ``Y_l^m``. With ``P̄_l^m`` the associated Legendre function of ``sin φ`` normalised
    so that ``∫ Y² dΩ = 1`` (no Condon–Shortley phase)::

        Y_l^0 = P̄_l^0(sin φ),   Y_l^m = √2 P̄_l^m(sin φ) cos(mλ),   Y_l^{-m} = √2 P̄_l^m(sin φ) sin(mλ)   (m > 0).

    ``P̄`` comes from the standard stable recurrences: ``P̄_m^m`` from ``P̄_{m-1}^{m-1}``, ``P̄_{m+1}^m`` from
    ``P̄_m^m``, then upward in ``l`` (no factorials, no cancellation at high degree).
    """
    if L < 1:
        raise ParameterError(f"L (number of degrees) must be >= 1, got {L}")
    x = torch.sin(lat).double()
    s = torch.cos(lat).double().clamp_min(0)  # √(1 - x²) ≥ 0 for φ ∈ [-π/2, π/2]
    lon = lon.double()
    P: dict[tuple[int, int], Tensor] = {(0, 0): torch.full_like(x, math.sqrt(1 / (4 * math.pi)))}
    for m in range(1, L):
        P[(m, m)] = math.sqrt((2 * m + 1) / (2 * m)) * s * P[(m - 1, m - 1)]
    for m in range(L - 1):
        P[(m + 1, m)] = math.sqrt(2 * m + 3) * x * P[(m, m)]
    for m in range(L):
        for l in range(m + 2, L):
            a = math.sqrt((4 * l * l - 1) / (l * l - m * m))
            b = math.sqrt(((l - 1) ** 2 - m * m) / (4 * (l - 1) ** 2 - 1))
            P[(l, m)] = a * (x * P[(l - 1, m)] - b * P[(l - 2, m)])
    cols = []
    for l in range(L):
        for m in range(-l, l + 1):
            if m == 0:
                cols.append(P[(l, 0)])
            elif m > 0:
                cols.append(math.sqrt(2) * P[(l, m)] * torch.cos(m * lon))
            else:
                cols.append(math.sqrt(2) * P[(l, -m)] * torch.sin(-m * lon))
    return torch.stack(cols, -1).float()


def dfs_encoding(lon: Tensor, lat: Tensor, scales: int = 16, min_freq: float = 1.0, max_freq: float = 16.0) -> Tensor:
    """Multi-scale double-Fourier-sphere ("grid", Space2Vec) encoding: ``(N,)`` → ``(N, 4·scales)``.

    ``[sin(ω_s λ), cos(ω_s λ), sin(ω_s φ), cos(ω_s φ)]`` for ``scales`` frequencies ``ω_s`` spaced geometrically
    from ``min_freq`` to ``max_freq`` (rad⁻¹). λ and φ are encoded separately: a rectangle, not a sphere.
    """
    if scales < 1:
        raise ParameterError(f"scales must be >= 1, got {scales}")
    freqs = torch.tensor(np.geomspace(min_freq, max_freq, scales), dtype=torch.float32)
    a, b = lon[:, None] * freqs, lat[:, None] * freqs
    return torch.cat([torch.sin(a), torch.cos(a), torch.sin(b), torch.cos(b)], -1)


def raw_encoding(lon: Tensor, lat: Tensor) -> Tensor:
    """``(λ/π, 2φ/π)``: raw coordinates scaled to [-1, 1]. ``(N,)`` → ``(N, 2)``."""
    return torch.stack([lon / math.pi, 2 * lat / math.pi], -1)


# ----------------------------------------------------------------------------------------------------------
# 2. Networks: SIREN (Sitzmann et al. 2020) and a ReLU MLP
# ----------------------------------------------------------------------------------------------------------
class SineLayer(nn.Module):
    """``h ↦ sin(ω₀ (W h + b))``. Init (Sitzmann et al. Sec. 3.2): first layer ``W ~ U(-1/n, 1/n)``, later layers
    ``W ~ U(-√(6/n)/ω₀, √(6/n)/ω₀)`` with ``n`` the fan-in."""

    def __init__(self, n_in: int, n_out: int, w0: float, first: bool):
        super().__init__()
        self.w0 = w0
        self.linear = nn.Linear(n_in, n_out)
        bound = 1 / n_in if first else math.sqrt(6 / n_in) / w0
        nn.init.uniform_(self.linear.weight, -bound, bound)
        nn.init.uniform_(self.linear.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.w0 * self.linear(x))


class Siren(nn.Module):
    """SIREN: ``depth`` sine layers of ``hidden`` units (first with ``w0_initial``, others ``w0``), then a linear
    output layer. ``(N, n_in)`` → ``(N, n_out)``."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 64, depth: int = 2, w0: float = 1.0,
                 w0_initial: float = 30.0):
        super().__init__()
        layers = [SineLayer(n_in, hidden, w0_initial, first=True)]
        layers += [SineLayer(hidden, hidden, w0, first=False) for _ in range(depth - 1)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x))


def mlp(n_in: int, n_out: int, hidden: int, depth: int) -> nn.Sequential:
    """ReLU MLP with ``depth`` hidden layers of ``hidden`` units."""
    dims = [n_in] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(dims[-1], n_out))


# ----------------------------------------------------------------------------------------------------------
# 3. Data: the checkerboard on a Fibonacci lattice (paper Sec. 4.1; official data/checkerboarddataset.py)
# ----------------------------------------------------------------------------------------------------------
def fibonacci_lattice(n: int) -> tuple[Tensor, Tensor]:
    """``n`` near-uniform points on the sphere (golden-angle spiral): ``(lon, lat)``, each ``(n,)``, radians."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    lat = torch.asin(1 - 2 * i / n)
    golden = math.pi * (3 - math.sqrt(5))
    lon = torch.remainder(golden * i + math.pi, 2 * math.pi) - math.pi
    return lon.float(), lat.float()


def uniform_sphere(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` points uniform on the sphere: ``(lon, lat)`` radians."""
    u = torch.rand(n, 2, generator=generator)
    return (2 * u[:, 0] - 1) * math.pi, torch.asin(2 * u[:, 1] - 1)


def to_xyz(lon: Tensor, lat: Tensor) -> Tensor:
    """Unit vectors ``(N, 3)``."""
    return torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], -1)


@dataclass
class Checkerboard:
    """Train ``(lon, lat, y)`` uniform on the sphere, test on a Fibonacci grid; label = class of the nearest of
    ``n_support`` Fibonacci support points, support point ``i`` having class ``i mod n_classes``."""

    lon: Tensor
    lat: Tensor
    y: Tensor
    test_lon: Tensor
    test_lat: Tensor
    test_y: Tensor
    support_lon: Tensor
    support_lat: Tensor
    n_classes: int

    def label(self, lon: Tensor, lat: Tensor) -> Tensor:
        """Class of the nearest support point (great-circle distance = largest dot product)."""
        d = to_xyz(lon, lat) @ to_xyz(self.support_lon, self.support_lat).T
        return d.argmax(-1) % self.n_classes


def make_checkerboard(n_support: int, n_classes: int, n_train: int, n_test: int, seed: int) -> Checkerboard:
    """The checkerboard task; the training sample depends on ``seed``, the support and test grid do not."""
    s_lon, s_lat = fibonacci_lattice(n_support)
    cb = Checkerboard(*(torch.empty(0),) * 6, s_lon, s_lat, n_classes)
    lon, lat = uniform_sphere(n_train, torch.Generator().manual_seed(seed))
    t_lon, t_lat = fibonacci_lattice(n_test)
    cb.lon, cb.lat, cb.y = lon, lat, cb.label(lon, lat)
    cb.test_lon, cb.test_lat, cb.test_y = t_lon, t_lat, cb.label(t_lon, t_lat)
    return cb


# ----------------------------------------------------------------------------------------------------------
# 4. The experiment
# ----------------------------------------------------------------------------------------------------------
ARMS = ("raw+MLP", "DFS+MLP", "SH+linear", "SH+SIREN", "raw+SIREN")


@dataclass(frozen=True)
class Config:
    """Checkerboard + five encoder/network arms (``ARMS``), each trained with Adam, full-size minibatches."""

    n_support: int = 200
    n_classes: int = 16
    n_train: int = 10_000
    n_test: int = 10_000
    sh_degrees: int = 10  # L: SH degrees 0..L-1 → L² features
    dfs_scales: int = 16
    hidden: int = 64
    depth: int = 2
    dfs_hidden: int = 128  # the stronger DFS baseline: one hidden layer of 128 (as in the official code)
    dfs_depth: int = 1
    w0_sh: float = 3.0  # first-layer ω₀ of SH+SIREN (the card's prototype: 30 performs poorly on SH inputs)
    w0_raw: float = 30.0  # first-layer ω₀ of raw+SIREN (Sitzmann et al.'s default)
    steps: int = 300
    batch_size: int = 2000
    lr: float = 3e-3
    n_seeds: int = 3
    polar_lat: float = 60.0  # degrees: the polar band is |φ| > polar_lat

    def __post_init__(self) -> None:
        for name in ("n_support", "n_classes", "n_train", "n_test", "sh_degrees", "dfs_scales", "hidden", "depth",
                     "dfs_hidden", "dfs_depth", "batch_size", "n_seeds"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 0:
            raise ParameterError(f"steps must be a non-negative integer, got {self.steps!r}")
        if self.n_classes > self.n_support:
            raise ParameterError(f"n_classes={self.n_classes} exceeds n_support={self.n_support}")
        if not self.lr > 0 or not self.w0_sh > 0 or not self.w0_raw > 0:
            raise ParameterError("lr, w0_sh and w0_raw must be positive")
        if not 0 < self.polar_lat < 90:
            raise ParameterError(f"polar_lat must be in (0, 90) degrees, got {self.polar_lat}")


PRESETS = {
    "small": Config(),
    "full": Config(n_support=800, n_train=50_000, n_test=50_000, sh_degrees=20, hidden=128, dfs_hidden=256, steps=3000,
                   n_seeds=5),
}


def encode(arm: str, lon: Tensor, lat: Tensor, cfg: Config) -> Tensor:
    """The encoding of ``arm`` (``ARMS``): ``(N,)`` → ``(N, features)``."""
    if arm.startswith("raw"):
        return raw_encoding(lon, lat)
    if arm.startswith("DFS"):
        return dfs_encoding(lon, lat, cfg.dfs_scales)
    if arm.startswith("SH"):
        return real_sph_harm(lon, lat, cfg.sh_degrees)
    raise ParameterError(f"unknown arm {arm!r}; use one of {ARMS}")


def make_model(arm: str, n_in: int, cfg: Config) -> nn.Module:
    """The network of ``arm``."""
    if arm == "raw+MLP":
        return mlp(n_in, cfg.n_classes, cfg.hidden, cfg.depth)
    if arm == "DFS+MLP":
        return mlp(n_in, cfg.n_classes, cfg.dfs_hidden, cfg.dfs_depth)
    if arm == "SH+linear":
        return nn.Linear(n_in, cfg.n_classes)
    if arm == "SH+SIREN":
        return Siren(n_in, cfg.n_classes, cfg.hidden, cfg.depth, w0=1.0, w0_initial=cfg.w0_sh)
    if arm == "raw+SIREN":
        return Siren(n_in, cfg.n_classes, cfg.hidden, cfg.depth, w0=1.0, w0_initial=cfg.w0_raw)
    raise ParameterError(f"unknown arm {arm!r}; use one of {ARMS}")


def train_arm(arm: str, cb: Checkerboard, cfg: Config, seed: int, steps: int | None = None,
              device: torch.device | str = "cpu", feats: tuple[Tensor, Tensor] | None = None) -> nn.Module:
    """Train one arm with Adam (lr ``cfg.lr``) on minibatches of ``batch_size`` for ``steps`` steps."""
    steps = cfg.steps if steps is None else steps
    xtr = feats[0] if feats is not None else encode(arm, cb.lon, cb.lat, cfg)
    xtr, ytr = xtr.to(device), cb.y.to(device)
    torch.manual_seed(seed)
    model = make_model(arm, xtr.shape[1], cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(seed)
    n, bs = xtr.shape[0], min(cfg.batch_size, xtr.shape[0])
    order, pos = torch.randperm(n, generator=g), 0
    for _ in range(steps):
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=g), 0
        idx = order[pos:pos + bs].to(device)
        pos += bs
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


@dataclass
class Result:
    """``acc[arm]``: ``(n_seeds,)`` test accuracy; ``polar_acc[arm]`` on ``|φ| > polar_lat``; ``band_acc[arm]``
    ``(n_seeds, n_bands)`` by latitude band; ``pred[arm]`` the first seed's test predictions ``(n_test,)``."""

    cfg: Config
    seeds: list[int]
    cb: Checkerboard
    acc: dict[str, np.ndarray]
    polar_acc: dict[str, np.ndarray]
    band_edges: np.ndarray
    band_acc: dict[str, np.ndarray]
    pred: dict[str, np.ndarray]
    seconds: float
    models: dict[str, nn.Module] = field(default_factory=dict)


def run(cfg: Config, seeds: list[int], arms: tuple[str, ...] = ARMS, device: torch.device | str = "cpu",
        steps: int | None = None, progress_bar: bool | None = None) -> Result:
    """Train every arm for every seed (seed = training sample, init and batch order) and measure test accuracy
    overall, in the polar band, and by 15°-latitude band."""
    start = time.perf_counter()
    edges = np.arange(-90, 91, 15)
    acc = {a: np.zeros(len(seeds)) for a in arms}
    polar = {a: np.zeros(len(seeds)) for a in arms}
    bands = {a: np.zeros((len(seeds), len(edges) - 1)) for a in arms}
    pred, models = {}, {}
    cb = None
    bar = progress(total=len(seeds) * len(arms), desc="train arms", enabled=progress_bar)
    for i, s in enumerate(seeds):
        cb = make_checkerboard(cfg.n_support, cfg.n_classes, cfg.n_train, cfg.n_test, seed=s)
        lat_deg = torch.rad2deg(cb.test_lat).numpy()
        band_idx = np.clip(np.digitize(lat_deg, edges) - 1, 0, len(edges) - 2)
        polar_mask = np.abs(lat_deg) > cfg.polar_lat
        cache: dict[str, tuple[Tensor, Tensor]] = {}
        for arm in arms:
            kind = arm.split("+")[0]
            if kind not in cache:
                cache[kind] = (encode(arm, cb.lon, cb.lat, cfg), encode(arm, cb.test_lon, cb.test_lat, cfg))
            model = train_arm(arm, cb, cfg, s, steps, device, feats=cache[kind])
            with torch.no_grad():
                p = model(cache[kind][1].to(device)).argmax(-1).cpu().numpy()
            correct = p == cb.test_y.numpy()
            acc[arm][i] = correct.mean()
            polar[arm][i] = correct[polar_mask].mean()
            bands[arm][i] = [correct[band_idx == b].mean() for b in range(len(edges) - 1)]
            if i == 0:
                pred[arm], models[arm] = p, model
            bar.update(1)
    bar.close()
    return Result(cfg, list(seeds), cb, acc, polar, edges, bands, pred, time.perf_counter() - start, models)


def claim_values(res: Result, method: str = "SH+SIREN") -> dict[str, list[float]]:
    """Per seed: ``gain_overall = acc(method) - max(acc(raw+MLP), acc(DFS+MLP))``;
    ``gain_polar = polar_acc(method) - polar_acc(DFS+MLP)``."""
    best = np.maximum(res.acc["raw+MLP"], res.acc["DFS+MLP"])
    return {"gain_overall": list(res.acc[method] - best),
            "gain_polar": list(res.polar_acc[method] - res.polar_acc["DFS+MLP"])}


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("sh_siren_beats_baselines", "gain_overall", ">=", 0.005,
              "SH+SIREN test accuracy at least 0.005 above the better of raw+MLP and DFS+MLP",
              "SH+SirenNet best or tied across tasks (abstract; checkerboard numbers not retrieved)"),
    ClaimSpec("sh_siren_better_at_poles", "gain_polar", ">=", 0.01,
              "in the polar band |lat| > 60°, SH+SIREN at least 0.01 above DFS+MLP",
              "DFS embeddings show artefacts at the poles (abstract; no number retrieved)"),
)


def orthographic(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """Orthographic ("globe") projection centred on ``(lon0, lat0)`` (radians): ``(x, y, visible)``, each ``(N,)``."""
    cosc = np.sin(lat0) * np.sin(lat) + np.cos(lat0) * np.cos(lat) * np.cos(lon - lon0)
    x = np.cos(lat) * np.sin(lon - lon0)
    y = np.cos(lat0) * np.sin(lat) - np.sin(lat0) * np.cos(lat) * np.cos(lon - lon0)
    return x, y, cosc > 0


def globe_pixels(n_px: int, lon0: float, lat0: float) -> tuple[Tensor, Tensor, np.ndarray]:
    """Inverse orthographic projection of an ``n_px × n_px`` image centred on ``(lon0, lat0)`` (radians).

    Returns ``(lon, lat)`` ``(M,)`` of the ``M`` pixels on the visible disk and a boolean ``(n_px, n_px)`` mask of
    those pixels (row 0 = top), so ``values`` ``(M,)`` can be painted with ``img[mask] = values``.
    """
    y, x = np.meshgrid(np.linspace(1, -1, n_px), np.linspace(-1, 1, n_px), indexing="ij")
    rho = np.sqrt(x**2 + y**2)
    mask = rho < 1
    x, y, rho = x[mask], y[mask], np.maximum(rho[mask], 1e-12)
    c = np.arcsin(rho)
    lat = np.arcsin(np.clip(np.cos(c) * np.sin(lat0) + y * np.sin(c) * np.cos(lat0) / rho, -1, 1))
    lon = lon0 + np.arctan2(x * np.sin(c), rho * np.cos(c) * np.cos(lat0) - y * np.sin(c) * np.sin(lat0))
    lon = (lon + np.pi) % (2 * np.pi) - np.pi
    return torch.tensor(lon, dtype=torch.float32), torch.tensor(lat, dtype=torch.float32), mask


@torch.no_grad()
def predict_classes(arm: str, model: nn.Module, lon: Tensor, lat: Tensor, cfg: Config) -> np.ndarray:
    """Class predictions ``(N,)`` of a trained arm at arbitrary locations."""
    dev = next(model.parameters()).device
    return model(encode(arm, lon, lat, cfg).to(dev)).argmax(-1).cpu().numpy()
