"""Papermill over every available notebook at scale small with a second seed (SEED=1), failing on any
failed claim or error. nbval checks the committed notebooks with their default seed (see README).

Each notebook is its own test class, so ``pytest -n 2 --dist loadscope`` runs two notebooks at once.
"""

import pytest

from featurelab import catalog
from featurelab.runner import run_one

SECOND_SEED = 1
CELL_TIMEOUT = 300


def _make_test(paper):
    def test_runs_with_second_seed(self, tmp_path):
        result = run_one(paper, tmp_path, scale="small", seed=SECOND_SEED, threads=1, timeout=CELL_TIMEOUT)
        claims = ", ".join(f"{c['name']}={c['measured']:.3f} ({'PASS' if c['passed'] else 'FAIL'})"
                           for c in result.claims)
        assert result.status == "ok", f"{paper.slug}: {result.status}: {result.error} [{claims}]"

    return type(f"TestPapermill_{paper.slug}", (), {"test_runs_with_second_seed": test_runs_with_second_seed})


for _paper in catalog.papers(available_only=True):
    globals()[f"TestPapermill_{_paper.slug}"] = _make_test(_paper)


def test_catalog_has_available_notebooks():
    if not catalog.papers(available_only=True):
        pytest.skip("no notebook available yet")
