"""Check 3: the Colab install path, run as Colab would run it.

In a fresh virtual environment (``python -m venv --system-site-packages --without-pip``: torch and the other
dependencies come from the system site so nothing is downloaded; featurelab itself is *not* taken from there,
see below) a kernel starts with a stand-in ``google.colab`` module already imported, as on Colab. The notebook's
first code cell runs unchanged except for one substitution: the public repository URL (``catalog.REPO_URL``, the
one constant in every notebook's ``%pip install "featurelab @ git+<URL>"``) becomes a wheel built from this
checkout (``featurelab @ file://…whl``). The cell must install featurelab into the venv (the import then comes
from the venv, not from the checkout's editable install), and the following cells (parameters, resolve) run.
pip runs with ``PIP_NO_INDEX=1``: the check proves the install needs nothing beyond the wheel and its
dependencies already present.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from featurelab import catalog

NOTEBOOK = "outrank"
N_CELLS = 3  # the install/import cell, the parameters cell, the resolve cell
INSTALL = f'"featurelab @ git+{catalog.REPO_URL}"'


def first_code_cells(paper: catalog.Paper, n: int) -> list[nbformat.NotebookNode]:
    nb = nbformat.read(paper.path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"][:n]


def test_every_notebook_installs_from_the_one_public_url():
    """Every notebook's first code cell installs featurelab from catalog.REPO_URL, guarded for Colab."""
    for p in catalog.papers(available_only=True):
        if not p.path.is_file():
            continue
        (cell,) = first_code_cells(p, 1)
        assert 'if "google.colab" in sys.modules' in cell.source, p.slug
        assert f"%pip install -q {INSTALL}" in cell.source, f"{p.slug}: the install line must use {INSTALL}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built from a copy of its sources (the checkout is not written to)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(catalog.REPO_ROOT / name, src / name)
    shutil.copytree(catalog.REPO_ROOT / "featurelab", src / "featurelab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp / "dist"), "./src"], cwd=tmp, check=True, env={**os.environ, "PIP_NO_INDEX": "1"})
    (whl,) = (tmp / "dist").glob("featurelab-*.whl")
    return whl


def test_colab_install_cell_in_fresh_venv(tmp_path, wheel):
    from nbclient import NotebookClient

    paper = catalog.get(NOTEBOOK)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # the stand-in google.colab (a namespace package `google`, so google.protobuf & co. still import)
    stub = tmp_path / "colab_stub"
    (stub / "google" / "colab").mkdir(parents=True)
    (stub / "google" / "colab" / "__init__.py").write_text(
        '"""Stand-in for Colab\'s google.colab (tests only)."""\nIN_COLAB_STANDIN = True\n')
    # IPython imports it at kernel start, as Colab's kernel has it imported
    ipydir = tmp_path / "ipython"
    (ipydir / "profile_default" / "startup").mkdir(parents=True)
    (ipydir / "profile_default" / "startup" / "00-colab.py").write_text("import google.colab  # noqa\n")
    kernels = tmp_path / "share" / "jupyter" / "kernels" / "colab-standin"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stand-in", "language": "python",
        "env": {"PYTHONPATH": str(stub), "IPYTHONDIR": str(ipydir), "PIP_NO_INDEX": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}}))

    cells = first_code_cells(paper, N_CELLS)
    assert INSTALL in cells[0].source, f"the install line of {paper.slug} does not use {INSTALL}"
    cells[0].source = cells[0].source.replace(INSTALL, f'"featurelab @ file://{wheel}"')
    probe = nbformat.v4.new_code_cell(
        "import featurelab\nfrom featurelab.run import in_colab\nprint('colab', in_colab())\n"
        "print('featurelab from', featurelab.__file__)\nprint('scale', run.scale)")
    nb = nbformat.v4.new_notebook(cells=[*cells, probe])
    work = tmp_path / "work"  # not the checkout: the kernel must not import featurelab from the working folder
    work.mkdir()
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(tmp_path / "share" / "jupyter")
    try:
        client = NotebookClient(nb, kernel_name="colab-standin", timeout=300, resources={"metadata": {"path": str(work)}})
        client.execute()
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "colab True" in out, out
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    assert f"featurelab from {site_packages}" in out, f"featurelab was not installed into the venv:\n{out}"
    assert "scale small" in out, out
    installed = subprocess.run([str(py), "-m", "pip", "show", "featurelab"], capture_output=True, text=True).stdout
    assert str(site_packages) in installed, installed
