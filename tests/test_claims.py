import json

import pytest

from featurelab import claims
from featurelab.claims import ClaimFailed, check, read_record


def test_pass_line_is_stable(capsys):
    c = check("gain", 0.3, 0.1, strict=True)
    out = capsys.readouterr().out
    assert c.passed and out.startswith("PASS  gain: measured 0.300 >= threshold 0.100")


def test_per_seed_values_are_reduced(capsys):
    c = check("gain", [0.2, 0.4, 0.9], 0.3, reduce="min", paper="+0.24", strict=False)
    assert c.measured == pytest.approx(0.2) and not c.passed
    out = capsys.readouterr().out
    assert out.startswith("FAIL  gain") and "(min of 3 seeds)" in out
    assert "per seed: 0.200, 0.400, 0.900" in out and "paper: +0.24" in out


def test_failure_raises_in_strict_mode(monkeypatch):
    monkeypatch.setenv("FEATURELAB_STRICT", "1")
    with pytest.raises(ClaimFailed, match="'low'"):
        check("low", 0.1, 0.5)
    monkeypatch.setenv("FEATURELAB_STRICT", "0")
    monkeypatch.setenv("CI", "")
    assert not check("low", 0.1, 0.5).passed


@pytest.mark.parametrize("op,value,ok", [("<=", 0.1, True), ("<", 0.5, False), (">", 0.6, True)])
def test_operators(op, value, ok):
    assert check("x", value, 0.5, op, strict=False).passed is ok


def test_nan_never_passes():
    assert not check("nan", float("nan"), 0.0, "<=", strict=False).passed


def test_bad_arguments():
    with pytest.raises(ValueError, match="op must be"):
        check("x", 1.0, 0.0, "=>")
    with pytest.raises(ValueError, match="reduce"):
        check("x", [1.0], 0.0, reduce="sum")
    with pytest.raises(ValueError, match="no measured"):
        check("x", [], 0.0)


def test_record_file(tmp_path, monkeypatch):
    rec = tmp_path / "r.jsonl"
    monkeypatch.setenv("FEATURELAB_RECORD", str(rec))
    check("a", 1.0, 0.5, strict=False)
    check("b", 0.0, 0.5, strict=False)
    check("a", 2.0, 0.5, strict=False)  # re-checked: latest wins
    got = read_record(rec)
    assert [c["name"] for c in got] == ["a", "b"] and got[0]["measured"] == 2.0
    assert json.loads(rec.read_text().splitlines()[0])["passed"] is True
    assert [c.name for c in claims.recorded()][-2:] == ["b", "a"]
    assert read_record(tmp_path / "missing.jsonl") == []


def test_claim_spec_checks_and_detects_a_failing_swap(capsys):
    from featurelab.claims import ClaimSpec

    spec = ClaimSpec("gain", "gain", ">=", 0.1, description="method beats baseline", paper="+0.2")
    values = {"gain": [0.3, 0.2], "gain_swap": [0.0, 0.01]}
    c = spec.check(values, strict=False)
    assert c.passed and c.measured == pytest.approx(0.25) and "paper: +0.2" in capsys.readouterr().out
    assert spec.holds_on(values) and not spec.holds_on(values, "gain_swap")
    assert not spec.holds_on({"gain": float("nan")})
