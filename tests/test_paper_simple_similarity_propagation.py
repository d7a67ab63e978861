"""Unit tests of featurelab.papers.simple_similarity_propagation (Zhong et al. 2023, SimPLe): fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import simple_similarity_propagation as sp
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(lam=1.5), dict(alpha=-0.1), dict(alpha=1.2), dict(arm="oracle"),
                                 dict(size=30), dict(n_seeds=0), dict(omega=-1.0), dict(lr2=0.0),
                                 dict(n_pos=0), dict(steps1=-1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(sp.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARM='oracle'.*one of 'simple'"):
        dataclasses.replace(sp.PRESETS["small"], arm="oracle")
    with pytest.raises(ParameterError, match=r"LAM=1.5"):
        dataclasses.replace(sp.PRESETS["small"], lam=1.5)


def test_similarity_vote_is_the_official_count_rule():
    g = torch.Generator().manual_seed(0)
    u, p = torch.randn(50, 8, generator=g), torch.randn(20, 8, generator=g)
    lam, alpha = 0.1, 0.3
    cos = torch.stack([torch.stack([F.cosine_similarity(a, b, dim=0) for b in p]) for a in u])
    want = (cos > lam).sum(1) > alpha * 20
    assert torch.equal(sp.similarity_vote(u, p, lam, alpha), want)
    # strict count: with α = 0.96 and N = 100 a voxel needs 97 similar positives
    base = F.normalize(torch.randn(1, 8, generator=g), dim=1)
    pos = base.repeat(100, 1)
    pos[:4] = -base                                       # 96 similar positives: 96 > 96 is false
    assert not sp.similarity_vote(base, pos, 0.96, 0.96).item()
    pos[3] = base
    assert sp.similarity_vote(base, pos, 0.96, 0.96).item()


def test_contrastive_loss_is_bce_on_sigmoid_cosines():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(1, 4, 3, 3, generator=g)
    labels = torch.tensor([[[1, 1, 0], [0, 2, 0], [1, 0, 2]]])
    loss = sp.contrastive_loss(feats, labels, n=100, tau=0.1, generator=torch.Generator().manual_seed(0))
    f = feats[0].permute(1, 2, 0).reshape(-1, 4)
    lab = labels.reshape(-1)
    pos, neg = F.normalize(f[lab == 1], dim=1), F.normalize(f[lab == 0], dim=1)
    s = torch.cat([torch.sigmoid(pos @ pos.T / 0.1).flatten(), torch.sigmoid(pos @ neg.T / 0.1).flatten()])
    t = torch.cat([torch.ones(9), torch.zeros(12)])
    assert loss.item() == pytest.approx(F.binary_cross_entropy(s, t).item(), rel=1e-5)


def test_matched_arms_flip_the_votes_count_per_image_inside_unlabelled_voxels():
    cfg = dataclasses.replace(sp.PRESETS["small"], lam=0.0, alpha=0.5)
    g = torch.Generator().manual_seed(2)
    feats = torch.randn(3, 6, 8, 8, generator=g)
    logits = torch.randn(3, 2, 8, 8, generator=g)
    labels = torch.randint(0, 3, (3, 8, 8), generator=g)
    vote = sp.pick_flips("simple", feats, logits, labels, cfg, torch.Generator().manual_seed(0))[0]
    assert vote.any() and not (vote & (labels != sp.UNL)).any()
    for arm in ("confidence", "random"):
        flip, v = sp.pick_flips(arm, feats, logits, labels, cfg, torch.Generator().manual_seed(0))
        assert torch.equal(v, vote)
        assert torch.equal(flip.flatten(1).sum(1), vote.flatten(1).sum(1))
        assert not (flip & (labels != sp.UNL)).any()
    flip, _ = sp.pick_flips("confidence", feats, logits, labels, cfg, torch.Generator().manual_seed(0))
    pfg = torch.softmax(logits, 1)[:, 1]
    for b in range(3):
        unl = labels[b] == sp.UNL
        if flip[b].any() and (unl & ~flip[b]).any():
            assert pfg[b][flip[b]].min() >= pfg[b][unl & ~flip[b]].max()
    assert not sp.pick_flips("continue", feats, logits, labels, cfg, g)[0].any()


def test_pseudo_mask_from_extreme_points():
    img, mask = sp.make_lesion(5000, 32)
    pts = sp.extreme_points(mask)
    assert all(mask[r, c] for r, c in pts)
    labels, scrib = sp.pseudo_mask(img, pts)
    r0, r1, c0, c1 = pts[2, 0], pts[3, 0], pts[0, 1], pts[1, 1]
    box = np.zeros_like(mask)
    box[r0:r1 + 1, c0:c1 + 1] = True
    assert (labels[~box] == sp.BG).all()                  # outside the box: background
    assert set(np.unique(labels[box])) <= {sp.FG, sp.UNL}  # inside: foreground or unlabelled
    assert (labels[scrib] == sp.FG).all() and all(scrib[r, c] for r, c in pts)
    fg = labels == sp.FG
    assert (fg & mask).sum() / fg.sum() > 0.8             # the confident foreground is mostly lesion


def test_random_walker_is_harmonic():
    img = np.zeros((8, 8), np.float32)
    fg, bg = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    fg[:, 0], bg[:, -1] = True, True
    prob = sp.random_walker(img, fg, bg)                  # uniform weights: a linear ramp between the seeds
    assert np.allclose(prob, np.linspace(1, 0, 8)[None].repeat(8, 0), atol=1e-4)


def test_dice_and_recall():
    pred = torch.tensor([[[1, 1], [0, 0]]]).bool()
    gt = torch.tensor([[[1, 0], [1, 0]]]).bool()
    assert sp.dice(pred, gt).item() == pytest.approx(0.5)
    assert sp.recall(pred, gt).item() == pytest.approx(0.5)


def test_tiny_run_and_swaps():
    cfg = dataclasses.replace(sp.PRESETS["small"], n_train=8, n_test=4, steps1=2, steps2=2, batch1=4, batch2=4,
                              lam=-1.0, alpha=0.0)
    res = sp.run(cfg, [5000])
    vals = sp.claim_values(res)
    assert set(res.per_seed[0].dice) >= {"stage1", "continue", "arm", "simple", "confidence", "random"}
    assert len(vals["precision_over_chance"]) == 1 and 0 < vals["flip_rate"][0] <= 1
    for swap in sp.SWAPS:
        c = swap.apply(cfg)
        assert c.compare is False
        r = sp.run(c, [5000])
        assert np.isfinite(sp.claim_values(r)["precision_over_chance"][0])
    # λ = −1 and α = 0 flip every unlabelled voxel: precision equals the chance level
    log = res.per_seed[0].logs["arm"]
    assert sum(log.flips) == sum(log.unlabelled)
