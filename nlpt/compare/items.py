"""`nlpt compare ITEM...`: what each item is (an architecture, a vector file or a run folder), which options go
with which kind, and the comparison table of the kind asked for, with its plot.

The CLI hands its options to `compare_items` and prints the table it returns; architectures import no numpy,
numba or torch.
"""

from __future__ import annotations

import os
import re
from typing import Callable, List, Optional

from nlpt.common.errors import UsageError

VECTOR_OPTIONS = ("--analogies", "--similarity", "--neighbours", "--format")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


def compare_items(items: List[str], *, analogies: Optional[str] = None, similarity: Optional[str] = None,
                  neighbours: Optional[List[str]] = None, k: Optional[int] = None, restrict: int = 30000,
                  fmt: Optional[str] = None, word: Optional[str] = None, context: Optional[List[str]] = None,
                  contexts_file: Optional[str] = None, candidates: int = 5000, plot: Optional[str] = None,
                  plot_words: Optional[List[str]] = None, eval_data: Optional[List[str]] = None,
                  eval_context: Optional[int] = None, stride: Optional[int] = None) -> tuple:
    """(table, draw): the comparison of `items` (`nlpt.compare.table.Table`) and, with `plot`, the function that
    writes the plot (None otherwise), to be called once the table is printed. Every option combination and
    every input is checked before any work."""
    vector_opts = [name for name, value in zip(VECTOR_OPTIONS, (analogies, similarity, neighbours, fmt)) if value]
    nb_words = _split(neighbours)

    if eval_data:
        from nlpt.compare import evals

        if plot is not None or vector_opts or word is not None or context or contexts_file:
            raise UsageError("--eval-data scores model folders; it does not combine with --plot, vector-file "
                             "options or --word/--context")
        return evals.compare(items, list(eval_data), context=eval_context, stride=stride), None
    if eval_context is not None or stride is not None:
        raise UsageError(f"{'--eval-context' if eval_context is not None else '--stride'}: only with --eval-data")
    if word is not None or context or contexts_file:
        return _context(items, word, context, contexts_file, k, candidates, fmt, plot,
                        [n for n in vector_opts if n != "--format"]), None

    _refuse_missing_paths(items)
    kinds = [_classify(item) for item in items]
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
        for item in items:
            plan.read_folder("ITEM", item)  # a vector file, a config.json, or a run or model folder
        plan.write("--plot", plot).check()
        P.check(plot)

    draw: Optional[Callable[[], None]] = None
    if kind == "arch":
        from nlpt.compare import architectures

        table = architectures.compare(items)
        if plot is not None:
            draw = lambda: P.parameter_bars(table, plot)  # noqa: E731
    elif kind == "run":
        from nlpt.compare import runs

        table = runs.compare(items)
        if plot is not None:
            draw = lambda: P.run_curves(table, plot)  # noqa: E731
    else:
        from nlpt.compare import vectors as V

        pairs = [tuple(w.split(":", 1)) for w in _split(plot_words) if ":" in w]
        placed = list(dict.fromkeys(p for w in (_split(plot_words) or nb_words) for p in w.split(":") if p))
        if plot is not None:
            for path in (analogies, similarity):  # every input checked before the first file is read
                if path and not os.path.isfile(path):
                    raise UsageError(f"{path}: no such evaluation file")
        table = V.compare(items, fmt=fmt, analogies=analogies, similarity=similarity, words=nb_words, k=k or 10,
                          restrict=restrict or None)
        if plot is not None:
            draw = lambda: P.word_map(items, placed, pairs, plot, fmt)  # noqa: E731
    return table, draw


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
