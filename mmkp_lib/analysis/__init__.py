"""The report's breakdowns over gold posts and runs' predictions (notebooks 03, 04 and 05 call these).

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
    A.claim_verdicts(tests, labels, close_margin=0.02)          # the paper's claims: reproduced or not
    A.breakdowns_answer(...); A.findings.pace(curves, ...)      # the pages' answers and findings, as Markdown

Modules: runset (Run, loading, labels and seeds), tables (per-keyphrase
tables, group scores, errors), main_table (seed means with bootstrap CIs,
paired tests), reasoning (cost, shares, gamma sweep, Dynamic CoT's decisions),
overthinking, curves, visual (what the student sees); and for the pages:
verdicts (the claims' rules), wording (a number in a sentence), answers (the
answer paragraphs), findings (each section's sentences), report_tables (the
tables as shown).
"""
from mmkp_lib.analysis import findings
from mmkp_lib.analysis.answers import breakdowns_answer, dyncot_answer, previous_report, sft_vs_cot_answer, zero_shot_text
from mmkp_lib.analysis.curves import learning_curves, loss_curves
from mmkp_lib.analysis.main_table import (MAIN_GROUPS, MAIN_METRICS, main_table, main_table_wide, paired_test,
                                          paired_tests, score_runs)
from mmkp_lib.analysis.overthinking import is_more_general, overthinking
from mmkp_lib.analysis.reasoning import (Reduction, cost_over_seeds, decisions_table, gamma_sweep, reasoning_cost,
                                         reasoning_shares, reduction, reduction_per_seed, relative_reduction,
                                         share_switched, switched_by_epoch)
from mmkp_lib.analysis.report_tables import (cost_over_seeds_table, cost_table, frequent_errors_table,
                                             overthinking_examples, overthinking_table, pair_names,
                                             paired_tests_table, sample_predictions, shares_by_group, shares_table,
                                             sweep_table)
from mmkp_lib.analysis.runset import (STRATEGY_NAMES, STRATEGY_ORDER, Run, by_label, check_runs, display_label,
                                      labels_in_order, load_run, load_runs)
from mmkp_lib.analysis.tables import (FREQUENCY_BUCKETS, Tables, build_tables, correctness_table, f1_by_bucket,
                                      frequency_bucket, frequent_errors, group_scores, over_seeds, recall_by)
from mmkp_lib.analysis.verdicts import claim_pairs, claim_verdicts
from mmkp_lib.analysis.visual import vision_warmup_note, vision_warmup_table, visual_accuracy, warmups_table
from mmkp_lib.analysis.zero_shot_probe import probe_text, zero_shot_probe
from mmkp_lib.analysis.wording import cell, delta, more_or_fewer, paired_row, table_row, versus

__all__ = [
    "MAIN_GROUPS", "MAIN_METRICS", "main_table", "main_table_wide", "paired_test", "paired_tests", "score_runs",
    "learning_curves", "loss_curves", "is_more_general", "overthinking",
    "Reduction", "cost_over_seeds", "decisions_table", "gamma_sweep", "reasoning_cost", "reasoning_shares",
    "reduction", "reduction_per_seed", "relative_reduction", "share_switched", "switched_by_epoch",
    "STRATEGY_NAMES", "STRATEGY_ORDER", "Run", "by_label", "check_runs", "display_label", "labels_in_order",
    "load_run", "load_runs",
    "FREQUENCY_BUCKETS", "Tables", "build_tables", "correctness_table", "f1_by_bucket", "frequency_bucket",
    "frequent_errors", "group_scores", "over_seeds", "recall_by",
    "claim_pairs", "claim_verdicts", "cell", "delta", "more_or_fewer", "paired_row", "table_row", "versus",
    "breakdowns_answer", "previous_report", "dyncot_answer", "sft_vs_cot_answer", "zero_shot_text", "findings",
    "cost_over_seeds_table", "cost_table", "frequent_errors_table", "overthinking_examples", "overthinking_table",
    "pair_names", "paired_tests_table", "sample_predictions", "shares_by_group", "shares_table", "sweep_table",
    "vision_warmup_note", "vision_warmup_table", "visual_accuracy", "warmups_table", "probe_text", "zero_shot_probe",
]
