"""Helpers shared by the embedded stream's tests."""

from __future__ import annotations

T0_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


class Clock:
    """A settable clock in epoch milliseconds, for `LocalStream(clock_ms=...)`."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms
