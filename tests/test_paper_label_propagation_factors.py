"""Unit tests of featurelab.papers.label_propagation_factors (McKee et al. 2022): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import label_propagation_factors as lp
from featurelab.propagation import region_similarity
from featurelab.run import ParameterError
from featurelab.video import make_video

TINY = dict(size=16, n_frames=5, n_train_videos=2, n_test_videos=1, train_steps=2, max_gap=2, width=4, n_query=16)


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv("FEATURELAB_PROGRESS", "0")


@pytest.mark.parametrize("bad", [dict(topk=0), dict(tau=0.0), dict(radius=-1.0), dict(stride=3), dict(arm="hog"),
                                 dict(n_recent=-1), dict(use_first=False, n_recent=0), dict(size=30),
                                 dict(max_gap=20), dict(n_seeds=0), dict(train_steps=-1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(lp.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='hog'.*one of 'learned'"):
        dataclasses.replace(lp.PRESETS["small"], arm="hog")
    with pytest.raises(ParameterError, match="USE_FIRST"):
        dataclasses.replace(lp.PRESETS["small"], use_first=False, n_recent=0)


def test_copy_colours_is_the_softmax_copy_formula():
    g = torch.Generator().manual_seed(0)
    f_ref, f_tgt = torch.randn(1, 3, 2, 2, generator=g), torch.randn(1, 3, 2, 2, generator=g)
    col = torch.rand(1, 3, 2, 2, generator=g)
    q = F.normalize(f_tgt, dim=1)[0].flatten(1).T                  # (4, 3)
    k = F.normalize(f_ref, dim=1)[0].flatten(1).T
    want = torch.stack([(torch.softmax(q[i] @ k.T / 0.1, 0)[:, None] * col[0].flatten(1).T).sum(0) for i in range(4)])
    got = lp.copy_colours(f_ref, f_tgt, col, 0.1)
    assert torch.allclose(got[0].T, want, atol=1e-6)
    assert torch.allclose(lp.copy_colours(f_ref, f_tgt, col, 0.1, torch.tensor([2]))[0, :, 0], want[2], atol=1e-6)


def test_features_shapes_and_patch_definition():
    v = make_video(1, height=16, width=16, n_frames=3, radius=(3.0, 5.0))
    assert lp.features("pixels", v).shape == (3, 3, 16, 16)
    p = lp.features("patch", v)
    assert p.shape == (3, 25, 16, 16)
    grey = v.grey()[0, 0]
    patch = grey[4:9, 6:11].flatten()
    assert torch.allclose(p[0, :, 6, 8], patch - patch.mean(), atol=1e-6)    # centred 5×5 patch at (6, 8)
    assert lp.features("random", v, lp.Encoder(4)).shape == (3, 4, 16, 16)
    with pytest.raises(ParameterError):
        lp.features("learned", v)
    assert lp.pool(torch.ones(2, 3, 8, 8), 4).shape == (2, 3, 2, 2)


def test_oracle_features_score_one_and_protocol_changes():
    v = make_video(3, height=16, width=16, n_frames=4, radius=(3.0, 5.0))
    oracle = F.one_hot(v.masks, v.n_objects + 1).permute(0, 3, 1, 2).float()
    cfg = dataclasses.replace(lp.PRESETS["small"], size=16)
    assert lp.score(oracle, v, cfg.protocol()) == 1.0
    p = cfg.protocol(stride=4, topk=None)
    assert p["stride"] == 4 and p["topk"] is None and p["tau"] == cfg.tau
    assert dataclasses.replace(cfg, radius=0.0).protocol()["radius"] is None
    pred = lp.propagate(oracle, v, cfg.protocol())
    assert torch.equal(pred, v.masks) and region_similarity(pred, v.masks).min() == 1.0


def test_swaps_change_only_the_arm_or_the_null():
    base = lp.PRESETS["small"]
    names = {c.name for c in lp.CLAIMS}
    for swap in lp.SWAPS:
        cfg = swap.apply(base)
        assert cfg.encoder() == base.encoder(), swap.name          # same cached encoder, same clips
        assert cfg.protocol() == base.protocol(), swap.name        # same tuned protocol
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(lp.PRESETS["small"], **TINY)
    res = lp.run(cfg, [7])
    assert res.per_seed[0].source == "trained"
    again = lp.run(cfg, [7])
    assert again.per_seed[0].source == "cache"
    values = lp.claim_values(res)
    assert values == lp.claim_values(again)
    assert {c.key for c in lp.CLAIMS} <= set(values) and len(values["arm_minus_pixels"]) == 1
    assert values["tuned_minus_bad"] == [-values["delta_bad"][0]]
    px = lp.claim_values(lp.run(dataclasses.replace(cfg, arm="pixels"), [7]))
    assert px["arm_minus_pixels"] == [0.0]                          # the pixel arm against itself
    null = lp.claim_values(lp.run(dataclasses.replace(cfg, variant_null=True), [7]))
    assert null["delta_stride4"] == null["delta_k_all"] == null["delta_first_only"]   # one centre-vs-centre value
    sweep = lp.factor_sweep(res.per_seed[0].feats["learned"], res.per_seed[0].videos, cfg, {"k_all": {"topk": None}})
    assert sweep["centre"] == pytest.approx(values["j_arm"]) and "k_all" in sweep
    with pytest.raises(ParameterError):
        lp.run(cfg, [])
