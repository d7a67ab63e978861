"""Unit tests of featurelab.papers.cnn_offtheshelf (Razavian et al. 2014): fast, seeded, CPU only, no network."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from featurelab.papers import cnn_offtheshelf as cos
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_CACHE", str(tmp_path))


def test_shapes_are_balanced_images_in_range():
    x, y = cos.make_shapes(80, size=16, seed=0)
    assert x.shape == (80, 1, 16, 16) and y.shape == (80,)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert torch.bincount(y, minlength=len(cos.SHAPES)).tolist() == [10] * len(cos.SHAPES)
    # every class draws something, and classes differ on average
    means = torch.stack([x[y == c].mean(0) for c in range(len(cos.SHAPES))])
    assert (means.flatten(1).sum(1) > 1).all() and torch.cdist(means.flatten(1), means.flatten(1)).triu(1).max() > 1


def test_hog_shape_normalisation_and_orientation():
    img = torch.zeros(2, 1, 8, 8)
    img[0, :, :, 4:] = 1.0          # vertical edge: horizontal gradient, angle 0 → bin 0
    img[1, :, 4:, :] = 1.0          # horizontal edge: vertical gradient, angle π/2 → bin 4
    h = cos.hog(img, cell=4, bins=8)
    assert h.shape == (2, 4 * 8)
    assert torch.allclose(h.norm(dim=1), torch.ones(2))
    per_bin = h.view(2, 4, 8).sum(1)
    assert per_bin[0].argmax() == 0 and per_bin[1].argmax() == 4
    with pytest.raises(ParameterError, match="multiple"):
        cos.hog(torch.zeros(1, 1, 10, 10), cell=4)


def test_probe_separates_separable_features_and_shots_are_per_class():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    f = torch.nn.functional.one_hot(y, 3).float() + 0.05 * torch.randn(60, 3, generator=g)
    assert cos.probe_accuracy(f[:30], y[:30], f[30:], y[30:], ridge=1e-2) == 1.0
    idx = cos.draw_shots(y, 4, seed=1)
    assert torch.bincount(y[idx]).tolist() == [4, 4, 4]
    assert torch.equal(idx, cos.draw_shots(y, 4, seed=1))
    with pytest.raises(ParameterError, match="shots"):
        cos.draw_shots(y, 21, seed=0)


def test_source_is_cached_and_features_are_normalised():
    src = cos.SourceConfig(n_train=100, epochs=1, widths=(4,), hidden=8)

    def fake_train(model, *_args, **_kw):
        return {"source_test_acc": 0.5}

    m1, info1 = cos.cache.load_or_train("cnn_offtheshelf_source", src, 0, lambda: cos.build_source(src), fake_train)
    m2, info2 = cos.pretrained_source(src, seed=0)   # same recipe name, config and seed → loaded, not trained
    assert info1.source == "trained" and info2.source == "cache"
    x = torch.rand(5, 1, 16, 16)
    f = cos.cnn_features(m2, x)
    assert f.shape == (5, 8) and torch.allclose(f.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(f, cos.cnn_features(m1, x))


def test_represent_rejects_unknown_names():
    net = cos.build_source(cos.SourceConfig(widths=(4,), hidden=8))
    x = torch.rand(3, 1, 16, 16)
    assert cos.represent("raw pixels", x, net, net).shape == (3, 256)
    with pytest.raises(ParameterError, match="unknown representation"):
        cos.represent("sift", x, net, net)


@pytest.mark.parametrize("bad, match", [
    ({"shots": 7}, "SHOTS_GRID"),
    ({"n_test": 10}, r"N_TEST=10 .* must be >= 50"),
    ({"ridge": 0.0}, "RIDGE"),
    ({"features": "imagenet"}, "FEATURES"),
    ({"n_seeds": 0}, "N_SEEDS"),
])
def test_bad_config_fails_at_once(bad, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(cos.PRESETS["small"], **bad)


def test_bad_source_config_fails_at_once():
    with pytest.raises(ParameterError, match=r"SIZE=40 .* \[8, 28\]"):
        cos.SourceConfig(size=40)
    with pytest.raises(ParameterError, match="WIDTHS"):
        cos.SourceConfig(widths=16)


def test_swaps_change_only_what_fills_the_off_the_shelf_row():
    base = cos.PRESETS["small"]
    assert {s.apply(base).features for s in cos.SWAPS} == {"random", "hog"}
    for s in cos.SWAPS:
        assert dataclasses.replace(s.apply(base), features="trained") == base
        assert set(s.breaks) == {c.name for c in cos.CLAIMS} and s.kind != "sanity"
    net = cos.build_source(cos.SourceConfig(widths=(4,), hidden=8))
    x = torch.rand(3, 1, 16, 16)
    assert torch.equal(cos.represent("off-the-shelf", x, None, net, "hog"), cos.hog(x))


def test_claim_values_are_differences_of_probe_accuracies():
    cfg = cos.PRESETS["small"]
    res = cos.Result(cfg, [0, 1])
    for s in res.seeds:
        for t in cos.TARGETS:
            for r, a in zip(cos.REPS, (0.9, 0.7, 0.8, 0.6)):
                res.acc[(s, t, r, cfg.shots)] = a
    v = cos.claim_values(res)
    assert v["near_vs_random"].tolist() == pytest.approx([0.2, 0.2])
    assert v["near_vs_pixels"].tolist() == pytest.approx([0.1, 0.1])
    assert v["gap_new_garments"].tolist() == pytest.approx([0.2, 0.2])
