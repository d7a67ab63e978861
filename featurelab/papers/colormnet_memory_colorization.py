"""Exemplar-based video colourisation with a memory of past predicted frames (ColorMNet's readout, at toy scale).

Yixin Yang, Jiangxin Dong, Jinhui Tang & Jinshan Pan, *ColorMNet: A Memory-based Deep Spatial-Temporal Feature
Propagation Network for Video Colorization*, ECCV 2024, arXiv:2404.06251. Official code:
https://github.com/yyang181/colormnet (XMem-derived). Used by
``notebooks/07_propagating_features/02_colormnet_memory_colorization.ipynb``.

**The mechanism** (Sec. 3; section numbers of the subsections not verified). Grey frames ``L_1..L_T`` and one colour
exemplar (here: the colours of frame 1) are given; the output is the chroma of every frame. Instead of stacking
neighbouring frames or passing a recurrent state, ColorMNet keeps a **memory** (the memory-based feature
propagation module, MFP) of keys ``k_j`` (features of grey frames) and values ``v_j`` (colour of the exemplar and of
every ``mem_every``-th *predicted* frame); each query position ``i`` of the current frame reads it with XMem's
L2 affinity and a softmax over memory entries::

    S_ij = −s_j ‖k_j − q_i‖²_{e_i},   W_ij = softmax_{j ∈ topk(i)}(S_ij),   v̂_i = Σ_j W_ij v_j

and a **local attention** module (LA) adds the previous frame read in a 15×15 window (``max_dis = 7`` in the
official ``LocalGatedPropagation``). Official inference defaults (``test.py``): top-k 30, ``mem_every`` 5.

**Here** (the readout rule only; nothing of the decoder is learned). Keys are the stride-1 features of the
colourise-by-copy CNN of :mod:`featurelab.papers.label_propagation_factors` (trained once per seed, cached;
imported, not re-implemented). On L2-normalised keys ``−‖k − q‖² = 2 q·k − 2``, so XMem's affinity with the
shrinkage ``s_j`` and selection ``e_i`` set to 1 is the dot-product softmax of the course's engine with a
temperature τ (:func:`featurelab.propagation.dot_affinity` / :func:`~featurelab.propagation.aggregate`). Memory and
local window are read *jointly* with one top-k (the paper fuses two readouts in a learned decoder). Values are
chroma (YUV's UV), soft, never ground truth after frame 1. Arms, all on the same keys and clips:

- **M (ColorMNet-lite, the method)**: frame 1 + every ``mem_every``-th predicted frame (global) + the previous frame
  (radius 7 px);
- **B (reference only)**: frame 1;
- **A′ (reference + previous)**: frame 1 + the previous frame in the window — the strongest simple exemplar method;
- **A (previous only)**: recurrent copying (reported);
- **M − LA**: M without the local window (the local-attention ablation).

**The clips** (:func:`make_scene`, composed from the kit's :func:`featurelab.video.texture_value`): 32×32, 24 frames,
a textured background (dots or checks), a static *distractor* disc and a moving *target* disc (radius 6 px), both
striped with the same period; every entity has its own hue at one luminance, so grey frames do not tell the
colours. The target starts with its stripes at 90° to the distractor's and turns by 45–55° towards them during
the first ≈ 8 frames (appearance drift), leaves the frame through a border around frames 10–12 and comes back
5–6 frames later. After it reappears, the exemplar matches it badly (the distractor in frame 1 now looks more like
it) while the memory still holds the turned target from before it left — the situation the memory is for. The
prototype found that in the course's generic clips (object behind a narrow pillar, 32×32) no arm recovers a
reappearing object at all, so the memory cannot show there; this scene is built so that it can, and says so.

**What is asserted** (paired per seed on the same clips and keys; thresholds fixed on prototype seeds ≥ 5000):

- ``memory_beats_ref_and_prev``: chroma PSNR on the target's pixels in the frames after it reappears,
  PSNR(M) − max(PSNR(B), PSNR(A′)) ≥ 1.0 dB (prototype: +1.6 … +3.8 dB over 9 seeds of 4 clips);
- ``local_attention_helps``: chroma PSNR on all object pixels of frames 2..T, PSNR(M) − PSNR(M − LA) ≥ 0.8 dB
  (prototype +1.5 … +2.4 dB).

Swaps: the memory slots filled with copies of frame 1 (same number of slots); the local window put on frame 1
instead of the previous frame; the sceptic's CRW-style context (frame 1 + the 3 previous frames in the window, no
memory) in the method's place; a noise null (each claim's baseline run on an independently trained encoder in the
method's place). Reported, not asserted: A, J of the target after reappearance, raw 5×5 patch keys.

Simplifications for scale (named): toy clips, not DAVIS / Videvo / NVCC2023; no DINOv2 / PVGFE keys (a 4-layer CNN
trained ≈ 5 s), no learned value encoder, decoder, shrinkage or selection; joint top-k 10 (official 30) over memory
and window; no long-term memory compression (clips are 24 frames); chroma PSNR only (no SSIM, LPIPS, FID, CDC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..base import ParameterError, progress
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..propagation import aggregate, dot_affinity, radius_mask
from ..video import texture_value
from . import label_propagation_factors as lpf

SOURCES = ("predicted", "reference")
LOCAL = ("previous", "reference", "none")
KEYS = ("learned", "patch")
#: Entities of a scene: 0 background, 1 distractor, 2 target.
TARGET = 2


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_frames, n_videos, drift, noise: the clips (:func:`make_scene`); drift scales the target's turn (0 = none).
        train_steps, n_train_videos: the colourise-by-copy encoder (:mod:`label_propagation_factors` recipe).
        keys: ``learned`` (the encoder) or ``patch`` (raw 5×5 grey patches, the untrained sceptic's keys).
        topk, tau, radius: the readout (joint top-k, softmax temperature, local window radius in pixels).
        mem_every: a predicted frame enters the memory every ``mem_every`` frames (0 = no memory).
        memory_source: ``predicted`` (the paper) or ``reference`` (each memory slot holds a copy of frame 1).
        local_source: the window reads the ``previous`` frames (the paper's LA), frame 1 (``reference``) or ``none``.
        n_local: how many previous frames the window reads (1 in the paper).
        null: replace the method of each claim by that claim's baseline on an independently trained encoder.
        n_seeds: seeds (one encoder and one set of clips each).
    """

    n_frames: int = knob(24, lo=22, hi=48, doc="frames per clip")
    n_videos: int = knob(4, lo=1, hi=100, doc="scored clips per seed")
    drift: float = knob(1.0, lo=0.0, hi=1.6, doc="scale of the target's turn")
    noise: float = knob(0.03, lo=0.0, hi=0.3, doc="sensor noise σ")
    train_steps: int = knob(160, lo=0, doc="colourise-by-copy steps of the key encoder")
    n_train_videos: int = knob(40, lo=1, hi=300, doc="training clips of the key encoder")
    keys: str = knob("learned", choices=KEYS, doc="key features")
    topk: int = knob(10, lo=1, doc="k of the joint top-k")
    tau: float = knob(0.07, lo=0.0, lo_open=True, doc="softmax temperature")
    radius: float = knob(7.0, lo=1.0, doc="local window radius in pixels")
    mem_every: int = knob(5, lo=0, hi=40, doc="memory write interval (0 = no memory)")
    memory_source: str = knob("predicted", choices=SOURCES, doc="what fills the memory slots")
    local_source: str = knob("previous", choices=LOCAL, doc="what the local window reads")
    n_local: int = knob(1, lo=1, hi=8, doc="previous frames in the local window")
    null: bool = knob(False, choices=(True, False), doc="noise null: baselines on an independent encoder")
    n_seeds: int = knob(1, lo=1, doc="seeds (encoder + clips)")

    def encoder_cfg(self) -> lpf.Config:
        """The key encoder's recipe: :class:`label_propagation_factors.Config` (32×32 training clips)."""
        return lpf.Config(train_steps=self.train_steps, n_train_videos=self.n_train_videos)

    def readout(self, **change: Any) -> dict:
        """The method's readout settings (:func:`colourise` keyword arguments), with ``change`` applied."""
        r = {"mem_every": self.mem_every, "memory_source": self.memory_source, "local_source": self.local_source,
             "n_local": self.n_local, "topk": self.topk, "tau": self.tau, "radius": self.radius}
        r.update(change)
        return r


