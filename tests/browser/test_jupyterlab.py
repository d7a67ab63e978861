"""Browser check 2: interactive learning in JupyterLab, end to end.

Starts ``jupyter lab`` on a free 127.0.0.1 port with a token (a scratch copy of one notebook as its root, so the
committed notebook is never saved over; ``FEATURELAB_HEADLESS`` unset, as for a learner), opens the notebook in
Chromium, runs all cells, waits for every claim line, finds the Explore widget's slider rendered as a live
ipywidgets control, moves it with the keyboard and sees the output below it change. Screenshot:
``runs/screenshots/jupyterlab_explore.png``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request

from featurelab import catalog

from .chromium import browser_context, expected_outputs, free_port, require_browser, screenshot

NOTEBOOK = "outrank"  # fast at scale small (~15 s), with a SelectionSlider in its Explore section


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url} in {timeout:.0f} s")


def test_jupyterlab_runs_notebook_and_widget_is_live(tmp_path):
    require_browser()
    paper = catalog.get(NOTEBOOK)
    # "PASS  <claim name>:" of every claim the committed notebook shows (the measured numbers may differ in the
    # last digit from one machine to another; nbval masks them too)
    claims = [line.split(":", 1)[0] + ":" for line in expected_outputs(paper)[1]]
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(paper.path, root / paper.path.name)
    cfg = tmp_path / "config"
    (cfg / "labconfig").mkdir(parents=True)
    # no "Jupyter news" prompt (it would fetch from the network) over the notebook
    (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = {k: v for k, v in os.environ.items() if k != "FEATURELAB_HEADLESS"}
    env.update({"JUPYTER_CONFIG_DIR": str(cfg), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                "FEATURELAB_SCALE": "small", "FEATURELAB_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    port, token = free_port(), secrets.token_hex(16)
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.port_retries=0", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI machines may run as root
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", proc)
        with browser_context(viewport=(1400, 1000)) as ctx:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/lab/tree/{paper.path.name}?token={token}", wait_until="load")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=90_000)
            page.evaluate("""async () => { const w = window.jupyterapp.shell.currentWidget;
                await w.sessionContext.ready; await w.context.ready; }""")
            # Run all cells, as a learner would with Run > Run All Cells
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            main = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            deadline = time.time() + 240
            while time.time() < deadline:
                text = main.locator(".jp-OutputArea-output").all_inner_texts()
                joined = "\n".join(text)
                if all(c in joined for c in claims) and main.locator(".jupyter-widgets.widget-slider, "
                                                                      ".widget-slider").count():
                    break
                if "Traceback (most recent call last)" in joined:
                    break
                time.sleep(1)
            joined = "\n".join(main.locator(".jp-OutputArea-output").all_inner_texts())
            assert "Traceback (most recent call last)" not in joined, joined[-3000:]
            missing = [c for c in claims if c not in joined]
            assert claims and not missing, f"claim lines not shown after Run All: {missing}"
            # the Explore widget: a live ipywidgets slider (not the static headless rendering)
            slider = main.locator(".widget-slider").last
            slider.wait_for(state="visible", timeout=60_000)
            slider.scroll_into_view_if_needed()
            interact = slider.locator("xpath=ancestor::div[contains(@class,'widget-interact')][1]")
            output = interact.locator(".widget-output").first
            readout = slider.locator(".widget-readout").first
            before_value = readout.inner_text() if readout.count() else ""
            output.wait_for(state="attached", timeout=60_000)
            end = time.time() + 60
            while time.time() < end and not output.inner_html().strip():
                time.sleep(0.5)
            before = output.inner_html()
            assert before.strip(), "the Explore widget shows no output"
            handle = slider.locator(".noUi-handle").first
            handle.focus()
            page.keyboard.press("ArrowRight")
            end = time.time() + 60
            while time.time() < end and output.inner_html() == before:
                time.sleep(0.5)
            after_value = readout.inner_text() if readout.count() else ""
            assert output.inner_html() != before, "moving the slider did not change the output"
            assert after_value != before_value, f"the slider's value did not move ({before_value!r})"
            time.sleep(1)
            slider.scroll_into_view_if_needed()
            screenshot(page, "jupyterlab_explore.png")
            assert not [e for e in errors if "widget" in e.lower()], errors
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
