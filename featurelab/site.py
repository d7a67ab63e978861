"""``featurelab site``: the course as a static website, built with Jupyter Book 1.x from the committed notebooks.

Nothing is executed: the pages show the committed, executed notebooks (scale ``small``) as they are. The build
stages a book under ``<out>/source`` and runs Jupyter Book on it; the website lands in ``<out>/_build/html``:

* ``index``: the course map (every module and paper, with status) and how to run the course;
* one page per module (its README: the story and the reading order);
* one page per notebook (outputs, math, figures, claim lines, an *Open in Colab* link);
* ``report``: the reproduction report, generated from the catalog, the calibration records
  (``results/calibration/<slug>.json``), the runtime table (``results/runtimes.md``) and, when given, a run's
  ``summary.json`` (the same table as ``featurelab report``); one page per calibration record.

Everything the pages load is in the site: MathJax 3 is copied from the ``django-static-mathjax`` package (it
ships MathJax's es5 build), the theme's fonts and scripts come with ``sphinx-book-theme``, and the notebooks'
widget JavaScript (which would come from a CDN) is left out. Install with ``pip install -e ".[site]"``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import catalog

SITE_DIR = catalog.REPO_ROOT / "site"
CALIBRATION_DIR = catalog.REPO_ROOT / "results" / "calibration"
RUNTIMES_PATH = catalog.REPO_ROOT / "results" / "runtimes.md"
BLOB_URL = f"{catalog.REPO_URL}/blob/main"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
STATUS_ORDER = {"reproduced": 0, "partial": 1, "draft": 2, "planned": 3}


class SiteError(RuntimeError):
    """The site cannot be built (a missing tool, or Jupyter Book failed); the message says what to do."""


# ------------------------------------------------------------------------------------------------ inputs


def mathjax_dir() -> Path:
    """MathJax 3's es5 build as shipped by the ``django-static-mathjax`` package (``tex-mml-chtml.js`` inside)."""
    try:
        import mathjax  # the import name of django-static-mathjax
    except ImportError:
        raise SiteError('MathJax is missing: pip install -e ".[site]" (it brings django-static-mathjax)') from None
    path = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (path / "tex-mml-chtml.js").is_file():
        raise SiteError(f"no MathJax es5 build in {path}; reinstall django-static-mathjax")
    return path


def load_records(folder: Path | None = None) -> dict[str, dict[str, dict]]:
    """``{slug: {scale: record}}`` from every calibration record (``*.json``) under ``folder``, any depth.

    Files that are not readable records (being rewritten, or of another kind) are skipped.
    """
    folder = Path(folder) if folder else CALIBRATION_DIR
    out: dict[str, dict[str, dict]] = {}
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and {"slug", "scale", "claims", "arms"} <= rec.keys() and rec["arms"]:
            out.setdefault(rec["slug"], {})[rec["scale"]] = rec
    return out


def load_runtimes(path: Path | None = None) -> dict[str, float]:
    """``{slug: seconds}`` from the table ``featurelab bench`` writes (``results/runtimes.md``); empty if absent."""
    path = Path(path) if path else RUNTIMES_PATH
    out: dict[str, float] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2:
            try:
                out[cells[0]] = float(cells[1])
            except ValueError:
                continue
    return out


# ------------------------------------------------------------------------------------------------ report


def _f(v: Any) -> str:
    try:
        return f"{float(v):.3f}"
    except (TypeError, ValueError):
        return "—"


def claim_summaries(record: dict) -> list[dict]:
    """Per claim of a record: name, threshold text, the method's values (seed set 0, mean, min, max), passes.

    Seed set 0 is what the notebook with ``SEED = 0`` (the committed outputs) measures.
    """
    n = record["seed_sets"]
    method = record["arms"][0]
    out = []
    for c in record["claims"]:
        vals = [v for v in method["values"].get(c["name"], []) if v is not None and v == v]
        broken = record.get("verdict", {}).get("broken_by", {}).get(c["name"], {})
        best = max((b["broken"] for b in broken.values() if b.get("counts")), default=None)
        out.append({
            "name": c["name"],
            "threshold": f"{c['op']} {_f(c['threshold'])}",
            "paper": c.get("paper") or "not reported",
            "first": _f(vals[0]) if vals else "—",
            "mean": _f(sum(vals) / len(vals)) if vals else "—",
            "min": _f(min(vals)) if vals else "—",
            "max": _f(max(vals)) if vals else "—",
            "passes": f"{method['passes'].get(c['name'], 0)}/{n}",
            "broken": f"{best}/{n}" if best is not None else "—",
        })
    return out


