"""Notebook 02 executes end to end (smoke) with papermill on a small generated benchmark, and resumes."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_teacher_cot.ipynb"

pytestmark = pytest.mark.slow  # executes a notebook


def outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                parts.append("".join(out["text"]))
            elif "data" in out:
                parts.append("".join(out["data"].get("text/markdown") or out["data"].get("text/plain") or ""))
    return "\n".join(parts)


def test_notebook_02_smoke(tmp_path):
    import papermill
    from mmkp_lib.synth import SynthConfig, generate

    data = tmp_path / "synth-smoke"
    generate(SynthConfig(n_train=240, n_valid=30, n_test=30, image_size=32), data, progress=False)
    params = {"data": str(data), "work_dir": str(tmp_path), "smoke": True}
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=params, cwd=str(ROOT), progress_bar=False)
    text = outputs_text(out)
    cache = tmp_path / "cache" / "teacher" / "synth-smoke" / "oracle.jsonl"
    assert len(cache.read_text().splitlines()) == 200  # smoke: the first 200 of 240 posts
    assert "200 accepted, 0 rejected" in text and "acceptance: 100.0%" in text
    assert "**200 of 200** train posts have an accepted rationale" in text
    assert "<think>" in text and "content tokens" in text and "GPT-4o, estimated for 200 posts" in text

    # Run again: everything comes from the cache.
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=params, cwd=str(ROOT), progress_bar=False)
    assert "all were already in the cache" in outputs_text(out)
    assert len(cache.read_text().splitlines()) == 200

    with pytest.raises(papermill.PapermillExecutionError, match="backend must be one of"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "bad.ipynb"),
                                   parameters=dict(params, backend="gpt4"), cwd=str(ROOT), progress_bar=False)
