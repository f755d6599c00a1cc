"""The `nlpt` command: a thin layer that parses arguments and delegates.

Each subcommand lives in its own module under `nlpt.cli` and imports its
heavy machinery (numpy, numba, torch) inside the command function, so that
`nlpt --help` and the arithmetic commands start in a blink.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from typing import Iterable

import typer

from nlpt import __version__
from nlpt.common.errors import (
    Interrupted,
    NlptError,
    PeerGone,
    describe_os_error,
    install_stop_handler,
    interrupted_report,
    signal_exit,
)

_DEBUG = False


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nlpt {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    global _DEBUG
    _DEBUG = _DEBUG or debug


# Every subcommand: its name, the module under nlpt.cli, and either "app" (a group of its own) or the name of
# the command function beside the module's COMMAND settings. The order is the order of `nlpt --help`.
SUBCOMMANDS = {
    "corpus": ("corpus", "app"),
    "vocab": ("vocab", "app"),
    "train-w2v": ("w2v", "train_w2v"),
    "train-glove": ("glove", "train_glove"),
    "train-subword": ("subword", "train_subword"),
    "query": ("query", "app"),
    "pretrain": ("pretrain", "app"),
    "finetune": ("finetune", "app"),
    "params": ("params", "params"),
    "compare": ("compare", "compare"),
}


def build_app(names: Iterable[str] | None = None) -> typer.Typer:
    """The `nlpt` app with the named subcommands (all by default).

    `main` builds only the subcommand on the command line: typer turns every option of every registered
    command into a click parameter before it runs anything, which for all of them costs more than the
    arithmetic of `nlpt params` itself. `nlpt --help` and unknown names get every subcommand.
    """
    import importlib

    from nlpt.cli.options import App

    built = App(
        name="nlpt",
        help="NLP pretraining toolkit: corpora, vocabularies, word2vec, GloVe, subword embeddings, Transformers.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    for name in SUBCOMMANDS if names is None else names:
        module_name, attr = SUBCOMMANDS[name]
        module = importlib.import_module(f"nlpt.cli.{module_name}")
        if attr == "app":
            built.add_typer(module.app, name=name)
        else:
            built.command(name, **module.COMMAND)(getattr(module, attr))
    return built


def __getattr__(name: str):
    """`nlpt.cli.app`: the whole app, built on first use (tests and documentation tools walk it)."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SIGNAL: int | None = None


def _on_signal(signum, frame):  # pragma: no cover - exercised through subprocess tests
    global _SIGNAL
    _SIGNAL = signum
    raise Interrupted(signum)


def _fail(message: str, code: int, at_once: bool = False) -> None:
    """Print the one line and exit; `at_once` ends the process without the interpreter's shutdown (a broken
    process group's destructors can abort it, turning exit 1 into a SIGABRT)."""
    print(f"nlpt: error: {message}", file=sys.stderr, flush=True)
    if at_once:
        try:
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - the one line is out; nothing else is owed
            pass
        os._exit(code)
    sys.exit(code)


def _click_exception_types() -> tuple[tuple, tuple, tuple]:
    """Typer >= 0.28 raises its vendored click's exceptions, older typer the real click's: catch both.

    The real click is only consulted when something (older typer) imported it: importing it costs start-up."""
    usage, exits, aborts = [], [], []
    for name in ("typer._click.exceptions", "typer.exceptions", "click.exceptions"):
        if name == "click.exceptions" and "click" not in sys.modules:
            continue
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
        signum = getattr(exc, "signum", None) or _SIGNAL or signal.SIGINT
        return interrupted_report(signum, getattr(exc, "note", None)), signal_exit(signum)
    if isinstance(exc, OSError):
        return describe_os_error(exc), 1
    if isinstance(exc, MemoryError):
        hint = _MEMORY_HINTS.get(_COMMAND, "")
        return "out of memory" + (f" (try {hint})" if hint else ""), 1
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (a damaged or hostile file?)", 1
    return f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1


_MEMORY_HINTS = {  # options of each command that lower its memory, for the out-of-memory message
    "train-w2v": "a smaller --max-vocab or --size, a larger --min-count, or fewer --threads",
    "train-glove": "a smaller --memory or --max-vocab, or a larger --min-count",
    "vocab": "a smaller --memory or fewer --threads",
    "corpus": "fewer --threads",
}
_COMMAND: str | None = None
CLOSED_PIPE_EXIT = 128 + 13  # 141: 128 + SIGPIPE, what a shell reports for `seq 1 1e9 | head -1`


def _split_debug(args: list[str]) -> tuple[list[str], bool]:
    """Accept `--debug` anywhere before `--` (the error message suggests it after the subcommand too)."""
    out, debug, i = [], False, 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        if a == "--debug":
            debug = True
        else:
            out.append(a)
        i += 1
    return out, debug


