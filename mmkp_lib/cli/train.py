"""`mmkp train`: fine-tune a VLM with one strategy (sft, cot, multitask, dyncot) into a run folder.

    mmkp train --data data/synth --strategy sft --out runs/sft
    mmkp train --data data/synth --strategy dyncot --gamma 0.4 --scoring online \
        --teacher-cache cache/teacher/synth/oracle-facts.jsonl --out runs/dyncot-0.4
    mmkp train --config runs/dyncot-0.4/config.json --out runs/dyncot-0.4 --resume   # continue a killed run
    accelerate launch -m mmkp_lib.cli train --model Qwen/Qwen2.5-VL-3B-Instruct --lora --bf16 ...

Every TrainConfig parameter is a flag (`--max-steps`, `--batch-size`, ...);
`--config FILE` reads them from a JSON file (a run's config.json or a plain
dict) and flags given on the command line override it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os

from mmkp_lib.cli.args import fail, one_line_warnings
from mmkp_lib.training.config import ConfigError, TrainConfig, field_help


def _number(text: str) -> int | float:
    """'10' -> 10, '5e-4' -> 0.0005 (warmup_steps: an int is steps, a float a share)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _gamma(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # "q0.3"; TrainConfig validates it


def _optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null", "") else kind(text)
    parse.__name__ = kind.__name__
    return parse


_TYPES = {"str": str, "int": int, "float": _number, "str | None": _optional(str), "int | None": _optional(int),
          "Gamma": _gamma}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune a VLM (sft | cot | multitask | dyncot) into a run folder",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    helps = field_help()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text = f"{helps.get(f.name, '')} (default: {f.default!r})"
        if f.type in ("bool", "bool | None"):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:
            kind = _TYPES.get(f.type)
            if kind is None:  # pragma: no cover - a new field type needs a parser here
                raise TypeError(f"TrainConfig.{f.name}: no command-line parser for type {f.type}")
            choices = {"strategy": ("sft", "cot", "multitask", "dyncot"), "scoring": ("online", "lagged")}.get(f.name)
            p.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text, choices=choices,
                           metavar=f.name.upper() if choices is None else None)
    p.add_argument("--config", help="JSON file of parameters (a run's config.json works); flags override it")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its newest complete checkpoint")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (a folder mmkp made as a run, deleted only once the new "
                            "run's data, rationales and model have loaded)")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults <- --config file <- flags given on the command line."""
    params: dict = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            try:
                loaded = json.load(fh)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError("config", args.config, f"not a JSON file ({exc})") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("params", loaded), dict):
            raise ConfigError("config", args.config, "a JSON object of parameters (or a run's config.json) is needed")
        params.update(loaded.get("params", loaded))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    params.update({k: v for k, v in vars(args).items() if k in names})
    if "out" not in params:
        raise ConfigError("out", None, "pass --out runs/NAME (the run folder)")
    return TrainConfig.from_dict(params)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
    except (ConfigError, OSError) as exc:
        return fail("train", exc)
    from mmkp_lib.training.launch import train

    with one_line_warnings("train"):
        try:
            folder = train(cfg, resume=args.resume, overwrite=args.overwrite)
        except (OSError, ValueError) as exc:
            # ValueError covers ConfigError, DataError, CacheError (a teacher cache of other data), TruncationError,
            # RunFolderError and an empty split; OSError the missing, misplaced or unreadable files and folders
            return fail("train", exc)
    if int(os.environ.get("RANK", "0")) == 0:  # under accelerate launch / torchrun, one process reports
        print(f"run folder: {folder}")
    return 0
