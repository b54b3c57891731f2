"""ReplaySource: feed saved Alpha Vantage responses (JSON or CSV) into the stream.

A bar that fails a check does not refuse its file: it is sent on with its file and line
and quarantined by the process stage; `stats.extra["rejected"]` counts them.

For users without a key, or over their quota: save what the API returned (`curl ... >
ibm.json`) and replay it. The files are parsed exactly like live responses, so the bars
are the same as if they had been fetched now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from stockpipe.contract import INTERVALS, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.records import Bar
from stockpipe.sources.alphavantage.client import RejectedBar, Series, parse_body
from stockpipe.sources.base import Payload, Source

BATCH_BARS = 5000  # bars per batch: a month of 1min bars is split into a few puts


def _naming(path: Path, exc: Exception) -> str:
    """The error, led by the file it is about (once, if it names it already)."""
    text = str(exc)
    return text if text.startswith(str(path)) else f"{path}: {text}"


class ReplaySource(Source):
    """Each file yields its bars oldest first; the symbol comes from Meta Data or `symbol`."""

    name = "replay"

    def __init__(
        self, files: Sequence[str | Path], symbol: str | None = None, interval: str | None = None
    ) -> None:
        super().__init__()
        if not files:
            raise ConfigError(
                "--source replay needs at least one FILE: a saved Alpha Vantage JSON or CSV "
                "response, e.g. `stockpipe ingest --source replay ibm_5min.json`"
            )
        if symbol is not None and not SYMBOL_RE.fullmatch(symbol):
            raise ConfigError(f"--symbol {symbol!r} is invalid: use A-Z, 0-9, '.' and '-'")
        if interval is not None and interval not in INTERVALS:
            raise ConfigError(
                f"--interval {interval!r} is invalid: use one of {', '.join(INTERVALS)}"
            )
        self.files = [Path(f) for f in files]
        for path in self.files:
            if not path.is_file():
                raise ConfigError(f"replay file {path} does not exist or is not a file")
        self.symbol = symbol
        self.interval = interval
        self.stats.extra["rejected"] = 0

    def read(self, path: Path) -> Series:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"cannot read replay file {path}: {exc}") from None
        is_json = text.lstrip("\ufeff \t\r\n").startswith("{")
        if not is_json and self.symbol is None:
            raise ConfigError(
                f"{path} is CSV, which does not name its symbol: give --symbol, e.g. --symbol IBM"
            )
        try:
            series = parse_body(
                text, "replay", self.symbol or "?", "replay", self.interval, where=str(path)
            )
        except ConfigError as exc:
            raise ConfigError(_naming(path, exc)) from None
        except SourceError as exc:
            # Includes a saved refusal (rate limit, bad key): it holds no bars to replay.
            raise SourceError(_naming(path, exc)) from None
        if is_json and self.symbol and series.symbol != self.symbol:
            raise ConfigError(
                f"--symbol {self.symbol} does not match {series.symbol} in {path}'s Meta Data"
            )
        return series

    def batches(self) -> Iterator[list[Payload]]:
        for path in self.files:
            series = self.read(path)
            # A bad bar is sent on as found, with its file and line, to be quarantined
            # by the process stage; the good bars of the file go on regardless.
            items: list[Bar | RejectedBar] = [*series.bars, *series.rejected]
            for i in range(0, len(items), BATCH_BARS):
                if self.stopped:
                    return
                chunk = items[i : i + BATCH_BARS]
                bad = sum(isinstance(b, RejectedBar) for b in chunk)
                self.stats.bars += len(chunk) - bad
                self.stats.extra["rejected"] += bad
                self.stats.payloads += len(chunk)
                yield [(b.partition_key, b.to_json()) for b in chunk]
