"""Every float option of every command refuses nan and inf ("not a finite number") and values out of its
range; --help shows plain metavars; vector files with NaN rows are evaluated without them."""

from __future__ import annotations

import re

import pytest

from _cli import nlpt


def _declarations():
    """(command path, parameter name, annotation, typer's OptionInfo/ArgumentInfo) for every parameter of every
    command function, read from the signatures (inspect), as declared."""
    import importlib
    import inspect
    import typing

    from nlpt.cli import SUBCOMMANDS

    functions = []
    for name, (module_name, attr) in SUBCOMMANDS.items():
        module = importlib.import_module(f"nlpt.cli.{module_name}")
        if attr == "app":
            functions += [([name, info.name], info.callback) for info in module.app.registered_commands]
        else:
            functions.append(([name], getattr(module, attr)))
    found = []
    for path, function in functions:
        hints = typing.get_type_hints(function)
        for pname, parameter in inspect.signature(function).parameters.items():
            if hasattr(parameter.default, "param_decls"):
                found.append((path, pname, _base(hints[pname]), parameter.default))
    return found


def _base(annotation):
    """float for float, Optional[float] and List[float]; likewise for the other types."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is list or (args and len(args) == 1):
        return _base(args[0])
    return annotation


DECLARED = _declarations()
COMMANDS = sorted({tuple(path) for path, *_ in DECLARED})
FLOATS = [(path, next(d for d in info.param_decls if d.startswith("--")))
          for path, _, base, info in DECLARED if base is float]


def test_the_cli_has_float_options_to_check():
    assert len(FLOATS) >= 25 and (["train-w2v"], "--ns-exponent") in FLOATS and (["pretrain", "train"], "--lr") in FLOATS
    assert len(COMMANDS) >= 20 and ("pretrain", "eval") in COMMANDS


@pytest.mark.parametrize("kind", [int, float])
def test_every_number_option_uses_the_number_parser(kind):
    """Each int/float option is declared with `int_option`/`float_option`: metavar INT/FLOAT and nlpt's parser
    (range, finite numbers), whatever typer version parses the command line."""
    from nlpt.common.errors import UsageError

    options = [(path, name, info) for path, name, base, info in DECLARED if base is kind]
    assert len(options) >= 25
    for path, name, info in options:
        where = f"{' '.join(path)} {name}"
        assert info.metavar == kind.__name__.upper(), where
        assert info.parser is not None, where
        try:
            assert info.parser("7") == kind(7) and type(info.parser("7")) is kind, where
        except UsageError as exc:
            assert f"'{info.param_decls[0]}': 7 is out of range" in str(exc), where
        if kind is float:
            with pytest.raises(UsageError, match="is not a finite number"):
                info.parser("nan")
        with pytest.raises(UsageError, match="is not (a number|an integer)"):
            info.parser("seven")
        assert info.min is None and info.max is None, f"{where}: the range goes to the parser, not to typer"


def test_every_parameter_declares_a_plain_metavar():
    for path, name, base, info in DECLARED:
        if base is bool:  # flags take no value
            continue
        where = f"{' '.join(path)} {name}"
        assert info.metavar, f"{where}: no metavar declared"
        assert re.fullmatch(r"[A-Z_]+|[\w-]+(\|[\w-]+)+", info.metavar), (where, info.metavar)  # PATH, a|b|c


def test_every_command_draws_arguments_plainly():
    import typer

    from nlpt.cli import app
    from nlpt.cli.options import PlainCommand

    def leaves(command):
        subs = getattr(command, "commands", None)
        return [leaf for sub in subs.values() for leaf in leaves(sub)] if subs else [command]

    commands = leaves(typer.main.get_command(app))
    assert len(commands) == len(COMMANDS)
    assert all(isinstance(c, PlainCommand) for c in commands), [c.name for c in commands if not isinstance(c, PlainCommand)]


@pytest.mark.parametrize("path,option", FLOATS, ids=[" ".join(p) + " " + o for p, o in FLOATS])
def test_every_float_option_refuses_non_finite_values(path, option):
    for value in ("nan", "inf", "-Infinity"):
        code, _, err = nlpt(*path, f"{option}={value}")
        assert code == 2, err
        assert err.strip() == f"nlpt: error: Invalid value for '{option}': '{value}' is not a finite number", err


def test_out_of_range_values_name_the_range():
    code, _, err = nlpt("train-w2v", "x.txt", "-o", "v.txt", "--sample", "-1")
    assert code == 2 and "'--sample': -1 is out of range (it must be >= 0)" in err
    code, _, err = nlpt("pretrain", "train", "--beta2", "1.5")
    assert code == 2 and "'--beta2': 1.5 is out of range (it must be >= 0 and <= 1)" in err
    code, _, err = nlpt("train-w2v", "x.txt", "-o", "v.txt", "--window", "0")
    assert code == 2 and err.strip() == "nlpt: error: Invalid value for '--window': 0 is out of range (it must be >= 1)"
    for value, what in (("x", "an integer"), ("2.5", "an integer")):
        code, _, err = nlpt("train-w2v", "x.txt", "-o", "v.txt", "--window", value)
        assert code == 2 and err.strip() == f"nlpt: error: Invalid value for '--window': '{value}' is not {what}", err
    code, _, err = nlpt("train-w2v", "x.txt", "-o", "v.txt", "--sample", "often")
    assert code == 2 and err.strip() == "nlpt: error: Invalid value for '--sample': 'often' is not a number", err


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_help_shows_plain_metavars(path):
    code, out, _ = nlpt(*path, "--help")
    assert code == 0 and out.startswith("Usage: nlpt")
    assert not re.search(r"<(str|int|float|list|bool|path)[^>]*>|INTEGER|RANGE", out), out
    assert "{" not in out.splitlines()[0], out.splitlines()[0]
    usage = " ".join(out.split("\n\n")[0].split())
    assert usage.startswith(f"Usage: nlpt {' '.join(path)} [OPTIONS]"), usage


def test_help_ranges_match_what_is_accepted():
    _, out, _ = nlpt("vocab", "count", "--help")
    assert "bpe 261 or more" in out
    _, out, _ = nlpt("train-glove", "--help")
    memory = " ".join(out.split()).split("--memory FLOAT ")[1].split(" --")[0]
    assert "in GB (more than 0)" in memory and "x>=" not in memory, memory
    _, out, _ = nlpt("train-w2v", "--help")
    assert "Usage: nlpt train-w2v [OPTIONS] FILE..." in out and "-o, --output PATH" in out and "--window INT" in out


@pytest.fixture
def nan_vectors(tmp_path):
    """Four words; 'bad' holds a NaN, so every cosine against it would be NaN."""
    path = tmp_path / "v.txt"
    path.write_text("4 3\nthe 1 0 0\ncat 0.9 0.1 0\ndog 0.8 0.2 0.1\nbad nan 1 0\n")
    return path


def test_query_skips_non_finite_rows_and_names_missing_words(nan_vectors):
    code, out, err = nlpt("query", "nn", nan_vectors, "the", "bad", "zebra", "-k", "3")
    assert code == 0, err
    assert [line.split("\t")[1] for line in out.splitlines()] == ["cat", "dog"]  # no "bad", no nan or -inf
    assert "nan" not in out and "inf" not in out
    assert "1 vector holds NaN or inf values: skipped" in err
    assert "2 words had no vector" in err and "bad, zebra" in err


def test_compare_skips_non_finite_rows(nan_vectors, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("the cat 9\nthe dog 8\ncat dog 7\nthe bad 1\n")
    code, out, err = nlpt("compare", nan_vectors, "--similarity", pairs, "--neighbours", "the", "--json")
    assert code == 0, err
    import json

    row = json.loads(out)["rows"][0]
    assert row["similarity_pairs"] == 3 and row["non_finite_vectors"] == 1 and row["words"] == 4
    assert [n for n, _ in row["neighbours"]["the"]] == ["cat", "dog"]
    assert any("1 vector holds NaN or inf values: skipped" in n for n in json.loads(out)["notes"])


def test_recipe_floats_must_be_finite(tmp_path):
    recipe = tmp_path / "r.toml"
    for value in ("nan", "inf", "-inf"):
        recipe.write_text(f"lr = {value}\n")
        code, _, err = nlpt("pretrain", "train", tmp_path / "c.txt", "-o", tmp_path / "run", "--tokenizer",
                            tmp_path / "tok.json", "--config", recipe)
        assert code == 2 and f"{recipe}: lr = " in err and "not a finite number" in err, err


@pytest.mark.parametrize("value", ["nan", "inf", "nanm", "-5m", "0"])
def test_max_time_must_be_a_finite_positive_duration(tmp_path, value):
    code, _, err = nlpt("pretrain", "train", tmp_path / "c.txt", "-o", tmp_path / "run", "--tokenizer",
                        tmp_path / "tok.json", "--max-time", value)
    assert code == 2 and f"--max-time {value}: not a finite positive duration" in err, err


@pytest.mark.parametrize("extra, message", [
    (["--lr", "0"], "--lr must be a positive number below 10"),
    (["--lr", "50"], "--lr must be a positive number below 10"),
    (["--val-fraction", "1"], "--val-fraction must be between 0 and 1"),
    (["--schedule", "step"], "--schedule must be one of cosine, linear, constant"),
    (["--precision", "fp8"], "--precision must be one of fp32, bf16, fp16"),
    (["--strategy", "zero3"], "--strategy must be one of auto, ddp, fsdp"),
    (["--cpu-matmul", "mkl"], "--cpu-matmul must be one of auto, torch, numpy"),
    (["--objective", "clm"], "--objective must be one of causal_lm"),
    (["--mfu", "0.5"], "--mfu applies to --dry-run only"),
    (["--dry-run", "--mfu", "2"], "--mfu must be in (0, 1]"),
    (["--dry-run", "--gpu", "h1000"], "--gpu must be one of"),
])
def test_pretrain_values_are_refused_before_any_file_is_read(tmp_path, extra, message):
    """A value that cannot work is a usage error (exit 2) before the tokenizer or the corpus is looked at: here
    neither exists, and the message is about the option."""
    code, out, err = nlpt("pretrain", tmp_path / "absent.txt", "-o", tmp_path / "run", "--tokenizer",
                          tmp_path / "absent.json", "--max-steps", "2", *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, message", [
    (["--seed", "-1"], "'--seed': -1 is out of range"),
    (["--batch-size", "4", "--global-batch", "6"], "--global-batch 6 is not a multiple of --batch 4"),
])
def test_finetune_values_are_refused_before_any_file_is_read(tmp_path, extra, message):
    code, out, err = nlpt("finetune", "--train", tmp_path / "absent.tsv", "-o", tmp_path / "run", "--dim", "8", *extra)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_model_too_large_for_the_machine_is_refused_before_any_work(corpus, char_tok, tmp_path):
    """--layers or --hidden so large that the weights, gradients and optimizer state alone exceed the machine's
    memory: a usage error before tokenizing (before, torch's allocator failed after it: an internal error)."""
    run = tmp_path / "run"
    code, out, err = nlpt("pretrain", corpus, "-o", run, "--tokenizer", char_tok, "--arch", "gpt-mini", "--layers", 1,
                          "--hidden", 1 << 20, "--heads", 2, "--max-steps", 2, "--device", "cpu")
    assert code == 2 and err.count("\n") == 1, err
    assert "parameters, whose weights, gradients and optimizer state need" in err and "give a smaller --layers" in err
    assert not run.exists()
