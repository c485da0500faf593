"""Notebooks 03 and 04 execute end to end (smoke) with papermill; 04 reuses 03's SFT and Fine-tune-CoT runs.

One module for both, so that 04's smoke runs find 03's run folders in the same work folder (pytest-xdist's
--dist loadfile keeps a module on one worker).
"""
import pytest

from _notebooks import NOTEBOOKS, execute

NB03 = NOTEBOOKS / "03_sft_vs_cot.ipynb"
NB04 = NOTEBOOKS / "04_dyncot.ipynb"

pytestmark = pytest.mark.slow  # executes notebooks that train


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from mmkp_lib.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("nb0304")
    generate(SynthConfig(n_train=48, n_valid=12, n_test=12, image_size=32), root / "synth-smoke", progress=False)
    return root


@pytest.fixture(scope="module")
def nb03(work):
    params = {"data": str(work / "synth-smoke"), "work_dir": str(work), "smoke": True}
    return execute(NB03, work / "03.ipynb", **params), params


def test_notebook_03_smoke(nb03, work):
    text, params = nb03
    runs = work / "runs-smoke"
    for name in ("zero-shot-tiny-test", "baseline", "sft-seed0", "cot-seed0", "multitask-seed0"):
        assert (runs / name / "metrics.json").is_file(), name
    assert "After **6 optimizer steps of 4 posts**" in text and "Smoke run" in text
    assert "F1@M" in text and "think_tokens" in text and "scene_from_image" in text
    # A second execution reuses every run.
    again = execute(NB03, work / "03b.ipynb", **params)
    assert again.count(": reused (") == 5


def test_notebook_04_smoke_with_a_loss_gamma_and_a_quantile(nb03, work):
    import papermill

    base = {"data": str(work / "synth-smoke"), "work_dir": str(work), "smoke": True}
    text = execute(NB04, work / "04.ipynb", gamma=0.4, **base)
    assert "sft-seed0: reused" in text and "cot-seed0: reused" in text  # notebook 03's runs
    assert (work / "runs-smoke" / "dyncot-g0.4-seed0" / "dyncot_decisions.jsonl").is_file()
    assert "38.48%" in text and "γ = 0.4" in text
    text = execute(NB04, work / "04q.ipynb", gamma="q0.3", **base)
    assert (work / "runs-smoke" / "dyncot-gq0.3-seed0" / "metrics.json").is_file()
    assert "q0.3" in text
    with pytest.raises(papermill.PapermillExecutionError, match="gamma=-1"):
        execute(NB04, work / "bad.ipynb", gamma=-1, **base)
