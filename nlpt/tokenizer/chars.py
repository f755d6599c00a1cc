"""Character-level tokenizer (nanoGPT's shakespeare_char): one token per character, whitespace included.

Written as a Hugging Face `tokenizer.json` (a WordLevel model over single
characters), so it loads wherever the BPE and WordPiece files do.
"""

from __future__ import annotations

from nlpt.common.errors import NlptError
from nlpt.corpus.reader import ReaderOptions, ReadStats, as_sources, iter_text

CHAR_SPECIAL = ["<unk>"]


def char_tokenizer(paths: list[str], size: int, opts: ReaderOptions = ReaderOptions(), stats: ReadStats | None = None):
    """A character-level tokenizer (nanoGPT's shakespeare_char): one id per character seen, whitespace included.

    Ids: `<unk>` = 0, then the characters in code-point order (the `size - 1` most
    frequent when there are more). The reader's --lower/--nfkc go into the normaliser.
    """
    from collections import Counter

    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    counts: Counter = Counter()
    for text in iter_text(as_sources(paths), opts, stats):
        counts.update(text)
    if not counts:
        raise NlptError(f"{paths[0] if len(paths) == 1 else 'input'}: no characters found")
    chars = [c for c, _ in counts.most_common(max(0, size - len(CHAR_SPECIAL)))]
    vocab = {tok: i for i, tok in enumerate(CHAR_SPECIAL + sorted(chars))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    norms = ([normalizers.NFKC()] if opts.tokenizer.nfkc else []) + ([normalizers.Lowercase()] if opts.tokenizer.lower else [])
    if norms:
        tok.normalizer = norms[0] if len(norms) == 1 else normalizers.Sequence(norms)
    return tok
