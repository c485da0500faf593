"""mmkp_lib.experiment: the plan's names and configs, and ensure_run's reuse / predict / resume / retrain decisions,
on the test-sized model and a 32-post benchmark (conftest's kp_data)."""
import ast
import json
import shutil
from pathlib import Path

import pytest

from mmkp_lib import runs
from mmkp_lib.analysis import Run, display_label
from mmkp_lib.experiment import (ExperimentConfig, RunSpec, ensure_run, ensure_runs, ensure_teacher, main_labels,
                                 params_diff, plan, report_plan, run_name, run_status)
from mmkp_lib.training.config import ConfigError


@pytest.fixture(scope="module")
def exp(kp_data, tmp_path_factory):
    """A smoke experiment on kp_data with its own oracle cache and model cache (nothing under the repo)."""
    work = tmp_path_factory.mktemp("exp")
    cfg = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(work), teacher_cache=str(work / "oracle.jsonl"),
                           smoke=True).validated()
    ensure_teacher(cfg, log=lambda m: None)
    return cfg


def test_plan_names_are_the_labels_the_analysis_parses(kp_data, tmp_path):
    cfg = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), zero_shot_model="tiny", seeds=(0,))
    names = [s.name for s in plan(cfg)]
    assert names == ["zero-shot-tiny", "baseline", "sft-seed0", "cot-seed0", "multitask-seed0", "dyncot-g0.4-seed0"]
    full = report_plan(cfg)
    full_names = [s.name for s in full]
    # multi-task on seed 0 only (one_seed_strategies), the other 3 strategies x 3 seeds, the sweep without its 0.4
    assert len(full_names) == len(set(full_names)) == 2 + 1 + 3 * 3 + 3
    assert {"dyncot-g0.1-seed0", "dyncot-g1-seed0", "dyncot-gr0.5-seed0", "cot-seed2"} <= set(full_names)
    assert "multitask-seed0" in full_names and not {"multitask-seed1", "multitask-seed2"} & set(full_names)
    every_seed = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), zero_shot_model="tiny",
                                                one_seed_strategies=[], sweep_gammas=[0.4, "q0.3"])
    names_all = [s.name for s in report_plan(every_seed)]
    assert "multitask-seed2" in names_all and "dyncot-gq0.3-seed0" in names_all and len(names_all) == 2 + 12 + 1
    assert not any(n.startswith("dyncot-") and n.endswith(("seed1", "seed2")) and "g0.4" not in n for n in full_names)
    labels = {Run(name=n, predictions=[]).label for n in names_all if n != "zero-shot-tiny"}
    assert labels == {"baseline", "sft", "cot", "multitask", "dyncot-g0.4", "dyncot-gq0.3"}
    assert display_label("dyncot-gq0.3") == "Dynamic CoT γ=q0.3"
    assert display_label("dyncot-gr0.3") == "Thought dropout (CoT share 0.3)"
    assert display_label("baseline") == "Traditional baseline"
    assert [s.kind for s in full[:2]] == ["zero-shot", "baseline"] and full[1].baseline["data"] == cfg.effective().data
    assert full[1].baseline["image_model"] == "tiny"  # the baseline reads the images through the student's tower
    text_only = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), baseline_images=False)
    assert plan(text_only)[1].baseline["image_model"] is None
    assert ExperimentConfig.from_settings("qwen2.5-vl-3b-lora").baseline_images is False
    assert main_labels(cfg)["dyncot"] == "dyncot-g0.4"
    assert run_name("dyncot", 2, "q0.3") == "dyncot-gq0.3-seed2"


def test_every_strategy_trains_the_same_steps_and_batch(kp_data, tmp_path):
    cfg = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), zero_shot_model="tiny")
    trained = [s for s in report_plan(cfg) if s.train]
    assert {(s.train["max_steps"], s.train["batch_size"], s.train["lr"]) for s in trained} == {
        (cfg.train.max_steps, cfg.train.batch_size, cfg.train.lr)}
    by = {s.name: s.train for s in trained}
    assert by["dyncot-gr0.5-seed0"]["gamma"] == "r0.5" and by["dyncot-g1-seed0"]["gamma"] == 1.0
    assert by["sft-seed1"]["seed"] == 1 and by["sft-seed1"]["model_seed"] == 0  # vary_model_seed=False
    assert by["sft-seed0"]["teacher_cache"] is None and by["cot-seed0"]["teacher_cache"].endswith("oracle-facts.jsonl")
    assert Path(by["cot-seed0"]["out"]) == tmp_path.resolve() / "runs" / "cot-seed0"
    varied = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), vary_model_seed=True, seeds=(0, 3))
    assert [s.train["model_seed"] for s in plan(varied, zero_shot=False, baseline=False, strategies=("sft",))] == [0, 3]


