"""Test tools for stockpipe's users and its own suite: a testing source, a list sink, the
crash harness and the one headless-Chromium launch.

In bytewax's manner (`bytewax.testing`), a test builds a tiny flow from `TestingSource`
and `ListSink` and asserts on a list. `stockpipe chaos` runs `testing.chaos.run_chaos`.
"""

from __future__ import annotations

from stockpipe.testing.sink import ListSink
from stockpipe.testing.source import TestingSource

__all__ = ["ListSink", "TestingSource"]
