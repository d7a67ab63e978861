"""Unit tests of featurelab.papers.st_protopnet (Wang et al. 2023): fast, seeded, CPU only."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from featurelab.data import Split
from featurelab.papers import st_protopnet as st
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(n_seeds=0), dict(per_class=1), dict(lr=0.0), dict(similarity="l2"),
                                 dict(image_size=4), dict(depth=0), dict(neighbours=0), dict(clst=0.5),
                                 dict(pretrain_epochs=0, warm_epochs=0, joint_epochs=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(st.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"SIMILARITY='l2' .* must be one of 'cosine', 'log'"):
        dataclasses.replace(st.PRESETS["small"], similarity="l2")


def test_similarities_match_their_definitions():
    torch.manual_seed(0)
    z, p = torch.randn(2, 5, 3, 3), torch.randn(4, 5)
    cos = st.prototype_similarity(z, p, "cosine")
    zz = z.permute(0, 2, 3, 1)[0, 1, 2]
    want = torch.relu(torch.nn.functional.cosine_similarity(zz[None], p, dim=1))
    assert cos.shape == (2, 4, 3, 3) and torch.allclose(cos[0, :, 1, 2], want, atol=1e-6)
    lg = st.prototype_similarity(z, p, "log")
    d = ((zz[None] - p) ** 2).sum(1)
    assert torch.allclose(lg[0, :, 1, 2], torch.log((d + 1) / (d + st.EPS)), atol=1e-4)
    same = st.prototype_similarity(p[:, :, None, None], p, "log")  # d = 0 on the diagonal: the largest score
    assert torch.allclose(same[:, :, 0, 0].diagonal(), torch.full((4,), math.log(1 / st.EPS)), atol=1e-3)
    with pytest.raises(ParameterError):
        st.prototype_similarity(z, torch.randn(4, 6))
    with pytest.raises(ParameterError):
        st.prototype_similarity(z, p, "dot")


def test_closeness_and_discrimination_on_hand_made_prototypes():
    # 2 classes x 2 prototypes in 2-d: class 0 at angles 0 and 90 deg, class 1 at 0 and 180 deg
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [-1.0, 0.0]])
    # cross-class cosines: (1, -1, 0, 0): min -1, max 1
    assert torch.isclose(st.closeness_loss(p, 2), torch.tensor(1.0))        # -mean(min) = 1
    assert torch.isclose(st.discrimination_loss(p, 2), torch.tensor(1.0))   # mean(max) = 1
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])    # all identical: fully "close"
    assert torch.isclose(st.closeness_loss(q, 2), torch.tensor(-1.0))
    # orthogonality: orthonormal within class -> 0; identical within class -> off-diagonal |1| twice per class
    assert torch.isclose(st.orthogonality_loss(torch.tensor([[1.0, 0], [0, 1], [0, 1], [1, 0]]), 2), torch.tensor(0.0))
    assert torch.isclose(st.orthogonality_loss(q, 2), torch.tensor(4.0))


def test_closeness_gradient_pulls_cross_class_prototypes_together():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(6, 4))
    opt = torch.optim.SGD([p], lr=0.1)
    before = st.cross_class_cosines(p.detach(), 3).min(-1).values
    for _ in range(50):
        opt.zero_grad()
        st.closeness_loss(p, 3).backward()
        opt.step()
    after = st.cross_class_cosines(p.detach(), 3).min(-1).values
    off = ~torch.eye(3, dtype=torch.bool)
    assert (after[off] > before[off] + 0.1).all()


def test_logit_margin():
    logits = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    assert np.allclose(st.logit_margin(logits, torch.tensor([0, 0])), [1.0, -3.0])


def _tiny_split(n=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = (torch.rand(n, 1, 14, 14, generator=g) * 0.3 + y.view(-1, 1, 1, 1) / 10.0).clamp(0, 1)
    return Split(x, y, x[:30], y[:30], classes=tuple(str(i) for i in range(10)))


def test_push_moves_each_prototype_onto_an_own_class_patch():
    torch.manual_seed(0)
    data = _tiny_split()
    cfg = dataclasses.replace(st.PRESETS["small"], per_class=2)
    _, trunk, ch = st.make_trunk(cfg, 10)
    model = st.STProtoPNet(trunk, ch, cfg, 10).eval()
    p = st.push(model, "support", data.x_train, data.y_train, k=3)
    cls = np.arange(20) // 2
    assert (data.y_train.numpy()[p.image] == cls).all() and p.top.shape == (20, 3)
    assert (data.y_train.numpy()[p.top] == cls[:, None]).all()
    with torch.no_grad():
        lat = model.support.latent(model.trunk(data.x_train[p.image]))         # (P, D, H, W)
        patch = lat[torch.arange(20), :, p.pos[:, 0], p.pos[:, 1]]
    assert torch.allclose(model.support.protos(), torch.nn.functional.normalize(patch, dim=1), atol=1e-5)


def test_alternating_loss_steps_one_branch_per_batch():
    torch.manual_seed(0)
    data = _tiny_split()
    cfg = st.PRESETS["small"]
    _, trunk, ch = st.make_trunk(cfg, 10)
    model = st.STProtoPNet(trunk, ch, cfg, 10)
    loss = st.AlternatingLoss(model, cfg)
    for expect in ("trivial", "support"):
        model.zero_grad(set_to_none=True)
        loss(model(data.x_train[:16]), data.y_train[:16]).backward()
        other = "support" if expect == "trivial" else "trivial"
        assert getattr(model, expect).prototypes.grad is not None
        assert getattr(model, other).prototypes.grad is None


def test_run_end_to_end_tiny_and_seeded():
    cfg = dataclasses.replace(st.PRESETS["small"], n_train=100, n_test=100, per_class=2, width=4, proto_dim=8,
                              pretrain_epochs=1, warm_epochs=1, joint_epochs=1, batch_size=32, neighbours=3)
    res = st.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert len(res.runs) == 2
    r = res.runs[0]
    assert set(r.pushes) == {"trivial", "support"} and r.pushes["support"].image.shape == (20,)
    assert r.margins["random"].shape == (80,) and set(r.acc) == {"st", "trivial", "support", "cnn"}
    values = st.claim_values(res)
    assert {c.key for c in st.CLAIMS} <= set(values)
    again = st.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert np.array_equal(again.runs[1].pushes["support"].image, res.runs[1].pushes["support"].image)
    with pytest.raises(ParameterError, match="seed"):
        st.run(cfg, [], data=_tiny_split())


def test_collapse_guard_fails_the_claim_values():
    cfg = dataclasses.replace(st.PRESETS["small"], n_train=100, n_test=100, per_class=2, width=4, proto_dim=8,
                              pretrain_epochs=1, warm_epochs=0, joint_epochs=0, neighbours=2)
    res = st.run(cfg, [0], data=_tiny_split(), progress=False)
    r = res.runs[0]
    r.acc["support"] = 0.1                                                      # a useless support branch
    assert math.isnan(st.guarded(res, [0.2])[0])
    r.acc["support"] = 0.9
    r.pushes["support"].image[:] = r.pushes["support"].image[0]                 # all from one image
    assert math.isnan(st.guarded(res, [0.2])[0])


def test_swaps_change_only_their_mechanism():
    base = st.PRESETS["small"]
    want = {"no_closeness": {"close"}, "closeness_flipped": {"close"},
            "tt_protopnet": {"close", "sep_support", "discr_support"}}
    assert {s.name for s in st.SWAPS} == set(want)
    for swap in st.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed == want[swap.name], (swap.name, changed)
    tt = next(s for s in st.SWAPS if s.name == "tt_protopnet").apply(base)
    assert (tt.sep_support, tt.discr_support, tt.close) == (base.sep_trivial, base.discr, 0.0)


def test_support_discrimination_knob_adds_the_trivial_term():
    torch.manual_seed(0)
    data = _tiny_split()
    base = dataclasses.replace(st.PRESETS["small"], per_class=2)
    _, trunk, ch = st.make_trunk(base, 10)
    model = st.STProtoPNet(trunk, ch, base, 10)
    logits, scores = model.support(model.trunk(data.x_train[:16]))
    y = data.y_train[:16]
    plain = st.branch_loss(model.support, logits, scores, y, base, "support")
    more = st.branch_loss(model.support, logits, scores, y, dataclasses.replace(base, discr_support=1.0), "support")
    dis = st.discrimination_loss(model.support.protos(), 10)
    assert torch.isclose(more - plain, dis, atol=1e-5)