def _reopen_closed_streams() -> bool:
    """A job started with closed descriptors (cron, daemons: `nlpt ... <&- >&- 2>&-`) still runs.

    Each closed descriptor 0-2 is taken by /dev/null, so that no file the command opens later lands on it:
    stdin reads as empty, stderr discards (with -q nothing is lost), and stdout is /dev/null opened
    read-only, so a command whose result goes there fails with exit 1 ("standard output (closed): cannot
    write ...") instead of pretending it wrote. Returns True when stdout was closed.
    """
    closed_stdout = False
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, flags)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if fd == 0:
            sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "rb", closefd=False)), encoding="utf-8")
        elif fd == 1:
            closed_stdout = True
            sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "wb", closefd=False)), encoding="utf-8")
        else:
            sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "wb", closefd=False)), encoding="utf-8",
                                          errors="backslashreplace", line_buffering=True)
    return closed_stdout


def _name_stdout(closed: bool = False) -> None:
    """Make write errors on standard output name it ("standard output: cannot write (no space left on device)")."""
    from nlpt.common.output import NamedFile

    try:
        fd = sys.stdout.fileno()
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):
        return
    label = "standard output (closed)" if closed else "standard output"
    buffered = io.BufferedWriter(NamedFile(fd, "wb", label, closefd=False))
    sys.stdout = io.TextIOWrapper(buffered, encoding=sys.stdout.encoding, errors=sys.stdout.errors,
                                  line_buffering=sys.stdout.line_buffering)


_MAX_INT = (1 << 63) - 1  # numpy/numba integers: a larger option value would fail deep inside a kernel


def _check_int_range(args: list[str]) -> None:
    """A usage error, before any work, for an option value that is an integer beyond int64 (`--window 1e20`-style)."""
    import re

    from nlpt.common.errors import UsageError

    for i, a in enumerate(args):
        if a == "--":
            return
        if a.startswith("--") and "=" in a:
            option, value = a.split("=", 1)
        elif i > 0 and args[i - 1].startswith("-") and len(args[i - 1]) > 1 and "=" not in args[i - 1]:
            option, value = args[i - 1], a
        else:
            continue
        if re.fullmatch(r"\s*[+-]?\d{19,}\s*", value) and abs(int(value)) > _MAX_INT:
            raise UsageError(f"{option} {value.strip()}: too large (integers go up to 2^63 - 1 = {_MAX_INT:,})")


def _closed_pipe() -> int:
    """The reader of stdout (or stderr) went away: stop quietly, as coreutils do (status 141)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd)
    return CLOSED_PIPE_EXIT


def _no_such_option(exc) -> str | None:
    """click suggests any option that shares a few letters (`--bogus` -> `--cbow`): keep only close ones."""
    import difflib

    name = getattr(exc, "option_name", None)
    if type(exc).__name__ != "NoSuchOption" or not name:
        return None
    close = difflib.get_close_matches(name, list(getattr(exc, "possibilities", None) or []), n=3, cutoff=0.8)
    if not close:
        return f"No such option: {name}"
    return f"No such option: {name} (did you mean {' or '.join(close)}?)"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map failures to exit codes."""
    global _DEBUG, _COMMAND, _SIGNAL
    _SIGNAL = None  # this invocation's (the tests run several in one process)
    usage_errors, exits, aborts = _click_exception_types()
    args, debug_flag = _split_debug(list(sys.argv[1:] if argv is None else argv))
    _DEBUG = debug_flag or os.environ.get("NLPT_DEBUG", "") not in ("", "0")  # `--debug` sets it too (`_root`)
    _COMMAND = next((a for a in args if not a.startswith("-")), None)
    install_stop_handler(_on_signal)  # SIGINT, SIGTERM, SIGUSR1, SIGHUP: one line, temporary files removed
    _name_stdout(_reopen_closed_streams())
    command = typer.main.get_command(build_app([_COMMAND] if _COMMAND in SUBCOMMANDS else None))
    try:
        _check_int_range(args)
        # make_context + invoke rather than command.main(): click's main turns a closed pipe into a
        # silent exit 1; here it reaches the BrokenPipeError branch below, the same for every command.
        with command.make_context("nlpt", args) as ctx:
            rc = command.invoke(ctx)
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
            message = _no_such_option(exc) or exc.format_message()
            print(f"nlpt: error: {message}{hint}", file=sys.stderr, flush=True)
        code = 2
    except (*exits, *aborts) as exc:
        if _SIGNAL is None and isinstance(exc, exits):
            code = exc.exit_code
        else:
            _fail(*_failure(KeyboardInterrupt()))
    except BrokenPipeError:
        code = _closed_pipe()
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if _DEBUG:
            raise
        _fail(*_failure(exc), at_once=isinstance(exc, PeerGone))
    except KeyboardInterrupt as exc:
        if _DEBUG:
            raise
        _fail(*_failure(exc))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _closed_pipe()
    except Exception as exc:  # noqa: BLE001 - e.g. "standard output: cannot write (no space left on device)"
        _fail(*_failure(exc))
    sys.exit(code)
