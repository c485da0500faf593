"""Notebook 01's real-MMKP section: the published split's overlap, a re-split to MMKP-V2's figure, the side-by-side
table, a look at the image wordings, and the bag-of-words baseline on real posts.

    from mmkp_lib.real_mmkp import real_study
    real = real_study("data/mmkp", embedded=overlap_stats(train, test))   # `mmkp data fetch mmkp --out data/mmkp`
    real.summary(); real.side_by_side(); real.examples(); real.baseline_table()

The folder is what `mmkp data fetch mmkp` writes: test and valid `*_src.txt` with their OCR and attribute side
files, and the training split as posts (`train_src.txt`, a full download) or as its keyphrase list
(`train_keyphrases.txt`, the shared copy). With the list only, the re-split pool is valid + test and the
baseline is trained on valid and evaluated on test (labelled so), since no training posts exist to train on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mmkp_lib.fetch import TRAIN_KEYPHRASES, has_mmkp
from mmkp_lib.overlap import KeyphraseList, long_tail, overlap_stats, read_keyphrase_list, split_tables
from mmkp_lib.paths import display_path
from mmkp_lib.records import Post

# The published figures the section sets its own beside (Ma et al. 2025; Wang et al. 2020).
PAPER = {"mmkp_overlap": 0.9732, "mmkp_v2_overlap": 0.4492, "production_overlap": 0.4528, "cmkp_f1@1": 0.4713}
FETCH_HINT = ("`mmkp data fetch mmkp --out data/mmkp` (needs a network) or, with a local copy, "
              "`mmkp data fetch mmkp --from DIR --out data/mmkp`; then pass `-p mmkp_data data/mmkp`")


def not_available(mmkp_data: str) -> str:
    why = "no `mmkp_data` folder was given" if not mmkp_data else f"`{mmkp_data}` holds no MMKP files"
    return (f"**The real MMKP benchmark is not measured on this page:** {why}, so the figures above are the "
            f"embedded benchmark's only. To add them: {FETCH_HINT}.")


@dataclass
class RealMMKP:
    folder: Path
    train: list[Post] | KeyphraseList  # posts after a full download, else the training keyphrase list
    valid: list[Post]
    test: list[Post]

    @property
    def has_train_posts(self) -> bool:
        return not isinstance(self.train, KeyphraseList)


def load_real_mmkp(folder: str | os.PathLike) -> RealMMKP:
    """The splits of an MMKP folder (see the module docstring); FileNotFoundError naming what is missing."""
    from mmkp_lib.formats.cmkp import read_cmkp

    folder = Path(folder)
    if not has_mmkp(folder):
        raise FileNotFoundError(f"{display_path(folder)}: no MMKP test_src.txt with train_src.txt or "
                                f"{TRAIN_KEYPHRASES}; get them with {FETCH_HINT}")
    posts = {s: read_cmkp(folder / f"{s}_src.txt") for s in ("train", "valid", "test")
             if (folder / f"{s}_src.txt").is_file()}
    train = posts.get("train") or read_keyphrase_list(folder / TRAIN_KEYPHRASES)
    return RealMMKP(folder, train, posts.get("valid", []), posts["test"])


@dataclass
class RealStudy:
    data: RealMMKP
    published: dict  # overlap_stats of test (and valid) against the published training side
    resplit: object  # mmkp_lib.resplit.Resplit of the pool
    resplit_stats: dict
    embedded: dict | None
    tail: dict  # long_tail of the pool's keyphrases
    baseline: dict = field(default_factory=dict)  # filled by run_baseline

    @property
    def pool_name(self) -> str:
        return "train + valid + test" if self.data.has_train_posts else "valid + test (no training posts here)"

    def side_by_side(self) -> pd.DataFrame:
        """One table: MMKP as published, MMKP re-split, the embedded benchmark, the paper's production figure."""
        columns = {"MMKP as published": self.published["test"],
                   f"MMKP re-split to {self.resplit.asked:.2%}": self.resplit_stats}
        if self.embedded is not None:
            columns["embedded benchmark"] = self.embedded
        columns["production (paper)"] = {"unique_overlap": PAPER["production_overlap"]}
        shares, counts = split_tables(columns)
        shares = shares.map(lambda v: "-" if v is None or pd.isna(v) else f"{100 * v:.2f}%")
        return pd.concat([shares, counts])

    def valid_row(self) -> str:
        s = self.published.get("valid")
        return "" if s is None else (f"valid: {100 * s['unique_overlap']:.2f}% of its {s['n_test_unique_keyphrases']} "
                                     f"unique keyphrases occur in training")

    def examples(self, n: int = 5) -> pd.DataFrame:
        """A few test posts that have OCR text: text, keyphrases and the image wordings CMKP reads."""
        posts = [p for p in self.data.test if p.meta.get("ocr")][:n]
        return pd.DataFrame([{"post": p.id, "text": p.text[:120], "keyphrases": "; ".join(p.keyphrases),
                              "OCR text": p.meta["ocr"][:80], "image attributes": " ".join(p.meta.get("attributes", []))}
                             for p in posts]).set_index("post")

    def summary(self) -> str:
        pub, after, r = self.published["test"], self.resplit_stats, self.resplit
        side = ("its posts" if self.data.has_train_posts else
                f"its list of {len(self.data.train)} keyphrases (the training posts are not in this copy, so the "
                "figures that need them, " + "; ".join(pub["left_out"].values()) + ", are left out)")
        return (f"**Real MMKP** (`{display_path(self.data.folder)}`, training side: {side}): "
                f"**{100 * pub['unique_overlap']:.2f}%** of the {pub['n_test_unique_keyphrases']} unique test "
                f"keyphrases occur in training (paper: {100 * PAPER['mmkp_overlap']:.2f}%); {self.valid_row()}. "
                f"{100 * pub['present_ratio']:.1f}% of test keyphrases are present in the text, "
                f"{100 * (1 - pub['present_ratio']):.1f}% absent; only {100 * pub['posts_with_unseen']:.2f}% of test "
                f"posts carry an unseen keyphrase. Long tail: {100 * self.tail['share_seen_once']:.0f}% of the "
                f"pool's {self.tail['unique_keyphrases']} keyphrases occur once. Re-splitting the pool "
                f"({self.pool_name}, {r.report['n_pool']} posts) to {100 * r.asked:.2f}% reaches "
                f"**{100 * r.achieved:.2f}%** with {len(r.test)} test posts, "
                f"{after['keyphrases_per_post']['test']:.2f} keyphrases per test post (published "
                f"{pub['keyphrases_per_post']['test']:.2f}) and {after['n_test_unique_keyphrases']} distinct test "
                f"keyphrases (published {pub['n_test_unique_keyphrases']}); "
                f"{100 * after['posts_with_unseen']:.1f}% of its test posts carry an unseen keyphrase.")

    def run_baseline(self, config=None) -> pd.DataFrame:
        """The bag-of-words classifier (mmkp_lib.baseline) on the published split and on the re-split."""
        from mmkp_lib.baseline import train_baseline
        from mmkp_lib.metrics import evaluate

        if self.data.has_train_posts:
            published = ("MMKP as published: trained on train, tested on test", self.data.train, self.data.test)
        else:
            published = ("MMKP as published, trained on valid (no training posts here), tested on test",
                         self.data.valid, self.data.test)
        settings = [published, (f"MMKP re-split to {self.resplit.asked:.2%}: trained on its train, tested on its "
                                "test", self.resplit.train, self.resplit.test)]
        rows = {}
        for name, train, test in settings:
            result = evaluate(test, train_baseline(train, config).predict(test), train_keyphrases=train)
            rows[name] = {"F1@1": result["all"]["f1@1"], "F1@M": result["all"]["f1@M"],
                          "F1@1 seen": result["seen"]["f1@1"], "F1@1 unseen": (result.get("unseen") or {}).get("f1@1"),
                          "test posts with an unseen keyphrase": overlap_stats(train, test)["posts_with_unseen"]}
        table = pd.DataFrame(rows).T
        self.baseline = {"table": table}
        return table

    def baseline_summary(self) -> str:
        t = self.baseline["table"]
        pub, re = t.iloc[0], t.iloc[1]
        return (f"The bag-of-words classifier (text + OCR + image attributes, one label per training keyphrase) "
                f"reaches F1@1 **{100 * pub['F1@1']:.2f}** on the published split ({t.index[0]}) and "
                f"**{100 * re['F1@1']:.2f}** on the re-split, where its F1@1 on posts with an unseen keyphrase is "
                f"{100 * (re['F1@1 unseen'] or 0):.2f}: a classifier scores only on keyphrases it has seen. For "
                f"reference, CMKP's published F1@1 is {100 * PAPER['cmkp_f1@1']:.2f}, trained on the 42,959 "
                f"training posts with a neural model; this baseline's protocol differs (a linear model"
                + ("" if self.data.has_train_posts else ", trained on the 5,370 valid posts") + ").")


def real_study(mmkp_data: str, embedded: dict | None = None, target: float = PAPER["mmkp_v2_overlap"],
               tolerance: float = 0.01, seed: int = 0) -> RealStudy | None:
    """The real-MMKP measurements of `mmkp_data`, or None when it is "" (notebook 01 then says so plainly)."""
    from mmkp_lib.resplit import resplit

    if not mmkp_data:
        return None
    data = load_real_mmkp(mmkp_data)
    published = {"test": overlap_stats(data.train, data.test, data.valid or None)}
    if data.valid:
        published["valid"] = overlap_stats(data.train, data.valid)
    pool = (data.train if data.has_train_posts else []) + data.valid + data.test
    n_valid = len(data.valid) if data.has_train_posts else 0  # without training posts valid joins the pool's train
    r = resplit(pool, target, n_test=len(data.test), n_valid=n_valid, tolerance=tolerance, seed=seed)
    return RealStudy(data, published, r, overlap_stats(r.train, r.test), embedded, long_tail(pool))
