"""Unit tests of featurelab.papers.pfn_bayesian_inference (seeded, tiny, fast)."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab import gp
from featurelab.papers import pfn_bayesian_inference as P
from featurelab.base import ParameterError
from featurelab.experiment import contract_errors

TINY = dataclasses.replace(P.PRESETS["small"], d_model=16, n_heads=2, d_ff=32, steps=30, batch_size=8,
                           n_eval_tasks=10, n_eval_sets=1, max_ctx=4, n_points=12, n_buckets=20)


def test_pfn_mask_structure():
    m = P.pfn_mask(3, 6)
    assert m.dtype == torch.bool and m.shape == (6, 6)
    assert m[:, :3].all()  # everyone sees the training tokens
    assert not m[:3, 3:].any()  # training tokens never see queries
    q = m[3:, 3:]
    assert torch.equal(q, torch.eye(3, dtype=torch.bool))  # a query sees only itself among queries
    with pytest.raises(ParameterError):
        P.pfn_mask(0, 4)


def test_queries_are_independent_under_the_pfn_mask():
    torch.manual_seed(0)
    model = P.PFN(TINY).eval()
    for blk in model.encoder.blocks:  # make attention non-trivial (zero init would hide leaks)
        torch.nn.init.normal_(blk.out.weight)
    x = torch.rand(2, 9, 1)
    yc = torch.randn(2, 4)
    alone = model(x[:, :5], yc)[:, 0]  # query 0 with no other queries
    together = model(x, yc)[:, 0]
    torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-5)
    model.mask_fn = P.full_mask  # contrast: with full attention other queries change the prediction
    assert not torch.allclose(model(x[:, :5], yc)[:, 0], model(x, yc)[:, 0], atol=1e-4)


def test_context_is_a_set():
    torch.manual_seed(0)
    model = P.PFN(TINY).eval()
    for blk in model.encoder.blocks:
        torch.nn.init.normal_(blk.out.weight)
    x, yc = torch.rand(1, 7, 1), torch.randn(1, 4)
    perm = torch.tensor([2, 0, 3, 1])
    x2 = torch.cat([x[:, perm], x[:, 4:]], 1)
    torch.testing.assert_close(model(x, yc), model(x2, yc[:, perm]), atol=1e-5, rtol=1e-5)


def test_bar_distribution_is_a_density_with_the_right_moments():
    torch.manual_seed(0)
    bar = P.BarDistribution.from_prior_samples(torch.randn(5000), 10)
    logits = torch.randn(3, 10)
    ys = torch.linspace(-25, 25, 200_001)
    dens = bar.log_density(logits[:, None, :].expand(3, ys.numel(), 10), ys.expand(3, -1)).exp()
    dy = ys[1] - ys[0]
    total = (dens * dy).sum(-1)
    torch.testing.assert_close(total, torch.ones(3), atol=2e-3, rtol=0)
    mean, var = bar.mean_var(logits)
    num_mean = (dens * ys * dy).sum(-1)
    num_var = (dens * ys**2 * dy).sum(-1) - num_mean**2
    torch.testing.assert_close(mean, num_mean, atol=5e-3, rtol=0)
    torch.testing.assert_close(var, num_var, atol=1e-2, rtol=1e-2)
    # the bucket probabilities are the softmax: mass inside inner bucket k is p_k
    k = 4
    inside = (ys >= bar.borders[k]) & (ys < bar.borders[k + 1])
    torch.testing.assert_close((dens[:, inside] * dy).sum(-1), logits.softmax(-1)[:, k], atol=2e-3, rtol=0)
    with pytest.raises(ParameterError):
        P.BarDistribution(torch.tensor([0.0, 1.0, 0.5, 2.0]))


def test_gaussian_head_nll():
    head = P.GaussianHead()
    out = torch.tensor([[0.5, float(np.log(2.0))]])
    torch.testing.assert_close(head.nll(out, torch.tensor([1.0])), gp.gaussian_nll(torch.tensor([1.0]),
                                                                                     torch.tensor([0.5]),
                                                                                     torch.tensor([2.0])))


def test_knn_baseline():
    xc = torch.tensor([[[0.0], [0.1], [0.9]]])
    yc = torch.tensor([[1.0, 3.0, -5.0]])
    mu, var = P.knn_predict(xc, yc, torch.tensor([[[0.05]]]), 2, 0.01)
    assert float(mu) == pytest.approx(2.0) and float(var) == pytest.approx(1.01)


def test_lr_schedule():
    assert P.lr_factor(0, 100, 0.1) == pytest.approx(0.1)
    assert P.lr_factor(9, 100, 0.1) == pytest.approx(1.0)
    assert P.lr_factor(10, 100, 0.1) == pytest.approx(1.0)
    assert P.lr_factor(99, 100, 0.1) < 0.01


@pytest.mark.parametrize("head", ["gaussian", "bar"])
def test_training_reduces_the_prior_data_nll(head):
    cfg = dataclasses.replace(TINY, head=head)
    model, losses = P.train_pfn(cfg, seed=0, progress_bar=False)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    ev = P.evaluate([model], cfg, [1], extra={"untrained": P.PFN(cfg, P.make_head(cfg, 0))})
    assert ev.nll["pfn"].shape == (1, cfg.max_ctx - cfg.min_ctx + 1)
    assert ev.mean("gp")[0] < ev.mean("prior")[0]


def test_run_and_claim_values_follow_the_predictor():
    res = P.run(TINY, [0], progress=False)
    vals = P.claim_values(res)
    assert set(vals) == {c.key for c in P.CLAIMS} and len(vals["gap_to_gp"]) == TINY.n_eval_sets
    ev = res.eval
    assert vals["gap_to_gp"][0] == pytest.approx(ev.mean("pfn")[0] - ev.mean("gp")[0])
    knn = P.run(dataclasses.replace(TINY, predictor="knn"), [0], progress=False)
    assert knn.models == [] and np.isnan(knn.eval.mean("pfn")).all()  # k-NN in the PFN's place: nothing trained
    assert P.claim_values(knn)["gap_to_gp"][0] == pytest.approx(knn.eval.mean("knn")[0] - knn.eval.mean("gp")[0])
    # same evaluation sets in both arms: the GP reference is identical
    np.testing.assert_allclose(knn.eval.nll["gp"], ev.nll["gp"])


def test_contract_and_swaps():
    assert contract_errors(P) == []
    small = P.PRESETS["small"]
    swaps = {s.name: s.apply(small) for s in P.SWAPS}
    assert swaps["untrained_pfn"].steps == 0 and swaps["pfn_150_steps"].steps == 150
    assert swaps["knn"].predictor == "knn" and swaps["knn"].steps == small.steps
    untrained = P.run(dataclasses.replace(TINY, steps=0), [0], progress=False)
    assert untrained.losses == [[]]
    assert P.PRESETS["full"].head == "bar" and P.PRESETS["small"].head == "gaussian"


@pytest.mark.parametrize("change, match", [
    ({"head": "mixture"}, "HEAD"), ({"max_ctx": 30}, "MAX_CTX"), ({"steps": -1}, "STEPS"),
    ({"batch_size": 0}, "BATCH_SIZE"), ({"noise": 0.0}, "NOISE"), ({"kernel": "periodic"}, "KERNEL"),
    ({"d_model": 15}, "D_MODEL"), ({"predictor": "gp"}, "PREDICTOR"), ({"n_seeds": 0}, "N_SEEDS"),
])
def test_bad_config_raises(change, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(TINY, **change)
