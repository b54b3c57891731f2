"""AlphaVantageSource and the `ingest --source alphavantage` command, against a local server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stockpipe.sources.alphavantage import AlphaVantageSource
from stockpipe.sources.alphavantage.budget import RequestBudget
from stockpipe.sources.alphavantage.client import AlphaVantageClient, DailyLimitError
from stockpipe.sources.base import Payload, Retry

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alphavantage"
KEY = "SOURCEKEY987654321"


def serve(name: str):  # type: ignore[no-untyped-def]
    def handler(request: Request) -> Response:
        body = (FIXTURES / name).read_text().replace("{apikey}", request.args.get("apikey", ""))
        return Response(body, content_type="application/json")

    return handler


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_server: HTTPServer) -> Iterator[HTTPServer]:
    _server.clear()
    yield _server
    _server.clear()


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.slept = 0.0
        self.retries: list[Retry] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += timedelta(seconds=seconds)

    def drive(self, source: AlphaVantageSource) -> Iterator[list[Payload]]:
        """The source's batches, waiting out each `Retry` as the ingest stage would. Before
        and after a wait it yields an empty batch: the test may stop the source there, as a
        stop during the ingest stage's wait would."""
        for item in source.batches():
            if not isinstance(item, Retry):
                yield item
                continue
            yield []
            if not source.stopped:
                self.retries.append(item)
                self.sleep(item.seconds)
                yield []


AFTER_FIXTURES = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # every fixture bar has closed


def make_source(server: HTTPServer, state: Path, fake: FakeTime, **kwargs) -> AlphaVantageSource:  # type: ignore[no-untyped-def]
    budget = RequestBudget(state / "budget.json", per_day=kwargs.pop("per_day", 25), min_spacing=0)
    client = AlphaVantageClient(KEY, budget, base_url=server.url_for("/query"), sleep=fake.sleep)
    kwargs.setdefault("market_hours_only", False)
    return AlphaVantageSource(
        client, kwargs.pop("symbols", ["IBM"]), state, clock=fake.clock, **kwargs
    )


def run_polls(source: AlphaVantageSource, polls: int, fake: FakeTime) -> list[dict]:  # type: ignore[type-arg]
    """Drain the source until it has finished `polls` polls; return the emitted records."""
    out = []
    for batch in fake.drive(source):
        out += [json.loads(payload) for _, payload in batch]
        if source.stats.extra["polls"] >= polls:
            source.stop()
    return out


def test_overlapping_polls_emit_each_bar_once(server: HTTPServer, tmp_path: Path) -> None:
    # Poll 1 sees labels 06:45-15:00, poll 2 labels 11:45-20:00 (both 2026-11-24, EST);
    # labels are bar ends, so the bars start at 06:40-14:55 and 11:40-19:55.
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact_early.json")
    )
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json")
    )
    fake = FakeTime(AFTER_FIXTURES)
    source = make_source(server, tmp_path, fake, poll=300)
    records = run_polls(source, 2, fake)
    stamps = [r["ts"] for r in records]
    # Starts 06:40 to 19:55 in 5-minute steps: (13 h 15 min) / 5 min + 1 = 160 bars.
    assert len(stamps) == 160 == len(set(stamps))
    assert stamps[0] == "2026-11-24T11:40:00Z" and stamps[-1] == "2026-11-25T00:55:00Z"
    assert stamps == sorted(stamps)
    assert {r["source"] for r in records} == {"alphavantage"}
    assert {r["interval"] for r in records} == {"5min"}
    # The second poll waited for the poll interval, not more, and asked the caller to wait.
    assert 300 <= fake.slept <= 300 + 0.5
    assert fake.retries == [Retry(timedelta(seconds=300))]
    assert len(server.log) == 2


