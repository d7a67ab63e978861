"""Unit tests of featurelab.video (the toy-video generator): shapes, determinism, flow and occlusion."""

import numpy as np
import pytest
import torch

from featurelab.base import ParameterError
from featurelab.video import TEXTURES, make_video, make_videos, texture_value, to_grey, warp


def test_shapes_dtypes_and_determinism():
    v = make_video(3, height=24, width=20, n_frames=6, n_objects=3)
    assert v.frames.shape == (6, 3, 24, 20) and v.frames.dtype == torch.float32
    assert v.masks.shape == (6, 24, 20) and v.masks.dtype == torch.int64
    assert v.flow.shape == (5, 2, 24, 20) and v.occluded.shape == (5, 24, 20) and v.occluded.dtype == torch.bool
    assert v.n_objects == 3 and len(v.textures) == 4 and len(set(v.textures)) == 4
    assert 0.0 <= v.frames.min() and v.frames.max() <= 1.0
    assert set(torch.unique(v.masks).tolist()) <= {0, 1, 2, 3}
    w = make_video(3, height=24, width=20, n_frames=6, n_objects=3)
    assert torch.equal(v.frames, w.frames) and torch.equal(v.masks, w.masks) and torch.equal(v.flow, w.flow)
    assert not torch.equal(v.frames, make_video(4, height=24, width=20, n_frames=6, n_objects=3).frames)
    assert make_video(0, channels=1, n_frames=3).frames.shape == (3, 1, 32, 32)
    assert len(make_videos(3, seed=2, n_frames=3)) == 3


def test_objects_do_not_overlap_in_frame_0_and_every_object_is_visible():
    for s in range(5):
        v = make_video(s, n_objects=2, deform=0.0, drift=0.0)
        counts = torch.bincount(v.masks[0].flatten(), minlength=3)
        r_min = 5.0
        assert (counts[1:] >= 0.9 * np.pi * r_min ** 2).all()     # no object hidden in frame 0


def test_static_clip_has_zero_flow_and_no_occlusion():
    v = make_video(1, speed=(0.0, 0.0), pan=0.0, drift=0.0, deform=0.0, noise=0.0, n_frames=4)
    assert torch.allclose(v.flow, torch.zeros_like(v.flow), atol=1e-5)
    assert not v.occluded.any()
    assert torch.allclose(v.frames[0], v.frames[3])


def test_rigid_flow_equals_the_object_displacement():
    """With no rotation, rescaling or deformation, every pixel of an object moves by its centroid's motion."""
    v = make_video(7, drift=0.0, deform=0.0, pan=0.0, noise=0.0, n_frames=5, n_objects=2, speed=(1.0, 1.0))
    H, W = v.masks.shape[1:]
    yy, xx = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    for t in range(4):
        for k in (1, 2):
            m = v.masks[t] == k
            fx, fy = v.flow[t, 0][m], v.flow[t, 1][m]
            assert fx.std() < 1e-4 and fy.std() < 1e-4                      # one rigid displacement
            assert float(torch.hypot(fx[0], fy[0])) == pytest.approx(1.0, abs=1e-4)   # speed 1 px/frame
        assert torch.allclose(v.flow[t][:, v.masks[t] == 0], torch.zeros(1))          # background still
        # whole-object centroid displacement matches the flow where the object is not occluded or clipped
        for k in (1, 2):
            a, b = v.masks[t] == k, v.masks[t + 1] == k
            if v.occluded[t][a].any():
                continue
            d = torch.stack([xx[b].mean() - xx[a].mean(), yy[b].mean() - yy[a].mean()])
            assert torch.allclose(d, v.flow[t][:, a][:, 0], atol=0.35)


def test_flow_reconstructs_the_next_frame_better_than_no_motion():
    # motion of >= 1 px per frame everywhere (sub-pixel shifts of a sharp texture are dominated by interpolation)
    v = make_video(11, noise=0.0, drift=0.0, pan=1.5, speed=(1.0, 1.6))
    err_flow, err_still = [], []
    for t in range(v.n_frames - 1):
        ok = ~v.occluded[t]
        ok[[0, -1], :] = False
        ok[:, [0, -1]] = False
        rec = warp(v.frames[t + 1], v.flow[t])
        err_flow.append((rec - v.frames[t]).abs().mean(0)[ok].mean())
        err_still.append((v.frames[t + 1] - v.frames[t]).abs().mean(0)[ok].mean())
    assert torch.stack(err_flow).mean() < 0.6 * torch.stack(err_still).mean()


def test_occlusion_flags_points_that_change_label():
    v = make_video(2, n_objects=4, speed=(1.5, 1.6))
    H, W = v.masks.shape[1:]
    for t in range(v.n_frames - 1):
        yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        tx = torch.round(xx + v.flow[t, 0]).long()
        ty = torch.round(yy + v.flow[t, 1]).long()
        inside = (tx >= 0) & (tx < W) & (ty >= 0) & (ty < H)
        same = v.masks[t + 1][ty.clamp(0, H - 1), tx.clamp(0, W - 1)] == v.masks[t]
        assert torch.equal(v.occluded[t], ~(inside & same))


def test_shared_palette_hides_identity_in_colour_and_per_entity_palette_keeps_grey():
    shared = make_video(5, palette="shared", noise=0.0, drift=0.0)
    assert torch.allclose(shared.colours[0], shared.colours[1:])                 # same two colours everywhere
    own = make_video(5, palette="per_entity", noise=0.0, drift=0.0)
    assert not torch.allclose(own.colours[0], own.colours[1])
    assert torch.allclose(to_grey(shared.frames), to_grey(own.frames), atol=2e-3)   # same grey clip


def test_camouflage_fades_objects_in_one_frame():
    a = make_video(9, noise=0.0, camouflage_frame=2, camouflage=1.0)
    b = make_video(9, noise=0.0)
    assert torch.equal(a.masks, b.masks) and torch.equal(a.frames[1], b.frames[1])
    obj = a.masks[2] > 0
    assert not torch.allclose(a.frames[2][:, obj], b.frames[2][:, obj])


def test_textures_and_grey():
    assert len(TEXTURES) == 14
    u, v = np.meshgrid(np.arange(16.0), np.arange(16.0))
    for kind, ang, per in TEXTURES:
        val = texture_value(kind, ang, per, u, v)
        assert val.min() > 0 and val.max() < 1 and val.std() > 0.2                  # nearly binary
    s = texture_value("stripes", 90.0, 4.0, u, v)
    assert np.allclose(s[:, 0], s[:, 5])                                           # 90°: constant along x
    x = torch.rand(2, 3, 4, 4)
    w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    assert torch.allclose(to_grey(x), (x * w).sum(1, keepdim=True))
    with pytest.raises(ParameterError):
        texture_value("waves", 0.0, 4.0, u, v)


@pytest.mark.parametrize("bad", [dict(n_frames=1), dict(channels=2), dict(palette="rainbow"), dict(noise=-1.0),
                                 dict(n_objects=0), dict(n_objects=(3, 2)), dict(radius=(10.0, 20.0)),
                                 dict(camouflage_frame=40), dict(camouflage=1.5), dict(height=4)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ParameterError):
        make_video(0, **bad)
    with pytest.raises(ParameterError):
        make_videos(0, seed=0)
