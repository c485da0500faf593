"""The openai backend against a scripted chat-completions server on 127.0.0.1: retries, validation, the cache."""
import time

import pytest
from PIL import Image

from _fake_openai import ScriptedChatServer, completion_reply, error_reply, garbage_reply
from mmkp_lib.records import Post
from mmkp_lib.teacher import FatalBackendError, generate_rationales, read_cache
from mmkp_lib.teacher.openai_backend import OpenAIBackend, parse_retry_after

GOLD = ["red circle", "beach"]
GOOD = "<think>The text talks about a day out; the image shows a red circle on a beach.</think>" \
       "<answer>red circle; beach</answer>"
WRONG = "<think>The image shows a blue square.</think><answer>blue square; beach</answer>"
MALFORMED = "<think>reasoning without an answer tag</think> red circle; beach"


def make_posts(tmp_path, names):
    posts = []
    for name in names:
        img = tmp_path / f"{name}.png"
        Image.new("RGB", (8, 8), (200, 30, 30)).save(img)
        posts.append(Post(id=name, text=f"post {name}: a day out", keyphrases=list(GOLD), image=str(img)))
    return posts


def backend_for(server, **kw):
    opts = dict(model="gpt-4o", base_url=server.url, api_key="test-key", timeout=0.5, max_request_retries=3,
                backoff_base=0.01, backoff_max=0.05)
    opts.update(kw)
    return OpenAIBackend(**opts)


# Per post: the replies to its 1st, 2nd, ... request.
SCRIPT = {
    "good": [completion_reply(GOOD)],
    "wrong_then_good": [completion_reply(WRONG), completion_reply(GOOD)],
    "malformed": [completion_reply(MALFORMED, kind="malformed")] * 3,
    "rate_limited": [error_reply(429, "slow down", {"retry-after": "0.3"}), completion_reply(GOOD)],
    "server_error": [error_reply(500), error_reply(503), completion_reply(GOOD)],
    "slow": [completion_reply(GOOD, delay_s=1.5, kind="slow"), completion_reply(GOOD)],
    "garbage": [garbage_reply(), completion_reply(GOOD)],
    "always_500": [error_reply(500)] * 10,
    "bad_request": [error_reply(400, "image too large")],
}


def script(request, n):
    name = next(k for k in SCRIPT if f"post {k}:" in request["messages"][1]["content"][1]["text"])
    replies = SCRIPT[name]
    return replies[min(n, len(replies)) - 1]


@pytest.fixture
def server():
    with ScriptedChatServer(script) as s:
        yield s


def lines_by_post(cache):
    out = {}
    for rec in read_cache(cache):
        out.setdefault(rec["key"][0], []).append(rec)
    return out


def test_faults_are_retried_validated_and_recorded(tmp_path, server):
    posts = make_posts(tmp_path, SCRIPT)
    cache = tmp_path / "cache.jsonl"
    t0 = time.perf_counter()
    summary = generate_rationales(posts, backend_for(server), cache, max_attempts=3, workers=4, progress=False)
    elapsed = time.perf_counter() - t0
    lines = lines_by_post(cache)

    def statuses(name):
        return [r["status"] for r in lines[name]]

    def outcomes(rec):
        return [t["outcome"] for t in rec["transport"]]

    assert statuses("good") == ["accepted"]
    assert outcomes(lines["good"][0]) == ["ok"]
    assert lines["good"][0]["think"].startswith("The text talks about")

    assert statuses("wrong_then_good") == ["retry", "accepted"]
    assert lines["wrong_then_good"][0]["reason"] == "wrong-answer"
    assert "blue square" in lines["wrong_then_good"][0]["detail"]
    assert lines["wrong_then_good"][0]["response"] == WRONG  # the raw response is kept

    assert statuses("malformed") == ["retry", "retry", "rejected"]
    assert {r["reason"] for r in lines["malformed"]} == {"malformed-tags"}
    assert [r["attempt"] for r in lines["malformed"]] == [1, 2, 3]

    rl = lines["rate_limited"]
    assert statuses("rate_limited") == ["accepted"]
    assert outcomes(rl[0]) == ["http-429", "ok"]
    assert rl[0]["transport"][0]["retry_after_s"] == pytest.approx(0.3)
    assert rl[0]["transport"][0]["wait_s"] == pytest.approx(0.3)  # Retry-After honoured, not the tiny backoff
    assert rl[0]["elapsed_s"] >= 0.3

    assert outcomes(lines["server_error"][0]) == ["http-500", "http-503", "ok"]
    waits = [t["wait_s"] for t in lines["server_error"][0]["transport"][:2]]
    assert 0.005 <= waits[0] <= 0.015 and 0.01 <= waits[1] <= 0.03  # 0.01 * 2^k * [0.5, 1.5)

    assert outcomes(lines["slow"][0]) == ["timeout", "ok"]
    assert outcomes(lines["garbage"][0]) == ["bad-response", "ok"]

    failed = lines["always_500"]
    assert statuses("always_500") == ["error"]
    assert failed[0]["reason"] == "request-failed" and failed[0]["response"] is None
    assert outcomes(failed[0]) == ["http-500"] * 4  # 1 + max_request_retries
    assert statuses("bad_request") == ["error"]
    assert outcomes(lines["bad_request"][0]) == ["http-400"]  # a 400 is not retried

    # The server saw exactly the requests the cache describes.
    for name in SCRIPT:
        n_cached = sum(len(r["transport"]) for r in lines[name])
        assert len(server.requests_for(f"post {name}: a day out")) == n_cached, name
    assert all(e["has_image"] and e["model"] == "gpt-4o" for e in server.log)

    # Usage and cost: 100 in + 50 out tokens per completion at gpt-4o's $2.50 / $10 per 1M.
    completions = sum(1 for recs in lines.values() for r in recs if r["response"] is not None)
    assert summary.input_tokens == 100 * completions and summary.output_tokens == 50 * completions
    assert summary.cost_usd == pytest.approx(completions * (100 * 2.5 + 50 * 10) / 1e6)
    assert (summary.accepted, summary.rejected, summary.errors) == (6, 1, 2)
    assert summary.reasons == {"malformed-tags": 1}
    assert summary.retry_reasons == {"malformed-tags": 3, "wrong-answer": 1}
    assert elapsed < 10

    # Run again: accepted and rejected posts cost nothing; failed requests are asked again.
    before = len(server.log)
    again = generate_rationales(posts, backend_for(server), cache, max_attempts=3, workers=4, progress=False)
    assert (again.skipped_accepted, again.skipped_rejected) == (6, 1)
    asked = {e["text"] for e in server.log[before:]}
    assert asked == {"post always_500: a day out", "post bad_request: a day out"}


