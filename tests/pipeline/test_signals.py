"""pipeline/signals.py: the first Ctrl-C stops gracefully, a second one escalates, and the
previous handlers come back afterwards (the shape of dlt's common/runtime/signals.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from stockpipe.pipeline.signals import StopSignals, sigint_ignored


def _send(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    # The handler runs in the main thread between two bytecodes: give it the chance.
    for _ in range(20):
        time.sleep(0.01)


@pytest.fixture
def handlers():  # type: ignore[no-untyped-def]
    """The handlers in place before the test, checked to be back after it."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield before
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_first_sigint_sets_the_stop_event_and_a_second_raises(handlers) -> None:
    with pytest.raises(KeyboardInterrupt, match="second Ctrl-C"), StopSignals() as stop:
        assert not stop.is_set()
        _send(signal.SIGINT)
        assert stop.is_set()  # graceful: the loop sees the event and checkpoints
        _send(signal.SIGINT)
        pytest.fail("the second SIGINT did not interrupt")
    for sig, previous in handlers.items():
        assert signal.getsignal(sig) is previous


def test_sigterm_is_graceful_every_time(handlers) -> None:
    with StopSignals() as stop:
        _send(signal.SIGTERM)
        _send(signal.SIGTERM)  # a supervisor may repeat it: still no exception
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is handlers[signal.SIGTERM]


def test_a_sigterm_then_a_sigint_escalates(handlers) -> None:
    with pytest.raises(KeyboardInterrupt), StopSignals() as stop:
        _send(signal.SIGTERM)
        assert stop.is_set()
        _send(signal.SIGINT)
        pytest.fail("Ctrl-C after SIGTERM did not interrupt")


def test_only_the_signals_asked_for_are_handled(handlers) -> None:
    with StopSignals((signal.SIGTERM,)) as stop:
        assert signal.getsignal(signal.SIGINT) is handlers[signal.SIGINT]
        assert signal.getsignal(signal.SIGTERM) is not handlers[signal.SIGTERM]
        _send(signal.SIGTERM)
        assert stop.is_set()


def test_an_existing_event_is_the_one_set(handlers) -> None:
    event = threading.Event()
    with StopSignals(stop=event) as stop:
        assert stop is event
        _send(signal.SIGINT)
    assert event.is_set()


def test_outside_the_main_thread_nothing_is_installed(handlers) -> None:
    seen: list[object] = []

    def worker() -> None:
        with StopSignals() as stop:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(stop.is_set())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert seen == [handlers[signal.SIGINT], False]


def test_a_ctrl_c_while_children_start_is_held_then_delivered(handlers) -> None:
    with StopSignals() as stop:
        with sigint_ignored():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            # To this thread, the one that blocks it (another thread of the test runner
            # would take a process-wide signal while it is ignored, and discard it).
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            assert signal.SIGINT in signal.sigpending()
            assert not stop.is_set()
        # Blocked, not discarded: unblocking delivers it to the handler that is back.
        for _ in range(100):
            if stop.is_set():
                break
            time.sleep(0.01)
        assert stop.is_set()


class Stage:
    """A stage process as `_stop_stages` sees it; `join` is where a second Ctrl-C lands."""

    def __init__(self, interrupt: bool) -> None:
        self.pid = None  # nothing to send SIGTERM to
        self.alive = True
        self.interrupt = interrupt
        self.killed = False

    def is_alive(self) -> bool:
        return self.alive

    def join(self, timeout: float | None = None) -> None:
        if self.interrupt:
            raise KeyboardInterrupt
        self.alive = False

    def kill(self) -> None:
        self.killed, self.alive = True, False


def test_a_second_ctrl_c_while_stages_checkpoint_kills_them() -> None:
    from stockpipe.pipeline.runner import _stop_stages

    calm = {"archive": Stage(False), "process": Stage(False)}
    assert _stop_stages(calm) is False
    assert not any(p.killed for p in calm.values())
    cut = {"archive": Stage(True), "process": Stage(True)}
    assert _stop_stages(cut) is True
    assert all(p.killed for p in cut.values())
