"""`mmkp data fetch mmkp` (mmkp_lib.fetch): copies from a local mirror and downloads from a local HTTP server on
127.0.0.1, including a download cut off mid-file and resumed with a Range request. No network is used."""
import hashlib
import http.server
import threading

import pytest

from _mmkp import MMKP_MIRROR, needs_mmkp
from mmkp_lib import fetch
from mmkp_lib.cli import main

# Small stand-ins for the nine files; train_src.txt's keyphrases give train_keyphrases.txt (b twice, then a, c).
LINES = {"train_src.txt": "t one<sep>a;b<sep>u1.jpg\nt two<sep>b<sep>u2.jpg\nt three<sep>c;b<sep>u3.jpg\n",
         "valid_src.txt": "v one<sep>a<sep>u4.jpg\n", "test_src.txt": "s one<sep>b;d<sep>u5.jpg\n"}
FAKE = {name: (LINES.get(name) or f"{name} line\n" * (400 if name.startswith("train") else 3)).encode()
        for name in fetch.MMKP_FILES}


class Server:
    """A file server on 127.0.0.1 that honours Range, can cut a file off after N bytes (once), and logs requests."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut, self.ranges, self.ignore_range = files, {}, [], False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                if name not in outer.files:
                    self.send_error(404)
                    return
                body = outer.files[name]
                start = 0
                header = self.headers.get("Range")
                outer.ranges.append((name, header))
                if header and not outer.ignore_range:
                    start = int(header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = outer.cut.pop(name, None)
                self.wfile.write(body[start:cut] if cut is not None else body[start:])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True  # the server goes away mid-file

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data/tw_mm_s1/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server(dict(FAKE))
    yield s
    s.close()


def fetch_cli(*args):
    return main(["data", "fetch", "mmkp", "--no-progress", *map(str, args)])


def test_download_all_files_and_derive_the_keyphrase_list(server, tmp_path, capsys):
    out = tmp_path / "mmkp"
    assert fetch_cli("--base-url", server.url, "--out", out, "--no-checksum") == 0
    for name, body in FAKE.items():
        assert (out / name).read_bytes() == body
    assert (out / fetch.TRAIN_KEYPHRASES).read_text().splitlines() == ["b", "a", "c"]  # most frequent first
    assert not list(out.glob("*.part"))
    assert "10 fetched" in capsys.readouterr().out
    # again: everything is there and intact, nothing is requested anew
    server.ranges.clear()
    assert fetch_cli("--base-url", server.url, "--out", out, "--no-checksum") == 0
    assert server.ranges == [] and "0 fetched; 9 already there" in capsys.readouterr().out


def test_interrupted_download_leaves_a_part_and_resumes_with_range(server, tmp_path, capsys):
    out = tmp_path / "mmkp"
    body = FAKE["train_ocr_final.txt"]
    server.cut["train_ocr_final.txt"] = 1000  # the server closes after 1000 of the file's bytes
    assert fetch_cli("--base-url", server.url, "--out", out, "--no-checksum") == 1
    err = capsys.readouterr().err
    assert "train_ocr_final.txt: download interrupted after 1000 of" in err and "again resumes it" in err
    assert not (out / "train_ocr_final.txt").exists()  # a partial file never has the real name
    assert (out / "train_ocr_final.txt.part").read_bytes() == body[:1000]
    assert (out / "train_src.txt").exists()  # the files before it arrived whole
    assert fetch_cli("--base-url", server.url, "--out", out, "--no-checksum") == 0
    assert ("train_ocr_final.txt", "bytes=1000-") in server.ranges  # resumed, not restarted
    assert (out / "train_ocr_final.txt").read_bytes() == body
    assert not (out / "train_ocr_final.txt.part").exists()


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    out = tmp_path / "mmkp"
    out.mkdir()
    (out / "train_src.txt.part").write_bytes(b"stale bytes of an earlier try")
    server.ignore_range = True
    assert fetch_cli("--base-url", server.url, "--out", out, "--no-checksum") == 0
    assert (out / "train_src.txt").read_bytes() == FAKE["train_src.txt"]


def test_a_file_with_the_wrong_checksum_is_discarded_not_named(server, tmp_path, capsys):
    out = tmp_path / "mmkp"  # FAKE's valid_src.txt (the first checked) is not the authors' file, whose SHA-256 is known
    assert fetch_cli("--base-url", server.url, "--out", out) == 1
    err = capsys.readouterr().err
    assert "valid_src.txt: SHA-256" in err and "differs from the authors'" in err and "--no-checksum" in err
    assert not (out / "valid_src.txt").exists() and not (out / "valid_src.txt.part").exists()


def test_an_existing_file_that_differs_is_left_alone(server, tmp_path, capsys):
    out = tmp_path / "mmkp"
    out.mkdir()
    (out / "valid_src.txt").write_text("the user's own file\n")
    assert fetch_cli("--base-url", server.url, "--out", out) == 1
    assert "valid_src.txt already exists and is not the authors' file" in capsys.readouterr().err
    assert (out / "valid_src.txt").read_text() == "the user's own file\n"


def test_no_network_fails_fast_and_says_how_to_use_a_local_copy(tmp_path, capsys):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "mmkp"
    t0 = time.perf_counter()
    assert fetch_cli("--base-url", f"http://127.0.0.1:{port}/", "--out", out, "--timeout", "5") == 1
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert "needs a network" in err and "--from DIR" in err
    assert not out.exists()  # nothing arrived, so no empty folder is left


def test_from_needs_a_folder_with_test_posts(tmp_path, capsys):
    assert fetch_cli("--from", tmp_path, "--out", tmp_path / "out") == 1
    assert "no test_src.txt there" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert fetch_cli("--from", tmp_path, "--out", tmp_path / "file") == 1
    assert "is a file" in capsys.readouterr().err


@needs_mmkp
def test_copy_from_the_shared_mirror(tmp_path, capsys):
    out = tmp_path / "mmkp"
    assert fetch_cli("--from", MMKP_MIRROR, "--out", out) == 0
    copied = sorted(p.name for p in out.iterdir())
    assert copied == sorted(p.name for p in MMKP_MIRROR.iterdir())
    for name in copied:
        assert (out / name).read_bytes() == (MMKP_MIRROR / name).read_bytes()
    assert fetch.has_mmkp(out)


@needs_mmkp
def test_real_files_download_and_pass_their_checksums(tmp_path):
    files = {name: (MMKP_MIRROR / name).read_bytes() for name in fetch.MMKP_FILES if (MMKP_MIRROR / name).exists()}
    for name, body in files.items():
        assert hashlib.sha256(body).hexdigest() == fetch.KNOWN_SHA256[name]
    files.update({n: FAKE[n] for n in fetch.MMKP_FILES if n.startswith("train")})  # not in the mirror
    s = Server(files)
    try:
        s.cut["test_src.txt"] = 500_000  # cut the largest checked file mid-way, then resume it
        with pytest.raises(fetch.FetchError, match="interrupted after 500000 of 1110688 bytes"):
            fetch.fetch_mmkp(tmp_path, base_url=s.url, progress=False)
        fetch.fetch_mmkp(tmp_path, base_url=s.url, progress=False)
    finally:
        s.close()
    assert fetch.sha256(tmp_path / "test_src.txt") == fetch.KNOWN_SHA256["test_src.txt"]
