"""Unit tests of featurelab.papers.cmp_conditional_motion_propagation (Zhan et al. 2019): fast, seeded, CPU only."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from featurelab.layers import binned_flow_loss, flow_to_bins
from featurelab.papers import cmp_conditional_motion_propagation as cmp
from featurelab.run import ParameterError

TINY = dict(size=16, n_frames=3, n_train_videos=2, n_probe_videos=1, n_test_videos=1, train_steps=2, width=4,
            dec_width=4)


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv("FEATURELAB_PROGRESS", "0")


@pytest.mark.parametrize("bad", [dict(k_guides=0), dict(k_guides=600), dict(edge_weight=1.5), dict(arm="imagenet"),
                                 dict(n_bins=2), dict(fmax=0.0), dict(fmax=2.0), dict(size=8), dict(n_seeds=0),
                                 dict(train_steps=-1), dict(lr=0.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(cmp.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='imagenet'.*one of 'guided'"):
        dataclasses.replace(cmp.PRESETS["small"], arm="imagenet")
    with pytest.raises(ParameterError, match="FMAX"):
        dataclasses.replace(cmp.PRESETS["small"], fmax=2.0)


def test_binned_loss_is_the_discrete_loss_formula():
    """CE over x bins plus CE over y bins (their mean), bins = ⌊(clamp(f) + fmax) / step⌋ as the official code."""
    g = torch.Generator().manual_seed(0)
    flow = torch.randn(2, 2, 4, 4, generator=g) * 2
    logits = torch.randn(2, 2 * 15, 4, 4, generator=g)
    step = 2 * 3.0 / 15
    bins = torch.floor((flow.clamp(-3 + 1e-3, 3 - 1e-3) + 3.0) / step).long()
    assert torch.equal(flow_to_bins(flow, 15, 3.0), bins)
    want = (F.cross_entropy(logits[:, :15], bins[:, 0]) + F.cross_entropy(logits[:, 15:], bins[:, 1])) / 2
    assert torch.allclose(binned_flow_loss(logits, flow, 3.0), want, atol=1e-6)
    # 15 bins over ±3: zero flow is the centre of bin 7
    assert int(flow_to_bins(torch.zeros(1, 2, 1, 1), 15, 3.0)[0, 0, 0, 0]) == 7


def test_densify_is_normalised_convolution():
    sparse = torch.zeros(1, 2, 9, 9)
    mask = torch.zeros(1, 1, 9, 9)
    sparse[0, :, 4, 4] = torch.tensor([1.5, -0.5])
    mask[0, 0, 4, 4] = 1.0
    d = cmp.densify(sparse, mask, (1.0,))
    assert d.shape == (1, 3, 9, 9)
    t = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-t ** 2 / 2)
    g = g / g.sum()                                       # the 1-D kernel (radius 3σ, normalised)
    for y, x in ((4, 4), (5, 3), (2, 4)):
        w = g[y - 4 + 3] * g[x - 4 + 3]                   # G_σ * M at (y, x)
        want = torch.tensor([1.5, -0.5]) * w / (w + 1e-3)
        assert torch.allclose(d[0, :2, y, x], want, atol=1e-5)
        assert torch.isclose(d[0, 2, y, x], torch.clamp(w * 2 * math.pi, max=1.0), atol=1e-5)
    assert torch.count_nonzero(cmp.densify(torch.zeros(1, 2, 9, 9), torch.zeros(1, 1, 9, 9))) == 0


def test_nearest_guide_copies_the_nearest_guide():
    flow = torch.zeros(1, 2, 5, 5)
    flow[0, 0, 0, 0], flow[0, 0, 4, 4] = 1.0, -2.0
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 0, 0] = mask[0, 0, 4, 4] = 1.0
    out = cmp.nearest_guide_flow(flow, mask)
    assert out[0, 0, 1, 0] == 1.0 and out[0, 0, 3, 4] == -2.0 and out[0, 1].abs().sum() == 0
    assert torch.equal(cmp.nearest_guide_flow(flow, torch.zeros_like(mask)), torch.zeros_like(flow))


def test_flip_pair_negates_the_flipped_axis():
    grey = torch.arange(16.0).view(1, 1, 4, 4)
    flow = torch.stack([torch.ones(4, 4), 2 * torch.ones(4, 4)])[None]
    g, f = cmp.flip_pair(grey, flow, True, False)
    assert torch.equal(g, grey.flip(-1)) and torch.all(f[:, 0] == -1) and torch.all(f[:, 1] == 2)
    g, f = cmp.flip_pair(grey, flow, False, True)
    assert torch.equal(g, grey.flip(-2)) and torch.all(f[:, 0] == 1) and torch.all(f[:, 1] == -2)


def test_network_shapes_and_sparse_only_ignores_the_image():
    net = cmp.CMPNet(4, 4, 15, 3.0, use_image=False)
    g = torch.Generator().manual_seed(1)
    grey = torch.rand(2, 1, 12, 12, generator=g)
    sparse, mask = torch.zeros(2, 2, 12, 12), torch.zeros(2, 1, 12, 12)
    out = net(grey, sparse, mask)
    assert out.shape == (2, 30, 12, 12)
    assert torch.allclose(out, net(torch.rand(2, 1, 12, 12, generator=g), sparse, mask))
    torch.manual_seed(0)
    full = cmp.CMPNet(8, 8, 15, 3.0)
    assert not torch.allclose(full(grey, sparse, mask), full(grey.flip(-1), sparse, mask))


def test_miou_and_probe_on_oracle_features():
    y = torch.zeros(2, 6, 6, dtype=torch.long)
    y[:, 1:4, 1:4] = 1
    assert cmp.miou(y, y) == 1.0
    assert cmp.miou(1 - y, y) == 0.0
    oracle = F.one_hot(y, 2).permute(0, 3, 1, 2).float()
    score, pred = cmp.probe_miou(oracle, y, oracle, y)
    assert score == 1.0 and torch.equal(pred, y)


def test_run_tiny_and_swaps_change_only_the_arm():
    cfg = dataclasses.replace(cmp.PRESETS["small"], **TINY)
    res = cmp.run(cfg, [3])
    vals = cmp.claim_values(res)
    assert {c.key for c in cmp.CLAIMS} <= set(vals)
    assert vals["miou_arm"] == vals["miou_guided"] and vals["epe_arm"] == vals["epe_guided"]
    names = {c.name for c in cmp.CLAIMS}
    for swap in cmp.SWAPS:
        s = swap.apply(cfg)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(s, f.name)}
        assert changed <= {"arm", "arm_seed_offset", "arm_image"} and set(swap.breaks) <= names
    swaps = {s.name: s for s in cmp.SWAPS}
    null = cmp.run(dataclasses.replace(cfg, arm="sparse_only", arm_seed_offset=10_000), [3])
    assert null.per_seed[0].sources["arm"] == "trained"
    # the arm is an independently trained sparse-only network, evaluated with the same K guides
    assert cmp.claim_values(null)["epe_arm"] != vals["epe_sparse_only"]
    rand = cmp.claim_values(cmp.run(swaps["random_init_null"].apply(cfg), [3]))
    assert rand["miou_arm"] != vals["miou_random"]          # independent random inits, not the baseline itself
    one = cmp.claim_values(cmp.run(dataclasses.replace(cfg, n_random_inits=1), [3]))
    assert one["miou_random"] != vals["miou_random"]        # the baseline averages n_random_inits encoders
    other = cmp.claim_values(cmp.run(dataclasses.replace(cfg, arm_image="other"), [3]))
    assert other["epe_arm"] != vals["epe_arm"] and other["epe_guided"] == vals["epe_guided"]
    assert other["miou_arm"] == vals["miou_arm"]            # only the flow evaluation sees another frame
    patch = cmp.claim_values(cmp.run(swaps["raw_patch"].apply(cfg), [3]))
    assert patch["miou_arm"] == patch["miou_patch"]
