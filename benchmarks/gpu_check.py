"""GPU check: a random-init ~0.5B LLaVA-style VLM trained a few dozen steps per strategy in bf16; speed and MFU.

    python3 benchmarks/gpu_check.py                    # on a CUDA GPU: sft, cot, multitask, dyncot (online), ~2-4 min
    python3 benchmarks/gpu_check.py --steps 40 --batch-size 16 --strategies sft,dyncot
    .venv/bin/python benchmarks/gpu_check.py --cpu-dry # anywhere: the same code path at tiny size on the CPU (seconds)

Without a GPU (and without --cpu-dry) it stops at once with exit status 2 and says so.

What it does, with no download:
1. Data: a small embedded benchmark (`mmkp_lib.synth`, 64 px images) written to a
   temporary folder, and the oracle teacher's rationales for its posts
   (`mmkp_lib.teacher.oracle.write_rationale`), so cot/multitask/dyncot have
   CoT targets about 200 tokens long.
2. Model: LLaVA built from a config with random weights, directly on the GPU:
   SigLIP 12 x 768 on 224 px images with 16 px patches (196 image tokens) and a
   Llama 24 x 1024 (16 heads, MLP 4096) language model with the project's BPE
   tokenizer (~1.9k tokens): about 0.49B parameters, bf16 weights, every
   parameter trained (vision tower included, so 6 * params * tokens is the
   right count of training FLOPs).
3. For each strategy, a fresh model (same seed) trained `--steps` optimizer
   steps by the project's `KeyphraseTrainer`, put together as `mmkp train`
   does (bench_training.project_trainer) with bf16=True. dyncot uses online
   scoring with gamma=q0.5 (the half of each batch with the lowest SFT loss is
   switched to CoT), so its batches are a real mix whatever the random model's
   losses are.
4. Printed per strategy: samples/s, tokens/s (non-pad tokens of the trained
   rows, image tokens included), completion tokens per row, peak GPU memory,
   and MFU = 6 * params * tokens/s / peak bf16 FLOP/s. Peaks used (dense bf16,
   no sparsity): H100 SXM and H200 989e12, H100 PCIe 756e12, A100 312e12, L40S
   362e12, L4 121e12; another GPU needs --peak-tflops. dyncot's extra no-grad
   scoring forward (2 * params * SFT tokens) is not in the MFU numerator: the
   MFU counts trained tokens only. The first `--skip` steps are not timed.

On the lent GPU machines the project's dependencies are not all installed
(transformers there is older than the project's pin): carry the project's
transformers wheel (see benchmarks/README.md), then run from the repository root.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

STRATEGIES = ("sft", "cot", "multitask", "dyncot")

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, by a substring of torch.cuda.get_device_name().
PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # SXM / HBM3
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)


@dataclass(frozen=True)
class ModelSize:
    """The LLaVA layout built for the check (mmkp_lib.models.tiny.TinyConfig fields)."""

    image_size: int
    patch_size: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_intermediate: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    max_positions: int


GPU_SIZE = ModelSize(224, 16, 768, 12, 12, 3072, 1024, 24, 16, 4096, 1024)  # ~0.49B parameters
DRY_SIZE = ModelSize(32, 8, 32, 1, 2, 64, 64, 2, 2, 128, 512)  # seconds on a CPU


def peak_flops(device_name: str, override_tflops: float | None) -> tuple[float | None, str]:
    if override_tflops:
        return override_tflops * 1e12, f"{override_tflops:g} TFLOP/s (--peak-tflops)"
    for key, flops in PEAK_BF16:
        if key in device_name:
            return flops, f"{flops / 1e12:g} TFLOP/s dense bf16 ({key})"
    return None, "unknown for this GPU: pass --peak-tflops for an MFU"


def make_data(folder: Path, n_train: int, image_size: int = 64):
    """(train posts, {post id: oracle rationale}) of a freshly generated small embedded benchmark."""
    from mmkp_lib.formats import load_posts
    from mmkp_lib.synth import SynthConfig, generate
    from mmkp_lib.teacher.oracle import write_rationale

    generate(SynthConfig(n_train=n_train, n_valid=8, n_test=8, image_size=image_size, seed=0), folder, progress=False)
    posts = load_posts(str(folder), split="train")
    return posts, {p.id: write_rationale(p, seed=0) for p in posts}


def build_model(size: ModelSize, device: str, dtype):
    """(model, processor): LLaVA with random weights created on `device`, and its processor (offline tokenizer)."""
    import torch

    from mmkp_lib.models.tiny import TinyConfig, make_processor, new_vlm, set_generation_tokens
    from mmkp_lib.models.tokenizer import benchmark_vocabulary, train_tokenizer

    cfg = TinyConfig(**asdict(size), vision="siglip", warmup_steps=0)  # a ViT tower: the GPU-sized layout
    tok = train_tokenizer(benchmark_vocabulary(), vocab_size=cfg.vocab_size)
    processor = make_processor(tok, cfg)
    torch.manual_seed(0)
    with torch.device(device):
        model = new_vlm(cfg, tok)
    model.to(dtype)
    set_generation_tokens(model, tok)
    return model, processor


def check_one(strategy: str, args, size: ModelSize, posts, rationales, device: str, dtype, log=print) -> dict:
    import torch
    from transformers import PrinterCallback

    from bench_training import StepTimer, TrainedTokens, project_trainer

    model, processor = build_model(size, device, dtype)
    params = sum(p.numel() for p in model.parameters())
    spec = {"name": strategy, "data": "generated", "teacher_cache": "oracle (in memory)", "model_dir": "in-memory",
            "strategy": strategy, "batch_size": args.batch_size, "steps": args.steps, "log_every": args.steps,
            "max_length": size.max_positions, "bf16": device == "cuda", "freeze_vision": False,
            "gamma": "q0.5", "scoring": "online", "num_workers": args.num_workers}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as out:
        counts = TrainedTokens()
        timer = StepTimer(counts)
        trainer = project_trainer(spec, out, model=model, processor=processor, callbacks=[timer], posts=posts,
                                  rationales=rationales if strategy != "sft" else None)
        trainer.remove_callback(PrinterCallback)
        counts.attach(trainer)
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
        rates = timer.rates(args.skip)
        shares = trainer.dyncot.epoch_shares() if trainer.dyncot is not None else None
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")
    out = {"strategy": strategy, "params": params, "steps": len(timer.steps), "seconds": seconds,
           "loss": result.training_loss, "peak_gpu_gib": peak_mem,
           "tokens_per_row": counts.tokens / max(counts.rows, 1),
           "completion_per_row": counts.completion / max(counts.rows, 1), "cot_share": shares, **rates}
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, from sft,cot,multitask,dyncot")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per strategy")
    ap.add_argument("--skip", type=int, default=5, help="first steps not timed (CUDA/cuBLAS warm-up)")
    ap.add_argument("--batch-size", type=int, default=16, help="samples per step")
    ap.add_argument("--posts", type=int, default=512, help="generated training posts")
    ap.add_argument("--num-workers", type=int, default=4, help="DataLoader workers (collation runs on the CPU)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s of an unlisted GPU")
    ap.add_argument("--cpu-dry", action="store_true",
                    help="no GPU: run the same code path on the CPU with a tiny model (fp32, 3 steps, batch 4)")
    args = ap.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad or not strategies:
        ap.error(f"--strategies: unknown {bad}; choose from {','.join(STRATEGIES)}")

    import torch
    import transformers

    if args.cpu_dry:
        device, dtype, size = "cpu", torch.float32, DRY_SIZE
        torch.set_num_threads(1)  # a tiny model on a shared CPU: more threads only contend
        args.steps, args.skip, args.batch_size, args.posts, args.num_workers = 3, 1, 4, 16, 0
        flops, flops_text = None, "n/a (CPU dry run)"
    elif not torch.cuda.is_available():
        print("gpu_check.py: no CUDA GPU is visible to torch (torch.cuda.is_available() is False), so the 0.5B bf16 "
              "check cannot run here. Run it on a GPU machine, or pass --cpu-dry to exercise the same code path "
              "at tiny size on the CPU.", file=sys.stderr)
        return 2
    else:
        device, dtype, size = "cuda", torch.bfloat16, GPU_SIZE
        name = torch.cuda.get_device_name(0)
        if not torch.cuda.is_bf16_supported():
            print(f"gpu_check.py: {name} does not support bf16; this check measures bf16 training", file=sys.stderr)
            return 2
        flops, flops_text = peak_flops(name, args.peak_tflops)
    where = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    print(f"gpu_check: {where}; torch {torch.__version__}, transformers {transformers.__version__}; "
          f"peak used for MFU: {flops_text}")
    print(f"strategies {','.join(strategies)}; {args.steps} steps each (first {args.skip} untimed), batch "
          f"{args.batch_size}, {args.posts} generated posts, {args.num_workers} loader workers", flush=True)

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-data-") as data_dir:
        t0 = time.perf_counter()
        posts, rationales = make_data(Path(data_dir), args.posts)
        print(f"data: {len(posts)} posts and their oracle rationales in {time.perf_counter() - t0:.1f} s", flush=True)
        rows = []
        for strategy in strategies:
            r = check_one(strategy, args, size, posts, rationales, device, dtype)
            mfu = 6 * r["params"] * r["tokens_per_s"] / flops if flops else None
            r["mfu"] = mfu
            rows.append(r)
            share = f", CoT share {list(r['cot_share'].values())[0]:.2f}" if r["cot_share"] else ""
            print(f"  {strategy:<10} {r['params'] / 1e6:7.1f}M params  {r['steps']} steps in {r['seconds']:6.1f} s  "
                  f"loss {r['loss']:.3f}{share}", flush=True)
    print(f"\n{'strategy':<10}{'samples/s':>11}{'tokens/s':>11}{'tokens/row':>12}{'completion/row':>16}"
          f"{'peak GiB':>10}{'MFU':>8}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        mem = f"{r['peak_gpu_gib']:.1f}" if r["peak_gpu_gib"] == r["peak_gpu_gib"] else "n/a"
        print(f"{r['strategy']:<10}{r['samples_per_s']:>11.1f}{r['tokens_per_s']:>11.0f}{r['tokens_per_row']:>12.1f}"
              f"{r['completion_per_row']:>16.1f}{mem:>10}{mfu:>8}")
    print(f"\nMFU = 6 x {rows[0]['params']:,} params x tokens/s / peak ({flops_text}); "
          f"total {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