@pytest.mark.parametrize("field,value,match", [
    ("seeds", (0, 0), "distinct"), ("seeds", (), "non-empty"), ("gamma", -1, "gamma"),
    ("sweep_gammas", (0.4, "q2"), "quantile"), ("scoring", "fast", "scoring"), ("max_steps", 0, "max_steps"),
    ("data", "no/such/folder", "mmkp synth"), ("lr", 3.0, "lr"), ("one_seed_strategies", ("multi-task",), "first seed"),
])
def test_bad_settings_fail_with_the_field_named(kp_data, tmp_path, field, value, match):
    kwargs = {"data": kp_data.data, "work_dir": str(tmp_path), field: value}
    with pytest.raises(ConfigError, match=match):
        ExperimentConfig.from_settings(**kwargs).validated()


def test_smoke_paths_and_zero_shot_model(kp_data, tmp_path):
    eff = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), smoke=True).effective()
    assert eff.train.model == eff.zero_shot_model == "tiny-test" and eff.runs_dir.endswith("runs-smoke")
    assert eff.model_cache == str(tmp_path.resolve() / "cache" / "models")


def test_params_diff_ignores_the_folder_and_compares_paths_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = {"data": "data/synth", "out": "runs/a", "lr": 5e-4, "seeds": [0]}
    wanted = {"data": str(tmp_path / "data" / "synth"), "out": "/elsewhere/a", "lr": 5e-4, "seeds": (0,)}
    assert params_diff(saved, wanted) == {}
    assert params_diff(saved, dict(wanted, lr=1e-3)) == {"lr": (5e-4, 1e-3)}


@pytest.mark.slow  # trains (test-sized model, 6 steps)
def test_ensure_run_reuses_predicts_resumes_and_retrains(exp):
    spec = next(s for s in plan(exp, zero_shot=False) if s.name == "sft-seed0")
    spec = RunSpec(**{**spec.to_dict(), "train": {**spec.train, "save_every": 3, "save_total_limit": 2}, "keep_checkpoints": True})
    assert run_status(spec)[0] == "train"
    logs = []
    run = ensure_run(spec, log=logs.append)
    assert run_status(spec) == ("complete", "trained 6 steps, test predictions match")
    config = runs.read_config(run)
    assert config["result"]["global_step"] == 6 and config["experiment"]["train_wall_s"] > 0
    assert config["experiment"]["predict"]["posts"] == 8 and len(runs.read_predictions(run)) == 8
    weights = run / runs.MODEL_DIR / "model.safetensors"
    stamp = weights.stat().st_mtime_ns

    logs.clear()
    ensure_run(spec, log=logs.append)  # complete and matching: nothing happens
    assert logs == ["sft-seed0: reused (trained 6 steps, test predictions match)"]
    assert weights.stat().st_mtime_ns == stamp

    (run / runs.PREDICTIONS).unlink()  # predictions lost: predict only, no training
    assert run_status(spec)[0] == "predict"
    ensure_run(spec, log=lambda m: None)
    assert weights.stat().st_mtime_ns == stamp and len(runs.read_predictions(run)) == 8

    longer = RunSpec(**{**spec.to_dict(), "predict": {**spec.predict, "max_new_tokens": 30}})
    assert run_status(longer)[0] == "predict"  # another generation budget: predict again, keep the weights

    # A run killed after its step-3 checkpoint: no final model, no result. It resumes and ends at step 6.
    record = runs.read_config(run)
    record.pop("result")
    runs.write_json(runs.path(run, runs.CONFIG), record)
    shutil.rmtree(run / runs.MODEL_DIR)
    shutil.rmtree(run / "checkpoint-6")
    assert run_status(spec) == ("resume", "interrupted; resumes from checkpoint-3")
    ensure_run(spec, log=lambda m: None)
    assert run_status(spec)[0] == "complete" and runs.read_config(run)["experiment"]["resumed"] is True

    # Another learning rate under the same name: the old run is replaced, not reused.
    other = RunSpec(**{**spec.to_dict(), "train": {**spec.train, "lr": 1e-3}})
    status, why = run_status(other)
    assert status == "retrain" and f"'lr': ({spec.train['lr']}, 0.001)" in why
    ensure_run(other, log=lambda m: None)
    assert runs.read_config(run)["params"]["lr"] == 1e-3 and run_status(other)[0] == "complete"
    assert run_status(spec)[0] == "retrain"

    # A run trained on an older build of the named model (another tokenizer) is not reused either.
    record = runs.read_config(run)
    assert record["model_build"]["tokenizer"] == "v2"
    runs.write_json(runs.path(run, runs.CONFIG), {**record, "model_build": {**record["model_build"], "tokenizer": "v1"}})
    status, why = run_status(other)
    assert status == "retrain" and "'tokenizer': ('v1', 'v2')" in why
    runs.write_json(runs.path(run, runs.CONFIG), {k: v for k, v in record.items() if k != "model_build"})
    assert run_status(other)[0] == "retrain" and "does not record" in run_status(other)[1]


