"""The one stop report of the checkpointed commands (pretrain, finetune) and the interrupted line of the others."""

import signal

import pytest
import typer

from nlpt.cli.options import exit_if_stopped
from nlpt.common.errors import interrupted_report, signal_exit, stop_report


def test_a_stopped_run_reports_where_it_stopped_and_exits_128_plus_the_signal(capsys):
    with pytest.raises(typer.Exit) as stop:
        exit_if_stopped({"stopped_by": signal.SIGTERM, "steps": 7, "checkpoint": "run/checkpoints/step-7"}, False)
    assert stop.value.exit_code == 143
    assert capsys.readouterr().err == ("nlpt: stopped by SIGTERM at step 7; checkpoint run/checkpoints/step-7; "
                                       "rerun the same command to continue\n")


def test_quiet_keeps_the_stop_line_as_it_keeps_errors(capsys):
    """--quiet silences progress, not why a job ended with 138: the line stays, like the stop lines of the stages
    outside the training loop and every error."""
    with pytest.raises(typer.Exit) as stop:
        exit_if_stopped({"stopped_by": signal.SIGUSR1, "steps": 1, "checkpoint": "c"}, True)
    assert stop.value.exit_code == 138
    assert capsys.readouterr().err == "nlpt: stopped by SIGUSR1 at step 1; checkpoint c; rerun the same command to continue\n"


def test_a_run_that_was_not_stopped_goes_on(capsys):
    exit_if_stopped({"stopped_by": None, "steps": 3, "checkpoint": "c"}, False)
    exit_if_stopped({"steps": 3}, False)
    assert capsys.readouterr().err == ""


def test_the_texts():
    assert stop_report(signal.SIGINT, 2, "ck") == "stopped by SIGINT at step 2; checkpoint ck; rerun the same command to continue"
    assert interrupted_report(signal.SIGINT) == "interrupted by SIGINT; no partial output was written"
    assert interrupted_report(signal.SIGTERM, "the folder was removed") == "interrupted by SIGTERM; the folder was removed"
    assert signal_exit(signal.SIGINT) == 130
