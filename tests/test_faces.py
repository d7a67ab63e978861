"""Cartoon faces: identities are fixed per id, pools are disjoint, identity and nuisance both change the picture,
the CosFace loss and verification AUC match their formulas, and a small encoder learns unseen identities."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab import faces as Fc
from featurelab.base import ParameterError


def test_identity_params_are_fixed_per_id_and_pools_disjoint():
    a, b = Fc.identity_params([3, 7, 3]), Fc.identity_params([7])
    assert a.shape == (3, 5) and ((a >= 0) & (a <= 1)).all()
    assert np.array_equal(a[0], a[2]) and np.array_equal(a[1], b[0]) and not np.array_equal(a[0], a[1])
    pools = [set(r) for r in Fc.POOLS.values()]
    assert all(p.isdisjoint(q) for i, p in enumerate(pools) for q in pools[i + 1:])
    with pytest.raises(ParameterError):
        Fc.identity_params([-1])


def _nuisance(n, **kw):
    base = dict(dx=np.zeros(n), dy=np.zeros(n), light=np.zeros(n), expression=np.zeros(n),
                hair=np.zeros(n, dtype=int), background=np.zeros(n, dtype=int))
    base.update(kw)
    return Fc.Nuisance(**base)


def test_render_shapes_range_and_what_each_factor_changes():
    p = Fc.identity_params([0, 0])
    img = Fc.render_faces(p, _nuisance(2), size=24)
    assert img.shape == (2, 1, 24, 24) and img.min() >= 0 and img.max() <= 1
    assert torch.equal(img[0], img[1])                      # same identity, same nuisance: same picture
    wider = p.copy()
    wider[1, 0] = 1 - wider[0, 0]                           # face width
    assert (Fc.render_faces(wider, _nuisance(2))[1] - img[0]).abs().max() > 0.15   # skin vs background
    for field, value in (("expression", np.array([-1.0, 1.0])), ("hair", np.array([0, 2])),
                         ("background", np.array([0, 1])), ("dx", np.array([0.0, 0.1]))):
        other = Fc.render_faces(p, _nuisance(2, **{field: value}))
        assert (other[1] - other[0]).abs().max() > 0.15, field
    with pytest.raises(ParameterError, match="identity"):
        Fc.render_faces(p[:1], _nuisance(2))
    with pytest.raises(ParameterError, match="rng"):
        Fc.render_faces(p, _nuisance(2), noise=0.1)


def test_sample_nuisance_ranges_and_styles():
    rng = np.random.default_rng(0)
    nz = Fc.sample_nuisance(500, rng, pose=0.05, hair=1, background=(0, 2))
    assert len(nz) == 500 and np.abs(nz.dx).max() <= 0.05 and (nz.hair == 1).all()
    assert set(nz.background) == {0, 2}
    assert len(nz.take([0, 3, 4])) == 3
    with pytest.raises(ParameterError, match="hair"):
        Fc.sample_nuisance(3, rng, hair=3)
    with pytest.raises(ParameterError):
        Fc.sample_nuisance(3, rng, pose=-0.1)


def test_face_dataset_groups_by_identity():
    d = Fc.face_dataset([10, 11, 12], 4, seed=0, size=16)
    assert d.x.shape == (12, 1, 16, 16) and list(d.ids) == [10] * 4 + [11] * 4 + [12] * 4
    assert np.array_equal(d.params[0], Fc.identity_params([10])[0])
    again = Fc.face_dataset([10, 11, 12], 4, seed=0, size=16)
    assert torch.equal(d.x, again.x)
    with pytest.raises(ParameterError):
        Fc.face_dataset([1], 0, seed=0)


def test_cosface_loss_and_verification_auc_match_their_formulas():
    torch.manual_seed(0)
    net = Fc.face_encoder("b", size=16, dim=8, n_identities=5)
    x, y = torch.rand(6, 1, 16, 16), torch.tensor([0, 1, 2, 3, 4, 0])
    cos = F.normalize(net.features(x), dim=-1) @ F.normalize(net.head.weight, dim=-1).T
    assert torch.allclose(net(x), cos, atol=1e-6) and cos.abs().max() <= 1 + 1e-6
    logits = 16 * cos.clone()
    logits[torch.arange(6), y] -= 16 * 0.2
    assert torch.allclose(Fc.cosface_loss(net, x, y), F.cross_entropy(logits, y), atol=1e-6)
    z = torch.randn(9, 4)
    ids = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    sims = F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).T
    same = [sims[i, j] for i in range(9) for j in range(i + 1, 9) if ids[i] == ids[j]]
    diff = [sims[i, j] for i in range(9) for j in range(i + 1, 9) if ids[i] != ids[j]]
    brute = np.mean([(s > d) + 0.5 * (s == d) for s in same for d in diff])
    assert Fc.verification_auc(z, ids) == pytest.approx(brute)
    with pytest.raises(ParameterError):
        Fc.verification_auc(z[:3], ids[:3])
    with pytest.raises(ParameterError, match="arch"):
        Fc.face_encoder("c")


def test_a_small_encoder_verifies_unseen_identities(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))
    recipe = dataclasses.replace(Fc.ENCODERS["phi_prime"], size=16, n_identities=60, steps=250)
    model, info = Fc.trained_encoder(recipe, seed=0, progress=False)
    assert info.source == "trained" and info.meta["val_auc"] > 0.75     # chance is 0.5
    again, info2 = Fc.trained_encoder(recipe, seed=0, progress=False)
    assert info2.source == "cache" and info2.meta == info.meta
    assert Fc.embed(again, torch.rand(3, 1, 16, 16)).norm(dim=1).allclose(torch.ones(3))
    with pytest.raises(ParameterError, match="unknown encoder"):
        Fc.trained_encoder("psi")
    with pytest.raises(ParameterError, match="pool"):
        Fc.trained_encoder(dataclasses.replace(recipe, pool="test"))
