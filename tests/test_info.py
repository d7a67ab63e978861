"""Unit tests of featurelab.info: Gaussian-kernel Gram matrices and the CS / Rényi estimators."""

import math

import pytest
import torch

from featurelab import info


def test_gram_shapes_diagonal_and_median_heuristic():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 20, 4, generator=g)  # a batch of 3 problems
    k = info.gram(x)
    assert k.shape == (3, 20, 20)
    assert torch.allclose(k.diagonal(dim1=-2, dim2=-1), torch.ones(3, 20))
    assert torch.allclose(k, k.transpose(-1, -2))
    s = info.median_sigma(x)
    assert s.shape == (3,)
    # by construction, half of the off-diagonal kernel values lie below exp(-1/2)
    iu = torch.triu_indices(20, 20, 1)
    frac = (k[0, iu[0], iu[1]] < math.exp(-0.5)).float().mean()
    assert 0.4 < frac < 0.6
    # scalar samples (N,) are read as (N, 1)
    assert info.gram(torch.arange(5.0), sigma=1.0).shape == (5, 5)
    with pytest.raises(ValueError):
        info.gram(x, sigma=0.0)
    with pytest.raises(ValueError):
        info.median_sigma(torch.zeros(1, 3))


def test_sq_dists_matches_cdist():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(7, 3, generator=g), torch.randn(5, 3, generator=g)
    assert torch.allclose(info.sq_dists(a, b), torch.cdist(a, b) ** 2, atol=1e-5)
    s, t = torch.randn(7, generator=g), torch.randn(5, generator=g)
    assert torch.allclose(info.sq_dists(s, t), (s[:, None] - t[None]) ** 2)


def test_cs_divergence_zero_for_equal_sets_and_grows_with_shift():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(100, 2, generator=g)
    assert info.cs_divergence(x, x, sigma=1.0).abs() < 1e-5
    d = [float(info.cs_divergence(x, x + s, sigma=1.0)) for s in (0.5, 1.0, 2.0)]
    assert 0 < d[0] < d[1] < d[2]


def test_cs_qmi_nonnegative_and_detects_dependence():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 2, generator=g)
    dep = info.cs_qmi(x, x[:, :1] + 0.1 * torch.randn(200, 1, generator=g))
    ind = info.cs_qmi(x, torch.randn(200, 1, generator=g))
    assert ind >= -1e-6 and dep > 5 * ind
    # normalised form: I(x; x) / sqrt(I(x; x)^2) = 1
    assert torch.isclose(info.cs_qmi_normalized(x, x), torch.tensor(1.0), atol=1e-4)
    # a precomputed K gives the same value
    kx = info.gram(x)
    t = x[:, :1]
    assert torch.isclose(info.cs_qmi(x, t, k_x=kx), info.cs_qmi(x, t))
    with pytest.raises(ValueError):
        info.cs_qmi(x, x[:10])


def test_renyi_entropy_grows_with_spread():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(300, 1, generator=g)
    assert info.renyi_entropy(0.5 * x, sigma=0.3) < info.renyi_entropy(2 * x, sigma=0.3)


def test_conditional_cs_divergence_correntropy_limit_and_outliers():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 8, generator=g)  # 8-d standard normal: K ≈ I at σ_x = 0.1
    y = torch.randn(64, generator=g)
    assert info.conditional_cs_divergence(x, y, y.clone()).abs() < 1e-4  # perfect prediction → 0
    small = info.conditional_cs_divergence(x, y, y + 0.1, sigma_x=0.1)
    big = info.conditional_cs_divergence(x, y, y + 1.0, sigma_x=0.1)
    assert 0 < small < big
    # correntropy limit: with K = I the value is -2 log Σ_j κ(ŷ_j - y_j) + 2 log N
    r = 0.7 * torch.randn(64, generator=g)
    limit = -2 * torch.log(torch.exp(-r**2 / 2).sum()) + 2 * math.log(64)
    assert torch.isclose(info.conditional_cs_divergence(x, y, y + r, sigma_x=0.05), limit, atol=1e-4)
    # bounded influence of one gross error, unlike a squared error
    yo = y.clone()
    yo[0] += 50.0
    assert info.conditional_cs_divergence(x, yo, y, sigma_x=0.05) < 0.05
    # batched problems and a shape error
    assert info.conditional_cs_divergence(x.expand(3, -1, -1), y.expand(3, -1), y.expand(3, -1)).shape == (3,)
    with pytest.raises(ValueError):
        info.conditional_cs_divergence(x, y, y[:10])


def test_gradients_flow_through_estimators():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(32, 3, generator=g)
    t = torch.randn(32, 2, generator=g, requires_grad=True)
    (info.cs_qmi(x, t) + info.conditional_cs_divergence(x, x[:, 0], t[:, 0])).backward()
    assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
