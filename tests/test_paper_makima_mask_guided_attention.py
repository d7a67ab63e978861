"""Unit tests of featurelab.papers.makima_mask_guided_attention (Zheng et al. 2024, MAKIMA): fast, seeded, CPU."""

import dataclasses

import pytest
import torch

from featurelab.papers import makima_mask_guided_attention as mk
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(lam=-1.0), dict(terms="half"), dict(masks="random"), dict(arm="dalle"),
                                 dict(radius=(4.0, 3.0)), dict(radius=(3.0, 5.0)), dict(n_seeds=0),
                                 dict(multi_frac=1.5), dict(train_steps=-1), dict(lr=0.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(mk.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"TERMS='half'.*one of 'both'"):
        dataclasses.replace(mk.PRESETS["small"], terms="half")
    with pytest.raises(ParameterError, match="LAM"):
        dataclasses.replace(mk.PRESETS["small"], lam=-0.5)


def _qkv(seed=0, n=2, L=6, d=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, L, d, generator=g), torch.randn(n, 3, d, generator=g), torch.randn(n, 3, 5, generator=g))


def test_mask_bias_is_lambda_sigma_times_r_plus_minus_r_minus():
    masks = torch.zeros(1, 2, 4)
    masks[0, 0, 0] = masks[0, 0, 1] = 1          # pixels 0, 1 in object 0
    masks[0, 1, 2] = 1                           # pixel 2 in object 1; pixel 3 in no object
    spread = torch.full((1, 1, 1), 0.5)
    b = mk.mask_bias(masks, 2.0, spread)
    want = torch.tensor([[1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(b[0], want)            # λσ(R⁺ − R⁻); background token and outside pixels unbiased
    assert torch.allclose(mk.mask_bias(masks, 2.0, spread, "enhance")[0], want.clamp_min(0))
    assert torch.allclose(mk.mask_bias(masks, 2.0, spread, "suppress")[0], want.clamp_max(0))
    with pytest.raises(ParameterError):
        mk.mask_bias(masks, 1.0, spread, "half")


def test_logit_spread_is_the_std_over_present_tokens():
    q, k, _ = _qkv()
    valid = torch.tensor([[True, True, True], [True, False, True]])
    s = mk.logit_spread(q, k, valid)
    logits = q @ k.transpose(-1, -2) / 2.0
    assert torch.allclose(s[0, 0, 0], logits[0].std(unbiased=False), atol=1e-5)
    assert torch.allclose(s[1, 0, 0], logits[1][:, [0, 2]].std(unbiased=False), atol=1e-5)


def _frames_and_model(n=6, seed=0):
    cfg = mk.PRESETS["small"]
    fr = mk.make_frames(n, cfg, seed)
    torch.manual_seed(seed)
    return cfg, fr, mk.Generator(8, 4)


def test_edit_equals_softmax_of_logits_plus_bias():
    cfg, fr, model = _frames_and_model()
    tokens, valid = mk.prompt(fr)
    _, w = mk.edit(model, fr.grey, tokens, valid, fr.masks, 1.5, return_attn=True)
    feat, q, k, v = model.logits(fr.grey, tokens)
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    sigma = mk.logit_spread(q, k, valid)
    r = fr.masks.flatten(2)                                              # (N, 2, L)
    rplus = torch.stack([r[:, 0], r[:, 1], torch.zeros_like(r[:, 0])], -1)
    rminus = torch.stack([r[:, 1], r[:, 0], torch.zeros_like(r[:, 0])], -1)
    want = torch.softmax(logits + 1.5 * sigma * (rplus - rminus), -1)
    assert torch.allclose(w, want, atol=1e-5)
    _, w0 = mk.edit(model, fr.grey, tokens, valid, fr.masks, 0.0, return_attn=True)
    assert torch.allclose(w0, torch.softmax(logits, -1), atol=1e-5)      # λ = 0 is the vanilla layer


def test_token_order_does_not_matter_and_padding_gets_no_weight():
    cfg, fr, model = _frames_and_model(seed=1)
    tokens, valid = mk.prompt(fr)
    out = mk.edit(model, fr.grey, tokens, valid, fr.masks, 1.0)
    perm = [1, 0, 2]                               # swap the object slots together with their masks
    out_p = mk.edit(model, fr.grey, tokens[:, perm], valid[:, perm], fr.masks[:, [1, 0]], 1.0)
    assert torch.allclose(out, out_p, atol=1e-5)
    one = valid.clone()
    one[:, 1] = False
    _, w = mk.edit(model, fr.grey, tokens, one, return_attn=True)
    assert float(w[:, :, 1].max()) < 1e-6


def test_frames_have_disjoint_objects_of_different_shapes_and_colours():
    cfg = mk.PRESETS["small"]
    fr = mk.make_frames(40, cfg, 3)
    assert fr.grey.shape == (40, 1, 16, 16) and fr.target.shape == (40, 3, 16, 16)
    assert float((fr.masks[:, 0] * fr.masks[:, 1]).max()) == 0.0
    assert bool((fr.shape[:, 0] != fr.shape[:, 1]).all()) and bool((fr.colour[:, 0] != fr.colour[:, 1]).all())
    assert torch.all(fr.masks.flatten(2).sum(2) > 0)
    single = mk.make_frames(20, cfg, 4, multi_frac=0.0)
    assert bool((single.n_obj == 1).all()) and float(single.masks[:, 1].sum()) == 0.0
    idx = mk.token_index(single.shape, single.colour)
    assert bool((idx[:, 1] == -1).all()) and bool((idx[:, 2] == len(mk.TEXTS) - 1).all())


def test_scores_on_the_perfect_and_the_swapped_image():
    cfg = mk.PRESETS["small"]
    fr = mk.make_frames(10, cfg, 5)
    s = mk.scores(fr.target, fr)
    assert s["acc"] == 1.0 and s["leak"] == 0.0 and s["bg_mse"] == 0.0
    swapped = fr.target.clone()
    for j, o in ((0, 1), (1, 0)):
        m = fr.masks[:, j:j + 1].bool()
        col = torch.stack([fr.target[i, :, fr.masks[i, o].bool()][:, 0] for i in range(10)])   # other's colour
        swapped = torch.where(m, col[:, :, None, None], swapped)
    s2 = mk.scores(swapped, fr)
    assert s2["acc"] == 0.0 and s2["leak"] == 1.0
    rec = mk.recolour(torch.full_like(fr.target, 0.5) + 0.3 * fr.masks[:, :1], fr.masks, fr.colour)
    assert mk.scores(rec, fr)["acc"] == 0.0          # grey pixels (no saturation) cannot be recoloured
    rec = mk.recolour(swapped, fr.masks, fr.colour)                 # saturated pixels take the target hue
    assert mk.scores(rec, fr)["acc"] == 1.0


def test_swaps_leave_the_generator_alone():
    base = mk.PRESETS["small"]
    names = {c.name for c in mk.CLAIMS}
    for swap in mk.SWAPS:
        cfg = swap.apply(base)
        assert cfg.generator() == base.generator(), swap.name
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(mk.PRESETS["small"], n_train=60, train_steps=3, n_test=12, n_seeds=1)
    res = mk.run(cfg, [7], progress=False)
    assert res.sources == ["trained"]
    again = mk.run(cfg, [7], progress=False)
    assert again.sources == ["cache"] and mk.claim_values(res) == mk.claim_values(again)
    values = mk.claim_values(res)
    assert {c.key for c in mk.CLAIMS} <= set(values)
    zero = mk.claim_values(mk.run(mk.SWAPS[0].apply(cfg), [7], progress=False))
    assert zero["acc_gain"] == [0.0] and zero["edge_gain"] == [0.0]             # λ = 0 is the vanilla layer
    null = mk.run(dataclasses.replace(cfg, arm="vanilla", test_offset=10_000), [7], progress=False)
    assert null.arm[0] != null.vanilla[0]                                        # independent frames
    assert set(res.reported[0]) == set(mk.REPORTED)
    with pytest.raises(ParameterError):
        mk.run(cfg, [])
