"""A tiny paper module implementing the contract, for the tests of ``featurelab.calibrate``.

The "method" adds ``effect`` to a noisy baseline; claim ``gain`` (method − baseline ≥ 0.5) is broken by the
swap ``effect_off``; claim ``level`` (method ≥ 0) is *not* broken by its swap ``weak`` (the criteria must say so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featurelab.claims import ClaimSpec
from featurelab.experiment import Knobs, Swap, knob


@dataclass(frozen=True)
class Config(Knobs):
    n_seeds: int = knob(2, lo=1)
    effect: float = knob(1.0, lo=0.0)
    noise: float = knob(0.05, lo=0.0)
    steps: int = knob(10, lo=1)


PRESETS = {"small": Config(), "full": Config(n_seeds=4, steps=1000)}
SMOKE = {"steps": 1}


def run(cfg: Config, seeds, *, device="cpu", progress=None) -> dict:
    rng = [np.random.default_rng(s) for s in seeds]
    base = np.array([r.normal(0, cfg.noise) for r in rng])
    return {"method": base + cfg.effect + np.array([r.normal(0, cfg.noise) for r in rng]), "base": base}


def claim_values(res: dict) -> dict:
    return {"gain": res["method"] - res["base"], "level": res["method"]}


CLAIMS = (ClaimSpec("gain", "gain", ">=", 0.5, "method minus baseline"),
          ClaimSpec("level", "level", ">=", 0.0, "method level"))
SWAPS = (Swap("effect_off", {"effect": 0.0}, ("gain",), "mechanism", "no effect"),
         Swap("weak", {"effect": 0.6}, ("level",), "baseline", "a weaker effect still passes level"),
         Swap("same", {"effect": 0.0, "noise": 0.0}, ("gain",), "sanity", "zero by construction"))