PRESETS = {
    "small": Config(),
    "full": Config(n_videos=12, train_steps=600, n_train_videos=120, n_seeds=3),
}
SMOKE = {"n_videos": 1, "train_steps": 2, "n_train_videos": 2, "n_seeds": 1}


# ------------------------------------------------------------------------------------------------ the clips
@dataclass
class Scene:
    """One clip: ``grey`` ``(T, 1, H, W)``, ``masks`` ``(T, H, W)`` (0 background, 1 distractor, 2 target),
    ``uv`` ``(T, 2, H, W)`` true chroma, ``entity_uv`` ``(3, 2)``; the target is fully outside the frame in frames
    ``exit_frame .. return_frame − 1`` (0-based); ``turn`` its total turn in degrees."""

    grey: Tensor
    masks: Tensor
    uv: Tensor
    entity_uv: Tensor
    exit_frame: int
    return_frame: int
    turn: float
    seed: int

    @property
    def n_frames(self) -> int:
        return int(self.grey.shape[0])

    def rgb(self, uv: Tensor | None = None) -> Tensor:
        """``(T, H, W, 3)`` colour frames from the grey frames and ``uv`` (default: the true chroma), BT.601 YUV."""
        y = self.grey[:, 0]
        u, v = (self.uv if uv is None else uv).unbind(1)
        rgb = torch.stack([y + 1.140 * v, y - 0.395 * u - 0.581 * v, y + 2.032 * u], -1)
        return rgb.clamp(0, 1)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def make_scene(seed: int, *, size: int = 32, n_frames: int = 24, drift: float = 1.0, noise: float = 0.03,
               radius: float = 6.0) -> Scene:
    """Draw one clip (see the module docstring); deterministic in ``seed``.

    Timeline (0-based frames): the target turns by ``drift × (45–55)°`` over the first 7–9 frames (smoothstep), moves
    out through a border (its centre is past it from about frame 10–12 for 5–6 frames; ``exit_frame`` and
    ``return_frame`` are read off the masks: the first frame without any target pixel and the first one with
    target pixels again), then comes back. A random flip /
    transpose picks the border it leaves through.
    """
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ParameterError(f"seed must be a non-negative int, got {seed!r}")
    if n_frames < 22:
        raise ParameterError(f"N_FRAMES={n_frames} must be >= 22 (the target may be away until frame 18)")
    rng = np.random.default_rng(int(seed))
    T, H, W = n_frames, size, size
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    period = rng.uniform(4.5, 6.0)
    ang_d = rng.uniform(0, 180)
    turn = rng.uniform(45, 55) * drift * rng.choice([-1, 1])
    ang_t = ang_d + 90 + turn * _smoothstep(np.arange(T) / rng.uniform(7, 9))
    exit_frame = int(rng.integers(10, 13))
    away = int(rng.integers(5, 7))
    speed = rng.uniform(1.8, 2.4)
    t_peak = exit_frame + away / 2
    x_t = W + radius + speed * away / 2 - 0.5 - speed * np.abs(np.arange(T) - t_peak)   # out and back
    y_t = rng.uniform(0.62, 0.75) * H
    x_d, y_d = rng.uniform(0.25, 0.6) * W, rng.uniform(0.2, 0.3) * H
    bg_kind = str(rng.choice(["dots", "checks"]))
    bg_period, bg_ang = rng.uniform(6, 8), rng.uniform(0, 90)
    pan = rng.uniform(0.2, 0.4, 2) * rng.choice([-1, 1], 2)
    hue = rng.uniform(0, 2 * np.pi) + np.array([0.0, 2.1, 4.2]) + rng.uniform(-0.3, 0.3, 3)
    mag = rng.uniform(0.15, 0.25, 3)
    entity_uv = np.stack([mag * np.cos(hue), mag * np.sin(hue)], 1)
    dark, light = rng.uniform(0.2, 0.35), rng.uniform(0.65, 0.8)
    bg_phase = rng.uniform(0, 20, 2)
    phase = rng.uniform(0, 1, (2, 2)) * period          # stripes turn about (nearly) the disc centre

    grey = np.zeros((T, H, W))
    masks = np.zeros((T, H, W), np.int64)
    for t in range(T):
        val = texture_value(bg_kind, bg_ang, bg_period, xx + pan[0] * t + bg_phase[0], yy + pan[1] * t + bg_phase[1])
        d = np.hypot(xx - x_d, yy - y_d) < radius
        val = np.where(d, texture_value("stripes", ang_d, period, xx - x_d + phase[0, 0], yy - y_d + phase[0, 1]), val)
        masks[t][d] = 1
        g = np.hypot(xx - x_t[t], yy - y_t) < radius
        val = np.where(g, texture_value("stripes", ang_t[t], period, xx - x_t[t] + phase[1, 0],
                                        yy - y_t + phase[1, 1]), val)
        masks[t][g] = TARGET
        grey[t] = dark + (light - dark) * val + rng.normal(0, noise, (H, W))
    flip = int(rng.integers(0, 8))
    g_t, m_t = torch.from_numpy(grey).float(), torch.from_numpy(masks)
    if flip & 1:
        g_t, m_t = g_t.flip(-1), m_t.flip(-1)
    if flip & 2:
        g_t, m_t = g_t.flip(-2), m_t.flip(-2)
    if flip & 4:
        g_t, m_t = g_t.transpose(-1, -2), m_t.transpose(-1, -2)
    e_uv = torch.from_numpy(entity_uv).float()
    present = (m_t == TARGET).flatten(1).any(1).tolist()          # the actual timeline, read off the masks
    gone = present.index(False)
    back = gone + present[gone:].index(True)
    return Scene(grey=g_t[:, None].contiguous(), masks=m_t.contiguous(), uv=e_uv[m_t].permute(0, 3, 1, 2).contiguous(),
                 entity_uv=e_uv, exit_frame=gone, return_frame=back, turn=float(turn), seed=int(seed))


