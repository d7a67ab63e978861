"""Unit tests of featurelab.papers.mdfrn_visible_lwir_matching (Zhang et al. 2023, MD-FRN): fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.models import count_parameters
from featurelab.papers import mdfrn_visible_lwir_matching as m
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(patch=12), dict(gap=1.5), dict(jitter=0.9), dict(jitter=2.5),
                                 dict(scales=(1, 3)), dict(scales=(1, 1)), dict(weights="fixed"), dict(arm="siamese"),
                                 dict(radius=5), dict(n_seeds=0), dict(lr=0.0), dict(patch=8, scales=(1, 8))])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(m.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='siamese'.*one of 'mdfrn', 'concat'"):
        dataclasses.replace(m.PRESETS["small"], arm="siamese")


def test_correlation_volume_is_the_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 5, 4, 4, generator=g), torch.randn(2, 5, 4, 4, generator=g)
    r = 1
    c = m.correlation_volume(a, b, r)
    assert c.shape == (2, 9, 4, 4)
    an, bn = F.normalize(a, dim=1), F.normalize(b, dim=1)
    for n in range(2):
        for k, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
            for y in range(4):
                for x in range(4):
                    yy, xx = y + dy, x + dx
                    want = (an[n, :, y, x] * bn[n, :, yy, xx]).sum() if 0 <= yy < 4 and 0 <= xx < 4 else 0.0
                    assert float(c[n, k, y, x]) == pytest.approx(float(want), abs=1e-5)
    # identical maps: the zero displacement is the cosine of a vector with itself
    assert torch.allclose(m.correlation_volume(a, a, 2)[:, 12], torch.ones(2, 4, 4), atol=1e-5)


def test_msag_weights_are_a_softmax_over_scales_and_uniform_is_fixed():
    torch.manual_seed(0)
    f_v, f_i = torch.randn(3, 6, 8, 8), torch.randn(3, 6, 8, 8)
    msag = m.MSAG(6, 5, (1, 2, 4))
    out, w = msag(f_v, f_i)
    assert out.shape == (3, 5) and w.shape == (3, 3)
    assert torch.allclose(w.sum(1), torch.ones(3)) and (w > 0).all()
    assert not torch.allclose(w[0], w[1])                           # input-dependent
    # M = Σ_s w_s R_s: recompute the per-scale relations by hand
    rel = []
    for s, phi in zip(msag.scales, msag.rel):
        v, i = F.avg_pool2d(f_v, s), F.avg_pool2d(f_i, s)
        rel.append(F.relu(phi(torch.cat([v, i, F.normalize(v, dim=1) * F.normalize(i, dim=1)], 1))).amax((2, 3)))
    assert torch.allclose(out, (w.unsqueeze(-1) * torch.stack(rel, 1)).sum(1), atol=1e-6)
    uni = m.MSAG(6, 5, (1, 2, 4), "uniform")
    uni.load_state_dict(msag.state_dict())
    _, wu = uni(f_v, f_i)
    assert torch.allclose(wu, torch.full((3, 3), 1 / 3))
    with pytest.raises(ParameterError):
        m.MSAG(6, 5, (1,), "fixed")


def test_models_shapes_and_parameter_matching():
    cfg = m.PRESETS["small"]
    x = torch.randn(4, 2, cfg.patch, cfg.patch)
    net, cat = m.build(cfg, "mdfrn"), m.build(cfg, "concat")
    assert net(x).shape == cat(x).shape == (4,)
    assert net.last_weights.shape == (4, len(cfg.scales))
    p_net, p_cat = count_parameters(net), count_parameters(cat)
    assert abs(p_cat - p_net) / p_net < 0.05                      # the sceptic gets MD-FRN's parameter budget
    single = m.build(cfg, "mdfrn", scales=(1,))
    assert count_parameters(single) < p_net
    # the concat width does not follow the swapped scales: always matched to the full MD-FRN
    assert m.matched_concat_hidden(dataclasses.replace(cfg, scales=(1,))) == m.matched_concat_hidden(cfg)
    with pytest.raises(ParameterError):
        m.build(cfg, "siamese")


def test_swaps_change_only_what_they_say():
    base = m.PRESETS["small"]
    names = {c.name for c in m.CLAIMS}
    for swap in m.SWAPS:
        cfg = swap.apply(base)
        assert cfg.data() == base.data(), swap.name                  # same data for every arm
        assert set(swap.breaks) <= names
    assert any(s.breaks and s.kind != "sanity" for s in m.SWAPS)


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(m.PRESETS["small"], n_train=200, n_test=200, n_scenes=6, steps=3, n_seeds=1)
    res = m.run(cfg, [7], progress=False)
    sd = res.per_seed[0]
    assert sd.source == "trained"
    assert sd.weights.shape == (200, len(cfg.scales)) and np.allclose(sd.weights.sum(1), 1, atol=1e-5)
    again = m.run(cfg, [7], progress=False)
    assert again.per_seed[0].source == "cache"
    values = m.claim_values(res)
    assert values == m.claim_values(again)
    assert {c.key for c in m.CLAIMS} <= set(values) and len(values["gain_vs_hog"]) == 1
    assert values["gain_vs_hog"][0] == pytest.approx(values["fpr_hog"] - values["fpr_arm"])
    # the baselines do not depend on the arm; the concat arm has no scale weights
    cat = m.run(dataclasses.replace(cfg, arm="concat"), [7], progress=False)
    assert cat.per_seed[0].weights is None and m.claim_values(cat)["fpr_hog"] == values["fpr_hog"]
    comp = m.companions(cfg, res.data[0], 7)
    assert set(comp) == {"concat", "single", "uniform"} and comp["single"].msag.scales == (1,)
    ev = m.evaluate(m.scores(comp["concat"], res.data[0].test), res.data[0].test, cfg.jitter)
    assert ev["all"] == pytest.approx(m.claim_values(cat)["fpr_arm"]) and set(ev) == {"all", "hard", "big_scale"}
    with pytest.raises(ParameterError):
        m.run(cfg, [])