def _measured_cell(rec: dict | None) -> str:
    if rec is None:
        return '<span class="fl-none">no record</span>'
    items = []
    for s in claim_summaries(rec):
        items.append(f"<li><code>{html.escape(s['name'])}</code> {s['mean']} "
                     f"<span class=\"fl-range\">[{s['min']}, {s['max']}]</span> {html.escape(s['threshold'])}</li>")
    return f'<ul class="fl-claims">{"".join(items)}</ul>'


def _passes_cell(rec: dict | None) -> str:
    if rec is None:
        return '<span class="fl-none">no record</span>'
    items = [f"<li><code>{html.escape(s['name'])}</code> {s['passes']}; broken {s['broken']}</li>"
             for s in claim_summaries(rec)]
    verdict = "meets the criteria" if rec.get("verdict", {}).get("ok") else "does not meet the criteria"
    return f'<ul class="fl-claims">{"".join(items)}</ul><span class="fl-verdict">{verdict}</span>'


def _paper_numbers(rec: dict | None) -> str:
    if rec is None:
        return '<span class="fl-none">no record</span>'
    items = [f"<li><code>{html.escape(s['name'])}</code> {html.escape(s['paper'])}</li>" for s in claim_summaries(rec)]
    return f'<ul class="fl-claims">{"".join(items)}</ul>'


def report_rows(papers: Sequence[catalog.Paper], records: dict[str, dict[str, dict]],
                runtimes: dict[str, float]) -> list[dict]:
    """One row per catalog paper (course order), as the report page shows it; cells are HTML."""
    rows = []
    for p in papers:
        recs = records.get(p.slug, {})
        small, full = recs.get("small"), recs.get("full")
        stem = p.notebook[:-len(".ipynb")]
        title = html.escape(p.title)
        name = (f'<a class="fl-nb" href="{stem}.html">{title}</a>' if p.available else title)
        paper = (f'{name}<br><span class="fl-cite">{html.escape(p.authors)}, {html.escape(p.venue)} {p.year} · '
                 f'<a href="{p.arxiv_url}">arXiv:{html.escape(p.arxiv)}</a></span>')
        if p.available:
            record_link = (f'<br><a class="fl-record" href="calibration/{p.slug}.html">calibration record</a>'
                           if small or full else "")
        else:
            record_link = ""
        seconds = runtimes.get(p.slug)
        rows.append({
            "slug": p.slug,
            "number": p.number,
            "module": p.module,
            "status": p.status,
            "cells": {
                "number": p.number,
                "paper": paper + record_link,
                "status": f'<span class="fl-status fl-{p.status}">{p.status}</span>',
                "claim": html.escape(p.claim),
                "paper_number": _paper_numbers(small or full) if p.available else "—",
                "shows": (html.escape(p.shows) if p.shows else "—") if p.available else
                         '<span class="fl-none">planned: no notebook yet</span>',
                "small": _measured_cell(small) if p.available else "—",
                "full": _measured_cell(full) if full else ("—" if not p.available else
                                                           '<span class="fl-none">not recorded</span>'),
                "passes": _passes_cell(small or full) if p.available else "—",
                "runtime": f"{seconds:.1f} s" if seconds is not None else "—",
            },
        })
    return rows


REPORT_COLUMNS = [("number", "#"), ("paper", "paper"), ("status", "status"), ("claim", "the paper claims"),
                  ("paper_number", "the paper's number"), ("shows", "this notebook shows"),
                  ("small", "measured, scale small: mean [min, max] over seed sets, threshold"),
                  ("full", "measured, scale full"), ("passes", "method passes; best swap breaks"),
                  ("runtime", "runtime (small)")]


