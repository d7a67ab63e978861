"""Unit tests of featurelab.papers.reprogram_lottery_tickets (Misra et al. 2023): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from featurelab.papers import reprogram_lottery_tickets as rlt
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(pruning="magnitude"), dict(mapping="hungarian"), dict(target="cifar"),
                                 dict(target_size=16), dict(target_size=7), dict(prune_frac=1.0),
                                 dict(shots=0), dict(shots=100, full_per_class=50), dict(n_seeds=0),
                                 dict(vp_lr=0.0), dict(epochs=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(rlt.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"PRUNING='magnitude'.*one of 'imp'"):
        dataclasses.replace(rlt.PRESETS["small"], pruning="magnitude")


def test_ece_is_the_standard_binned_formula():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(500, 10, generator=g)
    y = torch.randint(0, 10, (500,), generator=g)
    probs = torch.softmax(logits, 1)
    conf, pred = probs.max(1)
    want = 0.0
    edges = np.linspace(0, 1, 16)
    for lo, hi in zip(edges[:-1], edges[1:]):
        inb = (conf > lo) & (conf <= hi)
        if inb.any():
            want += inb.float().mean().item() * abs((pred[inb] == y[inb]).float().mean().item() - conf[inb].mean().item())
    assert rlt.ece(probs, y) == pytest.approx(want, abs=1e-6)
    onehot = F.one_hot(y, 10).float()                      # perfectly confident and right: ECE 0
    assert rlt.ece(onehot, y) == 0.0
    c, a, n = rlt.reliability(probs, y)
    assert n.sum() == 500 and np.nansum(n * np.abs(a - c)) / 500 == pytest.approx(want, abs=1e-6)


def test_greedy_mapping_is_one_to_one_and_takes_the_largest_counts_first():
    counts = torch.tensor([[9., 8., 0.], [0., 7., 1.], [5., 0., 2.]])   # rows: source, columns: target
    lm = rlt.greedy_mapping(counts)
    assert lm.tolist() == [0, 1, 2]                                    # 9 → (s0,t0); then 7 → (s1,t1); (s2,t2)
    g = torch.Generator().manual_seed(1)
    lm = rlt.greedy_mapping(torch.rand(10, 10, generator=g))
    assert sorted(lm.tolist()) == list(range(10))


def test_visual_prompt_only_touches_the_frame_and_starts_at_half():
    mask = rlt.frame_mask(16, 8)
    assert int(mask.sum()) == 16 * 16 - 8 * 8
    vp = rlt.VisualPrompt(mask)
    x = rlt.pad(torch.rand(3, 1, 8, 8), 16)
    out = vp(x)
    assert torch.equal(out[..., 4:12, 4:12], x[..., 4:12, 4:12])
    assert torch.allclose(out[..., :4, :], torch.full_like(out[..., :4, :], 0.5))


def test_global_magnitude_pruning_removes_the_smallest_survivors():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    signs = torch.tensor([1., -1.]).repeat(8)
    with torch.no_grad():
        net[0].weight.copy_((0.37 * torch.arange(1, 17.) * signs).view(4, 4))     # distinct magnitudes
        net[1].weight.copy_(torch.tensor([[0.1, 20., 0.0, 3.], [4., 5., 6., 7.]]))
    masks = rlt.global_magnitude_masks(net, 0.5)
    kept = torch.cat([m.flatten() for m in masks])
    assert int(kept.sum()) == 11                  # 23 survivors (one weight is already 0), the 12 smallest go
    assert masks[1].tolist() == [[0., 1., 0., 0.], [1., 1., 1., 1.]]
    assert masks[0].flatten().tolist() == [0.] * 10 + [1.] * 6                # |w| > 3.7 survive (11·0.37 …)
    g = torch.Generator().manual_seed(0)
    rmask = rlt.random_masks(net, 0.5, g)
    assert int(torch.cat([m.flatten() for m in rmask]).sum()) == 11 and rmask[1][0, 2] == 0


def test_render_and_target_task():
    x, y = rlt.printed_digits(40, 8, seed=0)
    assert x.shape == (40, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(torch.bincount(y, minlength=10), torch.full((10,), 4))
    x2, _ = rlt.printed_digits(40, 8, seed=0)
    assert torch.equal(x, x2)


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(rlt.PRESETS["small"], **rlt.SMOKE)
    res = rlt.run(cfg, [7], progress=False)
    assert res.ref[0].source == "trained" and res.arm[0].source == "trained"
    assert res.arm[0].sparsity == pytest.approx(0.5, abs=0.01) and res.ref[0].sparsity < 0.01
    again = rlt.run(cfg, [7], progress=False)
    assert again.ref[0].source == "cache" and again.arm[0].source == "cache"
    v, v2 = rlt.claim_values(res), rlt.claim_values(again)
    assert v == v2
    assert {c.key for c in rlt.CLAIMS} <= set(v) and len(v["ece_gap"]) == 1
    ctrl = rlt.run(dataclasses.replace(cfg, pruning="none"), [7], progress=False)
    assert rlt.claim_values(ctrl)["ece_gap"] == [0.0]              # the control against itself: zero by construction
    with pytest.raises(ParameterError):
        rlt.run(cfg, [])


def test_swaps_change_only_what_they_say():
    base = rlt.PRESETS["small"]
    names = {c.name for c in rlt.CLAIMS}
    for swap in rlt.SWAPS:
        cfg = swap.apply(base)
        assert set(swap.breaks) <= names
        diff = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert diff and diff <= {"pruning", "arm_seed_offset", "mapping", "target"}, swap.name
        assert cfg.source() == base.source()                         # every arm reuses the cached dense pre-training
