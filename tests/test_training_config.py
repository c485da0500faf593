"""TrainConfig validation, gamma parsing and the `mmkp train` flags built from the config's fields."""
from __future__ import annotations

import dataclasses

import pytest

from mmkp_lib.training.config import ConfigError, Gamma, TrainConfig, field_help, parse_gamma


def test_gamma_accepts_a_loss_or_a_quantile_and_names_what_is_wrong():
    assert parse_gamma(0.4) == Gamma("loss", 0.4)
    assert parse_gamma("0.4") == Gamma("loss", 0.4)  # as papermill or a CLI may pass it
    assert parse_gamma("q0.3") == Gamma("quantile", 0.3)
    assert parse_gamma("q1") == Gamma("quantile", 1.0)
    for bad in (-1, 0, float("nan"), "q1.5", "0.3q", "high", True):
        with pytest.raises(ConfigError) as err:
            parse_gamma(bad)
        assert "gamma" in str(err.value)


@pytest.mark.parametrize("field, value, says", [
    ("strategy", "dynamic", "one of sft, cot, multitask, dyncot"),
    ("strategy", "zero-shot", "mmkp predict --model"),
    ("scoring", "exact", "one of online, lagged"),
    ("gamma", -1, "gamma"),
    ("batch_size", 0, "integer >= 1"),
    ("max_steps", 0, "-1"),
    ("lr", 2.0, "learning rate"),
    ("warmup_steps", 1.5, "share of all steps"),
    ("max_pixels", 4, "max_pixels"),
])
def test_bad_parameters_fail_at_once_with_the_parameter_named(field, value, says):
    params = {"strategy": "dyncot", "teacher_cache": "t.jsonl", field: value}
    with pytest.raises(ConfigError) as err:
        TrainConfig(**params)
    assert str(err.value).startswith(f"{field}=") and says in str(err.value)


def test_cot_strategies_need_a_teacher_cache():
    TrainConfig(strategy="sft")
    for strategy in ("cot", "multitask", "dyncot"):
        with pytest.raises(ConfigError, match="teacher"):
            TrainConfig(strategy=strategy)


def test_from_dict_refuses_unknown_keys_and_round_trips():
    cfg = TrainConfig(strategy="dyncot", gamma="q0.3", teacher_cache="t.jsonl", out="runs/x")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="not a TrainConfig parameter"):
        TrainConfig.from_dict({"stratgy": "sft"})
    assert cfg.name == "x" and cfg.gamma == Gamma("quantile", 0.3)


def test_every_field_has_a_help_comment():
    helps = field_help()
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= set(helps)
    assert "nats/token" in helps["gamma"]


def test_cli_flags_parse_into_typed_config(tmp_path):
    from mmkp_lib.cli import build_parser
    from mmkp_lib.cli.train import config_from_args

    args = build_parser().parse_args([
        "train", "--data", "d", "--strategy", "dyncot", "--gamma", "q0.3", "--scoring", "lagged",
        "--teacher-cache", "t.jsonl", "--out", "runs/x", "--lora", "--no-freeze-vision", "--warmup-steps", "10",
        "--lr", "1e-4", "--max-pixels", "none", "--max-steps", "5"])
    cfg = config_from_args(args)
    assert (cfg.strategy, cfg.gamma, cfg.scoring, cfg.lora, cfg.freeze_vision) == ("dyncot", Gamma("quantile", 0.3), "lagged", True, False)
    assert cfg.warmup_steps == 10 and isinstance(cfg.warmup_steps, int)  # steps, not a share
    assert cfg.lr == 1e-4 and cfg.max_pixels is None and cfg.max_steps == 5

    # --config supplies defaults (a run's config.json works), flags override them
    (tmp_path / "c.json").write_text('{"params": {"strategy": "sft", "out": "runs/y", "batch_size": 4}}')
    cfg = config_from_args(build_parser().parse_args(["train", "--config", str(tmp_path / "c.json"), "--batch-size", "2"]))
    assert (cfg.strategy, cfg.out, cfg.batch_size) == ("sft", "runs/y", 2)


def test_cli_reports_a_bad_value_without_a_traceback(capsys):
    from mmkp_lib.cli import main

    assert main(["train", "--data", "d", "--strategy", "dyncot", "--gamma", "-1", "--teacher-cache", "t",
                 "--out", "runs/x"]) == 2
    assert "gamma=-1.0" in capsys.readouterr().err
