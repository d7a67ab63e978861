"""Unit tests of featurelab.papers.multiaspect_kd (Lee et al. 2025, MaKD): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import multiaspect_kd as mk
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(beta=-1.0), dict(aspect_targets="random"), dict(kd_targets="oracle"),
                                 dict(shots=0), dict(n_seeds=0), dict(temperature=0.0), dict(kappa=0.0),
                                 dict(image_size=4), dict(epochs=0), dict(n_test=5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(mk.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ASPECT_TARGETS='random'.*one of 'per_image'"):
        dataclasses.replace(mk.PRESETS["small"], aspect_targets="random")
    with pytest.raises(ParameterError, match="IMAGE_SIZE"):
        dataclasses.replace(mk.PRESETS["small"], image_size=8, teacher_widths=(4, 4, 4, 4))


def test_makd_loss_is_the_official_formula():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, mk.N_CLASSES + mk.N_ASPECTS, generator=g)
    y = torch.randint(0, mk.N_CLASSES, (6,), generator=g)
    a = torch.rand(6, mk.N_ASPECTS, generator=g)
    # CE + 4 · mean over batch × aspects of −[a log σ(z) + (1 − a) log(1 − σ(z))]
    s = torch.sigmoid(z[:, mk.N_CLASSES:])
    bce = -(a * s.log() + (1 - a) * (1 - s).log()).mean()
    want = F.cross_entropy(z[:, :mk.N_CLASSES], y) + 4.0 * bce
    assert torch.allclose(mk.makd_loss(z, y, a, 4.0), want, atol=1e-6)
    # mean, not sum, over the aspects
    assert not torch.allclose(mk.makd_loss(z, y, a, 4.0),
                              F.cross_entropy(z[:, :mk.N_CLASSES], y) + 4.0 * bce * mk.N_ASPECTS)
    assert torch.allclose(mk.makd_loss(z, y, a, 0.0), F.cross_entropy(z[:, :mk.N_CLASSES], y))


def test_kd_term_is_hinton():
    g = torch.Generator().manual_seed(1)
    zs, zt = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g)
    p = torch.softmax(zt / 4, 1)
    want = 16 * (p * (p.log() - torch.log_softmax(zs / 4, 1))).sum(1).mean()
    assert torch.allclose(mk.kd_term(zs, p, 4.0), want, atol=1e-6)
    assert mk.kd_term(zt, p, 4.0).abs() < 1e-6          # identical distributions: zero


def test_student_loss_unpacks_the_targets():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4, 18, generator=g)
    y = torch.tensor([0, 3, 9, 1])
    soft = torch.softmax(torch.randn(4, 10, generator=g), 1)
    a = torch.rand(4, 8, generator=g)
    packed = torch.cat([y.float()[:, None], soft, a], 1)
    want = mk.makd_loss(z, y, a, 4.0) + 0.5 * mk.kd_term(z[:, :10], soft, 3.0)
    assert torch.allclose(mk.student_loss(z, packed, 4.0, 0.5, 3.0), want)


def test_class_level_shuffled_and_within_class_metrics():
    y = torch.tensor([0, 0, 1, 1, 1])
    v = torch.tensor([[1.0], [3.0], [0.0], [3.0], [6.0]])
    assert torch.allclose(mk.class_level(v, y, 2), torch.tensor([[2.0], [2.0], [3.0], [3.0], [3.0]]))
    s = mk.shuffled(v, 0)
    assert sorted(s.flatten().tolist()) == sorted(v.flatten().tolist())
    # a perfect predictor: R² 1; a class-mean predictor: R² 0; any class offset is ignored
    assert torch.allclose(mk.within_class_r2(v + 5 * y[:, None], v, y), torch.ones(1))
    assert torch.allclose(mk.within_class_r2(mk.class_level(v, y, 2), v, y), torch.zeros(1))
    share = mk.within_class_share(v, y)
    total = ((v - v.mean()) ** 2).sum()
    assert torch.allclose(share, (torch.tensor([1.0, 1, 9, 0, 9]).sum() / total).reshape(1))


def test_aspect_statistics_on_hand_made_images():
    x = torch.zeros(3, 1, 14, 14)
    x[0, 0, 6:8, 1:13] = 1.0            # a wide bar
    x[1, 0, 1:13, 6:8] = 1.0            # a tall bar
    x[2, 0, 1:7, 2:12] = 0.5            # a dim, top-heavy block
    s = mk.aspect_statistics(x)
    names = mk.ASPECT_NAMES
    assert s.shape == (3, mk.N_ASPECTS)
    assert s[0, names.index("wide")] > s[1, names.index("wide")]
    assert s[1, names.index("tall")] > s[0, names.index("tall")]
    assert s[2, names.index("top_heavy")] > 0.4 and abs(s[0, names.index("top_heavy")]) < 1e-6
    assert s[2, names.index("bright")] < s[0, names.index("bright")]
    assert s[0, names.index("symmetric")] == 0                      # mirror-symmetric
    p = mk.aspect_probabilities(s, s.mean(0), s.std(0), 2.0)
    assert ((p > 0) & (p < 1)).all()


def _tiny():
    return dataclasses.replace(mk.PRESETS["small"], teacher_train=200, teacher_epochs=1, shots=3, epochs=2,
                               n_test=10, n_seeds=1)


def test_run_is_deterministic_and_arms_share_initialisation():
    cfg = _tiny()
    r1 = mk.run(cfg, [7])
    r2 = mk.run(cfg, [7])
    assert r1.per_seed[0].source == "trained" and r2.per_seed[0].source == "cache"
    for arm in mk.ARMS:
        assert r1.acc(arm)[0] == r2.acc(arm)[0]
    v = mk.claim_values(r1)
    assert set(v) >= {"kd_gain", "aspect_r2", "aspect_gain", "ce_acc", "kd_minus_class_kd"}
    # KD weight 0 on the same initialisation is CE exactly (paired arms); with an offset it is not paired
    off = mk.run(dataclasses.replace(cfg, kd_targets="none"), [7])
    assert off.acc("kd")[0] == off.acc("ce")[0]
    # class-level KD in KD's place is the always-trained class-level KD arm
    cls = mk.run(dataclasses.replace(cfg, kd_targets="class"), [7])
    assert cls.acc("kd")[0] == cls.acc("kd_class")[0]


def test_swaps_apply_and_claims_are_declared():
    cfg = mk.PRESETS["small"]
    names = {c.name for c in mk.CLAIMS}
    for sw in mk.SWAPS:
        assert set(sw.breaks) <= names
        sw.apply(cfg)
    null = next(s for s in mk.SWAPS if s.kind == "null").apply(cfg)
    assert null.kd_targets == "none" and null.kd_init_offset > 0
    assert np.isclose(cfg.beta, 4.0)                   # the official aspect weight
