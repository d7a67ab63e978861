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
* the paper contract (:mod:`featurelab.experiment`): :class:`Config`, :data:`PRESETS`, :data:`SMOKE`, :func:`run`
  (five encoder/network pairs × seeds), :func:`claim_values`, :data:`CLAIMS`, :data:`SWAPS`.

Tuning: every arm was tuned alike, once, on a held-out validation sample of a tuning seed (5000) that no seed set
uses — the learning rate of every arm over {1e-3, 3e-3, 1e-2} (SH+linear also 3e-2) and the first-layer ω₀ of both
SIREN arms over {1, 3, 10, 30} (raw+SIREN also 60). The chosen values are the preset's (``lrs``, ``w0_sh``,
``w0_raw``); the grid and its scores are in ``results/calibration/notes/spherical_harmonics_siren.md``.
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

from featurelab.base import ParameterError, progress
from featurelab.claims import ClaimSpec
from featurelab.experiment import Knobs, Swap, knob

__all__ = [
    "ARMS",
    "CLAIMS",
    "PRESETS",
    "SMOKE",
    "SWAPS",
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
class Config(Knobs):
    """Checkerboard + encoder/network arms (``ARMS``), each trained with Adam on minibatches. ``method`` names
    the arm the claims measure (SH+SIREN unless a swap puts another arm there)."""

    n_support: int = knob(200, lo=1, doc="support points of the checkerboard")
    n_classes: int = knob(16, lo=2, doc="classes")
    n_train: int = knob(10_000, lo=1, doc="training locations (uniform on the sphere)")
    n_test: int = knob(10_000, lo=1, doc="test locations (Fibonacci grid)")
    sh_degrees: int = knob(10, lo=1, doc="L: SH degrees 0..L-1 (L² features)")
    dfs_scales: int = knob(16, lo=1, doc="frequencies of the DFS encoding")
    hidden: int = knob(64, lo=1, doc="hidden units of the MLP and SIREN arms")
    depth: int = knob(2, lo=1, doc="hidden layers of the MLP and SIREN arms")
    dfs_hidden: int = knob(128, lo=1, doc="hidden units of DFS+MLP (as in the official checkerboard config)")
    dfs_depth: int = knob(1, lo=1, doc="hidden layers of DFS+MLP")
    w0_sh: float = knob(3.0, lo=0, lo_open=True, doc="first-layer ω₀ of SH+SIREN (tuned)")
    w0_raw: float = knob(30.0, lo=0, lo_open=True, doc="first-layer ω₀ of raw+SIREN (tuned)")
    steps: int = knob(300, lo=0, doc="Adam steps per arm")
    batch_size: int = knob(2000, lo=1, doc="minibatch size")
    lrs: tuple[float, ...] = knob((3e-2, 1e-2, 3e-1, 3e-3, 1e-2), lo=0, lo_open=True,
                                  doc="Adam learning rate of each arm, in ARMS order (tuned per arm)")
    n_seeds: int = knob(3, lo=1, doc="seeds per run")
    polar_lat: float = knob(60.0, lo=0, hi=90, lo_open=True, doc="degrees: the polar band is |lat| > POLAR_LAT")
    method: str = knob("SH+SIREN", choices=ARMS, doc="the arm the claims measure")
    method_init: int = knob(0, lo=0, doc="> 0: the method's arm retrained with independent seeds (a noise null)")
    arms: tuple[str, ...] = knob(ARMS, choices=ARMS, doc="arms to train")

    def validate(self) -> None:
        if self.n_classes > self.n_support:
            raise ParameterError(f"N_CLASSES={self.n_classes} exceeds N_SUPPORT={self.n_support}")
        if len(self.lrs) != len(ARMS):
            raise ParameterError(f"LRS needs one learning rate per arm ({len(ARMS)}: {', '.join(ARMS)})")
        if self.polar_lat >= 90:
            raise ParameterError(f"POLAR_LAT={self.polar_lat} must be below 90 degrees")
        missing = [a for a in ("raw+MLP", "DFS+MLP", self.method) if a not in self.arms]
        if missing:
            raise ParameterError(f"ARMS must include {missing}: the claims compare them")

    def lr_of(self, arm: str) -> float:
        """The tuned learning rate of ``arm``."""
        return self.lrs[ARMS.index(arm)]


PRESETS = {
    "small": Config(),
    "full": Config(n_support=800, n_train=50_000, n_test=50_000, sh_degrees=20, hidden=128, dfs_hidden=256, steps=3000,
                   n_seeds=5),
}
SMOKE = {"steps": 2, "n_seeds": 1, "n_train": 1000, "n_test": 1000}


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
    """Train one arm with Adam (its tuned learning rate ``cfg.lr_of(arm)``) on minibatches of ``batch_size`` for
    ``steps`` steps; ``seed`` sets the initial weights and the batch order."""
    steps = cfg.steps if steps is None else steps
    xtr = feats[0] if feats is not None else encode(arm, cb.lon, cb.lat, cfg)
    xtr, ytr = xtr.to(device), cb.y.to(device)
    torch.manual_seed(seed)
    model = make_model(arm, xtr.shape[1], cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr_of(arm))
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


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        steps: int | None = None) -> Result:
    """Train every arm of ``cfg.arms`` for every seed (seed = training sample, init and batch order) and measure
    test accuracy overall, in the polar band, and by 15°-latitude band. The entry ``"method"`` holds the arm
    ``cfg.method`` — retrained with seed ``s + 1000·method_init`` when ``method_init > 0`` (the noise null)."""
    start = time.perf_counter()
    edges = np.arange(-90, 91, 15)
    keys = [*cfg.arms, "method"]
    acc = {a: np.zeros(len(seeds)) for a in keys}
    polar = {a: np.zeros(len(seeds)) for a in keys}
    bands = {a: np.zeros((len(seeds), len(edges) - 1)) for a in keys}
    pred, models = {}, {}
    cb = None
    bar = _progress(total=len(seeds) * len(cfg.arms), desc="train arms", enabled=progress)
    for i, s in enumerate(seeds):
        cb = make_checkerboard(cfg.n_support, cfg.n_classes, cfg.n_train, cfg.n_test, seed=s)
        lat_deg = torch.rad2deg(cb.test_lat).numpy()
        band_idx = np.clip(np.digitize(lat_deg, edges) - 1, 0, len(edges) - 2)
        polar_mask = np.abs(lat_deg) > cfg.polar_lat
        cache: dict[str, tuple[Tensor, Tensor]] = {}
        jobs = [(a, a, s) for a in cfg.arms]
        if cfg.method_init > 0:
            jobs.append(("method", cfg.method, s + 1000 * cfg.method_init))
        for key, arm, train_seed in jobs:
            kind = arm.split("+")[0]
            if kind not in cache:
                cache[kind] = (encode(arm, cb.lon, cb.lat, cfg), encode(arm, cb.test_lon, cb.test_lat, cfg))
            model = train_arm(arm, cb, cfg, train_seed, steps, device, feats=cache[kind])
            with torch.no_grad():
                p = model(cache[kind][1].to(device)).argmax(-1).cpu().numpy()
            correct = p == cb.test_y.numpy()
            acc[key][i] = correct.mean()
            polar[key][i] = correct[polar_mask].mean()
            bands[key][i] = [correct[band_idx == b].mean() for b in range(len(edges) - 1)]
            if i == 0:
                pred[key], models[key] = p, model
            if key != "method":
                bar.update(1)
        if cfg.method_init == 0:
            acc["method"][i], polar["method"][i] = acc[cfg.method][i], polar[cfg.method][i]
            bands["method"][i] = bands[cfg.method][i]
    bar.close()
    return Result(cfg, list(seeds), cb, acc, polar, edges, bands, pred, time.perf_counter() - start, models)


