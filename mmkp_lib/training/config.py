"""The typed configuration of one training run, validated before anything heavy starts.

Every parameter of a run lives here, so `runs/<name>/config.json` can record it
and a run can be repeated from that file alone:

    from mmkp_lib.training.config import TrainConfig
    cfg = TrainConfig(data="data/synth", out="runs/dyncot-q0.3", strategy="dyncot", gamma="q0.3",
                      teacher_cache="cache/teacher/rationales.jsonl")
    cfg.gamma                      # Gamma(kind='quantile', value=0.3): parsed once, when the config is made
    cfg.training_arguments()       # the transformers.TrainingArguments the trainer gets

Defaults are plain literals sized for the offline `tiny` model on a CPU; real
checkpoints (Qwen2.5-VL-3B/7B) want a smaller `lr` (about 1e-5 full, 1e-4 LoRA)
and `bf16`.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("sft", "cot", "multitask", "dyncot")
SCORINGS = ("online", "lagged")
_QUANTILE = re.compile(r"^q(\d*\.?\d+)$")
_RANDOM = re.compile(r"^r(\d*\.?\d+)$")
GAMMA_KINDS = ("loss", "quantile", "random")  # Gamma.kind, in the order the sweep tables list them


class ConfigError(ValueError):
    """A parameter with a value it cannot take: names the parameter, the value and what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.name, self.value = name, value
        super().__init__(f"{name}={value!r}: {allowed}")


@dataclass(frozen=True)
class Gamma:
    """The Dynamic CoT rule: a fixed loss threshold (`kind="loss"`), a quantile of losses (`kind="quantile"`), or
    the control without a gate (`kind="random"`: each visit of a sample with a rationale is trained on its CoT
    target with probability `value`, whatever its loss: the "thought dropout" of TON, Wang et al. 2025)."""

    kind: str  # "loss" | "quantile" | "random"
    value: float

    def __str__(self) -> str:
        return {"quantile": "q", "random": "r"}.get(self.kind, "") + f"{self.value:g}"

    def to_json(self) -> float | str:
        """What config.json records: the loss as a number (0.4), the others as their string ("q0.3", "r0.3")."""
        return self.value if self.kind == "loss" else str(self)


