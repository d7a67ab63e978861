"""Dense-prediction layers against their definitions: partial convolution by brute force, the attention bias
table, the CMP flow bins, and the guide sampler."""

import pytest
import torch
import torch.nn.functional as F

from featurelab import layers as L
from featurelab.base import ParameterError


def test_partial_conv_matches_eq1_by_brute_force():
    torch.manual_seed(0)
    conv = L.PartialConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 5, 5)
    mask = torch.ones(1, 1, 5, 5)
    mask[..., 1:4, 1:4] = 0
    mask[..., 2, 2] = 1                                # one known pixel inside the hole
    out, new = conv(x, mask)
    xp, mp = F.pad(x * mask, (1, 1, 1, 1)), F.pad(mask, (1, 1, 1, 1))
    for i in range(5):
        for j in range(5):
            m = mp[0, 0, i:i + 3, j:j + 3].sum()
            if m == 0:
                assert new[0, 0, i, j] == 0 and torch.all(out[0, :, i, j] == 0)
                continue
            win = xp[0, :, i:i + 3, j:j + 3]
            expected = (conv.weight * win).sum((1, 2, 3)) * 9 / m + conv.bias
            assert torch.allclose(out[0, :, i, j], expected, atol=1e-5) and new[0, 0, i, j] == 1
    full, ones = conv(x, torch.ones(1, 1, 5, 5))
    inner = F.conv2d(x, conv.weight, conv.bias, padding=1)[..., 1:4, 1:4]
    assert torch.allclose(full[..., 1:4, 1:4], inner, atol=1e-5) and ones.all()   # no hole: a plain conv inside
    with pytest.raises(ParameterError):
        conv(x, torch.ones(1, 2, 5, 5))


def test_biased_attention_and_group_bias():
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 3, 8), torch.randn(2, 3, 5)
    out, w = L.biased_attention(q, k, v)
    ref = torch.softmax(q @ k.transpose(1, 2) / 8 ** 0.5, -1)
    assert torch.allclose(w, ref) and torch.allclose(out, ref @ v)
    masks = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])       # (1, G=2, L=4): pixel 3 in no region
    groups = torch.tensor([0, 1, 1, -1])                                       # tokens: g0, g1, g1, background
    bias = L.group_logit_bias(masks, groups, 2.0)
    expected = torch.tensor([[[2.0, -2, -2, 0], [2, -2, -2, 0], [-2, 2, 2, 0], [0, 0, 0, 0]]])
    assert torch.equal(bias, expected)
    big = L.biased_attention(torch.zeros(1, 4, 8), torch.zeros(1, 4, 8), torch.eye(4)[None], bias * 10)[1]
    assert big[0, 0, 0] > 0.99 and big[0, 2, 1:3].sum() > 0.99                 # pixels attend to their tokens
    with pytest.raises(ParameterError):
        L.group_logit_bias(masks, torch.tensor([0, 2]), 1.0)
    with pytest.raises(ParameterError):
        L.biased_attention(q, k, v[:, :2])


def test_flow_bins_follow_the_official_discrete_loss():
    fmax, nbins = 5.0, 10                                             # step 1
    flow = torch.tensor([-7.0, -5.0, -0.5, 0.0, 0.99, 4.999, 9.0]).view(1, 1, 1, 7).repeat(1, 2, 1, 1)
    b = L.flow_to_bins(flow, nbins, fmax)[0, 0, 0].tolist()
    assert b == [0, 0, 4, 5, 5, 9, 9]
    logits = torch.full((1, 2 * nbins, 1, 7), -30.0)
    for j, bin_ in enumerate(b):
        logits[0, bin_, 0, j] = 30.0
        logits[0, nbins + bin_, 0, j] = 30.0
    dec = L.bins_to_flow(logits, fmax, "argmax")
    assert torch.allclose(dec[0, 0, 0], torch.tensor(b, dtype=torch.float) - 5 + 0.5)
    assert torch.allclose(L.bins_to_flow(logits, fmax), dec, atol=1e-4)
    assert L.binned_flow_loss(logits, flow, fmax).item() < 1e-6
    low = torch.zeros(1, 2 * nbins, 2, 2)
    assert L.binned_flow_loss(low, torch.zeros(1, 2, 4, 4), fmax).item() == pytest.approx(torch.log(torch.tensor(10.0)))
    with pytest.raises(ParameterError):
        L.flow_to_bins(flow, 1, fmax)


def test_sample_guides_prefers_motion_edges():
    flow = torch.zeros(2, 2, 16, 16)
    flow[:, 0, :, 8:] = 3.0                                            # one vertical motion edge at column 7/8
    g = torch.Generator().manual_seed(0)
    sparse, mask = L.sample_guides(flow, 10, g, edge_weight=1.0)
    assert mask.shape == (2, 1, 16, 16) and mask.sum().item() == 20
    cols = mask.nonzero()[:, 3]
    assert set(cols.tolist()) <= {7, 8}                                  # only where the flow changes
    assert torch.equal(sparse, flow * mask)
    _, m0 = L.sample_guides(flow, 0)
    assert m0.sum() == 0
    _, still = L.sample_guides(torch.zeros(1, 2, 4, 4), 3, g)           # no motion: uniform
    assert still.sum() == 3
    with pytest.raises(ParameterError):
        L.sample_guides(flow, 300)
