"""`nlpt compare`: architectures, vector files, one word in contexts, or run folders side by side.

Only parses, dispatches to `nlpt.compare.*` and prints: every comparison is one
`nlpt.compare.table.Table`, rendered as a table (rich on a terminal, aligned
text elsewhere), JSON, Markdown or CSV. The architecture path imports no numpy,
numba or torch.
"""

from __future__ import annotations

import os
import re
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


_VECTOR_OPTIONS = ("--analogies", "--similarity", "--neighbours", "--format")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


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

    chosen = [name for name, on in (("--json", as_json), ("--markdown", markdown), ("--csv", as_csv)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)}: choose one output format")
    out = {"--json": "json", "--markdown": "markdown", "--csv": "csv"}.get(chosen[0] if chosen else "", "table")
    vector_opts = [name for name, value in zip(_VECTOR_OPTIONS, (analogies, similarity, neighbours, fmt)) if value]
    nb_words = _split(neighbours)

    if eval_data:
        from nlpt.compare import evals

        if plot is not None or vector_opts or word is not None or context or contexts_file:
            raise UsageError("--eval-data scores model folders; it does not combine with --plot, vector-file "
                             "options or --word/--context")

        _print(evals.compare(vectors, list(eval_data), context=eval_context, stride=stride), out)
        return
    if eval_context is not None or stride is not None:
        raise UsageError(f"{'--eval-context' if eval_context is not None else '--stride'}: only with --eval-data")
    if word is not None or context or contexts_file:
        table = _context(vectors, word, context, contexts_file, k, candidates, fmt, plot,
                         [n for n in vector_opts if n != "--format"])
        _print(table, out)
        return

    _refuse_missing_paths(vectors)
    kinds = [_classify(item) for item in vectors]
    if len(set(kinds)) > 1:
        raise UsageError("give one kind of item: architectures (registry names or config.json files), vector files, "
                         "or run folders, not a mix; run compare once for each")
    kind = kinds[0]
    if kind != "vectors":
        if vector_opts:
            what = {"arch": "architectures", "run": "run folders"}[kind]
            raise UsageError(f"{', '.join(vector_opts)}: only for vector files, not for {what}")
        if plot_words:
            raise UsageError("--words: only for --plot with vector files")
    if plot is not None:
        from nlpt.compare import plot as P

        if kind == "vectors" and not (plot_words or nb_words):
            raise UsageError("--plot with vector files needs --words (or --neighbours): the words to place")
        from nlpt.common.plan import OutputPlan

        plan = OutputPlan().read("--analogies", analogies).read("--similarity", similarity)
        for item in vectors:
            plan.read_folder("ITEM", item)  # a vector file, a config.json, or a run or model folder
        plan.write("--plot", plot).check()
        P.check(plot)

    if kind == "arch":
        from nlpt.compare import architectures

        table = architectures.compare(vectors)
        _print(table, out)
        if plot is not None:
            P.parameter_bars(table, plot)
    elif kind == "run":
        from nlpt.compare import runs

        table = runs.compare(vectors)
        _print(table, out)
        if plot is not None:
            P.run_curves(table, plot)
    else:
        from nlpt.compare import vectors as V
        pairs = [tuple(w.split(":", 1)) for w in _split(plot_words) if ":" in w]
        placed = list(dict.fromkeys(p for w in (_split(plot_words) or nb_words) for p in w.split(":") if p))
        if plot is not None:
            for path in (analogies, similarity):  # every input checked before the first file is read
                if path and not os.path.isfile(path):
                    raise UsageError(f"{path}: no such evaluation file")
        table = V.compare(vectors, fmt=fmt, analogies=analogies, similarity=similarity, words=nb_words, k=k or 10,
                          restrict=restrict or None)
        _print(table, out)
        if plot is not None:
            P.word_map(vectors, placed, pairs, plot, fmt)


def _refuse_missing_paths(items: List[str]) -> None:
    """"ITEM: no such file or folder" for an item that names no file beside run folders, or that is spelt as a
    folder (`runs/gpt`, `runs/gpt/`), unless it is a registry name; a missing vectors file keeps the loader's message."""
    from nlpt.common.errors import NlptError
    from nlpt.common.runfolder import is_run_dir
    from nlpt.transformer.registry import resolve

    missing = [i for i in items if i != "-" and not os.path.exists(i)]
    if not missing:
        return
    with_runs = any(is_run_dir(i) for i in items)
    for item in missing:
        folder_like = item.endswith(("/", os.sep)) or (("/" in item or os.sep in item) and not _EXTENSION.search(item))
        if not (with_runs or folder_like):
            continue
        try:
            resolve(item)
            continue  # a registry name
        except NlptError:
            raise NlptError(f"{item}: no such file or folder") from None


def _split(values: Optional[List[str]]) -> list:
    return [w for item in (values or []) for w in item.split(",") if w]


def _context(items, word, context, contexts_file, k, candidates, fmt, plot, vector_opts):
    from nlpt.common.errors import UsageError

    if word is None:
        raise UsageError("--context/--contexts need --word: the word to follow")
    if vector_opts:
        raise UsageError(f"{', '.join(vector_opts)}: not with --word (context sensitivity)")
    if plot is not None:
        raise UsageError("--plot: not for context sensitivity (runs, vector files and architectures only)")
    if context and contexts_file:
        raise UsageError("give --context or --contexts FILE, not both")
    from nlpt.compare import context as X

    sentences = X.read_contexts(contexts_file) if contexts_file else list(context or [])
    X.check_contexts(word, sentences)
    for item in items:
        if not os.path.exists(item):
            raise UsageError(f"{item}: no such file or folder (--word needs vector files or model folders with "
                             "weights: an `nlpt pretrain` run or a Hugging Face folder)")
    return X.compare(items, word, sentences, k=k or 5, candidates=candidates,
                     is_static=os.path.isfile, fmt=fmt)


def _print(table, out: str) -> None:
    import sys

    from nlpt.compare import table as T

    if out == "table" and sys.stdout.isatty():
        from rich.console import Console

        con = Console()
        rich_table, notes = T.to_rich(table)
        con.print(rich_table)
        for n in notes:
            con.print(n, style="dim", markup=False, highlight=False)
        return
    sys.stdout.write(T.render(table, out))
    sys.stdout.flush()


def _classify(item: str) -> str:
    """'arch', 'run' or 'vectors'; an unknown name that does not look like a path fails with the closest names.

    Existing files win (as in `nlpt params`): a run folder (metrics.jsonl or an nlpt run config.json) is a run,
    another folder or a .json file a config, any other file vectors. A missing path (it has a '/' or an extension)
    that is not a registry name is left to the vector loader, which reports "no such vectors file".
    """
    from nlpt.common.errors import NlptError
    from nlpt.compare.architectures import reported_only_name
    from nlpt.common.runfolder import is_run_dir
    from nlpt.transformer.registry import resolve

    if item == "-":
        return "vectors"  # a vector file on standard input
    if is_run_dir(item):
        return "run"
    if os.path.isdir(item) or item.endswith(".json"):
        return "arch"
    if os.path.exists(item):
        return "vectors"
    if reported_only_name(item):
        return "arch"
    try:
        resolve(item)
        return "arch"
    except NlptError:
        if "/" in item or os.sep in item or _EXTENSION.search(item):
            return "vectors"
        raise
