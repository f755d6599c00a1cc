"""The embedded synthetic data (data/) is reproducible and self-consistent."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
GENERATOR = DATA / "generate.py"
FILES = ("synthetic.txt", "synthetic-questions.txt", "synthetic-similarity.tsv", "README.md")


def _load_generator():
    spec = importlib.util.spec_from_file_location("nlpt_data_generate", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def corpus_counts() -> Counter:
    counts: Counter = Counter()
    with open(DATA / "synthetic.txt", encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    return counts


def _parse_questions(path: Path) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    current = None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(":"):
            current = line[1:].strip()
            assert current and current not in sections, f"line {n}: bad or repeated section"
            sections[current] = []
        else:
            words = line.split()
            assert current is not None, f"line {n}: question before any section"
            assert len(words) == 4, f"line {n}: {line!r}"
            sections[current].append(words)
    return sections


@pytest.mark.slow
def test_regenerating_with_default_seed_is_byte_identical(tmp_path):
    # Through the command line, as the README documents it.
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
    assert not [p.name for p in tmp_path.iterdir() if p.name not in FILES]  # no temp files left


@pytest.mark.slow
def test_seed_changes_output_and_build_is_repeatable():
    gen = _load_generator()
    a = gen.build(seed=gen.DEFAULT_SEED)
    b = gen.build(seed=gen.DEFAULT_SEED + 1)
    assert a["synthetic.txt"] != b["synthetic.txt"]
    assert gen.build(seed=gen.DEFAULT_SEED + 1) == b


def test_readme_lists_current_sha256_and_sizes():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in readme.lower() and "python data/generate.py" in readme
    for name in FILES[:3]:
        data = (DATA / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() in readme, name
        assert f"{len(data):,}" in readme, name


def test_corpus_shape(corpus_counts):
    total = sum(corpus_counts.values())
    assert 500_000 <= total <= 1_000_000
    assert len(corpus_counts) >= 3000
    assert (DATA / "synthetic.txt").stat().st_size <= 6_000_000
    text = (DATA / "synthetic.txt").read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n" not in text
    assert text == text.lower() and re.fullmatch(r"[a-z \n]+", text)
    # Zipf-like: the most frequent word is far more frequent than the median word.
    freqs = sorted(corpus_counts.values(), reverse=True)
    assert freqs[0] > 50 * freqs[len(freqs) // 2]


def test_questions_parse_and_every_word_is_frequent(corpus_counts):
    sections = _parse_questions(DATA / "synthetic-questions.txt")
    assert set(sections) == {
        "capital-world", "family", "gram3-comparative", "gram4-superlative",
        "gram5-present-participle", "gram7-past-tense", "gram8-plural",
    }
    total = sum(len(q) for q in sections.values())
    assert 300 <= total <= 2500
    for name, questions in sections.items():
        assert len(questions) >= 50, name
        assert len({tuple(q) for q in questions}) == len(questions), name
        for q in questions:
            assert all(corpus_counts[w] >= 5 for w in q), (name, q)
            assert len(set(q)) == 4, (name, q)
    assert ["france", "paris", "italy", "rome"] in sections["capital-world"] or any(
        q[:2] == ["france", "paris"] for q in sections["capital-world"]
    )


def test_similarity_file_parses_like_wordsim353(corpus_counts):
    lines = (DATA / "synthetic-similarity.tsv").read_text(encoding="utf-8").splitlines()
    comments = [l for l in lines if l.startswith("#")]
    rows = [l.split("\t") for l in lines if not l.startswith("#")]
    assert comments and lines[: len(comments)] == comments  # comment/header lines first
    assert len(rows) >= 100
    pairs = set()
    for row in rows:
        assert len(row) == 3, row
        w1, w2, score = row
        assert 0.0 <= float(score) <= 10.0
        assert corpus_counts[w1] >= 5 and corpus_counts[w2] >= 5, row
        pairs.add(frozenset((w1, w2)))
    assert len(pairs) == len(rows)
    # Gold follows the construction: two forms of one concept score high, cross-relation low.
    scores = {frozenset((a, b)): float(s) for a, b, s in rows}
    gen = _load_generator()
    same_group = [v for k, v in scores.items()
                  if any(k <= set(g) for rel in gen.RELATIONS for g in rel[3])]
    assert same_group and min(same_group) > max(
        v for k, v in scores.items()
        if not any(k <= {w for g in rel[3] for w in g} for rel in gen.RELATIONS)
    )
