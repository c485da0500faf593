"""One parameter path: notebook parameters checked once (misspelt names refused), presets, and gamma parsed once
into a typed Gamma that travels unchanged to the trainer's Dynamic CoT state."""
from __future__ import annotations

import pytest

from mmkp_lib.experiment import PRESETS, ExperimentConfig, setting_names, train_spec
from mmkp_lib.notebook import (BreakdownSettings, ParameterError, experiment_config, injected_names,
                               notebook_parameters, parameter_names)
from mmkp_lib.training.config import DEFAULT_GAMMA, ConfigError, Gamma, TrainConfig


def test_parameter_names_are_read_from_the_tagged_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("gamma = 0.4  # threshold\nsmoke: bool = False\n")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    path = tmp_path / "01_x.ipynb"
    nbformat.write(nb, str(path))
    assert set(parameter_names(path)) == {"gamma", "smoke"}
    nb.cells = nb.cells[:1]
    nbformat.write(nb, str(path))
    with pytest.raises(ValueError, match="no code cell tagged 'parameters'"):
        parameter_names(path)


def test_a_misspelt_injected_parameter_is_refused_with_the_real_names():
    """papermill writes `-p NAME VALUE` into a cell headed '# Parameters'; a name the notebook lacks fails."""
    names = parameter_names("04_dyncot")
    assert {"preset", "gamma", "seed", "smoke", "max_steps"} <= set(names)
    namespace = {n: None for n in names}
    namespace["In"] = ["", "gamma = None\n", "# Parameters\ngamm = 0.8\nseed = 1\n", "params = ..."]
    assert injected_names(namespace["In"]) == ["gamm", "seed"]
    with pytest.raises(ParameterError) as err:
        notebook_parameters(namespace, "04_dyncot")
    assert "'gamm'" in str(err.value) and "gamma" in str(err.value) and "04_dyncot" in str(err.value)
    namespace["In"][2] = "# Parameters\ngamma = 0.8\n"
    namespace["gamma"] = 0.8
    assert notebook_parameters(namespace, "04_dyncot")["gamma"] == 0.8
    del namespace["seed"]  # run out of order, before the parameters cell
    with pytest.raises(ParameterError, match="run its parameters cell first"):
        notebook_parameters(namespace, "04_dyncot")


def test_every_notebook_declares_preset_or_only_known_names():
    """03-05 read a preset and only names that are settings or their own; 01/02's names are their configs'."""
    import dataclasses

    from mmkp_lib.overlap import OverlapStudyConfig
    from mmkp_lib.teacher import TeacherRunConfig

    own = {"03_sft_vs_cot": {"preset", "seed"}, "04_dyncot": {"preset", "seed"},
           "05_breakdowns": {"preset", "seed"} | {f.name for f in dataclasses.fields(BreakdownSettings)} - {"n_seeds"}
           | {"seeds"}}
    for nb, extra in own.items():
        assert set(parameter_names(nb)) - set(setting_names()) <= extra, nb
    assert set(parameter_names("01_benchmark_overlap")) <= {f.name for f in dataclasses.fields(OverlapStudyConfig)}
    assert set(parameter_names("02_teacher_cot")) <= {f.name for f in dataclasses.fields(TeacherRunConfig)}


def test_settings_are_sorted_into_the_experiment_and_its_training_template(kp_data):
    cfg = ExperimentConfig.from_settings("report", gamma="q0.3", max_steps=50, seeds=[0, 1], data=kp_data.data)
    assert cfg.train.gamma == Gamma("quantile", 0.3) and cfg.train.max_steps == 50 and cfg.seeds == (0, 1)
    assert cfg.settings()["gamma"] == "q0.3" and ExperimentConfig.from_settings(**cfg.settings()) == cfg
    with pytest.raises(ConfigError) as err:
        ExperimentConfig.from_settings(gamm=0.3)
    assert str(err.value).startswith("gamm=0.3") and "gamma" in str(err.value)
    with pytest.raises(ConfigError, match="one of report, smoke"):
        ExperimentConfig.from_settings("reprot")
    for per_run in ("out", "strategy", "seed", "log_every"):  # the plan decides these for each run
        assert per_run not in setting_names()


