"""Issue 17, items 3, 6, 9 and 10: bad bars are quarantined one by one, with their origin;
decimal volumes are judged the same on every path; every Alpha Vantage CSV header is read;
intraday labels are bar ends.

The files here are shaped like real Alpha Vantage responses: newest bar first, numbered
JSON keys, naive US/Eastern labels, extended hours 04:01..20:00 in 1min bars.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stockpipe.lake.local import LocalLake
from stockpipe.pipeline import stages
from stockpipe.sources.alphavantage import AlphaVantageSource
from stockpipe.sources.alphavantage.budget import RequestBudget
from stockpipe.sources.alphavantage.client import AlphaVantageClient
from stockpipe.sources.replay import ReplaySource
from stockpipe.stream.local import LocalStream

KEYS = ("1. open", "2. high", "3. low", "4. close", "5. volume")
GOOD = ("100.0000", "100.5000", "99.5000", "100.2500", "1200")


def av_json(symbol: str, interval: str, rows: dict[str, tuple[str, ...] | dict[str, str]]) -> str:
    """A TIME_SERIES_INTRADAY body; rows by label, newest first as Alpha Vantage sends them."""
    series = {}
    for label in sorted(rows, reverse=True):
        values = rows[label]
        series[label] = values if isinstance(values, dict) else dict(zip(KEYS, values, strict=True))
    doc = {
        "Meta Data": {
            "1. Information": f"Intraday ({interval}) open, high, low, close prices and volume",
            "2. Symbol": symbol,
            "3. Last Refreshed": max(rows),
            "4. Interval": interval,
            "5. Output Size": "Full size",
            "6. Time Zone": "US/Eastern",
        },
        f"Time Series ({interval})": series,
    }
    return json.dumps(doc, indent=4)


def labels(day: str, first: str, last: str, minutes: int) -> list[str]:
    t = datetime.fromisoformat(f"{day} {first}")
    end = datetime.fromisoformat(f"{day} {last}")
    out = []
    while t <= end:
        out.append(t.strftime("%Y-%m-%d %H:%M:%S"))
        t += timedelta(minutes=minutes)
    return out


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run_through(tmp_path: Path, payloads: list[tuple[str, bytes]]) -> tuple[dict, LocalLake]:  # type: ignore[type-arg]
    """Payloads -> embedded stream -> process; returns the totals and the lake."""
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    for i in range(0, len(payloads), 500):
        stream.put_records(payloads[i : i + 500])
    lake = LocalLake(tmp_path / "lake")
    totals = stages.run_process(stream, lake).extra
    stream.close()
    return totals, lake


def table(lake: LocalLake, prefix: str) -> list[dict]:  # type: ignore[type-arg]
    files = sorted(Path(lake.root, prefix).rglob("*.parquet"))
    return pq.read_table([str(f) for f in files]).to_pylist() if files else []


# -- item 3: decimal volumes ---------------------------------------------------------


def test_decimal_volume_is_quarantined_on_replay_csv_json_and_stream_alike(tmp_path: Path) -> None:
    # The same bar, 10:00-10:05 ET on 2026-11-24 (EST: 15:00Z), volume 1234.75, three ways.
    csv_file = tmp_path / "ibm.csv"
    csv_file.write_text(
        "timestamp,open,high,low,close,volume\r\n"
        "2026-11-24 10:10:00,100.0,100.5,99.5,100.25,1200\r\n"
        "2026-11-24 10:05:00,100.0,100.5,99.5,100.25,1234.75\r\n"
    )
    json_file = tmp_path / "ibm.json"
    json_file.write_text(
        av_json(
            "IBM",
            "5min",
            {
                "2026-11-24 10:05:00": ("100.0", "100.5", "99.5", "100.25", "1234.75"),
                "2026-11-24 10:10:00": GOOD,
            },
        )
    )
    stream_record = {
        "schema_version": 1,
        "symbol": "IBM",
        "interval": "5min",
        "ts": "2026-11-24T15:00:00Z",
        "open": 100.0,
        "high": 100.5,
        "low": 99.5,
        "close": 100.25,
        "volume": 1234.75,
        "source": "producer",
    }
    payloads = [p for b in ReplaySource([csv_file], symbol="IBM").batches() for p in b]
    payloads += [p for b in ReplaySource([json_file]).batches() for p in b]
    payloads.append(("IBM", json.dumps(stream_record).encode()))
    totals, lake = run_through(tmp_path, payloads)

    quarantine = table(lake, "quarantine")
    assert len(quarantine) == 3
    assert {q["reason"] for q in quarantine} == {"bad_type"}
    for q in quarantine:
        assert "volume 1234.75 is not an integer" in q["detail"]
        assert json.loads(q["payload"])["volume"] == 1234.75  # kept as received, not 1234
    assert {q["detail"].split(": ")[0] for q in quarantine} == {
        "volume 1234.75 is not an integer",  # the stream record: no origin to name
        f"{csv_file} line 3",
        f"{json_file} line 18",  # the line of the bar's label in the saved file
    }
    bars = table(lake, "processed-data/bars")
    # Only the good 10:05-10:10 bar, once per file (a duplicate the second time).
    assert [(b["ts"], b["volume"]) for b in bars] == [(utc("2026-11-24T15:05:00"), 1200)]
    assert (totals["read"], totals["kept"], totals["duplicates"], totals["quarantined"]) == (
        5,
        1,
        1,
        3,
    )


# -- item 6: one bad bar is one quarantined bar ----------------------------------------

BAD_VALUES = {
    "nan-volume": (("100.0", "100.5", "99.5", "100.25", "NaN"), "bad_type", "volume nan"),
    "non-numeric-price": (("abc", "100.5", "99.5", "100.25", "10"), "bad_type", "open 'abc'"),
    "missing-field": ({"1. open": "100.0", "2. high": "100.5"}, "missing_field", "low, close"),
    "negative-volume": (("100.0", "100.5", "99.5", "100.25", "-5"), "negative_volume", "-5"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_one_bad_bar_in_a_replayed_json_file_is_one_quarantined_bar(
    tmp_path: Path, case: str
) -> None:
    values, reason, says = BAD_VALUES[case]
    day = labels("2026-11-24", "09:31", "11:10", 1)  # 100 bars labelled 09:31 .. 11:10
    rows: dict[str, tuple[str, ...] | dict[str, str]] = {label: GOOD for label in day}
    rows[day[42]] = values
    path = tmp_path / "ibm.json"
    path.write_text(av_json("IBM", "1min", rows))
    source = ReplaySource([path])
    payloads = [p for b in source.batches() for p in b]
    assert (source.stats.bars, source.stats.extra["rejected"]) == (99, 1)
    totals, lake = run_through(tmp_path, payloads)
    assert (totals["read"], totals["kept"], totals["quarantined"]) == (100, 99, 1)
    (q,) = table(lake, "quarantine")
    assert q["reason"] == reason and says in q["detail"]
    # The origin: the file and the line of the bar's label. Newest first, it is bar 99 - 42
    # (0-based); the first label is on line 11 and each full bar takes 7 lines.
    assert q["detail"].startswith(f"{path} line {11 + 7 * (99 - 42)}:")
    bars = table(lake, "processed-data/bars")
    assert len(bars) == 99
    # The bad bar is the one labelled 10:13, i.e. starting 10:12 ET = 15:12Z.
    assert utc("2026-11-24T15:12:00") not in {b["ts"] for b in bars}


@pytest.mark.parametrize(
    ("row", "reason", "says"),
    [
        ("2026-11-24 10:13:00,100.0,100.5", "missing_field", "low, close, volume"),
        ("2026-13-45 10:13:00,100.0,100.5,99.5,100.25,10", "bad_type", "2026-13-45"),
        ("2250-11-24 10:13:00,100.0,100.5,99.5,100.25,10", "ts_out_of_range", "2250-11-24"),
        ("1980-11-24 10:13:00,100.0,100.5,99.5,100.25,10", "ts_out_of_range", "1980-11-24"),
    ],
    ids=["short-row", "bad-timestamp", "far-future", "before-1990"],
)
def test_one_bad_row_in_a_replayed_csv_is_one_quarantined_bar(
    tmp_path: Path, row: str, reason: str, says: str
) -> None:
    good = [
        f"{label},100.0,100.5,99.5,100.25,1200"
        for label in labels("2026-11-24", "09:31", "11:10", 1)
    ]
    lines = ["timestamp,open,high,low,close,volume", *reversed(good[:99]), row]
    path = tmp_path / "ibm.csv"
    path.write_text("\r\n".join(lines) + "\r\n")
    source = ReplaySource([path], symbol="IBM")
    payloads = [p for b in source.batches() for p in b]
    assert (source.stats.bars, source.stats.extra["rejected"]) == (99, 1)
    totals, lake = run_through(tmp_path, payloads)
    assert (totals["read"], totals["kept"], totals["quarantined"]) == (100, 99, 1)
    (q,) = table(lake, "quarantine")
    assert q["reason"] == reason, q["detail"]
    assert says in q["detail"]
    assert q["detail"].startswith(f"{path} line 101:")
    assert len(table(lake, "processed-data/bars")) == 99


def test_cli_ingest_summary_counts_good_and_rejected_bars(cli, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    day = labels("2026-11-24", "09:31", "09:40", 1)
    rows: dict[str, tuple[str, ...] | dict[str, str]] = {label: GOOD for label in day}
    rows[day[3]] = ("100.0", "100.5", "99.5", "100.25", "nan")
    path = tmp_path / "ibm.json"
    path.write_text(av_json("IBM", "1min", rows))
    result = cli("ingest", "--source", "replay", str(path))
    assert result.code == 0, result.err
    assert "ingested 10 records (9 bars, 1 rejected bar sent to quarantine) from replay" in (
        result.out.replace("\n", " ")
    )


# -- live polling: one bad symbol never stops the others --------------------------------


def test_live_polling_goes_on_past_a_bad_bar_and_a_garbled_symbol(
    tmp_path: Path,
) -> None:
    day = labels("2026-11-24", "09:35", "10:00", 5)  # six 5min bars
    msft = dict.fromkeys(day, GOOD)
    msft[day[2]] = ("100.0", "100.5", "99.5", "100.25", "12.5")  # a decimal volume

    def handler(request: Request) -> Response:
        symbol = request.args["symbol"]
        if symbol == "IBM":
            return Response('{"Meta Data": {"2. Symbol": "IBM"', content_type="application/json")
        return Response(av_json(symbol, "5min", msft), content_type="application/json")

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request("/query").respond_with_handler(handler)
        budget = RequestBudget(tmp_path / "budget.json", per_day=0, min_spacing=0)
        client = AlphaVantageClient("KEY123", budget, base_url=server.url_for("/query"))
        source = AlphaVantageSource(
            client,
            ["IBM", "MSFT", "AAPL"],
            tmp_path,
            once=True,
            market_hours_only=False,
            clock=lambda: datetime(2026, 11, 25, tzinfo=UTC),
        )
        payloads = [p for b in source.batches() for p in b]
    finally:
        server.stop()
    # IBM's garbled response is that symbol's error; MSFT and AAPL went on, 5 + 1 each.
    assert list(source.symbol_errors) == ["IBM"]
    assert "not valid JSON" in source.symbol_errors["IBM"]
    assert sorted({k for k, _ in payloads}) == ["AAPL", "MSFT"]
    assert (source.stats.bars, source.stats.extra["rejected"]) == (10, 2)
    rejected = [json.loads(p) for _, p in payloads if b'"origin"' in p]
    assert [r["volume"] for r in rejected] == [12.5, 12.5]
    assert rejected[0]["origin"].startswith("TIME_SERIES_INTRADAY MSFT 5min response line ")


# -- item 9: every CSV header Alpha Vantage has used -------------------------------------


def test_extended_intraday_csv_with_time_header_equals_the_timestamp_one(tmp_path: Path) -> None:
    body = [
        "2020-11-27 09:35:00,116.2100,116.5000,116.0000,116.4400,15000",
        "2020-11-27 09:34:00,116.0000,116.3000,115.9000,116.2100,12000",
    ]
    with_time = tmp_path / "extended.csv"
    with_time.write_text("time,open,high,low,close,volume\r\n" + "\r\n".join(body) + "\r\n")
    with_stamp = tmp_path / "intraday.csv"
    with_stamp.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(body) + "\n")
    a = ReplaySource([with_time], symbol="IBM").read(with_time)
    b = ReplaySource([with_stamp], symbol="IBM").read(with_stamp)
    assert a.bars == b.bars and len(a.bars) == 2 and a.interval == "1min"
    # 09:34 EST label = end of the bar starting 09:33 EST = 14:33Z.
    assert a.bars[0].ts == utc("2020-11-27T14:33:00")
    assert (a.bars[1].close, a.bars[1].volume) == (116.44, 15000)


def test_daily_adjusted_csv_columns_are_found_by_name(tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    path.write_text(
        "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
        "2020-11-27,116.00,117.50,115.80,116.94,101.20,2567890,0.0000,1.0\n"
        "2020-11-25,115.00,116.50,114.80,115.94,100.30,3567890,0.0000,1.0\n"
    )
    series = ReplaySource([path], symbol="IBM", interval="1day").read(path)
    assert [(b.ts, b.close, b.volume) for b in series.bars] == [
        (utc("2020-11-25T14:30:00"), 115.94, 3567890),  # 09:30 EST open
        (utc("2020-11-27T14:30:00"), 116.94, 2567890),
    ]


# -- item 10: labels are bar ends ----------------------------------------------------------


def test_real_shaped_1min_day_runs_0400_to_1959_as_bar_starts(tmp_path: Path) -> None:
    # A full extended-hours day as Alpha Vantage serves it: labels 04:01 .. 20:00.
    day = labels("2020-11-24", "04:01", "20:00", 1)
    assert len(day) == 960
    path = tmp_path / "ibm.json"
    path.write_text(av_json("IBM", "1min", dict.fromkeys(day, GOOD)))
    bars = ReplaySource([path]).read(path).bars
    assert len(bars) == 960
    # 2020-11-24 is EST (UTC-5): the first bar starts at 04:00 ET, the last at 19:59 ET.
    assert bars[0].ts == utc("2020-11-24T09:00:00")
    assert bars[-1].ts == utc("2020-11-25T00:59:00")


def test_half_day_2020_11_27_ends_with_the_bar_starting_1655(tmp_path: Path) -> None:
    # The day after Thanksgiving 2020: regular session until 13:00, extended until 17:00,
    # so the last label Alpha Vantage shows is 17:00:00 (5min: 16:55-17:00).
    day = labels("2020-11-27", "04:05", "17:00", 5)
    path = tmp_path / "ibm.json"
    path.write_text(av_json("IBM", "5min", dict.fromkeys(day, GOOD)))
    bars = ReplaySource([path]).read(path).bars
    assert len(bars) == 156  # starts 04:00 .. 16:55
    assert bars[0].ts == utc("2020-11-27T09:00:00")  # 04:00 EST
    assert bars[-1].ts == utc("2020-11-27T21:55:00")  # 16:55 EST
    # The regular session's last bar (label 13:00) starts at 12:55 EST.
    assert utc("2020-11-27T17:55:00") in {b.ts for b in bars}


def test_20_00_label_is_the_last_bar_of_the_day_not_the_first_of_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ibm.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2020-11-24 20:00:00,1.0,1.0,1.0,1.0,100\n"
        "2020-11-24 19:59:00,1.0,1.0,1.0,1.0,100\n"
    )
    bars = ReplaySource([path], symbol="IBM").read(path).bars
    # 19:59 and 19:58 ET starts: both on the New York day 2020-11-24.
    assert [b.ts for b in bars] == [utc("2020-11-25T00:58:00"), utc("2020-11-25T00:59:00")]
