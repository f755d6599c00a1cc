"""Options shared by every command that reads a corpus, defined once, and the way every option is declared.

Typer options are plain default values, so commands reuse these objects in
their signatures and call `reader_options(...)` to build the reader's config.

Every number option is an `int_option` or `float_option` (nlpt parses and range-checks it), every other option
and argument declares its metavar (PATH for files and folders, TEXT, a|b|c, FILE), and every command is a
`PlainCommand`: typer's own metavars (`<int range>`, `<str>`, `{FILE}`), range checks and messages differ
between typer versions, and only its public API is used here.
"""

from __future__ import annotations

from typing import List, Optional

import typer
from typer.core import TyperCommand

from nlpt.common.threads import MAX_THREADS


def float_option(default, *names: str, min: float | None = None, max: float | None = None, help: str | None = None,
                 show_default: bool | str = True, above: float | None = None, **kwargs):
    """A float option (metavar FLOAT) that refuses nan and inf ("not a finite number") and values outside
    [min, max] (or (above, max]: `above` excluded), with the same one-line message under every typer version.
    Every float option uses it."""
    if above is not None:
        return _number_option(float, default, names, above, max, help, show_default, kwargs, low_open=True)
    return _number_option(float, default, names, min, max, help, show_default, kwargs)


def int_option(default, *names: str, min: int | None = None, max: int | None = None, help: str | None = None,
               show_default: bool | str = True, **kwargs):
    """An integer option (metavar INT) that refuses values outside [min, max]; see `float_option`."""
    return _number_option(int, default, names, min, max, help, show_default, kwargs)


def _number_option(kind: type, default, names: tuple, low, high, help, show_default, kwargs, low_open: bool = False):
    """typer.Option with nlpt's parser: the range is checked (and written into the help) here rather than by
    typer, whose range types, messages and help text differ between versions."""
    option = next(n for n in names if n.startswith("--"))
    extra = []
    if isinstance(show_default, str):
        extra.append(f"default: ({show_default})")
    elif show_default and default is not None and default is not ...:
        extra.append(f"default: {default}")
    if low is not None or high is not None:
        lower = f"{low}<" if low_open else f"{low}<="
        extra.append(f"x{'>' if low_open else '>='}{low}" if high is None else f"x<={high}" if low is None
                     else f"{lower}x<={high}")
    if extra:
        help = f"{help}  [{'; '.join(extra)}]" if help else f"[{'; '.join(extra)}]"
    return typer.Option(default, *names, metavar=kind.__name__.upper(), parser=number_parser(kind, option, low, high, low_open),
                        help=help, show_default=False if extra else show_default, **kwargs)


def choice_option(default, *names: str, choices, help: str | None = None, show_default: bool | str = True,
                  metavar: str | None = None, **kwargs):
    """A text option that takes one of `choices`: anything else is a one-line usage error naming the option and
    the choices, raised by the parser before any work. `choices` is a tuple, or a function returning one when
    the tuple lives in a module the CLI should not import just to build `--help` (its metavar is then given)."""
    option = next(n for n in names if n.startswith("--"))

    def parse(value):
        if value is None:
            return value
        allowed = tuple(choices() if callable(choices) else choices)
        if value in allowed:
            return value
        from nlpt.common.errors import UsageError

        raise UsageError(f"{option} '{value}' must be one of {', '.join(allowed)}")

    parse.__name__ = f"choice_of_{option.lstrip('-').replace('-', '_')}"
    return typer.Option(default, *names, metavar=metavar or "|".join(choices), parser=parse, help=help,
                        show_default=show_default, **kwargs)


def _shown(bound: float) -> str:
    """A bound as a message shows it: whole numbers in full (1048576, not 1.04858e+06), others as %g."""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e18 else f"{bound:g}"


def number_parser(kind: type, option: str, low=None, high=None, low_open: bool = False):
    """Parse one command-line value of `option` as `kind` (int or float): a finite number within [low, high]
    (`nlpt.common.values.ValueRule`, the rule a recipe's value is held to as well), or a usage error that names
    the option, the value and what was expected."""
    from nlpt.common.values import ValueRule

    rule = ValueRule(kind, low, high, low_open)

    def parse(value):
        from nlpt.common.errors import UsageError

        if not isinstance(value, str):  # a default, already a number
            return value
        try:
            number = kind(value)
        except ValueError:
            what = "a number" if kind is float else "an integer"
            raise UsageError(f"Invalid value for '{option}': {value!r} is not {what}") from None
        problem = rule.problem(number)
        if problem == "finite":
            raise UsageError(f"Invalid value for '{option}': {value!r} is not a finite number")
        if problem == "range":
            bounds = " and ".join(b for b in (f"{'>' if low_open else '>='} {_shown(low)}" if low is not None else "",
                                              f"<= {_shown(high)}" if high is not None else "") if b)
            raise UsageError(f"Invalid value for '{option}': {value} is out of range (it must be {bounds})")
        return number

    parse.__name__ = f"{kind.__name__}_of_{option.lstrip('-').replace('-', '_')}"
    parse.rule = rule
    return parse


