"""The Alpaca and Finnhub sources against local fake feeds (real websockets on 127.0.0.1).

Fixture shapes: Alpaca messages follow https://docs.alpaca.markets/docs/streaming-market-data
(control messages, errors) and https://docs.alpaca.markets/docs/real-time-stock-pricing-data
(trades, bars, updatedBars); REST bars follow the /v2/stocks/bars example of
https://docs.alpaca.markets/reference/stockbars. Finnhub messages follow
https://finnhub.io/docs/api/websocket-trades, candles https://finnhub.io/docs/api/stock-candles.
Times are shifted to the last few minutes, as a live feed would send them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ws_fakes import (
    KEY_ID,
    PING,
    SECRET,
    TOKEN,
    FakeFeed,
    Session,
    alpaca_bar,
    alpaca_trade,
    collect,
    finnhub,
    finnhub_trades,
)

from stockpipe.sources.websocket.alpaca import AlpacaFeed, AlpacaRest
from stockpipe.sources.websocket.base import FeedAuthError, FeedSubscriptionError
from stockpipe.sources.websocket.finnhub import FinnhubFeed
from stockpipe.sources.websocket.source import WebsocketSource

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
M = [NOW - timedelta(minutes=6 - i) for i in range(6)]  # six recent minute starts


def alpaca(feed: FakeFeed, state: Path, channel: str = "bars", key: str = KEY_ID, **kw: Any):
    src = AlpacaFeed(key, SECRET, feed.url)
    rest = AlpacaRest(key, SECRET, feed.http, "iex")
    opts = {"stall_s": 5.0, "backoff_s": 0.05, "backoff_cap_s": 0.2, "heartbeat_s": 0.05, **kw}
    return WebsocketSource(src, ["AAPL", "MSFT"], state, channel=channel, filler=rest, **opts)


def bars(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in payloads if "rejected" not in p]


def frame(*msgs: dict[str, Any]) -> str:
    return json.dumps(list(msgs))


# -- refusals -------------------------------------------------------------------------


def test_alpaca_auth_failure_is_a_clear_final_error(tmp_path: Path) -> None:
    with FakeFeed("alpaca", [Session()]) as feed:
        source = alpaca(feed, tmp_path, key="WRONGkeyID")
        with pytest.raises(FeedAuthError) as err:
            collect(source, lambda out: False)
        assert feed.connections == 1  # no retry loop on a refused key
    message = str(err.value)
    assert "402" in message and "auth failed" in message and "ALPACA_API_KEY_ID" in message
    assert SECRET not in message and "WRONGkeyID" not in message


def test_finnhub_bad_token_is_refused_at_the_upgrade(tmp_path: Path) -> None:
    with FakeFeed("finnhub", [Session()]) as feed, pytest.raises(FeedAuthError) as err:
        collect(finnhub(feed, tmp_path, token="BADtoken123"), lambda out: False)
    assert "HTTP 401" in str(err.value) and "FINNHUB_API_KEY" in str(err.value)
    assert "BADtoken123" not in str(err.value)


def test_alpaca_subscription_limit_is_a_distinct_error(tmp_path: Path) -> None:
    error = {"code": 405, "msg": "symbol limit exceeded"}
    with FakeFeed("alpaca", [Session(sub_error=error)]) as feed:
        with pytest.raises(FeedSubscriptionError) as err:
            collect(alpaca(feed, tmp_path, channel="trades"), lambda out: False)
        assert feed.subscribes == [{"action": "subscribe", "trades": ["AAPL", "MSFT"]}]
    assert "symbol limit exceeded" in str(err.value) and "30 trade channels" in str(err.value)


def test_finnhub_too_many_symbols_is_a_subscription_error(tmp_path: Path) -> None:
    msg = json.dumps({"type": "error", "msg": "Subscribing to too many symbols"})
    with (
        FakeFeed("finnhub", [Session(frames=[msg])]) as feed,
        pytest.raises(FeedSubscriptionError) as err,
    ):
        collect(finnhub(feed, tmp_path), lambda out: False)
    assert "too many symbols" in str(err.value)


def test_alpaca_connection_limit_is_retried_then_final(tmp_path: Path) -> None:
    first = json.dumps([{"T": "error", "code": 406, "msg": "connection limit exceeded"}])
    with FakeFeed("alpaca", [Session(first=first)]) as feed:
        from stockpipe.sources.websocket.base import FeedLimitError

        with pytest.raises(FeedLimitError, match="connection limit exceeded"):
            collect(alpaca(feed, tmp_path, limit_retries=2), lambda out: False)
        assert feed.connections == 3  # the first try and two retries


# -- data -----------------------------------------------------------------------------


def test_alpaca_reconnect_fills_the_gap_with_no_lost_or_duplicated_bar(tmp_path: Path) -> None:
    b = [
        alpaca_bar("b", "AAPL", M[i], 10 + i, 11 + i, 9 + i, 10.5 + i, 100 * (i + 1))
        for i in range(4)
    ]
    # Connection 1 delivers minutes 0 and 1, then the network fails. Minute 2's bar is
    # published while the source is away; REST has minutes 1 and 2 (1 overlaps); the
    # second connection delivers minute 3 (and minute 2 again, as a late re-send).
    rest = {"bars": {"AAPL": [{k: v for k, v in x.items() if k not in ("T", "S")} for x in b[1:3]]},
            "next_page_token": None}  # fmt: skip
    sessions = [
        Session(frames=[frame(b[0]), frame(b[1])], end="drop"),
        Session(frames=[frame(b[2]), frame(b[3])], wait_s=0.3),
    ]
    with FakeFeed("alpaca", sessions, rest=rest) as feed:
        source = alpaca(feed, tmp_path)
        out = collect(
            source, lambda out: len(bars(out)) >= 4 and source.stats.extra["connects"] >= 2
        )
        assert feed.connections == 2
        assert len(feed.auth_messages) == 2  # re-authenticated
        assert feed.subscribes == [{"action": "subscribe", "bars": ["AAPL", "MSFT"],
                                    "updatedBars": ["AAPL", "MSFT"]}] * 2  # fmt: skip
        (query,) = feed.rest_queries
        assert query["timeframe"] == ["1Min"] and query["feed"] == ["iex"]
        assert query["start"] == [M[2].strftime("%Y-%m-%dT%H:%M:%SZ")]
    keys = [(p["symbol"], p["ts"]) for p in bars(out)]
    want = [("AAPL", m.strftime("%Y-%m-%dT%H:%M:%SZ")) for m in M[:4]]
    assert sorted(keys) == want  # every minute exactly once
    by_ts = {p["ts"]: p for p in bars(out)}
    assert by_ts[want[2][1]]["volume"] == 300 and by_ts[want[2][1]]["source"] == "alpaca"
    # The gap starts after the last bar received (minute 1): REST is asked from minute 2,
    # and its answer's minute 1 is ignored; minute 2 arrives again by websocket: dropped.
    assert source.stats.extra["gap_bars_filled"] == 1
    assert source.stats.extra["duplicate_bars"] == 1


def test_stalled_feed_is_detected_and_reopened(tmp_path: Path) -> None:
    t = M[2]
    sessions = [
        Session(frames=[finnhub_trades(("AAPL", 100.0, t, 5))], end="stall"),
        Session(frames=[finnhub_trades(("AAPL", 101.0, t + timedelta(seconds=70), 1))]),
    ]
    with FakeFeed("finnhub", sessions) as feed:
        source = finnhub(feed, tmp_path, stall_s=0.4)
        out = collect(source, lambda out: len(bars(out)) >= 1)
        assert feed.connections == 2
        # Resubscribed on the new connection.
        assert feed.subscribes.count({"type": "subscribe", "symbol": "AAPL"}) == 2
    assert bars(out)[0]["close"] == 100.0 and bars(out)[0]["volume"] == 5
    assert source.stats.extra["disconnects"] >= 1


def test_garbage_frames_are_quarantined_and_the_feed_goes_on(tmp_path: Path) -> None:
    t = M[1]
    bad_item = {"s": "AAPL", "p": "abc", "t": int(t.timestamp() * 1000), "v": 1}
    frames: list[str | bytes] = [
        "not json at all {",
        b"\xff\xfe binary",
        json.dumps([1, 2, 3]),
        json.dumps({"type": "news", "data": []}),
        json.dumps({"type": "trade", "data": [bad_item]}),
        PING,
        finnhub_trades(("AAPL", 10.0, t + timedelta(seconds=1), 3)),
        finnhub_trades(("AAPL", 12.0, t + timedelta(seconds=61), 1)),
    ]
    with FakeFeed("finnhub", [Session(frames=frames)]) as feed:
        source = finnhub(feed, tmp_path)
        out = collect(source, lambda out: len(bars(out)) >= 1)
        assert feed.connections == 1  # garbage did not cost the connection
    rejected = [p for p in out if "rejected" in p]
    reasons = [p["rejected"] for p in rejected]
    assert reasons == ["malformed_frame", "malformed_frame", "malformed_frame",
                       "unknown_message", "bad_trade"]  # fmt: skip
    assert all(p["source"] == "finnhub" and p["raw"] for p in rejected)
    assert "'abc'" in rejected[-1]["detail"]
    (bar,) = bars(out)
    assert (bar["open"], bar["close"], bar["volume"], bar["trade_count"]) == (10.0, 10.0, 3, 1)
    assert source.stats.extra["heartbeats"] == 1


def test_late_trade_sends_a_corrected_bar(tmp_path: Path) -> None:
    t = M[1]
    frames: list[str | bytes] = [
        finnhub_trades(("MSFT", 400.0, t + timedelta(seconds=10), 10)),
        finnhub_trades(("MSFT", 401.0, t + timedelta(seconds=62), 1)),  # closes minute 1
        finnhub_trades(
            ("MSFT", 398.0, t + timedelta(seconds=50), 30),  # late, minute 1
            ("MSFT", 0.0, t, 1),
        ),  # a bad price, quarantined  # fmt: skip
    ]
    with FakeFeed("finnhub", [Session(frames=frames, gap_s=1.0)]) as feed:
        source = finnhub(feed, tmp_path)
        out = collect(source, lambda out: len(bars(out)) >= 2)
        assert feed.connections == 1
    first, fixed = bars(out)[:2]
    assert first["ts"] == fixed["ts"] == t.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (first["volume"], first["close"]) == (10, 400.0)
    # 10 @ 400 + 30 @ 398: volume 40, close 398 (0:50 > 0:10), VWAP 398.5.
    assert (fixed["volume"], fixed["close"], fixed["low"], fixed["vwap"]) == (
        40,
        398.0,
        398.0,
        398.5,
    )
    assert source.stats.extra["corrections"] == 1


def test_updated_bars_become_the_stored_values(tmp_path: Path) -> None:
    from stockpipe.lake.local import LocalLake
    from stockpipe.processing.engine import Processor
    from stockpipe.stream.local import LocalStream

    orig = alpaca_bar("b", "AAPL", M[3], 10.0, 11.0, 9.0, 10.5, 1000, n=20, vw=10.2)
    upd = alpaca_bar("u", "AAPL", M[3], 10.0, 11.5, 9.0, 11.2, 1300, n=26, vw=10.4)
    with FakeFeed("alpaca", [Session(frames=[frame(orig), frame(upd)], gap_s=0.2)]) as feed:
        source = alpaca(feed, tmp_path / "state")
        stream = LocalStream(tmp_path / "stream.db", shard_count=1)
        import threading

        from stockpipe.pipeline.stages import run_ingest

        stop = threading.Event()
        seen = {"n": 0}
        original = source._step

        def step() -> tuple[list[Any], bool]:
            payloads, changed = original()
            seen["n"] += len(payloads)
            if seen["n"] >= 2:
                stop.set()
            return payloads, changed

        source._step = step  # type: ignore[method-assign]
        run_ingest(source, stream, stop)
    lake = LocalLake(tmp_path / "lake")
    from stockpipe.lake.checkpoints import LakeCheckpointStore
    from stockpipe.stream.consumer import Consumer

    consumer = Consumer(stream, LakeCheckpointStore(lake), "t")
    batch = consumer.poll(100)
    assert len(batch.records) == 2
    Processor(lake).process(batch.records)
    stream.close()
    import duckdb

    row = duckdb.sql(
        f"SELECT high, close, volume, source FROM read_parquet('{tmp_path}/lake/processed-data/bars/**/*.parquet')"
    ).fetchall()
    assert row == [(11.5, 11.2, 1300, "alpaca")]
    assert source.stats.extra["corrections"] == 1


def test_alpaca_trades_channel_aggregates_nanosecond_trades(tmp_path: Path) -> None:
    t = M[2]
    trades = [
        alpaca_trade("AAPL", t + timedelta(seconds=1), 126.55, 100, 1),
        alpaca_trade("AAPL", t + timedelta(seconds=30), 126.60, 50, 2),
        alpaca_trade("AAPL", t + timedelta(seconds=30), 126.60, 50, 2),  # re-sent: same ID
        alpaca_trade("AAPL", t + timedelta(seconds=61), 126.70, 1, 3),
    ]
    with FakeFeed("alpaca", [Session(frames=[frame(*trades)])]) as feed:
        source = alpaca(feed, tmp_path, channel="trades", lateness_s=0.5)
        out = collect(source, lambda out: len(bars(out)) >= 1)
    (bar,) = bars(out)
    # 100 @ 126.55 + 50 @ 126.60 = 150 shares, VWAP (12655 + 6330) / 150 = 126.5666...
    assert (bar["open"], bar["close"], bar["volume"], bar["trade_count"]) == (126.55, 126.6, 150, 2)
    assert bar["vwap"] == pytest.approx(18985 / 150, rel=1e-12)


def test_finnhub_gap_without_rest_access_is_reported(tmp_path: Path) -> None:
    t = M[1]
    sessions = [
        Session(frames=[finnhub_trades(("AAPL", 10.0, t, 1))], end="drop"),
        Session(frames=[finnhub_trades(("AAPL", 11.0, NOW + timedelta(seconds=1), 1))], wait_s=0.2),
    ]
    with FakeFeed("finnhub", sessions, rest=403) as feed:
        # The source's wall clock runs 2 minutes ahead, so the reconnect minute is closed.
        source = finnhub(feed, tmp_path, wall=lambda: time.time() + 120)
        collect(source, lambda out: bool(source.gap_notes))
    (note,) = source.gap_notes
    assert "cannot fill the gap" in note and "HTTP 403" in note and "free plan" in note
    assert source.stats.extra["gap_minutes_unfilled"] >= 1
    assert TOKEN not in note


def test_restart_resumes_without_double_counting(tmp_path: Path) -> None:
    t = M[2]
    part1 = [finnhub_trades(("AAPL", 20.0, t + timedelta(seconds=5), 10),
                            ("AAPL", 21.0, t + timedelta(seconds=20), 20))]  # fmt: skip
    part2 = [finnhub_trades(("AAPL", 19.0, t + timedelta(seconds=40), 30)),
             finnhub_trades(("AAPL", 22.0, t + timedelta(seconds=61), 1))]  # fmt: skip
    # REST has nothing for the restart gap (the minute is still open when it comes back).
    empty = {"s": "no_data"}
    with FakeFeed("finnhub", [Session(frames=part1)], rest=empty) as feed:
        first = finnhub(feed, tmp_path)
        out1 = collect(first, lambda out: first.stats.extra["trades"] >= 2)
    assert bars(out1) == []  # the minute is still open: it is in the saved state
    saved = json.loads((tmp_path / "finnhub-trades.json").read_text())
    assert saved["aggregator"]["bars"][0][2]["volume"] == "30"
    with FakeFeed("finnhub", [Session(frames=part2)], rest=empty) as feed:
        second = finnhub(feed, tmp_path)
        out2 = collect(second, lambda out: len(bars(out)) >= 1)
    (bar,) = bars(out2)
    # All three trades once: 10 @ 20 + 20 @ 21 + 30 @ 19 = 60 shares, VWAP 1190 / 60.
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (20.0, 21.0, 19.0, 19.0)
    assert (bar["volume"], bar["trade_count"]) == (60, 3)
    assert bar["vwap"] == pytest.approx(1190 / 60, rel=1e-12)


def test_garbage_in_the_handshake_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    with FakeFeed("alpaca", [Session(first="<html>502 Bad Gateway</html>")]) as feed:
        from stockpipe.sources.websocket.base import FeedError

        with pytest.raises(FeedError, match="welcome message is not JSON"):
            collect(alpaca(feed, tmp_path), lambda out: False, timeout=10)


def test_a_flooding_feed_does_not_starve_bars_or_stop(tmp_path: Path) -> None:
    """Events arriving faster than the loop drains them: each step still ends on time."""
    import threading
    from decimal import Decimal

    from stockpipe.sources.websocket.base import Trade

    source = WebsocketSource(
        FinnhubFeed(TOKEN, "ws://127.0.0.1:9/"), ["AAPL"], tmp_path, heartbeat_s=0.1,
        lateness_s=0,
    )  # fmt: skip
    t0 = int(M[0].timestamp()) * 10**9
    flooding = threading.Event()
    flooding.set()

    def flood() -> None:
        i = 0
        while flooding.is_set():
            # Each put moves event time by 1 s: a minute closes after 60 puts.
            ev = Trade("AAPL", t0 + i * 10**9, Decimal("10"), Decimal(1))
            source._queue.put(("events", [ev] * 50, time.time()))
            i += 1

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        payloads, _ = source._step()
        elapsed = time.monotonic() - started
        more, _ = source._step()
    finally:
        flooding.clear()
        thread.join(5)
    assert elapsed < 1.0
    assert [json.loads(p[1])["ts"] for p in payloads + more][:1] == [
        M[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    ]


def test_a_quarantined_message_keeps_the_sources_reason(tmp_path: Path) -> None:
    """The processing stage's cleaning puts the source's rejection in quarantine, whole."""
    from stockpipe.processing.base import QuarantineRow
    from stockpipe.processing.cleaning import clean
    from stockpipe.stream.base import StreamRecord

    with FakeFeed("finnhub", [Session(frames=["{oops"])]) as feed:
        source = finnhub(feed, tmp_path)
        out = collect(source, lambda out: len(out) >= 1)
    payload = json.dumps(out[0]).encode()
    row = clean(StreamRecord("shardId-000000000000", "1", "finnhub-rejected", payload, NOW))
    assert isinstance(row, QuarantineRow)
    assert row.reason == "source_rejected"
    assert row.detail == "malformed_frame: frame is not JSON"
    stored = json.loads(row.payload)
    assert stored == {"source": "finnhub", "rejected": "malformed_frame",
                      "detail": "frame is not JSON", "raw": "{oops"}  # fmt: skip


def test_server_pings_are_answered_and_finnhub_pings_count_as_life(tmp_path: Path) -> None:
    """The server pings every 0.2 s and drops a peer that does not pong within 0.2 s; the
    feed is otherwise silent except Finnhub's {"type":"ping"} for longer than that."""
    t = M[1]
    frames: list[str | bytes] = [PING] * 6 + [
        finnhub_trades(("AAPL", 10.0, t, 1)),
        finnhub_trades(("AAPL", 11.0, t + timedelta(seconds=61), 1)),
    ]
    with FakeFeed("finnhub", [Session(frames=frames, gap_s=0.25)], ping_s=0.2) as feed:
        source = finnhub(feed, tmp_path, stall_s=1.0)
        out = collect(source, lambda out: len(bars(out)) >= 1)
        assert feed.connections == 1  # pongs kept it open; the app pings beat the stall timer
    assert source.stats.extra["heartbeats"] == 6
    assert source.stats.extra["disconnects"] == 0
    assert bars(out)[0]["close"] == 10.0
