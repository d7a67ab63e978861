"""Unit tests of featurelab.transformer: the mask is respected, no positional encoding, bad inputs raise."""

import pytest
import torch

from featurelab.run import ParameterError
from featurelab.transformer import EncoderBlock, TinyEncoder, causal_mask


def _enc():
    torch.manual_seed(0)
    enc = TinyEncoder(16, 2, 4, 32, zero_init=False).eval()
    return enc


def test_causal_mask_blocks_the_future():
    enc = _enc()
    x = torch.randn(2, 6, 16)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(2, 2, 16)
    out, out2 = enc(x, causal_mask(6)), enc(x2, causal_mask(6))
    torch.testing.assert_close(out[:, :4], out2[:, :4])
    assert not torch.allclose(out[:, 4:], out2[:, 4:])


def test_permutation_equivariant_without_positions():
    enc = _enc()
    x = torch.randn(3, 5, 16)
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(enc(x)[:, perm], enc(x[:, perm]), atol=1e-5, rtol=1e-5)


def test_batched_mask_and_matches_manual_attention():
    torch.manual_seed(1)
    blk = EncoderBlock(8, 2, 16, zero_init=False).eval()
    x = torch.randn(2, 4, 8)
    mask = torch.rand(2, 4, 4) > 0.3
    mask |= torch.eye(4, dtype=torch.bool)
    q, k, v = blk.qkv(x).view(2, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
    att = (q @ k.transpose(-1, -2) / 2.0).masked_fill(~mask.unsqueeze(1), float("-inf")).softmax(-1)
    ref = blk.out((att @ v).transpose(1, 2).reshape(2, 4, 8))
    torch.testing.assert_close(blk.attention(x, mask), ref, atol=1e-5, rtol=1e-5)


def test_zero_init_starts_as_normalised_identity():
    blk = EncoderBlock(8, 2, 16, zero_init=True)
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(blk(x), blk.norm2(blk.norm1(x)))


def test_bad_arguments_raise():
    with pytest.raises(ParameterError, match="divisible"):
        EncoderBlock(10, 3, 8)
    with pytest.raises(ParameterError, match="n_layers"):
        TinyEncoder(8, 0, 2, 8)
    enc = TinyEncoder(8, 1, 2, 8)
    with pytest.raises(ParameterError, match="boolean"):
        enc(torch.randn(1, 3, 8), torch.ones(3, 3))
    with pytest.raises(ParameterError, match="shape"):
        enc(torch.randn(1, 3, 8), torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ParameterError, match="at least one"):
        enc(torch.randn(1, 2, 8), torch.tensor([[True, False], [False, False]]))


# ---------------------------------------------------------------------- observable propagation helpers
from featurelab.transformer import coupling_coefficient, layernorm_jacobian, ov_pullback, unembed_observable  # noqa: E402


def test_ov_pullback_reads_the_head_output_exactly():
    torch.manual_seed(2)
    w_v, w_o, w_u = torch.randn(3, 8, 4), torch.randn(3, 4, 8), torch.randn(5, 8)
    n = torch.tensor([1.0, -1.0, 0.0, 0.0, 0.0])
    y = ov_pullback(w_v, w_o, unembed_observable(w_u, n))
    x = torch.randn(10, 8)
    for h in range(3):  # y_hᵀx = nᵀ W_U W_O,h W_V,h x in the paper's column convention
        torch.testing.assert_close(x @ y[h], (x @ w_v[h] @ w_o[h] @ w_u.T) @ n, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ov_pullback(w_v[1], w_o[1], unembed_observable(w_u, n)), y[1])


def test_unembed_observable_folds_the_final_layernorm():
    torch.manual_seed(3)
    ln = torch.nn.LayerNorm(8)
    with torch.no_grad():
        ln.weight.copy_(torch.rand(8) + 0.5)
        ln.bias.copy_(torch.randn(8))
    w_u, n = torch.randn(4, 8), torch.tensor([0.0, 1.0, -1.0, 0.0])
    u = unembed_observable(w_u, n, ln.weight.detach())
    r = torch.randn(6, 8)
    sigma = torch.sqrt(r.var(1, unbiased=False) + ln.eps)
    const = (ln.bias.detach() @ w_u.T) @ n
    torch.testing.assert_close((ln(r).detach() @ w_u.T) @ n, r @ u / sigma + const, atol=1e-4, rtol=1e-4)
    assert abs(float(u.sum())) < 1e-5  # the mean direction is removed


def test_coupling_coefficient_is_the_regression_slope_for_isotropic_inputs():
    torch.manual_seed(4)
    y1, y2 = torch.randn(16), torch.randn(16)
    y2 = y2 + 0.7 * y1
    x = torch.randn(200_000, 16)
    a, b = x @ y1, x @ y2
    slope = float((a * b).sum() / (a * a).sum())
    assert abs(float(coupling_coefficient(y1, y2)) - slope) < 0.02
    assert float(coupling_coefficient(y1, 2 * y1)) == pytest.approx(2.0)
    with pytest.raises(ParameterError, match="zero"):
        coupling_coefficient(torch.zeros(4), torch.ones(4))


def test_layernorm_jacobian_matches_autograd_and_keeps_directions_in_high_dimension():
    torch.manual_seed(5)
    ln = torch.nn.LayerNorm(12)
    with torch.no_grad():
        ln.weight.copy_(torch.rand(12) + 0.5)
    x = torch.randn(12, dtype=torch.float64)
    auto = torch.autograd.functional.jacobian(lambda v: ln.double()(v), x)
    torch.testing.assert_close(layernorm_jacobian(x, ln.weight.detach().double()), auto, atol=1e-8, rtol=1e-6)
    j = layernorm_jacobian(x)
    torch.testing.assert_close(j @ torch.ones(12, dtype=torch.float64), torch.zeros(12, dtype=torch.float64), atol=1e-10, rtol=0)
    cos = []
    for d in (4, 64, 256):  # the paper's Sec. 3.2 argument: Jᵀy keeps y's direction better as d grows
        xs, ys = torch.randn(200, d, dtype=torch.float64), torch.randn(200, d, dtype=torch.float64)
        c = [float(torch.nn.functional.cosine_similarity(ys[i], layernorm_jacobian(xs[i]).T @ ys[i], dim=0))
             for i in range(200)]
        cos.append(sum(c) / len(c))
    assert cos[0] < cos[1] < cos[2] and cos[1] > 0.95


def test_observable_helpers_reject_bad_shapes():
    with pytest.raises(ParameterError):
        ov_pullback(torch.randn(8, 4), torch.randn(3, 8), torch.randn(8))
    with pytest.raises(ParameterError):
        unembed_observable(torch.randn(4, 8), torch.randn(3))
    with pytest.raises(ParameterError):
        unembed_observable(torch.randn(4, 8), torch.randn(4), torch.randn(7))
    with pytest.raises(ParameterError):
        layernorm_jacobian(torch.randn(2, 3))


# ---------------------------------------------------------------------- routed ViT (dynamic token routing)
from featurelab.transformer import (RoutedBlock, RoutedViT, patchify, routed_macs, straight_through_gate,  # noqa: E402
                                    straight_through_topk, token_compute_fraction)


def test_straight_through_gate_is_hard_forward_and_sigmoid_backward():
    z = torch.tensor([-2.0, -0.1, 0.3, 3.0], requires_grad=True)
    g = straight_through_gate(z)
    assert g.tolist() == [0.0, 0.0, 1.0, 1.0]
    g.sum().backward()
    p = torch.sigmoid(z.detach())
    torch.testing.assert_close(z.grad, p * (1 - p))
    z2 = torch.tensor([[0.5, -1.0, 2.0, 0.1]], requires_grad=True)
    t = straight_through_topk(z2, 2)
    assert t.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    t.sum().backward()
    p2 = torch.sigmoid(z2.detach())
    torch.testing.assert_close(z2.grad, p2 * (1 - p2))
    with pytest.raises(ParameterError, match="capacity"):
        straight_through_topk(z2, 5)


def test_patchify_row_major():
    img = torch.arange(16.0).view(1, 1, 4, 4)
    p = patchify(img, 2)
    assert p.shape == (1, 4, 4)
    assert p[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]          # top-right patch
    with pytest.raises(ParameterError, match="divide"):
        patchify(img, 3)


def test_routed_block_skipped_tokens_are_identity_and_invisible():
    torch.manual_seed(0)
    blk = RoutedBlock(8, 2, 16).eval()
    x = torch.randn(2, 5, 8)
    gate = torch.tensor([[1.0, 1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0]])
    out = blk(x, gate)
    torch.testing.assert_close(out[gate == 0], x[gate == 0])
    x2 = x.clone()
    x2[gate == 0] = torch.randn(int((gate == 0).sum()), 8)   # changing skipped tokens changes nothing else
    out2 = blk(x2, gate)
    torch.testing.assert_close(out2[gate == 1], out[gate == 1])
    for b in range(2):                                        # = the full block run on the active tokens alone
        keep = gate[b] == 1
        torch.testing.assert_close(blk(x[b:b + 1, keep])[0], out[b, keep], atol=1e-5, rtol=1e-5)
    # with skipped tokens kept as keys/values the active outputs do depend on them
    assert not torch.allclose(blk(x2, gate, kv_skipped=True)[gate == 1], blk(x, gate, kv_skipped=True)[gate == 1])


def test_routed_vit_routers_and_gates():
    torch.manual_seed(1)
    x = torch.rand(3, 1, 8, 8)
    open_ = RoutedViT(8, 4, 1, 16, 3, 2, 32, 5, router="token").eval()   # bias +2: every gate starts open
    none = RoutedViT(8, 4, 1, 16, 3, 2, 32, 5, router="none").eval()
    none.load_state_dict(open_.state_dict())
    torch.testing.assert_close(open_(x), none(x))
    assert open_.last_gates.shape == (3, 3, 4) and bool((open_.last_gates == 1).all())
    pos = RoutedViT(8, 4, 1, 16, 3, 2, 32, 5, router="position", capacity=2).eval()
    with torch.no_grad():
        pos.gate_position.copy_(torch.tensor([[3.0, 2.0, 1.0, 0.0]] * 3))
    pos(x)
    assert pos.last_gates[:, :, :2].eq(1).all() and pos.last_gates[:, :, 2:].eq(0).all()
    fixed = RoutedViT(8, 4, 1, 16, 3, 2, 32, 5, router="fixed", early_stop=True).eval()
    g = torch.ones(3, 3, 4)
    g[:, 0, 1] = 0                                            # skipped at layer 0: stays skipped (early stop)
    fixed(x, gates=g)
    assert fixed.last_gates[:, :, 1].eq(0).all() and fixed.last_gates[:, :, 0].eq(1).all()
    rnd = RoutedViT(8, 4, 1, 16, 3, 2, 32, 5, router="random", keep=0.3)
    rnd(torch.rand(400, 1, 8, 8))
    assert abs(float(rnd.last_gates.mean()) - 0.3) < 0.03
    shallow = none(x, n_layers=1)
    assert shallow.shape == (3, 5) and none.last_gates.shape == (3, 1, 4)


def test_router_gradient_reaches_the_gate_through_a_budget_loss():
    torch.manual_seed(2)
    m = RoutedViT(8, 4, 1, 16, 2, 2, 32, 5, router="token")
    m(torch.rand(4, 1, 8, 8))
    ((m.last_gates.mean() - 0.25) ** 2).backward()
    assert m.gate_token[0].bias.grad is not None and float(m.gate_token[0].bias.grad) > 0   # push gates shut


def test_detached_router_trains_only_the_router():
    x = torch.rand(4, 1, 8, 8)
    grads = {}
    for detach in (False, True):
        torch.manual_seed(2)
        m = RoutedViT(8, 4, 1, 16, 2, 2, 32, 5, router="token", detach_router=detach)
        with torch.no_grad():
            for lin in m.gate_token:   # a router that reads its input (not a zero-initialised one)
                lin.weight.normal_()
        m(x)
        ((m.last_gates.mean() - 0.25) ** 2).backward()   # a loss on the gates only
        grads[detach] = m.embed.weight.grad
        assert m.gate_token[1].bias.grad is not None and float(m.gate_token[1].bias.grad) != 0
    # with the router's input detached, a gate loss no longer reaches the patch embedding
    assert grads[False] is not None and float(grads[False].abs().sum()) > 0
    assert grads[True] is None or float(grads[True].abs().sum()) == 0


def test_compute_accounting_matches_a_hand_count():
    gates = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])       # (B=1, L=2, N=3)
    assert float(token_compute_fraction(gates)) == pytest.approx(3 / 6)
    D, F_ = 4, 8
    n = torch.tensor([3.0, 2.0])                                      # active incl. CLS
    want = float((n * (4 * D * D + 2 * D * F_) + 2 * n * n * D).sum()) + 2 * 3 * D
    assert float(routed_macs(gates, D, F_)) == pytest.approx(want)
    full = torch.ones(1, 2, 3)
    assert float(routed_macs(gates, D, F_)) < float(routed_macs(full, D, F_))
    kv = float(routed_macs(gates, D, F_, kv_skipped=True, router_cost=False))
    T = 4
    assert kv == pytest.approx(float((n * (D * D + 2 * D * F_) + T * 3 * D * D + 2 * n * T * D).sum()))


def test_routed_vit_bad_arguments_raise():
    with pytest.raises(ParameterError, match="router"):
        RoutedViT(router="learned")
    with pytest.raises(ParameterError, match="divide"):
        RoutedViT(image_size=10, patch=4)
    with pytest.raises(ParameterError, match="keep"):
        RoutedViT(keep=0.0)
    with pytest.raises(ParameterError, match="capacity"):
        RoutedViT(image_size=8, patch=4, capacity=5)
    m = RoutedViT(8, 4, 1, 8, 2, 2, 8, 3, router="fixed")
    with pytest.raises(ParameterError, match="gates="):
        m(torch.rand(1, 1, 8, 8))
    with pytest.raises(ParameterError, match="gates must be"):
        m(torch.rand(1, 1, 8, 8), gates=torch.ones(1, 3, 4))
    with pytest.raises(ParameterError, match="n_layers"):
        RoutedViT(8, 4, 1, 8, 2, 2, 8, 3, router="none")(torch.rand(1, 1, 8, 8), n_layers=3)
    with pytest.raises(ParameterError):
        routed_macs(torch.ones(2, 3), 4, 8)
