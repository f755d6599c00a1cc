"""The one stop report of the checkpointed commands (pretrain, finetune) and the interrupted line of the others."""

import signal

import pytest
import typer

from nlpt.cli.options import exit_if_stopped
from nlpt.common.errors import interrupted_report, signal_exit, stop_report


def test_a_stopped_run_reports_where_it_stopped_and_exits_128_plus_the_signal(capsys):
    with pytest.raises(typer.Exit) as stop:
        exit_if_stopped({"stopped_by": signal.SIGTERM, "steps": 7, "checkpoint": "run/checkpoints/step-7"})
    assert stop.value.exit_code == 143
    assert capsys.readouterr().err == ("nlpt: stopped by SIGTERM at step 7; checkpoint run/checkpoints/step-7; "
                                       "rerun the same command to continue\n")


def test_a_rank_that_does_not_report_exits_with_the_status_and_no_line(capsys):
    """A distributed run's other ranks: rank 0 prints the one line, every rank ends with the status."""
    with pytest.raises(typer.Exit) as stop:
        exit_if_stopped({"stopped_by": signal.SIGUSR1, "steps": 1, "checkpoint": "c"}, report=False)
    assert stop.value.exit_code == 138 and capsys.readouterr().err == ""


def test_a_run_that_was_not_stopped_goes_on(capsys):
    exit_if_stopped({"stopped_by": None, "steps": 3, "checkpoint": "c"})
    exit_if_stopped({"steps": 3})
    assert capsys.readouterr().err == ""


def test_the_texts():
    assert stop_report(signal.SIGINT, 2, "ck") == "stopped by SIGINT at step 2; checkpoint ck; rerun the same command to continue"
    assert interrupted_report(signal.SIGINT) == "interrupted by SIGINT; no partial output was written"
    assert interrupted_report(signal.SIGTERM, "the folder was removed") == "interrupted by SIGTERM; the folder was removed"
    assert signal_exit(signal.SIGINT) == 130
