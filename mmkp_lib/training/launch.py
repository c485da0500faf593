"""One training run from a TrainConfig: data, model (LoRA or full), trainer, run folder.

    from mmkp_lib.training import TrainConfig, train
    run = train(TrainConfig(data="data/synth", strategy="sft", out="runs/sft", max_steps=200))

The same from the shell, on one CPU or several GPUs:

    mmkp train --data data/synth --strategy sft --out runs/sft --max-steps 200
    accelerate launch -m mmkp_lib.cli train --data data/synth --strategy dyncot --gamma q0.3 \
        --teacher-cache cache/teacher/synth.jsonl --model Qwen/Qwen2.5-VL-3B-Instruct --lora --out runs/dyncot
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mmkp_lib import runs
from mmkp_lib.training.config import NO_TRAINING_EFFECT, ConfigError, TrainConfig



def vision_tower_of(model):
    """(name, module) of a VLM's vision encoder: LLaVA's vision_tower, Qwen-VL's visual."""
    from mmkp_lib.models.hub import find_submodule

    return find_submodule(model, ("model.vision_tower", "vision_tower", "model.visual", "visual", "model.vision_model"),
                          "vision tower")


def projector_names(model) -> list[str]:
    """Module names of the vision-to-language projector (LLaVA's multi_modal_projector, Qwen-VL's visual.merger)."""
    return [n for n, _ in model.named_modules() if n.endswith("multi_modal_projector") or n.endswith("visual.merger")]


def prepare_model(model, cfg: TrainConfig):
    """Freeze the vision tower (not the projector) if asked; wrap in LoRA if asked. Returns the model to train."""
    tower_name, tower = vision_tower_of(model)
    projector = projector_names(model)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        from mmkp_lib.models import lora_target_modules

        targets = lora_target_modules(model)
        if any(t.startswith(tower_name + ".") for t in targets):
            raise AssertionError(f"LoRA targets include the vision tower ({tower_name}): {targets[:3]}")
        # The projector (small) trains in full beside the adapters; the tower too when it is not frozen.
        to_save = projector + ([] if cfg.freeze_vision else [tower_name])
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=targets, modules_to_save=to_save or None, bias="none")
        model = get_peft_model(model, lora)
    elif cfg.freeze_vision:
        for name, p in tower.named_parameters():
            # Qwen-VL's merger (its projector) lives inside `visual`: it keeps training like LLaVA's projector.
            if not any(f"{tower_name}.{name}".startswith(pn + ".") for pn in projector):
                p.requires_grad_(False)
    if cfg.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if cfg.lora:
            model.enable_input_require_grads()
    return model


def trainable_parameters(model) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total}


def _check_resume(run: Path, cfg: TrainConfig) -> None:
    old = runs.read_config(run).get("params") or {}
    diff = {k: (old.get(k), v) for k, v in cfg.to_dict().items() if old.get(k) != v and k not in NO_TRAINING_EFFECT}
    if diff:
        raise ConfigError("resume", True, f"{run}/config.json was written with other parameters (name: (saved, now) = "
                                          f"{diff}); resume with the same ones, or start a new run folder")


def resume_checkpoint(run: Path, cfg: TrainConfig, log=print) -> Path:
    """The checkpoint a resumed run continues from: the newest complete one (newer damaged ones are named, skipped).

    Raises FileNotFoundError when there is no run or no complete checkpoint, ConfigError when the run was
    started with other parameters.
    """
    if not runs.path(run, runs.CONFIG).is_file():
        raise FileNotFoundError(f"{run}/{runs.CONFIG}: no such file, so there is no run here to resume; "
                                f"start it without resume (--resume)")
    _check_resume(run, cfg)
    ckpt, damaged = runs.resumable_checkpoint(run)
    if ckpt is None:
        found = "; ".join(f"{c.name}: {why}" for c, why in damaged)
        raise FileNotFoundError(f"{run}: no complete checkpoint-* folder to resume from" + (f" ({found})" if found else "")
                                + "; start again with overwrite (--overwrite)")
    for bad, why in damaged:
        message = (f"{run}/{bad.name} is incomplete ({why}; a save cut short?): resuming from {ckpt.name}, "
                   f"the newest complete checkpoint")
        warnings.warn(message, DamagedCheckpointWarning, stacklevel=3)
        log(f"warning: {message}")
    return ckpt


class DamagedCheckpointWarning(UserWarning):
    """A resumed run skipped a checkpoint that a kill mid-save left incomplete."""


class RationaleFallbackWarning(UserWarning):
    """Many posts of a cot/multitask/dyncot run have no accepted teacher rationale and train on SFT targets."""


