"""Unit tests of featurelab.papers.lmc_landscape (Singh et al. 2024): fast, seeded, CPU only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from featurelab import landscape as ls
from featurelab.data import Split
from featurelab.papers import lmc_landscape as lmc
from featurelab.run import ParameterError


TINY = lmc.Config(n_train=200, n_test=100, size=6, hidden=(16, 16), spawn_steps=(0, 20), child_steps=30,
                  n_points=5, wm_sweeps=2, n_seeds=1)


def _tiny_data(cfg: lmc.Config = TINY) -> Split:
    g = torch.Generator().manual_seed(0)
    mk = lambda n: (torch.rand(n, 1, cfg.size, cfg.size, generator=g), torch.randint(0, 10, (n,), generator=g))
    (xa, ya), (xb, yb) = mk(cfg.n_train), mk(cfg.n_test)
    return Split(xa, ya, xb, yb, classes=tuple(str(i) for i in range(10)))


@pytest.fixture(scope="module")
def tiny_run():
    return lmc.run(TINY, [0], data=_tiny_data(), progress=False)


def test_hermite_estimate_is_exact_for_a_cubic_profile():
    # phi(t) = a + b t + c t^2 + d t^3 along a 1-d "network": B_mid = phi(1/2) - (phi(0) + phi(1))/2
    a, b, c, d = 0.3, -0.2, 1.5, -0.7
    phi = lambda t: a + b * t + c * t**2 + d * t**3
    dphi = lambda t: b + 2 * c * t + 3 * d * t**2
    delta = torch.tensor([1.0])
    est = lmc.hermite_estimate(torch.tensor([dphi(0.0)]), torch.tensor([dphi(1.0)]), delta)
    assert est == pytest.approx(phi(0.5) - (phi(0.0) + phi(1.0)) / 2, abs=1e-7)


def test_layer_scope_changes_only_that_layer():
    net = lmc.make_model(TINY, 0)
    ta, tb = ls.flatten(net), ls.flatten(lmc.make_model(TINY, 1))
    part = ls.layer_slices(net)["features.3"]
    end = lmc.path_scope(ta, tb, part)
    assert torch.equal(end[part], tb[part])
    mask = torch.ones_like(ta, dtype=torch.bool)
    mask[part] = False
    assert torch.equal(end[mask], ta[mask])
    assert lmc.path_scope(ta, tb, None) is tb


def test_ensemble_round_trip_and_sgd_matches_a_single_network():
    net = lmc.make_model(TINY, 3)
    theta = ls.flatten(net)
    ens = lmc.to_ensemble(net, [theta, theta.clone()])
    assert torch.equal(lmc.from_ensemble(ens, 1), theta)
    data = _tiny_data()
    x = data.x_train[:7]
    assert torch.allclose(ens(x.flatten(1))[0], net(x), atol=1e-6)
    # members trained together with different data orders = each trained alone
    lmc.sgd_steps(ens, data, 5, TINY, [11, 12])
    alone = lmc.to_ensemble(net, [theta])
    lmc.sgd_steps(alone, data, 5, TINY, [12])
    assert torch.allclose(lmc.from_ensemble(ens, 1), lmc.from_ensemble(alone, 0), atol=1e-6)
    assert not torch.allclose(lmc.from_ensemble(ens, 0), lmc.from_ensemble(ens, 1))


def test_run_produces_every_pair_and_scope_and_claim_values(tiny_run):
    res = tiny_run
    assert res.pairs == ["k=0", "k=20", "indep", "indep+wm"]
    assert len(res.rows) == 4 * 4   # pairs × (net + 3 layers)
    row = res.get(0, "indep", "net")
    assert row["losses"].shape == (5,) and row["B"] >= 0
    v = lmc.claim_values(res)
    assert set(v) >= {c.key for c in lmc.CLAIMS} and all(len(x) == 1 for x in v.values())
    # same init and same data order would give identical children: the k=0 spawn differs only by data order
    assert res.get(0, "k=0")["dist2"] > 0


def test_swaps_switch_the_mechanisms_off():
    data = _tiny_data()
    model = lmc.make_model(TINY, 0)
    ta, tb = ls.flatten(model), ls.flatten(lmc.make_model(TINY, 1))
    assert torch.equal(lmc.align(model, ta, tb, dataclasses.replace(TINY, matching="none"), 0), tb)  # identity
    same = lmc.run(dataclasses.replace(TINY, independent=False), [0], data=data, progress=False)
    # with the same init, "indep" is child A vs a child B that repeats child B of the k=0 spawn exactly
    assert torch.isclose(torch.tensor(same.get(0, "indep")["B_mid"]), torch.tensor(same.get(0, "k=0")["B_mid"]))
    # a random permutation preserves the function (same endpoint loss) but is not the matched one
    rnd = lmc.run(dataclasses.replace(TINY, matching="random"), [0], data=data, progress=False)
    r, i = rnd.get(0, "indep+wm"), rnd.get(0, "indep")
    assert r["losses"][-1] == pytest.approx(i["losses"][-1], abs=1e-5) and r["dist2"] != i["dist2"]
    base = lmc.PRESETS["small"]
    for swap in lmc.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert len(changed) == 1 and changed <= {"independent", "matching"}


@pytest.mark.parametrize("bad, match", [
    ({"spawn_steps": (25, 100)}, "include 0"),
    ({"spawn_steps": (0, 100, 50)}, "increasing"),
    ({"n_points": 10}, "odd"),
    ({"hidden": 128}, "tuple"),
    ({"lr": 0.0}, "LR"),
    ({"size": 40}, r"SIZE=40 .* \[4, 28\]"),
    ({"n_seeds": 0}, "N_SEEDS"),
    ({"wm_sweeps": 0}, "WM_SWEEPS"),
    ({"matching": "greedy"}, "MATCHING"),
])
def test_bad_config_fails_at_once(bad, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(TINY, **bad)


def test_presets_are_valid_and_ts_contain_the_midpoint():
    for cfg in lmc.PRESETS.values():
        assert np.isclose(cfg.ts, 0.5).any()


def test_claims_use_keys_that_claim_values_provides(tiny_run):
    res = tiny_run
    v = lmc.claim_values(res)
    for c in lmc.CLAIMS:
        assert c.key in v and v[c.key].shape == (1,)
    # the rank claim reads the predictor the config names
    other = lmc.Result(dataclasses.replace(TINY, estimator="distance"), res.seeds, res.rows, res.layers)
    assert lmc.claim_values(other)["rank_net"][0] == pytest.approx(lmc.rank_agreement(res, 0, "dist2", "net"))
