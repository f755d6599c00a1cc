"""Training tokenizers: subword ones (BPE, WordPiece) trained with Hugging Face `tokenizers` from the reader's stream.

* `bpe`: byte-level byte-pair encoding (GPT-2 style): merges of the most
  frequent adjacent symbol pairs, starting from the 256 byte symbols, so any
  text encodes without an unknown token and decodes back exactly.
* `wordpiece`: BERT's WordPiece with the `[PAD] [UNK] [CLS] [SEP] [MASK]`
  special tokens, BERT's normaliser (CJK characters split apart) and a
  `[CLS] ... [SEP]` template.

The reader's normalisation (`--lower`, `--nfkc`) is also written into the
tokenizer's normaliser, so encoding new text later matches training. The
result is one `tokenizer.json`, written atomically (`nlpt.tokenizer.files.save_tokenizer`), that the
Transformer commands load with `nlpt.tokenizer.files.load_tokenizer`. `char` (nlpt.tokenizer.chars) needs
no training: one token per character seen.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Iterator

from nlpt.common.errors import NlptError, UsageError
from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, iter_sentences

KINDS = ("bpe", "wordpiece", "char")
MAX_SIZE = 1 << 20  # 1,048,576: four times the largest vocabularies in use (~256k); beyond, `tokenizers` may abort
BPE_SPECIAL = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
WORDPIECE_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def require_tokenizers() -> None:
    """The Hugging Face `tokenizers` library is an optional dependency: say how to get it."""
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        raise NlptError("subword tokenizers need the `tokenizers` library: pip install 'nlpt[tokenizers]'") from None


def build_tokenizer(kind: str, size: int, min_count: int, opts: ReaderOptions, show_progress: bool):
    """An untrained tokenizer and its trainer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    norms = []
    if opts.tokenizer.nfkc:
        norms.append(normalizers.NFKC())
    if kind == "bpe":
        if opts.tokenizer.lower:
            norms.append(normalizers.Lowercase())
        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
        trainer = trainers.BpeTrainer(
            vocab_size=size,
            min_frequency=min_count,
            special_tokens=BPE_SPECIAL,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
    elif kind == "wordpiece":
        norms.append(
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=opts.tokenizer.lower)
        )
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        trainer = trainers.WordPieceTrainer(
            vocab_size=size, min_frequency=min_count, special_tokens=WORDPIECE_SPECIAL, show_progress=show_progress
        )
    else:
        raise UsageError(f"--tokenizer must be one of {', '.join(KINDS)}, not {kind!r}")
    if norms:
        tok.normalizer = norms[0] if len(norms) == 1 else normalizers.Sequence(norms)
    return tok, trainer


def _batches(sentences: Iterator[list[str]], batch: int = 1000) -> Iterator[list[str]]:
    buf: list[str] = []
    for s in sentences:
        buf.append(" ".join(s))
        if len(buf) >= batch:
            yield buf
            buf = []
    if buf:
        yield buf


def train_tokenizer(paths: list[str], kind: str, size: int, min_count: int = 2, opts: ReaderOptions = ReaderOptions(), quiet: bool = True):
    """Train a `kind` tokenizer of about `size` entries on `paths`; returns (tokenizer, ReadStats)."""
    if size < 1:
        raise UsageError("--size must be positive")
    require_tokenizers()
    stats = ReadStats()
    if kind == "char":  # no training: the characters seen (nlpt.tokenizer.chars)
        from nlpt.tokenizer.chars import char_tokenizer

        return char_tokenizer(paths, size, opts, stats), stats
    show = not quiet and sys.stderr.isatty()
    tok, trainer = build_tokenizer(kind, size, min_count, opts, show)
    if kind == "wordpiece":
        from tokenizers import processors

        cls_id, sep_id = WORDPIECE_SPECIAL.index("[CLS]"), WORDPIECE_SPECIAL.index("[SEP]")
    seen = [0]

    def counted(it):
        for s in it:
            seen[0] += len(s)
            yield s

    # The reader tokenizes (punctuation, CJK) but the tokenizer normalises itself, so
    # lower/NFKC are left to the tokenizer's normaliser, which the saved file keeps.
    read_opts = replace(opts, tokenizer=replace(opts.tokenizer, lower=False, nfkc=False))
    tok.train_from_iterator(_batches(counted(iter_sentences(as_sources(paths), read_opts, stats))), trainer=trainer)
    if seen[0] == 0:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: no tokens found")
    if kind == "wordpiece":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
    return tok, stats


def check_size(kind: str, size: int) -> str:
    """The tokenizer kind (lower-cased) if `kind` and `size` make sense; UsageError otherwise."""
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(f"--tokenizer must be one of {', '.join(KINDS)}, not {kind!r}")
    smallest = {"bpe": len(BPE_SPECIAL) + 256, "wordpiece": len(WORDPIECE_SPECIAL) + 1, "char": 2}[kind]
    if size < smallest or size > MAX_SIZE:
        why = {"bpe": "256 byte symbols + 5 special tokens", "wordpiece": "5 special tokens + at least one character",
               "char": "<unk> + at least one character"}[kind]
        raise UsageError(f"--size {size}: a {kind} vocabulary holds between {smallest} ({why}) and {MAX_SIZE:,} entries")
    return kind


def describe_size(kind: str, got: int, size: int, min_count: int) -> str | None:
    """Why a trained tokenizer's size differs from the one asked for (a warning), or None."""
    if kind == "char":  # --size only caps a character vocabulary
        return None
    if got < size:
        return (f"the {kind} tokenizer has {got:,} entries, fewer than --size {size:,}: the corpus has no "
                f"more {'pairs to merge' if kind == 'bpe' else 'words and pieces'} seen at least --min-count {min_count} "
                f"time{'s' if min_count != 1 else ''}")
    if got > size:
        return (f"the {kind} tokenizer has {got:,} entries, more than --size {size:,}: the special tokens and "
                "the corpus's alphabet of characters are always kept")
    return None
