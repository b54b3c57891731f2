"""Issue 21 item 9: new bars are pushed to open pages over server-sent events.

The servers run with a 60 s refresh period, so nothing seen within seconds here can come
from the page's polling timer or the server's own periodic recompute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from stockpipe.contract import BARS
from stockpipe.dashboard.push import LakeWatcher, view_delta
from stockpipe.lake import manifest
from stockpipe.lake.local import LocalLake

pytestmark = [pytest.mark.integration]

QUERY = {"symbols": "AAPL,NVDA", "window": "1d", "interval": "1m"}


# ---- the delta a page receives --------------------------------------------------------------


def _view(series: dict[str, dict[str, list[Any]]], kpi: float = 1.0) -> dict[str, Any]:
    return {"series": series, "kpis": [{"last_price": kpi}], "generated_at": "x"}


def test_delta_of_an_appended_bar_is_that_bar_only() -> None:
    old = _view(
        {"AAPL": {"ts": ["t1", "t2"], "close": [1.0, 2.0]}, "MSFT": {"ts": ["t1"], "close": [5.0]}}
    )
    new = _view(
        {
            "AAPL": {"ts": ["t1", "t2", "t3"], "close": [1.0, 2.0, 3.0]},
            "MSFT": {"ts": ["t1"], "close": [5.0]},
        },
        kpi=3.0,
    )
    delta = view_delta(old, new)
    assert delta is not None
    assert delta["series"] == {"AAPL": {"keep": 2, "ts": ["t3"], "close": [3.0]}}
    assert delta["unchanged"] == ["MSFT"]
    assert delta["view"]["kpis"] == [{"last_price": 3.0}] and "series" not in delta["view"]


def test_delta_of_a_corrected_bar_resends_from_it() -> None:
    # A late correction of t2 changes t2 and the indicator of t3: both are sent again.
    old = _view(
        {"AAPL": {"ts": ["t1", "t2", "t3"], "close": [1.0, 2.0, 3.0], "sma": [None, 1.5, 2.5]}}
    )
    new = _view(
        {"AAPL": {"ts": ["t1", "t2", "t3"], "close": [1.0, 2.2, 3.0], "sma": [None, 1.6, 2.6]}}
    )
    delta = view_delta(old, new)
    assert delta is not None
    assert delta["series"] == {
        "AAPL": {"keep": 1, "ts": ["t2", "t3"], "close": [2.2, 3.0], "sma": [1.6, 2.6]}
    }


def test_delta_of_a_sliding_window_replaces_the_series() -> None:
    old = _view({"AAPL": {"ts": ["t1", "t2"], "close": [1.0, 2.0]}})
    new = _view({"AAPL": {"ts": ["t2", "t3"], "close": [2.0, 3.0]}})
    delta = view_delta(old, new)
    assert delta is not None and delta["series"]["AAPL"] == {
        "keep": 0,
        "ts": ["t2", "t3"],
        "close": [2.0, 3.0],
    }


def test_no_delta_when_nothing_changed_but_the_clock() -> None:
    old = _view({"AAPL": {"ts": ["t1"], "close": [1.0]}})
    new = dict(_view({"AAPL": {"ts": ["t1"], "close": [1.0]}}), generated_at="later")
    assert view_delta(old, new) is None
    # A symbol dropped from the view is a change even when the others are not.
    assert view_delta(
        _view({"AAPL": {"ts": [], "close": []}, "X": {"ts": [], "close": []}}),
        _view({"AAPL": {"ts": [], "close": []}}),
    ) == {
        "view": {"kpis": [{"last_price": 1.0}], "generated_at": "x"},
        "series": {},
        "unchanged": ["AAPL"],
    }


def test_watcher_sees_a_checkpoint_commit_and_a_new_file(fixture_lake) -> None:  # type: ignore[no-untyped-def]
    lake = fixture_lake.lake
    watcher = LakeWatcher(lake)
    assert watcher.local and watcher.changed() is False  # the first look is the baseline
    assert watcher.changed() is False
    lake.write_bytes("_checkpoints/process/checkpoint.json", b'{"shards": {}}')
    assert watcher.changed() is True
    assert watcher.changed() is False
    fixture_lake.append_bar("AAPL", close=250.0)  # a new file in the newest partition
    assert watcher.changed() is True
    # Unrelated files (the raw zone, another consumer's checkpoint) are not a change.
    lake.write_bytes("raw-data/x.jsonl", b"{}")
    lake.write_bytes("_checkpoints/archive/checkpoint.json", b"{}")
    assert watcher.changed() is False


# ---- the event stream over HTTP ------------------------------------------------------------


class Events:
    """Reads server-sent events from a streaming httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.retry: int | None = None

    def next(self, deadline_s: float = 15.0) -> tuple[str, dict[str, Any]]:
        started = time.monotonic()
        event, data = "message", ""
        for line in self.lines:
            if time.monotonic() - started > deadline_s:
                break
            if line.startswith("retry:"):
                self.retry = int(line[6:])
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                return event, json.loads(data)
        raise AssertionError(f"no event within {deadline_s} s")


