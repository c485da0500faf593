"""Data formats (mmkp_lib.formats) and `mmkp convert`, on hand-written fixture files.

Every bad-input case must name the file, the line and the problem; skipping
must count by reason; round trips must keep text, keyphrases and images.
"""
import json
import os
import shutil
import warnings
from pathlib import Path

import pytest

from mmkp_lib.formats import FORMATS, BadRecords, DataError, Post, detect_format, load_posts, write_posts
from mmkp_lib.formats.cmkp import read_cmkp, write_cmkp
from mmkp_lib.formats.sharegpt import write_sharegpt
from mmkp_lib.prompts import INSTRUCTION

FIXTURES = Path(__file__).parent / "fixtures"
CMKP = FIXTURES / "cmkp"
IMAGES = FIXTURES / "images"
Q = INSTRUCTION


def write(tmp_path, name, content):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def assert_error(err, path, line, reason, *words):
    """The error names the file (and line) and says what is wrong."""
    assert err.reason == reason, str(err)
    assert err.line == line, str(err)
    where = f"{Path(path).name}:{line}:" if line is not None else Path(path).name
    assert where in str(err), str(err)
    for w in words:
        assert w in str(err), str(err)


def key(posts):
    """What a round trip must keep."""
    return [(p.text, p.keyphrases, p.image) for p in posts]


# ---------------------------------------------------------------- cmkp: reading

def test_cmkp_reads_ids_keyphrases_and_url_without_images():
    posts = load_posts(CMKP / "train_src.txt")
    assert [p.id for p in posts] == ["train-1", "train-2", "train-3", "train-4"]
    assert posts[0].keyphrases == ["open water swimming", "summer"]  # dataset's form: not stemmed, not re-split
    assert posts[0].text == "first swim of the year at the lake , water still cold <url>"
    assert all(p.image is None and p.split == "train" for p in posts)  # no image folder given
    assert posts[1].meta == {"url": "https://pbs.twimg.com/media/blue.png"}
    assert "ocr" not in posts[0].meta  # train has no side files


def test_cmkp_resolves_url_basenames_against_image_dir():
    posts = load_posts(CMKP / "test_src.txt", image_dir=IMAGES)
    assert [Path(p.image) for p in posts] == [IMAGES / "red.png", IMAGES / "blue.png", IMAGES / "green.png"]
    assert all(os.path.isabs(p.image) for p in posts)


def test_cmkp_url_query_string_is_not_part_of_the_name():
    with pytest.warns(UserWarning, match="NotHere.jpg"):
        posts = load_posts(CMKP / "train_src.txt", image_dir=IMAGES, missing_images="none")
    assert Path(posts[2].image) == IMAGES / "green.png"  # .../green.png?format=png&name=small


def test_cmkp_side_files_go_into_meta():
    posts = load_posts(CMKP / "test_src.txt")
    assert [p.meta["ocr"] for p in posts] == ["HARBOUR LIGHTS", "", "RUN CLUB 5K"]
    assert posts[1].meta["attributes"] == ["wall", "paint", "person", "graffiti", "street"]


def test_cmkp_side_files_given_explicitly_or_switched_off(tmp_path):
    src = shutil.copy(CMKP / "test_src.txt", tmp_path / "held_out.txt")
    ocr = write(tmp_path, "elsewhere/ocr.txt", "A\nB\nC\n")
    posts = read_cmkp(src, ocr=ocr, attributes=None)
    assert [p.meta["ocr"] for p in posts] == ["A", "B", "C"]
    assert "attributes" not in posts[0].meta
    assert posts[0].id == "held_out-1"
    assert "ocr" not in load_posts(CMKP / "test_src.txt", ocr=None)[0].meta
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_cmkp(src, ocr=tmp_path / "nope.txt")


def test_cmkp_split_option_sets_split_and_ids(tmp_path):
    posts = load_posts(CMKP / "train_src.txt", split="dev")
    assert posts[0].id == "dev-1" and posts[0].split == "dev"


