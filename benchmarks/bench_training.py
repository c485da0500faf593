"""Training speed and memory: the project's trainer against TRL's SFTTrainer, and Dynamic CoT's cost per epoch.

    .venv/bin/python benchmarks/bench_training.py --json bench.json   # every part, 2 repeats (under 20 min here)
    .venv/bin/python benchmarks/bench_training.py --parts dyncot --default-malloc   # part 2 with glibc's dynamic mmap threshold
    .venv/bin/python benchmarks/bench_training.py --repeats 2 --posts 256 --batch-size 8 --steps 40
    .venv/bin/python benchmarks/bench_training.py --quick          # seconds: a tiny model, one repeat, in-process

What runs, all on the same model, data and batch size:

1. Trainer vs TRL (strategy sft). The real `tiny` architecture (DEFAULT_TINY:
   BiT CNN tower (16 image tokens) + Llama 4x192, about 2.4M parameters) built from its config with
   random weights and no vision warm-up (the warm-up changes weights, not
   speed), vision tower frozen as `mmkp train` does by default, fp32 on CPU.
   - project: `KeyphraseTrainer` + `VLMCollator` + `build_examples`, put together
     exactly as `mmkp_lib.training.launch.train` does (TrainingArguments taken from
     a `TrainConfig`).
   - trl: `trl.SFTTrainer` with an `SFTConfig` holding the same optimisation
     arguments, a prompt-completion conversational dataset (prompt = the same
     student messages, completion = the same SFT target, images = the same
     files, decoded on access like our collator does) and `completion_only_loss=True`
     (TRL supports it for VLMs through `DataCollatorForVisionLanguageModeling`).
     Differences kept on purpose and printed: TRL's defaults `bf16=True` and
     `gradient_checkpointing=True` are switched off (our run is fp32 without
     checkpointing); TRL also trains the newline its chat template writes after
     `<|im_end|>` (one extra completion token per row) and computes its
     per-step entropy / token-accuracy metrics, which is its normal behaviour.
   Speed = samples/s between the end of step `--skip` and the last step (steady
   state: the first steps pay for lazy initialisation).
2. Dynamic CoT cost per epoch relative to Fine-tune-CoT: `cot`,
   `dyncot --scoring lagged` and `dyncot --scoring online` train two epochs over
   the same posts; each epoch is timed from the trainer's epoch-begin to its
   epoch-end event. gamma defaults to 1e9: every sample with a rationale is
   switched to its CoT target as soon as its SFT loss is known, so Dynamic CoT
   trains exactly Fine-tune-CoT's rows and the ratio is the cost of its
   machinery alone (both target versions collated, rows mixed, decisions
   logged; online also its no-grad scoring forward). Lagged scoring knows no
   loss in the first epoch (all rows SFT, cheaper), so epoch 2 is the one
   compared; `--gamma 0.4` measures the cost as a real run would see it.

3. The default model against the previous default (PREVIOUS_TINY: SigLIP tower
   with 64 image tokens, post-only v1 tokenizer), both without warm-up: SFT
   and CoT rows of the same posts at the experiment's batch (32), project
   trainer, samples/s ratio; and the default model's peak RSS per strategy
   (sft, cot, multitask, dyncot at gamma 0.4), each in its own process.

Every run is its own process (peak RSS = that process's VmHWM), the
runs alternate order between repeats (ABC, CBA, ...) and the means are
compared, because this 2-core machine is shared and noisy; the load average
is printed before and after. Each run uses one torch thread (`--threads`): with
two OpenMP threads on this busy machine one forward took 3.3 s instead of
0.12 s. With one thread the process's CPU time measures the work done whatever
the other processes do, so every figure is given per wall-clock second and per
CPU second, and the verdicts use CPU time where wall time is at the mercy of
the load (part 2). `--inprocess` (used by --quick) runs everything in this
process instead: then the peak RSS is the process's VmHWM reset before each run
(/proc/self/clear_refs), an approximation. Worker processes pin glibc's mmap
and trim thresholds as `mmkp_lib.training.launch.train` does
(`pin_malloc_thresholds`); `--default-malloc` leaves glibc's dynamic ones (the
README says what that costs lagged dyncot).

The targets: project >= 1.2x TRL samples/s; dyncot lagged within 5% and
online within 40% of Fine-tune-CoT per epoch; every strategy's peak RSS
under 2 GB.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULT_PREFIX = "BENCH_RESULT "


# ---------------------------------------------------------------- memory and load

def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def end_summary(summary: dict, json_path: str | None) -> None:
    """A benchmark's last lines: the load average at the end (printed and kept), the summary written to --json."""
    summary["load_end"] = load_average()
    print(f"load average (1/5/15 min) at end: {summary['load_end']}")
    if json_path:
        Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")