@pytest.fixture
def stream_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(20.0)) as client:
        yield client


def _streams(handle) -> int:  # type: ignore[no-untyped-def]
    return int(handle.server.config.app.state.push.streams)


def test_a_new_bar_is_pushed_as_an_event_carrying_it(  # type: ignore[no-untyped-def]
    fixture_lake, serve_dashboard, stream_client
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=60)
    with stream_client.stream("GET", handle.url + "api/stream", params=QUERY) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = Events(resp)
        kind, snapshot = events.next()
        assert events.retry == 2000
        assert kind == "view"
        assert len(snapshot["series"]["AAPL"]["ts"]) == 120
        assert snapshot["series"]["AAPL"]["ts"][-1] == "2026-01-06T16:29:00Z"

        written = time.monotonic()
        fixture_lake.append_bar("AAPL", close=999.25, volume=777)
        kind, delta = events.next()
        elapsed = time.monotonic() - written
    assert kind == "bars"
    aapl = delta["series"]["AAPL"]
    assert aapl["keep"] == 120
    assert aapl["ts"] == ["2026-01-06T16:30:00Z"]
    assert aapl["close"] == [999.25] and aapl["volume"] == [777]
    assert aapl["dt"] == ["2026-01-06"]
    assert delta["unchanged"] == ["NVDA"]
    kpi = {k["symbol"]: k for k in delta["view"]["kpis"]}["AAPL"]
    assert kpi["last_price"] == 999.25 and kpi["last_ts"] == "2026-01-06T16:30:00Z"
    # Pushed, not polled: well inside the 60 s refresh period.
    assert elapsed < 10, elapsed


def test_a_dropped_stream_loses_nothing_and_polling_still_serves(  # type: ignore[no-untyped-def]
    fixture_lake, serve_dashboard, stream_client
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=60)
    with stream_client.stream("GET", handle.url + "api/stream", params=QUERY) as resp:
        # Keep the reader: a dropped line iterator closes the response (and the connection).
        events = Events(resp)
        kind, _ = events.next()
        assert kind == "view" and _streams(handle) == 1
    # The client dropped the channel: the server lets the stream go.
    deadline = time.monotonic() + 10
    while _streams(handle) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _streams(handle) == 0

    # While the channel is down, the page polls /api/view: it has the new bar.
    fixture_lake.append_bar("AAPL", close=333.5)
    view = stream_client.get(handle.url + "api/view", params=QUERY).json()
    assert view["series"]["AAPL"]["close"][-1] == 333.5
    # EventSource reconnects: the new snapshot holds the bar written while it was down.
    with stream_client.stream("GET", handle.url + "api/stream", params=QUERY) as resp:
        kind, snapshot = Events(resp).next()
    assert kind == "view"
    assert snapshot["series"]["AAPL"]["close"][-1] == 333.5
    assert snapshot["series"]["AAPL"]["ts"][-1] == "2026-01-06T16:30:00Z"


