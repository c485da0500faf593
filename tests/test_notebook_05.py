"""Notebook 05 executes end to end (smoke) on the shared smoke experiment, reads its runs without training,
refuses to train when told not to, and keeps its training defaults in step with notebooks 03/04."""
import ast
import json

import pytest

from _notebooks import NOTEBOOKS, error_outputs, execute, html_outputs, n_images

NOTEBOOK = NOTEBOOKS / "05_breakdowns.ipynb"


def parameter_values(nb) -> dict:
    """{name: literal value} of a notebook's `parameters` cell."""
    for cell in json.loads(nb.read_text())["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse("".join(cell["source"]))
            return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign)}
    raise AssertionError(f"{nb.name} has no parameters cell")


def test_training_defaults_match_the_experiment_and_notebooks_03_04():
    # 05 asks for the runs 03 and 04 made: any differing training default would make `make report` retrain them all.
    from mmkp_lib.experiment import ExperimentConfig

    # Every notebook reads the report preset and leaves the training settings at None (the preset's values).
    p05 = parameter_values(NOTEBOOK)
    defaults = ExperimentConfig.from_settings(p05["preset"])
    assert p05["preset"] == "report" and defaults == ExperimentConfig.from_settings("report")
    shared = ("data", "work_dir", "model", "zero_shot_model", "gamma", "max_steps", "batch_size", "lr", "eval_every",
              "max_new_tokens", "workers")
    for name in shared:
        assert p05[name] is None, f"05's {name}={p05[name]!r} would override the preset's {defaults.settings()[name]!r}"
    for other in ("03_sft_vs_cot.ipynb", "04_dyncot.ipynb"):
        assert parameter_values(NOTEBOOKS / other)["preset"] == p05["preset"]
        p = parameter_values(NOTEBOOKS / other)
        for name in set(shared) & set(p):
            assert p05[name] == p[name], f"05's {name}={p05[name]!r}, {other} has {p[name]!r}"
    assert {"seed", "seeds", "smoke", "allow_training"} <= set(p05) and p05["allow_training"] is True


@pytest.mark.slow
def test_notebook_05_smoke_reads_the_runs_and_shows_every_section(smoke_experiment, tmp_path):
    from mmkp_lib.formats import load_posts

    out = tmp_path / "05.ipynb"
    summary_file = tmp_path / "summary.json"
    text = execute(NOTEBOOK, out, data=smoke_experiment.data, work_dir=smoke_experiment.work_dir, smoke=True,
                   allow_training=False, summary_path=str(summary_file))
    assert not error_outputs(out)
    summary = json.loads(summary_file.read_text())  # every run the page read, the four claims
    assert {r["name"] for r in summary["runs"]} == set(smoke_experiment.runs)
    assert set(summary["claims"]) == {"sft_above_zero_shot", "cot_above_sft_unseen",
                                      "dyncot_close_to_cot_fewer_tokens", "baseline_fails_unseen"}
    assert {r["strategy"] for r in summary["runs"]} >= {"zero-shot", "baseline", "sft", "cot", "dyncot"}
    assert f"{len(smoke_experiment.runs)} runs reused, 0 made" in text  # read only: nothing retrained
    n_test = len(load_posts(smoke_experiment.data, split="test"))
    # The answer paragraph opens the page, built from this run's numbers, one line per claim.
    answer = text[text.index("**Answer.**"):]
    assert answer.startswith(f"**Answer.** On {n_test} test posts of `{smoke_experiment.data}`")
    for claim in ("1. *SFT far above zero-shot:*", "2. *Reasoning above SFT on unseen keyphrases:*",
                  "3. *Dynamic CoT close to Fine-tune-CoT", "4. *The traditional baseline fails on unseen"):
        assert claim in answer
    assert "Smoke run" in answer and "38.48%" in answer
    assert text.index("**Answer.**") < text.index("Zero-shot")  # before the main table
    html = html_outputs(out)
    # The main table in the paper's layout: its five rows and the all/absent/unseen/seen x F1@1/F1@M columns.
    table = html[:html.index("</table>")]
    for row in ("Zero-shot", "Traditional baseline", "SFT", "Fine-tune-CoT", "Multi-task", "Dynamic CoT γ=0.4"):
        assert f"<th>{row}</th>" in table, row
    for col in ("all", "absent", "unseen", "seen", "f1@1", "f1@M"):
        assert f">{col}</th>" in table, col
    # The static gallery (the explorer in the HTML report): 8 posts with their images inlined.
    assert 'class="mmkp-x"' in html and html.count("data:image/png;base64,") == 8
    assert "VBox(" in text  # the interactive explorer was built too (a widget in JupyterLab)
    # Figures: main bars, paired tests, learning curves, gamma sweep, reasoning cost and shares, frequency buckets.
    assert n_images(out) == 7
    for finding in ("keyphrases: at step", "The quantile setting γ = q0.3", "Dynamic CoT reasons on",
                    "easy keyphrases it found", "F1@M on gold keyphrases never seen in training"):
        assert finding in text, finding


@pytest.mark.slow
def test_notebook_05_without_training_names_the_missing_runs(smoke_experiment, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError,
                       match=r"allow_training=False, but 7 of 7 runs .* not complete: zero-shot-tiny-test \(train"):
        execute(NOTEBOOK, tmp_path / "05.ipynb", data=smoke_experiment.data, work_dir=str(tmp_path), smoke=True,
                allow_training=False)
    assert not (tmp_path / "runs-smoke").exists()  # it trained nothing
