"""The report's breakdowns over gold posts and runs' predictions (notebook 05 calls these).

    from mmkp_lib.formats import load_posts
    from mmkp_lib import analysis as A
    test, train = load_posts("data/synth", split="test"), load_posts("data/synth", split="train")
    runs = A.load_runs("runs")                                   # runs/<label>-seed<k>/predictions.jsonl
    scores = A.score_runs(test, runs, train)
    A.main_table_wide(A.main_table(runs, scores))                # F1@1/F1@M x all/absent/unseen/seen, CIs
    A.paired_tests(runs, scores, [("sft", "dyncot"), ("cot", "dyncot")])
    t = A.build_tables(test, runs, train)                       # per keyphrase / prediction / post tables
    A.reasoning_cost(t); A.reasoning_shares(t); A.f1_by_bucket(t); A.frequent_errors(t)
    counts, cases = A.overthinking(t, cot="cot", reference="sft")
    A.learning_curves(runs); A.gamma_sweep(runs, scores)

Modules: runset (Run, loading, labels and seeds), tables (per-keyphrase
tables, group scores, errors), main_table (seed means with bootstrap CIs,
paired tests), reasoning (cost, shares, gamma sweep), overthinking, curves.
"""
from mmkp_lib.analysis.curves import learning_curves, loss_curves
from mmkp_lib.analysis.main_table import (MAIN_GROUPS, MAIN_METRICS, main_table, main_table_wide, paired_test,
                                          paired_tests, score_runs)
from mmkp_lib.analysis.overthinking import is_more_general, overthinking
from mmkp_lib.analysis.reasoning import (cost_over_seeds, gamma_sweep, reasoning_cost, reasoning_shares,
                                         relative_reduction, share_switched)
from mmkp_lib.analysis.runset import (STRATEGY_NAMES, STRATEGY_ORDER, Run, by_label, check_runs, display_label,
                                      labels_in_order, load_run, load_runs)
from mmkp_lib.analysis.tables import (FREQUENCY_BUCKETS, Tables, build_tables, correctness_table, f1_by_bucket,
                                      frequency_bucket, frequent_errors, group_scores, over_seeds, recall_by)

__all__ = [
    "MAIN_GROUPS", "MAIN_METRICS", "main_table", "main_table_wide", "paired_test", "paired_tests", "score_runs",
    "learning_curves", "loss_curves", "is_more_general", "overthinking",
    "cost_over_seeds", "gamma_sweep", "reasoning_cost", "reasoning_shares", "relative_reduction", "share_switched",
    "STRATEGY_NAMES", "STRATEGY_ORDER", "Run", "by_label", "check_runs", "display_label", "labels_in_order",
    "load_run", "load_runs",
    "FREQUENCY_BUCKETS", "Tables", "build_tables", "correctness_table", "f1_by_bucket", "frequency_bucket",
    "frequent_errors", "group_scores", "over_seeds", "recall_by",
]
