"""The browser checks (the site in Chromium, JupyterLab with live widgets, the Colab install path) run with the
rest of the suite. They need Playwright (``pip install -e ".[test]"`` installs it) and Debian's ``chromium``;
without Chromium they skip and say how to get it (in CI, where ``CI`` is set, they fail instead).
``FEATURELAB_BROWSER=0`` leaves them out."""

import os

if os.environ.get("FEATURELAB_BROWSER", "1") in ("0", "false", "no"):
    collect_ignore_glob = ["test_*.py"]