def test_scenes(cfg: Config, seed: int) -> list[Scene]:
    """The scored clips of ``seed`` (seeds ``1000 seed + i``; the encoder's training clips use ``+700``)."""
    return [make_scene(seed * 1000 + i, n_frames=cfg.n_frames, drift=cfg.drift, noise=cfg.noise)
            for i in range(cfg.n_videos)]


def validation_scene(cfg: Config, seed: int) -> Scene:
    """A clip for the notebook's widget, never scored by the claims."""
    return make_scene(seed * 1000 + 500, n_frames=cfg.n_frames, drift=cfg.drift, noise=cfg.noise)


# ------------------------------------------------------------------------------------------------ the readout
def context(t: int, mem_every: int, memory_source: str, local_source: str, n_local: int) -> tuple[list[int], list[int]]:
    """The frames read at frame ``t ≥ 1``: ``(memory slots, local-window slots)`` as frame indices.

    Memory: frame 0 (permanent) + every ``mem_every``-th frame ``s < t`` not already in the window; with
    ``memory_source="reference"`` each of those slots is frame 0 again. Window: the ``n_local`` frames before
    ``t`` (without frame 0) for ``"previous"``, frame 0 for ``"reference"``, none for ``"none"``.
    """
    if t < 1:
        raise ParameterError("frame 0 carries the exemplar's colours; read the memory for t >= 1")
    if memory_source not in SOURCES:
        raise ParameterError(f"memory_source must be one of {', '.join(SOURCES)}, got {memory_source!r}")
    if local_source not in LOCAL:
        raise ParameterError(f"local_source must be one of {', '.join(LOCAL)}, got {local_source!r}")
    if local_source == "previous":
        local = [s for s in range(max(1, t - n_local), t)]
    elif local_source == "reference":
        local = [0]
    else:
        local = []
    past = [s for s in range(mem_every, t, mem_every) if s not in local] if mem_every > 0 else []
    memory = [0] + ([0] * len(past) if memory_source == "reference" else past)
    return memory, local