def test_restart_does_not_resend(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    fake = FakeTime(AFTER_FIXTURES)
    first = run_polls(make_source(server, tmp_path, fake, once=True), 1, fake)
    assert len(first) == 100
    restarted = run_polls(make_source(server, tmp_path, fake, once=True), 1, fake)
    assert restarted == []
    state = json.loads((tmp_path / "emitted" / "IBM-5min.json").read_text())
    assert state == {"ranges": [["2026-11-24T16:40:00Z", "2026-11-25T00:55:00Z"]]}


def test_bar_still_forming_is_held_back(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    # 19:57 EST: the 19:55 bar runs until 20:00, so it may still change.
    fake = FakeTime(datetime(2026, 11, 25, 0, 57, tzinfo=UTC))
    records = run_polls(make_source(server, tmp_path, fake, once=True), 1, fake)
    assert len(records) == 99
    assert records[-1]["ts"] == "2026-11-25T00:50:00Z"


def test_bad_symbol_does_not_stop_the_others(server: HTTPServer, tmp_path: Path) -> None:
    def handler(request: Request) -> Response:
        if request.args["symbol"] == "NOSUCH":
            return serve("error_invalid_call.json")(request)
        return serve("ibm_intraday_5min_compact.json")(request)

    server.expect_request("/query").respond_with_handler(handler)
    fake = FakeTime(AFTER_FIXTURES)
    source = make_source(server, tmp_path, fake, once=True, symbols=["NOSUCH", "IBM"])
    records = run_polls(source, 1, fake)
    assert len(records) == 100 and {r["symbol"] for r in records} == {"IBM"}
    assert list(source.symbol_errors) == ["NOSUCH"]
    assert "Invalid API call" in source.symbol_errors["NOSUCH"]


def test_daily_limit_waits_and_resumes_when_polling(
    server: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="werkzeug")
    caplog.set_level(logging.INFO)
    server.expect_ordered_request("/query").respond_with_handler(serve("info_daily_limit.json"))
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json")
    )
    start = datetime.now(UTC)
    fake = FakeTime(start)
    source = make_source(server, tmp_path, fake, poll=300)
    records: list[dict] = []  # type: ignore[type-arg]
    for batch in fake.drive(source):
        records += [json.loads(p) for _, p in batch]
        if records:
            source.stop()
    assert len(records) == 100 and source.stats.extra["rate_limited"] == 1
    # It waited until the next midnight in New York, by asking its caller to wait (so a
    # stop cuts the wait short) rather than sleeping itself.
    resumed = fake.now.astimezone(UTC)
    assert resumed.hour in (4, 5) and resumed.minute == 0
    assert 0 < (resumed - start).total_seconds() <= 86400 + 1
    assert fake.retries == [Retry(resumed - start)]
    assert "polling resumes at" in caplog.text
    assert KEY not in caplog.text


def test_daily_limit_with_once_is_an_error(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("info_daily_limit.json"))
    fake = FakeTime(AFTER_FIXTURES)
    source = make_source(server, tmp_path, fake, once=True)
    with pytest.raises(DailyLimitError) as info:
        run_polls(source, 1, fake)
    assert KEY not in str(info.value)


def test_own_budget_pauses_polling(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    fake = FakeTime(datetime.now(UTC))
    source = make_source(server, tmp_path, fake, poll=60, per_day=1, symbols=["IBM", "MSFT"])
    batches = []
    for batch in fake.drive(source):
        batches.append(batch)
        if fake.slept > 3600:
            source.stop()
    # One request was allowed; MSFT's waits for the budget instead of calling the API.
    assert len(server.log) == 1
    assert source.stats.extra["rate_limited"] == 1


def test_market_closed_skips_polls(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    # Saturday 28 November 2026: the first poll runs, later ones are skipped.
    fake = FakeTime(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
    source = make_source(server, tmp_path, fake, poll=300, market_hours_only=True)
    for _ in fake.drive(source):
        if fake.slept > 3 * 300:
            source.stop()
    assert len(server.log) == 1


# -- the command ------------------------------------------------------------------------


@pytest.fixture
def av_env(server: HTTPServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    monkeypatch.setenv("ALPHA_VANTAGE_API_KEY", KEY)
    monkeypatch.setenv("ALPHA_VANTAGE_BASE_URL", server.url_for("/query"))
    return server


def test_cli_month_backfill(av_env: HTTPServer, home: Path, cli) -> None:  # type: ignore[no-untyped-def]
    av_env.expect_request(
        "/query",
        query_string={
            "function": "TIME_SERIES_INTRADAY",
            "symbol": "IBM",
            "interval": "1min",
            "outputsize": "full",
            "month": "2026-10",
            "adjusted": "true",
            "extended_hours": "true",
            "datatype": "json",
            "apikey": KEY,
        },
    ).respond_with_handler(serve("ibm_intraday_1min_month_2026-10.json"))
    args = ("ingest", "--source", "alphavantage", "--symbols", "IBM", "--min-spacing", "0")
    result = cli(*args, "--month", "2026-10", "--interval", "1min")
    assert result.code == 0, result.err
    assert "ingested 60 records (60 bars) from alphavantage" in result.out
    budget = json.loads((home / "state" / "alphavantage" / "budget.json").read_text())
    assert len(budget["requests"]) == 1
    # Running it again sends nothing new.
    again = cli(*args, "--month", "2026-10", "--interval", "1min")
    assert "ingested 0 records" in again.out


def test_cli_invalid_key_is_one_line_and_exit_2(av_env: HTTPServer, cli) -> None:  # type: ignore[no-untyped-def]
    av_env.expect_request("/query").respond_with_handler(serve("error_invalid_key.json"))
    result = cli("ingest", "--source", "alphavantage", "--symbols", "IBM,MSFT", "--once")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "ALPHA_VANTAGE_API_KEY" in lines[0]
    assert KEY not in result.err + result.out
    assert len(av_env.log) == 1  # terminal: MSFT was not tried


def test_cli_premium_names_endpoint(av_env: HTTPServer, cli) -> None:  # type: ignore[no-untyped-def]
    av_env.expect_request("/query").respond_with_handler(serve("info_premium.json"))
    result = cli("ingest", "--source", "alphavantage", "--symbols", "IBM", "--once")
    assert result.code == 1
    assert "TIME_SERIES_INTRADAY" in result.err and "--source replay" in result.err


def test_cli_missing_key(home: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("ingest", "--source", "alphavantage", "--symbols", "IBM", "--once")
    assert result.code == 2
    assert "ALPHA_VANTAGE_API_KEY" in result.err and len(result.err.strip().splitlines()) == 1


def test_cli_invalid_symbol_reported_others_continue(av_env: HTTPServer, cli) -> None:  # type: ignore[no-untyped-def]
    def handler(request: Request) -> Response:
        name = (
            "error_invalid_call.json"
            if request.args["symbol"] == "NOSUCH"
            else ("ibm_intraday_5min_compact.json")
        )
        return serve(name)(request)

    av_env.expect_request("/query").respond_with_handler(handler)
    result = cli(
        "ingest",
        "--source",
        "alphavantage",
        "--symbols",
        "NOSUCH,IBM",
        "--once",
        "--min-spacing",
        "0",
    )
    assert result.code == 0, result.err
    assert "ingested 100 records" in result.out and "NOSUCH" in result.out


def test_cli_key_not_in_config_show_or_logs(  # type: ignore[no-untyped-def]
    av_env: HTTPServer, cli, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="werkzeug")
    caplog.set_level(logging.DEBUG)
    av_env.expect_request("/query").respond_with_handler(serve("info_daily_limit.json"))
    shown = cli("config", "show")
    refused = cli("ingest", "--source", "alphavantage", "--symbols", "IBM", "--once")
    assert refused.code == 1 and "daily request limit" in refused.err
    assert av_env.log[0][0].args["apikey"] == KEY  # the key was really sent...
    for text in (shown.out, shown.err, refused.out, refused.err, caplog.text):
        assert KEY not in text  # ...and never shown


def test_stop_ends_the_poll_loop(av_env: HTTPServer, tmp_path: Path) -> None:
    """A live poller (real clock, hour-long poll) returns at once after stop()."""
    av_env.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    budget = RequestBudget(tmp_path / "b.json", min_spacing=0)
    client = AlphaVantageClient(KEY, budget, base_url=av_env.url_for("/query"))
    source = AlphaVantageSource(client, ["IBM"], tmp_path, poll=3600, market_hours_only=False)
    emitted = 0
    for batch in source.batches():
        emitted += len(batch)
        if batch:
            source.stop()
    assert emitted > 0 and len(av_env.log) == 1