# ---------------------------------------------------------------- model and data

def ensure_model(folder: Path, quick: bool, previous: bool = False) -> Path:
    """The real `tiny` architecture without its warm-ups (or TEST_TINY for --quick), built once into `folder`;
    `previous`: the default before the cost work (PREVIOUS_TINY: SigLIP tower, 64 image tokens, v1 tokenizer)."""
    from mmkp_lib.models import DEFAULT_TINY, TEST_TINY, build_tiny
    from mmkp_lib.models.tiny import PREVIOUS_TINY, read_build_info

    cfg = replace(TEST_TINY if quick else DEFAULT_TINY, warmup_steps=0, lm_warmup_steps=0)  # warm-ups: weights, not speed
    if previous:
        cfg = replace(cfg, vision="siglip", tokenizer="v1", vocab_size=PREVIOUS_TINY.vocab_size) if quick else \
            replace(PREVIOUS_TINY, warmup_steps=0, lm_warmup_steps=0)
    info = read_build_info(folder)
    if info is None or info.get("config") != cfg.record():  # none yet, or built from an older architecture
        print(f"building the {'TEST_TINY' if quick else 'tiny'} architecture (no vision warm-up) into {folder} ...",
              flush=True)
        if folder.exists():
            shutil.rmtree(folder)
        build_tiny(folder, seed=0, config=cfg)
    return folder


def train_posts(data: str, n: int):
    from mmkp_lib.formats import load_posts

    posts = load_posts(data, split="train")[:n]
    if len(posts) < n:
        raise ValueError(f"{data}: asked for {n} training posts, the train split has {len(posts)}")
    return posts


class TrainedTokens:
    """Counts the rows, non-pad tokens and completion tokens of the batches a trainer's compute_loss receives.

    Counted where the loss is computed, so Dynamic CoT's mixed batches (built
    after collation) are counted as trained, and both trainers are counted alike.
    """

    def __init__(self):
        self.rows = self.tokens = self.completion = 0

    def attach(self, trainer) -> "TrainedTokens":
        inner = trainer.compute_loss

        def compute_loss(model, inputs, *args, **kwargs):
            if model.training:
                self.rows += int(inputs["input_ids"].shape[0])
                self.tokens += int(inputs["attention_mask"].sum())
                self.completion += int((inputs["labels"] != -100).sum())
            return inner(model, inputs, *args, **kwargs)

        trainer.compute_loss = compute_loss
        return self