def test_concurrency_and_requests_per_minute(tmp_path):
    with ScriptedChatServer(lambda req, n: completion_reply(GOOD, delay_s=0.3)) as server:
        posts = make_posts(tmp_path, [f"c{i}" for i in range(8)])
        t0 = time.perf_counter()
        s = generate_rationales(posts, backend_for(server, timeout=5), tmp_path / "a.jsonl", workers=4,
                                progress=False)
        parallel = time.perf_counter() - t0
        assert s.accepted == 8
        # Requests overlap: each is answered after 0.3 s, so one worker at a time would start them >= 0.3 s apart;
        # 4 workers start several within a few milliseconds (counted at the server, whatever the machine's load).
        starts = sorted(e["t"] for e in server.log)
        assert sum(b - a < 0.15 for a, b in zip(starts, starts[1:])) >= 3, [round(b - a, 3) for a, b in zip(starts, starts[1:])]
        assert parallel < 2.4 + 1.0  # and the whole run takes less than serial plus slack (2.4 s = 8 x 0.3 s)

    with ScriptedChatServer(lambda req, n: completion_reply(GOOD)) as server:
        posts = make_posts(tmp_path, [f"r{i}" for i in range(5)])
        generate_rationales(posts, backend_for(server, rpm=600), tmp_path / "b.jsonl", workers=4, progress=False)
        starts = sorted(e["t"] for e in server.log)
        # 600 rpm = one start every 0.1 s, whatever the number of workers: the k-th request cannot arrive before
        # k x 0.1 s after the first. (Measured at the server, so one request delayed on its way by a busy machine
        # shortens the next gap alone; checking single gaps failed under load with a limiter that works.)
        assert all(t - starts[0] >= 0.1 * k - 0.02 for k, t in enumerate(starts)), [t - starts[0] for t in starts]
        assert starts[-1] - starts[0] < 0.4 + 1.0  # and it does not wait far longer than the rate asks


def test_bad_key_stops_the_run(tmp_path):
    with ScriptedChatServer(lambda req, n: error_reply(401, "invalid api key")) as server:
        posts = make_posts(tmp_path, ["a", "b", "c"])
        with pytest.raises(FatalBackendError, match="401"):
            generate_rationales(posts, backend_for(server), tmp_path / "c.jsonl", workers=1, progress=False)
        assert len(server.log) == 1  # stopped at once, no retries, no other posts


def test_retry_after_parsing():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("MMKP_TEACHER_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    b = OpenAIBackend()
    assert b.model == "gpt-4o-mini" and b.base_url == "http://127.0.0.1:9/v1"
    assert b.client.max_retries == 0  # our retry loop, not the client's, decides and records
    assert b.price.input == 0.15
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIBackend()


def test_a_stopped_run_does_not_sit_out_a_long_retry_after(tmp_path):
    import threading

    with ScriptedChatServer(lambda req, n: error_reply(429, "busy", {"retry-after": "30"})) as server:
        backend = backend_for(server)
        [post] = make_posts(tmp_path, ["x"])
        threading.Timer(0.3, backend.stop.set).start()  # what Ctrl-C in the generation loop does
        t0 = time.perf_counter()
        [resp] = backend.generate([post], 300)
        assert time.perf_counter() - t0 < 5
    assert resp.text is None and "interrupted" in resp.error
    assert resp.transport[0]["retry_after_s"] == 30.0