def test_cmkp_mismatched_side_file_names_both_counts(tmp_path):
    shutil.copy(CMKP / "test_src.txt", tmp_path / "test_src.txt")
    write(tmp_path, "test_ocr_final.txt", "ONE\nTWO\n")
    with pytest.raises(DataError) as e:
        load_posts(tmp_path / "test_src.txt", on_error="skip")  # a misaligned file is never skipped
    assert_error(e.value, tmp_path / "test_ocr_final.txt", None, "side-file-mismatch",
                 "2 lines", "test_src.txt has 3 lines")


CMKP_BAD_LINES = [
    # (line 2 content, reason, words in the message)
    ("only one field<sep>kp", "missing-sep", ["found 1 '<sep>'"]),
    ("no separator at all", "missing-sep", ["found 0 '<sep>'"]),
    ("a<sep>kp<sep>http://x/y.jpg<sep>extra", "missing-sep", ["found 3 '<sep>'"]),
    ("", "missing-sep", ["found an empty line"]),
    ("text<sep> <sep>http://x/red.png", "empty-keyphrases", ["empty keyphrase field"]),
    ("text<sep>good;;also good<sep>http://x/red.png", "empty-keyphrase", ["'good;;also good'"]),
]


@pytest.mark.parametrize("line, reason, words", CMKP_BAD_LINES, ids=[c[1] + str(i) for i, c in enumerate(CMKP_BAD_LINES)])
def test_cmkp_bad_line_names_file_line_and_reason(tmp_path, line, reason, words):
    path = write(tmp_path, "bad_src.txt", f"fine text<sep>kp<sep>http://x/a.jpg\n{line}\nmore<sep>kp<sep>http://x/b.jpg\n")
    with pytest.raises(DataError) as e:
        load_posts(path)
    assert_error(e.value, path, 2, reason, *words)


def test_cmkp_not_utf8(tmp_path):
    path = write(tmp_path, "bad_src.txt", b"ok<sep>kp<sep>u/a.jpg\nok<sep>kp<sep>u/b.jpg\ncaf\xe9 au lait<sep>kp<sep>u/c.jpg\n")
    with pytest.raises(DataError) as e:
        load_posts(path)
    assert_error(e.value, path, 3, "not-utf8", "not UTF-8", "\\xe9")


def test_cmkp_missing_image_when_folder_given():
    with pytest.raises(DataError) as e:
        load_posts(CMKP / "train_src.txt", image_dir=IMAGES)
    assert_error(e.value, CMKP / "train_src.txt", 4, "missing-image", "NotHere.jpg", "train-4")


