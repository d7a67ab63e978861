"""Unit tests of featurelab.propagation: the propagation rule against brute-force formulas on tiny inputs."""

import math

import pytest
import torch
import torch.nn.functional as F

from featurelab.base import ParameterError
from featurelab.propagation import (MemoryBank, aggregate, context_frames, downsample_labels, l2_affinity, one_hot,
                                    propagate_labels, propagate_masks, propagate_with_memory, radius_mask,
                                    region_similarity, threshold_pseudo_labels, upsample_labels)


def _brute_force(feats, y0, topk, tau, radius, n_recent, use_first):
    """The rule written out position by position, with Python loops."""
    T, D, h, w = feats.shape
    f = F.normalize(feats, dim=1)
    out = [y0.clone()]
    for t in range(1, T):
        first = [0] if use_first else []
        recent = [s for s in range(max(0, t - n_recent), t) if not (use_first and s == 0)]
        pred = torch.zeros_like(y0)
        for qy in range(h):
            for qx in range(w):
                cand = []
                for s in first + recent:
                    for ky in range(h):
                        for kx in range(w):
                            if s in recent and radius is not None and math.hypot(qy - ky, qx - kx) >= radius:
                                continue
                            a = float(f[t, :, qy, qx] @ f[s, :, ky, kx]) / tau
                            cand.append((a, out[s][:, ky, kx]))
                cand.sort(key=lambda c: -c[0])
                kept = cand[:topk] if topk is not None else cand
                m = max(a for a, _ in kept)
                ws = [math.exp(a - m) for a, _ in kept]
                pred[:, qy, qx] = sum(wi * v for wi, (_, v) in zip(ws, kept)) / sum(ws)
        out.append(pred)
    return torch.stack(out)


@pytest.mark.parametrize("kw", [dict(topk=3, tau=0.07, radius=None, n_recent=2, use_first=True),
                                dict(topk=5, tau=0.5, radius=1.5, n_recent=2, use_first=True),
                                dict(topk=None, tau=0.2, radius=1.1, n_recent=1, use_first=False),
                                dict(topk=2, tau=0.1, radius=2.0, n_recent=0, use_first=True)])
def test_propagate_labels_equals_brute_force(kw):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 3, 3, 3, generator=g)
    y0 = torch.softmax(torch.randn(2, 3, 3, generator=g) * 3, 0)
    got = propagate_labels(feats, y0, **kw)
    want = _brute_force(feats, y0, **kw)
    assert got.shape == (4, 2, 3, 3)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got.sum(1), torch.ones(4, 3, 3), atol=1e-5)         # soft labels stay distributions


def test_context_frames():
    assert context_frames(1, 3) == ([0], [])
    assert context_frames(5, 3) == ([0], [2, 3, 4])
    assert context_frames(2, 3, use_first=False) == ([], [0, 1])
    assert context_frames(7, 0) == ([0], [])
    with pytest.raises(ParameterError):
        context_frames(3, 0, use_first=False)
    with pytest.raises(ParameterError):
        context_frames(0, 2)


def test_oracle_features_propagate_perfectly_and_masks_roundtrip():
    mask = torch.zeros(5, 8, 8, dtype=torch.long)
    for t in range(5):
        mask[t, 2:5, t:t + 3] = 1
        mask[t, 6:, :2] = 2
    feats = one_hot(mask, 3) + 0.01
    pred = propagate_masks(feats, mask[0], 3, topk=4, tau=0.05, radius=3.0, n_recent=2)
    assert torch.equal(pred, mask)
    assert region_similarity(pred, mask).mean() == 1.0
    pooled = propagate_masks(F.avg_pool2d(feats, 2), mask[0], 3, stride=2, topk=4, tau=0.05)
    assert pooled.shape == mask.shape


def test_radius_mask_and_aggregate():
    m = radius_mask(3, 3, 1.5)
    assert m.shape == (9, 9) and m[0, 4] and not m[0, 8] and m[4].all()         # centre reaches every cell
    assert radius_mask(2, 2, None).all()
    logits = torch.tensor([[1.0, 3.0, 2.0, float("-inf")]])
    values = torch.eye(4)
    want = torch.tensor([[0.0, math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1), 0.0]])
    assert torch.allclose(aggregate(logits, values, topk=2), want, atol=1e-6)
    assert torch.allclose(aggregate(logits, values, None), torch.softmax(logits, 1))


