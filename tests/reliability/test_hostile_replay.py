"""Hostile files through the replay source (`stockpipe ingest --source replay FILE`).

A garbage file is refused with a clear StockpipeError (one red line on the CLI, never the
last-resort "run with --debug" line), or it yields records the processing stage can
quarantine or keep; either way nothing crashes and nothing lands outside the lake.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_support import SQL_SYMBOLS, TICKER, TRAVERSAL_SYMBOLS, Sandbox, scratch_dir

from stockpipe.errors import StockpipeError
from stockpipe.pipeline import stages
from stockpipe.sources.replay import ReplaySource
from stockpipe.stream.base import batched_puts

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FALLBACK_HINT = "run with --debug for the traceback"  # printed only for unexpected exceptions

VALUE_KEYS = ("1. open", "2. high", "3. low", "4. close", "5. volume")
cell = st.one_of(
    st.sampled_from(["101.5", "100", "0", "-3", "nan", "NaN", "inf", "-Infinity", "1e400"]),
    st.sampled_from(["", "abc", "1,5", "0x10", "9" * 400, "\x00", "１２３"]),
    st.text(max_size=8),
)
stamp = st.one_of(
    st.sampled_from(["2026-01-05 10:00:00", "2026-01-05 10:05:00", "2026-03-08 02:30:00"]),
    st.sampled_from(["0001-01-01 00:00:00", "9999-12-31 23:59:59", "2026-13-40 99:99:99"]),
    st.sampled_from(["garbage", "", "2026-01-05T10:00:00+99:00", "../../etc"]),
    st.text(max_size=20),
)
meta_symbol = st.one_of(
    st.just("IBM"), st.sampled_from(TRAVERSAL_SYMBOLS + SQL_SYMBOLS), st.text(max_size=10)
)
meta_value = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.lists(st.integers()))


# Files that parse: the prices may still be NaN, infinite, zero or negative, or inverted.
price_cell = st.sampled_from(["101.5", "100", "99.25", "0", "-3", "nan", "inf", "-Infinity"])


@st.composite
def parseable_response(draw: st.DrawFn) -> str:
    minutes = draw(st.lists(st.integers(0, 77), unique=True, min_size=1, max_size=6))
    rows = {}
    for m in minutes:
        stamp_text = f"2026-01-05 {9 + (30 + 5 * m) // 60:02d}:{(30 + 5 * m) % 60:02d}:00"
        values = [draw(price_cell) for _ in range(4)] + [str(draw(st.integers(0, 10**6)))]
        rows[stamp_text] = dict(zip(VALUE_KEYS, values, strict=True))
    doc = {
        "Meta Data": {"2. Symbol": "IBM", "4. Interval": "5min", "6. Time Zone": "US/Eastern"},
        "Time Series (5min)": rows,
    }
    return json.dumps(doc)


@st.composite
def json_response(draw: st.DrawFn) -> str:
    """An intraday response shape with fuzzed stamps, values, symbol, zone and interval."""
    interval = draw(st.sampled_from(["5min", "1min", "2min", "../x", ""]))
    meta: dict[str, object] = {
        "1. Information": "Intraday (5min) open, high, low, close prices and volume",
        "2. Symbol": draw(meta_symbol),
        "4. Interval": interval,
        "6. Time Zone": draw(st.sampled_from(["US/Eastern", "UTC", "../../etc/passwd", "Nowhere"])),
    }
    if draw(st.booleans()):
        meta[draw(st.text(max_size=6))] = draw(meta_value)
    rows: dict[str, object] = {}
    for ts in draw(st.lists(stamp, max_size=5)):
        values: object = {k: draw(cell) for k in VALUE_KEYS if draw(st.integers(0, 9)) > 0}
        if draw(st.integers(0, 9)) == 0:
            values = draw(meta_value)
        rows[ts] = values
    doc: dict[str, object] = {"Meta Data": meta, f"Time Series ({interval})": rows}
    if draw(st.integers(0, 5)) == 0:
        doc = {draw(st.sampled_from(["Error Message", "Information", "Note"])): draw(cell)}
    text = json.dumps(doc)
    if draw(st.integers(0, 4)) == 0:
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return text


@st.composite
def csv_response(draw: st.DrawFn) -> str:
    header = draw(st.sampled_from(["timestamp,open,high,low,close,volume", "a,b", ""]))
    lines = [header]
    for _ in range(draw(st.integers(0, 5))):
        cells = [draw(stamp)] + [draw(cell) for _ in range(draw(st.integers(0, 6)))]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


file_text = st.one_of(parseable_response(), json_response(), csv_response(), st.text(max_size=200))


def _ingest_file(path: Path, symbol: str | None) -> list[tuple[str, bytes]] | StockpipeError:
    try:
        return [p for batch in ReplaySource([path], symbol=symbol).batches() for p in batch]
    except StockpipeError as exc:
        return exc


@FUZZ
@given(text=file_text, use_symbol=st.booleans(), raw=st.binary(max_size=64))
def test_fuzzed_replay_files_fail_clearly_or_flow_into_quarantine_and_bars(
    tmp_path: Path, text: str, use_symbol: bool, raw: bytes
) -> None:
    with tempfile.TemporaryDirectory(dir=scratch_dir(tmp_path)) as tmp:
        box = Sandbox.create(Path(tmp))
        path = box.outer / "saved.json"
        # Sometimes undecodable bytes in front of the text: the file is not UTF-8 at all.
        path.write_bytes((raw if raw[:1] == b"\xff" else b"") + text.encode("utf-8", "replace"))
        stream = box.stream()
        before = box.outside_files()
        result = _ingest_file(path, "IBM" if use_symbol else None)
        event("refused" if isinstance(result, StockpipeError) else f"records: {bool(result)}")
        if isinstance(result, StockpipeError):
            message = str(result)
            assert message.strip() and "Traceback" not in message
            stream.close()
            return
        for key, _ in result:
            assert TICKER.fullmatch(key), key  # the only symbols that reach the stream
        for call in batched_puts(result):
            stream.put_records(call)
        lake = box.lake()
        totals = stages.run_process(stream, lake).extra if result else {}
        stream.close()
        if result:
            assert totals["read"] == len(result)
            assert totals["read"] == totals["kept"] + totals["duplicates"] + totals["quarantined"]
            assert len(box.rows("quarantine")) == totals["quarantined"]
            assert all(r["reason"] for r in box.rows("quarantine"))
        assert box.outside_files() == before


GARBAGE = {
    "random-bytes": bytes(range(256)) * 4,
    "truncated-json": b'{"Meta Data": {"2. Symbol": "IBM", "4. Interval": "5min"}, "Time Se',
    "json-array": b"[1, 2, 3]",
    "traversal-symbol": json.dumps(
        {"Meta Data": {"2. Symbol": "../../etc"}, "Time Series (5min)": {}}
    ).encode(),
    "sql-symbol": json.dumps(
        {"Meta Data": {"2. Symbol": "x'; DROP TABLE bars; --"}, "Time Series (5min)": {}}
    ).encode(),
    "deep-nesting": b'{"a":' + b"[" * 50000 + b"]" * 50000 + b"}",
    "csv-bad-stamps": b"timestamp,open,high,low,close,volume\nxx,1,2,0.5,1,10\nyy,1,2,0.5,1,10\n",
    "csv-short-rows": b"timestamp,open,high,low,close,volume\n2026-01-05 10:00:00,1\n",
    "saved-refusal": b'{"Note": "Thank you for using Alpha Vantage! ... 5 calls per minute"}',
}


# Files whose only bar is bad: the file is not refused, the bar goes on to quarantine
# (issue 17, item 6; tests/sources/test_bad_bars.py has the 99-good-and-1-bad versions).
BAD_BAR_FILES = {
    "missing-volume": json.dumps(
        {
            "Meta Data": {"2. Symbol": "IBM", "4. Interval": "5min"},
            "Time Series (5min)": {"2026-01-05 10:00:00": {"1. open": "1", "2. high": "2"}},
        }
    ).encode(),
    "nan-volume": json.dumps(
        {
            "Meta Data": {"2. Symbol": "IBM", "4. Interval": "5min"},
            "Time Series (5min)": {
                "2026-01-05 10:00:00": dict(
                    zip(VALUE_KEYS, ["1", "2", "0.5", "1", "nan"], strict=True)
                )
            },
        }
    ).encode(),
    "year-9999": json.dumps(
        {
            "Meta Data": {"2. Symbol": "IBM", "4. Interval": "5min"},
            "Time Series (5min)": {
                "9999-12-31 23:59:59": dict(
                    zip(VALUE_KEYS, ["1", "2", "0.5", "1", "10"], strict=True)
                )
            },
        }
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_BAR_FILES), ids=sorted(BAD_BAR_FILES))
def test_cli_sends_a_files_bad_bar_to_quarantine(
    cli, home: Path, tmp_path: Path, name: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.json"
    path.write_bytes(BAD_BAR_FILES[name])
    result = cli("ingest", "--source", "replay", str(path))
    assert result.code == 0, result.err
    assert "(0 bars, 1 rejected bar sent to quarantine)" in result.out.replace("\n", " ")
    assert cli("process").code == 0
    (row,) = pq.read_table(str(home / "lake" / "quarantine")).to_pylist()
    assert row["detail"].startswith(f"{path} line ")


@pytest.mark.parametrize("name", sorted(GARBAGE), ids=sorted(GARBAGE))
def test_cli_refuses_garbage_files_with_one_clear_line(
    cli, home: Path, tmp_path: Path, name: str
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(GARBAGE[name])
    args = ["ingest", "--source", "replay", str(path)]
    if name.startswith("csv"):
        args += ["--symbol", "IBM"]
    result = cli(*args)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.err
    assert "Traceback" not in result.err + result.out
    assert FALLBACK_HINT not in result.err  # a StockpipeError, not the last line of defence
    assert str(path) in lines[0]  # names the bad file
