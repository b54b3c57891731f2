"""The one place stockpipe handles SIGINT and SIGTERM (after dlt's `common/runtime/signals.py`).

The first signal sets a stop event: the stage finishes the batch in hand, saves its
checkpoint and exits cleanly. A second Ctrl-C escalates: it raises KeyboardInterrupt
where the main thread is, so a user who does not want to wait gets out at once (the CLI
exits 130). A repeated SIGTERM stays graceful: supervisors (`stockpipe run`, systemd)
may send it more than once and expect the checkpoint. The previous handlers come back
when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

GRACEFUL = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """`with StopSignals() as stop:` run until `stop` is set; handlers restored after.

    Only the main thread may install signal handlers; elsewhere (a test runner's worker,
    an embedding program) the block runs with the handlers untouched and `stop` is only
    set by whoever else holds it.
    """

    def __init__(
        self,
        signals: tuple[signal.Signals, ...] = GRACEFUL,
        stop: threading.Event | None = None,
    ) -> None:
        self.signals = signals
        self.stop = stop if stop is not None else threading.Event()
        self.received: list[int] = []
        self._previous: dict[signal.Signals, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        again = bool(self.received)
        self.received.append(signum)
        self.stop.set()
        if again and signum == signal.SIGINT:
            raise KeyboardInterrupt("second Ctrl-C: stopping without waiting for the batch")

    def __enter__(self) -> threading.Event:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self.stop

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored (and held back) while child processes start: they inherit the ignored
    disposition across exec, so Ctrl-C reaches only this process. A Ctrl-C pressed meanwhile
    stays pending (a blocked signal is never discarded) and is delivered afterwards."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