def test_cmkp_unreadable_image(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    path = write(tmp_path, "x_src.txt", "t<sep>kp<sep>https://pbs.twimg.com/media/broken.jpg\n")
    with pytest.raises(DataError) as e:
        load_posts(path, image_dir=images)
    assert_error(e.value, path, 1, "unreadable-image", "broken.jpg")


def test_cmkp_missing_image_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder"):
        load_posts(CMKP / "test_src.txt", image_dir=tmp_path / "no_such_dir")


def test_cmkp_skip_counts_by_reason_and_warns(tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    shutil.copy(IMAGES / "red.png", images / "red.png")
    path = write(tmp_path, "mixed_src.txt", b"\n".join([
        b"good one<sep>kp a;kp b<sep>u/red.png",
        b"no sep here",
        b"also<sep>missing one sep",
        b"text<sep><sep>u/red.png",
        b"caf\xe9<sep>kp<sep>u/red.png",
        b"gone<sep>kp<sep>u/gone.png",
        b"good two<sep>kp c<sep>u/red.png",
    ]) + b"\n")
    bad = BadRecords("skip")
    with pytest.warns(UserWarning, match="skipped 5 bad records"):
        posts = load_posts(path, image_dir=images, bad=bad)
    assert [p.id for p in posts] == ["mixed-1", "mixed-7"]
    assert bad.counts == {"missing-sep": 2, "empty-keyphrases": 1, "not-utf8": 1, "missing-image": 1}
    assert "2 missing-sep" in bad.summary()
    assert [e.line for e in bad.errors] == [5, 2, 3, 4, 6]  # UTF-8 is checked first, while reading


def test_cmkp_missing_images_skip_counts_even_when_raising_on_other_errors():
    bad = BadRecords("raise")
    with pytest.warns(UserWarning, match="1 missing-image"):
        posts = load_posts(CMKP / "train_src.txt", image_dir=IMAGES, missing_images="skip", bad=bad)
    assert [p.id for p in posts] == ["train-1", "train-2", "train-3"]
    assert bad.counts == {"missing-image": 1}


def test_cmkp_missing_images_none_keeps_post_and_says_so():
    with pytest.warns(UserWarning, match="1 posts kept without their image"):
        posts = load_posts(CMKP / "train_src.txt", image_dir=IMAGES, missing_images="none")
    assert len(posts) == 4
    assert posts[3].image is None and "NotHere.jpg" in posts[3].meta["image_error"]
    assert posts[0].image is not None and "image_error" not in posts[0].meta


def test_missing_images_policy_is_checked():
    with pytest.raises(ValueError, match="missing_images"):
        load_posts(CMKP / "test_src.txt", image_dir=IMAGES, missing_images="ignore")


# ---------------------------------------------------------------- cmkp: writing

def test_cmkp_round_trip_through_jsonl_is_byte_exact(tmp_path):
    posts = load_posts(CMKP / "test_src.txt", image_dir=IMAGES)
    write_posts(posts, tmp_path / "test.jsonl")
    back = load_posts(tmp_path / "test.jsonl")
    assert key(back) == key(posts) and [p.meta for p in back] == [p.meta for p in posts]
    assert write_posts(back, tmp_path / "out" / "test_src.txt") == 3
    for name in ("test_src.txt", "test_ocr_final.txt", "test_attribute_cleaned.txt"):
        assert (tmp_path / "out" / name).read_bytes() == (CMKP / name).read_bytes(), name
    again = load_posts(tmp_path / "out" / "test_src.txt", image_dir=IMAGES)
    assert [p.to_dict() for p in again] == [p.to_dict() for p in posts]


def test_cmkp_writer_uses_image_name_for_posts_without_url(tmp_path):
    posts = [Post("s1", "a synthetic post", ["kp a", "kp b"], str(IMAGES / "blue.png")),
             Post("s2", "text only", ["kp c"], None)]
    write_cmkp(posts, tmp_path / "synth_src.txt")
    assert (tmp_path / "synth_src.txt").read_text() == \
        "a synthetic post<sep>kp a;kp b<sep>blue.png\ntext only<sep>kp c<sep>\n"
    assert not (tmp_path / "synth_ocr_final.txt").exists()  # no post has OCR: no side file
    back = load_posts(tmp_path / "synth_src.txt", image_dir=IMAGES)
    assert key(back) == key(posts)


@pytest.mark.parametrize("post, words", [
    (Post("p", "two\nlines", ["k"]), "line break"),
    (Post("p", "has <sep> inside", ["k"]), "'<sep>'"),
    (Post("p", "fine", ["a;b"]), "'a;b'"),
])
def test_cmkp_writer_refuses_what_a_line_cannot_hold(tmp_path, post, words):
    with pytest.raises(DataError) as e:
        write_posts([post], tmp_path / "x_src.txt")
    assert "x_src.txt" in str(e.value) and "'p'" in str(e.value) and words in str(e.value)
    assert not (tmp_path / "x_src.txt").exists()  # nothing half-written


# ---------------------------------------------------------------- llava

def llava_item(pid, text="some text", kps="kp a, kp b", image="images/red.png"):
    human = ("<image>" if image else "") + f"{text}\n{Q}"
    item = {"id": pid, "text": text,
            "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": kps}]}
    if image:
        item["image"] = image
    return item


def llava_file(tmp_path, items, name="data.json"):
    shutil.copytree(IMAGES, tmp_path / "images", dirs_exist_ok=True)
    body = ",\n".join(i if isinstance(i, str) else json.dumps(i) for i in items)
    return write(tmp_path, name, "[\n" + body + "\n]\n")


def test_llava_reads_fixture():
    posts = load_posts(FIXTURES / "aimkp.json")
    assert [p.id for p in posts] == ["a1", "a2", "a3"]
    assert posts[0].keyphrases == ["sunset", "photography"]
    assert posts[2].keyphrases == ["text only", "no image"]
    assert Path(posts[0].image) == IMAGES / "red.png" and posts[2].image is None
    assert posts[1].text == "new mural on main street"