def test_presets_are_valid_and_a_setting_overrides_its_preset(kp_data):
    assert {"report", "smoke", "qwen2.5-vl-3b-lora"} <= set(PRESETS)
    qwen = ExperimentConfig.from_settings("qwen2.5-vl-3b-lora", data=kp_data.data, lr=5e-5)
    assert qwen.train.lora is True and qwen.train.lr == 5e-5 and qwen.train.model.startswith("Qwen/")
    assert ExperimentConfig.from_settings("smoke", data=kp_data.data).effective().train.model == "tiny-test"
    assert ExperimentConfig.from_settings("report").train.max_steps == ExperimentConfig().train.max_steps


def test_gamma_travels_typed_from_the_notebook_to_the_trainer(kp_data, tmp_path):
    """Notebook 04's `-p gamma q0.3`: parsed once into a Gamma, carried by the training template to the run's
    TrainConfig, written to the worker's spec as "q0.3", and read back as the same Gamma."""
    params = {n: None for n in parameter_names("04_dyncot")}
    params.update(preset="report", seed=0, gamma="q0.3", data=kp_data.data, work_dir=str(tmp_path))
    cfg = experiment_config(params)
    spec = train_spec(cfg, "dyncot", 0)
    assert spec.name == "dyncot-gq0.3-seed0" and spec.train["gamma"] == "q0.3"
    run_cfg = spec.train_config()
    assert isinstance(run_cfg, TrainConfig) and run_cfg.gamma == Gamma("quantile", 0.3)
    assert train_spec(cfg, "sft", 0).train["gamma"] == DEFAULT_GAMMA.to_json()  # unused by sft: the default
    params["seed"] = -1
    with pytest.raises(ConfigError, match="seed"):
        experiment_config(params)


def test_training_arguments_come_from_the_config():
    cfg = TrainConfig(out="runs/x", max_steps=7, batch_size=3, lr=1e-3, save_every=0, log_every=2)
    args = cfg.training_arguments()
    assert (args.max_steps, args.per_device_train_batch_size, args.learning_rate, args.logging_steps) == (7, 3, 1e-3, 2)
    assert args.save_steps == 10**9 and args.save_strategy == "steps"  # 0: only the final checkpoint
    assert cfg.training_arguments(checkpoints=False).save_strategy == "no"


@pytest.mark.parametrize("name,value,match", [
    ("seeds", -1, "seeds per strategy"), ("n_boot", 10, ">= 100"), ("close_margin", 2, "fraction"),
    ("allow_training", "yes", "True or False"), ("gallery_posts", 0, ">= 1"),
])
def test_breakdown_settings_name_a_bad_value(name, value, match):
    params = {"seeds": 0, "allow_training": True, "n_boot": 1000, "close_margin": 0.02, "gallery_posts": 8,
              "smoke": None, "preset": "report"}
    assert BreakdownSettings.from_parameters(params).n_seeds == 3
    assert BreakdownSettings.from_parameters(dict(params, preset="smoke")).n_seeds == 1
    with pytest.raises(ConfigError, match=match):
        BreakdownSettings.from_parameters(dict(params, **{name: value}))


def test_allow_training_false_names_the_missing_runs_and_trains_nothing(kp_data, tmp_path):
    from mmkp_lib.experiment import ensure_available_runs, plan

    cfg = ExperimentConfig.from_settings("smoke", data=kp_data.data, work_dir=str(tmp_path)).validated()
    with pytest.raises(RuntimeError) as err:
        ensure_available_runs(cfg, plan(cfg), allow_training=False)
    assert "allow_training=False" in str(err.value) and "sft-seed0 (train: no run folder yet)" in str(err.value)
    assert not (tmp_path / "runs-smoke").exists()
