"""Unit tests of featurelab.contrastive (MoCo pieces): fast, seeded, CPU only."""

import math

import pytest
import torch
import torch.nn.functional as F

from featurelab import contrastive as cl
from featurelab.base import ParameterError
from featurelab.ensemble import EnsembleMLP


def test_augment_is_seeded_in_range_and_random_per_image():
    x = torch.rand(6, 1, 28, 28)
    a = cl.augment(x, torch.Generator().manual_seed(0))
    b = cl.augment(x, torch.Generator().manual_seed(0))
    c = cl.augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    # two views of one image differ but stay closer to each other than to another image's view
    imgs = torch.zeros(2, 1, 28, 28)
    imgs[0, :, 6:22, 10:18] = 1.0   # a vertical bar
    imgs[1, :, 10:18, 4:24] = 1.0   # a horizontal bar
    g = torch.Generator().manual_seed(3)
    v1, v2 = cl.augment(imgs, g, noise=0.0, erase_p=0.0), cl.augment(imgs, g, noise=0.0, erase_p=0.0)
    same = F.cosine_similarity(v1.flatten(1), v2.flatten(1))
    other = F.cosine_similarity(v1.flatten(1), v2.flatten(1).roll(1, 0))
    assert (same > other).all() and (same < 1).all()


def test_augment_identity_settings_and_errors():
    x = torch.rand(3, 1, 8, 8)
    ident = cl.augment(x, torch.Generator().manual_seed(0), scale=(1, 1), max_shift=0, max_rotate=0, erase_p=0,
                       brightness=0, noise=0)
    assert torch.allclose(ident, x, atol=1e-5)
    with pytest.raises(ParameterError):
        cl.augment(torch.rand(3, 8, 8))
    with pytest.raises(ParameterError):
        cl.augment(x, scale=(1.2, 0.8))
    with pytest.raises(ParameterError):
        cl.augment(x, brightness=1.5)


def test_queue_is_fifo_wraps_and_checks_shapes():
    q = cl.NegativeQueue(5, 3, generator=torch.Generator().manual_seed(0))
    assert q.keys.shape == (5, 3) and torch.allclose(q.keys.norm(dim=-1), torch.ones(5))
    q.enqueue(torch.full((3, 3), 1.0))
    q.enqueue(torch.full((3, 3), 2.0))  # wraps: slots 3, 4, 0
    assert q.ptr == 1
    assert q.keys[:, 0].tolist() == [2.0, 1.0, 1.0, 2.0, 2.0]
    m = cl.NegativeQueue(4, 2, members=3)
    m.enqueue(torch.arange(6.0).view(3, 1, 2))
    assert m.keys.shape == (3, 4, 2) and m.keys[:, 0].tolist() == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ParameterError):
        m.enqueue(torch.zeros(2, 1, 2))      # wrong member count
    with pytest.raises(ParameterError):
        q.enqueue(torch.zeros(6, 3))         # larger than the queue
    with pytest.raises(ParameterError):
        cl.NegativeQueue(0, 3)


def test_momentum_update_moves_target_towards_online():
    on, tg = EnsembleMLP([0, 1], [4, 3, 2]), EnsembleMLP([7, 8], [4, 3, 2])
    before = [p.clone() for p in tg.parameters()]
    cl.momentum_update(on, tg, 0.9)
    for b, a, o in zip(before, tg.parameters(), on.parameters()):
        assert torch.allclose(a, 0.9 * b + 0.1 * o)
    cl.momentum_update(on, tg, 0.0)
    assert all(torch.equal(a, o) for a, o in zip(tg.parameters(), on.parameters()))
    with pytest.raises(ParameterError):
        cl.momentum_update(on, tg, 1.5)
    with pytest.raises(ParameterError):
        cl.momentum_update(on, EnsembleMLP([0, 1], [4, 5, 2]), 0.5)


def test_info_nce_matches_cross_entropy_and_is_per_member():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(2, 5, 4, generator=g), dim=-1)
    k = F.normalize(torch.randn(2, 5, 4, generator=g), dim=-1)
    queue = F.normalize(torch.randn(2, 7, 4, generator=g), dim=-1)
    loss = cl.info_nce(q, k, queue, tau=0.2)
    assert loss.shape == (2,)
    for m in range(2):
        logits = torch.cat([(q[m] * k[m]).sum(-1, keepdim=True), q[m] @ queue[m].T], 1) / 0.2
        assert torch.allclose(loss[m], F.cross_entropy(logits, torch.zeros(5, dtype=torch.long)), atol=1e-6)
    # a perfectly aligned positive among orthogonal negatives gives a small loss; up-weighting it lowers it more
    e = torch.eye(4)
    small = cl.info_nce(e[:1], e[:1], e[1:], tau=0.1)
    assert small < 1e-3 and cl.info_nce(e[:1], e[:1], e[1:], tau=0.1, pos_scale=2.0) < small
    assert cl.queue_logits(q, k, queue).shape == (2, 5, 8)
    with pytest.raises(ParameterError):
        cl.info_nce(q, k[:, :3], queue)


def test_score_stats_and_alignment():
    e = torch.eye(3)
    s = cl.score_stats(e[:2], e[:2], torch.stack([e[0], -e[0]]))
    assert s["pos"].tolist() == [1.0, 1.0]
    assert s["neg_mean"].tolist() == [0.0, 0.0] and math.isclose(float(s["neg_var"][0]), 2.0)
    assert float(cl.alignment(e, e)) == 1.0 and abs(float(cl.alignment(e, e.roll(1, 0)))) < 1e-6
    with pytest.raises(ParameterError):
        cl.alignment(e, e[:2])


def test_beta_draws_moments_seeded_and_errors():
    a = cl.beta_draws(2.0, (20000,), torch.Generator().manual_seed(0))
    b = cl.beta_draws(2.0, (20000,), torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.var() - 0.05) < 0.005       # Beta(2,2): var 1/20
    c = cl.beta_draws(0.5, (20000,), torch.Generator().manual_seed(1))
    assert abs(c.var() - 0.125) < 0.01                                       # Beta(.5,.5): var 1/8
    assert cl.beta_draws(1.6, (2, 3)).shape == (2, 3)
    with pytest.raises(ParameterError):
        cl.beta_draws(0.0, (3,))
