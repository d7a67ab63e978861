"""Structure lint: catalog ↔ notebooks ↔ README, and every notebook has the course anatomy (COURSE_GUIDE §2)."""

import json
import re

import nbformat
import pytest

from featurelab import catalog

ROOT = catalog.REPO_ROOT
AVAILABLE = catalog.papers(available_only=True)
MAX_OUTPUT_BYTES = 600_000
MAX_NOTEBOOK_BYTES = 2_500_000


def test_readme_course_table_is_generated_from_the_catalog():
    text = (ROOT / "README.md").read_text()
    assert catalog.render_readme(text) == text, "README course table is stale: run `featurelab readme`"
    for m in catalog.modules():
        text = (ROOT / m.folder / "README.md").read_text()
        assert catalog.render_module_readme(text, m.id) == text, f"{m.folder}/README.md is stale: `featurelab readme`"


def test_every_notebook_on_disk_is_in_the_catalog_and_vice_versa():
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").rglob("*.ipynb")
               if ".ipynb_checkpoints" not in p.parts}
    listed = {p.notebook for p in AVAILABLE}
    assert on_disk == listed, f"on disk but not available in catalog: {on_disk - listed}; " \
                              f"available but missing: {listed - on_disk}"


def test_module_readmes_tell_the_reading_order():
    for m in catalog.modules():
        readme = ROOT / m.folder / "README.md"
        assert readme.is_file(), f"{m.folder} needs a README.md"
        text = readme.read_text()
        assert m.title in text
        positions = [text.find(f"`{p.slug}`") for p in catalog.papers(m.id)]
        assert all(pos >= 0 for pos in positions), f"{readme} must name every notebook of the module"
        assert positions == sorted(positions), f"{readme} must list notebooks in course order"


def test_data_readme_lists_the_registry():
    from featurelab.data import registry

    text = (ROOT / "data" / "README.md").read_text()
    for name, entry in registry().items():
        assert name in text and entry["licence"] in text


def _cells(nb, kind=None):
    return [c for c in nb.cells if kind is None or c.cell_type == kind]


@pytest.mark.parametrize("paper", AVAILABLE, ids=[p.slug for p in AVAILABLE])
def test_notebook_anatomy(paper):
    raw = paper.path.read_bytes()
    assert len(raw) < MAX_NOTEBOOK_BYTES, f"{paper.notebook} is {len(raw)} bytes: strip large outputs"
    nb = nbformat.reads(raw.decode(), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3", "kernel name must be python3"
    md = "\n".join(c.source for c in _cells(nb, "markdown"))
    code = _cells(nb, "code")
    header = nb.cells[0]
    assert header.cell_type == "markdown" and header.source.startswith("# "), "first cell: title header"
    assert paper.arxiv_url in header.source, "header must link the paper on arXiv"
    assert paper.colab_url in header.source and "colab-badge" in header.source, "header needs the Colab badge"
    assert re.search(r"[Rr]untime", header.source), "header states the runtime at each scale"
    assert "google.colab" in code[0].source and "%pip install" in code[0].source, "guarded Colab install"
    assert "NBVAL_IGNORE_OUTPUT" in code[0].source and ".report()" in code[0].source + code[2].source
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    assert re.search(r'^SCALE = "auto"', params[0].source, re.M) and re.search(r"^SEED = 0", params[0].source, re.M)
    for line in params[0].source.splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[A-Z_0-9]+ = (None|True|False|-?[0-9.e-]+|\"[^\"]*\")", line), \
                f"parameters are scalars only: {line!r}"
    from papermill.translators import PythonTranslator

    names = [line.split("=")[0].strip() for line in params[0].source.splitlines() if "=" in line.split("#")[0]]
    parsed = [p.name for p in PythonTranslator.inspect(params[0])]
    assert parsed == names, f"papermill cannot parse every parameter line (keep '=' out of comments): {parsed}"
    assert any("fl.setup(" in c.source for c in code), "resolve parameters with fl.setup"
    checks = [c for c in code if "fl.check_claims(" in c.source]
    assert len(checks) == 1, "one claim cell: fl.check_claims(paper, result) (the paper contract)"
    assert "NBVAL_CHECK_OUTPUT" in checks[0].source, "the claim cell must be NBVAL_CHECK_OUTPUT"
    assert checks[0].source.rstrip().splitlines()[-1].startswith("fl.check_claims("), \
        "the claim cell ends with the one call fl.check_claims(paper, result)"
    assert not any("fl.check(" in c.source for c in code), "claims are declared in the paper module's CLAIMS"
    # nbval runs cells without history, so a trailing ';' does not hide the result there (but does in Jupyter):
    assert not any(c.source.rstrip().endswith(";") for c in checks), "claim cells must not end with ';'"
    assert any("explore(" in c.source for c in code), "an Explore widget (fl.explore)"
    assert any("inspect.getsource" in c.source or "fl.show_source" in c.source for c in code), \
        "show the paper's mechanism code"
    for heading in ("## The idea", "## Claim check", "## Explore", "## At this scale vs the paper",
                    "## Exercises", "## References"):
        assert heading in md, f"missing section {heading!r}"
    for c in code:
        assert c.get("outputs") is not None and c.execution_count is not None, "commit executed notebooks"
        for o in c.outputs:
            assert o.output_type != "error", "committed outputs contain an error"
            assert len(json.dumps(o)) < MAX_OUTPUT_BYTES, "an output is too large"


def display_math_inside_paragraphs(source: str) -> list[str]:
    """Lines where a ``$$`` display equation touches text of the same paragraph.

    Jupyter renders ``text\\n$$x$$`` as a display equation, but the site's MyST parser (Jupyter Book) reads it
    as inline dollars and leaves raw ``$$`` in the page: display math must be its own paragraph.
    """
    lines = source.split("\n")
    bad, i = [], 0
    while i < len(lines):
        text = lines[i].strip()
        if text.startswith("$$"):
            j = i
            closed_here = len(text) > 2 and text.endswith("$$")
            while not closed_here and j + 1 < len(lines):
                j += 1
                if lines[j].strip().endswith("$$"):
                    break
            if i > 0 and lines[i - 1].strip():
                bad.append(lines[i].strip()[:60])
            elif j + 1 < len(lines) and lines[j + 1].strip():
                bad.append(lines[j].strip()[:60])
            i = j + 1
        else:
            i += 1
    return bad


def test_display_math_check_catches_math_inside_a_paragraph():
    assert display_math_inside_paragraphs("text\n$$x$$\nmore") == ["$$x$$"]
    assert display_math_inside_paragraphs("text\n\n$$x$$\n\nmore") == []
    assert display_math_inside_paragraphs("text\n\n$$\nx\n$$\nmore") == ["$$"]
    assert display_math_inside_paragraphs("inline $x$ and $y$") == []


@pytest.mark.parametrize("paper", AVAILABLE, ids=[p.slug for p in AVAILABLE])
def test_display_math_is_its_own_paragraph(paper):
    """So that the website typesets it as JupyterLab does (the browser check would find raw $$ otherwise)."""
    nb = nbformat.read(paper.path, as_version=4)
    bad = [line for cell in _cells(nb, "markdown") for line in display_math_inside_paragraphs(cell.source)]
    assert not bad, f"{paper.slug}: put a blank line before and after these display equations: {bad}"
