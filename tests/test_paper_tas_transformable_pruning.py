"""Unit tests of featurelab.papers.tas_transformable_pruning (Dong & Yang 2019, TAS): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch

from featurelab.papers import tas_transformable_pruning as tas
from featurelab.pruning import channel_interp
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


TINY = dict(n_samples=500, max_widths=(10, 10, 10, 10), teacher_steps=5, search_steps=6, warmup=2,
            retrain_steps=4, n_seeds=1)


@pytest.mark.parametrize("bad", [dict(flop_ratio=0.0), dict(flop_ratio=1.5), dict(arm="magnitude"),
                                 dict(kd_alpha=1.2), dict(max_widths=(2, 16, 16, 16)), dict(kernels=(3, 3)),
                                 dict(pool_after=4), dict(warmup=200), dict(tau_min=20.0), dict(n_seeds=0),
                                 dict(flop_weight=-1.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(tas.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='magnitude'.*one of 'tas'"):
        dataclasses.replace(tas.PRESETS["small"], arm="magnitude")


def test_flops_by_hand_and_layer_costs_are_unequal():
    cfg = tas.PRESETS["small"]
    assert cfg.positions() == (40, 40, 10, 10)
    w = (7, 9, 12, 24)
    want = 5 * 40 * 1 * 7 + 5 * 40 * 7 * 9 + 3 * 10 * 9 * 12 + 3 * 10 * 12 * 24 + 24 * 10 * 10
    assert tas.flops(cfg, w) == want
    # a channel of the second layer (full length, k = 5) costs ~6.7× one of the last (after the pool, k = 3)
    assert (5 * 40) / (3 * 10) > 6
    net = tas.PrunedNet(cfg, w)
    macs = sum(m.weight.numel() * p for m, p in zip([m for m in net.body if isinstance(m, torch.nn.Conv1d)],
                                                    cfg.positions())) + net.head.weight.numel()
    assert macs == want                                       # the counter agrees with the built network


def test_search_forward_is_the_cwi_mix_of_two_sampled_widths():
    cfg = dataclasses.replace(tas.PRESETS["small"], max_widths=(10, 10, 10, 10))
    torch.manual_seed(0)
    net = tas.SearchNet(cfg).eval()
    x = torch.randn(3, 40)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out = net(x, 1.0, g1)
    assert out.shape == (3, 10)
    # recompute layer 1 by hand with the same draw
    from featurelab.pruning import gumbel_top_k
    idx, p = gumbel_top_k(net.alpha, 1.0, 2, g2)
    h = net.convs[0](x[:, None])
    ws = [net.choices[0][j] for j in idx[0].tolist()]
    outs = [net.bns[0][j](h[:, :w]) for j, w in zip(idx[0].tolist(), ws)]
    want = torch.relu(p[0, 0] * channel_interp(outs[0], max(ws)) + p[0, 1] * channel_interp(outs[1], max(ws)))
    assert torch.allclose(net.layer(0, x[:, None], idx[0], p[0]), want)
    assert want.shape[1] == max(ws)
    narrow = net.layer(1, want, idx[1], p[1])                 # a narrower input is zero-filled to the conv's width
    assert narrow.shape[1] == max(net.choices[1][j] for j in idx[1].tolist())
    # expected widths are the softmax-weighted candidates
    with torch.no_grad():
        net.alpha.zero_()
        net.alpha[:, -1] = 50.0
    assert net.argmax_widths() == (10, 10, 10, 10)
    assert all(abs(e.item() - 10) < 1e-6 for e in net.expected_widths())


def test_l1_init_copies_the_largest_filters():
    cfg = tas.PRESETS["small"]
    torch.manual_seed(1)
    teacher = tas.PrunedNet(cfg, cfg.max_widths)
    student = tas.l1_init(tas.PrunedNet(cfg, (12, 12, 12, 12)), teacher)
    t0 = teacher.body[0].weight
    keep = torch.sort(torch.topk(t0.abs().sum((1, 2)), 12).indices).values
    assert torch.equal(student.body[0].weight, t0[keep])
    x = torch.randn(4, 40)
    assert student(x).shape == (4, 10)


def test_baseline_widths_match_the_budget():
    cfg = tas.PRESETS["small"]
    searched = (14, 12, 12, 21)
    budget = tas.flops(cfg, searched)
    uni = tas.arm_widths(dataclasses.replace(cfg, arm="uniform"), searched, 0)
    assert len(set(uni)) == 1 and tas.flops(cfg, uni) >= budget
    smaller = tuple(w - 1 for w in uni)
    assert tas.flops(cfg, smaller) < budget                   # the cheapest uniform net with ≥ the budget
    rnd = tas.arm_widths(dataclasses.replace(cfg, arm="random"), searched, 0)
    assert all(w in c for w, c in zip(rnd, cfg.choices()))
    assert abs(tas.flops(cfg, rnd) / budget - 1) < 0.05
    assert tas.arm_widths(cfg, searched, 0) == searched


def test_run_end_to_end_tiny_seeded_and_swaps():
    cfg = dataclasses.replace(tas.PRESETS["small"], **TINY)
    res = tas.run(cfg, [7], progress=False)
    assert res.per_seed[0].source == "trained"
    assert res.per_seed[0].search.probs.shape == (6, 4, 8)
    again = tas.run(cfg, [7], progress=False)
    assert again.per_seed[0].source == "cache"
    assert tas.claim_values(res) == tas.claim_values(again)   # seeded
    values = tas.claim_values(res)
    assert {c.key for c in tas.CLAIMS} <= set(values)
    names = {c.name for c in tas.CLAIMS}
    for swap in tas.SWAPS:
        sw = swap.apply(cfg)
        assert sw.teacher() == cfg.teacher(), swap.name        # every arm distils the same cached teacher
        assert set(swap.breaks) <= names
    uni = tas.run(dataclasses.replace(cfg, arm="uniform"), [7], progress=False)
    assert tas.claim_values(uni)["last_width_ratio"] == [1.0]
    with pytest.raises(ParameterError):
        tas.run(cfg, [])