def test_llava_missing_image_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_dir: image folder not found"):
        load_posts(FIXTURES / "aimkp.json", image_dir=tmp_path / "no_such_dir")


def test_llava_image_dir_and_text_from_human_turn(tmp_path):
    item = llava_item(7, text="words here", image="blue.png")
    del item["text"]
    path = write(tmp_path, "sub/x.json", json.dumps([item]))
    posts = load_posts(path, image_dir=IMAGES, split="test")
    assert posts[0].id == "7" and posts[0].text == "words here" and posts[0].split == "test"
    assert Path(posts[0].image) == IMAGES / "blue.png"


def test_llava_malformed_json_names_line(tmp_path):
    path = llava_file(tmp_path, [llava_item("a"), '{"id": "b", "text": "unclosed'])
    with pytest.raises(DataError) as e:
        load_posts(path, on_error="skip")  # a broken file cannot be skipped item by item
    assert_error(e.value, path, 3, "bad-json", "item [1]")


def test_llava_not_a_list(tmp_path):
    path = write(tmp_path, "x.json", json.dumps(llava_item("a")))
    with pytest.raises(DataError) as e:
        load_posts(path)
    assert_error(e.value, path, 1, "bad-json", "expected a JSON list")


LLAVA_BAD_ITEMS = [
    ('"just a string"', "bad-structure", ["expected a JSON object"]),
    ({"text": "no id", "conversations": []}, "bad-structure", ["'id'"]),
    ({"id": "b", "text": "t"}, "bad-structure", ["'conversations'"]),
    ({"id": "b", "messages": []}, "bad-structure", ["sharegpt"]),
    ({"id": "b", "conversations": [{"from": "human", "value": "t"}]}, "bad-structure", ["'gpt'"]),
    (llava_item("b", image=None) | {"image": "images/red.png"}, "bad-structure", ["0 '<image>'"]),
    (llava_item("b", kps="  "), "empty-keyphrases", ["gpt turn"]),
    (llava_item("b", kps="kp a, , kp c"), "empty-keyphrase", ["'kp a, , kp c'"]),
    (llava_item("a"), "duplicate-id", ["'a'", "first at line 2"]),
    (llava_item("b", image="images/gone.png"), "missing-image", ["gone.png"]),
]


@pytest.mark.parametrize("item, reason, words", LLAVA_BAD_ITEMS, ids=[c[1] + str(i) for i, c in enumerate(LLAVA_BAD_ITEMS)])
def test_llava_bad_item_names_file_line_index_and_reason(tmp_path, item, reason, words):
    path = llava_file(tmp_path, [llava_item("a"), item, llava_item("c")])
    with pytest.raises(DataError) as e:
        load_posts(path)
    assert_error(e.value, path, 3, reason, *words)
    if reason not in ("duplicate-id", "missing-image"):
        assert "item [1]" in str(e.value)


def test_llava_not_utf8(tmp_path):
    path = write(tmp_path, "x.json", b'[\n{"id": "a", "text": "na\xefve"}\n]\n')
    with pytest.raises(DataError) as e:
        load_posts(path)
    assert_error(e.value, path, 2, "not-utf8")


def test_llava_skip_counts_by_reason(tmp_path):
    path = llava_file(tmp_path, [llava_item("a"), llava_item("b", kps=""), llava_item("a"),
                                 {"id": "d"}, llava_item("e", image="images/gone.png"), llava_item("f")])
    bad = BadRecords("skip")
    with pytest.warns(UserWarning, match="skipped 4 bad records"):
        posts = load_posts(path, bad=bad)
    assert [p.id for p in posts] == ["a", "f"]
    assert bad.counts == {"empty-keyphrases": 1, "duplicate-id": 1, "bad-structure": 1, "missing-image": 1}


