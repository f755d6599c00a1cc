"""`nlpt compare`: Transformer architectures or word-vector files side by side.

Architectures (registry names, aliases or Hugging Face config.json files) are
summarised with the very functions `nlpt params` uses and import no numpy,
numba or torch; vector files are loaded and evaluated with numpy.
"""

from __future__ import annotations

import os
import re
from typing import List, Optional

import typer

from nlpt.cli import options as o

COMMAND = {
    "help": (
        "Compare Transformer architectures or embeddings side by side.\n\n"
        "Architectures: every ITEM a registry name or alias (see `nlpt params --list`) or a Hugging Face config.json "
        "(or a folder holding one); one row each: layers, hidden size, heads (KV heads), FFN, vocabulary, context, "
        "exact parameters (as `nlpt params` counts them), active per token (MoE), forward FLOPs/token at the "
        "model's context, bf16 weights and bf16 KV cache per token.\n\n"
        "Embeddings: every ITEM a vector file (word2vec text or binary, or GloVe text); evaluated with "
        "--analogies, --similarity and --neighbours. Architectures and vector files cannot be mixed."
    ),
}

_VECTOR_OPTIONS = ("--analogies", "--similarity", "--neighbours", "--format")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


def compare(
    vectors: List[str] = typer.Argument(..., metavar="ITEM", show_default=False,
                                        help="Registry names / config.json files, or vector files (word2vec text or "
                                             "binary, or GloVe text; detected)."),
    analogies: Optional[str] = typer.Option(None, "--analogies", "-a", help="Analogy questions in questions-words format (3CosAdd).", show_default=False),
    similarity: Optional[str] = typer.Option(None, "--similarity", "-s", help="Word pairs with gold scores (word1 word2 score), e.g. WordSim-353.", show_default=False),
    neighbours: Optional[List[str]] = typer.Option(None, "--neighbours", "-n", help="Show the nearest neighbours of these words (repeat, or comma-separated).", show_default=False),
    k: int = typer.Option(10, "--k", min=1, help="Neighbours to show per word."),
    restrict: int = typer.Option(30000, "--restrict", min=0, help="Analogies: search answers among the N most frequent words (0 = all)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Vector file format: text, binary or glove [default: detected].", show_default=False),
    as_json: bool = o.JSON,
) -> None:
    import json

    from nlpt.common.errors import NlptError, UsageError

    kinds = [_classify(item) for item in vectors]
    if "arch" in kinds:
        if "vectors" in kinds:
            raise UsageError("give either architectures (registry names or config.json files) or vector files, "
                             "not both; run compare once for each")
        given = [name for name, value in zip(_VECTOR_OPTIONS, (analogies, similarity, neighbours, fmt)) if value]
        if given:
            raise UsageError(f"{', '.join(given)}: only for vector files, not for architectures")
        _compare_architectures(vectors, as_json)
        return

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
                except NlptError:  # an unknown word is reported, not fatal
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


def _classify(item: str) -> str:
    """'arch' or 'vectors'; an unknown name that does not look like a path fails with the closest registry names.

    Existing files win (as in `nlpt params`): a folder or a .json file is a config, any other file vectors.
    A missing path (it has a '/' or an extension) that is not a registry name is left to the vector loader,
    which reports "no such vectors file".
    """
    from nlpt.common.errors import NlptError
    from nlpt.transformer import config as C

    if os.path.isdir(item) or item.endswith(".json"):
        return "arch"
    if os.path.exists(item):
        return "vectors"
    try:
        C.resolve(item)
        return "arch"
    except NlptError:
        if "/" in item or os.sep in item or _EXTENSION.search(item):
            return "vectors"
        raise


def _compare_architectures(items: List[str], as_json: bool) -> None:
    import json
    import sys

    from nlpt.transformer import report

    rows = [{"argument": item, **report.summary(report.resolve_model(item, None, {}), kv_dtype="bf16")} for item in items]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    _print_architectures(rows)


def _print_architectures(rows: list) -> None:
    from nlpt.transformer.report import human, human_bytes

    def heads(r):
        if r["attention"] == "mla":
            return f"{r['heads']} (MLA)"
        return str(r["heads"]) if r["kv_heads"] == r["heads"] else f"{r['heads']} ({r['kv_heads']})"

    def ffn(r):
        if not r["experts"]:
            return str(r["ffn"])
        shared = f"+{r['shared_experts']}" if r["shared_experts"] else ""
        return f"{r['expert_ffn']} x{r['experts']}{shared} top{r['experts_per_token']}"

    cols = ["model", "family", "layers", "hidden", "heads (kv)", "FFN", "vocab", "context", "parameters",
            "w/o embed", "active", "GFLOPs/tok", "bf16 weights", "KV/token"]
    table = []
    for r in rows:
        layers = f"{r['layers']}+{r['decoder_layers']}" if r["decoder_layers"] is not None else str(r["layers"])
        kv = r["kv_cache_bytes_per_token"]
        name = r["model"] if r["argument"] == r["model"] else f"{r['argument']} ({r['model']})"
        table.append([name, r["variant"] or r["family"], layers, str(r["hidden"]), heads(r), ffn(r),
                      f"{r['vocab']:,}", f"{r['context']:,}", f"{r['total']:,}", human(r["without_embeddings"]),
                      human(r["active_per_token"]) if r["active_per_token"] is not None else "-",
                      f"{r['forward_flops_per_token'] / 1e9:,.2f}", human_bytes(r["weights_bytes_bf16"]),
                      human_bytes(kv) if kv is not None else "-"])
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    left = {0, 1}
    for line in [cols] + table:
        print("  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip())
    classes = ", ".join(f"{r['model']}: {r['hf_class']}" for r in rows)
    print(f"parameters: exact, tied weights once, as the Hugging Face class counts them ({classes})")
    print("GFLOPs/tok: forward pass per token at the context shown (2·N + attention); "
          "KV/token: bf16 key/value cache per token (MLA: latent; - = encoder, no cache); "
          "details: nlpt params NAME")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _print_table(results: list, analogies, similarity) -> None:
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