def report_page(papers: Sequence[catalog.Paper] | None = None, records: dict[str, dict[str, dict]] | None = None,
                runtimes: dict[str, float] | None = None, summary: list[dict] | None = None,
                summary_name: str = "") -> str:
    """The reproduction report page (MyST markdown with one raw HTML table, one row per catalog paper)."""
    papers = list(papers if papers is not None else catalog.papers())
    records = records if records is not None else load_records()
    runtimes = runtimes if runtimes is not None else load_runtimes()
    rows = report_rows(papers, records, runtimes)
    by_status: dict[str, int] = {}
    for p in papers:
        by_status[p.status] = by_status.get(p.status, 0) + 1
    n_rec = sum(1 for p in papers if records.get(p.slug))
    lines = ["# Reproduction report", "",
             f"Every paper of the catalog ({len(papers)}), one row each, from `featurelab/catalog.toml`, the "
             f"calibration records in `results/calibration/` ({n_rec} papers have one; written by "
             "`featurelab calibrate`) and the runtimes in `results/runtimes.md` (written by `featurelab bench`). "
             "A record reruns the paper's experiment over many seed sets with the method and with every swap "
             "that removes the paper's mechanism: *passes* counts the seed sets where the method meets the "
             "claim's threshold, *broken* the most seed sets in which one counting swap breaks it. Papers "
             "without a record say *no record*.", "",
             "Status: " + ", ".join(f"{k} {by_status[k]}" for k in sorted(by_status, key=STATUS_ORDER.get)) +
             ". Click a column header to sort; the rows start in course order, grouped by module.", ""]
    head = "".join(f'<th data-col="{key}">{html.escape(label)}</th>' for key, label in REPORT_COLUMNS)
    body = []
    titles = {m.id: m.title for m in catalog.modules()}
    current = None
    for r in rows:
        if r["module"] != current:
            current = r["module"]
            body.append(f'<tr class="fl-module" data-module="{current}"><th colspan="{len(REPORT_COLUMNS)}">'
                        f'Module {current} — {html.escape(titles.get(current, ""))}</th></tr>')
        tds = "".join(f'<td data-col="{key}">{r["cells"][key]}</td>' for key, _ in REPORT_COLUMNS)
        body.append(f'<tr class="fl-paper" data-slug="{r["slug"]}" data-status="{r["status"]}" '
                    f'data-module="{r["module"]}" data-number="{r["number"]}">{tds}</tr>')
    lines += ['<div class="fl-report-wrap"><table class="fl-report" id="fl-report">',
              f"<thead><tr>{head}</tr></thead>", "<tbody>", *body, "</tbody></table></div>", ""]
    if summary is not None:
        from .runner import report_markdown

        text = report_markdown(summary, title="run")
        lines += [f"## The latest run{': `' + summary_name + '`' if summary_name else ''}", "",
                  "The table `featurelab report` prints for this run's `summary.json`:", "",
                  text.split("\n", 2)[2]]
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------------------------------------ pages


