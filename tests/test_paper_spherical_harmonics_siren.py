"""Unit tests of featurelab.papers.spherical_harmonics_siren (seeded, tiny, fast)."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from featurelab.papers import spherical_harmonics_siren as S
from featurelab.base import ParameterError


def _scipy_real_sh(l: int, m: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Real SH from scipy's complex ones (which carry the Condon–Shortley phase (-1)^m)."""
    special = pytest.importorskip("scipy.special")
    theta = np.pi / 2 - lat  # polar angle
    if hasattr(special, "sph_harm_y"):
        Y = lambda mm: special.sph_harm_y(l, mm, theta, lon)
    else:  # scipy < 1.15
        Y = lambda mm: special.sph_harm(mm, l, lon, theta)
    if m == 0:
        return Y(0).real
    if m > 0:
        return math.sqrt(2) * (-1) ** m * Y(m).real
    return math.sqrt(2) * (-1) ** m * Y(-m).imag


def test_real_sph_harm_matches_scipy():
    rng = np.random.default_rng(0)
    lon = rng.uniform(-np.pi, np.pi, 50)
    lat = np.arcsin(rng.uniform(-1, 1, 50))
    lat[:2] = [np.pi / 2, -np.pi / 2]  # the poles
    L = 8
    ours = S.real_sph_harm(torch.tensor(lon), torch.tensor(lat), L).double().numpy()
    assert ours.shape == (50, L * L)
    for l in range(L):
        for m in range(-l, l + 1):
            np.testing.assert_allclose(ours[:, l * l + l + m], _scipy_real_sh(l, m, lon, lat), atol=2e-5, rtol=1e-4)


def test_real_sph_harm_is_orthonormal_on_the_sphere():
    lon, lat = S.fibonacci_lattice(6_000)
    Y = S.real_sph_harm(lon, lat, 6).double()
    gram = Y.T @ Y * (4 * math.pi / lon.numel())  # quadrature with equal-area weights
    torch.testing.assert_close(gram, torch.eye(36, dtype=torch.float64), atol=5e-3, rtol=0)


def test_high_degree_is_finite_and_pole_is_smooth():
    Y = S.real_sph_harm(torch.tensor([0.0, 2.0]), torch.tensor([math.pi / 2, math.pi / 2]), 30)
    assert torch.isfinite(Y).all()
    torch.testing.assert_close(Y[0], Y[1], atol=1e-5, rtol=0)  # at the pole longitude does not matter


def test_fibonacci_lattice_and_checkerboard():
    lon, lat = S.fibonacci_lattice(200)
    assert lon.shape == (200,) and lat.abs().max() <= math.pi / 2 and lon.abs().max() <= math.pi
    cb = S.make_checkerboard(200, 16, 500, 300, seed=1)
    assert cb.y.shape == (500,) and cb.test_y.shape == (300,)
    assert set(cb.test_y.unique().tolist()) <= set(range(16))
    # a support point is labelled with its own class
    torch.testing.assert_close(cb.label(cb.support_lon[:20], cb.support_lat[:20]), torch.arange(20) % 16)


def test_siren_init_and_shapes():
    torch.manual_seed(0)
    net = S.Siren(9, 4, hidden=32, depth=2, w0=1.0, w0_initial=3.0)
    assert net(torch.randn(5, 9)).shape == (5, 4)
    first, second = net.body[0].linear.weight, net.body[1].linear.weight
    assert first.abs().max() <= 1 / 9 and second.abs().max() <= math.sqrt(6 / 32)
    assert S.dfs_encoding(torch.zeros(3), torch.zeros(3), 5).shape == (3, 20)


TINY = dict(n_train=1000, n_test=500, steps=60, batch_size=500, n_seeds=1, sh_degrees=6, hidden=32)


def test_tiny_run_learns():
    cfg = dataclasses.replace(S.PRESETS["small"], arms=("raw+MLP", "DFS+MLP", "SH+SIREN"), **TINY)
    res = S.run(cfg, [0], progress=False)
    assert res.acc["SH+SIREN"][0] > 2 / 16  # well above chance
    assert res.acc["method"][0] == res.acc["SH+SIREN"][0]  # the claims read the method's arm
    vals = S.claim_values(res)
    assert {c.key for c in S.CLAIMS} <= set(vals) and len(vals["gain_overall"]) == 1


def test_noise_null_retrains_the_baseline_with_other_seeds():
    swap = next(s for s in S.SWAPS if s.name == "dfs_noise_null")
    cfg = dataclasses.replace(swap.apply(S.PRESETS["small"]), **TINY)
    assert cfg.method == "DFS+MLP" and cfg.arms == ("raw+MLP", "DFS+MLP")
    res = S.run(cfg, [0], progress=False)
    assert res.acc["method"][0] != res.acc["DFS+MLP"][0]  # independent init and batch order, same data
    assert abs(res.acc["method"][0] - res.acc["DFS+MLP"][0]) < 0.2


def test_every_arm_has_its_own_tuned_learning_rate():
    cfg = S.PRESETS["small"]
    assert len(cfg.lrs) == len(S.ARMS) and cfg.lr_of("SH+SIREN") == 3e-3 and cfg.lr_of("DFS+MLP") == 1e-2
    assert {s.kind for s in S.SWAPS} >= {"mechanism", "null"}


def test_bad_config_raises():
    base = S.PRESETS["small"]
    with pytest.raises(ParameterError, match="(?i)sh_degrees"):
        dataclasses.replace(base, sh_degrees=0)
    with pytest.raises(ParameterError, match="(?i)n_classes"):
        dataclasses.replace(base, n_classes=300)
    with pytest.raises(ParameterError, match="(?i)polar_lat"):
        dataclasses.replace(base, polar_lat=95.0)
    with pytest.raises(ParameterError, match="(?i)steps"):
        dataclasses.replace(base, steps=-3)
    with pytest.raises(ParameterError, match="(?i)lrs"):
        dataclasses.replace(base, lrs=(1e-3,))
    with pytest.raises(ParameterError, match="(?i)arms"):
        dataclasses.replace(base, arms=("raw+MLP", "SH+SIREN"))
    with pytest.raises(ParameterError, match="(?i)method"):
        dataclasses.replace(base, method="SH+transformer")
    with pytest.raises(ParameterError, match="arm"):
        S.make_model("SH+transformer", 4, base)


def test_globe_pixels_invert_the_orthographic_projection():
    lon, lat, mask = S.globe_pixels(41, 0.3, 0.5)
    x, y, vis = S.orthographic(lon.numpy(), lat.numpy(), 0.3, 0.5)
    yy, xx = np.meshgrid(np.linspace(1, -1, 41), np.linspace(-1, 1, 41), indexing="ij")
    assert vis.all() and mask.sum() == lon.numel()
    np.testing.assert_allclose(x, xx[mask], atol=1e-5)
    np.testing.assert_allclose(y, yy[mask], atol=1e-5)
