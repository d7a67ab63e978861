"""Unit tests of featurelab.rashomon (Rashomon sets of small models, permutation FIS): fast, seeded, CPU only."""

import numpy as np
import pytest
import torch

from featurelab import rashomon as rs
from featurelab.base import ParameterError


def _bilinear(n=4000, c=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x[:, 0] + x[:, 1] + c * x[:, 0] * x[:, 1]
    f = lambda r: r[:, 0] + r[:, 1] + c * r[:, 0] * r[:, 1]  # noqa: E731  the true function
    return x, y, f


def test_fis_of_a_bilinear_function_is_minus_two_c_squared():
    x, y, f = _bilinear()
    perms = rs.fixed_permutations(len(x), 8, seed=1)
    fam = rs.mask_family(f, torch.ones(1, 3))
    out = rs.fis(fam, x, y, [(0, 1), (0, 2), (1, 2)], perms)
    assert out.shape == (1, 3)
    assert out[0, 0].item() == pytest.approx(-8.0, rel=0.1)     # −2c² under permutation
    assert abs(out[0, 1].item()) < 1e-5 and abs(out[0, 2].item()) < 1e-5  # x2 is unused: no interaction


def test_masks_rescale_the_interaction_and_fixed_perms_make_it_deterministic():
    x, y, f = _bilinear()
    perms = rs.fixed_permutations(len(x), 4, seed=2)
    masks = torch.tensor([[1.0, 1.0, 1.0], [1.1, 1.0, 1.0], [0.0, 1.0, 1.0]])
    fam = rs.mask_family(f, masks)
    a = rs.fis(fam, x, y, [(0, 1)], perms)[:, 0]
    b = rs.fis(fam, x, y, [(0, 1)], perms)[:, 0]
    assert torch.equal(a, b)
    assert abs(a[1].item()) > abs(a[0].item())     # m0 = 1.1 strengthens the x0·x1 term the model uses
    assert abs(a[2].item()) < 1e-5                 # m0 = 0 removes x0: nothing left to interact
    losses = rs.family_losses(fam, x, y)
    assert losses[0].item() == pytest.approx(0.0, abs=1e-8) and losses[1] > 0


def test_reliance_of_groups_and_errors():
    x, y, f = _bilinear(n=500)
    perms = rs.fixed_permutations(500, 2, seed=0)
    phi = rs.reliance(rs.mask_family(f, torch.ones(2, 3)), x, y, [[0], [2], [0, 1]], perms)
    assert phi.shape == (2, 3) and phi[0, 0] > 0 and abs(phi[0, 1]) < 1e-6 and phi[0, 2] > phi[0, 0]
    with pytest.raises(ParameterError):
        rs.reliance(rs.mask_family(f, torch.ones(1, 3)), x, y, [[3]], perms)
    with pytest.raises(ParameterError):
        rs.reliance(rs.mask_family(f, torch.ones(1, 3)), x, y, [[0]], perms[:, :10])
    with pytest.raises(ParameterError):
        rs.fis(rs.mask_family(f, torch.ones(1, 3)), x, y, [(1, 1)], perms)
    with pytest.raises(ParameterError):
        rs.mask_family(f, torch.ones(3))
    with pytest.raises(ParameterError):
        rs.mask_family(f, torch.ones(1, 4))(x)
    with pytest.raises(ParameterError):
        rs.fixed_permutations(1, 3)
    with pytest.raises(ParameterError):
        rs.family_losses(rs.mask_family(f, torch.ones(1, 3)), x, y, loss="hinge")
    assert rs.mask_family(f, torch.ones(0, 3))(x).shape == (0, 500)


def test_bce_loss_and_admissible():
    logits = lambda r: 3 * r[:, 0]  # noqa: E731
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] > 0).float()
    l = rs.family_losses(rs.mask_family(logits, torch.tensor([[1.0, 1.0], [0.0, 1.0]])), x, y, loss="bce")
    assert l[1].item() == pytest.approx(np.log(2), rel=1e-5) and l[0] < l[1]
    keep = rs.admissible(np.array([1.0, 1.05, 1.1, 1.2]), 1.0, 0.1)
    assert keep.tolist() == [True, True, True, False]
    with pytest.raises(ParameterError):
        rs.admissible([1.0], 0.0, 0.1)
    with pytest.raises(ParameterError):
        rs.admissible([1.0], 1.0, -0.1)


def test_greedy_search_reaches_each_budget_level_and_stays_inside():
    # loss(m) = 1 + Σ w_i (m_i − 1)²: coordinate i reaches level l at |m_i − 1| = sqrt(eps·l/L / w_i)
    w = torch.tensor([1.0, 4.0, 0.0])
    calls = []

    def loss(masks):
        calls.append(masks.shape[0])
        return 1.0 + ((masks - 1) ** 2 * w).sum(1)

    res = rs.greedy_mask_search(loss, 3, 1.0, 0.1, max_delta=1.0)
    assert res.values.shape == (3, 2, 10) and res.n_evals == sum(calls)
    assert np.all(res.losses <= 1.0 + 0.1 * res.fractions[None, None, :] + 1e-6)
    exact = np.sqrt(0.1 / 1.0)
    assert res.values[0, 1, -1] == pytest.approx(1 + exact, abs=1e-3)    # the boundary, to the 4th shrink
    assert res.values[0, 0, -1] == pytest.approx(1 - exact, abs=1e-3)
    assert res.values[1, 1, -1] == pytest.approx(1 + np.sqrt(0.1 / 4), abs=1e-3)
    assert np.all(np.diff(res.values[0, 1]) >= 0)                          # levels move outward
    assert res.values[2, 1, -1] == pytest.approx(2.0) and res.values[2, 0, -1] == pytest.approx(0.0)  # unused: max_delta
    m = res.masks()
    assert m.shape == (60, 3) and torch.all((m == 1).sum(1) >= 2)
    pm = rs.pair_masks(res, 0, 1)
    assert pm.shape == (36, 3) and torch.all(pm[:, 2] == 1)
    assert torch.all(loss(pm) <= 1.0 + 0.1 * 1.2)    # complementary fractions: near the boundary, not far past it
    with pytest.raises(ParameterError):
        rs.pair_masks(res, 0, 0)
    with pytest.raises(ParameterError):
        rs.greedy_mask_search(loss, 3, 1.0, 0.0)


def test_random_masks_and_cloud_width():
    a = rs.random_masks(500, 4, 0.2, seed=3)
    assert a.shape == (500, 4) and a.min() >= 0.8 and a.max() <= 1.2
    assert torch.equal(a, rs.random_masks(500, 4, 0.2, seed=3))
    assert not torch.equal(a, rs.random_masks(500, 4, 0.2, seed=4))
    with pytest.raises(ParameterError):
        rs.random_masks(5, 4, 0.0)
    assert rs.cloud_width([1.0, 3.0, 2.0]) == 2.0
    assert rs.cloud_width([1.0, 3.0, 2.0], keep=np.array([True, False, True])) == 1.0
    with pytest.raises(ParameterError):
        rs.cloud_width([1.0], keep=np.array([False]))
