"""Executing a notebook with papermill in the tests, and reading back what it showed.

Shared by tests/test_notebook_01.py, test_notebook_02.py, test_notebooks_03_04.py and test_notebook_05.py:

    from _notebooks import NOTEBOOKS, execute, html_outputs, n_images
    text = execute(NOTEBOOKS / "05_breakdowns.ipynb", tmp_path / "out.ipynb", smoke=True, data=str(data))

A failing cell raises papermill.PapermillExecutionError (with the cell's traceback), so a test that
expects a clear error matches on that exception's message.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _outputs(path: Path) -> list[dict]:
    nb = json.loads(Path(path).read_text())
    return [out for cell in nb["cells"] for out in cell.get("outputs", [])]


def outputs_text(path: Path) -> str:
    """Everything the executed notebook printed or displayed as text: streams, Markdown, else plain text."""
    parts = []
    for out in _outputs(path):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif "data" in out:
            parts.append("".join(out["data"].get("text/markdown") or out["data"].get("text/plain") or ""))
    return "\n".join(parts)


def html_outputs(path: Path) -> str:
    """The text/html outputs (DataFrames, the explorer's static gallery), joined."""
    return "\n".join("".join(out["data"]["text/html"]) for out in _outputs(path)
                     if "text/html" in out.get("data", {}))


def error_outputs(path: Path) -> list[dict]:
    """Error outputs of the executed notebook (papermill raises on the first, so a finished run has none)."""
    return [out for out in _outputs(path) if out["output_type"] == "error"]


def n_images(path: Path) -> int:
    """How many PNG figures the executed notebook shows."""
    return sum("image/png" in out.get("data", {}) for out in _outputs(path))


def execute(nb: Path, out: Path, **params) -> str:
    """Run `nb` with papermill from the repository root (as `make report` does) into `out`; return outputs_text."""
    import papermill

    papermill.execute_notebook(str(nb), str(out), parameters=params, cwd=str(ROOT), progress_bar=False)
    return outputs_text(out)
