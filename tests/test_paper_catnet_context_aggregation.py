"""Unit tests of featurelab.papers.catnet_context_aggregation (Liu et al., CATNet): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import catnet_context_aggregation as cat
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(arm="unet"), dict(size=30), dict(size=16), dict(min_distance=25),
                                 dict(n_seeds=0), dict(lr=0.0), dict(bg_weight=0.0), dict(key_init="ones"),
                                 dict(steps=-1), dict(width=2),
                                 dict(landmark_width=3), dict(landmark_width=20), dict(key_lr=0.0),
                                 dict(key_lr=2.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(cat.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='unet'.*one of 'catnet'"):
        dataclasses.replace(cat.PRESETS["small"], arm="unet")


def test_context_aggregation_is_the_official_formula():
    torch.manual_seed(0)
    blk = cat.ContextAggregation(4, key_init="xavier")
    torch.nn.init.normal_(blk.m.weight)          # leave the identity start, to see the whole formula
    x = torch.randn(2, 4, 5, 6)
    a = torch.sigmoid(F.conv2d(x, blk.a.weight, blk.a.bias))                       # (N, 1, H, W)
    k = F.conv2d(x, blk.k.weight, blk.k.bias).flatten(1).softmax(1)                # (N, HW)
    v = F.conv2d(x, blk.v.weight, blk.v.bias).flatten(2)                           # (N, C, HW)
    ctx = (v * k[:, None]).sum(2)                                                  # Σ_p k_p v_p
    y = F.conv2d(ctx[:, :, None, None], blk.m.weight, blk.m.bias)
    assert torch.allclose(blk(x), x + y * a, atol=1e-5)
    assert torch.allclose(blk.keys(x).sum(1), torch.ones(2))


def test_context_aggregation_starts_as_identity_and_swaps():
    x = torch.randn(2, 4, 5, 6)
    for pooling in ("attention", "average"):
        assert torch.equal(cat.ContextAggregation(4, pooling)(x), x)   # W_m = 0
    avg = cat.ContextAggregation(4, "average")
    assert torch.allclose(avg.keys(x), torch.full((2, 30), 1 / 30))
    zero = cat.ContextAggregation(4)                                      # zero key init: uniform at the start
    assert torch.allclose(zero.keys(x), torch.full((2, 30), 1 / 30))
    one = cat.ContextAggregation(4, gate="one")
    torch.nn.init.normal_(one.m.weight)
    out = one(x)
    assert torch.allclose(out - x, (out - x)[:, :, :1, :1].expand_as(x), atol=1e-6)  # same vector everywhere
    with pytest.raises(ParameterError):
        cat.ContextAggregation(4, "max")


def test_dense_fpn_weights_and_formula():
    torch.manual_seed(1)
    L = 4
    net = cat.DenseFPN(2, levels=L).eval()
    assert [p.numel() for p in net.top_down_atts] == [3, 2]
    assert [p.numel() for p in net.bottom_up_atts] == [2, 3]
    assert torch.allclose(net.td_weights(0), torch.full((3,), 1 / 3))
    assert net.td_weights(2).tolist() == [1.0] and net.td_weights(3).numel() == 0
    # recompute level 0 of the top-down pass by hand: laterals of all coarser levels, softmax weights
    with torch.no_grad():
        net.top_down_atts[0].copy_(torch.tensor([0.5, -1.0, 2.0]))
    feats = [torch.randn(1, 2, 16 >> i, 16 >> i) for i in range(L)]
    lat = [c(f) for c, f in zip(net.lateral, feats)]
    w = torch.tensor([0.5, -1.0, 2.0]).softmax(0)
    up = lambda t: F.interpolate(t, size=(16, 16), mode="bilinear", align_corners=False)
    td0 = net.stage[0](F.relu(lat[0] + w[0] * up(lat[3]) + w[1] * up(lat[2]) + w[2] * up(lat[1])))
    td = [net.stage[i](F.relu(lat[i] + sum(net.td_weights(i)[j] * F.interpolate(
        lat[L - j - 1], size=lat[i].shape[2:], mode="bilinear", align_corners=False) for j in range(L - i - 1))))
        for i in range(L)]
    assert torch.allclose(td[0], td0, atol=1e-5)
    # bottom-up level 3: lateral + its top-down map + max-pooled finer top-down maps
    wb = net.bu_weights(3)
    b3 = net.stage[3 + L](F.relu(lat[3] + td[3] + sum(wb[j] * F.adaptive_max_pool2d(td[j], (2, 2)) for j in range(3))))
    out = net(feats)
    assert torch.allclose(out[3], b3, atol=1e-5)
    assert [tuple(o.shape) for o in out] == [tuple(f.shape) for f in feats]


def test_arms_build_and_match_in_size():
    cfg = cat.PRESETS["small"]
    sizes = {a: sum(p.numel() for p in cat.build(a, cfg).parameters()) for a in cat.ARMS}
    assert sizes["catnet"] == sizes["catnet_avg"]
    assert abs(sizes["dilated_fpn"] - sizes["catnet"]) / sizes["catnet"] < 0.03
    x = torch.rand(2, 3, cfg.size, cfg.size)
    for a in cat.ARMS:
        assert cat.build(a, cfg)(x).shape == (2, 4, cfg.size, cfg.size)


def test_key_lr_puts_only_scp_keys_in_their_own_group(monkeypatch):
    seen = {}
    monkeypatch.setattr(cat, "fit", lambda model, x, y, **kw: seen.update(kw))
    cfg = dataclasses.replace(cat.PRESETS["small"], key_lr=0.25, n_train=8, steps=1)
    train, _ = cat.load_data(cfg, 0)
    model = cat.build("catnet", cfg)
    cat.train_model(model, train, cfg, 0)
    groups = seen["optimizer"].param_groups
    assert [g["lr"] for g in groups] == [cfg.lr, cfg.lr * 0.25]
    keys = {id(p) for b in model.context.blocks for p in b.k.parameters()}
    assert {id(p) for p in groups[1]["params"]} == keys
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    cat.train_model(cat.build("fpn", cfg), train, cfg, 0)                 # no SCP: one group at lr
    assert [g["lr"] for g in seen["optimizer"].param_groups] == [cfg.lr]


def test_scores_on_perfect_and_swapped_predictions():
    cfg = cat.PRESETS["small"]
    _, test = cat.load_data(dataclasses.replace(cfg, n_train=8, n_test=6), 0)
    s = cat.scores(test.semantic, test)
    assert s["miou"] == 1.0 and s["swap_rate"] == 0.0 and s["recall"] == 1.0
    swapped = test.semantic.clone()
    swapped[test.semantic == cat.CAR] = cat.BOAT
    swapped[test.semantic == cat.BOAT] = cat.CAR
    s2 = cat.scores(swapped, test)
    assert s2["miou"] == 0.0 and s2["swap_rate"] == 1.0


def test_smoke_run_and_swaps_change_the_arm():
    cfg = dataclasses.replace(cat.PRESETS["small"], **cat.SMOKE)
    res = cat.run(cfg, [5], progress=False)
    v = cat.claim_values(res)
    assert len(v["gain_over_fpn"]) == 1
    for sw in cat.SWAPS:
        c = sw.apply(cfg)
        assert c.arm != cfg.arm
    null = dataclasses.replace(cfg, arm="fpn")
    assert cat.claim_values(cat.run(null, [5], progress=False))["gain_over_fpn"] == [0.0]  # zero by construction