def value_rules(command) -> dict:
    """Each parameter of a command function as a `ValueRule` (its type, and a number option's bounds): what a
    recipe's value for the option is held to (`nlpt.engine.recipe`)."""
    import inspect
    import typing

    from nlpt.common.values import ValueRule

    hints = typing.get_type_hints(command)
    rules = {}
    for name, param in inspect.signature(command).parameters.items():
        hint = hints.get(name)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint
        if typing.get_origin(base) in (list, typing.List):
            base = list
        rule = getattr(getattr(param.default, "parser", None), "rule", None)
        rules[name] = rule or ValueRule(base if base in (int, float, bool, list) else str)
    return rules


def argument_display(param) -> str:
    """How an argument is shown in the usage line and in the Arguments list: FILE..., [WORD]..., MODEL."""
    name = param.metavar or param.name.upper()
    if param.nargs != 1:
        return f"{name}..." if param.required else f"[{name}]..."
    return name if param.required else f"[{name}]"


class PlainCommand(TyperCommand):
    """A command whose arguments are shown by their plain names (FILE..., [WORD]...): typer writes required
    arguments as {FILE} and adds their type (<list[str]>) beside them. Built from public click methods."""

    def collect_usage_pieces(self, ctx) -> list:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [argument_display(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx, formatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((argument_display(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class App(typer.Typer):
    """typer.Typer whose commands are `PlainCommand`s (unless one names its own class)."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or PlainCommand, **kwargs)


MAX_MEMORY_GB = float(1 << 20)  # 1 PiB: larger budgets overflow the sizes of the tables reserved from them


def memory_option(help: str):
    """A --memory budget in GB (4 by default): above 0 and at most `MAX_MEMORY_GB`, so 0 or a typo such as 1e30 is
    a usage error before any work, even before the inputs are looked at."""
    return float_option(4.0, "--memory", above=0, max=MAX_MEMORY_GB, help=help)


INPUTS = typer.Argument(..., metavar="FILE", help="Input files, globs, directories (recursive) or - for stdin; .gz/.bz2/.xz read transparently.", show_default=False)
LOWER = typer.Option(False, "--lower", help="Lower-case the text.")
NFKC = typer.Option(False, "--nfkc", help="Apply Unicode NFKC normalisation.")
SPLIT_PUNCT = typer.Option(False, "--split-punct", help="Split punctuation from words (each mark becomes a token).")
CJK = typer.Option(False, "--cjk", help="Make each Han/Kana/Hangul character a token (no segmenter needed).")
MAX_SENTENCE = int_option(10_000, "--max-sentence-length", min=1, help="Cut lines into sentences of at most this many tokens.")
FORCE_BINARY = typer.Option(False, "--force-binary", help="Read files that contain NUL bytes (NULs become spaces).")
THREADS = int_option(None, "--threads", "-t", min=1, max=MAX_THREADS, help="Worker threads [default: SLURM_CPUS_PER_TASK or the CPUs available].", show_default=False)
QUIET = typer.Option(False, "--quiet", "-q", help="No progress or information on stderr.")
JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout.")

# The word-vector trainers' shared options (train-w2v and train-subword spell them the same way).
CBOW = typer.Option(False, "--cbow", help="Train CBOW instead of skip-gram.")
SIZE = int_option(100, "--size", "--dim", min=1, help="Vector dimension.")
MIN_COUNT = int_option(5, "--min-count", min=1, help="Ignore words rarer than this.")
MAX_VOCAB = int_option(None, "--max-vocab", min=1, help="Keep at most this many of the most frequent words.", show_default=False)
SEED = int_option(1, "--seed", min=0, max=2**32 - 1, help="Random seed (with --threads 1, the same seed gives identical vectors).")
READ_VOCAB = typer.Option(None, "--read-vocab", metavar="PATH", help="Read the vocabulary ('word count' lines) instead of counting the corpus.", show_default=False)
SAVE_VOCAB = typer.Option(None, "--save-vocab", metavar="PATH", help="Write the vocabulary ('word count' lines).", show_default=False)
CHECKPOINT = typer.Option(None, "--checkpoint", metavar="PATH", help="On interruption (and after each epoch) save a resumable state here; if it exists, resume from it.", show_default=False)


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


def exit_if_stopped(result: dict, report: bool = True) -> None:
    """The one stop report of the checkpointed commands: when a signal stopped the run (`result["stopped_by"]`),
    print where it stopped and how to continue, and exit 128 + the signal (130 SIGINT, 143 SIGTERM, 138 SIGUSR1).
    The line is printed under `--quiet` too, as errors and the stop lines of every other stage are: a job's log
    must say why it ended with that status. `report` False: only the exit (a distributed run's other ranks,
    whose rank 0 reports)."""
    signum = result.get("stopped_by")
    if not signum:
        return
    from nlpt.common.errors import signal_exit, stop_report
    from nlpt.common.progress import log

    if report:
        log(stop_report(signum, result["steps"], result["checkpoint"]))
    raise typer.Exit(signal_exit(signum))


def need_torch(command: str) -> None:
    """The install line, as a one-line error, when torch (or safetensors) is missing: `command` names the group."""
    import importlib.util

    from nlpt.common.errors import NlptError

    for module in ("torch", "safetensors"):
        if importlib.util.find_spec(module) is None:
            raise NlptError(f"`nlpt {command}` needs {module}: pip install 'nlpt[transformer]'")


__all__ = [
    "INPUTS", "LOWER", "NFKC", "SPLIT_PUNCT", "CJK", "MAX_SENTENCE", "FORCE_BINARY",
    "THREADS", "QUIET", "JSON", "reader_options", "List", "Optional", "int_option", "float_option", "App", "PlainCommand",
]
