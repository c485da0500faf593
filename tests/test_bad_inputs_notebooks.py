"""The bad-input catalogue, notebooks part: what a user mistypes on `papermill ... -p NAME VALUE`.

Each case executes the real notebook with papermill (as `make report` and the README do), expects it to stop in
its setup cell with a message naming the parameter and what is allowed, and checks that nothing was trained or
written in the work folder. The library-level checks behind them are in tests/test_notebook_params.py; the CLI and
data cases in tests/test_bad_inputs.py.
"""
from __future__ import annotations

import pytest

from _notebooks import NOTEBOOKS


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


CASES = [
    # notebook, parameters, what the message must say
    ("04_dyncot", {"gamm": 0.8}, ["'gamm'", "gamma", "its parameters"]),  # the misspelling
    ("04_dyncot", {"strategy": "typo"}, ["'strategy'", "its parameters"]),  # not a parameter of 04 at all
    ("03_sft_vs_cot", {"max_step": 10}, ["'max_step'", "max_steps"]),
    ("05_breakdowns", {"allow_trainig": False}, ["'allow_trainig'", "allow_training"]),
    ("01_benchmark_overlap", {"target_overlapp": 0.3}, ["'target_overlapp'", "target_overlap"]),
    ("01_benchmark_overlap", {"mmkp_data": "no/such/folder"}, ["mmkp_data must be a folder holding MMKP"]),
    ("02_teacher_cot", {"bakend": "openai"}, ["'bakend'", "backend"]),
    ("04_dyncot", {"gamma": -1}, ["gamma=-1", "finite number > 0"]),
    ("04_dyncot", {"gamma": "q1.5"}, ["gamma='q1.5'", "0 <= X <= 1"]),
    ("04_dyncot", {"preset": "reprot"}, ["preset='reprot'", "report"]),
    ("03_sft_vs_cot", {"seed": -1}, ["seed=-1", "integer >= 0"]),
    ("03_sft_vs_cot", {"max_steps": 0}, ["max_steps=0"]),
    ("05_breakdowns", {"n_boot": 5}, ["n_boot=5", ">= 100"]),
    ("05_breakdowns", {"allow_training": "no"}, ["allow_training='no'", "True or False"]),
]


@pytest.mark.slow  # a kernel start per case (a few seconds each)
@pytest.mark.parametrize("notebook,params,says", CASES, ids=[f"{c[0]}-{'-'.join(c[1])}" for c in CASES])
def test_a_bad_notebook_parameter_stops_the_notebook_before_any_work(notebook, params, says, kp_data, tmp_path):
    import papermill

    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("a user's file")
    before = _tree(work)
    base = {"data": kp_data.data} if notebook != "02_teacher_cot" else {"data": kp_data.data, "smoke": True}
    if notebook in ("03_sft_vs_cot", "04_dyncot", "05_breakdowns", "02_teacher_cot"):
        base["work_dir"] = str(work)
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={**base, **params}, cwd=str(NOTEBOOKS.parent), progress_bar=False)
    message = str(err.value)
    for text in says:
        assert text in message, f"{text!r} not in the error of {notebook} {params}:\n{message[-1500:]}"
    assert _tree(work) == before and (work / "keep.txt").read_text() == "a user's file"
