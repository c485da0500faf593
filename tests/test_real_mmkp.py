"""The real-MMKP section of notebook 01 (mmkp_lib.real_mmkp), the baseline classifier (mmkp_lib.baseline), and
the `mmkp_data` parameter's path from `make report` to the notebook. Real-file tests skip without the mirror."""
import shutil

import pytest

from _mmkp import MMKP_MIRROR, needs_mmkp
from mmkp_lib import report
from mmkp_lib.baseline import BaselineConfig, post_words, train_baseline
from mmkp_lib.overlap import OverlapStudyConfig, overlap_stats, split_tables
from mmkp_lib.records import Post


def test_split_tables_puts_figures_side_by_side_and_marks_unknown_ones():
    train = [Post("r1", "x", ["a", "b"]), Post("r2", "y", ["b"])]
    test = [Post("s1", "a here", ["a", "z"])]
    shares, counts = split_tables({"given": overlap_stats(train, test), "paper": {"unique_overlap": 0.45}})
    assert shares.loc["unique overlap", "given"] == 0.5 and shares.loc["unique overlap", "paper"] == 0.45
    assert shares.loc["present share", "given"] == 0.5 and shares["paper"].isna().sum() == 4
    assert counts["given"].tolist() == [1, 2, 2, "2.00"] and counts["paper"].tolist() == ["-"] * 4


def test_baseline_predicts_training_keyphrases_from_text_ocr_and_attributes():
    train = [Post("t1", "my cat sleeps", ["cats"]), Post("t2", "a cat again", ["cats"]),
             Post("t3", "the dog runs", ["dogs"]), Post("t4", "dog park", ["dogs", "park life"]),
             Post("t5", "nothing", ["beach"], meta={"ocr": "sunset sea", "attributes": ["sand", "water"]}),
             Post("t6", "empty", ["beach"], meta={"ocr": "sea", "attributes": ["sand"]})]
    assert post_words(train[4]) == ["nothing", "sunset", "sea", "img:sand", "img:water"]
    model = train_baseline(train, BaselineConfig(min_count=1))
    test = [Post("s1", "cat", ["cats"]), Post("s2", "big dog", ["dogs"]),
            Post("s3", "words", ["beach"], meta={"ocr": "", "attributes": ["sand"]}),  # the image wordings alone
            Post("s4", "no known word", ["unseen one"])]
    pred = model.predict(test)
    assert pred["s1"][0] == "cats" and pred["s2"][0] == "dogs" and pred["s3"][0] == "beach"
    assert all(k in model.labels for ks in pred.values() for k in ks)  # only training keyphrases
    assert len(pred["s4"]) == 1  # a post with no known word still gets its one top prediction
    assert all(len(ks) <= model.config.max_predictions for ks in pred.values())
    with pytest.raises(ValueError, match="needs training posts"):
        train_baseline([])


def test_mmkp_data_parameter_is_validated(tmp_path):
    assert OverlapStudyConfig(data=str(tmp_path), mmkp_data="").validated()
    for bad in (str(tmp_path), 3):
        with pytest.raises(ValueError, match=r"mmkp_data must be a folder holding MMKP's test_src.txt"):
            OverlapStudyConfig(data=str(tmp_path), mmkp_data=bad).validated()


def test_report_passes_mmkp_data_only_when_the_folder_holds_mmkp(tmp_path):
    cfg = report.ReportConfig(work=tmp_path)
    assert cfg.notebook_parameters()["mmkp_data"] == ""
    (cfg.mmkp_dir).mkdir(parents=True)
    (cfg.mmkp_dir / "test_src.txt").write_text("t<sep>a<sep>u.jpg\n")
    assert cfg.notebook_parameters()["mmkp_data"] == ""  # no training side yet
    (cfg.mmkp_dir / "train_keyphrases.txt").write_text("a\n")
    assert cfg.notebook_parameters()["mmkp_data"] == str(cfg.mmkp_dir)  # outside the repository: as given
    assert report.ReportConfig().notebook_parameters()["mmkp_data"] in ("", "data/mmkp")  # inside: relative
    assert "mmkp-data" in [s.name for s in report.stages()]


def test_the_page_says_plainly_when_there_is_no_real_mmkp():
    from mmkp_lib.real_mmkp import not_available, real_study

    assert real_study("") is None
    assert "not measured on this page" in not_available("") and "mmkp data fetch mmkp" in not_available("")


@pytest.fixture(scope="module")
def real():
    from mmkp_lib.real_mmkp import real_study

    if not (MMKP_MIRROR / "test_src.txt").is_file():
        pytest.skip(f"the real MMKP files are not at {MMKP_MIRROR}")
    return real_study(str(MMKP_MIRROR), embedded={"unique_overlap": 0.45})


@needs_mmkp
def test_real_study_measures_the_published_split_and_a_resplit(real):
    pub = real.published["test"]
    assert round(100 * pub["unique_overlap"], 2) == 97.32 and not real.data.has_train_posts
    assert abs(real.resplit.achieved - 0.4492) <= 0.01 and len(real.resplit.test) == 5372
    assert real.resplit.report["n_pool"] == 5370 + 5372  # valid + test: no training posts in this copy
    table = real.side_by_side()
    assert list(table.columns) == ["MMKP as published", "MMKP re-split to 44.92%", "embedded benchmark",
                                   "production (paper)"]
    assert table.loc["unique overlap", "MMKP as published"] == "97.32%"
    assert table.loc["unique overlap", "production (paper)"] == "45.28%"
    summary = real.summary()
    assert "**97.32%**" in summary and "left out" in summary and "by training frequency" in summary
    examples = real.examples(3)
    assert len(examples) == 3 and examples["OCR text"].str.len().min() > 0


@needs_mmkp
def test_real_baseline_is_labelled_with_its_protocol_and_scores_only_seen_keyphrases(real):
    table = real.run_baseline()
    published, resplit = table.index
    assert "trained on valid (no training posts here), tested on test" in published
    assert table.loc[published, "F1@1"] > table.loc[resplit, "F1@1"]  # fewer seen test keyphrases, lower F1
    assert table.loc[resplit, "F1@1 unseen"] < 0.01 < table.loc[resplit, "F1@1 seen"]
    assert "47.13" in real.baseline_summary() and "protocol differs" in real.baseline_summary()


@needs_mmkp
@pytest.mark.slow  # executes a notebook
def test_notebook_01_measures_the_real_benchmark(tmp_path):
    from _notebooks import NOTEBOOKS, execute
    from mmkp_lib.synth import SynthConfig, generate

    data = tmp_path / "synth"
    generate(SynthConfig(n_train=300, n_valid=40, n_test=40, image_size=32), data, progress=False)
    mmkp = tmp_path / "mmkp"
    shutil.copytree(MMKP_MIRROR, mmkp)
    text = execute(NOTEBOOKS / "01_benchmark_overlap.ipynb", tmp_path / "out.ipynb", data=str(data), smoke=True,
                   mmkp_data=str(mmkp))
    assert "**97.32%** of the 2534 unique test keyphrases occur in training" in text
    assert "trained on valid (no training posts here)" in text and "not measured on this page" not in text
