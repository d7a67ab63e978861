"""Unit tests of featurelab.papers.fgcnn: data, feature generator, FGCNN, experiment plumbing."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from featurelab.papers import fgcnn
from featurelab.run import ParameterError


def test_local_log_is_seeded_and_plants_a_parity_effect():
    a = fgcnn.make_local_log(4000, seed=3)
    b = fgcnn.make_local_log(4000, seed=3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert a.x.shape == (4000, 12) and (a.x < np.array(a.cardinalities)).all()
    assert 0.1 < a.y.mean() < 0.3
    zero = fgcnn.make_local_log(4000, seed=3, pair_effect=0.0, triple_effect=0.0)
    assert np.std(a.logit) > np.std(zero.logit)


def test_conv_is_a_field_axis_convolution_and_pool_is_ceil_maxpool():
    torch.manual_seed(0)
    gen = fgcnn.FeatureGenerator(n_fields=5, dim=3, channels=(4,), kernel=3, pool=2, recomb=(2,), batch_norm=False)
    e = torch.randn(2, 5, 3)
    c = gen.conv(0, e.unsqueeze(-1))                         # (B, n, k, m)
    w = gen.convs[0].weight.reshape(4, 1, 3, 1)              # im2col order = kernel rows
    ref = torch.tanh(nn.functional.conv2d(e.unsqueeze(1), w, gen.convs[0].bias, padding=(1, 0)))
    assert torch.allclose(c, ref.permute(0, 2, 3, 1), atol=1e-6)
    pooled = gen.max_pool(c)
    ref_pool = nn.functional.max_pool2d(ref, (2, 1), ceil_mode=True).permute(0, 2, 3, 1)
    assert pooled.shape == (2, 3, 3, 4) and torch.allclose(pooled, ref_pool)


def test_generator_and_fgcnn_shapes():
    assert fgcnn.n_generated(12, 2, (2, 2)) == 6 * 2 + 3 * 2
    gen = fgcnn.FeatureGenerator(12, 8, (6, 8), 3, 2, (2, 2))
    assert gen.n_new == 18 and gen(torch.randn(4, 12, 8)).shape == (4, 18, 8)
    model = fgcnn.FGCNN(fgcnn.CARDS, dim=8)
    x = torch.zeros(4, 12, dtype=torch.long)
    assert model(x).shape == (4,)
    assert model.classifier.n_inputs == 30
    with pytest.raises(ParameterError):
        fgcnn.FeatureGenerator(12, 8, (6,), 2, 2, (2,))


def test_config_rejects_bad_values():
    cfg = fgcnn.PRESETS["small"]
    for change in ({"n_train": 0}, {"lr": 2.0}, {"kernel": 2}, {"channels": (6,)}, {"epochs": 1.5},
                   {"triple_effect": -1.0}, {"n_seeds": True}):
        with pytest.raises(ParameterError):
            dataclasses.replace(cfg, **change)
    with pytest.raises(ParameterError):
        fgcnn.make_model("deepfm", fgcnn.CARDS, cfg, 0)


def test_run_seed_tiny_is_deterministic():
    torch.set_num_threads(1)
    cfg = dataclasses.replace(fgcnn.PRESETS["small"], n_train=1000, n_test=1000, epochs=1, batch_size=500)
    runs = (("ipnn", "planted"), ("fgcnn", "permuted"))
    r1 = fgcnn.run_seed(cfg, 5, runs=runs)
    r2 = fgcnn.run_seed(cfg, 5, runs=runs[1:])
    assert set(r1["runs"]) == {"ipnn/planted", "fgcnn/permuted"}
    for k in r2["runs"]:
        assert r1["runs"][k]["auc"] == pytest.approx(r2["runs"][k]["auc"])
        assert 0.4 < r1["runs"][k]["auc"] <= 1.0
    assert 0.4 < r1["runs"]["ipnn/planted"]["auc"] <= 1.0
    assert sorted(r1["perm"]) == list(range(12))
    with pytest.raises(ParameterError):
        fgcnn.run_seed(cfg, 5, runs=(("ipnn", "sorted"),))
