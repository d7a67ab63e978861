"""Unit tests of featurelab.papers.multifaceted_feature_vis (Nguyen et al. 2016): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.models import cnn, mlp
from featurelab.papers import multifaceted_feature_vis as mf
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(space="fc7"), dict(init="zeros"), dict(n_mean=0), dict(steps=-1),
                                 dict(conf=1.5), dict(n_mean=400), dict(pca_dim=5000), dict(widths=(4, 4, 4, 4)),
                                 dict(n_seeds=0), dict(step_size=-0.1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(mf.PRESETS["small"], **bad)


def test_swaps_change_only_the_starts_or_the_space():
    base = mf.PRESETS["small"]
    claims = {c.name for c in mf.CLAIMS}
    for swap in mf.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed <= {"init", "space"} and len(changed) == 1, (swap.name, changed)
        assert set(swap.breaks) <= claims
    assert {b for s in mf.SWAPS if s.kind == "mechanism" for b in s.breaks} == claims


def test_superclasses_partition_the_ten_classes():
    assert sorted(c for cs in mf.SUPERCLASSES.values() for c in cs) == list(range(10))
    assert mf.super_labels(torch.tensor([0, 1, 5, 8, 9, 6])).tolist() == [0, 1, 2, 3, 2, 0]
    assert all(len(mf.SUPERCLASSES[name]) == k for name, k in mf.UNITS)


def test_pca_matches_the_exact_svd():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 40)) @ np.diag(np.r_[np.linspace(10, 6, 5), np.full(35, 0.3)])
    z = mf.pca(codes, 5, seed=1)
    c = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    exact = c @ vt[:5].T
    assert z.shape == (300, 5)
    assert np.allclose(np.abs(z), np.abs(exact), atol=1e-3)  # leading components that stand out: exact


def _blobs(n=60, seed=0):
    """Three groups of 8×8 images: a bright top, left or bottom-right block, with noise; codes = pixels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3 * n, 1, 8, 8, generator=g) * 0.2
    y = np.repeat(np.arange(3), n)
    x[:n, :, :3, :] += 0.8
    x[n:2 * n, :, :, :3] += 0.8
    x[2 * n:, :, 5:, 5:] += 0.8
    return x, y


def test_facet_starts_recover_the_groups_and_random_groups_do_not():
    x, y = _blobs()
    z = mf.pca(x.flatten(1).numpy(), 4)
    starts, labels = mf.facet_starts(x, z, 3, 10, seed=0)
    assert starts.shape == (3, 1, 8, 8)
    from sklearn.metrics import normalized_mutual_info_score
    assert normalized_mutual_info_score(y, labels) > 0.99
    # each start is the mean of 10 images of one group: its block is bright
    blocks = [(slice(0, 3), slice(None)), (slice(None), slice(0, 3)), (slice(5, None), slice(5, None))]
    found = {int(np.argmax([s[0][b].mean() for b in blocks])) for s in starts}
    assert found == {0, 1, 2}
    rand = mf.random_group_starts(x, np.bincount(labels), 10, np.random.default_rng(0))
    assert rand.shape == (3, 1, 8, 8)
    spread = lambda s: float(np.mean([max(t[0][b].mean() for b in blocks) for t in s]))  # noqa: E731
    assert spread(starts) > spread(rand) + 0.3  # random groups average the facets away
    glob = mf.global_mean_start(x, z, 3, 10)
    assert glob.shape == (3, 1, 8, 8) and torch.equal(glob[0], glob[2])


def test_coverage_counts_confident_distinct_labels_inside_the_superclass():
    torch.manual_seed(0)
    oracle = mlp([4, 10])
    with torch.no_grad():
        oracle.head.weight.zero_()
        oracle.head.bias.zero_()
        for i, c in enumerate((5, 7, 7, 0)):  # input i → class c with a large logit
            oracle.head.weight[c, i] = 8.0
    images = torch.eye(4).view(4, 1, 2, 2)
    cov, lab, conf, prob = mf.coverage(oracle, images, (5, 7, 9), 0.5)
    assert cov == 2 and lab.tolist() == [5, 7, 7, 0] and (conf > 0.95).all()
    assert mf.soft_coverage(prob, (5, 7, 9)) == pytest.approx(2.0, abs=0.05)
    assert mf.coverage(oracle, images, (5, 7, 9), 1.0)[0] == 0  # nothing is that confident


def test_embed_reads_every_space_in_one_pass():
    torch.manual_seed(0)
    net = cnn(1, 4, (4, 8), image_size=28, hidden=16).eval()
    x = torch.rand(5, 1, 28, 28)
    codes = mf.embed(net, x)
    assert codes["pixel"].shape == (5, 784) and codes["conv"].shape == (5, 8 * 7 * 7)
    assert codes["penultimate"].shape == (5, 16)
    assert np.allclose(codes["logits"], net(x).detach().numpy(), atol=1e-5)


def test_claim_values_on_a_hand_made_result():
    cfg = mf.PRESETS["small"]

    def unit(name, k, soft):
        u = mf.UnitRun(name, 0, k, mf.SUPERCLASSES[name], torch.zeros(1, 1, 28, 28), np.zeros(1))
        u.soft = {a: soft.get(a, 0.0) for a in mf.ARMS}
        u.cover = {a: 0.0 for a in mf.ARMS}
        u.nmi = {sp: 0.5 for sp in mf.SPACES}
        u.final = {"method": np.ones(k)}
        u.real_mean = 0.5
        return u

    units = [unit("footwear", 3, {"method": 2.5, "random_groups": 1.0, "global_mean": 1.0}),
             unit("tops", 4, {"method": 3.0, "random_groups": 2.0, "noise": 1.0}),
             unit("bottoms/dress", 2, {"method": 2.0, "random_groups": 1.5})]
    res = mf.Result([mf.SeedRun(0, units, {})], cfg, {})
    v = mf.claim_values(res)
    assert v["gain_vs_random_groups"] == [pytest.approx(3.0)]
    assert v["gain_vs_one_facet"] == [pytest.approx(6.5)] and v["gain_vs_noise"] == [pytest.approx(6.5)]
    assert v["reached_real_mean"] == [1.0] and v["nmi_pixel"] == [0.5]
    assert {c.key for c in mf.CLAIMS} <= set(v)


def test_run_rejects_a_wrong_number_of_seeds():
    with pytest.raises(ParameterError, match="seeds"):
        mf.run(mf.PRESETS["small"], [0, 1])
