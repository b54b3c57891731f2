"""Helpers shared by the deploy tests."""

from __future__ import annotations

import shlex


def exports_of(out: str) -> dict[str, str]:
    """`export NAME=value` lines (stdout of `stockpipe deploy`) as a dict."""
    env = {}
    for line in out.splitlines():
        assert line.startswith("export "), line
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    return env
