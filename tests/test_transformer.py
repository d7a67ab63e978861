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
