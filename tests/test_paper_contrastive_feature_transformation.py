"""Unit tests of featurelab.papers.contrastive_feature_transformation (Zhu et al. 2021): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.data import Split
from featurelab.papers import contrastive_feature_transformation as cft
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(pos_mode="mix"), dict(dim_mask="all"), dict(tau=0.0), dict(momentum=1.5),
                                 dict(pos_alpha=0.0), dict(n_seeds=0), dict(batch_size=2048),
                                 dict(n_probe=5000), dict(objective="byol"), dict(steps=-1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(cft.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"POS_MODE='mix'.*one of 'extrapolate'"):
        dataclasses.replace(cft.PRESETS["small"], pos_mode="mix")


def test_extrapolation_lowers_and_interpolation_raises_the_positive_score():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(200, 8, generator=g), dim=-1)
    k = F.normalize(q + 0.5 * torch.randn(200, 8, generator=g), dim=-1)
    queue = F.normalize(torch.randn(50, 8, generator=g), dim=-1)
    raw = (q * k).sum(-1)
    qe, ke, _ = cft.transform_features(q, k, queue, torch.tensor(1.6), 1.0)
    qi, ki, _ = cft.transform_features(q, k, queue, torch.tensor(0.6), 1.0)
    assert ((qe * ke).sum(-1) < raw).all() and ((qi * ki).sum(-1) > raw).all()
    # λ = 1, μ = 1 is the identity; the formulas are the paper's
    q1, k1, n1 = cft.transform_features(q, k, queue, 1.0, 1.0, torch.randperm(50, generator=g))
    assert torch.equal(q1, q) and torch.equal(k1, k) and torch.allclose(n1, queue)
    assert torch.allclose(qe, 1.6 * q - 0.6 * k) and torch.allclose(ke, 1.6 * k - 0.6 * q)
    perm = torch.randperm(50, generator=g)
    _, _, nm = cft.transform_features(q, k, queue, 1.0, 0.3, perm)
    assert torch.allclose(nm, 0.3 * queue + 0.7 * queue[perm])
    qn, kn, _ = cft.transform_features(q, k, queue, torch.tensor(1.6), 1.0, postmix_norm=True)
    assert torch.allclose(qn.norm(dim=-1), torch.ones(200)) and torch.allclose(kn.norm(dim=-1), torch.ones(200))


def test_draws_are_scalar_per_batch_by_default_and_shared_across_pos_modes():
    cfg = dataclasses.replace(cft.PRESETS["small"], queue_size=64, batch_size=16, embed_dim=4, hidden=8, feat_dim=8)
    def model(c):
        return cft.MoCoFT(c, [0, 1], [False, True], [5, 6], 9, 16)
    d = model(cfg).draws(10)
    assert d.lam.shape == (2, 1, 1) and d.mu.shape == (2, 1, 1) and d.perm.shape == (2, 64)
    assert d.lam[0].item() == 1.0 and d.mu[0].item() == 1.0          # baseline member: no transformation
    assert 1.0 <= d.lam[1].item() <= 2.0 and 0.0 <= d.mu[1].item() <= 1.0
    di = model(dataclasses.replace(cfg, pos_mode="interpolate")).draws(10)
    assert torch.isclose(di.lam[1], d.lam[1] - 1).all() and torch.equal(di.perm, d.perm)  # the same draws
    dd = model(dataclasses.replace(cfg, dim_mask="both")).draws(10)
    assert dd.lam.shape == (2, 10, 4) and dd.mu.shape == (2, 64, 4)
    assert model(dataclasses.replace(cfg, neg_mix=False)).draws(10).mu[1].item() == 1.0


def test_swaps_change_only_the_method_arm():
    base = cft.PRESETS["small"]
    arm_knobs = {"pos_mode", "neg_mix", "method_init_offset", "objective", "pos_scale"}
    names = {c.name for c in cft.CLAIMS}
    for swap in cft.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed and changed <= arm_knobs, (swap.name, changed)
        assert set(swap.breaks) <= names


def _tiny_split(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = (torch.rand(n, 1, 12, 12, generator=g) * 0.3 + y.view(-1, 1, 1, 1) / 10.0).clamp(0, 1)
    return Split(x, y, x[:40], y[:40], classes=tuple(str(i) for i in range(10)))


def test_run_end_to_end_tiny_seeded_and_baseline_members_untouched_by_the_swap():
    cfg = dataclasses.replace(cft.PRESETS["small"], n_train=256, n_probe=40, n_test=20, hidden=16, feat_dim=8,
                              embed_dim=4, steps=6, batch_size=16, queue_size=32, log_every=2)
    res = cft.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert res.align.shape == (4,) and res.probe_acc.shape == (4,) and res.pos_scores.shape == (4, 40)
    assert res.log["pos"].shape == (3, 4, 16) and list(res.log["step"]) == [0, 2, 4]
    # the transformation lowers the method arm's logged positive score and leaves MoCo's alone
    assert np.allclose(res.log["pos"][:, :2], res.log["pos_raw"][:, :2])
    assert (res.log["pos"][:, 2:] < res.log["pos_raw"][:, 2:] + 1e-6).all()
    again = cft.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert np.array_equal(res.align, again.align)
    swapped = cft.run(dataclasses.replace(cfg, pos_mode="interpolate"), [0, 1], data=_tiny_split(), progress=False)
    assert np.array_equal(swapped.align[:2], res.align[:2]) and not np.array_equal(swapped.align[2:], res.align[2:])
    values = cft.claim_values(res)
    assert {c.key for c in cft.CLAIMS} <= set(values) and len(values["align_gain"]) == 2
    assert values["pos_drop_by_transform"] > 0
    with pytest.raises(ParameterError):
        cft.run(cfg, [], data=_tiny_split())
