"""Notebook 01 executes end to end (smoke) with papermill on a small generated benchmark."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_benchmark_overlap.ipynb"

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


def n_images(path: Path) -> int:
    nb = json.loads(path.read_text())
    return sum("image/png" in out.get("data", {}) for cell in nb["cells"] for out in cell.get("outputs", []))


@pytest.fixture(scope="module")
def small_synth(tmp_path_factory):
    from mmkp_lib.synth import SynthConfig, generate

    data = tmp_path_factory.mktemp("nb01") / "synth-smoke"
    generate(SynthConfig(n_train=400, n_valid=50, n_test=50, image_size=32), data, progress=False)
    return data


def test_notebook_01_smoke(small_synth, tmp_path):
    import papermill

    from mmkp_lib.overlap import OverlapStudyConfig, overlap_stats

    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"data": str(small_synth), "smoke": True},
                               cwd=str(ROOT), progress_bar=False)
    text = outputs_text(out)
    splits = OverlapStudyConfig(data=str(small_synth), smoke=True).validated().load_splits()
    expected = overlap_stats(splits["train"], splits["test"])["unique_overlap"]
    assert f"unique overlap:   {100 * expected:7.2f}%" in text  # the library's number, shown as is
    assert "asked 0.4500, achieved" in text and "(tolerance 0.05)" in text  # smoke widens the tolerance
    assert f"**{100 * expected:.1f}%** of the" in text  # the closing answer restates the run's numbers
    assert n_images(out) == 5  # long tail, overlap, composition, frequency buckets, before/after


def test_notebook_01_rejects_bad_parameters(small_synth, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match=r"target_overlap must be a fraction in \[0, 1\]"):
        papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "bad.ipynb"),
                                   parameters={"data": str(small_synth), "smoke": True, "target_overlap": 45},
                                   cwd=str(ROOT), progress_bar=False)