class StepTimer:
    """TrainerCallback recording at every step end the wall time, this process's CPU time and the counts so far;
    the same clocks at every epoch's begin and end."""

    def __new__(cls, counts: TrainedTokens):  # the transformers import stays inside the worker
        from transformers import TrainerCallback

        class _StepTimer(TrainerCallback):
            def __init__(self):
                self.counts = counts
                self.steps: list[tuple[float, float, int, int, int]] = []  # (wall, cpu, rows, tokens, completion)
                self.epochs: list[dict] = []

            def on_step_end(self, args, state, control, **kw):
                c = self.counts
                self.steps.append((time.perf_counter(), time.process_time(), c.rows, c.tokens, c.completion))

            def on_epoch_begin(self, args, state, control, **kw):
                self.epochs.append({"wall0": time.perf_counter(), "cpu0": time.process_time(), "first": len(self.steps)})

            def on_epoch_end(self, args, state, control, **kw):
                self.epochs[-1].update(wall1=time.perf_counter(), cpu1=time.process_time(), last=len(self.steps))

            def rates(self, skip: int) -> dict[str, float]:
                """Per wall second: rows, tokens, completion tokens; rows per CPU second; from the end of step
                `skip` to the last step."""
                skip = min(skip, max(len(self.steps) - 2, 0))
                if len(self.steps) - 1 <= skip:
                    return {"samples_per_s": math.nan, "tokens_per_s": math.nan, "completion_tokens_per_s": math.nan,
                            "samples_per_cpu_s": math.nan}
                (w0, u0, r0, k0, c0), (w1, u1, r1, k1, c1) = self.steps[skip], self.steps[-1]
                return {"samples_per_s": (r1 - r0) / (w1 - w0), "tokens_per_s": (k1 - k0) / (w1 - w0),
                        "completion_tokens_per_s": (c1 - c0) / (w1 - w0),
                        "samples_per_cpu_s": (r1 - r0) / max(u1 - u0, 1e-9),
                        "timed_steps": len(self.steps) - 1 - skip, "timed_seconds": w1 - w0}

            def epoch_summaries(self) -> list[dict]:
                """Per epoch: wall and CPU seconds, steps, and the median step's wall and CPU seconds."""
                out = []
                for e in self.epochs:
                    if "wall1" not in e:
                        continue
                    # a step's duration: from the previous step's end (or the epoch's begin) to its end
                    marks = [(e["wall0"], e["cpu0"])] + [(w, u) for w, u, *_ in self.steps[e["first"]:e["last"]]]
                    walls = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
                    cpus = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
                    out.append({"seconds": round(e["wall1"] - e["wall0"], 3), "cpu_seconds": round(e["cpu1"] - e["cpu0"], 3),
                                "steps": e["last"] - e["first"],
                                "median_step_s": round(statistics.median(walls), 4) if walls else math.nan,
                                "median_step_cpu_s": round(statistics.median(cpus), 4) if cpus else math.nan})
                return out

        return _StepTimer()


def trl_arguments(cfg) -> dict:
    """TrainConfig.training_arguments() (what the project's trainer gets) as keyword arguments for TRL's SFTConfig,
    so both trainers optimise with the same settings."""
    import dataclasses

    args = cfg.training_arguments(checkpoints=False)
    kwargs = {f.name: getattr(args, f.name) for f in dataclasses.fields(args) if f.init}
    kwargs["gradient_checkpointing"] = bool(cfg.gradient_checkpointing)  # TRL's default True; ours off
    return kwargs


def token_figures(data: str, teacher_cache: str, n_posts: int) -> dict:
    """Tokens per training row (prompt with its image tokens + target, as the collator builds it) for SFT and CoT
    rows, and oracle CoT target tokens per whitespace word, for the default tiny model and the previous default
    (PREVIOUS_TINY: tokenizer v1, post words only; SigLIP tower, 64 image tokens)."""
    import statistics

    from mmkp_lib.models.tiny import DEFAULT_TINY, PREVIOUS_TINY, make_processor
    from mmkp_lib.models.tokenizer import benchmark_vocabulary, train_tokenizer
    from mmkp_lib.prompts import cot_target
    from mmkp_lib.teacher.cache import load_rationales
    from mmkp_lib.training.collator import VLMCollator
    from mmkp_lib.training.data import ExampleDataset, build_examples

    posts = train_posts(data, n_posts)
    rationales = load_rationales(teacher_cache, posts)
    targets = [cot_target(rationales[p.id], p.keyphrases) for p in posts if p.id in rationales]
    words = sum(len(t.split()) for t in targets)
    out = {}
    for name, cfg in {"default": DEFAULT_TINY, "previous": PREVIOUS_TINY}.items():
        tok = train_tokenizer(benchmark_vocabulary(cfg.tokenizer), vocab_size=cfg.vocab_size, version=cfg.tokenizer)
        collator = VLMCollator(make_processor(tok, cfg), max_length=512)
        rows = {}
        for strategy in ("sft", "cot"):
            dataset = ExampleDataset(build_examples(posts, strategy, rationales if strategy == "cot" else None)[0])
            rows[strategy] = statistics.mean(int(collator([dataset[i]])["attention_mask"].sum())
                                             for i in range(len(dataset)))
        out[name] = {"tokens_per_row": rows, "image_tokens": cfg.image_tokens, "vocab": len(tok),
                     "cot_target_tokens_per_word": sum(len(tok(t, add_special_tokens=False)["input_ids"])
                                                       for t in targets) / words}
    return out