def colourise(feats: Tensor, first_values: Tensor, *, mem_every: int = 5, memory_source: str = "predicted",
              local_source: str = "previous", n_local: int = 1, topk: int | None = 10, tau: float = 0.07,
              radius: float = 7.0) -> Tensor:
    """Propagate the exemplar's values through a clip with ColorMNet's memory readout (module docstring).

    Args:
        feats: ``(T, D, H, W)`` keys of every frame (L2-normalised here over ``D``).
        first_values: ``(L, H, W)`` values of frame 0 (chroma, optionally with one-hot labels stacked: the readout
            is linear in the values, so extra channels are carried with the same weights).
        mem_every, memory_source, local_source, n_local: the context (:func:`context`).
        topk, tau: joint top-k over all read positions and the softmax temperature (logits ``q·k / τ``).
        radius: the local window, in pixels (strict ``<``): only window slots are limited; memory is global.

    Returns:
        ``(T, L, H, W)`` predicted values (frame 0 = ``first_values``); frame ``t`` reads predictions of earlier
        frames, never the truth.
    """
    if feats.dim() != 4 or first_values.dim() != 3 or feats.shape[-2:] != first_values.shape[-2:]:
        raise ParameterError("colourise needs feats (T, D, H, W) and first_values (L, H, W) of the same H, W")
    T, D, H, W = feats.shape
    n = H * W
    f = F.normalize(feats, dim=1).flatten(2).transpose(1, 2)          # (T, HW, D)
    window = radius_mask(H, W, radius)
    out = [first_values.flatten(1).T]                                 # (HW, L) per frame
    for t in range(1, T):
        memory, local = context(t, mem_every, memory_source, local_source, n_local)
        ctx = memory + local
        logits = dot_affinity(f[t], f[ctx].reshape(-1, D), tau)
        if local:
            logits.view(n, len(ctx), n)[:, len(memory):].masked_fill_(~window[:, None, :], float("-inf"))
        out.append(aggregate(logits, torch.cat([out[s] for s in ctx]), topk))
    return torch.stack(out).transpose(1, 2).reshape(T, -1, H, W)


