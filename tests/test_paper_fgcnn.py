"""Unit tests of featurelab.papers.fgcnn: data, feature generator, FGCNN, experiment plumbing."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from featurelab.papers import fgcnn
from featurelab.base import ParameterError


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
    for change in ({"n_train": 0}, {"lr": 2.0}, {"kernel": 2}, {"channels": (6,)}, {"epochs": 0},
                   {"triple_effect": -1.0}, {"method": "deepfm"}, {"order": "sorted"}, {"patience": 0}):
        with pytest.raises(ParameterError):
            dataclasses.replace(cfg, **change)
    with pytest.raises(ParameterError):
        fgcnn.make_model("deepfm", fgcnn.CARDS, cfg, 0)


TINY = dataclasses.replace(fgcnn.PRESETS["small"], n_train=1000, n_valid=500, n_test=1000, epochs=2,
                           baseline_epochs=3, batch_size=500, n_seeds=1)


def test_at_epochs_reads_early_stopping_within_a_cap():
    curves = {"valid": [0.6, 0.7, 0.65, 0.9], "test": [0.61, 0.72, 0.66, 0.88]}
    assert fgcnn.at_epochs(curves, 3) == 0.72 and fgcnn.at_epochs(curves, 4) == 0.88 and fgcnn.at_epochs(curves, 1) == 0.61


def test_run_is_deterministic_and_swaps_change_the_method_arm():
    torch.set_num_threads(1)
    r1 = fgcnn.run(TINY, [5], progress=False)
    r2 = fgcnn.run(TINY, [5], progress=False)
    assert r1.runs[0]["ipnn"]["auc"] == pytest.approx(r2.runs[0]["ipnn"]["auc"])
    assert r1.runs[0]["method"]["auc"] == pytest.approx(r2.runs[0]["method"]["auc"])
    assert len(r1.runs[0]["method"]["valid"]) <= TINY.epochs and len(r1.runs[0]["ipnn"]["valid"]) <= TINY.baseline_epochs
    assert r1.conv.shape == (TINY.channels[0], TINY.kernel) and 0.4 < r1.lr[0] <= 1.0
    vals = fgcnn.claim_values(r1)
    assert {c.key for c in fgcnn.CLAIMS} <= set(vals)
    sw = {s.name: s for s in fgcnn.SWAPS}
    null = fgcnn.run(sw["ipnn_null"].apply(TINY), [5], progress=False)
    assert null.runs[0]["ipnn"]["auc"] == pytest.approx(r1.runs[0]["ipnn"]["auc"])  # the baseline is unchanged
    assert null.runs[0]["method"]["auc"] != null.runs[0]["ipnn"]["auc"]  # a fresh IPNN: not 0 by construction
    assert sw["shuffled_fields"].apply(TINY).order == "shuffled" and sw["ipnn_wide"].kind == "baseline"
