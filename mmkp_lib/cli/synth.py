"""`mmkp synth`: write the embedded multimodal benchmark and print its statistics.

    mmkp synth --out data/synth
    mmkp synth --out data/synth_hard --n-shapes 6 --noise 0.08 --distractor-prob 0.6 --target-overlap 0.3
    mmkp synth --out data/synth --sample-grid docs/synth_samples.png

Every SynthConfig field is a flag (`n_train` -> `--n-train`); bad values stop
with a message naming the parameter and its allowed range.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields

from mmkp_lib.cli.args import check_dataset_out, fail

# Flag help; the defaults come from SynthConfig itself.
HELP = {
    "n_train": "train posts", "n_valid": "valid posts (built like test)", "n_test": "test posts",
    "seed": "random seed: the same seed writes byte-identical files",
    "image_size": "image side in px (square RGB PNG)",
    "n_shapes": "number of shapes used (first k of circle, square, triangle, cross, star, arrow)",
    "n_colours": "number of colours used (first k of red, blue, yellow, green, purple, orange, pink, cyan)",
    "min_object_frac": "smallest main object, as a fraction of the image side (>= 1/3)",
    "max_object_frac": "largest main object, as a fraction of the image side",
    "distractor_prob": "chance of a second, smaller object of another colour",
    "min_distractor_frac": "smallest distractor, fraction of the image side",
    "max_distractor_frac": "largest distractor, fraction of the image side (< min-object-frac)",
    "noise": "Gaussian pixel noise std, as a fraction of 255",
    "colour_jitter": "max per-channel shift of an object's colour (RGB units)",
    "scene_in_text_prob": "chance the text names the scene",
    "filler_prob": "chance of a filler word (tbh, ngl, ...)",
    "prefix_prob": "chance of a tweet-like prefix (<user>, rt <user> :, ...)",
    "suffix_prob": "chance of a tweet-like suffix (<url>, via <user>, ...)",
    "object_keyphrase_prob": "chance '<colour> <shape>' is a keyphrase",
    "scene_keyphrase_prob": "chance the scene is a keyphrase",
    "topic_zipf_exponent": "topic frequency ~ 1 / (rank + offset) ** exponent",
    "topic_zipf_offset": "flattens the head of the topic distribution",
    "n_unseen_pairs": "colour-shape pairs held out of train (appear only in valid/test images)",
    "unseen_pair_share": "share of valid/test posts whose main object is a held-out pair",
    "target_overlap": "share of unique test keyphrases that also occur in train (0..1)",
    "overlap_tolerance": "how close the achieved overlap must come to the target",
}


def add_parser(subparsers) -> None:
    from mmkp_lib.synth.config import SynthConfig  # light: no PIL/numpy at import time

    p = subparsers.add_parser("synth", help="write the embedded multimodal benchmark (posts, PNG images, stats)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="data/synth", help="output folder (default: %(default)s)")
    for f in fields(SynthConfig):
        default = f.default if f.default is not MISSING else None
        p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(default), default=default,
                       metavar=type(default).__name__.upper(), help=f"{HELP.get(f.name, f.name)} (default: {default})")
    p.add_argument("--sample-grid", metavar="PNG", default=None,
                   help="also render a few test posts into this PNG (e.g. docs/synth_samples.png)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from mmkp_lib.synth import SynthConfig, format_stats, generate, save_sample_grid

    try:
        config = SynthConfig(**{f.name: getattr(args, f.name) for f in fields(SynthConfig)})
        check_dataset_out(args.out, "stats.json", "synth")
    except (TypeError, ValueError) as exc:
        return fail("synth", exc)
    t0 = time.perf_counter()
    try:
        stats = generate(config, args.out, progress=not args.quiet)
    except (OSError, ValueError) as exc:  # e.g. too few unseen topics possible for these sizes, --out a file
        return fail("synth", exc)
    elapsed = time.perf_counter() - t0
    n = sum(stats["sizes"].values())
    print(f"wrote {args.out}: {n} posts, {config.image_size}x{config.image_size} PNG images, in {elapsed:.1f} s")
    print(format_stats(stats))
    print(f"stats: {args.out}/stats.json")
    if args.sample_grid:
        print(f"samples: {save_sample_grid(args.out, args.sample_grid)}")
    control = stats["control"]
    if not all(control[s]["within_tolerance"] for s in ("valid", "test")):
        print("mmkp synth: warning: the achieved overlap is outside the tolerance; see the line above",
              file=sys.stderr)
    return 0
