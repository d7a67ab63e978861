"""Unit tests of featurelab.papers.optfs (OptFS gated FM, continuation search, baselines). Fast and seeded."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import optfs
from featurelab.base import ParameterError

TINY = dataclasses.replace(optfs.PRESETS["small"], n_seeds=1, n_rows=2000, dim=4, search_epochs=3,
                           retrain_epochs=1, lam_sweep=(1e-3,), batch_size=1000, lam=1e-3)


def test_gates_start_at_one_and_penalty_counts_sigmoids():
    m = optfs.GatedFM(10, 4)
    m.mode = "soft"
    assert torch.allclose(m.gates(), torch.ones(10))
    assert m.penalty().item() == pytest.approx(10 * torch.sigmoid(torch.tensor(0.5)).item())
    m.mode = "none"
    assert torch.equal(m.gates(), torch.ones(10))


def test_closed_gate_removes_value_from_linear_and_interaction_terms():
    torch.manual_seed(0)
    m = optfs.GatedFM(6, 3)
    with torch.no_grad():
        m.lin.weight.normal_()
    m.mode = "hard"
    m.mask.copy_(torch.tensor([1.0, 0, 1, 1, 1, 1]))
    x = torch.tensor([[0, 1, 2]])
    # reference: FM over the kept values only
    e, w = m.emb.weight, m.lin.weight[:, 0]
    ref = m.bias + w[0] + w[2] + (e[0] * e[2]).sum()
    assert torch.allclose(m(x), ref, atol=1e-6)


def test_fm_interaction_matches_pairwise_sum():
    torch.manual_seed(1)
    m = optfs.GatedFM(8, 4)
    x = torch.tensor([[0, 3, 5, 7]])
    e = m.emb.weight[x[0]]
    pair = sum((e[i] * e[j]).sum() for i in range(4) for j in range(i + 1, 4))
    assert torch.allclose(m(x), m.bias + pair, atol=1e-5)  # linear weights start at zero


def test_field_gate_penalty_counts_every_value_behind_the_gate():
    m = optfs.GatedFM(5, 2, gate_of=np.array([0, 0, 1, 1, 1]))
    m.mode = "soft"
    s = torch.sigmoid(torch.tensor(0.5)).item()
    assert m.penalty().item() == pytest.approx(5 * s)  # the same price as five value gates


def test_hard_mask_is_sign_of_mask_logit_and_field_gates_are_shared():
    m = optfs.GatedFM(5, 2, gate_of=np.array([0, 0, 1, 1, 1]))
    with torch.no_grad():
        m.mask_logit.copy_(torch.tensor([-0.1, 0.2]))
    assert torch.equal(m.hard_mask(), torch.tensor([0.0, 1.0]))
    m.mode = "soft"
    g = m.gates()[m.gate_of]
    assert g[0] == g[1] and g[2] == g[4]


def test_beta_schedule_is_exponential_from_one_to_final():
    assert optfs.beta_schedule(0, 10, 200.0) == pytest.approx(1.0)
    assert optfs.beta_schedule(9, 10, 200.0) == pytest.approx(200.0)
    assert optfs.beta_schedule(3, 7, 64.0) == pytest.approx(8.0)


def test_frequency_mask_keeps_most_frequent():
    mask = optfs.frequency_mask(np.array([5, 1, 9, 0, 7]), 2)
    assert mask.tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]


def test_planted_values_and_counts():
    log = optfs.make_log(2000, 0)
    planted = optfs.planted_values(log)
    assert planted.shape == (log.cardinalities.sum(),)
    kinds = log.kinds()
    expected = sum(f.cardinality for f, k in zip(log.fields, kinds) if k in ("informative", "interaction"))
    assert planted.sum() == expected
    assert optfs.value_counts(log.x, log.cardinalities).sum() == log.x.size


def test_search_polarises_gates_and_run_seed_is_seeded():
    r1 = optfs.run_seed(TINY, 3, sweep=True)
    assert r1.history.shape == (TINY.search_epochs, r1.planted.size)
    mid = ((r1.history > 0.05) & (r1.history < 0.95)).mean(axis=1)
    assert mid[-1] < mid[0]  # continuation drives gates to 0 or 1
    assert r1.kept["frequency"] == r1.kept["method"]
    assert set(r1.auc) >= {"method", "full", "frequency"}
    assert list(r1.sweep) == [TINY.lam] and r1.sweep[TINY.lam]["kept"] == r1.kept["method"]
    assert list(r1.field_sweep) == [TINY.lam]  # the value-vs-field contrast
    vals = optfs.claim_values(optfs.Result(TINY, [r1]))
    assert {c.key for c in optfs.CLAIMS} <= set(vals)


def test_swaps_are_config_changes_and_the_frequency_row_is_zero():
    sw = {s.name: s for s in optfs.SWAPS}
    assert sw["frequency"].kind == "sanity"
    assert sw["field_gates"].apply(TINY).selector == "field"
    res = optfs.run(sw["frequency"].apply(TINY), [3], progress=False)
    vals = optfs.claim_values(res)
    assert vals["optfs_precision_vs_frequency"] == [0.0] and vals["optfs_recall_vs_frequency"] == [0.0]
    rnd = optfs.run(sw["random_values"].apply(TINY), [3], progress=False).seeds[0]
    assert rnd.kept["method"] == rnd.kept["frequency"]  # random values at the method's count
    fld = optfs.run(sw["field_gates"].apply(TINY), [3], progress=False).seeds[0]
    kept_fields = {bool(v) for v in fld.masks["method"]}
    assert kept_fields <= {True, False} and fld.masks["method"].shape == fld.planted.shape


def test_search_is_seeded_and_rewinds_to_saved_weights():
    x = torch.randint(0, 30, (400, 3))
    y = (x[:, 0] < 10).float()

    def one():
        torch.manual_seed(0)
        m = optfs.GatedFM(30, 2)
        init = {k: v.clone() for k, v in m.state_dict().items()}
        s = optfs.search(m, x, y, dataclasses.replace(TINY, rewind_epoch=0), 1e-3, torch.Generator().manual_seed(0))
        return m, s, init

    (m1, s1, init), (m2, s2, _) = one(), one()
    assert torch.equal(s1.mask, s2.mask) and torch.equal(m1.mask_logit, m2.mask_logit)
    assert torch.equal(s1.rewind["emb.weight"], init["emb.weight"])  # rewind_epoch = 0: the initial weights
    optfs.retrain(m1, s1.mask, x, y, TINY, torch.Generator().manual_seed(0), rewind=s1.rewind)
    assert m1.mode == "hard" and torch.equal(m1.mask, s1.mask)


@pytest.mark.parametrize("change", [dict(n_rows=10), dict(dim=0), dict(beta_final=0.5), dict(lam=-1.0),
                                    dict(lam_sweep=()), dict(rewind_epoch=6), dict(lr=-1.0), dict(n_seeds=0), dict(selector="magic"),
                                    dict(weight_decay=-1.0)])
def test_bad_config_raises(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(optfs.PRESETS["small"], **change)