def chroma_psnr(pred_uv: Tensor, true_uv: Tensor, where: Tensor) -> float:
    """``10 log10(1 / MSE)`` of the chroma over the positions ``where`` (``(T, H, W)`` bool); MSE per channel."""
    if int(where.sum()) == 0:
        raise ParameterError("chroma_psnr: no pixel selected")
    mse = ((pred_uv - true_uv) ** 2).mean(1)[where].mean().clamp_min(1e-10)
    return float(10 * torch.log10(1 / mse))


# ------------------------------------------------------------------------------------------------ keys
@torch.no_grad()
def features(kind: str, scene: Scene, model: torch.nn.Module | None = None) -> Tensor:
    """``(T, D, H, W)`` keys of a clip: the encoder's features (``learned``) or the centred 5×5 grey patch."""
    if kind == "patch":
        p = F.unfold(F.pad(scene.grey, (2, 2, 2, 2), mode="replicate"), 5)
        p = p - p.mean(1, keepdim=True)
        return p.view(scene.n_frames, 25, *scene.grey.shape[-2:])
    if kind == "learned":
        if model is None:
            raise ParameterError("learned keys need the encoder (model=...)")
        model.eval()
        dev = next(model.parameters()).device
        return model(scene.grey.to(dev)).cpu()
    raise ParameterError(f"keys must be one of {', '.join(KEYS)}, got {kind!r}")


# ------------------------------------------------------------------------------------------------ the run
#: The arms scored on every clip: name → readout change (applied to the config's readout for M and M − LA).
ARMS = ("M", "M-LA", "B", "A'", "A")


def arm_readouts(cfg: Config) -> dict[str, dict]:
    """Readout settings of every arm: the method M and its ablation from the config; B, A′, A fixed."""
    base = {"topk": cfg.topk, "tau": cfg.tau, "radius": cfg.radius, "memory_source": "predicted", "n_local": 1}
    return {
        "M": cfg.readout(),
        "M-LA": cfg.readout(local_source="none"),
        "B": {**base, "mem_every": 0, "local_source": "none"},
        "A'": {**base, "mem_every": 0, "local_source": "previous"},
    }


