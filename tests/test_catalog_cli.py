import json
from datetime import date

import pytest

from featurelab import catalog, cli
from featurelab.runner import report_markdown


def test_catalog_has_the_56_papers_in_8_modules():
    papers = catalog.papers()
    assert len(papers) == 56 and len({p.slug for p in papers}) == 56
    assert [m.id for m in catalog.modules()] == [f"{i:02d}" for i in range(1, 9)]
    for p in papers:
        assert p.status in catalog.STATUSES
        assert p.notebook.startswith(next(m.folder for m in catalog.modules() if m.id == p.module) + "/")
        assert p.notebook.endswith(f"{p.order:02d}_{p.slug}.ipynb")
        assert p.arxiv.count(".") == 1 and p.claim.endswith(".")
        if p.available:  # two lines per built paper: what the paper claims, what this notebook shows
            assert p.shows.endswith("."), f"{p.slug}: catalog needs a `shows` line (what this notebook shows)"


def test_get_unknown_suggests():
    assert catalog.get("dann").module == "04"
    with pytest.raises(KeyError, match="did you mean dann"):
        catalog.get("dan")


def test_readme_table_lists_every_paper():
    table = catalog.readme_table()
    for p in catalog.papers():
        assert f"`{p.slug}`" in table
    with pytest.raises(ValueError):
        catalog.render_readme("no markers")


def test_list_json(capsys):
    assert cli.main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 56 and {"slug", "status", "arxiv", "claim"} <= set(rows[0])
    assert cli.main(["list"]) == 0
    assert "notebooks available" in capsys.readouterr().out


@pytest.mark.parametrize("argv,msg", [
    (["run", "nosuchpaper"], "unknown notebook"),
    (["run", "--module", "42"], "unknown module"),
    (["run", "--all", "--scale", "huge"], "unknown scale"),
    (["run", "--all", "--seed", "-3"], "non-negative"),
    (["run", "--all", "--seed", "x"], "non-negative"),
    (["run"], "exactly one"),
    (["run", "dann", "--all"], "exactly one"),
    (["report", "/nonexistent/dir"], "no summary"),
])
def test_bad_input_is_one_line_error(argv, msg, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("featurelab: error:") and msg in err and err.count("\n") == 1


def test_planned_paper_is_a_one_line_error(monkeypatch, capsys):
    # the course may have no planned paper left: make one (no notebook file, status planned)
    import dataclasses

    real = catalog.get("dann")
    planned = dataclasses.replace(real, status="planned", notebook="notebooks/not_written_yet.ipynb")
    monkeypatch.setattr(catalog, "get", lambda slug: planned if slug == "dann" else real)
    assert cli.main(["run", "dann"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featurelab: error:") and "planned" in err and err.count("\n") == 1


def test_out_folder_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    available = [p.slug for p in catalog.papers(available_only=True)]
    if not available:
        pytest.skip("no notebook available yet")
    assert cli.main(["run", available[0], "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_report_from_summary(tmp_path, capsys):
    summary = [{"slug": "dann", "notebook": "x", "status": "ok", "seconds": 12.3, "scale": "small", "seed": 0,
                "claims": [{"name": "gain", "measured": 0.3, "threshold": 0.1, "op": ">=", "passed": True,
                            "values": None, "paper": None}], "error": None},
               {"slug": "b", "notebook": "y", "status": "error", "seconds": 1.0, "scale": "small", "seed": 0,
                "claims": [], "error": "boom"}]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert cli.main(["report", str(tmp_path), "--write", str(tmp_path / "r.md")]) == 0
    out = capsys.readouterr().out
    assert "| dann | ok | 12.3 | small | 0 | gain | 0.300 | >= 0.100 | PASS |" in out
    assert "boom" in out and "1 of 2 notebooks" in out
    assert (tmp_path / "r.md").read_text() == report_markdown(summary)


def test_runtime_table():
    t = cli.runtime_table([{"slug": "dann", "seconds": 20.0, "status": "ok", "claims": [{"passed": True}]}], "M")
    assert "| dann | 20.0 | 1/1 pass (ok) | " in t
    old = t.replace(date.today().isoformat(), "2026-01-02")
    rows = cli.read_runtime_rows(old)
    assert rows == {"dann": (20.0, "1/1 pass (ok)", "2026-01-02")}
    # a table from before the date column takes the date of its first line
    legacy = "Measured by `featurelab bench` on 2025-05-05, ...\n\n| notebook | s | claims |\n|---|---|---|\n| dann | 9.5 | 2/2 pass (ok) |\n"
    assert cli.read_runtime_rows(legacy) == {"dann": (9.5, "2/2 pass (ok)", "2025-05-05")}
    t2 = cli.runtime_table([{"slug": "dann", "seconds": 9.5, "status": "ok", "claims": [{"passed": True}]}], "M",
                           {"dann": "2025-05-05"})
    assert "| dann | 9.5 | 1/1 pass (ok) | 2025-05-05 |" in t2