def run_config(spec: dict, out: str):
    from mmkp_lib.training.config import DEFAULT_GAMMA, TrainConfig

    return TrainConfig(
        data=spec["data"], out=out, strategy=spec["strategy"], teacher_cache=spec.get("teacher_cache"),
        gamma=spec.get("gamma", DEFAULT_GAMMA), scoring=spec.get("scoring", "online"), model=spec["model_dir"],
        batch_size=spec["batch_size"], max_steps=spec.get("steps") or -1, epochs=spec.get("epochs") or 1.0,
        max_length=spec.get("max_length", 512), log_every=spec.get("log_every", 10), seed=0,
        bf16=spec.get("bf16"), freeze_vision=spec.get("freeze_vision", True),
        gradient_checkpointing=spec.get("gradient_checkpointing", False), num_workers=spec.get("num_workers", 0),
    )


def build_model(spec: dict, cfg):
    """(model, processor) from the built folder, prepared as launch.train prepares it (frozen tower, dtype)."""
    import torch

    from mmkp_lib.models import load_model
    from mmkp_lib.training.launch import prepare_model

    dtype = torch.bfloat16 if cfg.bf16 else None
    device = "cuda" if torch.cuda.is_available() else None
    model, processor = load_model(spec["model_dir"], dtype=dtype, device=device)
    return prepare_model(model, cfg), processor


def project_trainer(spec: dict, out: str, model=None, processor=None, callbacks=(), posts=None, rationales=None):
    """The project's KeyphraseTrainer for `spec`, built as mmkp_lib.training.launch.train builds it.

    `model`/`processor`, `posts` and `rationales` (post id -> think text) may be
    given (gpu_check.py builds them in memory); otherwise they are loaded as
    the spec says.
    """
    from mmkp_lib.teacher.cache import load_rationales
    from mmkp_lib.training.data import build_examples
    from mmkp_lib.training.trainer import build_trainer

    cfg = run_config(spec, out)
    posts = posts if posts is not None else train_posts(spec["data"], spec["posts"])
    if rationales is None and cfg.strategy != "sft":
        rationales = load_rationales(cfg.teacher_cache, posts)
    examples, _ = build_examples(posts, cfg.strategy, rationales)
    if model is None:
        model, processor = build_model(spec, cfg)
    return build_trainer(cfg, model, processor, examples, callbacks=callbacks, checkpoints=False)


def trl_dataset(posts, strategy: str, rationales):
    """A prompt-completion conversational datasets.Dataset of the same posts and targets; images by path."""
    from datasets import Dataset, Image, List

    from mmkp_lib.prompts import student_messages
    from mmkp_lib.training.data import build_examples

    examples, _ = build_examples(posts, strategy, rationales)
    rows = {"prompt": [], "completion": [], "images": []}
    for e in examples:
        rows["prompt"].append(student_messages(e.post.text, True))
        rows["completion"].append([{"role": "assistant", "content": [{"type": "text", "text": e.target}]}])
        rows["images"].append([e.post.image])
    return Dataset.from_dict(rows).cast_column("images", List(Image()))


def trl_trainer(spec: dict, out: str, callbacks=()):
    from trl import SFTConfig, SFTTrainer

    from mmkp_lib.teacher.cache import load_rationales

    cfg = run_config(spec, out)
    posts = train_posts(spec["data"], spec["posts"])
    if any(p.image is None for p in posts):
        raise ValueError("the TRL comparison expects every post to have an image (the embedded benchmark's do)")
    rationales = load_rationales(cfg.teacher_cache, posts) if cfg.strategy != "sft" else None
    model, processor = build_model(spec, cfg)
    sft_args = SFTConfig(
        **trl_arguments(cfg), max_length=cfg.max_length, completion_only_loss=True,
        packing=False, padding_free=False,
    )
    return SFTTrainer(model=model, args=sft_args, train_dataset=trl_dataset(posts, cfg.strategy, rationales),
                      processing_class=processor, callbacks=list(callbacks))


