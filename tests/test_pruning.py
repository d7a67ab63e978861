"""Unit tests of featurelab.pruning: Gumbel top-k width sampling, channel-wise interpolation, FLOP counting,
the one-sided cost loss, distillation and the pruning baselines (seeded, tiny, CPU)."""

import math

import pytest
import torch
import torch.nn.functional as F

from featurelab import pruning
from featurelab.base import ParameterError


def test_width_choices_follow_the_official_ratios():
    assert pruning.width_choices(16) == (4, 6, 8, 9, 11, 12, 14, 16)          # int(16·r), r = 0.3 … 1.0
    assert pruning.width_choices(10) == (3, 4, 5, 6, 7, 8, 9, 10)
    assert pruning.width_choices(3, (0.1, 0.5)) == (1, 3)                       # ≥ 1, full width always in
    for bad in (dict(c_max=0), dict(c_max=8, ratios=(0.0, 1.0)), dict(c_max=8, ratios=(1.5,))):
        with pytest.raises(ParameterError):
            pruning.width_choices(**bad)


def test_gumbel_top_k_shapes_distinct_indices_and_renormalised_probs():
    logits = torch.randn(5, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    idx, p = pruning.gumbel_top_k(logits, 1.0, 2, torch.Generator().manual_seed(1))
    assert idx.shape == (5, 2) and p.shape == (5, 2)
    assert (idx[:, 0] != idx[:, 1]).all()
    assert torch.allclose(p.sum(1), torch.ones(5))
    p[:, 0].sum().backward()                                                    # differentiable in α
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # the same generator state gives the same draw
    a = pruning.gumbel_top_k(logits, 1.0, 2, torch.Generator().manual_seed(3))
    b = pruning.gumbel_top_k(logits, 1.0, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])
    for bad in (dict(tau=0.0), dict(k=9), dict(k=0)):
        with pytest.raises(ParameterError):
            pruning.gumbel_top_k(logits, **{"tau": 1.0, "k": 2, **bad})


def test_gumbel_top_k_frequencies_follow_softmax_and_probs_are_the_formula():
    # k = 1 at small τ: softmax((log p + g)/τ) is one-hot at the Gumbel-max, so P(index = j) = softmax(α)_j
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5]])
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(4000):
        counts[pruning.gumbel_top_k(logits, 0.01, 1, g)[0][0, 0]] += 1
    assert torch.allclose(counts / 4000, torch.softmax(logits[0], 0), atol=0.03)
    # the two probabilities are softmax((log_softmax(α) + g)/τ) restricted to the selected pair, renormalised
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    idx, p = pruning.gumbel_top_k(logits, 0.5, 2, g1)
    u = torch.rand(logits.shape, generator=g2)
    z = (logits.log_softmax(1) - torch.log(-torch.log(u))) / 0.5
    zs = z[0, idx[0]]
    assert torch.allclose(p[0], torch.softmax(zs, 0), atol=1e-6)


def _cwi_official_v1(x, oc):
    """The official ChannelWiseInterV1: mean over channels floor(o·C/oC) … ceil((o+1)·C/oC) − 1."""
    b, c, h, w = x.shape
    out = torch.zeros(b, oc, h, w)
    for o in range(oc):
        s, e = math.floor(o * c / oc), math.ceil((o + 1) * c / oc)
        out[:, o] = x[:, s:e].mean(1)
    return out


@pytest.mark.parametrize("c, oc", [(5, 8), (6, 12), (7, 3), (8, 8)])
def test_channel_interp_equals_the_official_cwi(c, oc):
    x = torch.randn(2, c, 3, 4, generator=torch.Generator().manual_seed(c))
    got = pruning.channel_interp(x, oc)
    assert got.shape == (2, oc, 3, 4)
    assert torch.allclose(got, F.adaptive_avg_pool3d(x, (oc, 3, 4)), atol=1e-6)     # ChannelWiseInterV2
    assert torch.allclose(got, _cwi_official_v1(x, oc), atol=1e-6)                   # ChannelWiseInterV1
    x1 = torch.randn(2, c, 10)                                                         # 1D feature maps
    assert torch.allclose(pruning.channel_interp(x1, oc), pruning.channel_interp(x1[..., None], oc)[..., 0])


def test_cwi_mix_is_the_weighted_sum_of_aligned_maps():
    a, b = torch.randn(2, 4, 6), torch.randn(2, 8, 6)
    p = torch.tensor([0.3, 0.7])
    want = 0.3 * pruning.channel_interp(a, 8) + 0.7 * b
    assert torch.allclose(pruning.cwi_mix([a, b], p), want)
    # a constant map stays constant after CWI: widening repeats, narrowing averages
    assert torch.allclose(pruning.channel_interp(torch.ones(1, 3, 2), 7), torch.ones(1, 7, 2))
    with pytest.raises(ParameterError):
        pruning.cwi_mix([a, b], torch.tensor([1.0]))


