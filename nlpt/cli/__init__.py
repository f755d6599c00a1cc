"""The `nlpt` command: a thin layer that parses arguments and delegates.

Each subcommand lives in its own module under `nlpt.cli` and imports its
heavy machinery (numpy, numba, torch) inside the command function, so that
`nlpt --help` and the arithmetic commands start in a blink.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from nlpt import __version__
from nlpt.cli import _typer_compat
from nlpt.common.errors import Interrupted, NlptError, describe_os_error

_typer_compat.install()

app = typer.Typer(
    name="nlpt",
    help="NLP pretraining toolkit: corpora, vocabularies, word2vec, GloVe, subword embeddings, Transformers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_DEBUG = False


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nlpt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    global _DEBUG
    _DEBUG = _DEBUG or debug


def _register() -> None:
    # Imported here (not at module top) only to keep the registration in one place;
    # these modules import nothing heavier than typer.
    from nlpt.cli import compare, corpus, finetune, glove, params, pretrain, subword, vocab, w2v

    app.add_typer(corpus.app, name="corpus")
    app.add_typer(vocab.app, name="vocab")
    app.command("train-w2v", **w2v.COMMAND)(w2v.train_w2v)
    app.command("train-glove", **glove.COMMAND)(glove.train_glove)
    app.command("train-subword", **subword.COMMAND)(subword.train_subword)
    app.command("pretrain", **pretrain.COMMAND)(pretrain.pretrain)
    app.command("finetune", **finetune.COMMAND)(finetune.finetune)
    app.command("params", **params.COMMAND)(params.params)
    app.command("compare", **compare.COMMAND)(compare.compare)


_register()


_SIGNAL: int | None = None


def _on_signal(signum, frame):  # pragma: no cover - exercised through subprocess tests
    global _SIGNAL
    _SIGNAL = signum
    raise Interrupted(signum)


def _fail(message: str, code: int) -> None:
    print(f"nlpt: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _click_exception_types() -> tuple[tuple, tuple, tuple]:
    """Typer >= 0.28 raises its vendored click's exceptions, older typer the real click's: catch both."""
    usage, exits, aborts = [], [], []
    for name in ("typer._click.exceptions", "typer.exceptions", "click.exceptions"):
        try:
            module = __import__(name, fromlist=["UsageError"])
        except ImportError:
            continue
        for bucket, attr in ((usage, "UsageError"), (exits, "Exit"), (aborts, "Abort")):
            if hasattr(module, attr):
                bucket.append(getattr(module, attr))
    return tuple(usage), tuple(exits), tuple(aborts)


def _failure(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that ended a command."""
    if isinstance(exc, NlptError):
        return str(exc), exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        signum = _SIGNAL or signal.SIGINT
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        return f"interrupted by {name}; no partial output was written", 128 + signum
    if isinstance(exc, OSError):
        return describe_os_error(exc), 1
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --memory, --max-vocab or fewer --threads)", 1
    return f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map failures to exit codes."""
    global _DEBUG
    usage_errors, exits, aborts = _click_exception_types()
    _DEBUG = os.environ.get("NLPT_DEBUG", "") not in ("", "0")  # `--debug` sets it too (`_root`)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    command = typer.main.get_command(app)
    try:
        rc = command.main(args=sys.argv[1:] if argv is None else argv, prog_name="nlpt", standalone_mode=False)
        # typer turns KeyboardInterrupt into exit code 130 or Abort: report the signal that caused it.
        if _SIGNAL is not None:
            raise KeyboardInterrupt
        sys.stdout.flush()
        code = rc if isinstance(rc, int) else 0
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # a bare group or command prints its help
        else:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"nlpt: error: {exc.format_message()}{hint}", file=sys.stderr, flush=True)
        code = 2
    except (*exits, *aborts) as exc:
        if _SIGNAL is None and isinstance(exc, exits):
            code = exc.exit_code
        else:
            _fail(*_failure(KeyboardInterrupt()))
    except BrokenPipeError:
        # The final flush found the reader gone (`nlpt corpus tokenize big.txt | head`): not an error.
        # (A closed pipe during the command itself is handled by typer: silent exit 1.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if _DEBUG:
            raise
        _fail(*_failure(exc))
    except KeyboardInterrupt as exc:
        if _DEBUG:
            raise
        _fail(*_failure(exc))
    sys.exit(code)
