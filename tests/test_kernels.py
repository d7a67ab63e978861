"""Unit tests of featurelab.kernels: arc-cosine maps, FC ReLU NNGP/NTK, GP sampling, kernel ridge regression."""

import math

import pytest
import torch

from featurelab import kernels as K
from featurelab.run import ParameterError


def test_arccos_maps_known_values_and_derivative():
    t = torch.tensor([-1.0, 0.0, 0.5, 1.0], dtype=torch.float64)
    assert torch.allclose(K.kappa1(t), torch.tensor([0.0, 1 / math.pi, (math.sqrt(0.75) + (2 * math.pi / 3) * 0.5) / math.pi, 1.0],
                                                   dtype=torch.float64))
    assert torch.allclose(K.kappa0(t), torch.tensor([0.0, 0.5, 2 / 3, 1.0], dtype=torch.float64))
    u = torch.linspace(-0.9, 0.9, 7, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(K.kappa1(u).sum(), u)
    assert torch.allclose(g, K.kappa0(u.detach()), atol=1e-8)
    x = torch.tensor([1.2, -1.5], dtype=torch.float64)
    K.kappa1(x)
    assert x.tolist() == [1.2, -1.5], "inputs must not be modified"


def test_arccos_maps_match_monte_carlo_relu_expectations():
    g = torch.Generator().manual_seed(0)
    rho = 0.3
    z = torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    u, v = z[:, 0], rho * z[:, 0] + math.sqrt(1 - rho**2) * z[:, 1]
    mc1 = 2 * (u.clamp_min(0) * v.clamp_min(0)).mean()
    mc0 = 2 * ((u > 0) & (v > 0)).double().mean()
    r = torch.tensor(rho, dtype=torch.float64)
    assert abs(float(mc1 - K.kappa1(r))) < 0.01 and abs(float(mc0 - K.kappa0(r))) < 0.01


def test_fc_kernels_match_a_wide_random_network():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    nngp, ntk = K.fc_relu_kernels(x, depth=1)
    width = 200_000
    w = torch.randn(width, 5, generator=g, dtype=torch.float64) * math.sqrt(2 / 5)
    h = torch.relu(x @ w.T)
    assert torch.allclose(nngp, h @ h.T / width, atol=0.03 * float(nngp.diagonal().mean()))
    # NTK of f = a·relu(Wx)/sqrt(n): Σ^1 (readout) + Σ^0 κ0 (first layer)
    sig0 = x @ x.T / 5
    dn = sig0.diagonal().sqrt()
    assert torch.allclose(ntk, nngp + sig0 * K.kappa0(sig0 / (dn[:, None] * dn[None, :])))


def test_fc_kernels_on_the_sphere_keep_unit_diagonal_and_cross_kernel_shape():
    x = K.normalize_rows(torch.randn(6, 8, dtype=torch.float64)) * math.sqrt(8)
    nngp, ntk = K.fc_relu_kernels(x, depth=3)
    assert torch.allclose(nngp.diagonal(), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(ntk.diagonal(), 4 * torch.ones(6, dtype=torch.float64))
    cross, _ = K.fc_relu_kernels(x[:2], x, depth=3)
    assert cross.shape == (2, 6) and torch.allclose(cross, nngp[:2])


def test_sample_gp_has_the_right_covariance():
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    k = torch.exp(-((x - x.T) ** 2))
    f = K.sample_gp(k, 20_000, generator=torch.Generator().manual_seed(0))
    assert f.shape == (5, 20_000)
    assert torch.allclose(f @ f.T / 20_000, k, atol=0.05)


def test_kernel_ridge_interpolates_and_curve_matches_direct_solves():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    k, _ = K.fc_relu_kernels(x, depth=2)
    y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    pred = K.kernel_ridge(k[:30, :30], y[:30], k[:30, :30])
    assert torch.allclose(pred, y[:30], atol=1e-5)
    curve = K.kernel_ridge_curve(k[:30, :30], y[:30], k[30:, :30], y[30:], [10, 20, 30], ridge=1e-3)
    for i, n in enumerate([10, 20, 30]):
        direct = K.kernel_ridge(k[:n, :n], y[:n], k[30:, :n], ridge=1e-3)
        assert torch.allclose(curve.test_mse[i], ((direct - y[30:]) ** 2).mean(0), rtol=1e-6)


def test_bad_arguments_raise():
    x = torch.randn(3, 4)
    with pytest.raises(ParameterError):
        K.fc_relu_kernels(x, depth=0)
    with pytest.raises(ParameterError):
        K.fc_relu_kernels(x, torch.randn(3, 5))
    with pytest.raises(ParameterError):
        K.kernel_ridge(torch.eye(3), torch.ones(3), torch.eye(3), ridge=-1)
    with pytest.raises(ParameterError):
        K.kernel_ridge_curve(torch.eye(3), torch.ones(3), torch.eye(3), torch.ones(3), [4])
    with pytest.raises(ParameterError):
        K.cholesky_jitter(-torch.eye(3, dtype=torch.float64), max_tries=2)
