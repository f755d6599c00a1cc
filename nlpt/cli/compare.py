"""`nlpt compare`: evaluate word-vector files side by side."""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o

COMMAND = {"help": "Compare embeddings side by side: analogies, word-pair similarity, nearest neighbours."}


def compare(
    vectors: List[str] = typer.Argument(..., help="Vector files (word2vec text or binary, or GloVe text; detected).", show_default=False),
    analogies: Optional[str] = typer.Option(None, "--analogies", "-a", help="Analogy questions in questions-words format (3CosAdd).", show_default=False),
    similarity: Optional[str] = typer.Option(None, "--similarity", "-s", help="Word pairs with gold scores (word1 word2 score), e.g. WordSim-353.", show_default=False),
    neighbours: Optional[List[str]] = typer.Option(None, "--neighbours", "-n", help="Show the nearest neighbours of these words (repeat, or comma-separated).", show_default=False),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours to show per word."),
    restrict: int = typer.Option(30000, "--restrict", min=0, help="Analogies: search answers among the N most frequent words (0 = all)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Vector file format: text, binary or glove [default: detected].", show_default=False),
    as_json: bool = o.JSON,
) -> None:
    import json
    import os

    from nlpt.common.errors import UsageError
    from nlpt.embeddings import evaluate as ev
    from nlpt.embeddings.vectors import FORMATS, Vectors

    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    words = [w for item in (neighbours or []) for w in item.split(",") if w]
    for path in (analogies, similarity):
        if path and not os.path.isfile(path):
            raise UsageError(f"{path}: no such evaluation file")
    results = []
    for path in vectors:
        v = Vectors.load(path, fmt)
        row: dict = {"path": path, "words": len(v), "dim": v.dim}
        if analogies:
            row["analogy"] = ev.analogy(v, analogies, restrict or None).as_dict()
        if similarity:
            row["similarity"] = ev.similarity(v, similarity).as_dict()
        if words:
            unit = v.normalized()
            nb = {}
            for w in words:
                try:
                    nb[w] = ev.neighbours(v, w, k, unit=unit)
                except Exception:  # noqa: BLE001 - an unknown word is reported, not fatal
                    nb[w] = None
            row["neighbours"] = nb
        results.append(row)
        del v

    if as_json:
        out = {"analogies": analogies, "similarity": similarity, "restrict": restrict or None, "vectors": results}
        typer.echo(json.dumps(out, indent=2))
        return
    _print_table(results, analogies, similarity)
    if words:
        _print_neighbours(results, words)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _print_table(results: list, analogies, similarity) -> None:
    import os

    names = [r["path"] for r in results]
    width = max(12, *(len(n) for n in names))
    cols = [("words", 9), ("dim", 5)]
    if analogies:
        cols += [("analogy%", 9), ("sem%", 6), ("syn%", 6), ("answered", 9), ("oov", 6)]
    if similarity:
        cols += [("rho", 7), ("pairs", 6), ("oov%", 6)]
    print(f"{'vectors':<{width}} " + " ".join(f"{c:>{w}}" for c, w in cols))
    for r in results:
        cells = [str(r["words"]), str(r["dim"])]
        if analogies:
            a = r["analogy"]
            cells += [_pct(a["accuracy"]), _pct(a["semantic_accuracy"]), _pct(a["syntactic_accuracy"]),
                      str(a["total"]), str(a["oov"])]
        if similarity:
            s = r["similarity"]
            cells += ["n/a" if s["spearman"] is None else f"{s['spearman']:.3f}", str(s["pairs"]), _pct(s["oov_ratio"])]
        print(f"{r['path']:<{width}} " + " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, cols)))
    if analogies:
        print(f"analogies: {os.path.basename(analogies)} (3CosAdd, question words excluded; answered = questions with all words known)")
    if similarity:
        print(f"similarity: {os.path.basename(similarity)} (Spearman rho over known pairs)")


def _print_neighbours(results: list, words: list[str]) -> None:
    for w in words:
        print()
        print(f"neighbours of {w!r}:")
        for r in results:
            nb = r["neighbours"][w]
            text = "(not in vocabulary)" if nb is None else ", ".join(f"{n} {s:.3f}" for n, s in nb)
            print(f"  {r['path']}: {text}")
