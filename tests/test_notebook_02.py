"""Notebook 02 executes end to end (smoke) with papermill on a small generated benchmark, and resumes."""
import pytest

from _notebooks import NOTEBOOKS, execute

NOTEBOOK = NOTEBOOKS / "02_teacher_cot.ipynb"

pytestmark = pytest.mark.slow  # executes a notebook


def test_notebook_02_smoke(tmp_path):
    import papermill
    from mmkp_lib.synth import SynthConfig, generate

    data = tmp_path / "synth-smoke"
    generate(SynthConfig(n_train=240, n_valid=30, n_test=30, image_size=32), data, progress=False)
    params = {"data": str(data), "work_dir": str(tmp_path), "smoke": True}
    out = tmp_path / "out.ipynb"
    text = execute(NOTEBOOK, out, **params)
    cache = tmp_path / "cache" / "teacher" / "synth-smoke" / "oracle-facts.jsonl"
    assert len(cache.read_text().splitlines()) == 200  # smoke: the first 200 of 240 posts
    assert "200 accepted, 0 rejected" in text and "acceptance: 100.0%" in text
    assert "**200 of 200** train posts have an accepted rationale" in text
    assert "<think>" in text and "content tokens" in text and "GPT-4o, estimated for 200 posts" in text

    # Run again: everything comes from the cache.
    assert "all were already in the cache" in execute(NOTEBOOK, out, **params)
    assert len(cache.read_text().splitlines()) == 200

    with pytest.raises(papermill.PapermillExecutionError, match="backend must be one of"):
        execute(NOTEBOOK, tmp_path / "bad.ipynb", **dict(params, backend="gpt4"))
