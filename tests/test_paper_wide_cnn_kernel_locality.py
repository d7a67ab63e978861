"""Unit tests of featurelab.papers.wide_cnn_kernel_locality (Cagnetta, Favero & Wyart 2023): fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.kernels import kappa0, kappa1, normalize_rows
from featurelab.papers import wide_cnn_kernel_locality as w
from featurelab.run import ParameterError


def _x(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_recursion_by_hand_for_s2_depth2():
    x, y = _x(1, 4, 0), _x(1, 4, 1)
    px, py = normalize_rows(x.view(2, 2)), normalize_rows(y.view(2, 2))
    t = (px * py).sum(1)  # the two patch dot products
    k1 = kappa1(t)
    rho = k1.mean()
    want_nngp = kappa1(rho)
    th1 = k1 + t * kappa0(t)
    want_ntk = want_nngp + kappa0(rho) * th1.mean()
    kern = w.tree_cnn_kernels(x, y, s=2, depth=2, ntk=True)
    assert torch.allclose(kern.nngp[0, 0], want_nngp) and torch.allclose(kern.ntk[0, 0], want_ntk)
    assert torch.allclose(kern.leaf[0, 0], k1[0]) and torch.allclose(kern.meta[0, 0], want_nngp)


@pytest.mark.parametrize("block", [1, 7, 128])
def test_blocked_build_is_symmetric_psd_with_the_right_diagonal(block):
    x = _x(30, 27)
    kern = w.tree_cnn_kernels(x, None, 3, 3, ntk=True, block=block)
    for k in (kern.nngp, kern.leaf, kern.meta, kern.ntk):
        assert torch.allclose(k, k.T)
        assert float(torch.linalg.eigvalsh(k).min()) > -1e-9
    assert torch.allclose(kern.nngp.diagonal(), torch.ones(30, dtype=torch.float64))
    assert torch.allclose(kern.ntk.diagonal(), 4 * torch.ones(30, dtype=torch.float64))  # depth + 1


def test_kernels_are_local_leaf_sees_patch_one_and_meta_sees_nine_inputs():
    x = _x(5, 27)
    x2 = x.clone()
    x2[:, 9:] = _x(5, 18, 3)  # change everything outside the first meta-patch
    a, b = w.tree_cnn_kernels(x, None, 3, 3), w.tree_cnn_kernels(x2, None, 3, 3)
    assert torch.allclose(a.leaf, b.leaf) and torch.allclose(a.meta, b.meta)
    assert not torch.allclose(a.nngp, b.nngp)
    x3 = x.clone()
    x3[:, 3:9] = _x(5, 6, 4)  # inside the meta-patch but outside patch 1
    c = w.tree_cnn_kernels(x3, None, 3, 3)
    assert torch.allclose(a.leaf, c.leaf) and not torch.allclose(a.meta, c.meta)


def test_cross_kernel_matches_the_joint_kernel():
    x = _x(12, 9)
    full = w.tree_cnn_kernels(x, None, 3, 2).nngp
    cross = w.tree_cnn_kernels(x[:4], x[4:], 3, 2).nngp
    assert torch.allclose(cross, full[:4, 4:])


def test_make_task_and_a_tiny_learning_curve():
    cfg = dataclasses.replace(w.PRESETS["small"], ns=(16, 32, 64), n_test=50, n_seeds=1)
    task, _ = w.make_task(cfg, seed=0)
    assert task.x.shape == (114, 27) and task.y.shape == (114, 3)
    assert torch.allclose(task.y.std(0), torch.ones(3, dtype=torch.float64))
    patches = task.x.view(114, 9, 3)
    assert torch.allclose(patches.norm(dim=-1), torch.ones(114, 9, dtype=torch.float64))
    res = w.run_learning_curves(cfg, [0], progress_bar=False)
    assert res.mse["cnn"].shape == (1, 3, 3) and np.all(np.isfinite(res.mse["fc"]))
    assert res.mse["cnn"][0, -1, 0] < res.mse["cnn"][0, 0, 0]  # more data, lower error on the local target


def test_claim_values_and_baseline_swap():
    res = w.CurveResult(ns=np.array([10, 20]), seeds=[0])
    res.mse = {"cnn": np.array([[[0.5, 0.6, 0.7], [0.1, 0.3, 0.5]]]), "fc": np.array([[[0.6, 0.6, 0.7], [0.3, 0.4, 0.5]]])}
    cv = w.claim_values(res)
    assert np.allclose(cv["locality_advantage"], 3.0) and np.allclose(cv["local_vs_global"], 5.0)
    assert np.allclose(cv["global_advantage"], 1.0) and np.allclose(cv["advantage_gap"], 2.0)
    swap = w.claim_values(res, method="fc")
    assert np.allclose(swap["locality_advantage"], 1.0) and np.allclose(swap["advantage_gap"], 0.0)
    assert abs(w.fit_exponent(np.array([1, 2, 4, 8]), 3.0 * np.array([1, 2, 4, 8]) ** -0.7) - 0.7) < 1e-9


@pytest.mark.parametrize("change", [
    {"n_seeds": 0}, {"s": 1}, {"depth": 1}, {"ns": (64,)}, {"ns": (128, 64)}, {"ridge": -1.0},
    {"student": "cntk"}, {"s": 9, "depth": 4}, {"n_test": 0},
])
def test_bad_config_raises_parameter_error(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(w.PRESETS["small"], **change)


def test_bad_kernel_arguments_raise():
    with pytest.raises(ParameterError):
        w.tree_cnn_kernels(_x(2, 10), None, 3, 2)
    with pytest.raises(ParameterError):
        w.split_patches(_x(2, 10), 3)
