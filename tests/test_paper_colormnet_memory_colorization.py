"""Unit tests of featurelab.papers.colormnet_memory_colorization (Yang et al. 2024): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import colormnet_memory_colorization as cm
from featurelab.run import ParameterError

TINY = dict(n_videos=1, train_steps=2, n_train_videos=2, n_seeds=1)


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv("FEATURELAB_PROGRESS", "0")


@pytest.mark.parametrize("bad", [dict(mem_every=-1), dict(memory_source="truth"), dict(local_source="next"),
                                 dict(n_frames=10), dict(tau=0.0), dict(keys="hog"), dict(topk=0), dict(n_local=0),
                                 dict(drift=-0.5), dict(n_seeds=0), dict(radius=0.5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(cm.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"MEMORY_SOURCE='truth'.*one of 'predicted'"):
        dataclasses.replace(cm.PRESETS["small"], memory_source="truth")
    with pytest.raises(ParameterError, match="MEM_EVERY"):
        dataclasses.replace(cm.PRESETS["small"], mem_every=-1)


def test_context_memory_window_and_reference_copies():
    assert cm.context(12, 5, "predicted", "previous", 1) == ([0, 5, 10], [11])
    assert cm.context(11, 5, "predicted", "previous", 1) == ([0, 5], [10])        # no frame twice
    assert cm.context(12, 5, "reference", "previous", 1) == ([0, 0, 0], [11])     # same number of slots
    assert cm.context(12, 5, "predicted", "reference", 1) == ([0, 5, 10], [0])
    assert cm.context(12, 0, "predicted", "previous", 3) == ([0], [9, 10, 11])    # the sceptic's context
    assert cm.context(1, 5, "predicted", "previous", 1) == ([0], [])
    assert cm.context(7, 5, "predicted", "none", 1) == ([0, 5], [])
    with pytest.raises(ParameterError):
        cm.context(0, 5, "predicted", "previous", 1)


def _brute_force(feats, y0, tau, topk, radius, **ctx_kw):
    T, D, H, W = feats.shape
    f = F.normalize(feats, dim=1)
    out = [y0]
    for t in range(1, T):
        memory, local = cm.context(t, **ctx_kw)
        pred = torch.zeros_like(y0)
        for qy in range(H):
            for qx in range(W):
                cand = []
                for slot, s in enumerate(memory + local):
                    for ky in range(H):
                        for kx in range(W):
                            if slot >= len(memory) and ((qy - ky) ** 2 + (qx - kx) ** 2) ** 0.5 >= radius:
                                continue
                            cand.append((float(f[t, :, qy, qx] @ f[s, :, ky, kx]) / tau, out[s][:, ky, kx]))
                cand.sort(key=lambda c: -c[0])
                cand = cand[:topk]
                w = torch.softmax(torch.tensor([c[0] for c in cand]), 0)
                pred[:, qy, qx] = sum(wi * c[1] for wi, c in zip(w, cand))
        out.append(pred)
    return torch.stack(out)


@pytest.mark.parametrize("kw", [dict(mem_every=2, memory_source="predicted", local_source="previous", n_local=1),
                                dict(mem_every=2, memory_source="reference", local_source="previous", n_local=1),
                                dict(mem_every=0, memory_source="predicted", local_source="previous", n_local=2),
                                dict(mem_every=1, memory_source="predicted", local_source="none", n_local=1)])
def test_colourise_is_the_memory_readout_formula(kw):
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(5, 4, 3, 3, generator=g)
    y0 = torch.rand(2, 3, 3, generator=g)
    got = cm.colourise(feats, y0, topk=4, tau=0.2, radius=1.5, **kw)
    want = _brute_force(feats, y0, 0.2, 4, 1.5, **kw)
    assert torch.allclose(got, want, atol=1e-5)


def test_scene_timeline_colours_and_determinism():
    sc = cm.make_scene(5001)
    T = sc.n_frames
    assert sc.grey.shape == (T, 1, 32, 32) and sc.masks.shape == (T, 32, 32) and sc.uv.shape == (T, 2, 32, 32)
    present = (sc.masks == cm.TARGET).flatten(1).any(1)
    assert present[:sc.exit_frame].all() and not present[sc.exit_frame:sc.return_frame].any()
    assert 8 <= sc.exit_frame < sc.return_frame <= 19
    assert present[sc.return_frame:].all()
    assert torch.equal(sc.uv[3, :, sc.masks[3] == 1].T, sc.entity_uv[1].expand(int((sc.masks[3] == 1).sum()), 2))
    assert torch.equal(cm.make_scene(5001).grey, sc.grey)
    assert cm.make_scene(5001, drift=0.0).turn == 0.0 and 45 <= abs(sc.turn) <= 55
    assert sc.rgb().shape == (T, 32, 32, 3)


def test_oracle_keys_colour_perfectly_and_psnr():
    sc = cm.make_scene(5002, noise=0.0)
    oracle = F.one_hot(sc.masks, 3).permute(0, 3, 1, 2).float()
    out = cm.score_scene(oracle, sc, cm.arm_readouts(cm.PRESETS["small"])["M"])
    assert torch.allclose(out["uv"], sc.uv, atol=1e-5) and out["target_j"] == 1.0
    a = torch.zeros(1, 2, 2, 2)
    b = torch.full((1, 2, 2, 2), 0.1)
    assert abs(cm.chroma_psnr(a, b, torch.ones(1, 2, 2, dtype=torch.bool)) - 20.0) < 1e-4


def test_patch_keys_definition():
    sc = cm.make_scene(5003)
    p = cm.features("patch", sc)
    assert p.shape == (sc.n_frames, 25, 32, 32)
    patch = sc.grey[0, 0, 4:9, 6:11].flatten()
    assert torch.allclose(p[0, :, 6, 8], patch - patch.mean(), atol=1e-6)
    with pytest.raises(ParameterError):
        cm.features("learned", sc)


def test_swaps_change_only_what_they_say():
    base = cm.PRESETS["small"]
    names = {c.name for c in cm.CLAIMS}
    for swap in cm.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed and changed <= {"memory_source", "local_source", "mem_every", "n_local", "null", "keys"}
        assert set(swap.breaks) <= names
    r = cm.arm_readouts(dataclasses.replace(base, memory_source="reference"))
    assert r["M"]["memory_source"] == "reference" and r["B"]["mem_every"] == 0 and r["A'"]["memory_source"] == "predicted"


def test_tiny_run_and_claim_values():
    cfg = dataclasses.replace(cm.PRESETS["small"], **TINY)
    res = cm.run(cfg, [3])
    vals = cm.claim_values(res)
    assert len(vals["memory_gain"]) == 1 and len(vals["local_gain"]) == 1
    best = max(res.mean("B", "target_post")[0], res.mean("A'", "target_post")[0])
    assert abs(vals["memory_gain"][0] - (res.mean("M", "target_post")[0] - best)) < 1e-9
    null = cm.claim_values(cm.run(dataclasses.replace(cfg, null=True), [3]))
    assert null["memory_gain"] != vals["memory_gain"]
    assert set(res.per_seed[0].uv) == set(cm.ARMS)