def check_rationale_coverage(report, cache: str | None, log=print) -> None:
    """Stop when no training post has an accepted rationale; warn loudly past FALLBACK_WARN_SHARE of them."""
    from mmkp_lib.training.data import FALLBACK_WARN_SHARE

    if report.strategy == "sft" or not report.posts or not report.fallback:
        return
    if report.fallback == report.posts:
        raise ValueError(f"{cache}: none of the {report.posts} training posts has an accepted teacher rationale "
                         f"(is it the cache of another dataset or split?); a {report.strategy} run would be plain "
                         f"SFT. Write the rationales with `mmkp teacher --data DATA --out {cache}`")
    if report.fallback_share > FALLBACK_WARN_SHARE:
        message = (f"{report.fallback} of {report.posts} training posts ({report.fallback_share:.0%}, above "
                   f"{FALLBACK_WARN_SHARE:.0%}) have no accepted rationale in {cache} and train on the SFT target "
                   f"instead: this {report.strategy} run is partly SFT (config.json data_report.fallback_share)")
        warnings.warn(message, RationaleFallbackWarning, stacklevel=3)
        log(f"warning: {message}")


VALID_BUDGET_SLACK = 1.25  # validation budget = this x the longest training target, + VALID_BUDGET_EXTRA tokens
VALID_BUDGET_EXTRA = 8


def validation_budget(examples, tokenizer, cap: int) -> int:
    """New tokens the periodic validation may generate: enough for the longest target the run trains on (either
    version of a Dynamic CoT sample) with some slack, never more than `cap` (the run's max_new_tokens).

    An SFT run's answers are ~7 tokens; without this bound an early, rambling model spends the whole test-time
    budget (400 tokens) on every validation post, which made validation a visible share of a run's time. A model
    that has learnt its targets stops well inside the bound, so the F1 it gets is the one the full budget gives.
    """
    targets = [t for e in examples for t in (e.target, e.cot) if t]
    if not targets:
        return cap
    longest = max(len(ids) for ids in tokenizer(targets, add_special_tokens=False)["input_ids"])
    return max(1, min(cap, int(VALID_BUDGET_SLACK * longest) + VALID_BUDGET_EXTRA))


