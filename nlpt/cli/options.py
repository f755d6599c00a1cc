"""Options shared by every command that reads a corpus, defined once.

Typer options are plain default values, so commands reuse these objects in
their signatures and call `reader_options(...)` to build the reader's config.
"""

from __future__ import annotations

from typing import List, Optional

import typer

INPUTS = typer.Argument(..., help="Input files, globs, directories (recursive) or - for stdin; .gz/.bz2/.xz read transparently.", show_default=False)
LOWER = typer.Option(False, "--lower", help="Lower-case the text.")
NFKC = typer.Option(False, "--nfkc", help="Apply Unicode NFKC normalisation.")
SPLIT_PUNCT = typer.Option(False, "--split-punct", help="Split punctuation from words (each mark becomes a token).")
CJK = typer.Option(False, "--cjk", help="Make each Han/Kana/Hangul character a token (no segmenter needed).")
MAX_SENTENCE = typer.Option(10_000, "--max-sentence-length", min=1, help="Cut lines into sentences of at most this many tokens.")
FORCE_BINARY = typer.Option(False, "--force-binary", help="Read files that contain NUL bytes (NULs become spaces).")
THREADS = typer.Option(None, "--threads", "-t", min=1, help="Worker threads [default: SLURM_CPUS_PER_TASK or the CPUs available].", show_default=False)
QUIET = typer.Option(False, "--quiet", "-q", help="No progress or information on stderr.")
JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout.")

# The word-vector trainers' shared options (train-w2v and train-subword spell them the same way).
CBOW = typer.Option(False, "--cbow", help="Train CBOW instead of skip-gram.")
SIZE = typer.Option(100, "--size", "--dim", min=1, help="Vector dimension.")
MIN_COUNT = typer.Option(5, "--min-count", min=1, help="Ignore words rarer than this.")
MAX_VOCAB = typer.Option(None, "--max-vocab", min=1, help="Keep at most this many of the most frequent words.", show_default=False)
READ_VOCAB = typer.Option(None, "--read-vocab", help="Read the vocabulary ('word count' lines) instead of counting the corpus.", show_default=False)
SAVE_VOCAB = typer.Option(None, "--save-vocab", help="Write the vocabulary ('word count' lines).", show_default=False)
CHECKPOINT = typer.Option(None, "--checkpoint", help="On interruption (and after each epoch) save a resumable state here; if it exists, resume from it.", show_default=False)


def check_trainable_sentences(max_sentence_length: int) -> None:
    """Trainers learn from words beside each other in a sentence: sentences of one word train nothing."""
    if max_sentence_length < 2:
        from nlpt.common.errors import UsageError

        raise UsageError(f"--max-sentence-length {max_sentence_length}: a sentence of one word has no context, so "
                         "nothing would train; give 2 or more")


def reader_options(
    lower: bool = False,
    nfkc: bool = False,
    split_punct: bool = False,
    cjk: bool = False,
    max_sentence_length: int = 10_000,
    force_binary: bool = False,
):
    """Build `ReaderOptions` from the shared CLI flags."""
    from nlpt.corpus.reader import ReaderOptions
    from nlpt.corpus.tokenize import TokenizerOptions

    return ReaderOptions(
        tokenizer=TokenizerOptions(lower=lower, nfkc=nfkc, split_punct=split_punct, cjk=cjk),
        max_sentence=max_sentence_length,
        force_binary=force_binary,
    )


def need_torch(command: str) -> None:
    """The install line, as a one-line error, when torch (or safetensors) is missing: `command` names the group."""
    import importlib.util

    from nlpt.common.errors import NlptError

    for module in ("torch", "safetensors"):
        if importlib.util.find_spec(module) is None:
            raise NlptError(f"`nlpt {command}` needs {module}: pip install 'nlpt[transformer]'")


# String options that name files or folders: their metavar is PATH (other strings are TEXT).
_PATH_OPTIONS = {
    "output", "vec", "save_vocab", "read_vocab", "save_context", "save_cooccur", "cooccur", "checkpoint", "init",
    "tmp_dir", "token_dir", "export_hf", "plot", "train_file", "dev", "test", "model", "vectors", "config",
    "analogies", "similarity", "contexts_file", "vocab", "dest", "prefix", "save_state", "resume",
}


def plain_parameters(command) -> None:
    """Give every parameter of the command tree a plain metavar (FILE..., INT, FLOAT, PATH, TEXT) and make
    every float option refuse nan and inf ("not a finite number") and values out of its range, in one place.

    The CLI calls it once on the whole command tree, so a new option gets the same treatment.
    """
    for param in getattr(command, "params", ()):
        _plain_parameter(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        plain_parameters(sub)


def _plain_parameter(param) -> None:
    desc = getattr(param, "type_descriptor", None)
    annotation = getattr(desc, "annotation", None)
    if getattr(param, "param_type_name", "") == "argument":
        many = param.nargs != 1
        name = param.metavar or ("FILE" if param.name == "inputs" else param.name.upper())
        shown = f"{name}..." if many else name
        if not param.required:
            shown = f"[{name}]..." if many else f"[{name}]"
        param.metavar = name
        param.display_type_rich = lambda ctx: None  # the name says it; no `<list[str]>` beside it
        param._usage_display_name = param._rich_display_name = lambda shown=shown: shown
        return
    if getattr(param, "is_flag", False) or param.metavar is not None:
        return
    if getattr(desc, "is_choice", False):
        param.metavar = "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
        return
    base = getattr(annotation, "__args__", (annotation,))[0] if getattr(desc, "is_list", False) else annotation
    if base is float:
        param.metavar = "FLOAT"
        param.process_value = _finite(param, param.process_value)
    elif base is int:
        param.metavar = "INT"
    elif base is str:
        param.metavar = "PATH" if param.name in _PATH_OPTIONS else "TEXT"


def _finite(param, process_value):
    """`process_value` preceded by the check that a float option's value is a finite number within its range."""
    import math

    def check(ctx, value):
        from nlpt.common.errors import UsageError

        option = next((o for o in param.opts if o.startswith("--")), param.name)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if not isinstance(item, str):
                continue
            try:
                number = float(item)
            except ValueError:
                continue  # not a number at all: the parser says so
            if not math.isfinite(number):
                raise UsageError(f"Invalid value for '{option}': {item!r} is not a finite number")
            low, high = getattr(param, "min", None), getattr(param, "max", None)
            if (low is not None and number < low) or (high is not None and number > high):
                bounds = " and ".join(b for b in (f">= {low:g}" if low is not None else "",
                                                  f"<= {high:g}" if high is not None else "") if b)
                raise UsageError(f"Invalid value for '{option}': {item} is out of range (it must be {bounds})")
        return process_value(ctx, value)

    return check


__all__ = [
    "INPUTS", "LOWER", "NFKC", "SPLIT_PUNCT", "CJK", "MAX_SENTENCE", "FORCE_BINARY",
    "THREADS", "QUIET", "JSON", "reader_options", "List", "Optional",
]
