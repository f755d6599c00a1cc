"""Text normalisation and tokenization, applied chunk by chunk.

The default is word2vec's: split on whitespace, keep everything else. Options
add NFKC normalisation, lower-casing, punctuation splitting and CJK splitting
(each Han, Kana or Hangul character becomes a token, so Chinese and Japanese
text needs no segmenter).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

# Han (incl. extensions and compatibility), Hiragana, Katakana, Hangul, and
# CJK symbols/punctuation and full-width forms.
CJK_RANGES = (
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3000-\u303f"  # CJK symbols and punctuation
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u31ff"  # Bopomofo, Hangul compatibility jamo, Katakana ext.
    "\u3200-\u33ff"  # enclosed CJK, compatibility
    "\u3400-\u4dbf"  # Han ext. A
    "\u4e00-\u9fff"  # Han
    "\uac00-\ud7af"  # Hangul syllables
    "\u1100-\u11ff"  # Hangul jamo
    "\uf900-\ufaff"  # Han compatibility
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # half/full-width forms
    "\U00020000-\U0003134f"  # Han ext. B-G
)


@dataclass(frozen=True)
class TokenizerOptions:
    """How raw text becomes tokens. Frozen: it is part of a run's identity."""

    lower: bool = False
    nfkc: bool = False
    split_punct: bool = False
    cjk: bool = False

    @property
    def is_plain(self) -> bool:
        return not (self.lower or self.nfkc or self.split_punct or self.cjk)


def _pattern(opts: TokenizerOptions) -> re.Pattern | None:
    if opts.cjk and opts.split_punct:
        return re.compile(rf"[{CJK_RANGES}]|[^\W{CJK_RANGES}]+|[^\w\s{CJK_RANGES}]")
    if opts.cjk:
        return re.compile(rf"[{CJK_RANGES}]|[^\s{CJK_RANGES}]+")
    if opts.split_punct:
        return re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[^\w\s]|_")
    return None


def make_splitter(opts: TokenizerOptions) -> Callable[[str], list[str]]:
    """Return a function that turns a text (one line or a whole chunk) into tokens."""
    pattern = _pattern(opts)
    lower, nfkc = opts.lower, opts.nfkc

    def normalise(text: str) -> str:
        if nfkc:
            text = unicodedata.normalize("NFKC", text)
        if lower:
            text = text.lower()
        return text

    if pattern is None:
        if not (lower or nfkc):
            return str.split
        return lambda text: normalise(text).split()
    findall = pattern.findall
    return lambda text: findall(normalise(text))


def make_normaliser(opts: TokenizerOptions) -> Callable[[str], str]:
    """Only the character-level part (NFKC, lower): cheap to apply to whole chunks."""
    if opts.nfkc and opts.lower:
        return lambda t: unicodedata.normalize("NFKC", t).lower()
    if opts.nfkc:
        return lambda t: unicodedata.normalize("NFKC", t)
    if opts.lower:
        return str.lower
    return lambda t: t
