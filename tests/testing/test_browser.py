"""The one Chromium launch: the executable and flags every headless user gets."""

from __future__ import annotations

from typing import Any

from stockpipe.testing.browser import CHROMIUM_ARGS, launch_chromium


class _Launcher:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def launch(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "browser"


class _Playwright:
    def __init__(self) -> None:
        self.chromium = _Launcher()


def test_launch_uses_debian_chromium_headless_without_network_side_traffic() -> None:
    playwright = _Playwright()
    assert launch_chromium(playwright) == "browser"  # type: ignore[arg-type]
    assert playwright.chromium.calls == [
        {"executable_path": "/usr/bin/chromium", "args": list(CHROMIUM_ARGS)}
    ]
    # Headless as root in a container, and nothing that reaches for the (closed) network.
    for flag in ("--headless", "--no-sandbox", "--disable-background-networking", "--disable-sync"):
        assert flag in CHROMIUM_ARGS
