"""Unit tests of featurelab.papers.wide_cnn_kernel_locality (Cagnetta, Favero & Wyart 2023): fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.kernels import kappa0, kappa1, normalize_rows
from featurelab.papers import wide_cnn_kernel_locality as w
from featurelab.base import ParameterError


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
    res = w.run(cfg, [0], progress=False)
    assert res.kernel == {"method": "cnn", "baseline": "fc"}
    assert res.mse["method"].shape == (1, 3, 3) and np.all(np.isfinite(res.mse["baseline"]))
    assert res.mse["method"][0, -1, 0] < res.mse["method"][0, 0, 0]  # more data, lower error on the local target


def test_claim_values():
    res = w.CurveResult(ns=np.array([10, 20, 40, 80]), seeds=[0])
    m = np.ones((1, 4, 3)); b = np.ones((1, 4, 3))
    m[0, -1] = [0.1, 0.3, 0.5]; b[0, -1] = [0.3, 0.4, 0.5]
    res.mse = {"method": m, "baseline": b}
    cv = w.claim_values(res)
    assert np.allclose(cv["locality_advantage"], 3.0) and np.allclose(cv["local_vs_global"], 5.0)
    assert np.allclose(cv["global_advantage"], 1.0) and np.allclose(cv["advantage_gap"], 2.0)
    assert cv["beta_leaf_method_minus_baseline"][0] > 0  # the method's leaf curve falls further
    assert abs(w.fit_exponent(np.array([1, 2, 4, 8]), 3.0 * np.array([1, 2, 4, 8]) ** -0.7) - 0.7) < 1e-9


def _tiny(method):
    cfg = dataclasses.replace(w.PRESETS["small"], ns=(16, 32, 64), n_test=40, n_seeds=1, method=method)
    return w.claim_values(w.run(cfg, [3], progress=False))


def test_swaps_change_only_the_method_kernel():
    swaps = {s.name: s for s in w.SWAPS}
    assert swaps["fc_as_method"].kind == "sanity" and swaps["cnn_shuffled_inputs"].kind == "mechanism"
    same = _tiny("fc")  # the baseline compared with itself: exactly 1 and 0
    assert np.allclose(same["locality_advantage"], 1.0) and np.allclose(same["advantage_gap"], 0.0)
    shuffled = _tiny("cnn_shuffled")  # a tree kernel that no longer lines up with the target's patch
    assert not np.allclose(shuffled["locality_advantage"], _tiny("cnn")["locality_advantage"])


def test_shuffled_kernel_is_the_tree_kernel_of_permuted_inputs():
    cfg = dataclasses.replace(w.PRESETS["small"], ns=(8, 16), n_test=8, method="cnn_shuffled")
    task, kern = w.make_task(cfg, seed=1)
    k = w.method_kernel(cfg, task, kern, seed=1)
    assert k.shape == kern.nngp.shape and torch.allclose(k, k.T)
    assert not torch.allclose(k, kern.nngp)
    assert torch.allclose(torch.diagonal(k), torch.ones(len(k), dtype=k.dtype))


@pytest.mark.parametrize("change", [
    {"n_seeds": 0}, {"s": 1}, {"depth": 1}, {"ns": (64,)}, {"ns": (128, 64)}, {"ridge": -1.0},
    {"student": "cntk"}, {"s": 9, "depth": 4}, {"n_test": 0}, {"method": "rbf"}, {"fc_depth": 0},
])
def test_bad_config_raises_parameter_error(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(w.PRESETS["small"], **change)


def test_bad_kernel_arguments_raise():
    with pytest.raises(ParameterError):
        w.tree_cnn_kernels(_x(2, 10), None, 3, 2)
    with pytest.raises(ParameterError):
        w.split_patches(_x(2, 10), 3)
