"""The paper contract (featurelab.experiment) and calibration (featurelab.calibrate) on a tiny fake paper."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import fake_paper  # noqa: E402

from featurelab import ParameterError  # noqa: E402
from featurelab.calibrate import calibrate, needed_breaks  # noqa: E402
from featurelab.claims import ClaimFailed  # noqa: E402
from featurelab.experiment import (Knobs, Swap, check_claims, contract_errors, knob, knob_table,  # noqa: E402
                                   source_hash)


@dataclasses.dataclass(frozen=True)
class C(Knobs):
    n: int = knob(3, lo=1, doc="seeds")
    widths: tuple = knob((4, 8), lo=1)
    act: str = knob("relu", choices=("relu", "tanh"))
    lr: float = knob(0.1, lo=0.0, lo_open=True, hi=1.0)

    def validate(self):
        if self.n > 10 and self.act == "tanh":
            raise ParameterError("N > 10 needs ACT='relu'")


@pytest.mark.parametrize("kw, msg", [({"n": 0}, r"N=0 \(seeds\) must be >= 1"),
                                     ({"widths": (4, 0)}, r"WIDTHS=\(4, 0\): every element must be >= 1"),
                                     ({"act": "x"}, "ACT='x' must be one of 'relu', 'tanh'"),
                                     ({"lr": 0.0}, r"LR=0.0 must be \(0.0, 1.0\]"),
                                     ({"n": True}, "N=True"), ({"n": "3"}, "N='3'"),
                                     ({"n": 1.5}, "N=1.5 must be an integer"),
                                     ({"n": 11, "act": "tanh"}, "N > 10 needs")])
def test_knob_bounds_name_the_knob(kw, msg):
    with pytest.raises(ParameterError, match=msg):
        dataclasses.replace(C(), **kw)


def test_knob_table_and_swap_apply():
    assert [r[0] for r in knob_table(C)] == ["N", "WIDTHS", "ACT", "LR"]
    s = Swap("off", {"n": 1}, ("x",))
    assert s.apply(C()).n == 1
    assert Swap("f", lambda c: dataclasses.replace(c, lr=0.5), ("x",)).apply(C()).lr == 0.5
    with pytest.raises(ParameterError):
        Swap("bad", {}, ("x",), kind="other")
    with pytest.raises(ParameterError):
        dataclasses.replace(C(), n=0)  # a swap to an invalid config fails like a knob


def test_fake_paper_implements_contract_and_broken_one_does_not():
    assert contract_errors(fake_paper) == []

    class Broken:
        Config, PRESETS, SMOKE, run, claim_values = (fake_paper.Config, fake_paper.PRESETS, {}, fake_paper.run,
                                                     fake_paper.claim_values)
        CLAIMS = fake_paper.CLAIMS
        SWAPS = (Swap("x", {}, ("nope",)),)

    errs = contract_errors(Broken)
    assert any("unknown claim" in e for e in errs) and any("no (non-sanity) swap" in e for e in errs)


def test_check_claims_prints_each_line_once_and_raises_after_all(capsys):
    res = fake_paper.run(fake_paper.PRESETS["small"], [0, 1])
    report = check_claims(fake_paper, res, strict=True)
    out = capsys.readouterr().out
    assert report.passed and out.count("PASS  gain") == 1 and out.count("PASS  level") == 1
    bad = fake_paper.run(dataclasses.replace(fake_paper.PRESETS["small"], effect=0.0), [0, 1])
    with pytest.raises(ClaimFailed, match="gain"):
        check_claims(fake_paper, bad, strict=True)
    assert "PASS  level" in capsys.readouterr().out  # every claim printed before the failure raises


def test_calibrate_reports_broken_and_unbroken_claims(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "fake_paper.md").write_text("Design note: a fake.")
    rec = calibrate("fakes.fake_paper", seed_sets=4, workers=1, out=tmp_path, echo=lambda s: None, show_progress=False)
    assert needed_breaks(12) == 10 and needed_breaks(4) == 4
    arms = {a["name"]: a for a in rec["arms"]}
    assert arms["method"]["passes"] == {"gain": 4, "level": 4}
    assert rec["verdict"]["broken_by"]["gain"]["effect_off"] == {"broken": 4, "counts": True}
    assert rec["verdict"]["broken_by"]["gain"]["same"]["counts"] is False  # sanity rows never count
    assert rec["verdict"]["broken_by"]["level"]["weak"]["broken"] == 0
    assert not rec["verdict"]["ok"] and any("level" in p for p in rec["verdict"]["problems"])
    saved = json.loads((tmp_path / "fake_paper.json").read_text())
    assert saved["source_hash"] == source_hash(fake_paper) and len(arms["weak"]["values"]["gain"]) == 4
    md = (tmp_path / "fake_paper.md").read_text()
    assert "does NOT meet the criteria" in md and "Design note: a fake." in md and "/tmp" not in md


def test_calibrate_many_batches_papers_and_matches_one_by_one(tmp_path):
    from featurelab.calibrate import calibrate_many

    quiet = dict(seed_sets=3, workers=1, echo=lambda s: None, show_progress=False)
    both = calibrate_many(["fakes.fake_paper", "fakes.fake_paper_b"], out=tmp_path / "batch", **quiet)
    alone = calibrate("fakes.fake_paper_b", out=tmp_path / "alone", **quiet)
    assert [r["slug"] for r in both] == ["fake_paper", "fake_paper_b"]
    assert {a["name"]: a["values"] for a in both[1]["arms"]} == {a["name"]: a["values"] for a in alone["arms"]}
    assert (tmp_path / "batch" / "fake_paper.json").is_file() and (tmp_path / "batch" / "fake_paper_b.md").is_file()


def test_calibrate_errors():
    with pytest.raises(ParameterError, match="seed-sets"):
        calibrate("fakes.fake_paper", seed_sets=0)
    with pytest.raises(ParameterError, match="no paper module"):
        calibrate("not_a_paper")
