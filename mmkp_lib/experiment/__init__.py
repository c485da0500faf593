"""The embedded experiment as code: its defaults, the plan of run folders, and `ensure_runs` that makes them.

Notebooks 03-05 and `make report` ask for runs by name; this module says what
each name means (every training parameter), reuses a finished run whose
config.json matches, resumes a killed one from its last checkpoint, trains the
rest (several at once, one process each, when that is faster on this machine)
and predicts the test split:

    from mmkp_lib.experiment import ExperimentConfig, plan, report_plan, ensure_teacher, ensure_runs
    cfg = ExperimentConfig.from_settings("report", gamma=0.8)  # the embedded experiment (one seed), gamma 0.8
    ensure_teacher(cfg)                                        # oracle rationales, if the cache lacks them
    folders = ensure_runs(plan(cfg))                           # zero-shot, sft, cot, multitask, dyncot-g0.4 (seed 0)
    folders = ensure_runs(report_plan(cfg))                    # 3 seeds + the gamma sweep on seed 0

    .venv/bin/python -m mmkp_lib.experiment --plan report      # the same from a shell (prints each run's status)
    .venv/bin/python -m mmkp_lib.experiment --plan default --dry-run

Run names are `<label>-seed<k>` (`sft-seed0`, `cot-seed1`, `dyncot-g0.4-seed0`,
`dyncot-gq0.3-seed0`), which `mmkp_lib.analysis` turns into labels and seeds;
the zero-shot row is `zero-shot-<model>` (one run: it has no training seed).
Every strategy trains for the same number of optimizer steps at the same batch
size, so the comparison is at equal training compute per step; steps and wall
time are recorded in each run's config.json (`result`, `experiment`).
"""
from mmkp_lib.experiment.config import PRESETS, SMOKE, ExperimentConfig, bf16_supported, setting_names, smol_installed
from mmkp_lib.experiment.execute import (AvailableRuns, ensure_available_runs, ensure_data, ensure_models, ensure_run,
                                         ensure_runs, ensure_teacher)
from mmkp_lib.experiment.plan import (STATUSES, RunSpec, describe, evaluation_posts, main_labels, params_diff, plan,
                                      report_plan, run_name, run_status, run_times, train_config, train_spec,
                                      zero_shot_spec)
from mmkp_lib.training.config import STRATEGIES

__all__ = ["AvailableRuns", "PRESETS", "SMOKE", "STATUSES", "STRATEGIES", "ExperimentConfig", "RunSpec", "bf16_supported", "describe",
           "ensure_available_runs", "ensure_data", "ensure_models", "ensure_run", "ensure_runs", "ensure_teacher", "evaluation_posts", "main_labels", "params_diff", "plan",
           "report_plan", "run_name", "run_status", "run_times", "setting_names", "smol_installed", "train_config",
           "train_spec", "zero_shot_spec"]