def run_one(spec: dict) -> dict:
    """Train one configuration; returns its timings, token counts and memory."""
    import torch
    from transformers import PrinterCallback

    from mmkp_lib.models.tiny import default_threads
    from mmkp_lib.training.trainer import peak_rss_mb  # VmHWM: since reset_peak_rss, else the process's own life

    torch.set_num_threads(spec.get("threads") or default_threads())
    with tempfile.TemporaryDirectory(prefix="bench-train-") as out:
        counts = TrainedTokens()
        timer = StepTimer(counts)
        trainer = trl_trainer(spec, out, [timer]) if spec["trainer"] == "trl" else project_trainer(spec, out, callbacks=[timer])
        trainer.remove_callback(PrinterCallback)  # as launch.train does: no dict printed per log step
        counts.attach(trainer)
        rss_before = current_rss_mb()
        t0 = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - t0
        shares = trainer.dyncot.epoch_shares() if getattr(trainer, "dyncot", None) is not None else None
    rates = timer.rates(spec.get("skip", 3))
    return {
        "name": spec["name"], "steps": len(timer.steps), "train_seconds": round(total, 3),
        **{k: round(v, 3) for k, v in rates.items()}, "epochs": timer.epoch_summaries(),
        "rows": counts.rows, "tokens_per_row": round(counts.tokens / max(counts.rows, 1), 2),
        "completion_tokens_per_row": round(counts.completion / max(counts.rows, 1), 2),
        "cot_share_per_epoch": shares, "rss_before_train_mb": round(rss_before, 1),
        "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(),
        "load_after": load_average(),
    }


# ---------------------------------------------------------------- orchestration

# glibc malloc raises its mmap threshold as it sees large blocks freed. A process that trained short SFT rows
# first (dyncot's first epoch) then keeps mmapping, page-faulting and unmapping the larger CoT activations at every
# step: dyncot-lagged's epoch 2 measured 8-9% slower than cot's in a fresh process, 0-1% with the threshold pinned.
# launch.train pins them (pin_malloc_thresholds); the workers here do the same unless --default-malloc.


def run_in_subprocess(spec: dict, default_malloc: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(dict(spec, default_malloc=default_malloc))]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    raise RuntimeError(f"benchmark run {spec['name']} failed (exit {proc.returncode}):\n"
                       f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")


def run_in_process(spec: dict) -> dict:
    reset_peak_rss()  # where Linux refuses it, VmHWM covers the process's life
    return run_one(spec)


def alternate(specs: list[dict], repeats: int, runner, log=print) -> dict[str, list[dict]]:
    """Run every spec `repeats` times, order reversed every other repeat; results by name."""
    results: dict[str, list[dict]] = {s["name"]: [] for s in specs}
    for r in range(repeats):
        order = specs if r % 2 == 0 else specs[::-1]
        for spec in order:
            res = runner(spec)
            results[spec["name"]].append(res)
            epochs = " ".join(f"e{i + 1} {e['seconds']:.1f}s (cpu {e['cpu_seconds']:.1f})"
                              for i, e in enumerate(res["epochs"]))
            log(f"  repeat {r + 1} {spec['name']:<14} {res['samples_per_s']:6.2f} samples/s "
                f"({res['samples_per_cpu_s']:.2f} per CPU s)  {epochs}  peak RSS {res['peak_rss_mb']:.0f} MB  "
                f"load {res['load_after']}", flush=True)
    return results


def mean(values):
    """Mean of the repeats: with an even number of ABC/CBA repeats every configuration sits at the same mean
    position in the sequence, so a load that drifts linearly over the run cancels out of the comparison."""
    values = [v for v in values if v == v]
    return statistics.fmean(values) if values else math.nan


def paired_ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b) if y]


