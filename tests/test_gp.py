"""Unit tests of featurelab.gp: kernels against scikit-learn, exact posterior against a direct solve."""

import numpy as np
import pytest
import torch

from featurelab import gp
from featurelab.run import ParameterError


@pytest.mark.parametrize("kind,nu", [("rbf", None), ("matern12", 0.5), ("matern32", 1.5), ("matern52", 2.5)])
def test_kernels_match_sklearn(kind, nu):
    from sklearn.gaussian_process.kernels import RBF, Matern

    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=(5, 2)), rng.uniform(size=(4, 2))
    ref = RBF(0.3) if nu is None else Matern(0.3, nu=nu)
    ours = gp.kernel_matrix(torch.tensor(a), torch.tensor(b), gp.Kernel(kind, 0.3, 2.0))
    np.testing.assert_allclose(ours.numpy(), 2.0 * ref(a, b), rtol=1e-6, atol=1e-9)


def test_posterior_predictive_matches_direct_solve():
    g = torch.Generator().manual_seed(1)
    k = gp.Kernel("rbf", 0.2, 1.0)
    x = torch.rand(2, 7, 1, generator=g, dtype=torch.float64)
    y = gp.sample_prior(x, k, 0.01, generator=g)
    xs = torch.rand(2, 3, 1, generator=g, dtype=torch.float64)
    mean, var = gp.posterior_predictive(x, y, xs, k, 0.01, jitter=0.0)
    for i in range(2):
        K = k(x[i], x[i]) + 0.01 * torch.eye(7, dtype=torch.float64)
        ks = k(x[i], xs[i])
        m = ks.T @ torch.linalg.solve(K, y[i])
        v = 1.0 - torch.diag(ks.T @ torch.linalg.solve(K, ks)) + 0.01
        torch.testing.assert_close(mean[i], m)
        torch.testing.assert_close(var[i], v)


def test_empty_context_gives_prior_predictive():
    x0 = torch.zeros(3, 0, 1)
    mean, var = gp.posterior_predictive(x0, torch.zeros(3, 0), torch.rand(3, 4, 1), gp.Kernel(outputscale=2.0), 0.1)
    assert torch.all(mean == 0) and torch.allclose(var, torch.full((3, 4), 2.1))


def test_prior_samples_have_the_kernel_covariance():
    g = torch.Generator().manual_seed(0)
    k = gp.Kernel("matern32", 0.5, 1.0)
    x = torch.tensor([[0.0], [0.25]], dtype=torch.float64).expand(20_000, 2, 1)
    y = gp.sample_prior(x, k, 0.0, generator=g)
    cov = torch.cov(y.T)
    torch.testing.assert_close(cov, k(x[0], x[0]), atol=0.04, rtol=0)


def test_gaussian_nll_value():
    assert float(gp.gaussian_nll(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0))) == pytest.approx(
        0.5 * np.log(2 * np.pi))


def test_bad_parameters_raise():
    with pytest.raises(ParameterError, match="kind"):
        gp.Kernel("periodic")
    with pytest.raises(ParameterError, match="positive"):
        gp.Kernel("rbf", lengthscale=0.0)
    with pytest.raises(ParameterError, match="non-negative"):
        gp.sample_prior(torch.rand(1, 3, 1), gp.Kernel(), -1.0)
    with pytest.raises(ParameterError, match="dimension"):
        gp.kernel_matrix(torch.rand(2, 1), torch.rand(2, 2), gp.Kernel())
