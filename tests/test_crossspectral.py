"""Unit tests of featurelab.crossspectral: the visible/infrared-like pair generator, FPR95 and pixel baselines."""

import numpy as np
import pytest

from featurelab import crossspectral as cs
from featurelab.base import ParameterError


def _fpr_brute(labels, scores, recall=0.95):
    """FPR at the highest threshold (accept score ≥ t) whose recall reaches ``recall``, by counting."""
    best = None
    for t in sorted(set(scores), reverse=True):
        acc = scores >= t
        if acc[labels == 1].mean() >= recall - 1e-12:
            best = acc[labels == 0].mean()
            break
    return best


@pytest.mark.parametrize("seed", range(6))
def test_fpr_at_recall_matches_brute_force_count(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 200))
    labels = (rng.random(n) < 0.4).astype(int)
    labels[:2] = [0, 1]
    scores = rng.normal(labels * rng.uniform(0, 2), 1.0)
    if seed % 2:                                       # ties
        scores = np.round(scores, 1)
    for recall in (0.5, 0.95, 1.0):
        assert cs.fpr_at_recall(labels, scores, recall) == pytest.approx(_fpr_brute(labels, scores, recall))
    assert cs.fpr95(labels, scores) == pytest.approx(_fpr_brute(labels, scores))


def test_fpr95_extremes_and_errors():
    y = np.array([0, 0, 1, 1])
    assert cs.fpr95(y, np.array([0.0, 0.1, 0.9, 1.0])) == 0.0        # perfect separation
    assert cs.fpr95(y, np.array([1.0, 0.9, 0.1, 0.0])) == 1.0        # reversed
    with pytest.raises(ParameterError, match="both"):
        cs.fpr95(np.ones(4, int), np.arange(4.0))
    with pytest.raises(ParameterError, match="recall"):
        cs.fpr_at_recall(y, np.arange(4.0), 0.0)
    with pytest.raises(ParameterError, match="finite"):
        cs.fpr95(y, np.array([0.0, np.nan, 1.0, 2.0]))


def test_scene_has_both_sensors_and_contrast_is_unreliable():
    sc = cs.render_scene(64, 0, gap=1.0)
    assert sc.vis.shape == sc.ir.shape == (64, 64) and sc.vis.dtype == np.float32
    assert sc.materials.max() < len(sc.reflectance)
    # with gap 0 the temperature is the reflectance; with gap 1 it is reversed or permuted, never the reflectance
    sc0 = cs.render_scene(64, 1, gap=0.0)
    assert np.allclose(sc0.temperature, sc0.reflectance)
    corr = [np.corrcoef(s.reflectance, s.temperature)[0, 1] for s in (cs.render_scene(32, k) for k in range(20))]
    assert min(corr) < -0.9 and max(corr) < 0.99          # some scenes reverse the contrast, none copies it


def test_cut_patches_equals_cut_patch_and_scale():
    img = np.random.default_rng(0).normal(size=(40, 40)).astype(np.float32)
    centers = np.array([[20.0, 20.0], [15.5, 22.25]])
    many = cs.cut_patches(img, centers, 8, np.array([1.0, 1.3]))
    assert np.allclose(many[0], cs.cut_patch(img, (20.0, 20.0), 8))
    assert np.allclose(many[1], cs.cut_patch(img, (15.5, 22.25), 8, 1.3))
    ramp = np.tile(np.arange(40, dtype=np.float32), (40, 1))          # value = x coordinate
    p = cs.cut_patch(ramp, (20.0, 20.0), 4, 2.0)
    assert np.allclose(p[0], [17.0, 19.0, 21.0, 23.0])               # a window twice as wide, centred


def test_make_pairs_labels_kinds_and_geometry():
    p = cs.make_pairs(300, 3, patch=16, n_scenes=4, jitter=1.3, hard_frac=0.6, standardise=False)
    assert p.vis.shape == p.ir.shape == (300, 1, 16, 16)
    assert set(np.unique(p.kind)) == {0, 1, 2}
    assert np.array_equal(p.label == 1, p.kind == 0)
    assert 0.3 < p.label.mean() < 0.7 and 0.4 < (p.kind[p.label == 0] == 2).mean() < 0.8
    assert p.scale.min() >= 1 / 1.3 - 1e-6 and p.scale.max() <= 1.3 + 1e-6 and p.scale.std() > 0.05
    same = cs.make_pairs(300, 3, patch=16, n_scenes=4, jitter=1.3, hard_frac=0.6, standardise=False)
    assert np.array_equal(p.vis, same.vis) and np.array_equal(p.ir, same.ir)      # seeded
    st = cs.make_pairs(50, 4, n_scenes=2)
    assert np.allclose(st.vis.mean((2, 3)), 0, atol=1e-4) and np.allclose(st.ir.std((2, 3)), 1, atol=1e-3)
    sub = p.subset(p.kind == 2)
    assert len(sub) == (p.kind == 2).sum() and np.all(sub.label == 0)


def test_gap_zero_makes_pixels_reliable_and_gap_one_does_not():
    near = cs.make_pairs(600, 5, n_scenes=10, gap=0.0, hard_frac=1.0, ir_noise=0.01)
    far = cs.make_pairs(600, 5, n_scenes=10, gap=1.0, hard_frac=1.0)
    f_near = cs.fpr95(near.label, cs.ncc(near.vis, near.ir))
    f_far = cs.fpr95(far.label, cs.ncc(far.vis, far.ir))
    assert f_far > 0.9 and f_near < f_far - 0.2


def test_make_pairs_rejects_bad_arguments():
    with pytest.raises(ParameterError, match="jitter"):
        cs.make_pairs(10, jitter=0.5)
    with pytest.raises(ParameterError, match="scene_size"):
        cs.make_pairs(10, patch=32, scene_size=40)
    with pytest.raises(ParameterError, match="gap"):
        cs.render_scene(32, gap=1.5)


def test_ncc_formula_and_sign():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 1, 6, 6))
    b = rng.normal(size=(5, 1, 6, 6))
    want = [np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)]
    assert np.allclose(cs.ncc(a, b), want)
    assert np.allclose(cs.ncc(a, -2 * a + 1), -1) and np.allclose(cs.ncc(a, -a, absolute=True), 1)
    with pytest.raises(ParameterError):
        cs.ncc(a, b[:, :, :5])


def test_hog_is_contrast_invariant_unsigned_and_localises_edges():
    img = np.zeros((1, 8, 8))
    img[0, :, 4:] = 1.0                                # a vertical edge: horizontal gradient, in cells of column 1
    d = cs.hog(img, cell=4, bins=4).reshape(2, 2, 4)
    assert d[:, 1, 0].sum() > 0 and d[:, 1, 1:].sum() == 0      # orientation bin 0 (gradient along x)
    assert np.allclose(cs.hog(img), cs.hog(1 - img))            # unsigned: a contrast reversal changes nothing
    assert not np.allclose(cs.hog(img, signed=True), cs.hog(1 - img, signed=True))
    assert cs.hog_similarity(img, 1 - img)[0] == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="cell"):
        cs.hog(np.zeros((1, 6, 6)), cell=4)
