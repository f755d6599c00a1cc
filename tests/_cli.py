"""Helpers shared by the trainers' end-to-end CLI tests (train-w2v, train-glove)."""

from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = os.path.join(ROOT, "data", "synthetic.txt")

needs_synthetic = pytest.mark.skipif(not os.path.exists(SYNTHETIC), reason="data/synthetic.txt missing")


def synthetic_head(tmp_path_factory, lines: int, name: str = "head.txt") -> str:
    """The first `lines` lines of data/synthetic.txt, written to a fresh temporary folder; returns its path."""
    path = tmp_path_factory.mktemp("corpus") / name
    with open(SYNTHETIC, encoding="utf-8") as fh:
        head = [next(fh) for _ in range(lines)]
    path.write_text("".join(head), encoding="utf-8")
    return str(path)
