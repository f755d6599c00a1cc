"""`nlpt corpus download` against an HTTP server on 127.0.0.1 started by the test."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from _cli import nlpt

PAYLOAD = os.urandom(300_000) + b"the end"
TEXT = ("the quick brown fox " * 5000).encode()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("corpus/one.txt", TEXT)
        zf.writestr("corpus/ignored.txt", b"not extracted")
    return buf.getvalue()


ZIP = _zip_bytes()


class Server:
    """Serves fixed files with Range support; `/cut/...` stops after half of the body."""

    def __init__(self):
        self.files = {"/data.bin": PAYLOAD, "/a.txt": b"alpha\n", "/b.txt": b"beta\n", "/c.zip": ZIP}
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path
                cut = path.startswith("/cut/")
                if cut:
                    path = path[4:]
                rng = self.headers.get("Range")
                owner.requests.append((self.path, rng))
                body = owner.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                rest = body[start:]
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                if cut:
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(rest)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # a short poll interval: shutdown() waits for the next poll (0.5 s by default)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    with Server() as s:
        yield s


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def write_catalogue(tmp_path, server, sha_data=None, prefix=""):
    cat = {
        "blob": {
            "description": "test blob",
            "files": [{"url": f"{server.base}{prefix}/data.bin", "name": "data.bin", "sha256": sha_data or sha(PAYLOAD), "size": len(PAYLOAD)}],
        },
        "pair": {
            "description": "two files",
            "files": [
                {"url": f"{server.base}/a.txt", "name": "a.txt", "sha256": sha(b"alpha\n")},
                {"url": f"{server.base}/b.txt", "name": "b.txt", "sha256": sha(b"beta\n")},
            ],
        },
        "zipped": {
            "description": "an archive",
            "files": [{"url": f"{server.base}/c.zip", "name": "c.zip", "sha256": sha(ZIP), "extract": {"corpus/one.txt": "one.txt"}}],
        },
    }
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(cat))
    return {"NLPT_CATALOGUE": str(path)}


def test_good_checksum_places_the_file_atomically(tmp_path, server):
    env = write_catalogue(tmp_path, server)
    dest = tmp_path / "out"
    r = nlpt("corpus", "download", "blob", "--dest", dest, env=env)
    assert r.returncode == 0, r.stderr
    assert (dest / "data.bin").read_bytes() == PAYLOAD
    assert not (dest / "data.bin.part").exists()
    # Second run: already there, no new request.
    n = len(server.requests)
    r = nlpt("corpus", "download", "blob", "--dest", dest, env=env)
    assert r.returncode == 0 and "already there" in r.stderr
    assert len(server.requests) == n


def test_bad_checksum_is_an_error_and_leaves_nothing(tmp_path, server):
    env = write_catalogue(tmp_path, server, sha_data="0" * 64)
    dest = tmp_path / "out"
    r = nlpt("corpus", "download", "blob", "--dest", dest, "--quiet", env=env)
    assert r.returncode == 1
    assert "sha256 mismatch" in r.stderr and "data.bin" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (dest / "data.bin").exists() and not (dest / "data.bin.part").exists()


def test_interrupted_download_resumes_with_a_range_request(tmp_path, server):
    dest = tmp_path / "out"
    env = write_catalogue(tmp_path, server, prefix="/cut")
    r = nlpt("corpus", "download", "blob", "--dest", dest, env=env)
    assert r.returncode == 1
    assert "run the same command again to resume" in r.stderr
    part = dest / "data.bin.part"
    have = part.stat().st_size
    assert 0 < have < len(PAYLOAD)
    assert not (dest / "data.bin").exists()
    env = write_catalogue(tmp_path, server)  # the same file, now served whole
    r = nlpt("corpus", "download", "blob", "--dest", dest, env=env)
    assert r.returncode == 0, r.stderr
    assert (dest / "data.bin").read_bytes() == PAYLOAD
    assert ("/data.bin", f"bytes={have}-") in server.requests
    assert "resuming" in r.stderr


def test_unit_resume_appends_only_the_rest(tmp_path, server):
    from nlpt.corpus.download import download_file

    target = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    download_file(f"{server.base}/data.bin", str(target), sha(PAYLOAD), len(PAYLOAD), quiet=True)
    assert target.read_bytes() == PAYLOAD
    assert server.requests == [("/data.bin", "bytes=1000-")]


def test_multi_file_corpus_and_zip_extraction(tmp_path, server):
    env = write_catalogue(tmp_path, server)
    dest = tmp_path / "d"
    r = nlpt("corpus", "download", "pair", "-d", dest, "--json", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(os.path.basename(p) for p in json.loads(r.stdout)["files"]) == ["a.txt", "b.txt"]
    assert (dest / "a.txt").read_bytes() == b"alpha\n"
    r = nlpt("corpus", "download", "zipped", "-d", dest, "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert (dest / "one.txt").read_bytes() == TEXT
    assert not (dest / "c.zip").exists() and not (dest / "ignored.txt").exists()


def test_url_and_sha256_override_for_mirrors(tmp_path, server):
    dest = tmp_path / "m"
    r = nlpt("corpus", "download", "text8", "-d", dest, "--url", f"{server.base}/c.zip", "--sha256", sha(b"wrong"), "-q")
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    assert not any(dest.iterdir())


def test_catalogue_lists_the_standard_corpora():
    r = nlpt("corpus", "download", "--list", "--json")
    assert r.returncode == 0
    cat = json.loads(r.stdout)
    assert {"text8", "ptb", "wikitext-2-raw"} <= set(cat)
    for entry in cat.values():
        for f in entry["files"]:
            assert len(f["sha256"]) == 64
    assert nlpt("corpus", "download", "no-such-corpus").returncode == 2


def test_unreachable_server_is_a_one_line_error(tmp_path):
    r = nlpt("corpus", "download", "text8", "-d", tmp_path, "--url", "http://127.0.0.1:9/text8.zip", "--sha256", "0" * 64)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("nlpt: error: http://127.0.0.1:9/text8.zip: download failed")


def test_a_destination_that_is_a_file_is_refused_before_any_request(tmp_path, server):
    env = write_catalogue(tmp_path, server)
    dest = tmp_path / "notes.txt"
    dest.write_text("keep me\n")
    n = len(server.requests)
    r = nlpt("corpus", "download", "blob", "--dest", dest, env=env)
    assert r.returncode == 1 and r.stderr.strip() == f"nlpt: error: {dest}: exists and is not a folder"
    assert len(server.requests) == n and dest.read_text() == "keep me\n"
