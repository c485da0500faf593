"""Canonical JSONL (mmkp_lib.records): errors name file, line and problem; round trips keep images."""
import json
import shutil
from pathlib import Path

import pytest

from mmkp_lib.records import BadRecords, DataError, Post, load_image, read_posts, write_posts

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = {"id": "x1", "text": "a post", "keyphrases": ["kp one"], "image": None}


def jsonl(tmp_path, lines, name="posts.jsonl"):
    path = tmp_path / name
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines), encoding="utf-8")
    return path


def assert_error(exc_info, path, line, reason, *words):
    err = exc_info.value
    assert err.reason == reason
    assert err.line == line
    assert f"{Path(path).name}:{line}:" in str(err)
    for w in words:
        assert w in str(err)


def test_reads_fixture_with_images_made_absolute():
    posts = read_posts(FIXTURES / "posts.jsonl")
    assert [p.id for p in posts] == ["p1", "p2", "p3"]
    assert posts[0].keyphrases == ["open water swimming", "summer"]
    assert Path(posts[0].image) == (FIXTURES / "images" / "red.png")
    assert posts[2].image is None
    assert posts[0].meta == {"source": "hand-written"}
    assert [p.split for p in posts] == ["train", "train", "test"]


def test_bad_json_names_line(tmp_path):
    path = jsonl(tmp_path, [GOOD, '{"id": "x2", "text": "oops"'])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "bad-json", "not valid JSON")


def test_not_an_object(tmp_path):
    path = jsonl(tmp_path, [GOOD, "[1, 2]"])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "bad-json", "expected a JSON object")


@pytest.mark.parametrize("field", ["id", "text", "keyphrases"])
def test_missing_field(tmp_path, field):
    bad = {k: v for k, v in dict(GOOD, id="x2").items() if k != field}
    path = jsonl(tmp_path, [GOOD, bad])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "bad-field", repr(field))


@pytest.mark.parametrize("keyphrases", [[], ["", "  "]])
def test_empty_keyphrases(tmp_path, keyphrases):
    path = jsonl(tmp_path, [GOOD, dict(GOOD, id="x2", keyphrases=keyphrases)])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "empty-keyphrases", "'x2'")


def test_duplicate_id_names_both_lines(tmp_path):
    path = jsonl(tmp_path, [GOOD, dict(GOOD, id="x2"), dict(GOOD, text="again")])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 3, "duplicate-id", "'x1'", "first at line 1")


def test_missing_image(tmp_path):
    path = jsonl(tmp_path, [GOOD, dict(GOOD, id="x2", image="images/gone.png")])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "missing-image", "gone.png")
    assert len(read_posts(path, check_images=False)) == 2  # the check is what fails, not the parse


def test_unreadable_image(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    path = jsonl(tmp_path, [dict(GOOD, image="broken.png")])
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 1, "unreadable-image", "broken.png")


def test_not_utf8(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"id": "x2", "text": "caf\xe9", "keyphrases": ["k"]}\n')
    with pytest.raises(DataError) as e:
        read_posts(path)
    assert_error(e, path, 2, "not-utf8", "not UTF-8")


def test_skip_counts_by_reason(tmp_path):
    path = jsonl(tmp_path, [GOOD, "{broken", dict(GOOD, id="x2", keyphrases=[]), dict(GOOD, text="dup"),
                            dict(GOOD, id="x3", image="gone.png"), dict(GOOD, id="x4")])
    bad = BadRecords("skip")
    posts = read_posts(path, bad=bad)
    assert [p.id for p in posts] == ["x1", "x4"]
    assert bad.counts == {"bad-json": 1, "empty-keyphrases": 1, "duplicate-id": 1, "missing-image": 1}
    assert "skipped 4 bad records" in bad.summary()


def test_round_trip_relative_images_survive_a_move(tmp_path):
    src = tmp_path / "ds"
    (src / "images").mkdir(parents=True)
    shutil.copy(FIXTURES / "images" / "red.png", src / "images" / "red.png")
    posts = [Post("a", "text one", ["kp a", "kp b"], str(src / "images" / "red.png"), "train", {"ocr": "X"}),
             Post("b", "text two", ["kp c"], None, "test")]
    assert write_posts(posts, src / "posts.jsonl") == 2
    written = [json.loads(l) for l in (src / "posts.jsonl").read_text().splitlines()]
    assert written[0]["image"] == "images/red.png"  # relative on disk
    moved = tmp_path / "moved"
    shutil.move(src, moved)
    back = read_posts(moved / "posts.jsonl")
    assert Path(back[0].image) == moved / "images" / "red.png"
    assert [(p.id, p.text, p.keyphrases, p.split, p.meta) for p in back] == \
        [(p.id, p.text, p.keyphrases, p.split, p.meta) for p in posts]
    assert back[1].image is None


def test_image_outside_folder_stays_absolute(tmp_path):
    image = (FIXTURES / "images" / "blue.png").resolve()
    write_posts([Post("a", "t", ["k"], str(image))], tmp_path / "out" / "posts.jsonl")
    assert json.loads((tmp_path / "out" / "posts.jsonl").read_text())["image"] == str(image)
    assert read_posts(tmp_path / "out" / "posts.jsonl")[0].image == str(image)


def test_images_absolute_when_read_through_a_relative_path(monkeypatch):
    monkeypatch.chdir(FIXTURES.parent)
    posts = read_posts(Path("fixtures") / "posts.jsonl")
    assert Path(posts[0].image).is_absolute()
    assert Path(posts[0].image) == FIXTURES / "images" / "red.png"


def test_load_image_gives_rgb_at_full_size(tmp_path):
    from PIL import Image

    path = tmp_path / "grey.png"
    Image.new("L", (40, 30), color=200).save(path)  # one channel on disk
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)
    assert image.getpixel((5, 5)) == (200, 200, 200)