def test_stream_rejects_a_bad_filter_before_streaming(  # type: ignore[no-untyped-def]
    fixture_lake, serve_dashboard, stream_client
) -> None:
    handle = serve_dashboard(fixture_lake.settings, refresh=60)
    resp = stream_client.get(handle.url + "api/stream", params={"symbols": "x' OR 1=1 --"})
    assert resp.status_code == 400
    assert "is not a valid ticker" in resp.json()["error"]


def test_stopping_the_server_ends_open_streams(fixture_lake, stream_client) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.dashboard import start_dashboard

    handle = start_dashboard(fixture_lake.settings, "127.0.0.1", 0, 60)
    with stream_client.stream("GET", handle.url + "api/stream", params=QUERY) as resp:
        events = Events(resp)  # held: the connection stays open until the server ends it
        assert events.next()[0] == "view"
        started = time.monotonic()
        handle.stop()
        took = time.monotonic() - started
        assert list(events.lines) == []  # the server ended the stream
    assert not handle.thread.is_alive()
    # Without closing its streams, uvicorn would wait out its 3 s grace period.
    assert took < 2, took


def test_a_batch_of_the_real_process_stage_is_pushed(  # type: ignore[no-untyped-def]
    tmp_path, serve_dashboard, stream_client
) -> None:
    """Simulator -> stream -> `run_process`: the stage's commit reaches an open stream."""
    from stockpipe.calendar import sessions_from
    from stockpipe.config import load_settings
    from stockpipe.lake.local import LocalLake
    from stockpipe.pipeline.stages import run_ingest, run_process
    from stockpipe.sources.simulator import MarketSimulator
    from stockpipe.sql import reset_engines
    from stockpipe.stream.local import LocalStream

    first, second = sessions_from(datetime(2026, 11, 23).date(), 2)
    lake = LocalLake(tmp_path / "lake")
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    settings = load_settings(
        {"lake": str(tmp_path / "lake"), "home": str(tmp_path / "home"), "sql": "duckdb"}
    ).settings
    query = {"symbols": "AAPL,MSFT", "window": "all", "interval": "1m"}
    try:
        run_ingest(MarketSimulator(["AAPL", "MSFT"], [first], seed=3), stream)
        run_process(stream, lake)
        handle = serve_dashboard(settings, refresh=60)
        with stream_client.stream("GET", handle.url + "api/stream", params=query) as resp:
            events = Events(resp)
            kind, snapshot = events.next()
            assert kind == "view"
            before = {s: len(c["ts"]) for s, c in snapshot["series"].items()}
            assert before["AAPL"] == before["MSFT"] > 0
            run_ingest(MarketSimulator(["AAPL", "MSFT"], [second], seed=3), stream)
            run_process(stream, lake)
            kind, delta = events.next(deadline_s=30)
        # Every bar of the new session, and nothing the page already had.
        view = stream_client.get(handle.url + "api/view", params=query).json()
    finally:
        stream.close()
        reset_engines()
    assert kind == "bars"
    for symbol in ("AAPL", "MSFT"):
        got = delta["series"][symbol]
        full = view["series"][symbol]
        assert got["keep"] == before[symbol]
        assert len(got["ts"]) == len(full["ts"]) - before[symbol] > 0
        assert got["ts"] == full["ts"][before[symbol] :]
        assert got["close"] == full["close"][before[symbol] :]
        assert set(got["dt"]) == {second.isoformat()}


def test_no_push_on_athena(tmp_path, fixture_lake, serve_dashboard, stream_client) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.config import load_settings

    def runner(name, params):  # type: ignore[no-untyped-def]
        raise AssertionError("no query is needed to refuse a stream")

    athena = load_settings(
        {"lake": str(fixture_lake.root), "home": str(tmp_path / "home"), "sql": "athena"}
    ).settings
    url = serve_dashboard(athena, runner=runner).url
    resp = stream_client.get(url + "api/stream", params=QUERY)
    assert resp.status_code == 404 and "STOCKPIPE_SQL=athena" in resp.json()["error"]
    assert 'data-push="0"' in stream_client.get(url).text
    assert 'data-push="1"' in stream_client.get(serve_dashboard(fixture_lake.settings).url).text


