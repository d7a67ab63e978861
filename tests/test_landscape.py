"""Unit tests of featurelab.landscape: flat vectors, paths, barriers, weight matching (fast, seeded, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab import landscape as ls
from featurelab.models import mlp
from featurelab.run import ParameterError


def _net(seed: int = 0, sizes=(6, 5, 4, 3)):
    torch.manual_seed(seed)
    return mlp(list(sizes))


def _data(n: int = 40, d: int = 6, k: int = 3):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def test_flatten_unflatten_roundtrip_and_load():
    a, b = _net(0), _net(1)
    ta = ls.flatten(a)
    assert ta.shape == (sum(p.numel() for p in a.parameters()),)
    ls.load_flat(b, ta)
    assert torch.equal(ls.flatten(b), ta)
    parts = ls.unflatten(ta, a)
    assert set(parts) == {n for n, _ in a.named_parameters()}
    with pytest.raises(ParameterError, match="parameters"):
        ls.unflatten(ta[:-1], a)


def test_layer_slices_cover_the_vector_in_order():
    a = _net()
    sl = ls.layer_slices(a)
    assert list(sl) == ["features.1", "features.3", "head"]
    assert sl["features.1"] == slice(0, 6 * 5 + 5)
    assert list(sl.values())[-1].stop == ls.flatten(a).numel()


def test_barrier_and_midpoint_excess():
    ts = np.linspace(0, 1, 5)
    convex = (ts - 0.5) ** 2            # endpoints 0.25, chord 0.25, path below it
    assert ls.barrier(convex, ts) == 0.0
    assert ls.midpoint_excess(convex, ts) == pytest.approx(-0.25)
    bump = 1 + 4 * ts * (1 - ts)        # peak 2 at t = 1/2 over a chord at 1
    assert ls.barrier(bump, ts) == pytest.approx(1.0)
    assert ls.midpoint_excess(bump, ts) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="start at 0"):
        ls.barrier(bump[1:], ts[1:])
    with pytest.raises(ParameterError, match="t = 0.5"):
        ls.midpoint_excess(bump[:4], ts[:4] / ts[3])


def test_path_endpoints_match_the_networks_and_gradient_matches_autograd():
    a, b = _net(0), _net(1)
    x, y = _data()
    ta, tb = ls.flatten(a), ls.flatten(b)
    losses = ls.loss_along_path(a, ta, tb, x, y, [0.0, 0.5, 1.0])
    assert losses[0] == pytest.approx(F.cross_entropy(a(x), y).item(), abs=1e-6)
    assert losses[2] == pytest.approx(F.cross_entropy(b(x), y).item(), abs=1e-6)
    loss, g = ls.loss_and_grad(a, ta, x, y)
    F.cross_entropy(a(x), y).backward()
    ref = torch.cat([p.grad.reshape(-1) for p in a.parameters()])
    assert torch.allclose(g, ref, atol=1e-6) and loss == pytest.approx(losses[0], abs=1e-6)
    with pytest.raises(ParameterError, match="shape"):
        ls.interpolate(ta, tb[:-1], 0.5)


def test_permutation_keeps_the_function_and_matching_undoes_it():
    a = _net(0, sizes=(6, 8, 7, 3))
    x, _ = _data()
    ta = ls.flatten(a)
    g = torch.Generator().manual_seed(3)
    perms = [torch.randperm(8, generator=g), torch.randperm(7, generator=g)]
    tp = ls.permute_mlp(a, ta, perms)
    assert not torch.allclose(tp, ta)
    out_a = a(x)
    out_p = torch.func.functional_call(a, ls.unflatten(tp, a), (x,))
    assert torch.allclose(out_a, out_p, atol=1e-5)
    matched, _ = ls.weight_matching(a, ta, tp, sweeps=5)
    assert torch.allclose(matched, ta, atol=1e-6)   # a permuted copy is matched back exactly
    with pytest.raises(ParameterError, match="sweeps"):
        ls.weight_matching(a, ta, tp, sweeps=0)
    with pytest.raises(ParameterError, match="permutations"):
        ls.permute_mlp(a, ta, perms[:1])


def test_weight_matching_rejects_non_mlps():
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2, 2))
    with pytest.raises(ParameterError, match="MLP"):
        ls.weight_matching(conv, ls.flatten(conv), ls.flatten(conv))
