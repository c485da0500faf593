"""The teacher cache: append-only lines, half-written tails, resume states, the rationale loader."""
import json
import warnings

import pytest

from mmkp_lib.records import Post
from mmkp_lib.teacher import CacheError, CacheWarning, TeacherCache, load_rationales, read_cache
from mmkp_lib.teacher.cache import cache_key, post_fingerprint
from mmkp_lib.teacher.prompt import PROMPT_HASH

POST = Post(id="p1", text="a text", keyphrases=["beach"])


def rec(pid, status, think="why", backend="oracle", model="m", post=None, **kw):
    r = {"schema": 1, "key": [pid, backend, model, PROMPT_HASH], "status": status, "think": think,
         "request": {"post_fingerprint": post_fingerprint(post or Post(id=pid, text="a text", keyphrases=["beach"]))}}
    r.update(kw)
    return r


def test_append_and_reload(tmp_path):
    path = tmp_path / "c.jsonl"
    with TeacherCache(path) as c:
        c.append(rec("p1", "retry"))
        c.append(rec("p1", "accepted", think="because"))
        c.append(rec("p2", "rejected"))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(l) for l in lines)
    assert [r["status"] for r in read_cache(path)] == ["retry", "accepted", "rejected"]
    assert load_rationales(path) == {"p1": "because"}


def test_half_written_last_line_is_ignored_with_a_warning_and_cut_before_appending(tmp_path):
    path = tmp_path / "c.jsonl"
    good = json.dumps(rec("p1", "accepted")) + "\n"
    path.write_text(good + '{"schema": 1, "key": ["p2", "orac')  # a write cut short
    with pytest.warns(CacheWarning, match="half-written last line"):
        assert [r["key"][0] for r in read_cache(path)] == ["p1"]
    with pytest.warns(CacheWarning):
        c = TeacherCache(path)
    c.append(rec("p2", "accepted"))
    c.close()
    text = path.read_text()
    assert text.startswith(good) and text.count("\n") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the file is clean now: no warning
        assert [r["key"][0] for r in read_cache(path)] == ["p1", "p2"]


def test_unreadable_middle_line_is_skipped_with_its_line_number(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(rec("p1", "accepted")) + "\nnot json\n" + json.dumps(rec("p2", "accepted")) + "\n")
    with pytest.warns(CacheWarning, match=r"c.jsonl:2: skipping"):
        assert len(read_cache(path)) == 2


def test_states_for_resume(tmp_path):
    with TeacherCache(tmp_path / "c.jsonl") as c:
        for r in [rec("a", "retry"), rec("a", "retry"),
                  rec("b", "retry"), rec("b", "accepted"), rec("b", "retry"),  # a late line cannot undo accepted
                  rec("c", "retry"), rec("c", "rejected"),
                  rec("d", "retry"), rec("d", "error"),
                  rec("e", "rejected"), rec("e", "retry")]:
            c.append(r)
        s = {k[0]: (v.status, v.attempts_used) for k, v in c.states.items()}
    assert s == {"a": ("pending", 2), "b": ("accepted", 1), "c": ("rejected", 0), "d": ("pending", 1),
                 "e": ("pending", 1)}
    with TeacherCache(tmp_path / "c.jsonl") as again:  # the same states when read back from disk
        assert {k[0]: (v.status, v.attempts_used) for k, v in again.states.items()} == s


def test_one_writer_at_a_time(tmp_path):
    with TeacherCache(tmp_path / "c.jsonl"):
        with pytest.raises(CacheError, match="another `mmkp teacher` run"):
            TeacherCache(tmp_path / "c.jsonl")


def test_cache_written_for_other_data_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    with TeacherCache(path) as c:
        c.append(rec("p1", "accepted"))
    other = Post(id="p1", text="another text", keyphrases=["beach"])
    with TeacherCache(path) as c, pytest.raises(CacheError, match="other data"):
        c.check_fingerprints([other], "oracle", "m", PROMPT_HASH)
    with pytest.raises(CacheError, match="other"):
        load_rationales(path, [other])
    assert load_rationales(path, [POST]) == {"p1": "why"}


def test_load_rationales_filters_and_refuses_to_mix_teachers(tmp_path):
    path = tmp_path / "c.jsonl"
    with TeacherCache(path) as c:
        c.append(rec("p1", "accepted", think="oracle says", backend="oracle"))
        c.append(rec("p1", "accepted", think="gpt says", backend="openai", model="gpt-4o"))
        c.append(rec("p2", "rejected", backend="openai", model="gpt-4o"))
        c.append(rec("p3", "accepted", think="only oracle", backend="oracle"))
    with pytest.raises(CacheError, match="pass backend="):
        load_rationales(path)
    assert load_rationales(path, backend="openai") == {"p1": "gpt says"}
    assert load_rationales(path, backend="oracle") == {"p1": "oracle says", "p3": "only oracle"}
    assert load_rationales(path, [Post(id="p3", text="a text", keyphrases=["beach"])]) == {"p3": "only oracle"}
    with pytest.raises(FileNotFoundError, match="mmkp teacher"):
        load_rationales(tmp_path / "none.jsonl")


def test_key_is_id_backend_model_prompt_hash():
    assert cache_key("p", "openai", "gpt-4o", PROMPT_HASH) == ("p", "openai", "gpt-4o", PROMPT_HASH)