def home_page() -> str:
    """The home page: what the course is, how to run it, and the course map."""
    papers = catalog.papers()
    n_nb = sum(p.available for p in papers)
    lines = ["# featurelab", "",
             "**How neural networks learn, read, transfer and propagate features — one runnable notebook per "
             "paper.**", "",
             f"An open, notebook-first course over {len(papers)} research papers ({n_nb} notebooks so far). Each "
             "notebook explains a paper's idea, implements its mechanism in readable, tested code, reproduces "
             "its headline claim at a small scale, and checks the claim against what it measured — saying "
             "plainly where the effect does not show at that scale. The pages below are the committed notebooks "
             "with their outputs at scale `small` (a 2-core CPU); the [reproduction report](report.md) collects "
             "every claim, its calibration over many seed sets, and the runtimes.", "",
             "## How to run it", "",
             "- **In Colab:** every notebook page has an *Open in Colab* badge at the top; the notebook's first "
             "cell installs the course package there. Choose a GPU runtime to get scale `full`.",
             "- **On your machine** (Linux, Python ≥ 3.11; a fresh virtual environment is recommended):", "",
             "  ```bash",
             f"  git clone {catalog.REPO_URL} && cd featurelab",
             "  bash scripts/setup.sh      # install featurelab and register the notebooks' kernel",
             "  jupyter lab notebooks/     # open a module's README first, then its notebooks in order",
             "  ```", "",
             "  In a notebook, change `SCALE`, `SEED` or a knob in the cell tagged `parameters` and run all "
             "cells; the *Explore* section has a slider on the key knob.",
             "- **Everything at once:** `bash scripts/course.sh` runs every notebook at scale `small` and writes "
             "a report; `bash scripts/test.sh` runs the test suite; `bash scripts/site.sh` builds this website.",
             "", "## The course map", ""]
    for m in catalog.modules():
        ps = catalog.papers(m.id)
        avail = sum(p.available for p in ps)
        lines += [f"### [{m.id} — {m.title}]({m.folder}/README.md)", "",
                  f"{len(ps)} papers, {avail} with a notebook.", "",
                  "| # | paper | status | the paper claims |", "|---|---|---|---|"]
        for p in ps:
            name = f"[{_md_cell(p.title)}]({p.notebook})" if p.available else _md_cell(p.title)
            lines.append(f"| {p.number} | {name} ({_md_cell(p.authors)}, {p.year}) | {p.status} | "
                         f"{_md_cell(p.claim)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rewrite_links(text: str, page: str, staged: set[str]) -> str:
    """Relative links of a staged page ``page`` (repo-relative path) that leave the site point at GitHub."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            return m.group(0)
        path, _, frag = target.partition("#")
        resolved = _normalise(str(Path(page).parent / path))
        if resolved in staged or resolved.startswith("_assets/"):  # staged pages and the site's own assets
            return m.group(0)
        return f"{m.group(1)}{BLOB_URL}/{resolved}{'#' + frag if frag else ''}{m.group(3)}"

    return _LINK.sub(fix, text)


def _normalise(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and parts:
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def stage_notebook(src: Path, rel: str, staged: set[str]) -> dict:
    """The committed notebook ``src`` for the site: the Colab badge image served locally, links checked."""
    nb = json.loads(src.read_text())
    depth = rel.count("/")
    badge = "../" * depth + "_assets/colab-badge.svg"
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        text = rewrite_links(text.replace(COLAB_BADGE, badge), rel, staged)
        cell["source"] = text
    return nb


def toc(modules: Iterable[catalog.Module], papers: Sequence[catalog.Paper], records: Iterable[str]) -> str:
    """``_toc.yml`` (Jupyter Book's ``jb-book`` format): home, one chapter per module, the report."""
    lines = ["format: jb-book", "root: index", "parts:", "  - caption: Modules", "    chapters:"]
    for m in modules:
        lines.append(f"      - file: {m.folder}/README")
        nbs = [p for p in papers if p.module == m.id and p.available and p.path.is_file()]
        if nbs:
            lines.append("        sections:")
            lines += [f"          - file: {p.notebook[:-len('.ipynb')]}" for p in nbs]
    lines += ["  - caption: Results", "    chapters:", "      - file: report"]
    recs = list(records)
    if recs:
        lines.append("        sections:")
        lines += [f"          - file: calibration/{slug}" for slug in recs]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    """Write only when the content changes (keeps Sphinx's incremental rebuilds incremental)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def stage(src: Path, summary: list[dict] | None = None, summary_name: str = "") -> Path:
    """Write the book's sources into ``src``: config, toc, static files, pages and notebooks."""
    src.mkdir(parents=True, exist_ok=True)
    papers = catalog.papers()
    mods = catalog.modules()
    records = load_records()
    record_pages = [p.slug for p in papers if p.slug in records and (CALIBRATION_DIR / f"{p.slug}.md").is_file()]
    staged = {"index.md", "report.md"} | {f"{m.folder}/README.md" for m in mods}
    staged |= {p.notebook for p in papers if p.available and p.path.is_file()}
    staged |= {f"results/calibration/{s}.md" for s in record_pages}
    _write(src / "_config.yml", (SITE_DIR / "_config.yml").read_text())
    _write(src / "_toc.yml", toc(mods, papers, record_pages))
    # Static files live in _assets and _mathjax, not _static: Jupyter Book would load every .js file under a
    # _static folder on every page (all of MathJax's components). Both are served from the site's _static.
    assets = src / "_assets"
    for f in (SITE_DIR / "_assets").iterdir():
        if f.is_file():
            assets.mkdir(parents=True, exist_ok=True)
            if not (assets / f.name).is_file() or (assets / f.name).read_bytes() != f.read_bytes():
                shutil.copy2(f, assets / f.name)
    mj = src / "_mathjax" / "mathjax"
    if not (mj / "tex-mml-chtml.js").is_file():
        shutil.copytree(mathjax_dir(), mj, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.map", "node-main.js", "*svg*.js", "mml-chtml.js",
                                                      "tex-chtml*.js"))  # other entry points; tex-mml-chtml stays
    _write(src / "index.md", rewrite_links(home_page(), "index.md", staged))
    _write(src / "report.md", report_page(papers, records, load_runtimes(), summary, summary_name))
    for m in mods:
        readme = catalog.REPO_ROOT / m.folder / "README.md"
        text = readme.read_text() if readme.is_file() else f"# Module {m.id} — {m.title}\n"
        _write(src / m.folder / "README.md", rewrite_links(text, f"{m.folder}/README.md", staged))
    for p in papers:
        if p.available and p.path.is_file():
            nb = stage_notebook(p.path, p.notebook, staged)
            _write(src / p.notebook, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    for slug in record_pages:
        text = (CALIBRATION_DIR / f"{slug}.md").read_text()
        _write(src / "calibration" / f"{slug}.md", rewrite_links(text, f"results/calibration/{slug}.md", staged))
    # a notebook or page removed from the course since the last build must not linger in the staged book
    keep = {str(p) for p in staged} | {f"calibration/{s}.md" for s in record_pages}
    for f in list(src.rglob("*.ipynb")) + list(src.rglob("*.md")):
        rel = f.relative_to(src).as_posix()
        if not rel.startswith(("_build/", "_assets/", "_mathjax/")) and rel not in keep:
            f.unlink()
    return src


def build_site(out: Path = Path("runs/site"), run: Path | None = None, quiet: bool = True) -> Path:
    """Stage the book under ``out/source`` and build it with Jupyter Book; returns ``out/_build/html``.

    ``run``: a folder with a run's ``summary.json`` (``featurelab run --out``) whose table — the one
    ``featurelab report`` prints — the report page then shows too. Raises :class:`SiteError` if the build fails.
    """
    out = Path(out)
    summary = None
    if run is not None:
        from .runner import load_summary

        summary = load_summary(Path(run))
    src = stage(out / "source", summary, str(run) if run else "")
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
           "--path-output", str(out), "--builder", "html"]
    if quiet:
        cmd.append("--quiet")
    try:
        import jupyter_book  # noqa: F401
    except ImportError:
        raise SiteError('Jupyter Book is missing: pip install -e ".[site]"') from None
    proc = subprocess.run(cmd, capture_output=quiet, text=True)
    html_dir = out / "_build" / "html"
    if proc.returncode != 0 or not (html_dir / "index.html").is_file():
        tail = ((proc.stdout or "") + (proc.stderr or ""))[-4000:] if quiet else ""
        raise SiteError(f"jupyter-book build failed (exit {proc.returncode}){': ' + tail if tail else ''}")
    for page in html_dir.rglob("*.html"):
        dedupe_inline_scripts(page)
    return html_dir


def dedupe_inline_scripts(page: Path) -> None:
    """Drop repeated identical inline ``<script>`` lines from a built page.

    sphinx-thebe 0.3.1 (pulled in by Jupyter Book 1.0) adds its inline configuration
    (``const THEBE_JS_URL = …``) once per read pass, so Jupyter Book's pages declare the same ``const``
    twice and the browser reports a page error on every page. The second copy is removed.
    """
    seen: set[str] = set()
    out: list[str] = []
    changed = False
    for line in page.read_text().splitlines(keepends=True):
        key = line.strip()
        if key.startswith("<script>") and key.endswith("</script>"):
            if key in seen:
                changed = True
                continue
            seen.add(key)
        out.append(line)
    if changed:
        page.write_text("".join(out))
