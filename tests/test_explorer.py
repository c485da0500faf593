"""mmkp_lib.explorer: the view builder and filters (pure data), the widget without a kernel, the static gallery."""
from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from _analysis_data import gold_posts, make_runs, train_posts
from mmkp_lib.explorer import FILTERS, build_views, explorer, filter_views, pick_views, static_gallery_html

COLOURS = {"p1": (255, 0, 0), "p2": (0, 255, 0), "p3": (0, 0, 255), "p4": (255, 255, 0), "p5": (0, 255, 255)}


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    images = {}
    for pid, colour in COLOURS.items():
        images[pid] = str(folder / f"{pid}.png")
        Image.new("RGB", (32, 24), colour).save(images[pid])
    return build_views(gold_posts(images), make_runs(), train_posts())


def ids(vs):
    return [v.id for v in vs]


def test_views_join_gold_flags_and_every_run(views):
    assert ids(views) == ["p1", "p2", "p3", "p4", "p5"]
    p3 = views[2]
    assert [(g.keyphrase, g.present, g.seen, g.train_freq, g.role) for g in p3.gold] == [
        ("cat toy", True, False, 0, "topic"), ("dog", False, True, 7, "object")]
    assert list(p3.runs) == ["sft-seed0", "sft-seed1", "cot-seed0", "dyncot-seed0"]
    sft = p3.runs["sft-seed0"]
    assert sft.predictions == [("cat toy", True), ("sunset", False)] and sft.found == [True, False]
    assert sft.wrong and not sft.reasoned and sft.reasoning is None
    dyn = p3.runs["dyncot-seed0"]
    assert dyn.perfect and dyn.reasoned and dyn.reasoning == "because of p3" and dyn.think_tokens == 40
    assert dyn.title == "Dynamic CoT (seed 0)"


def test_filters_pick_the_right_posts(views):
    assert ids(filter_views(views, "all")) == ["p1", "p2", "p3", "p4", "p5"]
    assert ids(filter_views(views, "absent")) == ["p2", "p3"]
    assert ids(filter_views(views, "unseen")) == ["p3", "p4"]
    assert ids(filter_views(views, "wrong", "sft-seed0")) == ["p2", "p3", "p4"]
    assert ids(filter_views(views, "wrong", "cot-seed0")) == ["p1", "p2", "p3", "p5"]
    assert ids(filter_views(views, "wrong", "dyncot-seed0")) == []
    assert ids(filter_views(views, "unseen & wrong", "sft-seed0")) == ["p3", "p4"]
    assert ids(filter_views(views, "absent & wrong", "cot-seed0")) == ["p2", "p3"]
    assert ids(filter_views(views, "reasoned", "dyncot-seed0")) == ["p2", "p3"]
    with pytest.raises(ValueError, match="pass run="):
        filter_views(views, "wrong")
    with pytest.raises(ValueError, match="unknown filter"):
        filter_views(views, "hard")
    with pytest.raises(KeyError, match="no prediction of run 'nope'"):
        filter_views(views, "wrong", "nope")


def test_pick_views_round_robin_over_interesting_posts(views):
    assert ids(pick_views(views, 3, ["sft-seed0"])) == ["p3", "p2", "p4"]
    assert ids(pick_views(views, 10, ["sft-seed0"])) == ["p3", "p2", "p4", "p1", "p5"]


def test_widget_constructs_and_follows_its_controls(views):
    ex = explorer(views, runs=["sft-seed0", "cot-seed0", "dyncot-seed0"])
    assert ex.box.children and "p1" in ex.html.value and bytes(ex.image.value).startswith(b"\x89PNG")
    assert list(ex.filter.options) == list(FILTERS)
    ex.filter.value = "unseen"
    assert ids(ex.selection) == ["p3", "p4"] and ex.post.max == 1 and "1 of 2" in ex.count.value
    ex.post.value = 1
    assert "tiny koala" in ex.html.value and "2 of 2" in ex.count.value
    assert Image.open(io.BytesIO(ex.image.value)).getpixel((0, 0)) == COLOURS["p4"]
    ex.run.value = "sft-seed0"
    ex.filter.value = "wrong"
    assert ids(ex.selection) == ["p2", "p3", "p4"] and ex.post.value == 0
    # The selected run comes first in the HTML and only the shown runs appear.
    html = ex.html.value
    assert html.index("SFT (seed 0)") < html.index("Fine-tune-CoT") and "seed 1" not in html
    ex.run.value = "dyncot-seed0"
    assert ex.selection == [] and "no post matches" in ex.html.value and ex.post.disabled
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()


def test_static_gallery_inlines_images_and_predictions(views):
    out = static_gallery_html(views, n=3, runs=["sft-seed0", "cot-seed0"], title="Examples")
    html = out.data
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(uris) == 3
    first = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    # One of the two runs errs on every post, so the pick order is p3 (unseen), p2 (absent), p1 (first other).
    assert first.getpixel((0, 0)) == COLOURS["p3"]
    for text in ("new cat toy", "lovely day", "my vintage bicycle", "Fine-tune-CoT (seed 0)", "sunset", "unseen",
                 "reasoning (50 tokens)", "because of p1", "Examples"):
        assert text in html
    assert "sunny forest walk" not in html and "Dynamic CoT" not in html
    assert html.count("&#10007;") >= 4  # wrong predictions are marked