def check_int(name: str, value: Any, low: int, allowed: str | None = None) -> int:
    """`value` when it is an integer >= `low` (a bool is not), else ConfigError naming it: the one integer check of
    the training, experiment and notebook configs. `allowed` replaces the default "an integer >= low"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(name, value, allowed or f"an integer >= {low}")
    return value


def parse_gamma(gamma: float | int | str | Gamma) -> Gamma:
    """0.4 -> switch samples whose SFT loss is below 0.4 nats/token; "q0.3" -> switch the 30% lowest-loss samples.

    The one parser of gamma: configs call it when they are made (from a notebook, a flag, a config.json), so
    everything after holds a typed Gamma."""
    if isinstance(gamma, Gamma):
        return gamma
    if isinstance(gamma, bool):
        raise ConfigError("gamma", gamma, "a positive loss (e.g. 0.4), a quantile string 'qX' with 0 <= X <= 1 (e.g. 'q0.3') or a random share 'rX' (e.g. 'r0.3')")
    if isinstance(gamma, (int, float)):
        if not math.isfinite(gamma) or gamma <= 0:
            raise ConfigError("gamma", gamma, "a loss threshold must be a finite number > 0 (cross-entropy is >= 0, "
                                              "so gamma <= 0 would never switch a sample to CoT; use strategy='sft' for that)")
        return Gamma("loss", float(gamma))
    if isinstance(gamma, str):
        text = gamma.strip()
        m = _QUANTILE.match(text)
        if m:
            q = float(m.group(1))
            if not 0.0 <= q <= 1.0:
                raise ConfigError("gamma", gamma, "a quantile 'qX' needs 0 <= X <= 1 (q0.3 switches the 30% lowest-loss samples)")
            return Gamma("quantile", q)
        m = _RANDOM.match(text)
        if m:
            r = float(m.group(1))
            if not 0.0 <= r <= 1.0:
                raise ConfigError("gamma", gamma, "a random share 'rX' needs 0 <= X <= 1 (r0.3 trains 30% of the "
                                                  "visits on the CoT target, chosen at random)")
            return Gamma("random", r)
        try:
            return parse_gamma(float(text))  # "0.4" from a CLI or papermill
        except ValueError:
            pass
    raise ConfigError("gamma", gamma, "a positive loss (e.g. 0.4), a quantile string 'qX' with 0 <= X <= 1 (e.g. 'q0.3') or a random share 'rX' (e.g. 'r0.3')")


# TrainConfig fields that change no trained number: a run may resume, or be reused, with other values of these
# (its folder may move, its progress bars and loader workers differ).
NO_TRAINING_EFFECT = ("out", "tqdm", "num_workers", "eval_batch_size", "save_total_limit")

# The paper's threshold (Ma et al. 2025): the one place this default is written.
DEFAULT_GAMMA = Gamma("loss", 0.4)


@dataclass
class TrainConfig:
    """Every parameter of a training run (see the module docstring for an example)."""

    # --- what to train on and where to write
    data: str = "data/synth"  # dataset path: canonical JSONL folder/file or another format mmkp_lib.formats reads
    out: str = "runs/sft"  # run folder: config.json, train_log.jsonl, checkpoint-*/, model/
    train_split: str = "train"  # split trained on
    valid_split: str = "valid"  # split of the periodic validation F1 (eval_every > 0)
    limit_train: int | None = None  # keep only the first N training posts (smoke runs); None = all

    # --- strategy
    strategy: str = "sft"  # sft | cot | multitask | dyncot
    teacher_cache: str | None = None  # accepted teacher rationales (needed by cot, multitask, dyncot)
    gamma: Gamma = DEFAULT_GAMMA  # dyncot threshold: SFT loss in nats/token, or "qX" = the X lowest-loss share
    scoring: str = "online"  # dyncot: "online" (exact, extra no-grad forward) | "lagged" (loss at last SFT visit)

    # --- model
    model: str = "tiny"  # tiny | smol | hub id | local folder (mmkp_lib.models.load_model)
    model_seed: int = 0  # seed of the randomly initialised offline models (tiny, smol's vision part)
    model_cache: str = "cache/models"  # where the offline models are built once and reloaded
    lora: bool = False  # LoRA on the language model's linear layers (vision tower never adapted)
    lora_r: int = 16  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator
    lora_dropout: float = 0.05  # LoRA dropout
    freeze_vision: bool = True  # keep the vision tower's weights fixed (the projector still trains)
    max_pixels: int | None = None  # downscale images above this many pixels (w*h) before the processor
    max_length: int = 512  # tokens per training sequence; the prompt (with image tokens) is never cut

    # --- optimisation
    epochs: float = 3.0  # passes over the training examples (ignored when max_steps > 0)
    max_steps: int = -1  # optimizer steps; > 0 overrides epochs
    lr: float = 5e-4  # peak learning rate (AdamW)
    lr_scheduler: str = "cosine"  # transformers scheduler name: linear | cosine | constant ...
    warmup_steps: float = 0.05  # int = steps, float in [0, 1) = share of all steps
    weight_decay: float = 0.0  # AdamW weight decay
    max_grad_norm: float = 1.0  # gradient clipping (0 = off)
    batch_size: int = 8  # samples per device per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    bf16: bool | None = None  # None = bf16 on a GPU that supports it, fp32 on CPU
    gradient_checkpointing: bool = False  # trade compute for memory (large models)
    num_workers: int = 0  # DataLoader worker processes

    # --- logging, checkpoints, validation
    log_every: int = 10  # optimizer steps between train_log.jsonl lines
    save_every: int = 0  # optimizer steps between checkpoints; 0 = one checkpoint at the end
    save_total_limit: int | None = 2  # checkpoints kept (oldest deleted); None = all
    eval_every: int = 0  # optimizer steps between validation F1 lines; 0 = off
    eval_samples: int = 64  # validation posts generated each time (a fixed subset)
    eval_batch_size: int = 16  # posts per generation batch
    max_new_tokens: int = 128  # generation budget (reasoning + answer)
    seed: int = 0  # data order, LoRA init, dropout
    tqdm: bool = False  # progress bars (off: headless notebooks and logs)

    def __post_init__(self) -> None:
        self.gamma = parse_gamma(self.gamma)  # 0.4, "0.4" or "q0.3" from a flag, a notebook or config.json
        self.validate()

    # Validation lives in one place so a notebook's `TrainConfig(**params)` and the CLI fail the same way.
    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            hint = " (zero-shot needs no training: use `mmkp predict --model M`)" if "zero" in str(self.strategy) else ""
            raise ConfigError("strategy", self.strategy, f"one of {', '.join(STRATEGIES)}{hint}")
        if self.scoring not in SCORINGS:
            raise ConfigError("scoring", self.scoring, f"one of {', '.join(SCORINGS)}")
        if not isinstance(self.gamma, Gamma):
            raise ConfigError("gamma", self.gamma, "a Gamma (use parse_gamma), e.g. parse_gamma('q0.3')")
        if self.strategy in ("cot", "multitask", "dyncot") and not self.teacher_cache:
            raise ConfigError("teacher_cache", self.teacher_cache,
                              f"strategy {self.strategy!r} needs accepted teacher rationales: pass the teacher cache "
                              "(e.g. --teacher-cache cache/teacher/rationales.jsonl, written by `mmkp teacher`)")
        for name in ("batch_size", "grad_accum", "max_length", "log_every", "eval_samples", "eval_batch_size",
                     "max_new_tokens", "lora_r", "lora_alpha"):
            check_int(name, getattr(self, name), 1)
        for name in ("save_every", "eval_every", "num_workers", "seed", "model_seed"):
            check_int(name, getattr(self, name), 0)
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError("max_steps", self.max_steps, "-1 (train for `epochs`) or an integer >= 1")
        if self.max_steps == -1 and not (isinstance(self.epochs, (int, float)) and self.epochs > 0):
            raise ConfigError("epochs", self.epochs, "a number > 0 (or set max_steps)")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ConfigError("lr", self.lr, "a learning rate in (0, 1), e.g. 5e-4 for the tiny model, 1e-5 for a 7B model")
        if not (isinstance(self.warmup_steps, (int, float)) and self.warmup_steps >= 0):
            raise ConfigError("warmup_steps", self.warmup_steps, "steps (int >= 0) or a share of all steps (float in [0, 1))")
        if isinstance(self.warmup_steps, float) and not self.warmup_steps < 1:
            raise ConfigError("warmup_steps", self.warmup_steps, "as a float it is a share of all steps and must be < 1")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_dropout", self.lora_dropout, "a probability in [0, 1)")
        if self.max_pixels is not None and (not isinstance(self.max_pixels, int) or self.max_pixels < 16):
            raise ConfigError("max_pixels", self.max_pixels, "None or an integer >= 16 (e.g. 200704 = 448*448)")
        if self.limit_train is not None and (not isinstance(self.limit_train, int) or self.limit_train < 1):
            raise ConfigError("limit_train", self.limit_train, "None or an integer >= 1")
        if self.save_total_limit is not None and (not isinstance(self.save_total_limit, int) or self.save_total_limit < 1):
            raise ConfigError("save_total_limit", self.save_total_limit, "None or an integer >= 1")
        if not self.out:
            raise ConfigError("out", self.out, "a run folder, e.g. runs/sft")

    @property
    def name(self) -> str:
        """The run's name: its folder's name."""
        return self.out.rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (config.json, a worker's spec): gamma as 0.4 or "q0.3"."""
        d = dataclasses.asdict(self)
        d["gamma"] = self.gamma.to_json()
        return d

    def use_bf16(self) -> bool:
        """bf16 as set, or (None) where a CUDA GPU supports it."""
        if self.bf16 is not None:
            return bool(self.bf16)
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    def training_arguments(self, *, checkpoints: bool = True, find_unused_parameters: bool = False):
        """The transformers.TrainingArguments of this run: the one mapping from TrainConfig to the HF trainer's
        arguments (training, the experiment and the benchmarks all use it). `checkpoints=False`: save nothing
        (benchmarks); `find_unused_parameters`: DDP must look for parameters a step leaves unused (posts
        without an image skip the projector)."""
        import torch
        from transformers import TrainingArguments

        return TrainingArguments(
            output_dir=self.out, per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=self.grad_accum, num_train_epochs=float(self.epochs),
            max_steps=self.max_steps, learning_rate=self.lr, lr_scheduler_type=self.lr_scheduler,
            warmup_steps=self.warmup_steps, weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm,
            logging_strategy="steps", logging_steps=self.log_every,
            save_strategy="steps" if checkpoints else "no",
            save_steps=self.save_every or 10**9,  # 0: only the checkpoint at the last step
            save_total_limit=self.save_total_limit, eval_strategy="no", seed=self.seed, bf16=self.use_bf16(),
            dataloader_num_workers=self.num_workers, remove_unused_columns=False, report_to="none",
            disable_tqdm=not self.tqdm, use_cpu=not torch.cuda.is_available(),
            ddp_find_unused_parameters=find_unused_parameters,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Build from a dict (config.json, notebook parameters); unknown keys are an error, not ignored."""
        unknown = sorted(set(d) - field_names())
        if unknown:
            raise ConfigError(unknown[0], d[unknown[0]],
                              f"not a TrainConfig parameter; known ones: {', '.join(sorted(field_names()))}")
        return cls(**d)


def field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def field_help() -> dict[str, str]:
    """Each TrainConfig field's trailing comment (the CLI's --help text), read from this file's source.

    The comments beside the defaults are the one place parameters are
    documented; reading them keeps `mmkp train --help` from drifting away.
    """
    import inspect

    out = {}
    for line in inspect.getsource(TrainConfig).splitlines():
        m = re.match(r"^    (\w+): [^=]+= .*?  # (.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out
