"""Helpers the tests share: the one way to run the CLI (`nlpt`), the synthetic corpus and small files made from it.

Fixtures built on these live in conftest.py; this module holds plain functions because module-scoped fixtures
and helpers inside test files call them too.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import traceback
from typing import NamedTuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = os.path.join(ROOT, "data", "synthetic.txt")
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")

needs_synthetic = pytest.mark.skipif(not os.path.exists(SYNTHETIC), reason="data/synthetic.txt missing")


class Result(NamedTuple):
    """What a run of the CLI left: unpacks as `code, out, err` and reads like subprocess's CompletedProcess."""

    returncode: int
    stdout: str | bytes
    stderr: str | bytes


def nlpt(*args, input=None, env=None, cwd=None, process=False, timeout=300) -> Result:
    """Run `nlpt ARGS` and return its exit code, stdout and stderr (text, or bytes when `input` is bytes).

    By default the CLI runs in this process (`nlpt.cli.main`, what the console script calls) with its own
    stdin/stdout/stderr, environment additions and working folder, so torch, numba and their compiled
    kernels load once per test session; an exception that escapes (only with --debug / NLPT_DEBUG) is printed
    as the interpreter would and gives exit 1. `process=True` starts `python -m nlpt` instead: for what only a
    real process shows (signals, closed descriptors, imports at start-up). NLPT_DEBUG from the calling
    environment is dropped either way.
    """
    argv = [str(a) for a in args]
    binary = isinstance(input, bytes)
    if process:
        full_env = {k: v for k, v in os.environ.items() if k != "NLPT_DEBUG"}
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "nlpt", *argv], input=input, capture_output=True,
                              text=not binary, env=full_env, cwd=cwd, timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)
    stdin = _Kept(input if binary else (input or "").encode("utf-8"))
    out, err = _Kept(), _Kept()
    with _environment(env, cwd), _streams(stdin, out, err):
        code = _run_main(argv)
    if binary:
        return Result(code, out.getvalue(), err.getvalue())
    return Result(code, _text(out.getvalue()), _text(err.getvalue()))


class _Kept(io.BytesIO):
    """A byte buffer that a command may close (as it may close its standard streams) and still be read after."""

    def close(self) -> None:
        pass


def _text(data: bytes) -> str:
    """Bytes as subprocess's text mode gives them: UTF-8 with universal newlines."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _run_main(argv: list[str]) -> int:
    from nlpt.cli import main

    try:
        main(argv)
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - what the interpreter does with an uncaught exception (--debug re-raises)
        traceback.print_exc()
        return 1


@contextlib.contextmanager
def _environment(env: dict | None, cwd):
    """Environment additions (NLPT_DEBUG dropped), working folder, signal handlers and torch's thread count
    (`--threads` sets it for the process), all restored afterwards."""
    torch = sys.modules.get("torch")
    saved_threads = torch.get_num_threads() if torch is not None else None
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ.pop("NLPT_DEBUG", None)
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for s, h in saved_handlers.items():
            signal.signal(s, h)
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)


@contextlib.contextmanager
def _streams(stdin: _Kept, out: _Kept, err: _Kept):
    """sys.stdin/stdout/stderr as text over the given byte buffers (with .buffer, as the real ones have)."""
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin = io.TextIOWrapper(io.BufferedReader(stdin), encoding="utf-8")  # .buffer peeks, as the real one
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    wrappers = sys.stdin, sys.stdout, sys.stderr
    try:
        yield
    finally:
        for stream in wrappers[1:]:
            with contextlib.suppress(ValueError):
                stream.flush()
        for stream in wrappers:
            with contextlib.suppress(ValueError):  # closed by the command
                stream.detach()
        sys.stdin, sys.stdout, sys.stderr = saved


def perturbed(model, scale: float, vectors_only: bool = False):
    """`model` with N(0, scale) noise added to its parameters (only the 1-D ones with `vectors_only`: norms and
    biases), so that a wrongly mapped norm or bias shows in the logits of a fresh model; returns the model."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1 or not vectors_only:
                p.add_(torch.randn_like(p) * scale)
    return model


def require_gloo(fsdp: bool = False) -> None:
    """Skip visibly unless this torch runs gloo process groups (and FSDP2's `fully_shard` when `fsdp`)."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    if fsdp:
        try:
            from torch.distributed.fsdp import fully_shard  # noqa: F401
        except ImportError:
            pytest.skip("this torch has no FSDP2 fully_shard")


def synthetic_head(tmp_path_factory, lines: int, name: str = "head.txt") -> str:
    """The first `lines` lines of data/synthetic.txt, written to a fresh temporary folder; returns its path."""
    if not os.path.exists(SYNTHETIC):
        pytest.skip("data/synthetic.txt missing")
    path = tmp_path_factory.mktemp("corpus") / name
    with open(SYNTHETIC, encoding="utf-8") as fh:
        head = [next(fh) for _ in range(lines)]
    path.write_text("".join(head), encoding="utf-8")
    return str(path)


def char_tokenizer_file(tmp_path_factory, corpus: str, size: int = 1000) -> str:
    """A character tokenizer.json of `corpus` in a fresh temporary folder; returns its path."""
    from nlpt.tokenizer.chars import char_tokenizer

    path = str(tmp_path_factory.mktemp("tok") / "tok.json")
    char_tokenizer([corpus], size).save(path)
    return path


def documents_and_tokenizers(tmp_path_factory, name: str, lines: int = 900, held_out: int = 0) -> dict:
    """Documents of 6 data/synthetic.txt lines (blank lines between them) in docs.txt, the same lines as one
    document in flat.txt, the next `held_out` lines in held.txt (plus a line of non-ASCII text), and WordPiece
    (wp), BPE (bpe), char (char) and BPE + 20 T5 sentinels (t5) tokenizers made by the CLI; returns the paths."""
    if not os.path.exists(SYNTHETIC):
        pytest.skip("data/synthetic.txt missing")
    d = tmp_path_factory.mktemp(name)
    with open(SYNTHETIC, encoding="utf-8") as fh:
        text = [next(fh).strip() for _ in range(lines + held_out)]
    body, held = text[:lines], text[lines:]
    corpus = d / "docs.txt"
    corpus.write_text("".join("\n".join(body[i:i + 6]) + "\n\n" for i in range(0, len(body), 6)), encoding="utf-8")
    flat = d / "flat.txt"
    flat.write_text("\n".join(body) + "\n", encoding="utf-8")
    sources = [corpus]
    if held_out:
        (d / "held.txt").write_text("\n".join(held) + "\ncafé – naïve\n", encoding="utf-8")
        sources.append(d / "held.txt")
    for args in (["vocab", "--tokenizer", "wordpiece", "--size", 300, "-o", d / "wp.json", *sources, "--quiet"],
                 ["vocab", "--tokenizer", "bpe", "--size", 300, "-o", d / "bpe.json", *sources, "--quiet"],
                 ["vocab", "--tokenizer", "char", "--size", 100, "-o", d / "char.json", *sources, "--quiet"],
                 ["pretrain", "add-sentinels", d / "bpe.json", "-o", d / "t5.json", "--count", 20]):
        r = nlpt(*args)
        assert r.returncode == 0, (args, r.stderr)
    return {"dir": d, "corpus": str(corpus), "flat": str(flat), "held": str(d / "held.txt"),
            **{k: str(d / f"{k}.json") for k in ("wp", "bpe", "char", "t5")}}