def test_jsonl_to_llava_to_jsonl_round_trip(tmp_path):
    posts = load_posts(FIXTURES / "posts.jsonl")
    write_posts(posts, tmp_path / "aimkp" / "train.json", image_dir=IMAGES)
    items = json.loads((tmp_path / "aimkp" / "train.json").read_text())
    assert items[0]["image"] == "red.png"  # relative to the image folder the user named
    assert items[0]["conversations"][0]["value"] == f"<image>{posts[0].text}\n{Q}"
    assert items[0]["conversations"][1] == {"from": "gpt", "value": "open water swimming, summer"}
    assert "image" not in items[2] and "<image>" not in items[2]["conversations"][0]["value"]
    back = load_posts(tmp_path / "aimkp" / "train.json", image_dir=IMAGES)
    assert [p.id for p in back] == [p.id for p in posts] and key(back) == key(posts)
    write_posts(back, tmp_path / "again.jsonl")
    assert key(load_posts(tmp_path / "again.jsonl")) == key(posts)


def test_llava_writer_default_paths_relative_to_json_folder(tmp_path):
    shutil.copytree(IMAGES, tmp_path / "images")
    posts = [Post("a", "t", ["k"], str(tmp_path / "images" / "red.png")),
             Post("b", "t", ["k"], str(IMAGES / "blue.png"))]  # outside the JSON's folder
    write_posts(posts, tmp_path / "out.json")
    items = json.loads((tmp_path / "out.json").read_text())
    assert items[0]["image"] == "images/red.png"
    assert items[1]["image"] == str(IMAGES.resolve() / "blue.png")
    assert key(load_posts(tmp_path / "out.json")) == key(posts)