def score_scene(feats: Tensor, scene: Scene, readout: dict) -> dict:
    """Colourise one clip; returns the predicted chroma and labels and the scores
    ``target_post`` (PSNR on the target after it returns), ``all`` (PSNR on all object pixels, frames 2..T) and
    ``target_j`` (IoU of the target's propagated label after it returns)."""
    y0 = torch.cat([scene.uv[0], F.one_hot(scene.masks[0], 3).permute(2, 0, 1).float()])
    out = colourise(feats, y0, **readout)
    uv, lab = out[:, :2], out[:, 2:].argmax(1)
    r = scene.return_frame
    tgt = scene.masks[r:] == TARGET
    inter = ((lab[r:] == TARGET) & tgt).sum().item()
    union = ((lab[r:] == TARGET) | tgt).sum().item()
    return {"uv": uv, "labels": lab,
            "target_post": chroma_psnr(uv[r:], scene.uv[r:], tgt),
            "all": chroma_psnr(uv[1:], scene.uv[1:], scene.masks[1:] > 0),
            "target_j": inter / max(union, 1)}


def previous_only(feats: Tensor, scene: Scene, cfg: Config) -> dict:
    """Arm A, recurrent copying: the previous frame only, in the window (frame 0 is not read after frame 1)."""
    y0 = torch.cat([scene.uv[0], F.one_hot(scene.masks[0], 3).permute(2, 0, 1).float()])
    T, D, H, W = feats.shape
    f = F.normalize(feats, dim=1).flatten(2).transpose(1, 2)
    window = radius_mask(H, W, cfg.radius)
    out = [y0.flatten(1).T]
    for t in range(1, T):
        logits = dot_affinity(f[t], f[t - 1], cfg.tau).masked_fill(~window, float("-inf"))
        out.append(aggregate(logits, out[t - 1], cfg.topk))
    o = torch.stack(out).transpose(1, 2).reshape(T, -1, H, W)
    r = scene.return_frame
    tgt = scene.masks[r:] == TARGET
    lab = o[:, 2:].argmax(1)
    inter = ((lab[r:] == TARGET) & tgt).sum().item()
    union = ((lab[r:] == TARGET) | tgt).sum().item()
    return {"uv": o[:, :2], "labels": lab, "target_post": chroma_psnr(o[r:, :2], scene.uv[r:], tgt),
            "all": chroma_psnr(o[1:, :2], scene.uv[1:], scene.masks[1:] > 0), "target_j": inter / max(union, 1)}


@dataclass
class SeedResult:
    """One seed: ``scores[arm][metric]`` lists per clip (metrics ``target_post``, ``all``, ``target_j``);
    ``null`` the same for B, A′ and M − LA on the independent encoder (only when ``cfg.null``); ``uv[arm]`` the
    predicted chroma per clip; ``feats`` the clips' keys (for the notebook's widget)."""

    seed: int
    scores: dict[str, dict[str, list[float]]]
    null: dict[str, dict[str, list[float]]]
    scenes: list[Scene]
    uv: dict[str, list[Tensor]]
    feats: list[Tensor]
    source: str
    seconds_train: float


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[SeedResult]
    seconds: float

    def mean(self, arm: str, metric: str, null: bool = False) -> np.ndarray:
        """``(n_seeds,)`` mean over the clips of each seed."""
        return np.array([np.mean((sr.null if null else sr.scores)[arm][metric]) for sr in self.per_seed])


