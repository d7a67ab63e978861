"""Unit tests for featurelab.papers.vinfo_feature_complexity (fast, seeded, no dataset needed)."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import vinfo_feature_complexity as v
from featurelab.base import ParameterError


def test_ridge_r2_held_out_linear_vs_noise():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(400, 5, generator=g)
    z_lin = f @ torch.tensor([1.0, -2.0, 0.5, 0.0, 0.0])
    z_noise = torch.randn(400, generator=g)
    r2 = v.ridge_r2(f, torch.stack([z_lin, z_noise], 1), alpha=1.0)
    assert r2.shape == (2,)
    assert r2[0] > 0.99  # linearly decodable
    assert r2[1] < 0.05  # held-out: noise is not decodable (in-sample it would be > 0)


def test_complexity_is_one_minus_mean_vinfo():
    vinfo = torch.tensor([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(v.complexity(vinfo).numpy(), [0.0, 1 - 2.5 / 4])


def test_simple_feature_has_lower_complexity_than_deep_one():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 4, generator=g)
    simple = x[:, 0]
    deep = torch.sin(3 * x[:, 1]) * x[:, 2]  # only the last "block" computes it
    blocks = [x, x, x, torch.stack([x[:, 0], deep], 1)]
    vinfo = v.vinfo_per_block(blocks, torch.stack([simple, deep], 1))
    assert vinfo.shape == (4, 2) and (vinfo >= 0).all() and (vinfo <= 1).all()
    K = v.complexity(vinfo)
    assert K[0] < 0.05 and K[1] > 0.6


def test_tinted_fashion_shapes_and_share():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 1, 6, 6)
    y = torch.randint(0, 10, (1000,), generator=g)
    xt, phi = v.tinted_fashion(x, y, share=1.0, generator=g, strength=0.5)
    assert xt.shape == (1000, 2, 6, 6)
    torch.testing.assert_close(phi, v.tint_angles()[y])
    torch.testing.assert_close(xt[:, 0] - x[:, 0], 0.5 * phi.cos()[:, None, None].expand(-1, 6, 6))
    _, phi0 = v.tinted_fashion(x, y, share=0.0, generator=g)
    assert 0.03 < (phi0 == v.tint_angles()[y]).float().mean() < 0.2  # random class: ≈ 1/10 agree


def test_model_block_features_and_concepts():
    torch.manual_seed(0)
    m = v.TinyResNet((4, 8, 8, 8))
    x = torch.rand(64, 2, 14, 14)
    feats = m.block_features(x)
    assert [f.shape for f in feats] == [(64, 4), (64, 8), (64, 8), (64, 8)]
    assert all((f >= 0).all() for f in feats)
    assert m(x).shape == (64, 10)
    z, d = v.extract_concepts(feats[-1].detach().numpy().astype(np.float64), 3, seed=0)
    assert z.shape == (64, 3) and d.shape == (3, 8) and (z >= 0).all()
    with pytest.raises(ParameterError):
        v.extract_concepts(-np.ones((5, 4)), 2, 0)


def test_importance_matches_mean_ablation():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 4)
    rng = np.random.default_rng(0)
    z, d = rng.random((20, 2)), rng.random((2, 3))
    y = torch.randint(0, 4, (20,))
    imp = v.importance(z, d, head, y)
    logit = lambda zz: (head(torch.from_numpy(zz @ d).float())).gather(1, y[:, None])[:, 0].double()
    for j in range(2):
        z_abl = z.copy()
        z_abl[:, j] = z[:, j].mean()
        drop = (logit(z) - logit(z_abl)).mean().item()
        assert abs(imp[j] - drop) < 1e-5


def test_spearman():
    a = np.arange(6.0)
    assert v.spearman(a, a ** 3) == pytest.approx(1.0)
    assert v.spearman(a, -a) == pytest.approx(-1.0)


@pytest.mark.parametrize("change", [{"n_train": 10}, {"size": 40}, {"tint_share": 1.5}, {"tint_strength": -1.0},
                                    {"channels": (8, 16)}, {"epochs": 0}, {"early_frac": 1.0}, {"k": 64},
                                    {"alpha": 0.0}, {"n_seeds": 0}, {"lr": -1.0},
                                    {"readout": "first_block"}])
def test_config_rejects_bad_values(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(v.PRESETS["small"], **change)


def test_ridge_r2_errors():
    with pytest.raises(ParameterError):
        v.ridge_r2(torch.zeros(10, 2), torch.zeros(9, 1))
    with pytest.raises(ParameterError):
        v.ridge_r2(torch.zeros(3, 2), torch.zeros(3, 1))


def _fake_result(readout: str) -> v.Result:
    """A result with known decodability: concepts readable only late, the tint readable everywhere."""
    vinfo = np.array([[0.1, 0.2, 0.0], [0.3, 0.4, 0.2], [0.6, 0.7, 0.5], [1.0, 1.0, 1.0]])  # (L=4, k=3)
    v_tint = np.array([0.9, 0.9, 0.8, 0.4])
    def ck(scale: float) -> v.Checkpoint:
        vi = np.clip(vinfo * scale, 0, 1)
        return v.Checkpoint(1, 0.5, vi, 1 - vi.mean(0), np.array([0.3, 0.2, 0.1]), v_tint, float(1 - v_tint.mean()),
                            np.array([0.1, 0.5, -0.2]), np.zeros((3, 4)), np.zeros((5, 3)))
    run = v.SeedResult(0, ck(1.2), ck(1.0), 1.0, torch.zeros(1), torch.zeros(1), torch.zeros(1))
    return v.Result(dataclasses.replace(v.PRESETS["small"], readout=readout), [run])


def test_claim_values_follow_the_readout_knob():
    all_blocks = v.claim_values(_fake_result("all_blocks"))
    k_final = 1 - np.array([[0.1, 0.2, 0.0], [0.3, 0.4, 0.2], [0.6, 0.7, 0.5], [1.0, 1.0, 1.0]]).mean(0)
    assert all_blocks["tint_margin"][0] == pytest.approx(np.median(k_final) - 0.25)
    assert all_blocks["max_tint_corr"][0] == pytest.approx(0.5)
    # penultimate block only: every concept is perfectly decodable there (K = 0), the tint is not
    last = v.claim_values(_fake_result("last_block"))
    assert last["tint_margin"][0] == pytest.approx(0.0 - 0.6)
    assert set(c.key for c in v.CLAIMS) <= set(all_blocks)


def test_swaps_are_config_changes():
    base = v.PRESETS["small"]
    cfgs = {s.name: s.apply(base) for s in v.SWAPS}
    assert cfgs["no_tint"] == dataclasses.replace(base, tint_strength=0.0)
    assert cfgs["last_block_only"] == dataclasses.replace(base, readout="last_block")
    x, phi = v.tinted_fashion(torch.rand(6, 1, 4, 4), torch.arange(6), 1.0, torch.Generator().manual_seed(0), 0.0)
    assert torch.equal(x[:, 0], x[:, 1])  # strength 0: the two channels are the grey image, no tint