def test_llava_writer_refuses_comma_in_keyphrase(tmp_path):
    with pytest.raises(DataError, match=r"out.json: post 'a': keyphrase 'x, y'"):
        write_posts([Post("a", "t", ["x, y"])], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("writer", ["write_json_list", "write_lines"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, writer):
    from mmkp_lib.formats import common

    def items():
        yield {"id": "new"} if writer == "write_json_list" else "new line"
        raise KeyboardInterrupt  # stopped half-way

    out = write(tmp_path, "out.txt", "old content\n")
    with pytest.raises(KeyboardInterrupt):
        getattr(common, writer)(items(), out)
    assert out.read_text() == "old content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


# ---------------------------------------------------------------- sharegpt

def test_sharegpt_one_placeholder_per_image(tmp_path):
    posts = load_posts(FIXTURES / "posts.jsonl")
    assert write_posts(posts, tmp_path / "sg.json", "sharegpt") == 3
    items = json.loads((tmp_path / "sg.json").read_text())
    for post, item in zip(posts, items):
        placeholders = sum(m["content"].count("<image>") for m in item["messages"])
        assert placeholders == len(item["images"]) == (1 if post.image else 0)
        assert [m["role"] for m in item["messages"]] == ["user", "assistant"]
        assert item["messages"][0]["content"].endswith(f"{post.text}\n{Q}")
    assert items[0]["messages"][1]["content"] == "open water swimming; summer"
    assert items[0]["images"] == [str(IMAGES.resolve() / "red.png")]
    assert items[0]["messages"][0]["content"].startswith("<image>")


def test_sharegpt_relative_image_paths(tmp_path):
    shutil.copytree(IMAGES, tmp_path / "images")
    posts = [Post("a", "t", ["k"], str(tmp_path / "images" / "red.png"))]
    write_sharegpt(posts, tmp_path / "sg.json", image_paths="relative")
    assert json.loads((tmp_path / "sg.json").read_text())[0]["images"] == ["images/red.png"]


def test_sharegpt_cot_target(tmp_path):
    posts = load_posts(FIXTURES / "posts.jsonl")
    rationales = {"p1": "A lake and a swimmer.", "p2": "Beans in a garden.", "p3": "Only words."}
    write_posts(posts, tmp_path / "cot.json", "sharegpt", target="cot", rationales=rationales)
    items = json.loads((tmp_path / "cot.json").read_text())
    assert items[1]["messages"][1]["content"] == "<think>Beans in a garden.</think><answer>allotment</answer>"
    with pytest.raises(DataError, match="'p3' has no rationale"):
        write_posts(posts, tmp_path / "cot2.json", "sharegpt", target="cot", rationales={"p1": "x", "p2": "y"})
    assert not (tmp_path / "cot2.json").exists()


def test_sharegpt_refuses_placeholder_in_text(tmp_path):
    post = Post("a", "look at <image> this", ["k"], str(IMAGES / "red.png"))
    with pytest.raises(DataError, match="2 placeholders for 1 images"):
        write_posts([post], tmp_path / "sg.json", "sharegpt")


def test_sharegpt_is_not_read():
    with pytest.raises(ValueError, match="written for other tools"):
        load_posts(FIXTURES / "aimkp.json", format="sharegpt")


# ---------------------------------------------------------------- load_posts: folders and format detection

def test_formats_tuple():
    assert FORMATS == ("jsonl", "cmkp", "llava", "sharegpt")


@pytest.mark.parametrize("name, fmt", [("a.jsonl", "jsonl"), ("test_src.txt", "cmkp"), ("x.json", "llava")])
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


def test_detect_format_refuses_unknown_and_side_files():
    with pytest.raises(ValueError, match="pass format="):
        detect_format("posts.csv")
    with pytest.raises(ValueError, match="side file"):
        detect_format("test_ocr_final.txt")


def test_folder_with_split(tmp_path):
    assert [p.id for p in load_posts(CMKP, split="test")] == ["test-1", "test-2", "test-3"]
    with pytest.raises(ValueError, match="pass split="):
        load_posts(CMKP)  # two splits there
    with pytest.raises(FileNotFoundError, match="'valid'"):
        load_posts(CMKP, split="valid")
    write_posts(load_posts(CMKP, split="test"), tmp_path / "test.jsonl")
    assert len(load_posts(tmp_path, split="test")) == 3
    assert len(load_posts(tmp_path)) == 3  # the only split there
    shutil.copy(CMKP / "test_src.txt", tmp_path / "test_src.txt")
    with pytest.raises(ValueError, match="several formats"):
        load_posts(tmp_path, split="test")
    assert load_posts(tmp_path, split="test", format="cmkp")[0].id == "test-1"


def test_jsonl_refuses_image_dir():
    with pytest.raises(ValueError, match="image_dir applies to cmkp and llava"):
        load_posts(FIXTURES / "posts.jsonl", image_dir=IMAGES)


def test_load_posts_images_absolute_from_relative_paths(monkeypatch):
    monkeypatch.chdir(FIXTURES)
    for posts in (load_posts("posts.jsonl"), load_posts("aimkp.json"),
                  load_posts("cmkp/test_src.txt", image_dir="images")):
        assert posts[0].image is not None and os.path.isabs(posts[0].image)
        assert os.path.isfile(posts[0].image)


def test_raise_mode_warns_nothing_on_clean_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_posts(CMKP / "test_src.txt", image_dir=IMAGES)) == 3


# ---------------------------------------------------------------- mmkp convert

def mmkp(*argv):
    from mmkp_lib.cli import main
    return main([str(a) for a in argv])


def test_cli_cmkp_folder_to_jsonl_to_llava_and_sharegpt(tmp_path, capsys):
    assert mmkp("convert", "--in", CMKP, "--split", "test", "--image-dir", IMAGES,
                "--to", "jsonl", "--out", tmp_path / "test.jsonl") == 0
    out = capsys.readouterr().out
    assert f"read 3 posts from {CMKP / 'test_src.txt'} (cmkp)" in out and "bad records: no bad records" in out
    assert f"wrote 3 posts to {tmp_path / 'test.jsonl'} (jsonl)" in out
    posts = load_posts(tmp_path / "test.jsonl")
    assert posts[0].meta["ocr"] == "HARBOUR LIGHTS" and Path(posts[0].image) == IMAGES / "red.png"

    assert mmkp("convert", "--in", tmp_path / "test.jsonl", "--to", "llava", "--out", tmp_path / "l.json",
                "--out-image-dir", IMAGES) == 0
    assert json.loads((tmp_path / "l.json").read_text())[0]["image"] == "red.png"
    assert mmkp("convert", "--in", tmp_path / "l.json", "--image-dir", IMAGES, "--to", "cmkp",
                "--out", tmp_path / "back" / "test_src.txt") == 0
    assert [p.keyphrases for p in load_posts(tmp_path / "back" / "test_src.txt")] == [p.keyphrases for p in posts]

    assert mmkp("convert", "--in", tmp_path / "test.jsonl", "--to", "sharegpt", "--out", tmp_path / "sg.json") == 0
    items = json.loads((tmp_path / "sg.json").read_text())
    assert len(items) == 3 and all(len(i["images"]) == 1 for i in items)


def test_cli_cmkp_writes_side_files(tmp_path, capsys):
    assert mmkp("convert", "--in", CMKP / "test_src.txt", "--to", "cmkp", "--out", tmp_path / "t_src.txt") == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 't_ocr_final.txt'}" in out
    assert (tmp_path / "t_attribute_cleaned.txt").read_bytes() == (CMKP / "test_attribute_cleaned.txt").read_bytes()


