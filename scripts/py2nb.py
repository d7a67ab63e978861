"""Authoring aid: turn a percent-format script into a course notebook (outputs empty; run
scripts/refresh_outputs.py next).

Cells start with ``# %%`` (code; ``# %% tags=["parameters"]`` adds tags) or ``# %% [markdown]`` (markdown,
each line prefixed by ``# ``). Usage: ``python scripts/py2nb.py SOURCE.py NOTEBOOK.ipynb``.
"""

import json
import re
import sys

import nbformat


def convert(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (featurelab)", "language": "python"},
                   "language_info": {"name": "python"}}
    blocks = re.split(r"^# %%", text, flags=re.M)[1:]
    for block in blocks:
        header, _, body = block.partition("\n")
        body = body.strip("\n")
        if header.strip().startswith("[markdown]"):
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines()]
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
        else:
            cell = nbformat.v4.new_code_cell(body)
            m = re.search(r"tags=(\[.*\])", header)
            if m:
                cell.metadata["tags"] = json.loads(m.group(1))
            nb.cells.append(cell)
    return nb


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    nbformat.write(convert(open(src).read()), dst)
    print(f"wrote {dst}")
