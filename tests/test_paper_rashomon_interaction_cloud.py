"""Unit tests of featurelab.papers.rashomon_interaction_cloud (Li et al., ICLR 2024): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest

from featurelab.papers import rashomon_interaction_cloud as rc
from featurelab.run import ParameterError

TINY = dict(n_seeds=1, n_mask_seeds=1, n_train=300, n_val=200, n_members=3, hidden=8, steps=20, n_perms=1,
            mask_steps=20)


@pytest.mark.parametrize("bad", [dict(n_seeds=0), dict(eps=0.0), dict(eps=2.0), dict(copy_corr=1.0),
                                 dict(copy_shared=2), dict(n_members=1), dict(radius_grid=(0.4, 0.2)),
                                 dict(radius_grid=(1.5,)), dict(n_mask_seeds=3)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(rc.PRESETS["small"], **bad)


def test_swap_changes_only_the_copy():
    base = rc.PRESETS["small"]
    (swap,) = rc.SWAPS
    cfg = swap.apply(base)
    changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
    assert changed == {"copy_shared"} and set(swap.breaks) == {c.name for c in rc.CLAIMS}


def test_generator_copy_and_independent_copy():
    x, y = rc.make_redundant_data(20000, 0.95, True, seed=0)
    c = np.corrcoef(x.numpy().T)
    assert c[1, 5] == pytest.approx(0.95, abs=0.01) and abs(c[0, 1]) < 0.03
    xi, yi = rc.make_redundant_data(20000, 0.95, False, seed=0)
    assert abs(np.corrcoef(xi.numpy().T)[1, 5]) < 0.03
    assert np.allclose(x[:, :5].numpy(), xi[:, :5].numpy()) and np.allclose(y.numpy(), yi.numpy())  # only x5 differs
    with pytest.raises(ParameterError):
        rc.make_redundant_data(10, 1.0, True, seed=0)


def test_run_end_to_end_tiny_and_seeded():
    cfg = dataclasses.replace(rc.PRESETS["small"], **TINY)
    res = rc.run(cfg, [3], progress=False)
    again = rc.run(cfg, [3], progress=False)
    v, w = rc.claim_values(res), rc.claim_values(again)
    assert {c.key for c in rc.CLAIMS} <= set(v) and v == w
    red, m = res.red[0], res.masks[0]
    assert red.fis.shape == (3, len(rc.RED_PAIRS)) and red.keep.any() and red.keep[np.argmin(red.losses)]
    assert m.pair in m.pairs and m.budget > 36 and 0 <= m.combo_outside <= 1
    assert np.all(np.isfinite(m.greedy_fis)) and m.width_greedy >= 0 and m.swarm.shape[1] == 45
    assert set(m.random_fis) == set(cfg.radius_grid)
    with pytest.raises(ParameterError, match="seeds"):
        rc.run(cfg, [1, 2])


def test_independent_copy_run_reuses_one_experiment():
    cfg = dataclasses.replace(rc.PRESETS["small"], copy_shared=0, **TINY)
    res = rc.run(cfg, [0], progress=False)
    assert res.red[0] is res.red_indep[0]