@pytest.mark.slow  # trains in two worker processes
def test_ensure_runs_in_parallel_workers_gives_the_in_process_numbers(exp, tmp_path):
    dyn = next(s for s in plan(exp) if s.name == "dyncot-g0.4-seed0")
    assert dyn.threads == 1
    # Beside it, a worker that fails (its data is missing): the error names the run and shows its log's end,
    # and the other worker still finishes its run.
    broken = RunSpec(**{**dyn.to_dict(), "name": "broken-seed0", "out": str(tmp_path / "broken"),
                        "train": {**dyn.train, "out": str(tmp_path / "broken"), "data": str(tmp_path / "missing")}})
    logs = []
    with pytest.raises(RuntimeError, match="broken-seed0 failed") as info:
        ensure_runs([dyn, broken], workers=2, log=logs.append)
    assert "missing" in str(info.value)
    assert sum("started (process" in m for m in logs) == 2
    assert run_status(dyn)[0] == "complete"
    # The same spec in this process, into another folder: identical decisions and predictions.
    twin = RunSpec(**{**dyn.to_dict(), "out": str(tmp_path / dyn.name), "train": {**dyn.train, "out": str(tmp_path / dyn.name)}})
    ensure_runs([twin], log=lambda m: None)
    assert runs.read_decisions(dyn.out) == runs.read_decisions(twin.out)
    strip = lambda recs: [{k: v for k, v in r.items() if k != "generation_s"} for r in recs]  # noqa: E731
    assert strip(runs.read_predictions(dyn.out)) == strip(runs.read_predictions(twin.out))


def test_ensure_teacher_writes_oracle_rationales_once(kp_data, tmp_path):
    cfg = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), smoke=True)
    logs = []
    path = ensure_teacher(cfg, log=logs.append)
    assert path == tmp_path.resolve() / "cache" / "teacher" / "synth" / "oracle-facts.jsonl"
    assert "oracle wrote 32 rationales" in logs[0]
    ensure_teacher(cfg, log=logs.append)
    assert logs[1].endswith("rationales for all 32 training posts")
    with pytest.raises(FileNotFoundError, match="mmkp teacher"):
        ensure_teacher(ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), teacher_backend="openai"),
                       log=lambda m: None)


@pytest.mark.parametrize("notebook", ["03_sft_vs_cot", "04_dyncot", "05_breakdowns"])
def test_notebook_defaults_are_the_experiments(notebook):
    """Notebooks 03, 04 and 05 share run folders only if their parameters give the same TrainConfig: each reads
    the `report` preset and leaves every experiment setting at None (the preset's value), so their defaults are
    the report's embedded experiment by construction."""
    from mmkp_lib.experiment import setting_names
    from mmkp_lib.notebook import parameters_cell

    cell = parameters_cell(notebook)
    params = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(cell).body
              if isinstance(node, ast.Assign)}
    shared = [k for k in params if k in setting_names() and k != "seeds"]  # 05: seeds is a count there
    assert {"data", "model", "max_steps", "batch_size", "lr", "eval_every", "max_new_tokens", "workers", "smoke"} <= set(shared)
    assert {k: params[k] for k in shared} == {k: None for k in shared}
    assert params["preset"] == "report" and params["seed"] == ExperimentConfig.from_settings("report").seeds[0]


def test_runs_go_longest_first_and_seed_by_seed_within_a_strategy(kp_data, tmp_path):
    from mmkp_lib.experiment.execute import _run_order

    cfg = ExperimentConfig.from_settings(data=kp_data.data, work_dir=str(tmp_path), zero_shot_model="tiny")
    order = [s.name for s in _run_order(report_plan(cfg))]
    assert order[:3] == ["dyncot-g0.4-seed0", "dyncot-g0.4-seed1", "dyncot-g0.4-seed2"]
    assert set(order[3:6]) == {"dyncot-g0.1-seed0", "dyncot-g1-seed0", "dyncot-gr0.5-seed0"}  # the sweep: wave 3
    assert order[6:10] == ["multitask-seed0", "cot-seed0", "cot-seed1", "cot-seed2"]
    assert order[10:13] == ["sft-seed0", "sft-seed1", "sft-seed2"]
    assert set(order[13:]) == {"zero-shot-tiny", "baseline"}  # the short ones fill the other worker's last minute