def test_l2_affinity_is_the_softmax_of_negative_squared_distance():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    full = -torch.cdist(q, k) ** 2 / (2.0 * 0.3)                               # √D = 2, τ = 0.3
    assert torch.allclose(torch.softmax(l2_affinity(q, k, 0.3), 1), torch.softmax(full, 1), atol=1e-5)


def test_memory_bank_read_evict_and_propagate():
    g = torch.Generator().manual_seed(2)
    bank = MemoryBank(max_frames=2)
    keys = [torch.randn(4, 3, generator=g) for _ in range(3)]
    vals = [F.one_hot(torch.tensor([i] * 4), 3).float() for i in range(3)]
    for k, v in zip(keys, vals):
        bank.add(k, v)
    assert len(bank) == 2 and bank.keys[0] is keys[0] and bank.keys[1] is keys[2]   # first kept, middle evicted
    q = torch.randn(6, 3, generator=g)
    kk, vv = torch.cat([keys[0], keys[2]]), torch.cat([vals[0], vals[2]])
    want = torch.softmax(-torch.cdist(q, kk) ** 2 / math.sqrt(3), 1) @ vv
    assert torch.allclose(bank.read(q), want, atol=1e-5)
    feats = torch.randn(4, 3, 2, 2, generator=g)
    y0 = one_hot(torch.tensor([[0, 1], [1, 0]]), 2)
    out = propagate_with_memory(feats, y0)
    f = feats.flatten(2).transpose(1, 2)
    want1 = torch.softmax(l2_affinity(f[1], f[0]), 1) @ y0.flatten(1).T
    assert torch.allclose(out[1].flatten(1).T, want1, atol=1e-5)
    with pytest.raises(ParameterError):
        MemoryBank(similarity="cos")
    with pytest.raises(ParameterError):
        MemoryBank().read(q)


def test_threshold_pseudo_labels():
    labelled = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    x = torch.tensor([[1.0, 0.05], [0.05, 1.0], [1.0, 1.0]])
    pseudo, score = threshold_pseudo_labels(x, labelled, labels, 0.9)
    protos = F.normalize(torch.stack([F.normalize(labelled[:2], dim=1).mean(0), labelled[2]]), dim=1)
    sims = F.normalize(x, dim=1) @ protos.T
    assert torch.allclose(score, sims.max(1).values)
    assert pseudo.tolist() == [0, 1, -1]                                        # the diagonal point is ambiguous
    low, _ = threshold_pseudo_labels(x, labelled, labels, 0.5)
    assert (low >= 0).all()
    near, _ = threshold_pseudo_labels(x, labelled, labels, -1.0, prototype="nearest", similarity="l2")
    assert near.tolist()[:2] == [0, 1]
    with pytest.raises(ParameterError):
        threshold_pseudo_labels(x, labelled, labels, 0.5, prototype="median")


def test_region_similarity_and_label_resizing():
    gt = torch.zeros(3, 4, 4, dtype=torch.long)
    gt[:, :2, :2] = 1
    pred = gt.clone()
    pred[1, :2, 2:] = 1                                                          # frame 1: IoU 4/8
    pred[2] = 0                                                                  # frame 2: IoU 0
    j = region_similarity(pred, gt)
    assert j.shape == (1, 2) and torch.allclose(j, torch.tensor([[0.5, 0.0]]))
    empty = region_similarity(torch.zeros_like(gt), torch.zeros_like(gt), labels=[1])
    assert torch.equal(empty, torch.ones(1, 2))                                  # absent from both: 1
    y = one_hot(gt[0], 2)
    assert downsample_labels(y, 2)[1].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert upsample_labels(downsample_labels(y, 2), (4, 4)).shape == (2, 4, 4)
    with pytest.raises(ParameterError):
        one_hot(torch.tensor([[0, 3]]), 2)


@pytest.mark.parametrize("bad", [dict(topk=0), dict(tau=0.0), dict(n_recent=-1), dict(n_recent=0, use_first=False),
                                 dict(radius=-1.0)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ParameterError):
        propagate_labels(torch.randn(3, 2, 2, 2), torch.ones(1, 2, 2), **bad)
