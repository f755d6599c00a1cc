"""Helpers shared by the end-to-end CLI tests (trainers, pretrain)."""

from __future__ import annotations

import os
import signal

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = os.path.join(ROOT, "data", "synthetic.txt")

needs_synthetic = pytest.mark.skipif(not os.path.exists(SYNTHETIC), reason="data/synthetic.txt missing")


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
    from nlpt.vocab.chars import char_tokenizer

    path = str(tmp_path_factory.mktemp("tok") / "tok.json")
    char_tokenizer([corpus], size).save(path)
    return path


def nlpt_main(*args, capsys=None):
    """Run the CLI in this process (torch is imported once); returns (exit code, stdout, stderr).

    The CLI installs its own SIGINT/SIGTERM handlers: they are restored afterwards.
    """
    from nlpt.cli import main

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def documents_and_tokenizers(tmp_path_factory, name: str, lines: int = 900, held_out: int = 0) -> dict:
    """Documents of 6 data/synthetic.txt lines (blank lines between them) in docs.txt, the same lines as one
    document in flat.txt, the next `held_out` lines in held.txt (plus a line of non-ASCII text), and WordPiece
    (wp), BPE (bpe), char (char) and BPE + 20 T5 sentinels (t5) tokenizers made by the CLI; returns the paths."""
    if not os.path.exists(SYNTHETIC):
        pytest.skip("data/synthetic.txt missing")
    from nlpt.cli import main

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
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            assert not exc.code, args
    return {"dir": d, "corpus": str(corpus), "flat": str(flat), "held": str(d / "held.txt"),
            **{k: str(d / f"{k}.json") for k in ("wp", "bpe", "char", "t5")}}