def test_flops_of_a_chain_by_hand_and_expected_widths_are_differentiable():
    # conv 1→4 (k=5, 40 positions), conv 4→6 (k=3, 10 positions), head 6·10
    want = 5 * 40 * 1 * 4 + 3 * 10 * 4 * 6 + 6 * 10
    assert pruning.chain_flops([4, 6], 1, [5, 3], [40, 10], n_classes=10) == want
    assert pruning.conv_flops(4, 6, 3, 10, groups=2) == 3 * 10 * 4 * 6 / 2
    w = torch.tensor([4.0, 6.0], requires_grad=True)
    f = pruning.chain_flops([w[0], w[1]], 1, [5, 3], [40, 10], n_classes=10)
    f.backward()
    assert f.item() == want
    assert torch.allclose(w.grad, torch.tensor([5 * 40 + 3 * 10 * 6, 3 * 10 * 4 + 10.0]))
    with pytest.raises(ParameterError):
        pruning.chain_flops([4, 6], 1, [5], [40, 10])


def test_flop_loss_is_one_sided_like_the_official_code():
    e = torch.tensor(50.0, requires_grad=True)
    assert pruning.flop_loss(e, 120.0, 100.0, 10.0).item() == pytest.approx(math.log(50))     # above R: push down
    assert pruning.flop_loss(e, 101.0, 100.0, 10.0).item() == pytest.approx(math.log(50))     # no upper tolerance
    assert pruning.flop_loss(e, 85.0, 100.0, 10.0).item() == pytest.approx(-math.log(50))     # below R − t: push up
    zero = pruning.flop_loss(e, 95.0, 100.0, 10.0)                                              # inside [R − t, R]
    assert zero.item() == 0.0
    zero.backward()
    assert e.grad.item() == 0.0
    with pytest.raises(ParameterError):
        pruning.flop_loss(e, 95.0, 0.0, 1.0)


def test_kd_loss_is_the_hinton_formula():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    y = torch.randint(0, 4, (6,), generator=g)
    T, a = 4.0, 0.9
    ps, pt = torch.softmax(s / T, 1), torch.softmax(t / T, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    want = (1 - a) * F.cross_entropy(s, y) + a * T * T * kl
    assert torch.allclose(pruning.kd_loss(s, t, y, a, T), want, atol=1e-6)
    assert torch.allclose(pruning.kd_loss(s, t, y, 0.0, T), F.cross_entropy(s, y))
    assert pruning.kd_loss(t, t, y, 1.0, T).item() == pytest.approx(0.0, abs=1e-6)           # student = teacher
    with pytest.raises(ParameterError):
        pruning.kd_loss(s, t[:, :3], y)
    with pytest.raises(ParameterError):
        pruning.kd_loss(s, t, y, alpha=1.5)


def test_l1_keep_picks_the_largest_filters():
    w = torch.zeros(5, 2, 3)
    for i, v in enumerate([0.1, 3.0, -2.0, 0.5, 1.0]):
        w[i] = v
    assert pruning.l1_keep(w, 3).tolist() == [1, 2, 4]
    with pytest.raises(ParameterError):
        pruning.l1_keep(w, 6)


def test_uniform_width_matches_a_budget():
    def cost(ws):
        return pruning.chain_flops(list(ws), 1, [3, 3], [10, 10])

    full = cost((16, 16))
    for mode in ("closest", "at_least", "at_most"):
        ws = pruning.uniform_width((16, 16), cost, 0.3 * full, mode)
        assert ws[0] == ws[1]
        brute = [(w, w) for w in range(1, 17)]
        if mode == "at_least":
            assert ws == min((b for b in brute if cost(b) >= 0.3 * full), key=cost)
        elif mode == "at_most":
            assert ws == max((b for b in brute if cost(b) <= 0.3 * full), key=cost)
        else:
            assert ws == min(brute, key=lambda b: abs(cost(b) - 0.3 * full))
    assert pruning.uniform_width((16, 16), cost, 2 * full, "at_least") == (16, 16)
    with pytest.raises(ParameterError):
        pruning.uniform_width((16, 16), cost, 0.3 * full, "nearest")


def test_gumbel_tau_schedule():
    assert pruning.gumbel_tau(0, 11) == 10.0
    assert pruning.gumbel_tau(10, 11) == pytest.approx(0.1)
    assert pruning.gumbel_tau(5, 11) == pytest.approx(5.05)
