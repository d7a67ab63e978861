"""The site builder's pieces, without building (the build and its browser check: tests/browser/test_site_browser.py)."""

from __future__ import annotations

import json
import re

import pytest

from featurelab import catalog, site
from featurelab.runner import report_markdown


def _record(slug: str, scale: str = "small") -> dict:
    return {"slug": slug, "scale": scale, "seed_sets": 4,
            "claims": [{"name": "gain", "key": "gain", "op": ">=", "threshold": 0.1, "reduce": "mean",
                        "paper": "Table 2: +3.1 points", "description": ""}],
            "arms": [{"name": "method", "kind": "method", "breaks": [], "n_seeds": 2,
                      "values": {"gain": [0.2, 0.3, 0.25, 0.05]}, "passes": {"gain": 3}},
                     {"name": "off", "kind": "mechanism", "breaks": ["gain"], "n_seeds": 2,
                      "values": {"gain": [0.0, 0.01, 0.0, 0.02]}, "passes": {"gain": 0}}],
            "verdict": {"ok": False, "problems": ["method passes gain in only 3/4 sets"],
                        "broken_by": {"gain": {"off": {"broken": 4, "counts": True}}}}}


def test_report_has_one_row_per_catalog_paper_with_or_without_records():
    papers = catalog.papers()
    built = next(p for p in papers if p.available)
    text = site.report_page(papers, {built.slug: {"small": _record(built.slug)}}, {built.slug: 12.34})
    slugs = re.findall(r'<tr class="fl-paper" data-slug="([^"]+)"', text)
    assert slugs == [p.slug for p in papers]
    row = re.search(rf'data-slug="{built.slug}".*?</tr>', text).group(0)
    assert "gain</code> 0.200 <span class=\"fl-range\">[0.050, 0.300]</span> &gt;= 0.100" in row
    assert "gain</code> 3/4; broken 4/4" in row and "does not meet the criteria" in row
    assert "Table 2: +3.1 points" in row and "12.3 s" in row and f"calibration/{built.slug}.html" in row
    other = next(p for p in papers if p.available and p.slug != built.slug)
    assert "no record" in re.search(rf'data-slug="{other.slug}".*?</tr>', text).group(0)
    planned = next((p for p in papers if not p.available), None)
    if planned is None:  # every paper is built: check the planned row on a made-up one
        import dataclasses

        planned = dataclasses.replace(papers[-1], status="planned")
        text = site.report_page(papers[:-1] + [planned], {built.slug: {"small": _record(built.slug)}},
                                {built.slug: 12.34})
    prow = re.search(rf'data-slug="{planned.slug}".*?</tr>', text).group(0)
    assert "planned: no notebook yet" in prow and site.html.escape(planned.claim) in prow
    assert "<tr" in text and "\n\n" not in text.split("<table", 1)[1].split("</table>", 1)[0], \
        "a blank line inside the raw HTML table would end it in MyST"


def test_report_full_scale_column_uses_full_records():
    p = next(p for p in catalog.papers() if p.available)
    text = site.report_page([p], {p.slug: {"small": _record(p.slug), "full": _record(p.slug, "full")}}, {})
    full = re.search(r'<td data-col="full">(.*?)</td>', text).group(1)
    assert "gain</code> 0.200" in full


def test_report_includes_featurelab_report_table_for_a_run():
    summary = [{"slug": "outrank", "status": "ok", "seconds": 12.0, "scale": "small", "seed": 0, "error": None,
                "claims": [{"name": "outrank_precision", "measured": 1.0, "op": ">=", "threshold": 0.9,
                            "passed": True}]}]
    text = site.report_page(catalog.papers(), {}, {}, summary, "runs/course")
    table = report_markdown(summary).split("\n", 2)[2]  # what `featurelab report` prints, below its title
    assert table.strip() in text
    assert "The latest run: `runs/course`" in text


def test_records_and_runtimes_are_read_tolerantly(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_record("a")))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.json").write_text(json.dumps(_record("a", "full")))
    (tmp_path / "half.json").write_text('{"slug": "b", ')  # being rewritten by calibrate
    (tmp_path / "other.json").write_text("[1, 2]")
    recs = site.load_records(tmp_path)
    assert set(recs) == {"a"} and set(recs["a"]) == {"small", "full"}
    assert site.load_records(tmp_path / "missing") == {}
    rt = tmp_path / "runtimes.md"
    rt.write_text("# Runtimes\n\n| notebook | seconds | claims |\n|---|---|---|\n| outrank | 13.5 | 3/3 pass (ok) |\n")
    assert site.load_runtimes(rt) == {"outrank": 13.5}
    assert site.load_runtimes(tmp_path / "none.md") == {}


def test_committed_records_render():
    recs = site.load_records()
    for slug, by_scale in recs.items():
        for rec in by_scale.values():
            rows = site.claim_summaries(rec)
            assert [r["name"] for r in rows] == [c["name"] for c in rec["claims"]], slug


def test_links_that_leave_the_site_point_at_github():
    staged = {"notebooks/05_x/README.md", "notebooks/05_x/01_a.ipynb"}
    text = "[a](01_a.ipynb) [b](../../data/README.md#licences) [c](https://arxiv.org/abs/1) [d](#top)"
    out = site.rewrite_links(text, "notebooks/05_x/README.md", staged)
    assert "[a](01_a.ipynb)" in out and "[c](https://arxiv.org/abs/1)" in out and "[d](#top)" in out
    assert f"[b]({site.BLOB_URL}/data/README.md#licences)" in out


def test_home_page_maps_every_module_and_paper():
    text = site.home_page()
    for m in catalog.modules():
        assert f"]({m.folder}/README.md)" in text
    for p in catalog.papers():
        assert (f"]({p.notebook})" in text) == p.available, p.slug


def test_stage_writes_a_book(tmp_path):
    src = site.stage(tmp_path / "src")
    toc = (src / "_toc.yml").read_text()
    for p in catalog.papers():
        if p.available and p.path.is_file():
            assert f"file: {p.notebook[:-6]}\n" in toc
            nb = json.loads((src / p.notebook).read_text())
            text = "".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
            assert site.COLAB_BADGE not in text and "_assets/colab-badge.svg" in text, p.slug
            assert p.colab_url in text, f"{p.slug}: no Open-in-Colab link"
    cfg = (src / "_config.yml").read_text()
    assert 'execute_notebooks: "off"' in cfg and "mathjax_path: mathjax/tex-mml-chtml.js" in cfg
    assert (src / "_mathjax" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert "https://" not in cfg.split("mathjax_path:", 1)[1].splitlines()[0]


def test_cli_site_subcommand(monkeypatch, tmp_path, capsys):
    from featurelab import cli

    calls = {}

    def fake_build(out, run=None, quiet=True):
        calls.update(out=out, run=run)
        (out / "_build" / "html").mkdir(parents=True)
        return out / "_build" / "html"

    monkeypatch.setattr(site, "build_site", fake_build)
    assert cli.main(["site", "--out", str(tmp_path / "s")]) == 0
    assert calls["out"] == tmp_path / "s" and calls["run"] is None
    assert "index.html" in capsys.readouterr().out
    (tmp_path / "f").write_text("x")
    assert cli.main(["site", "--out", str(tmp_path / "f")]) == 2


def test_missing_tools_say_what_to_install(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mathjax(name, *a, **k):
        if name == "mathjax":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mathjax)
    with pytest.raises(site.SiteError, match=r'pip install -e "\.\[site\]"'):
        site.mathjax_dir()