def _fmt(values, digits=2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def report_trl(results: dict[str, list[dict]], out=print) -> dict:
    """Part 1's table and ratios (wall-clock and CPU-time based)."""
    p, t = results["project-sft"], results["trl-sft"]
    out("\n1. Trainer vs TRL SFTTrainer (strategy sft, same model, data, batch)")
    out(f"   {'run':<13}{'samples/s':>10}{'per CPU s':>10}  {'each repeat (samples/s)':<26}{'tokens/row':>11}"
        f"{'compl./row':>11}{'RSS before':>11}{'peak RSS':>9}")
    for name, rs in (("project-sft", p), ("trl-sft", t)):
        out(f"   {name:<13}{mean([r['samples_per_s'] for r in rs]):>10.2f}"
            f"{mean([r['samples_per_cpu_s'] for r in rs]):>10.2f}  {_fmt([r['samples_per_s'] for r in rs]):<26}"
            f"{rs[0]['tokens_per_row']:>11.1f}{rs[0]['completion_tokens_per_row']:>11.1f}"
            f"{mean([r['rss_before_train_mb'] for r in rs]):>9.0f}MB{mean([r['peak_rss_mb'] for r in rs]):>7.0f}MB")
    summary = {}
    for key, label in (("samples_per_s", "wall clock"), ("samples_per_cpu_s", "CPU time")):
        a, b = [r[key] for r in p], [r[key] for r in t]
        ratio = mean(a) / mean(b)
        summary[key] = {"ratio": ratio, "per_repeat": paired_ratios(a, b)}
        out(f"   project / TRL samples/s ({label}): {ratio:.3f} (means; per repeat {_fmt(paired_ratios(a, b), 3)})"
            f"  -> target >= 1.2: {'met' if ratio >= 1.2 else 'MISSED'}")
    return summary


def report_models(results: dict[str, list[dict]], steps: int, batch: int, out=print) -> dict:
    """Part 3's table: samples/s and peak RSS of every run, the default / previous samples/s ratio for SFT and CoT
    rows, and the default model's peak RSS per strategy."""
    out(f"\n3. The default model against the previous one (SigLIP, 64 image tokens, v1 tokenizer), {steps} steps at "
        f"batch {batch}, project trainer")
    out(f"   {'run':<18}{'samples/s':>10}{'per CPU s':>10}{'tokens/row':>11}{'peak RSS':>10}")
    for name, rs in results.items():
        out(f"   {name:<18}{mean([r['samples_per_s'] for r in rs]):>10.2f}{mean([r['samples_per_cpu_s'] for r in rs]):>10.2f}"
            f"{rs[0]['tokens_per_row']:>11.1f}{mean([r['peak_rss_mb'] for r in rs]):>8.0f}MB")
    ratios = {}
    for strategy in ("sft", "cot"):
        new, old = results[f"default-{strategy}"], results[f"previous-{strategy}"]
        ratios[strategy] = {key: mean([r[key] for r in new]) / mean([r[key] for r in old])
                            for key in ("samples_per_s", "samples_per_cpu_s")}
        out(f"   default / previous samples/s, {strategy} rows: {ratios[strategy]['samples_per_s']:.2f} wall, "
            f"{ratios[strategy]['samples_per_cpu_s']:.2f} CPU")
    rss = {name.split("-", 1)[1]: max(r["peak_rss_mb"] for r in rs) for name, rs in results.items()
           if name.startswith("default-")}
    worst = max(rss.values())
    out(f"   peak RSS per strategy (default model, max over repeats): "
        f"{', '.join(f'{k} {v:.0f} MB' for k, v in rss.items())}  -> target < 2000 MB: "
        f"{'met' if worst < 2000 else 'MISSED'}")
    return {"default_vs_previous": {k: v["samples_per_s"] for k, v in ratios.items()},
            "default_vs_previous_cpu": {k: v["samples_per_cpu_s"] for k, v in ratios.items()}, "peak_rss_mb": rss}


def report_dyncot(results: dict[str, list[dict]], gamma, out=print) -> dict:
    """Part 2's table and ratios: epoch 2 wall, CPU and median-step times of each dyncot scoring against cot."""
    out(f"\n2. Dynamic CoT cost per epoch relative to Fine-tune-CoT (gamma={gamma}; epoch 2 compared)")
    out(f"   {'run':<15}{'e1 wall s':>10}{'e2 wall s':>10}{'e2 CPU s':>9}{'e2 median step':>15}  "
        f"{'each repeat (e2 wall)':<22}{'CoT share e1/e2':>16}{'peak RSS':>9}")

    def ep(r, i, key):
        return r["epochs"][i][key] if len(r["epochs"]) > i else math.nan

    for name, rs in results.items():
        shares = rs[0]["cot_share_per_epoch"]
        share_txt = "/".join(f"{shares[k]:.2f}" for k in sorted(shares, key=int)) if shares else "1 (all CoT)"
        out(f"   {name:<15}{mean([ep(r, 0, 'seconds') for r in rs]):>10.2f}"
            f"{mean([ep(r, 1, 'seconds') for r in rs]):>10.2f}{mean([ep(r, 1, 'cpu_seconds') for r in rs]):>9.2f}"
            f"{1000 * mean([ep(r, 1, 'median_step_s') for r in rs]):>12.0f} ms  "
            f"{_fmt([ep(r, 1, 'seconds') for r in rs], 1):<22}{share_txt:>16}"
            f"{mean([r['peak_rss_mb'] for r in rs]):>7.0f}MB")
    summary = {}
    for name, target in (("dyncot-lagged", 1.05), ("dyncot-online", 1.40)):
        summary[name] = {}
        parts = []
        for key, label in (("seconds", "wall"), ("cpu_seconds", "CPU"), ("median_step_s", "median step")):
            d, c = [ep(r, 1, key) for r in results[name]], [ep(r, 1, key) for r in results["cot"]]
            ratio = mean(d) / mean(c)
            summary[name][key] = {"ratio": ratio, "per_repeat": paired_ratios(d, c)}
            parts.append(f"{label} {ratio:.3f}")
        e1 = mean([ep(r, 0, "seconds") for r in results[name]]) / mean([ep(r, 0, "seconds") for r in results["cot"]])
        summary[name]["epoch1_wall_ratio"] = e1
        verdict = "met" if summary[name]["cpu_seconds"]["ratio"] <= target else "MISSED"
        out(f"   {name} / cot, epoch 2: {', '.join(parts)} (per repeat, wall: "
            f"{_fmt(summary[name]['seconds']['per_repeat'], 3)}; epoch 1 wall {e1:.3f})"
            f"  -> target <= {target:.2f} (CPU): {verdict}")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/synth", help="embedded benchmark folder (train split used)")
    ap.add_argument("--teacher-cache", default="cache/teacher/synth/oracle-facts.jsonl", help="accepted rationales")
    ap.add_argument("--model-dir", default=None, help="built model folder (default cache/bench/tiny-nowarmup-seed0)")
    ap.add_argument("--posts", type=int, default=160, help="training posts used (one epoch of part 2)")
    ap.add_argument("--batch-size", type=int, default=8, help="samples per step, every run")
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps of part 1's runs")
    ap.add_argument("--skip", type=int, default=3, help="first steps left out of samples/s (lazy initialisation)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs of each configuration, alternating order (even: drift cancels in the means)")
    ap.add_argument("--gamma", default="1e9", help="dyncot gamma of part 2 (1e9: all rows CoT, machinery cost only)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per run (0: the cores available). 1 by default: with 2 OpenMP threads on a "
                         "busy 2-core machine one forward took 3.3 s instead of 0.12 s")
    ap.add_argument("--parts", default="tokens,trl,models,dyncot",
                    help="which parts: tokens (tokens per row, seconds), trl, models (the default model against the "
                         "previous one, and every strategy's peak RSS), dyncot (comma-separated)")
    ap.add_argument("--model-steps", type=int, default=30, help="optimizer steps of part 3's runs")
    ap.add_argument("--model-batch-size", type=int, default=32, help="part 3's batch (the experiment's)")
    ap.add_argument("--inprocess", action="store_true", help="run in this process (peak RSS approximate)")
    ap.add_argument("--default-malloc", action="store_true",
                    help="workers keep glibc's dynamic mmap/trim thresholds instead of pinning them as train() does: "
                         "shows the allocator effect of the SFT-then-CoT order on part 2 (see README)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode: TEST_TINY model, 16 posts, batch 4, 4 steps, 1 repeat, in-process")
    ap.add_argument("--json", default=None, help="also write every result to this JSON file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        spec = json.loads(args.worker)
        if not spec.pop("default_malloc", False):
            from mmkp_lib.training.launch import pin_malloc_thresholds

            pin_malloc_thresholds()
        print(RESULT_PREFIX + json.dumps(run_one(spec)), flush=True)
        return 0

    if args.quick:
        args.posts, args.batch_size, args.steps, args.skip, args.repeats = 16, 4, 4, 1, 1
        args.model_steps, args.model_batch_size = 4, 4
        args.inprocess = True
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts <= {"tokens", "trl", "models", "dyncot"}:
        ap.error(f"--parts: tokens, trl, models and/or dyncot, got {args.parts!r}")
    for path in [args.data] + ([args.teacher_cache] if parts & {"dyncot", "tokens", "models"} else []):
        if not Path(path).exists():
            ap.error(f"{path} does not exist: run `mmkp synth --out data/synth` and `mmkp teacher --data data/synth "
                     f"--backend oracle --out cache/teacher/synth/oracle-facts.jsonl` first (or pass --data/--teacher-cache)")
    model_dir = Path(args.model_dir or ROOT / "cache" / "bench" / ("tiny-test-seed0" if args.quick else "tiny-nowarmup-seed0"))
    ensure_model(model_dir, args.quick)

    import torch

    from mmkp_lib.models.tiny import default_threads

    base = {"data": args.data, "teacher_cache": args.teacher_cache, "model_dir": str(model_dir),
            "posts": args.posts, "batch_size": args.batch_size, "skip": args.skip, "threads": args.threads}
    print(f"bench_training: {args.posts} posts of {args.data}, batch {args.batch_size}, model {model_dir.name}, "
          f"torch {torch.__version__}, {args.threads or default_threads()} threads, "
          f"{'in-process' if args.inprocess else 'one process per run'}"
          f"{' (glibc default malloc thresholds)' if args.default_malloc else ''}, {args.repeats} repeat(s)")
    print(f"load average (1/5/15 min) at start: {load_average()} on {os.cpu_count()} cores", flush=True)
    if args.default_malloc and args.inprocess:
        ap.error("--default-malloc applies to worker processes; it cannot be combined with --inprocess/--quick")
    runner = run_in_process if args.inprocess else (lambda spec: run_in_subprocess(spec, args.default_malloc))
    summary: dict = {"args": vars(args), "load_start": load_average()}

    if "tokens" in parts:
        figures = token_figures(args.data, args.teacher_cache, args.posts)
        print("\npart 0: tokens per training row (prompt incl. image tokens + target)")
        for name, f in figures.items():
            print(f"  {name:<9} SFT {f['tokens_per_row']['sft']:6.1f}  CoT {f['tokens_per_row']['cot']:6.1f}  "
                  f"CoT target {f['cot_target_tokens_per_word']:.2f} tokens/word  image tokens {f['image_tokens']}  "
                  f"vocabulary {f['vocab']}")
        summary.update(tokens=figures, image_tokens=figures["default"]["image_tokens"],
                       tokens_per_row=figures["default"]["tokens_per_row"],
                       cot_target_tokens_per_word=figures["default"]["cot_target_tokens_per_word"])

    if "trl" in parts:
        specs = [dict(base, name="project-sft", trainer="project", strategy="sft", steps=args.steps),
                 dict(base, name="trl-sft", trainer="trl", strategy="sft", steps=args.steps)]
        print(f"\nrunning part 1: {args.steps} steps each, skip {args.skip}")
        res = alternate(specs, args.repeats, runner)
        summary["trl"] = {"results": res, **report_trl(res)}
        summary["project_vs_trl"] = summary["trl"]["samples_per_s"]["ratio"]
    if "models" in parts:
        previous_dir = ensure_model(model_dir.with_name(model_dir.name.replace("tiny", "tiny-previous", 1)),
                                    args.quick, previous=True)
        batch = args.model_batch_size
        specs = [dict(base, name=f"{model}-{strategy}", trainer="project", strategy=strategy, steps=args.model_steps,
                      batch_size=batch, model_dir=str(folder), gamma="0.4")
                 for model, folder in (("default", model_dir), ("previous", previous_dir))
                 for strategy in ("sft", "cot")]
        specs += [dict(base, name=f"default-{strategy}", trainer="project", strategy=strategy, steps=args.model_steps,
                       batch_size=batch, gamma="0.4") for strategy in ("multitask", "dyncot")]
        print(f"\nrunning part 3: {args.model_steps} steps at batch {batch} per run, skip {args.skip}", flush=True)
        res = alternate(specs, args.repeats, runner)
        summary["models"] = {"results": res, **report_models(res, args.model_steps, batch)}
        summary["peak_rss_mb"] = summary["models"]["peak_rss_mb"]
        summary["default_vs_previous"] = summary["models"]["default_vs_previous"]
    if "dyncot" in parts:
        specs = [dict(base, name="cot", trainer="project", strategy="cot", epochs=2),
                 dict(base, name="dyncot-lagged", trainer="project", strategy="dyncot", scoring="lagged",
                      gamma=args.gamma, epochs=2),
                 dict(base, name="dyncot-online", trainer="project", strategy="dyncot", scoring="online",
                      gamma=args.gamma, epochs=2)]
        print(f"\nrunning part 2: 2 epochs of {math.ceil(args.posts / args.batch_size)} steps each")
        res = alternate(specs, args.repeats, runner)
        summary["dyncot"] = {"results": res, **report_dyncot(res, args.gamma)}
    print()
    end_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
