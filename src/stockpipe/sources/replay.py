"""ReplaySource: feed saved Alpha Vantage responses (JSON or CSV) into the stream.

For users without a key, or over their quota: save what the API returned (`curl ... >
ibm.json`) and replay it. The files are parsed exactly like live responses, so the bars
are the same as if they had been fetched now.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from stockpipe.contract import INTERVALS, SYMBOL_RE
from stockpipe.errors import ConfigError, SourceError
from stockpipe.sources.alphavantage_client import Series, parse_body
from stockpipe.sources.base import Payload, Source

BATCH_BARS = 5000  # bars per batch: a month of 1min bars is split into a few puts


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
        if symbol is not None and not SYMBOL_RE.match(symbol):
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
            series = parse_body(text, "replay", self.symbol or "?", "replay", self.interval)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except SourceError as exc:
            # Includes a saved refusal (rate limit, bad key): it holds no bars to replay.
            raise SourceError(f"{path}: {exc}") from None
        if is_json and self.symbol and series.symbol != self.symbol:
            raise ConfigError(
                f"--symbol {self.symbol} does not match {series.symbol} in {path}'s Meta Data"
            )
        return series

    def batches(self) -> Iterator[list[Payload]]:
        for path in self.files:
            series = self.read(path)
            for i in range(0, len(series.bars), BATCH_BARS):
                if self.stopped:
                    return
                chunk = series.bars[i : i + BATCH_BARS]
                self.stats.bars += len(chunk)
                self.stats.payloads += len(chunk)
                yield [(b.partition_key, b.to_json()) for b in chunk]
