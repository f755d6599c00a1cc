"""`nlpt corpus stats`: size, tokens, types, frequent words and out-of-vocabulary rate.

It lives in the vocab layer, not in nlpt/corpus, because it is built on the word counter and the
vocabulary reader (imports flow corpus -> vocab, never back).
"""

from __future__ import annotations

import os

from nlpt.corpus.reader import ReaderOptions

SMALL_INPUT_BYTES = 1 << 20  # below this (file bytes), `corpus stats` does not load the numba engine


def corpus_stats(paths: list[str], opts: ReaderOptions, threads: int, top: int = 10, vocab_path: str | None = None, quiet: bool = False) -> dict:
    """Statistics of a corpus, as a JSON-ready dict."""
    from nlpt.common.errors import NlptError
    from nlpt.common.progress import Progress
    from nlpt.corpus.sizes import progress_total
    from nlpt.vocab.count import count_words, describe_prune

    vocab = None
    if vocab_path is not None:
        from nlpt.vocab.vocab import read_counts

        vocab = read_counts(vocab_path)
        if not vocab:
            raise NlptError(f"{vocab_path}: vocabulary file is empty")
    # Small inputs are counted in pure Python: loading the numba engine (~0.5 s) would cost more than the counting.
    small = all(p != "-" and os.path.isfile(p) for p in paths) and sum(os.path.getsize(p) for p in paths) < SMALL_INPUT_BYTES
    with Progress("counting", total=progress_total(paths), unit="B", quiet=quiet) as bar:
        result = count_words(paths, opts, threads, progress=bar, engine="python" if small else "fast")
    tokens = result.tokens
    types = result.types
    out = {
        "files": len(paths),
        "bytes": result.stats.bytes,
        "lines": result.stats.lines,
        "tokens": tokens,
        "types": types,
        "type_token_ratio": (types / tokens) if tokens else 0.0,
        "hapax": result.hapax(),
        "invalid_utf8": result.stats.total_invalid,
        "top": [[w, c] for w, c in result.sorted_items(1, top)] if top > 0 and types else [],
    }
    if vocab is not None:
        counts = result.counts
        oov_tokens = sum(c for w, c in counts.items() if w not in vocab)
        oov_types = sum(1 for w in counts if w not in vocab)
        out["vocab"] = {
            "path": vocab_path,
            "size": len(vocab),
            "oov_tokens": oov_tokens,
            "oov_rate": (oov_tokens / tokens) if tokens else 0.0,
            "oov_types": oov_types,
            "oov_type_rate": (oov_types / types) if types else 0.0,
        }
    note = describe_prune(result.prune)
    if note:
        out["pruned"] = note
    out["seconds"] = round(result.seconds, 3)
    result.stats.report(quiet)
    return out


def format_stats(s: dict) -> str:
    """A plain two-column table (no colours, so it pipes and logs cleanly)."""
    rows = [
        ("files", f"{s['files']:,}"),
        ("bytes", f"{s['bytes']:,}"),
        ("lines", f"{s['lines']:,}"),
        ("tokens", f"{s['tokens']:,}"),
        ("types", f"{s['types']:,}"),
        ("type/token ratio", f"{s['type_token_ratio']:.4f}"),
        ("hapax legomena", f"{s['hapax']:,}"),
    ]
    if s["invalid_utf8"]:
        rows.append(("invalid UTF-8", f"{s['invalid_utf8']:,}"))
    if "vocab" in s:
        v = s["vocab"]
        rows.append(("vocabulary", f"{v['path']} ({v['size']:,} words)"))
        rows.append(("OOV tokens", f"{v['oov_tokens']:,} ({100 * v['oov_rate']:.2f}%)"))
        rows.append(("OOV types", f"{v['oov_types']:,} ({100 * v['oov_type_rate']:.2f}%)"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if s["top"]:
        lines.append("")
        lines.append(f"top {len(s['top'])}:")
        tokens = s["tokens"] or 1
        w = max(len(word) for word, _ in s["top"])
        cw = max(len(f"{c:,}") for _, c in s["top"])
        for i, (word, c) in enumerate(s["top"], 1):
            lines.append(f"{i:>4}  {word:<{w}}  {c:>{cw},}  {100 * c / tokens:6.2f}%")
    return "\n".join(lines)
