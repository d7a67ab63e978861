"""featurelab.papers.label_sharpness_intrinsic_dim: generator, member CNN, experiment plumbing."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import label_sharpness_intrinsic_dim as L
from featurelab.base import ParameterError

TINY = dataclasses.replace(L.PRESETS["small"], n_train=120, n_test=60, epochs=1, n_id=40, k_mle=10, n_pairs=200,
                           eps=(4 / 255,), eps_claim=4 / 255, n_seeds=1)


def test_generator_shapes_range_and_labels():
    im = L.make_images(TINY, 50, seed=0)
    for x, y in ((im.x_n, im.y_n), (im.x_m, im.y_m)):
        assert x.shape == (50, 1, 16, 16) and y.shape == (50,)
        assert x.min() >= 0 and x.max() <= 1
        assert set(y.tolist()) <= {0, 1}
    # task N: the label is the polarity of the large object (mean brightness above or below the tissue)
    mean = im.x_n.mean(dim=(1, 2, 3))
    assert ((mean > 0.5) == im.y_n.bool()).float().mean() > 0.95
    assert torch.equal(L.make_images(TINY, 50, seed=0).x_m, im.x_m)


def test_lesion_is_a_small_local_change():
    cfg = dataclasses.replace(TINY, tissue=0.0, object_contrast=0.01)
    im = L.make_images(cfg, 40, seed=1)
    bright = (im.x_m > 0.5 + 0.1).flatten(1).sum(1)
    assert torch.equal(bright[im.y_m == 1], torch.full_like(bright[im.y_m == 1], 9))
    assert (bright[im.y_m == 0] == 0).all()


def test_member_cnn_members_are_independent():
    torch.manual_seed(0)
    m = L.MemberCNN(3, (4, 8), hidden=8)
    x = torch.rand(5, 3, 16, 16)
    out = m(x)
    assert out.shape == (5, 2, 3) and m.features(x).shape == (5, 3, 8)
    x2 = x.clone()
    x2[:, 1] = torch.rand(5, 16, 16)
    out2 = m(x2)
    assert torch.allclose(out[:, :, 0], out2[:, :, 0]) and torch.allclose(out[:, :, 2], out2[:, :, 2])
    assert not torch.allclose(out[:, :, 1], out2[:, :, 1])


def test_run_and_claim_values_have_one_value_per_seed():
    res = L.run(TINY, [0, 1], progress=False)
    vals = L.claim_values(res)
    for key in ("sharpness_ratio", "sharpness_ratio_q", "robustness_gap", "clean_acc_min"):
        assert vals[key].shape == (2,) and np.isfinite(vals[key]).all()
    assert res.arr("N", "fgsm_acc").shape == (2, len(TINY.eps))
    assert (res.arr("M", "k_f") > 0).all()
    # without an attack the robustness gap is exactly zero (the sanity row of the claim)
    res0 = L.run(dataclasses.replace(TINY, attack="none"), [0], progress=False)
    assert L.claim_values(res0)["robustness_gap"][0] == 0.0


def test_random_sign_noise_has_the_attack_size_and_is_not_the_gradient_sign():
    torch.manual_seed(0)
    m = L.MemberCNN(2, (4, 8), hidden=8)
    x, y = torch.full((6, 2, 16, 16), 0.5), torch.randint(0, 2, (6, 2))
    e = 4 / 255
    noisy = L.perturb(m, x, y, e, "random", seed=3)
    assert torch.allclose((noisy - x).abs(), torch.full_like(x, e))
    assert torch.equal(noisy, L.perturb(m, x, y, e, "random", seed=3))  # seeded
    assert not torch.equal(noisy, L.perturb(m, x, y, e, "fgsm"))
    assert torch.equal(L.perturb(m, x, y, e, "none"), x)


def test_swaps_are_config_changes():
    swaps = {s.name: s for s in L.SWAPS}
    assert swaps["diffuse_lesion"].apply(L.PRESETS["small"]).lesion_size == 16
    assert swaps["random_sign_noise"].apply(L.PRESETS["small"]).attack == "random"
    assert swaps["no_attack"].kind == "sanity" and swaps["untrained"].apply(L.PRESETS["small"]).epochs == 0
    assert {c.name for c in L.CLAIMS} == {"sharpness_ratio", "robustness_gap", "clean_acc_min"}


def test_global_lesion_switch_removes_the_sharpness_contrast():
    small = L.make_images(dataclasses.replace(TINY, n_pairs=500), 400, seed=0)
    big = L.make_images(dataclasses.replace(TINY, lesion_size=8), 400, seed=0)
    from featurelab.intrinsic import label_sharpness
    ks = label_sharpness(small.x_m, small.y_m, 2000).k_f
    kb = label_sharpness(big.x_m, big.y_m, 2000).k_f
    assert ks > kb


@pytest.mark.parametrize("bad", [dict(size=4), dict(n_train=10), dict(lesion_contrast=0.0), dict(object_radius=(5.0, 3.0)),
                                 dict(lesion_size=0), dict(eps=(0.0, 1 / 255)), dict(eps_claim=3 / 255),
                                 dict(k_mle=1), dict(n_id=10_000), dict(n_seeds=0), dict(lr=0.0),
                                 dict(attack="pgd"), dict(epochs=-1)])
def test_bad_config_fails_at_once(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(L.PRESETS["small"], **bad)


def test_member_cnn_rejects_unknown_pool():
    with pytest.raises(ParameterError):
        L.MemberCNN(2, pool="sum")
