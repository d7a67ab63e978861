"""Unit tests of featurelab.probes: variance explained, standardisation, few-shot sampling, batched probes."""

from __future__ import annotations

import pytest
import torch

from featurelab import probes
from featurelab.run import ParameterError


def test_variance_explained_of_a_binary_feature_matches_the_closed_form():
    g = torch.Generator().manual_seed(0)
    f = torch.randint(0, 2, (2000,), generator=g)
    signal = (2.0 * f.float() - 1.0)[:, None] * torch.tensor([[3.0, 0.0, 1.0]])
    h = signal + torch.randn(2000, 3, generator=g)
    ve = probes.variance_explained(h, f)
    # group means explain (9 + 1) / (9 + 1 + 3 noise units) ≈ 10 / 13
    assert ve == pytest.approx(10 / 13, abs=0.03)
    # closed form: per-unit variance of the group means over the total variance
    hc = h - h.mean(0)
    means = torch.stack([hc[f == k].mean(0) for k in (0, 1)])
    fitted = means[f]
    assert ve == pytest.approx(float((fitted**2).sum() / (hc**2).sum()), rel=1e-5)


def test_variance_explained_bounds_and_invariances():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(500, 8, generator=g)
    f = torch.randint(0, 3, (500,), generator=g)
    ve = probes.variance_explained(h, f)
    assert 0.0 <= ve < 0.05  # independent noise: almost nothing explained
    assert probes.variance_explained(h, f) == pytest.approx(probes.variance_explained(h * 5 + 2, f), rel=1e-6)
    assert probes.variance_explained(f.float()[:, None].repeat(1, 4), f) == pytest.approx(1.0)
    assert probes.variance_explained(torch.ones(10, 3), torch.arange(10) % 2) == 0.0


def test_variance_explained_is_not_standardised():
    # a high-variance unit carrying f counts more than a low-variance unit carrying f
    g = torch.Generator().manual_seed(2)
    f = torch.randint(0, 2, (1000,), generator=g)
    s = 2.0 * f.float() - 1.0
    loud = torch.stack([10 * s, torch.randn(1000, generator=g)], 1)
    quiet = torch.stack([0.1 * s, torch.randn(1000, generator=g)], 1)
    assert probes.variance_explained(loud, f) > 0.95 > 0.05 > probes.variance_explained(quiet, f)


def test_variance_explained_errors():
    with pytest.raises(ParameterError, match="shape"):
        probes.variance_explained(torch.zeros(5), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ParameterError, match="rows"):
        probes.variance_explained(torch.zeros(5, 2), torch.zeros(4, dtype=torch.long))


def test_standardize_uses_the_given_statistics_and_floors_dead_units():
    g = torch.Generator().manual_seed(3)
    pool = torch.randn(400, 5, generator=g) * torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0]) + 7
    train = pool[:10]
    tr, te = probes.standardize(train, pool, stats=pool)
    assert torch.allclose(te[:, :4].mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(te[:, :4].std(0), torch.ones(4), atol=1e-4)
    assert torch.isfinite(te).all() and te[:, 4].abs().max() == 0  # dead unit stays 0, not blown up
    assert torch.equal(tr, te[:10])


def test_few_shot_indices_are_balanced_and_resampled():
    y = torch.arange(50) % 5
    idx = probes.few_shot_indices(y, shots=3, n_resamples=4, generator=torch.Generator().manual_seed(0))
    assert idx.shape == (4, 15)
    for row in idx:
        assert torch.equal(torch.bincount(y[row], minlength=5), torch.full((5,), 3))
        assert row.unique().numel() == 15
    assert not torch.equal(idx[0], idx[1])
    with pytest.raises(ParameterError, match="fewer than"):
        probes.few_shot_indices(y, shots=11, n_resamples=1)
    with pytest.raises(ParameterError):
        probes.few_shot_indices(y, shots=0, n_resamples=1)


def test_batched_probe_equals_separate_probes_and_separates_classes():
    g = torch.Generator().manual_seed(4)
    centers = torch.randn(3, 6, generator=g) * 3
    y = torch.randint(0, 3, (2, 60), generator=g)
    x = centers[y] + torch.randn(2, 60, 6, generator=g)
    both = probes.fit_linear_probe(x, y, n_classes=3, l2=1e-2)
    assert both.weight.shape == (2, 6, 3) and both.bias.shape == (2, 3) and both.loss.shape == (2,)
    for b in range(2):
        one = probes.fit_linear_probe(x[b], y[b], n_classes=3, l2=1e-2)
        assert torch.allclose(one.weight[0], both.weight[b], atol=2e-3)
    y_test = torch.randint(0, 3, (300,), generator=g)
    x_test = centers[y_test] + torch.randn(300, 6, generator=g)
    acc = probes.probe_accuracy(both, x_test, y_test)
    assert acc.shape == (2,) and (acc > 0.85).all()


def test_probe_l2_shrinks_weights_and_errors():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 4, generator=g)
    y = (x[:, 0] > 0).long()
    weak = probes.fit_linear_probe(x, y, l2=1e-3)
    strong = probes.fit_linear_probe(x, y, l2=1.0)
    assert strong.weight.norm() < weak.weight.norm()
    with pytest.raises(ParameterError):
        probes.fit_linear_probe(x, y[:10])
    with pytest.raises(ParameterError):
        probes.fit_linear_probe(x, y, l2=-1)


def test_binary_variance_explained_matches_the_regression():
    g = torch.Generator().manual_seed(6)
    z = torch.randint(0, 2, (700, 3), generator=g)
    h = z.float() @ torch.randn(3, 10, generator=g) + 0.5 * torch.randn(700, 10, generator=g)
    fast = probes.variance_explained_binary(h, z)
    assert fast.shape == (3,)
    for k in range(3):
        assert float(fast[k]) == pytest.approx(probes.variance_explained(h, z[:, k]), rel=1e-6)
    assert probes.variance_explained_binary(h, torch.ones(700, 1)).item() == 0.0  # constant feature
    with pytest.raises(ParameterError):
        probes.variance_explained_binary(h, z[:5])
