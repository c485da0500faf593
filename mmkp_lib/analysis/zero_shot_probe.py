"""A pretrained zero-shot row beside the report's: the committed figures of benchmarks/probe_zero_shot.py.

On a fresh clone the report's zero-shot row is the untrained student (SmolLM2
needs `make smol`, and its connector warm-up does not fit the report's
budget), which scores zero by construction. The probe prompts
SmolLM2-135M-Instruct the same way on the same test posts; its JSON
(reports/zero_shot_smol.json) is committed and the answers quote it, so the
first verdict can be read against a pretrained model too.

    from mmkp_lib.analysis.zero_shot_probe import zero_shot_probe, probe_text
    probe = zero_shot_probe(eff.data, eff.smoke)   # None unless the run is the embedded benchmark's, not smoke
    probe_text(probe)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from mmkp_lib.report import default_out

PROBE_FILE = default_out(smoke=False) / "zero_shot_smol.json"
LOW_F1 = 0.10  # below this F1@M (all) at its best setting the sentence says plainly that the model fails the task


def zero_shot_probe(data: str, smoke: bool, path: str | os.PathLike = PROBE_FILE) -> dict | None:
    """The probe's figures when this run is comparable with them (the default embedded benchmark, not a smoke
    run) and the file exists; else None."""
    from mmkp_lib.experiment.config import comparable_with_committed

    path = Path(path)
    if not comparable_with_committed(data, smoke) or not path.is_file():
        return None
    probe = json.loads(path.read_text())
    if not isinstance(probe.get("shots"), dict) or not probe["shots"]:
        raise ValueError(f"{path}: not a probe_zero_shot.py file (no 'shots' object); rerun "
                         f"`benchmarks/probe_zero_shot.py --json {path}`")
    return probe


def probe_text(probe: dict) -> str:
    """One sentence: the pretrained model's F1@M (all) per number of in-context examples, how many outputs had
    the expected form and how many of its keyphrases it copied from the examples."""
    parts = []
    for shots, r in sorted(probe["shots"].items(), key=lambda kv: int(kv[0])):
        s = r["shares"]
        parts.append(f"{shots} example(s): F1@M {100 * r['f1m']['all']:.1f} on all keyphrases "
                     f"(unseen {100 * r['f1m']['unseen']:.1f}), {100 * s['formatted']:.0f}% of outputs in the "
                     f"\"kp1; kp2\" form, {100 * s['copied']:.0f}% of its keyphrases copied from the examples")
    posts = max(r["posts"] for r in probe["shots"].values())
    projector = ("a random projector, so in effect text only" if not probe.get("connector_steps")
                 else f"{probe['connector_steps']} connector warm-up steps")
    best = max(r["f1m"]["all"] for r in probe["shots"].values())
    verdict = (f" At its best it stays under {100 * LOW_F1:.0f} points: like the untrained row, a pretrained 135M "
               "language model does not do this task from a prompt." if best < LOW_F1 else "")
    return (f"A pretrained language model prompted the same way on {posts} of these test posts "
            f"(SmolLM2-135M-Instruct with the student's tower and {projector}; `benchmarks/probe_zero_shot.py`, "
            f"committed in `reports/{PROBE_FILE.name}`): " + "; ".join(parts) + "." + verdict)