def key_model(cfg: Config, seed: int, progress_bar: bool | None = None, device: Any = "cpu"):
    """The key encoder of ``seed`` (trained or loaded from the cache) — ``(model, source, seconds)``; ``None`` for
    raw-patch keys."""
    if cfg.keys != "learned":
        return None, "untrained (raw patches)", 0.0
    t0 = time.perf_counter()
    model, source = lpf.encoder(cfg.encoder_cfg(), seed, True, progress_bar, device)
    return model, source, time.perf_counter() - t0


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Train (or load) the key encoder of each seed, then colourise the seed's clips with every arm.

    Seed ``s``: clips ``1000 s + i``; encoder seed ``s`` (its training clips ``1000 s + 700 + i``); with ``null``
    also an encoder trained from seed ``s + 10 000``, on which B, A′ and M − LA are rerun.
    """
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    out = []
    for s in seeds:
        model, source, t_train = key_model(cfg, s, progress, device)
        null_model = key_model(cfg, s + 10_000, progress, device)[0] if cfg.null else None
        scenes = test_scenes(cfg, s)
        readouts = arm_readouts(cfg)
        scores = {a: {"target_post": [], "all": [], "target_j": []} for a in ARMS}
        null = {a: {"target_post": [], "all": [], "target_j": []} for a in ("B", "A'", "M-LA")} if cfg.null else {}
        uv: dict[str, list[Tensor]] = {a: [] for a in ARMS}
        feats = []
        for sc in progress_iter(scenes, progress, s):
            f = features(cfg.keys, sc, model)
            feats.append(f)
            res = {a: score_scene(f, sc, r) for a, r in readouts.items()}
            res["A"] = previous_only(f, sc, cfg)
            for a in ARMS:
                uv[a].append(res[a]["uv"])
                for m in ("target_post", "all", "target_j"):
                    scores[a][m].append(res[a][m])
            if cfg.null:
                fn = features(cfg.keys, sc, null_model)
                for a in null:
                    rn = score_scene(fn, sc, readouts[a])
                    for m in null[a]:
                        null[a][m].append(rn[m])
        out.append(SeedResult(s, scores, null, scenes, uv, feats, source, t_train))
    return Result(cfg, seeds, out, time.perf_counter() - t0)


def progress_iter(scenes: list[Scene], enabled: bool | None, seed: int):
    return progress(scenes, total=len(scenes), desc=f"colourising (seed {seed})", enabled=enabled)


def claim_values(res: Result) -> dict[str, Any]:
    """Per-seed paired differences (dB). With ``cfg.null`` the method's side of each claim is that claim's
    baseline on the independent encoder."""
    best = np.maximum(res.mean("B", "target_post"), res.mean("A'", "target_post"))
    if res.cfg.null:
        m_post = np.maximum(res.mean("B", "target_post", True), res.mean("A'", "target_post", True))
        m_all = res.mean("M-LA", "all", True)
    else:
        m_post, m_all = res.mean("M", "target_post"), res.mean("M", "all")
    vals: dict[str, Any] = {
        "memory_gain": (m_post - best).tolist(),
        "local_gain": (m_all - res.mean("M-LA", "all")).tolist(),
        "m_minus_previous_only": (m_post - res.mean("A", "target_post")).tolist(),
    }
    for a in ARMS:
        for m in ("target_post", "all", "target_j"):
            vals[f"{m}_{a}"] = float(res.mean(a, m).mean())
    return vals


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("memory_beats_ref_and_prev", "memory_gain", ">=", 1.0,
              "chroma PSNR on the returning target after it returns: memory M − max(reference only, reference + "
              "previous frame), dB, same clips and keys",
              "qualitative: memory links far-apart frames and beats recurrent / stacked propagation (abstract, "
              "Sec. 3; ablation table values not found)"),
    ClaimSpec("local_attention_helps", "local_gain", ">=", 0.8,
              "chroma PSNR on all object pixels, frames 2..T: M − M without the local window on the previous "
              "frame, dB",
              "qualitative: the local attention module improves colourisation (abstract; ablation values not found)"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("reference_memory", {"memory_source": "reference"}, ("memory_beats_ref_and_prev",), "mechanism",
         "every memory slot holds a copy of frame 1 instead of a past predicted frame (same number of slots, same "
         "window, top-k and keys)"),
    Swap("local_on_reference", {"local_source": "reference"}, ("local_attention_helps",), "mechanism",
         "the local window reads frame 1 instead of the previous frame (same radius, memory and keys)"),
    Swap("sceptic_recent3", {"mem_every": 0, "n_local": 3}, ("memory_beats_ref_and_prev",), "baseline",
         "the sceptic's CRW-style context in the method's place: frame 1 + the 3 previous frames in the window, "
         "no memory"),
    Swap("noise_null", {"null": True}, ("memory_beats_ref_and_prev", "local_attention_helps"), "null",
         "each claim's baseline (max(B, A′); M − LA) rerun on an independently trained encoder in the method's place"),
    Swap("raw_patch_keys", {"keys": "patch"}, (), "baseline",
         "raw 5×5 grey patches as keys for every arm (the untrained sceptic's keys; reported)"),
)
