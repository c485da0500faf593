"""Notebook 01 executes end to end (smoke) with papermill on a small generated benchmark."""
import pytest

from _notebooks import NOTEBOOKS, execute, n_images

NOTEBOOK = NOTEBOOKS / "01_benchmark_overlap.ipynb"

pytestmark = pytest.mark.slow  # executes a notebook


@pytest.fixture(scope="module")
def small_synth(tmp_path_factory):
    from mmkp_lib.synth import SynthConfig, generate

    data = tmp_path_factory.mktemp("nb01") / "synth-smoke"
    generate(SynthConfig(n_train=400, n_valid=50, n_test=50, image_size=32), data, progress=False)
    return data


def test_notebook_01_smoke(small_synth, tmp_path):
    from mmkp_lib.overlap import OverlapStudyConfig, overlap_stats

    out = tmp_path / "out.ipynb"
    text = execute(NOTEBOOK, out, data=str(small_synth), smoke=True)
    splits = OverlapStudyConfig(data=str(small_synth), smoke=True).validated().load_splits()
    expected = overlap_stats(splits["train"], splits["test"])["unique_overlap"]
    assert f"unique overlap:   {100 * expected:7.2f}%" in text  # the library's number, shown as is
    assert "asked 0.4500, achieved" in text and "(tolerance 0.05)" in text  # smoke widens the tolerance
    assert f"**{100 * expected:.1f}%** of the" in text  # the closing answer restates the run's numbers
    assert n_images(out) == 5  # long tail, overlap, composition, frequency buckets, before/after
    assert "The real MMKP benchmark is not measured on this page" in text  # no mmkp_data: said plainly


def test_notebook_01_rejects_bad_parameters(small_synth, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match=r"target_overlap must be a fraction in \[0, 1\]"):
        execute(NOTEBOOK, tmp_path / "bad.ipynb", data=str(small_synth), smoke=True, target_overlap=45)