def make_validator(cfg: TrainConfig, processor, train_posts, examples=()):
    """The periodic validation: generation F1 on a fixed subset of the validation split (the first eval_samples),
    with a budget of validation_budget(examples) new tokens."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.inference import generate_predictions, score

    posts = load_posts(cfg.data, split=cfg.valid_split)[: cfg.eval_samples]
    if not posts:
        raise ValueError(f"{cfg.data}: the {cfg.valid_split!r} split is empty; set eval_every=0 or another valid_split")
    budget = validation_budget(examples, getattr(processor, "tokenizer", processor), cfg.max_new_tokens)

    def validate(model) -> dict[str, float]:
        records = generate_predictions(model, processor, posts, batch_size=cfg.eval_batch_size,
                                       max_new_tokens=budget)
        result = score(posts, records, train_posts)
        out: dict[str, Any] = {"valid_posts": len(posts), "valid_budget": budget}
        for group in ("all", "present", "absent", "seen", "unseen"):
            for metric in ("f1@1", "f1@3", "f1@M"):
                if group in result:
                    out[f"valid_{metric}_{group}"] = result[group][metric]
        out["valid_reasoned_share"] = result["generation"]["reasoned_share"]
        out["valid_mean_think_tokens"] = result["generation"]["mean_think_tokens"]
        return out

    return validate


MMAP_THRESHOLD_MB = 32  # blocks this large or larger are mmapped (glibc's own starts at 0.125 MB and grows)
TRIM_THRESHOLD_MB = 64  # free heap top returned to the system beyond this


def pin_malloc_thresholds() -> bool:
    """Fix glibc's mmap and trim thresholds for this process (Linux/glibc; elsewhere a no-op returning False).

    glibc raises its mmap threshold from the blocks it sees freed. A Dynamic CoT run whose first steps trained
    short SFT rows then keeps mmapping, page-faulting and unmapping the larger CoT activations: its epoch 2
    measured 8-9% slower than a Fine-tune-CoT epoch 2 training the same rows, and 0-1.5% with the thresholds
    fixed (benchmarks/README.md; `bench_training.py --default-malloc` shows the unpinned cost). Numbers trained
    are unchanged.

    The values: blocks from MMAP_THRESHOLD_MB up are mmapped (each its own pages, returned when freed), smaller
    ones come from the heap, whose free top is returned beyond TRIM_THRESHOLD_MB. The first pinned values (32 MB,
    and a 2 GB trim threshold that never returned the heap) let a CoT run's peak RSS creep up step after step
    (v1 tokenizer: 2.0 GB after 4 steps, 3.5 GB after 60 and still rising). With a 64 MB trim threshold a CoT
    run (batch 32, bf16, the default model) stays flat at 1.46-1.49 GB over 180 steps. A 4 MB mmap threshold
    held it at 1.29 GB but mmapped the activations afresh every step: 71.4 s instead of 46.9 s for 60 steps, and
    lagged dyncot's epoch 2 went back to 1.09x Fine-tune-CoT's (32 MB: 1.025x).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc: nothing to pin
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from malloc.h
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD_MB << 20)) and bool(mallopt(m_trim_threshold,
                                                                                     TRIM_THRESHOLD_MB << 20))


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, log=print) -> Path:
    """Train one run into cfg.out (see the module docstring). Returns the run folder."""
    import torch
    from transformers import PrinterCallback, set_seed

    from mmkp_lib.formats import load_posts
    from mmkp_lib.models import load_model
    from mmkp_lib.models.hub import build_settings
    from mmkp_lib.records import first_posts
    from mmkp_lib.training.data import build_examples
    from mmkp_lib.training.trainer import build_trainer

    cfg.validate()
    if resume and overwrite:
        raise ConfigError("resume", True, "resume continues the run in out, overwrite deletes it: choose one")
    pin_malloc_thresholds()
    run = runs.check_out_folder(cfg.out)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if not main_process:  # one process speaks for the run
        log = lambda *_: None  # noqa: E731
    # Nothing is deleted here: an --overwrite replaces the old run only once the new run's inputs have loaded.
    inputs = (cfg.data, cfg.teacher_cache, cfg.model_cache)
    checkpoint, replace = None, False
    if resume:
        checkpoint = resume_checkpoint(run, cfg, log)
    elif run.exists() and any(run.iterdir()):
        if runs.is_run(run) and not overwrite:
            raise FileExistsError(f"{run} already holds a run; pass resume (--resume) to continue it or "
                                  f"overwrite (--overwrite) to delete it and start again")
        replace = runs.check_removable(run, keep=inputs, why="by overwrite (--overwrite)" if overwrite
                                       else "or written into")
    set_seed(cfg.seed)

    posts = first_posts(load_posts(cfg.data, split=cfg.train_split), cfg.limit_train, "limit_train")
    if not posts:
        raise ValueError(f"{cfg.data}: no posts in the {cfg.train_split!r} split")
    rationales = None
    if cfg.strategy != "sft":
        from mmkp_lib.teacher.cache import load_rationales

        rationales = load_rationales(cfg.teacher_cache, posts)
    examples, report = build_examples(posts, cfg.strategy, rationales)
    log(report.summary())
    check_rationale_coverage(report, cfg.teacher_cache, log)

    use_bf16 = cfg.use_bf16()
    # bf16 weights on a GPU (what TRL/LLaMA-Factory do for VLMs); on a CPU fp32 master weights under bf16 autocast,
    # because a tiny model's late, small AdamW updates vanish in bf16 weights
    on_gpu = torch.cuda.is_available()
    model, processor = load_model(cfg.model, seed=cfg.model_seed, cache_dir=cfg.model_cache, max_pixels=cfg.max_pixels,
                                  dtype=torch.bfloat16 if use_bf16 and on_gpu else None)
    set_seed(cfg.seed)  # LoRA's initialisation and the data order do not depend on how the model was built
    model = prepare_model(model, cfg)
    counts = trainable_parameters(model)
    log(f"model {cfg.model}: {counts['trainable']:,} of {counts['total']:,} parameters trainable"
        + (" (LoRA)" if cfg.lora else ""))

    validator = make_validator(cfg, processor, posts, examples) if cfg.eval_every else None
    if replace and main_process:  # every input has loaded: now the old run may go
        runs.remove_run(run, keep=inputs)
    trainer = build_trainer(cfg, model, processor, examples, validator=validator,
                            find_unused_parameters=any(p.image is None for p in posts))
    args, collator = trainer.args, trainer.data_collator
    trainer.remove_callback(PrinterCallback)  # our log lines go to train_log.jsonl; one short line per log below
    if not cfg.tqdm:
        trainer.add_callback(_ShortPrinter(log))

    if trainer.is_world_process_zero() and not resume:
        runs.write_config(run, cfg.to_dict(), kind="train", seed=cfg.seed, extra={
            "data_report": report.to_dict(), "parameters": counts, "world_size": args.world_size,
            "device": str(args.device), "bf16": use_bf16,
            "model_build": build_settings(cfg.model, seed=cfg.model_seed, cache_dir=cfg.model_cache),
        })
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.time() - t0

    final = run / runs.MODEL_DIR
    trainer.save_model(str(final))  # LoRA: the adapter (+ projector); else the full weights
    if trainer.is_world_process_zero():
        processor.save_pretrained(str(final))
        runs.update_config(run, result={
            "global_step": trainer.state.global_step, "train_loss": result.training_loss,
            "train_seconds": round(seconds, 2), "truncated_completions": collator.truncated,
            "dyncot_epoch_shares": trainer.dyncot.epoch_shares() if trainer.dyncot else None,
        })
    return run


class _ShortPrinter(TrainerCallback):
    """One printed line per log: step, loss, lr, speed (and the CoT share for dyncot)."""

    def __init__(self, log):
        self.log = log

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        parts = [f"step {state.global_step}/{state.max_steps}", f"loss {logs['loss']:.4f}"]
        if "learning_rate" in logs:
            parts.append(f"lr {logs['learning_rate']:.2e}")
        if "samples_per_s" in logs:
            parts.append(f"{logs['samples_per_s']:.1f} samples/s")
        if "cot_share" in logs:
            parts.append(f"CoT share {logs['cot_share']:.2f}")
        self.log("  ".join(parts))
