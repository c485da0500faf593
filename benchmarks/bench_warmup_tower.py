"""How well the vision warm-up alone teaches the default tiny tower: held-out probe accuracies and times.

Trains the default tiny model's tower (mmkp_lib.models.vision_warmup) on its
generated, labelled images with the build's thread setting and prints the
held-out accuracy of colour, shape and scene plus the drawing and training
seconds (the figures quoted in vision_warmup's docstring). For the same tower
inside LLaVA, against no warm-up, see bench_vision_warmup.py.

    .venv/bin/python benchmarks/bench_warmup_tower.py               # the default build's recipe (2000 steps)
    .venv/bin/python benchmarks/bench_warmup_tower.py --tower previous --steps 3000   # the SigLIP tower
    .venv/bin/python benchmarks/bench_warmup_tower.py --steps 300 --n-images 3000
"""
from __future__ import annotations

import argparse
import json

from mmkp_lib.models.tiny import (
    BUILD_THREADS, DEFAULT_TINY, PREVIOUS_TINY, make_image_processor, torch_threads, vision_config,
)
from mmkp_lib.models.vision_warmup import WarmupConfig, warm_up_vision_tower


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=WarmupConfig.steps)
    p.add_argument("--batch-size", type=int, default=WarmupConfig.batch_size)
    p.add_argument("--lr", type=float, default=WarmupConfig.lr)
    p.add_argument("--n-images", type=int, default=WarmupConfig.n_images)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tower", choices=("default", "previous"), default="default",
                   help="default: the BiT CNN tower (16 image tokens); previous: the SigLIP tower (64 image tokens)")
    args = p.parse_args(argv)
    model = DEFAULT_TINY if args.tower == "default" else PREVIOUS_TINY
    cfg = WarmupConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, n_images=args.n_images,
                       seed=args.seed)
    with torch_threads(BUILD_THREADS):
        _, metrics = warm_up_vision_tower(vision_config(model), make_image_processor(model.image_size), cfg, log=print)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