_progress = progress  # run() has a parameter named progress


def claim_values(res: Result) -> dict[str, list[float]]:
    """Per seed: ``gain_polar = polar_acc(method) − polar_acc(DFS+MLP)`` (the claim) and, reported, not asserted,
    ``gain_overall = acc(method) − max(acc(raw+MLP), acc(DFS+MLP))`` (``method`` = SH+SIREN unless swapped)."""
    best = np.maximum(res.acc["raw+MLP"], res.acc["DFS+MLP"])
    return {"gain_overall": list(res.acc["method"] - best),
            "gain_polar": list(res.polar_acc["method"] - res.polar_acc["DFS+MLP"])}


# With every arm's learning rate tuned alike, SH+SIREN's overall lead after 300 steps is small (+0.004 … +0.010 per
# seed in a first seed set, against +0.008 … +0.019 when only SH+SIREN was tuned) and DFS+MLP ties it after
# 1,000–2,000 steps, so ``gain_overall`` is reported, not asserted. The polar gap is what lasts.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("sh_siren_better_at_poles", "gain_polar", ">=", 0.01,
              "in the polar band |lat| > 60°, SH+SIREN test accuracy at least 0.01 above DFS+MLP after the same 300 "
              "steps (mean over the run's seeds; every arm's learning rate and both SIRENs' ω₀ tuned alike)",
              "DFS encodings lose accuracy near the poles, SH does not (abstract; longitudinal-accuracy figure, "
              "Fig. 4b; its values were not retrieved)"),
)

_BASE_ARMS = ("raw+MLP", "DFS+MLP")
_CLAIM = ("sh_siren_better_at_poles",)
SWAPS: tuple[Swap, ...] = (
    Swap("raw_siren", {"method": "raw+SIREN", "arms": (*_BASE_ARMS, "raw+SIREN")}, _CLAIM, "mechanism",
         "raw+SIREN (its ω₀ and learning rate tuned like SH+SIREN's) in SH+SIREN's place: the spherical-harmonic "
         "encoding removed"),
    Swap("sh_linear", {"method": "SH+linear", "arms": (*_BASE_ARMS, "SH+linear")}, _CLAIM, "mechanism",
         "SH+linear (learning rate tuned) in SH+SIREN's place: the SIREN removed"),
    Swap("dfs_noise_null", {"method": "DFS+MLP", "method_init": 1, "arms": _BASE_ARMS}, _CLAIM, "null",
         "DFS+MLP retrained with independent seeds in SH+SIREN's place: what a rerun of the baseline gives"),
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
