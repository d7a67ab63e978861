"""Unit tests of featurelab.papers.cauchy_schwarz_ib (CS-IB, Yu et al. ICLR 2024): data, members, loss, run."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import cauchy_schwarz_ib as csib
from featurelab.base import ParameterError

TINY = dataclasses.replace(csib.PRESETS["small"], n_train=256, n_val=64, n_test=64, hidden=16, bottleneck=4,
                           dec_hidden=8, epochs=2, batch_size=64, n_eval_info=32, n_seeds=2)


def test_data_outliers_only_in_training_labels():
    d = csib.make_data(TINY, seed=3)
    assert d.x_train.shape == (256, 8) and d.y_val.shape == (64,)
    n_out = int(d.outlier.sum())
    assert n_out == round(0.1 * 256)
    shift = (d.y_train - d.y_train_clean)
    assert torch.allclose(shift[d.outlier].abs(), torch.full((n_out,), 8.0))
    assert (shift[~d.outlier] == 0).all()
    d2 = csib.make_data(TINY, seed=3)
    assert torch.equal(d.y_train, d2.y_train)  # seeded


def test_members_are_independent_and_share_init_per_seed():
    variants = TINY.variants[:3]
    model = csib.make_model(TINY, [0, 1], variants, device="cpu")
    w = model.enc.layers[0].weight
    assert torch.equal(w[0], w[2]) and not torch.equal(w[0], w[3])  # same seed: same init; other seed: other
    x = torch.randn(6, 10, 8)
    t, y = model(x)
    assert t.shape == (6, 10, 4) and y.shape == (6, 10)
    # a loss on member 0 only leaves the others' gradients at zero
    y[0].sum().backward()
    assert w.grad[1:].abs().sum() == 0 and w.grad[0].abs().sum() > 0


def test_reinit_null_trains_beta_zero_from_other_weights():
    null = dataclasses.replace(TINY, compression="reinit").variants
    by = {v.name: v for v in null}
    assert by["cs_ib_0.1"].beta == 0 and by["cs_ib_0.1"].grid == 0.1 and by["cs_ib_0.1"].init > 0
    assert by["cs_div"].init == 0 and by["cs_ib_0.3"].init != by["cs_ib_0.1"].init
    model = csib.make_model(TINY, [0], null, device="cpu")
    w = model.enc.layers[0].weight
    names = [v.name for v in null]
    assert not torch.equal(w[names.index("cs_div")], w[names.index("cs_ib_0.1")])


def test_cs_ib_loss_compression_only_when_beta_positive():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 32, 8, generator=g)
    t = torch.randn(2, 32, 4, generator=g)
    y = torch.randn(2, 32, generator=g)
    loss, pred, comp = csib.cs_ib_loss(x, t, y, y + 0.1, torch.tensor([0.0, 0.5]), 1.0, torch.tensor([1.0, 1.0]))
    assert comp[0] == 0 and comp[1] > 0
    assert torch.allclose(loss, pred + torch.tensor([0.0, 0.5]) * comp)


def test_run_tiny_and_claim_values():
    res = csib.run(TINY, [0, 1], progress=False)
    names = [v.name for v in res.variants]
    assert names == ["mse", "huber", "cs_div", "cs_ib_0.1", "cs_ib_0.3", "cs_div_sigma10"]
    assert res.rmse_test.shape == (2, 6) and np.isfinite(res.rmse_test).all()
    assert res.fgsm_rmse.shape == (2, 6, len(TINY.fgsm_eps))
    assert np.allclose(res.fgsm_rmse[..., 0], res.rmse_test, atol=1e-5)  # ε = 0 is the clean RMSE
    assert (res.best_epoch >= 1).all() and (res.best_epoch <= TINY.epochs).all()
    vals = csib.claim_values(res)
    assert set(vals) >= {c.key for c in csib.CLAIMS} | {"huber_rmse_ratio"}
    # the sanity swaps are 1 by construction; Huber in place reads the Huber column
    res.cfg = dataclasses.replace(TINY, method="mse")
    assert np.allclose(csib.claim_values(res)["csib_rmse_ratio"], 1.0)
    res.cfg = dataclasses.replace(TINY, method="huber")
    assert np.allclose(csib.claim_values(res)["csib_rmse_ratio"], vals["huber_rmse_ratio"])
    res.cfg = dataclasses.replace(TINY, compression="off")
    off = csib.claim_values(res)
    assert np.allclose(off["ics_beta_ratio"], 1.0) and np.isclose(off["ics_monotone_step"], 1.0)
    # deterministic given the seeds
    res2 = csib.run(TINY, [0, 1], progress=False)
    assert np.allclose(res.rmse_test, res2.rmse_test)


def test_loss_profile_is_bounded():
    r = np.array([0.0, 1.0, 100.0])
    p = csib.loss_profile(r, 1.0)
    assert p[0] == 0 and 0 < p[1] < 1 and np.isclose(p[2], 1.0)


@pytest.mark.parametrize("change", [
    {"epochs": 0}, {"lr": -1.0}, {"betas": (0.1, 1.0)}, {"betas": (0.0,)}, {"outlier_frac": 0.6},
    {"batch_size": 4}, {"n_train": 100}, {"dim": 2}, {"sigma_y": 0.0}, {"n_eval_info": 5000}, {"n_seeds": 0},
    {"method": "l1"}, {"compression": "none"}, {"method": "blunt", "blunt_sigma_y": 0.0},
])
def test_bad_config_raises(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(csib.PRESETS["small"], **change)


def test_bad_variant_raises():
    with pytest.raises(ParameterError):
        csib.Variant("x", "l1")
    with pytest.raises(ParameterError):
        csib.Variant("x", "mse", beta=0.1)


def test_swaps_are_config_changes():
    from featurelab.experiment import contract_errors

    assert contract_errors(csib) == []
    kinds = {s.name: s.kind for s in csib.SWAPS}
    assert kinds["huber"] == "baseline" and kinds["beta_reinit"] == "null" and kinds["beta_off"] == "sanity"
    assert csib.SWAPS[0].apply(csib.PRESETS["small"]).method == "blunt"
