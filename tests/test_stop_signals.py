"""The engine's one stop-signal mechanism (torch-free): noted for the loop, raised for the token builder (a
signal that came before the builder's temporary folder existed is raised once its removal is certain), the
previous handlers put back."""

from __future__ import annotations

import os
import signal

import pytest

from nlpt.common.errors import Interrupted
from nlpt.engine.signals import StopSignals

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1 (POSIX)")


def test_a_signal_is_noted_and_the_handlers_put_back():
    before = signal.getsignal(signal.SIGUSR1)
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.signum == signal.SIGUSR1  # noted, nothing raised
    assert signal.getsignal(signal.SIGUSR1) is before


def test_a_signal_noted_earlier_is_raised_with_the_note_once_raising_is_asked():
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(Interrupted) as caught:
            stop.raise_from_now("the folder was removed")
    assert caught.value.signum == signal.SIGTERM and caught.value.note == "the folder was removed"


def test_after_raise_from_now_a_signal_raises_at_once():
    with pytest.raises(Interrupted) as caught:
        with StopSignals() as stop:
            stop.raise_from_now("note")
            os.kill(os.getpid(), signal.SIGUSR1)
            pytest.fail("the signal did not raise")
    assert caught.value.signum == signal.SIGUSR1
