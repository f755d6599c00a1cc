"""`nlpt compare`: architectures, vector files, one word in contexts, or run folders side by side.

Only parses, dispatches to `nlpt.compare.*` and prints: every comparison is one
`nlpt.compare.table.Table`, rendered as aligned text (header bold and notes
dim on a terminal), JSON, Markdown or CSV. The architecture path imports no numpy,
numba or torch.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from nlpt.cli import options as o

COMMAND = {
    "help": (
        "Compare Transformer architectures, embeddings, context sensitivity or training runs side by side.\n\n"
        "Architectures: every ITEM a registry name or alias (see `nlpt params --list`), a reported-only name "
        "(o3-mini) or a Hugging Face config.json (or a folder holding one): the lecture's taxonomy (architecture, "
        "attention, pretraining objective, typical applications), exact sizes as `nlpt params` counts them, and "
        "published figures marked (reported) with their source.\n\n"
        "Embeddings: every ITEM a vector file (word2vec text or binary, or GloVe text); evaluated with "
        "--analogies, --similarity and --neighbours.\n\n"
        "Context sensitivity: --word W with two or more --context (or --contexts FILE); ITEMs are vector files "
        "(static: cosine exactly 1.0) or model folders (an `nlpt pretrain` run or a Hugging Face folder): cosine "
        "between the word's last-layer vectors in the contexts, and the nearest vocabulary words of each.\n\n"
        "Runs: every ITEM an `nlpt pretrain`/`finetune` run folder (config.json + metrics.jsonl).\n\n"
        "Evaluation: --eval-data FILE with model folders (runs or Hugging Face folders): loss, perplexity and bits "
        "per byte of each on the same text, as `nlpt pretrain eval`.\n\n"
        "--plot FILE.png|svg draws loss curves (runs), a PCA of --words (vectors) or total vs active parameters "
        "(architectures); it needs the extra nlpt[plot]."
    ),
}

def _vector_formats() -> tuple:
    """--format's choices, read when a value is given (the vector module imports numpy)."""
    from nlpt.embeddings.formats.vectors import FORMATS

    return FORMATS




def compare(
    vectors: List[str] = typer.Argument(..., metavar="ITEM", show_default=False,
                                        help="Registry names / config.json files, vector files (word2vec text or "
                                             "binary, or GloVe text; detected), model folders (with --word) or run "
                                             "folders."),
    analogies: Optional[str] = typer.Option(None, "--analogies", "-a", metavar="PATH", help="Analogy questions in questions-words format (3CosAdd).", show_default=False),
    similarity: Optional[str] = typer.Option(None, "--similarity", "-s", metavar="PATH", help="Word pairs with gold scores (word1 word2 score), e.g. WordSim-353.", show_default=False),
    neighbours: Optional[List[str]] = typer.Option(None, "--neighbours", "-n", metavar="TEXT", help="Show the nearest neighbours of these words (repeat, or comma-separated).", show_default=False),
    k: Optional[int] = o.int_option(None, "--k", min=1, help="Neighbours to show per word [default: 10; with --word 5 per occurrence].", show_default=False),
    restrict: int = o.int_option(30000, "--restrict", min=0, help="Analogies: search answers among the N most frequent words (0 = all)."),
    fmt: Optional[str] = o.choice_option(None, "--format", choices=_vector_formats, metavar="TEXT", help="Vector file format: text, binary or glove [default: detected].", show_default=False),
    word: Optional[str] = typer.Option(None, "--word", "-w", metavar="TEXT", help="Context sensitivity: the word to follow across contexts.", show_default=False),
    context: Optional[List[str]] = typer.Option(None, "--context", "-c", metavar="TEXT", help="A sentence containing --word (repeat).", show_default=False),
    contexts_file: Optional[str] = typer.Option(None, "--contexts", metavar="PATH", help="A file of contexts, one per line ('#' comments).", show_default=False),
    candidates: int = o.int_option(5000, "--candidates", min=1, help="--word with a model folder: neighbours are searched among this many vocabulary words (lowest ids)."),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="PATH", help="Also draw FILE.png or FILE.svg (needs nlpt[plot]).", show_default=False),
    plot_words: Optional[List[str]] = typer.Option(None, "--words", metavar="TEXT", help="--plot for vector files: words to place (repeat or comma-separated); a:b draws an arrow from a to b [default: the --neighbours words].", show_default=False),
    eval_data: Optional[List[str]] = typer.Option(None, "--eval-data", metavar="FILE", help="Score every ITEM (run or Hugging Face folders) on this text, as `nlpt pretrain eval` (repeat for several files).", show_default=False),
    eval_context: Optional[int] = o.int_option(None, "--eval-context", min=8, show_default=False, help="--eval-data: tokens per window [default: each model's positions]."),
    stride: Optional[int] = o.int_option(None, "--stride", min=1, show_default=False, help="--eval-data: tokens between window starts [default: the window]."),
    as_json: bool = o.JSON,
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
    as_csv: bool = typer.Option(False, "--csv", help="Print the table as CSV (one line per item, raw numbers)."),
) -> None:
    from nlpt.common.errors import UsageError
    from nlpt.compare.items import compare_items

    chosen = [name for name, on in (("--json", as_json), ("--markdown", markdown), ("--csv", as_csv)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)}: choose one output format")
    out = {"--json": "json", "--markdown": "markdown", "--csv": "csv"}.get(chosen[0] if chosen else "", "table")
    table, draw = compare_items(
        vectors, analogies=analogies, similarity=similarity, neighbours=neighbours, k=k, restrict=restrict, fmt=fmt,
        word=word, context=context, contexts_file=contexts_file, candidates=candidates, plot=plot,
        plot_words=plot_words, eval_data=eval_data, eval_context=eval_context, stride=stride)
    _print(table, out)
    if draw is not None:
        draw()


def _print(table, out: str) -> None:
    import sys

    from nlpt.compare import table as T

    if out == "table":
        from nlpt.common.texttable import Style

        sys.stdout.write(T.to_text(table, Style(sys.stdout)))
    else:
        sys.stdout.write(T.render(table, out))
    sys.stdout.flush()
