"""Browser check 1: the course website, built from the committed notebooks, as a reader meets it in Chromium.

Builds the site once (``featurelab.site.build_site``, no execution), serves it on 127.0.0.1 and checks:
every page loads without console errors, failed requests or requests leaving the machine; no internal link
is broken (target file and ``#fragment`` exist); math is typeset by the site's own MathJax (no raw ``$$``);
every notebook page shows all its figures, all its claim lines and an *Open in Colab* link; the report table
has one row per catalog paper and the pass counts of the calibration records. Screenshots of the home page,
one notebook page and the report go to ``runs/screenshots/``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

from featurelab import catalog
from featurelab.site import claim_summaries, load_records

from .chromium import browser_context, expected_outputs, require_browser, screenshot, serve

SCREENSHOT_NOTEBOOK = "outrank"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from featurelab.site import build_site

    return build_site(tmp_path_factory.mktemp("site"))


def built_notebooks() -> list[catalog.Paper]:
    return [p for p in catalog.papers() if p.available and p.path.is_file()]


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


def _ids(path: Path) -> set[str]:
    p = _Ids()
    p.feed(path.read_text(errors="replace"))
    return p.ids


def test_site_builds_every_page(site):
    assert (site / "index.html").is_file() and (site / "report.html").is_file()
    for m in catalog.modules():
        assert (site / m.folder / "README.html").is_file(), m.folder
    for p in built_notebooks():
        assert (site / p.notebook.replace(".ipynb", ".html")).is_file(), p.slug
    assert (site / "_static" / "mathjax" / "tex-mml-chtml.js").is_file(), "MathJax is not shipped with the site"


def test_site_in_chromium(site):
    require_browser()
    notebook_pages = {p.notebook.replace(".ipynb", ".html"): p for p in built_notebooks()}
    problems: list[str] = []
    with serve(site) as base, browser_context() as ctx:
        def local(url: str) -> bool:
            return urlparse(url).netloc == urlparse(base).netloc

        external: list[str] = []

        def offline(route):  # the site must need nothing from off the machine
            if local(route.request.url):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()

        ctx.route("**/*", offline)
        page = ctx.new_page()
        console: list[str] = []
        failed: list[str] = []
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: failed.append(r.url) if local(r.url) else None)
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

        todo, seen = ["index.html"], set()
        while todo:
            rel = todo.pop(0)
            if rel in seen:
                continue
            seen.add(rel)
            console.clear(), failed.clear(), external.clear()
            page.goto(f"{base}/{rel}", wait_until="load")
            page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
            page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
            for what, items in (("console error", console), ("failed request", failed),
                                ("request off the machine", external)):
                problems += [f"{rel}: {what}: {x}" for x in items]
            # links: every internal href points at a built file, and its #fragment exists there
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
                if not local(href):
                    continue
                url, frag = urldefrag(href)
                target_rel = urlparse(url).path.lstrip("/") or "index.html"
                target = site / target_rel
                if target.is_dir():
                    target, target_rel = target / "index.html", target_rel.rstrip("/") + "/index.html"
                if not target.is_file():
                    problems.append(f"{rel}: broken link {href}")
                    continue
                if frag and target.suffix == ".html" and frag not in _ids(target):
                    problems.append(f"{rel}: link to a missing anchor {href}")
                if target.suffix == ".html" and target_rel not in seen:
                    todo.append(target_rel)
            # math: every math element typeset by MathJax, and no raw TeX delimiters left in the text
            untypeset = page.eval_on_selector_all(
                ".math", "els => els.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60))")
            problems += [f"{rel}: math not typeset: {t!r}" for t in untypeset]
            text = page.evaluate("""() => { const main = document.querySelector('main') || document.body;
                const c = main.cloneNode(true); c.querySelectorAll('pre, code, script, mjx-container, .highlight')
                .forEach(e => e.remove()); return c.innerText; }""")
            if "$$" in text:
                problems.append(f"{rel}: raw $$ left in the page text")
            if rel in notebook_pages:
                p = notebook_pages[rel]
                n_fig, claims = expected_outputs(p)
                imgs = page.eval_on_selector_all(
                    ".cell_output img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
                if len(imgs) < n_fig or not all(imgs):
                    problems.append(f"{rel}: {sum(imgs)} of {n_fig} figures shown")
                if not claims:
                    problems.append(f"{rel}: the committed notebook has no claim lines")
                shown = re.sub(r"[ \t]+", " ", page.evaluate("() => document.querySelector('main').innerText"))
                for line in claims:
                    if re.sub(r"[ \t]+", " ", line) not in shown:
                        problems.append(f"{rel}: claim line not shown: {line!r}")
                colab = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
                if p.colab_url not in colab:
                    problems.append(f"{rel}: no Open-in-Colab link to {p.colab_url}")
                if p.slug == SCREENSHOT_NOTEBOOK:
                    page.locator("main .cell_output img").first.scroll_into_view_if_needed()
                    page.evaluate("() => window.scrollBy(0, -300)")
                    screenshot(page, "site_notebook.png")
            if rel == "index.html":
                screenshot(page, "site_home.png")
            if rel == "report.html":
                check_report(page, problems)
                screenshot(page, "site_report.png")
    assert "report.html" in seen and set(notebook_pages) <= seen, "the crawl from the home page missed pages"
    for m in catalog.modules():
        assert f"{m.folder}/README.html" in seen, f"no link reaches the page of module {m.id}"
    assert not problems, "\n".join(problems[:60])


def check_report(page, problems: list[str]) -> None:
    papers = catalog.papers()
    slugs = page.eval_on_selector_all("tr.fl-paper", "rows => rows.map(r => r.dataset.slug)")
    if sorted(slugs) != sorted(p.slug for p in papers) or len(slugs) != len(papers):
        problems.append(f"report: {len(slugs)} rows for {len(papers)} catalog papers")
    for p in papers:
        row = page.locator(f'tr.fl-paper[data-slug="{p.slug}"]')
        text = row.inner_text() if row.count() else ""
        if p.status not in text:
            problems.append(f"report: row {p.slug} lacks its status {p.status}")
    available = {p.slug for p in papers if p.available}
    for slug, by_scale in load_records().items():
        if slug not in available:  # a record of a paper still being built is not shown as a result
            continue
        rec = by_scale.get("small") or next(iter(by_scale.values()))
        cell = page.locator(f'tr.fl-paper[data-slug="{slug}"] td[data-col="passes"]')
        text = cell.inner_text() if cell.count() else ""
        for s in claim_summaries(rec):
            if f"{s['name']} {s['passes']}" not in text:
                problems.append(f"report: {slug} should show {s['name']} {s['passes']}, shows {text!r}")
    # sorting by status puts the planned papers last
    page.locator('th[data-col="status"]').click()
    statuses = page.eval_on_selector_all("tr.fl-paper", "rows => rows.map(r => r.dataset.status)")
    if statuses and statuses[-1] != "planned" and "planned" in statuses:
        problems.append("report: sorting by status does not put planned papers last")
    page.locator('th[data-col="number"]').click()  # back to course order for the screenshot
