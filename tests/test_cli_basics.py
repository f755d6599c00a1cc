"""The `nlpt` shell: help, version, every subcommand's help, unbuilt commands, light startup."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from _cli import nlpt
from nlpt import __version__
from nlpt.cli import app

HEAVY = ("numpy", "numba", "torch", "llvmlite", "scipy", "tokenizers")


def all_command_paths():
    root = typer.main.get_command(app)
    paths = []

    def walk(cmd, prefix):
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            paths.append(prefix + [name])
            walk(sub, prefix + [name])

    walk(root, [])
    return paths


def test_help_and_version():
    r = nlpt("--help")
    assert r.returncode == 0
    for name in ("corpus", "vocab", "train-w2v", "train-glove", "train-subword", "pretrain", "finetune", "params", "compare"):
        assert name in r.stdout
    r = nlpt("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"nlpt {__version__}"


def test_every_subcommand_has_help():
    paths = all_command_paths()
    assert ["corpus", "stats"] in paths and ["vocab", "merge"] in paths and ["corpus", "download"] in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="nlpt")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output, path


def test_vocab_default_subcommand_help_mentions_tokenizers():
    r = nlpt("vocab", "count", "--help")
    assert r.returncode == 0 and "--tokenizer" in r.stdout and "--min-count" in r.stdout


def test_usage_error_exit_code():
    r = nlpt("corpus", "stats")
    assert r.returncode == 2
    r = nlpt("vocab", "merge", "--no-such-option", "x")
    assert r.returncode == 2
    # one line, whichever command: the shell reports click's usage errors itself
    assert r.stderr.strip() == "nlpt: error: No such option: --no-such-option (see 'nlpt vocab merge --help')"


LIGHT = [["--help"], ["vocab", "--help"], ["corpus", "--help"], ["corpus", "download", "--list"], ["params", "bert-large"]]


def _imported(args) -> set:
    """The top-level modules `python -X importtime -m nlpt ARGS` imports."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "nlpt", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    imported = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "nlpt" in imported  # the parsing works
    return imported


@pytest.mark.parametrize("args", LIGHT)
def test_light_commands_import_no_heavy_modules(args):
    imported = _imported(args)
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["params", "bert-large"]])
def test_light_commands_import_no_pydantic(args):
    """typer 0.29 validates every parameter with pydantic (~0.1 s at each start); pyproject.toml keeps typer
    below it, and nlpt itself never imports pydantic."""
    version = tuple(int(p) for p in typer.__version__.split(".")[:2])
    if version >= (0, 29):
        pytest.skip(f"typer {typer.__version__} imports pydantic itself (pyproject.toml asks for typer<0.29)")
    assert "pydantic" not in _imported(args)


def test_errors_are_one_line_unless_debug(tmp_path):
    missing = tmp_path / "nope.txt"
    r = nlpt("corpus", "stats", missing)
    assert r.returncode == 1
    assert r.stderr.strip() == f"nlpt: error: {missing}: no such file or directory"
    for args, env in ((("--debug", "corpus", "stats", missing), None), (("corpus", "stats", missing), {"NLPT_DEBUG": "1"})):
        r = nlpt(*args, env=env)
        assert r.returncode != 0
        assert "Traceback" in r.stderr and "no such file or directory" in r.stderr


def test_params_renders_without_rich():
    """`nlpt params` prints plain aligned text (`nlpt.common.texttable`): rich's tables were a third of its start-up."""
    assert "rich" not in _imported(["params", "bert-large"])


def _on_terminal(args, env) -> str:
    """What `nlpt ARGS` writes when its stdout is a pseudo-terminal."""
    import os
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nlpt", *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_params_text_is_the_same_on_a_terminal_but_for_bold_and_dim():
    import os
    import re

    piped = subprocess.run([sys.executable, "-m", "nlpt", "params", "bert-large"], capture_output=True, text=True,
                           timeout=60)
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout, piped.stdout[:300]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    shown = _on_terminal(["params", "bert-large"], env)
    assert "\x1b[1mParameters\x1b[0m" in shown
    assert re.sub(r"\x1b\[[0-9]*m", "", shown) == piped.stdout
    assert _on_terminal(["params", "bert-large"], {**env, "NO_COLOR": "1"}) == piped.stdout
    row = next(line for line in piped.stdout.splitlines() if line.strip().startswith("total ("))
    assert re.split(r"\s{2,}", row.strip())[1:] == ["335,141,888", "(335.1M)"], row


def test_compare_text_is_the_same_on_a_terminal_but_for_bold_and_dim():
    """`nlpt compare` draws the same aligned text as `nlpt params` on a terminal (one look for every table)."""
    import os
    import re

    args = ["compare", "deepseek-r1", "o3-mini"]
    piped = subprocess.run([sys.executable, "-m", "nlpt", *args], capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout, piped.stdout[:300]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    shown = _on_terminal(args, env)
    assert shown.startswith("\x1b[1mmodel ") and "\x1b[2m" in shown  # the header line bold, the notes dim
    assert re.sub(r"\x1b\[[0-9]*m", "", shown) == piped.stdout
    assert "671,026,404,352" in piped.stdout and "200,000 (reported)" in piped.stdout
    assert "rich" not in _imported(args)
