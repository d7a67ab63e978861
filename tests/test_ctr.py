"""Unit tests of featurelab.ctr: embeddings, FM, inner products, IPNN."""

import pytest
import torch

from featurelab.ctr import IPNN, FieldEmbedding, bce_logits, fm_interaction, inner_products, mlp_head, pair_count
from featurelab.run import ParameterError


def test_field_embedding_uses_offsets_per_field():
    emb = FieldEmbedding([3, 5], dim=4)
    x = torch.tensor([[0, 0], [2, 4]])
    e = emb(x)
    assert e.shape == (2, 2, 4)
    assert torch.equal(e[0, 1], emb.table.weight[3]) and torch.equal(e[1, 1], emb.table.weight[7])
    with pytest.raises(ParameterError):
        emb(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ParameterError):
        FieldEmbedding([3, 0], dim=4)
    with pytest.raises(ParameterError):
        FieldEmbedding([3], dim=0)


def test_inner_products_match_loop_and_fm_sums_them():
    torch.manual_seed(0)
    e = torch.randn(3, 5, 4)
    p = inner_products(e)
    assert p.shape == (3, pair_count(5)) == (3, 10)
    ref = torch.stack([(e[:, a] * e[:, b]).sum(-1) for a in range(5) for b in range(a + 1, 5)], dim=1)
    assert torch.allclose(p, ref, atol=1e-6)
    assert torch.allclose(fm_interaction(e), ref.sum(1), atol=1e-5)


def test_ipnn_shapes_loss_and_errors():
    torch.manual_seed(0)
    model = IPNN([4, 6, 8], dim=3, hidden=(8,))
    x = torch.tensor([[0, 1, 2], [3, 5, 7]])
    logit = model(x)
    assert logit.shape == (2,)
    loss = bce_logits(logit, torch.tensor([0, 1]))
    loss.backward()
    assert model.embedding.table.weight.grad is not None
    with pytest.raises(ParameterError):
        model.classify(torch.zeros(2, 4, 3))
    with pytest.raises(ParameterError):
        mlp_head(0, (4,))
    # n_inputs lets a wrapper append generated embeddings
    wide = IPNN([4, 6], dim=3, hidden=(8,), n_inputs=5)
    assert wide.classify(torch.zeros(2, 5, 3)).shape == (2,)