def test_a_failing_view_is_a_failure_event_then_a_snapshot(  # type: ignore[no-untyped-def]
    fixture_lake, serve_dashboard, stream_client
) -> None:
    from stockpipe.dashboard.panels import sql_runner
    from stockpipe.errors import QueryError

    real = sql_runner(fixture_lake.settings)
    broken = {"on": True}

    def runner(name, params):  # type: ignore[no-untyped-def]
        if broken["on"]:
            raise QueryError("the engine is down (test)")
        return real(name, params)

    handle = serve_dashboard(fixture_lake.settings, refresh=60, runner=runner)
    with stream_client.stream("GET", handle.url + "api/stream", params=QUERY) as resp:
        events = Events(resp)
        kind, body = events.next()
        assert (kind, body) == ("failure", {"error": "QueryError: the engine is down (test)"})
        broken["on"] = False
        fixture_lake.append_bar("AAPL", close=321.0)
        kind, body = events.next()
    # The page held nothing yet: the first good view comes whole, with the new bar.
    assert kind == "view"
    assert body["series"]["AAPL"]["close"][-1] == 321.0


def test_watcher_sees_a_manifest_replaced_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A batch becomes queryable when its manifest is replaced, after its data file was
    written: the watcher must fire then too, though no data folder changed."""
    lake = LocalLake(tmp_path / "lake")
    first = manifest.data_file(BARS.prefix, "2026-01-05", "w0", 1)
    second = manifest.data_file(BARS.prefix, "2026-01-05", "w0", 2)
    lake.write_bytes(first, b"PAR1")
    manifest.publish(lake, BARS.prefix, "2026-01-05", "w0", [first])
    lake.write_bytes(second, b"PAR1")  # the next batch's file, not published yet
    watcher = LakeWatcher(lake)
    assert watcher.changed() is False  # the baseline
    manifest.publish(lake, BARS.prefix, "2026-01-05", "w0", [first, second])
    assert watcher.changed() is True
    assert watcher.changed() is False
    # A compaction's manifest names one file instead: same folder, a replaced manifest.
    manifest.publish(lake, BARS.prefix, "2026-01-05", "w0", [second])
    assert watcher.changed() is True


def test_bars_without_their_latest_table_are_held_back_briefly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Writers replace `latest` after the bars; the view's window comes from it, so the hub
    waits for it (a view run before would show nothing new), at most COMMIT_HOLD_S."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from stockpipe.dashboard import push
    from stockpipe.processing.latest import LATEST_FILE

    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes(f"{BARS.prefix}/dt=2026-01-05/a.parquet", b"PAR1")
    hub = push.PushHub(lambda: lake, lambda filters: {}, refresh=60.0)

    async def scenario() -> list[int]:
        await hub._check(force=True)  # the baseline
        seen = [hub.generation]
        lake.write_bytes(f"{BARS.prefix}/dt=2026-01-05/b.parquet", b"PAR1")
        await hub._check(force=True)
        seen.append(hub.generation)  # held: no `latest` yet
        lake.write_bytes(LATEST_FILE, b"PAR1")
        await hub._check(force=True)
        seen.append(hub.generation)  # `latest` followed: pushed at once
        lake.write_bytes(f"{BARS.prefix}/dt=2026-01-05/c.parquet", b"PAR1")
        await hub._check(force=True)
        seen.append(hub.generation)  # held again
        await asyncio.sleep(push.COMMIT_HOLD_S + 0.1)
        await hub._check(force=True)
        seen.append(hub.generation)  # a writer without `latest`: pushed after the hold
        return seen

    # In a thread of its own: a browser test may have left this thread an event loop.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(lambda: asyncio.run(scenario())).result() == [0, 0, 1, 1, 2]