def test_cli_bad_input_stops_with_file_and_line(tmp_path, capsys):
    src = write(tmp_path, "bad_src.txt", "ok<sep>kp<sep>u/a.jpg\nbroken line\nok2<sep>kp<sep>u/b.jpg\n")
    assert mmkp("convert", "--in", src, "--to", "jsonl", "--out", tmp_path / "o.jsonl") == 1
    err = capsys.readouterr().err
    assert f"{src}:2:" in err and "found 0 '<sep>'" in err and "--skip-bad" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_cli_skip_bad_prints_summary(tmp_path, capsys):
    src = write(tmp_path, "bad_src.txt", "ok<sep>kp<sep>u/a.jpg\nbroken line\nx<sep><sep>u/c.jpg\nok2<sep>kp<sep>u/b.jpg\n")
    assert mmkp("convert", "--in", src, "--to", "jsonl", "--out", tmp_path / "o.jsonl", "--skip-bad") == 0
    out = capsys.readouterr().out
    assert "skipped 2 bad records (1 empty-keyphrases, 1 missing-sep)" in out
    assert "wrote 2 posts" in out
    assert [p.id for p in load_posts(tmp_path / "o.jsonl")] == ["bad-1", "bad-4"]


def test_cli_missing_images_modes(tmp_path, capsys):
    args = ["convert", "--in", CMKP / "train_src.txt", "--image-dir", IMAGES, "--to", "jsonl"]
    assert mmkp(*args, "--out", tmp_path / "a.jsonl") == 1
    assert "NotHere.jpg" in capsys.readouterr().err
    assert mmkp(*args, "--out", tmp_path / "b.jsonl", "--missing-images", "skip") == 0
    assert "1 missing-image" in capsys.readouterr().out
    assert mmkp(*args, "--out", tmp_path / "c.jsonl", "--missing-images", "none") == 0
    assert "1 posts kept without their image" in capsys.readouterr().err
    assert len(load_posts(tmp_path / "c.jsonl")) == 4


def test_cli_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        mmkp("convert", "--help")
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("--skip-bad", "--image-dir", "--split", "examples:", "mmkp convert --in", "sharegpt"):
        assert word in out


# ---------------------------------------------------------------- the real CMKP tiny split

def cmkp_tiny() -> Path | None:
    env = os.environ.get("MMKP_CMKP_TINY")
    folder = Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/cmkp_tiny"
    return folder if (folder / "test_src.txt").is_file() else None


@pytest.mark.skipif(cmkp_tiny() is None,
                    reason="real CMKP tiny split not found: set MMKP_CMKP_TINY or place it at ../shared/data/cmkp_tiny")
def test_loads_real_cmkp_tiny_split(tmp_path):
    folder = cmkp_tiny()
    sizes = {}
    for split in ("train", "valid", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no bad record, no skipped image
            posts = load_posts(folder, split=split)
        sizes[split] = len(posts)
        assert all(p.keyphrases and all(k == k.strip() and k for k in p.keyphrases) for p in posts)
        assert all(p.image is None and p.meta["url"].startswith("http") for p in posts)
        # write back: the same bytes, side files included
        write_posts(posts, tmp_path / f"{split}_src.txt")
        assert (tmp_path / f"{split}_src.txt").read_bytes() == (folder / f"{split}_src.txt").read_bytes()
    assert sizes == {"train": 200, "valid": 200, "test": 50}
    test = load_posts(folder, split="test")
    assert all(isinstance(p.meta["ocr"], str) and len(p.meta["attributes"]) == 5 for p in test)
    assert any(p.meta["ocr"] for p in test)
    for side in ("test_ocr_final.txt", "test_attribute_cleaned.txt"):
        assert (tmp_path / side).read_bytes() == (folder / side).read_bytes()