def test_workers_are_pinned_one_gpu_each(exp, monkeypatch):
    """With CUDA, ensure_runs gives each worker one of the visible GPUs and never two runs the same one at once."""
    import torch

    from mmkp_lib.experiment import execute

    specs = [s for s in plan(exp) if s.train]  # 4 runs, none complete in these fresh folders
    specs = [RunSpec(**{**s.to_dict(), "out": s.out + "-gpu"}) for s in specs]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,7")
    assert execute.visible_gpus() == ["3", "5"]  # the first device_count() of the listed ones

    launched, in_use = [], set()

    class FakeProcess:  # finishes on its second poll, so two runs overlap
        pid = 0

        def __init__(self, cmd, env, **kw):
            gpu = env["CUDA_VISIBLE_DEVICES"]
            assert gpu not in in_use, "two runs on one GPU"
            in_use.add(gpu)
            launched.append(gpu)
            self.gpu, self.polls = gpu, 0

        def poll(self):
            self.polls += 1
            if self.polls < 2:
                return None
            in_use.discard(self.gpu)
            return 0

    monkeypatch.setattr(execute.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(execute.time, "sleep", lambda s: None)
    messages = []
    execute.ensure_runs(specs, workers=4, log=messages.append)
    assert len(launched) == 4 and set(launched) == {"3", "5"}
    assert any("2 GPU(s) here: 2 run(s) at a time" in m for m in messages)


def test_settings_and_cluster_commands(exp, tmp_path):
    """`--set` reads JSON values and names unknown fields; `--commands` writes, per missing run, a training line
    under the launcher (configs saved beside) and the one-process prediction line."""
    from mmkp_lib.experiment.__main__ import parse_settings, run_commands

    assert parse_settings(["lora=true", "seeds=[0, 1]", "model=Qwen/Qwen2.5-VL-3B-Instruct", "gamma=q0.3"]) == {
        "lora": True, "seeds": [0, 1], "model": "Qwen/Qwen2.5-VL-3B-Instruct", "gamma": "q0.3"}
    with pytest.raises(SystemExit, match="not an ExperimentConfig field.*max_steps"):
        parse_settings(["max_step=5"])
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        parse_settings(["lora"])
    specs = [RunSpec(**{**s.to_dict(), "out": str(tmp_path / s.name)}) for s in plan(exp)]
    lines = run_commands(specs, "accelerate launch --num_processes 4", tmp_path / ".plans")
    train_lines = [ln for ln in lines if " -m mmkp_lib.cli train " in ln]
    assert len(train_lines) == 4 and all(ln.startswith("accelerate launch --num_processes 4 -m") for ln in train_lines)
    assert sum(" -m mmkp_lib.experiment --spec " in ln for ln in lines) == 6  # zero-shot and the baseline too
    saved = json.loads((tmp_path / ".plans" / "sft-seed0.train.json").read_text())
    assert saved == next(s.train for s in specs if s.name == "sft-seed0")
    assert ExperimentConfig.from_settings(**{"data": exp.data, **parse_settings(["lora=true"])}).validated().train.lora is True


def test_evaluation_posts_are_the_ones_the_runs_used(exp):
    from mmkp_lib.experiment import evaluation_posts
    from mmkp_lib.formats import load_posts

    test, train = evaluation_posts(exp)
    eff = exp.effective()
    all_test, all_train = load_posts(eff.data, split="test"), load_posts(eff.data, split="train")
    assert [p.id for p in test] == [p.id for p in all_test[:eff.test_limit]] and len(test) == min(12, len(all_test))
    assert [p.id for p in train] == [p.id for p in all_train[:eff.limit_train]]


def test_the_default_benchmark_is_generated_when_missing_and_no_other_folder_is(tmp_path, monkeypatch):
    """The design card's `papermill notebooks/04_dyncot.ipynb out.ipynb -p smoke True` on a fresh clone: the
    notebooks' config step makes data/synth-smoke (data/synth without smoke) instead of stopping."""
    from mmkp_lib.experiment import ensure_data
    from mmkp_lib.formats import load_posts
    from mmkp_lib.notebook import experiment_config
    from mmkp_lib.training.config import ConfigError

    monkeypatch.chdir(tmp_path)
    cfg = experiment_config({"preset": "report", "smoke": True, "work_dir": str(tmp_path)})
    assert Path(cfg.effective().data) == tmp_path / "data" / "synth-smoke"
    assert len(load_posts("data/synth-smoke", split="train")) == 300 and not (tmp_path / "data" / "synth").exists()
    assert cfg.effective().teacher_cache.endswith("synth-smoke/oracle-facts.jsonl")
    other = ExperimentConfig.from_settings("report", data="elsewhere", work_dir=str(tmp_path))
    assert ensure_data(other) == Path("elsewhere") and not Path("elsewhere").exists()
    with pytest.raises(ConfigError, match="mmkp synth --out elsewhere"):
        other.validated()
