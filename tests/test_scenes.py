"""Unit tests of featurelab.scenes: the top-view scene generator, the mini-FPN and the segmentation metrics."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from featurelab import scenes as sc
from featurelab.base import ParameterError


@pytest.fixture(scope="module")
def batch():
    return sc.make_scenes(24, size=32, seed=3, min_distance=12, landmark_width=(3, 6), n_decoys=2)


def test_shapes_and_types(batch):
    assert batch.images.shape == (24, 3, 32, 32) and batch.images.dtype == torch.float32
    assert batch.semantic.shape == batch.instances.shape == batch.landmark.shape == (24, 32, 32)
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert set(batch.semantic.unique().tolist()) <= {0, 1, 2, 3}
    assert len(batch) == 24


def test_seeded_and_deterministic():
    a = sc.make_scenes(4, size=32, seed=7, min_distance=12, landmark_width=(3, 6))
    b = sc.make_scenes(4, size=32, seed=7, min_distance=12, landmark_width=(3, 6))
    c = sc.make_scenes(4, size=32, seed=8, min_distance=12, landmark_width=(3, 6))
    assert torch.equal(a.images, b.images) and torch.equal(a.semantic, b.semantic)
    assert not torch.equal(a.images, c.images)


def test_context_rule_and_distance(batch):
    for i in range(len(batch)):
        small = set(batch.semantic[i].unique().tolist()) & {sc.CAR, sc.BOAT}
        # harbours hold boats only, car parks cars only
        assert small <= ({sc.BOAT} if batch.scene_type[i] == 1 else {sc.CAR})
        dist = ndimage.distance_transform_edt(~batch.landmark[i].numpy())
        px = np.isin(batch.semantic[i].numpy(), [sc.CAR, sc.BOAT])
        if px.any():
            assert dist[px].min() >= 12
            assert batch.min_object_distance[i] == pytest.approx(dist[px].min())
        assert batch.landmark_frac[i] == pytest.approx(batch.landmark[i].float().mean().item())


def test_instances_are_small_objects_and_buildings(batch):
    for i in range(len(batch)):
        ins, sem = batch.instances[i].numpy(), batch.semantic[i].numpy()
        assert ((ins > 0) == (sem > 0)).all()
        for k in np.unique(ins[ins > 0]):
            px = ins == k
            assert len(np.unique(sem[px])) == 1
            if sem[px][0] in (sc.CAR, sc.BOAT):
                assert px.sum() == 6          # 2×3 px


def test_identical_appearance_when_class_gap_is_zero():
    s = sc.make_scenes(200, size=32, seed=1, min_distance=12, landmark_width=(3, 6))
    img = s.images.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    sem = s.semantic.reshape(-1).numpy()
    gap = np.abs(img[sem == sc.CAR].mean(0) - img[sem == sc.BOAT].mean(0)).max()
    assert gap < 0.03  # same colour distribution up to sampling noise
    s2 = sc.make_scenes(200, size=32, seed=1, min_distance=12, landmark_width=(3, 6), class_gap=0.3)
    img2 = s2.images.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    sem2 = s2.semantic.reshape(-1).numpy()
    assert (img2[sem2 == sc.BOAT].mean(0) - img2[sem2 == sc.CAR].mean(0)).min() > 0.1


@pytest.mark.parametrize("bad", [dict(size=16), dict(min_distance=30), dict(harbour_share=1.5),
                                 dict(n_rows=(3, 1)), dict(n=0)])
def test_bad_arguments_raise(bad):
    kw = dict(n=2, size=32, min_distance=12, landmark_width=(3, 6))
    kw.update(bad)
    with pytest.raises(ParameterError):
        sc.make_scenes(**kw)


def test_confusion_and_iou_against_hand_counts():
    t = np.array([0, 0, 1, 1, 2, 2, 3])
    p = np.array([0, 1, 1, 1, 1, 2, 0])
    conf = sc.confusion(p, t)
    assert conf.sum() == 7 and conf[2, 1] == 1 and conf[3, 0] == 1
    ious = sc.iou(conf)
    # class 1: TP 2, FP 2 (one 0, one 2), FN 0 → 0.5; class 2: TP 1, FN 1 → 0.5; class 3: TP 0 → 0
    assert ious[1] == pytest.approx(0.5) and ious[2] == pytest.approx(0.5) and ious[3] == 0
    assert ious[0] == pytest.approx(1 / 3)
    assert np.isnan(sc.iou(np.zeros((2, 2))))[0]
    with pytest.raises(ParameterError):
        sc.confusion(np.array([0, 5]), np.array([0, 1]))


def test_instance_recall():
    sem = np.zeros((1, 4, 4), int)
    ins = np.zeros((1, 4, 4), int)
    sem[0, 0, :2], ins[0, 0, :2] = sc.CAR, 1
    sem[0, 3, :2], ins[0, 3, :2] = sc.BOAT, 2
    pred = sem.copy()
    pred[0, 3, :2] = sc.CAR          # the boat is read as a car
    assert sc.instance_recall(pred, sem, ins) == 0.5


def test_receptive_field_by_brute_force():
    for d in (1, 2):
        net = sc.Backbone(1, 1, dilation=d)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.constant_(m.weight, 1.0)
        net.eval()
        x = torch.ones(1, 1, 65, 65, requires_grad=True)  # positive: every ReLU passes gradient
        feats = net(x)
        c = feats[-1].shape[-1] // 2
        feats[-1][0, 0, c, c].backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
        assert rows.max() - rows.min() + 1 == sc.receptive_field(d)


def test_segmenter_shapes_and_params():
    net = sc.PyramidSegmenter(4, 8)
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 4, 32, 32)
    levels = net.levels(torch.rand(2, 3, 32, 32))
    assert [tuple(f.shape[2:]) for f in levels] == [(32, 32), (16, 16), (8, 8)]
    assert sc.n_params(net) == sum(p.numel() for p in net.parameters())
    # dilation keeps the parameter count
    assert sc.n_params(sc.PyramidSegmenter(4, 8, dilation=2)) == sc.n_params(net)
    assert sc.predict(net, torch.rand(3, 3, 32, 32)).shape == (3, 32, 32)
    with pytest.raises(ParameterError):
        sc.Backbone(3, 0)


def test_fpn_neck_top_down_formula():
    neck = sc.FPNNeck(2, levels=3)
    for m in neck.lateral:
        torch.nn.init.eye_(m.weight.view(2, 2))
        torch.nn.init.zeros_(m.bias)
    for m in neck.out:
        torch.nn.init.zeros_(m.weight)
        m.weight.data[:, :, 1, 1] = torch.eye(2)
        torch.nn.init.zeros_(m.bias)
    feats = [torch.rand(1, 2, 8, 8), torch.rand(1, 2, 4, 4), torch.rand(1, 2, 2, 2)]
    out = neck(feats)
    up = lambda t, s: torch.nn.functional.interpolate(t, size=s, mode="bilinear", align_corners=False)
    p2 = feats[2]
    p1 = feats[1] + up(p2, (4, 4))
    p0 = feats[0] + up(p1, (8, 8))
    for a, b in zip(out, (p0, p1, p2)):
        assert torch.allclose(a, b, atol=1e-6)
