"""mmkp_lib.analysis.visual on hand-built posts: colour / shape / pair accuracy and scene recall, computed by hand."""
import math

from mmkp_lib.analysis import Run
from mmkp_lib.analysis.visual import object_table, predicted_object, visual_accuracy
from mmkp_lib.records import Post


def post(pid, text, kps, colour, shape, scene, scene_in_text, roles):
    return Post(pid, text, kps, split="test", meta={"synth": {
        "object": {"colour": colour, "shape": shape}, "scene": scene, "scene_in_text": scene_in_text, "roles": roles}})


GOLD = [
    # object + scene only in the image
    post("a", "sour dolphin time", ["sour dolphin", "red circle", "beach"], "red", "circle", "beach", False,
         {"sour dolphin": "topic", "red circle": "object", "beach": "scene"}),
    # object with an unseen pair; scene named in the text
    post("b", "rainy library at the lake", ["rainy library", "blue star", "lake"], "blue", "star", "lake", True,
         {"rainy library": "topic", "blue star": "object", "lake": "scene"}),
    # object, no scene keyphrase
    post("c", "tall bridge", ["tall bridge", "green square"], "green", "square", "city", False,
         {"tall bridge": "topic", "green square": "object"}),
    # no object keyphrase (only the topic)
    post("d", "odd fern", ["odd fern"], "red", "cross", "forest", False, {"odd fern": "topic"}),
]
TRAIN = [Post(f"t{i}", "x", kps, split="train", meta={"synth": {"roles": roles}}) for i, (kps, roles) in enumerate([
    (["red circle"], {"red circle": "object"}), (["green square"], {"green square": "object"}),
    (["blue star"], {"blue star": "topic"}),  # the same string in another role does not make the pair seen
])]


def records(preds):
    return [{"id": k, "keyphrases": v} for k, v in preds.items()]


def test_predicted_object_takes_the_first_colour_shape_pair():
    assert predicted_object(["sour dolphin", "Red Star", "blue circle"], {"red", "blue"}, {"star", "circle"}) == ("red", "star")
    assert predicted_object(["red", "big red star", "star red"], {"red"}, {"star"}) is None


def test_visual_accuracy_by_hand():
    run = Run("sft-seed0", records({
        "a": ["sour dolphin", "red square", "beach"],  # colour right, shape wrong; scene from image found
        "b": ["rainy library", "blue star"],           # unseen pair exactly right; scene (in text) missed
        "c": ["tall bridge"],                           # no object prediction: colour and shape wrong
        "d": ["odd fern", "red cross"],                 # not an object post: ignored
    }), strategy="sft")
    row = visual_accuracy(GOLD, [run], TRAIN).iloc[0]
    assert row["object_posts"] == 3 and row["unseen_pair_posts"] == 1
    assert math.isclose(row["object_predicted"], 2 / 3)
    assert math.isclose(row["colour"], 2 / 3) and math.isclose(row["shape"], 1 / 3) and math.isclose(row["pair"], 1 / 3)
    assert row["pair_seen"] == 0.0 and row["pair_unseen"] == 1.0
    assert row["scene_posts"] == 2 and row["scene_image_posts"] == 1
    assert row["scene_from_image"] == 1.0 and row["scene_from_text"] == 0.0


def test_without_training_posts_pairs_are_not_split_and_real_data_gives_nan():
    run = Run("cot-seed0", records({"a": ["red circle"], "b": [], "c": [], "d": []}), strategy="cot")
    row = visual_accuracy(GOLD, [run]).iloc[0]
    assert math.isnan(row["pair_seen"]) and math.isnan(row["pair_unseen"]) and math.isclose(row["pair"], 1 / 3)
    plain = [Post("x", "t", ["k"], split="test")]
    row = visual_accuracy(plain, [Run("sft-seed0", records({"x": ["k"]}), strategy="sft")]).iloc[0]
    assert row["object_posts"] == 0 and math.isnan(row["colour"]) and math.isnan(row["scene_from_image"])
    assert object_table(plain, [Run("sft-seed0", records({"x": ["k"]}), strategy="sft")]).empty
