"""Resuming: kill -9 a running `mmkp teacher`, cut its last line in half, run it again."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from _fake_openai import ScriptedChatServer, completion_reply
from mmkp_lib.records import Post, write_posts
from mmkp_lib.teacher import generate_rationales, read_cache
from mmkp_lib.teacher.openai_backend import OpenAIBackend

ROOT = Path(__file__).resolve().parents[1]
GOOD = "<think>The text and the red circle in the image.</think><answer>red circle</answer>"
WRONG = "<think>A blue square.</think><answer>blue square</answer>"


def write_dataset(folder: Path, n: int) -> Path:
    (folder / "images").mkdir(parents=True)
    posts = []
    for i in range(n):
        img = folder / "images" / f"p{i:03d}.png"
        Image.new("RGB", (8, 8), (200, 0, 0)).save(img)
        posts.append(Post(id=f"p{i:03d}", text=f"post number {i:03d}", keyphrases=["red circle"], image=str(img),
                          split="train"))
    write_posts(posts, folder / "train.jsonl")
    return folder


def script(request, n):
    text = request["messages"][1]["content"][1]["text"]
    first_wrong = any(f"post number {i:03d}" in text for i in range(0, 40, 5))
    return completion_reply(WRONG if (first_wrong and n == 1) else GOOD, delay_s=0.08)


def teacher_cmd(data, url, cache):
    return [sys.executable, "-m", "mmkp_lib.cli", "teacher", "--data", str(data), "--backend", "openai",
            "--model", "gpt-4o", "--base-url", url, "--workers", "3", "--out", str(cache), "--timeout", "5",
            "--no-progress"]


def teacher_env() -> dict:
    return dict(os.environ, OPENAI_API_KEY="test-key", PYTHONPATH=str(ROOT))


def start_teacher(data, url, cache, env, lines, **popen):
    """Start `mmkp teacher` in the background; return it once its cache holds `lines` lines (or after 30 s)."""
    proc = subprocess.Popen(teacher_cmd(data, url, cache), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (cache.exists() and cache.read_bytes().count(b"\n") >= lines):
        time.sleep(0.02)
    return proc


def test_kill_9_then_resume_loses_nothing_and_pays_nothing_twice(tmp_path):
    data = write_dataset(tmp_path / "data", 40)
    cache = tmp_path / "cache.jsonl"
    env = teacher_env()
    with ScriptedChatServer(script) as server:
        proc = start_teacher(data, server.url, cache, env, lines=15)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        first = cache.read_bytes()
        first_recs = [json.loads(l) for l in first.splitlines()]
        assert 15 <= len(first_recs) < 48, "the run must be killed mid-way"
        accepted_before = {r["key"][0] for r in first_recs if r["status"] == "accepted"}
        retried_before = {r["key"][0] for r in first_recs if r["status"] == "retry"} - accepted_before

        with open(cache, "ab") as f:  # a write cut short by the crash
            f.write(b'{"schema": 1, "key": ["p039", "openai", "gpt-4o"')
        n_before = len(server.log)
        second = subprocess.run(teacher_cmd(data, server.url, cache), env=env, cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "half-written last line" in second.stderr
        asked_again = [e["text"] for e in server.log[n_before:]]

    final = cache.read_bytes()
    assert final.startswith(first)  # every line of the killed run is kept, byte for byte
    recs = [json.loads(l) for l in final.splitlines()]  # and every line parses
    accepted = [r["key"][0] for r in recs if r["status"] == "accepted"]
    assert sorted(accepted) == [f"p{i:03d}" for i in range(40)]  # each post accepted exactly once
    assert not {f"post number {pid[1:]}" for pid in accepted_before} & set(asked_again)  # none paid twice
    for pid in retried_before:  # a post that had used an attempt continues with the next one
        assert [r["attempt"] for r in recs if r["key"][0] == pid] == [1, 2]
    assert "40 posts" in second.stdout and f"{len(accepted_before)} accepted" in second.stdout


def test_rejected_posts_are_retried_only_when_asked(tmp_path):
    data = write_dataset(tmp_path / "data", 2)
    from mmkp_lib.formats import load_posts

    posts = load_posts(data, split="train")
    cache = tmp_path / "c.jsonl"
    with ScriptedChatServer(lambda req, n: completion_reply(WRONG if n <= 2 else GOOD)) as server:
        def backend():
            return OpenAIBackend(model="gpt-4o", base_url=server.url, api_key="k", timeout=5)

        s1 = generate_rationales(posts, backend(), cache, max_attempts=2, progress=False)
        assert (s1.rejected, s1.reasons) == (2, {"wrong-answer": 2})
        s2 = generate_rationales(posts, backend(), cache, max_attempts=2, progress=False)
        assert (s2.skipped_rejected, s2.attempts, len(server.log)) == (2, 0, 4)
        s3 = generate_rationales(posts, backend(), cache, max_attempts=2, retry_rejected=True, progress=False)
        assert s3.accepted == 2 and len(server.log) == 6
    assert [r["attempt"] for r in read_cache(cache) if r["key"][0] == "p000"] == [1, 2, 1]


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(tmp_path):
    data = write_dataset(tmp_path / "data", 40)
    cache = tmp_path / "cache.jsonl"
    env = teacher_env()
    with ScriptedChatServer(script) as server:
        # A shell starting pytest in the background (`make test &`) hands its children SIGINT ignored, and Python
        # keeps an ignored SIGINT ignored: give the teacher the default disposition, as a terminal's Ctrl-C finds it.
        proc = start_teacher(data, server.url, cache, env, lines=10, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "[interrupted]" in out
        n_lines = cache.read_bytes().count(b"\n")
        assert cache.read_bytes().endswith(b"\n") and n_lines < 48
        rerun = subprocess.run(teacher_cmd(data, server.url, cache), env=env, cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
    recs = [json.loads(l) for l in cache.read_text().splitlines()]
    assert sorted(r["key"][0] for r in recs if r["status"] == "accepted") == [f"p{i:03d}" for i in range(40)]
