"""A second fake paper for batched calibration tests: the same contract as :mod:`fakes.fake_paper`."""

from fakes.fake_paper import *  # noqa: F401,F403
from fakes.fake_paper import CLAIMS, PRESETS, SMOKE, SWAPS, Config, claim_values, run  # noqa: F401
