"""Fixtures the test files share: small corpora and tokenizers made once per session.

They are read-only for the tests that use them: a test that changes a file copies it into its own tmp_path
first. Plain helpers (the CLI runner `nlpt`, `synthetic_head`, ...) live in tests/_cli.py, which test files and
module-scoped fixtures import.
"""

from __future__ import annotations

import pytest

from _cli import char_tokenizer_file, documents_and_tokenizers, synthetic_head


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> str:
    """The first 600 lines of data/synthetic.txt: enough text for a tiny decoder to train a few steps on."""
    return synthetic_head(tmp_path_factory, 600)


@pytest.fixture(scope="session")
def char_tok(corpus, tmp_path_factory) -> str:
    """A character tokenizer.json of `corpus`."""
    return char_tokenizer_file(tmp_path_factory, corpus)


@pytest.fixture(scope="session")
def documents(tmp_path_factory) -> dict:
    """600 lines of data/synthetic.txt as documents (docs.txt) and as one text (flat.txt), 40 held-out lines
    (held.txt) and WordPiece, BPE, char and T5-sentinel tokenizers of them: see `documents_and_tokenizers`."""
    return documents_and_tokenizers(tmp_path_factory, "documents", lines=600, held_out=40)
