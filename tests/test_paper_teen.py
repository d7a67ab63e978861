"""Unit tests of featurelab.papers.teen (Wang et al. 2023, TEEN): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import teen
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(alpha=1.5), dict(alpha=-0.1), dict(weights="random"), dict(arm="svm"),
                                 dict(shots=0), dict(shots=700), dict(image_size=4, widths=(8, 16, 32)),
                                 dict(n_seeds=0), dict(tau=-1.0), dict(scale=0.0), dict(epochs=-1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(teen.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"WEIGHTS='random'.*one of 'similarity'"):
        dataclasses.replace(teen.PRESETS["small"], weights="random")


def _protos(seed=0, n=2, b=6, d=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g).abs(), torch.randn(b, d, generator=g).abs()


def test_soft_calibration_is_the_official_formula():
    new, base = _protos()
    pn, pb = F.normalize(new, dim=-1), F.normalize(base, dim=-1)
    w = torch.softmax(16 * pn @ pb.T, dim=1)
    want = 0.8 * pn + 0.2 * F.normalize(w @ pb, dim=-1)
    assert torch.allclose(teen.soft_calibration(new, base, 0.2, 16.0), want, atol=1e-6)
    # α = 0 is NCM: the normalised mean features
    assert torch.allclose(teen.soft_calibration(new, base, 0.0, 16.0), pn)
    assert torch.allclose(teen.similarity_weights(new, base, 16.0).sum(1), torch.ones(2))


def test_large_tau_borrows_from_the_nearest_base_prototype_only():
    new, base = _protos(1)
    nearest = (F.normalize(new, dim=-1) @ F.normalize(base, dim=-1).T).argmax(1)
    out = teen.soft_calibration(new, base, 1.0, 1e7)
    assert torch.allclose(out, F.normalize(base, dim=-1)[nearest], atol=1e-4)


def test_shuffled_and_uniform_weights():
    new, _ = _protos(2, d=6)
    eye = torch.eye(6)                                  # base prototypes = unit vectors: the mix shows the weights
    w = teen.similarity_weights(new, eye, 16.0)
    g = torch.Generator().manual_seed(0)
    mix_s = teen.soft_calibration(new, eye, 1.0, 16.0, "shuffled", g)
    for row_w, row_m in zip(w, mix_s):               # each row: the same weights, permuted
        assert torch.allclose(torch.sort(F.normalize(row_w, dim=0)).values, torch.sort(row_m).values, atol=1e-6)
    mix_u = teen.soft_calibration(new, eye, 1.0, 16.0, "uniform")
    assert torch.allclose(mix_u, torch.full((2, 6), 6 ** -0.5), atol=1e-6)
    with pytest.raises(ParameterError):
        teen.soft_calibration(new, eye, 0.2, 16.0, "random")


def test_scores_on_hand_made_logits():
    y = torch.tensor([0, 1, 6, 7, 8, 9])
    pred = torch.tensor([0, 6, 6, 2, 9, 9])
    logits = F.one_hot(pred, 10).float()
    s = teen.scores(logits, y)
    assert s["base"] == 0.5 and s["new"] == 0.5 and s["n2b"] == 0.25 and s["b2n"] == 0.5
    assert s["hm"] == pytest.approx(0.5)


def test_bias_curve_matches_brute_force_shifting():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(300, 10, generator=g)
    y = torch.randint(0, 10, (300,), generator=g)
    b, base, new = teen.bias_curve(logits, y)
    assert np.all(np.diff(base) <= 1e-12) and np.all(np.diff(new) >= -1e-12)   # monotone trade-off
    for k in (0, 10, 150, 300):
        shift = (b[k] + 1e-6) if k > 0 else b[1] - 1e-6
        shifted = logits.clone()
        shifted[:, teen.N_BASE:] += shift
        s = teen.scores(shifted, y)
        assert s["base"] == pytest.approx(base[k]) and s["new"] == pytest.approx(new[k])
    target = float(new[120])
    bias, s = teen.match_bias(logits, y, target)
    assert s["new"] >= target - 1e-9
    shifted = logits.clone()
    shifted[:, teen.N_BASE:] += bias - 1e-3                  # a smaller bias misses the target
    assert teen.scores(shifted, y)["new"] < target + 1e-9


def _seed_data(d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    pool_y = torch.arange(teen.N_BASE, 10).repeat_interleave(20)
    return teen.Seed(seed, F.normalize(torch.rand(teen.N_BASE, d, generator=g), dim=-1),
                     torch.rand(50, d, generator=g), torch.randint(0, 10, (50,), generator=g),
                     torch.rand(len(pool_y), d, generator=g), pool_y, torch.zeros(1), torch.zeros(1), 0.9, "test")


def test_prototypes_calibrate_only_new_classes_and_draws_are_balanced():
    sd = _seed_data()
    shots = teen.draw_shots(sd.pool_y, 5, 3, seed=0)
    assert shots.shape == (3, 20)
    assert torch.equal(torch.bincount(sd.pool_y[shots[0]] - teen.N_BASE), torch.full((4,), 5))
    cfg = teen.PRESETS["small"]
    p0 = teen.prototypes(sd, shots[0], cfg, alpha=0.0)
    p = teen.prototypes(sd, shots[0], cfg)
    assert p.shape == (10, 8)
    assert torch.equal(p[: teen.N_BASE], sd.base_protos)            # base prototypes untouched
    assert not torch.allclose(p[teen.N_BASE:], p0[teen.N_BASE:])
    means = teen.class_means(sd.pool_f[shots[0]], sd.pool_y[shots[0]] - teen.N_BASE, 4)
    assert torch.allclose(p0[teen.N_BASE:], F.normalize(means, dim=-1))


def test_swaps_leave_the_backbone_alone():
    base = teen.PRESETS["small"]
    names = {c.name for c in teen.CLAIMS}
    for swap in teen.SWAPS:
        cfg = swap.apply(base)
        assert cfg.backbone() == base.backbone(), swap.name     # every arm evaluates the same cached backbone
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(teen.PRESETS["small"], n_base_train=120, epochs=1, n_samplings=2, pool_per_class=10,
                              n_test=20, n_seeds=1)
    res = teen.run(cfg, [7], progress=False)
    assert res.seeds_data[0].source == "trained" and len(res.ncm[0]) == 2
    again = teen.run(cfg, [7], progress=False)
    assert again.seeds_data[0].source == "cache"
    assert teen.claim_values(res) == teen.claim_values(again)
    values = teen.claim_values(res)
    assert {c.key for c in teen.CLAIMS} <= set(values) and len(values["new_gain"]) == 1
    null = teen.run(dataclasses.replace(cfg, alpha=0.0), [7], progress=False)
    assert teen.claim_values(null)["new_gain"] == [0.0]                      # α = 0 is NCM
    bias = teen.run(dataclasses.replace(cfg, arm="logit_bias"), [7], progress=False)
    assert bias.mean("arm", "new")[0] >= res.mean("teen", "new")[0] - 1e-9   # matched to TEEN's new accuracy
    with pytest.raises(ParameterError):
        teen.run(cfg, [])


def test_mean_scores_and_confusion():
    sd = _seed_data()
    sd.shots = teen.draw_shots(sd.pool_y, 5, 3, seed=0)
    cfg = teen.PRESETS["small"]
    s0 = teen.mean_scores(sd, cfg, alpha=0.0)
    s_big = teen.mean_scores(sd, cfg, alpha=0.0, bias=100.0)       # every image goes to a new class
    assert s_big["new"] >= s0["new"] and s_big["base"] == 0.0 and s_big["n2b"] == 0.0
    c = teen.confusion(sd, cfg, alpha=0.0)
    assert c.shape == (10, 10)
    present = np.bincount(sd.test_y.numpy(), minlength=10) > 0
    assert np.allclose(c.sum(1)[present], 1.0)
