"""AlphaVantageClient against a real local HTTP server serving documented-format fixtures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stockpipe.errors import ConfigError
from stockpipe.sources.alphavantage.budget import BudgetExhaustedError, RequestBudget
from stockpipe.sources.alphavantage.client import (
    AlphaVantageClient,
    BurstLimitError,
    DailyLimitError,
    InvalidKeyError,
    PremiumEndpointError,
    SymbolError,
    TransportError,
    redact,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alphavantage"
KEY = "SECRETKEY0123456789"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def serve(name: str, status: int = 200, delay: float = 0.0):  # type: ignore[no-untyped-def]
    """A handler that returns a fixture, echoing the caller's key where the API would."""

    def handler(request: Request) -> Response:
        if delay:
            time.sleep(delay)
        body = fixture_text(name).replace("{apikey}", request.args.get("apikey", ""))
        kind = "text/csv" if name.endswith(".csv") else "application/json"
        return Response(body, status=status, content_type=kind)

    return handler


@pytest.fixture(scope="module")
def _server() -> Iterator[HTTPServer]:
    # One server per module: stopping a threaded server takes half a second.
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def server(_server: HTTPServer) -> Iterator[HTTPServer]:
    _server.clear()
    yield _server
    _server.clear()


@pytest.fixture
def slow_server() -> Iterator[HTTPServer]:
    """A server of its own for tests whose timed-out requests finish after the test."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.stop()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def make_client(server: HTTPServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kwargs) -> AlphaVantageClient:  # type: ignore[no-untyped-def]
        budget = RequestBudget(
            tmp_path / "state" / "budget.json",
            per_day=kwargs.pop("per_day", 25),
            min_spacing=0,
        )
        kwargs.setdefault("sleep", Sleeps())
        return AlphaVantageClient(KEY, budget, base_url=server.url_for("/query"), **kwargs)

    return make


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- data -------------------------------------------------------------------------


def test_compact_intraday_json(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request(
        "/query",
        query_string={
            "function": "TIME_SERIES_INTRADAY",
            "symbol": "IBM",
            "interval": "5min",
            "outputsize": "compact",
            "adjusted": "true",
            "extended_hours": "true",
            "datatype": "json",
            "apikey": KEY,
        },
    ).respond_with_handler(serve("ibm_intraday_5min_compact.json"))
    series = make_client().intraday("IBM", "5min")
    assert (series.symbol, series.interval, len(series.bars)) == ("IBM", "5min", 100)
    # 2026-11-24 is standard time (UTC-5): 11:40 ET -> 16:40Z, 19:55 ET -> 00:55Z next day.
    assert series.bars[0].ts == utc("2026-11-24T16:40:00")
    last = series.bars[-1]
    assert last.ts == utc("2026-11-25T00:55:00")
    assert (last.open, last.high, last.low, last.close, last.volume) == (
        225.5234,
        225.7143,
        225.3481,
        225.4726,
        67172,
    )
    assert last.source == "alphavantage"
    assert [b.ts for b in series.bars] == sorted({b.ts for b in series.bars})


def test_full_intraday_json(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(serve("ibm_intraday_5min_full.json"))
    series = make_client().intraday("IBM", "5min", outputsize="full")
    assert len(series.bars) == 2 * 192  # two sessions of 04:00-20:00 in 5min bars
    assert series.bars[0].ts == utc("2026-11-23T09:00:00")  # 04:00 EST
    assert series.bars[-1].ts == utc("2026-11-25T00:55:00")  # 19:55 EST
    assert server.log[0][0].args["outputsize"] == "full"


def test_csv_equals_json(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    def handler(request: Request) -> Response:
        name = "ibm_intraday_5min_compact." + request.args["datatype"]
        return serve(name)(request)

    server.expect_request("/query").respond_with_handler(handler)
    client = make_client()
    from_csv = client.intraday("IBM", "5min", datatype="csv")
    from_json = client.intraday("IBM", "5min", datatype="json")
    assert from_csv.bars == from_json.bars
    assert len(from_csv.bars) == 100


def test_dst_spring_json(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(
        serve("msft_intraday_60min_dst_spring.json")
    )
    bars = {b.ts: b for b in make_client().intraday("MSFT", "60min").bars}
    doc = json.loads(fixture_text("msft_intraday_60min_dst_spring.json"))["Time Series (60min)"]
    # Friday 6 March 2026 is EST (UTC-5); Monday 9 March is EDT (UTC-4). Labels are bar
    # ends, so the bar labelled 10:00 starts at 09:00.
    for local, expected in (
        ("2026-03-06 10:00:00", "2026-03-06T14:00:00"),
        ("2026-03-06 20:00:00", "2026-03-07T00:00:00"),
        ("2026-03-09 05:00:00", "2026-03-09T08:00:00"),
        ("2026-03-09 10:00:00", "2026-03-09T13:00:00"),
    ):
        bar = bars[utc(expected)]
        assert bar.close == float(doc[local]["4. close"])
        assert bar.volume == int(doc[local]["5. volume"])
    assert len(bars) == 32


def test_dst_autumn_csv(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(
        serve("msft_intraday_60min_dst_autumn.csv")
    )
    series = make_client().intraday("MSFT", "60min", datatype="csv")
    stamps = [b.ts for b in series.bars]
    # Friday 30 October 2026 is EDT (UTC-4); Monday 2 November is EST (UTC-5).
    assert utc("2026-10-30T13:00:00") in stamps  # 09:00 EDT
    assert utc("2026-11-02T14:00:00") in stamps  # 09:00 EST
    assert stamps[0] == utc("2026-10-30T08:00:00")
    assert stamps[-1] == utc("2026-11-03T00:00:00")  # 19:00 EST


def test_daily_and_global_quote(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    def handler(request: Request) -> Response:
        name = {
            "TIME_SERIES_DAILY": "ibm_daily_compact.json",
            "GLOBAL_QUOTE": "ibm_global_quote.json",
        }
        return serve(name[request.args["function"]])(request)

    server.expect_request("/query").respond_with_handler(handler)
    client = make_client()
    daily = client.daily("IBM")
    assert daily.interval == "1day"
    assert [b.ts for b in daily.bars][:2] == [
        utc("2026-11-18T14:30:00"),
        utc("2026-11-19T14:30:00"),
    ]
    quote = client.global_quote("IBM")
    assert (quote.symbol, quote.price, quote.volume) == ("IBM", 232.41, 3456789)
    assert quote.previous_close == 231.2


# -- refusals in HTTP 200 bodies ----------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        ("error_invalid_key.json", InvalidKeyError),
        ("error_invalid_call.json", SymbolError),
        ("info_daily_limit.json", DailyLimitError),
        ("info_burst_limit.json", BurstLimitError),
        ("note_rate_limit.json", BurstLimitError),
        ("info_premium.json", PremiumEndpointError),
    ],
    ids=["invalid-key", "invalid-call", "daily-limit", "burst-limit", "note", "premium"],
)
def test_error_bodies(server: HTTPServer, make_client, fixture: str, error: type) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(serve(fixture))
    with pytest.raises(error) as info:
        make_client().intraday("IBM", "5min")
    message = str(info.value)
    assert KEY not in message
    assert type(info.value) is error


def test_premium_message_names_endpoint_and_alternatives(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(serve("info_premium.json"))
    with pytest.raises(PremiumEndpointError, match="TIME_SERIES_INTRADAY") as info:
        make_client().intraday("IBM", "1min", month="2010-01")
    assert "--source replay" in str(info.value)
    assert "--source simulator" in str(info.value)


def test_daily_limit_resumes_at_next_eastern_midnight(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_handler(serve("info_daily_limit.json"))
    before = datetime.now(UTC)
    with pytest.raises(DailyLimitError) as info:
        make_client().intraday("IBM", "5min")
    resume = info.value.resume_at
    # Midnight in New York is 04:00 or 05:00 UTC, within the next 24 hours.
    assert resume.tzinfo is not None and resume.astimezone(UTC).hour in (4, 5)
    assert resume.minute == 0 and 0 < (resume - before).total_seconds() <= 86400
    assert "resumes at" in str(info.value)


# -- transport failures ---------------------------------------------------------------


def test_http_500_is_retried_with_bounded_backoff(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_ordered_request("/query").respond_with_data("oops", status=500)
    server.expect_ordered_request("/query").respond_with_data("oops", status=503)
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json")
    )
    sleeps = Sleeps()
    client = make_client(sleep=sleeps, backoff=1.0, max_backoff=30.0)
    assert len(client.intraday("IBM", "5min").bars) == 100
    assert client.requests == 3
    # Full jitter: attempt n waits uniformly in [0, min(30, 1 * 2**n)].
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_http_500_gives_up_after_max_retries(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_data("down", status=500)
    sleeps = Sleeps()
    client = make_client(sleep=sleeps, max_retries=3, backoff=10.0, max_backoff=15.0)
    with pytest.raises(TransportError, match="after 4 attempts: HTTP 500") as info:
        client.intraday("IBM", "5min")
    assert client.requests == 4 and len(sleeps) == 3
    assert all(0 <= s <= 15.0 for s in sleeps)
    assert KEY not in str(info.value) and "apikey=***" in str(info.value)


def test_timeout_is_retried(slow_server: HTTPServer, tmp_path: Path) -> None:
    server = slow_server
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json", delay=1.0)
    )
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json")
    )
    budget = RequestBudget(tmp_path / "budget.json", min_spacing=0)
    client = AlphaVantageClient(
        KEY, budget, base_url=server.url_for("/query"), timeout=0.3, sleep=Sleeps()
    )
    assert len(client.intraday("IBM", "5min").bars) == 100
    assert client.requests == 2


def test_connection_error_is_wrapped_without_key(tmp_path: Path) -> None:
    budget = RequestBudget(tmp_path / "budget.json", min_spacing=0)
    client = AlphaVantageClient(
        KEY, budget, base_url="http://127.0.0.1:9/query", max_retries=1, sleep=Sleeps()
    )
    with pytest.raises(TransportError, match="connection failed") as info:
        client.intraday("IBM", "5min")
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None or KEY not in str(info.value.__cause__)


def test_missing_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ALPHA_VANTAGE_API_KEY"):
        AlphaVantageClient("", RequestBudget(tmp_path / "b.json"))


# -- the budget -------------------------------------------------------------------------


def test_budget_persists_across_restarts(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/query").respond_with_handler(serve("ibm_global_quote.json"))
    path = tmp_path / "budget.json"

    def client() -> AlphaVantageClient:
        budget = RequestBudget(path, per_day=3, min_spacing=0)
        return AlphaVantageClient(KEY, budget, base_url=server.url_for("/query"))

    first = client()
    first.global_quote("IBM")
    first.global_quote("IBM")
    second = client()  # a restart: a new process would read the same file
    second.global_quote("IBM")
    with pytest.raises(BudgetExhaustedError, match="3 requests per 24 hours") as info:
        client().global_quote("IBM")
    assert len(server.log) == 3
    assert info.value.resume_at > datetime.now(UTC)


def test_budget_spacing_and_rolling_window(tmp_path: Path) -> None:
    now = [1_000_000.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    budget = RequestBudget(
        tmp_path / "b.json", per_day=2, min_spacing=1.2, clock=lambda: now[0], sleep=sleep
    )
    budget.acquire()
    now[0] += 0.2
    budget.acquire()
    assert sleeps == [pytest.approx(1.0)]
    assert budget.remaining() == 0
    with pytest.raises(BudgetExhaustedError):
        budget.acquire()
    # The first request leaves the 24-hour window exactly one day after it was made.
    assert budget.resume_at().timestamp() == pytest.approx(1_000_000.0 + 86400)
    now[0] = 1_000_000.0 + 86400 + 0.1
    budget.acquire()
    assert budget.used() == 2


def test_budget_rejects_negative_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--requests-per-day -1"):
        RequestBudget(tmp_path / "b.json", per_day=-1)


# -- the key never leaks ------------------------------------------------------------------


def test_key_never_in_logs(
    slow_server: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = slow_server
    # The test server stands in for Alpha Vantage: its own access log is not ours.
    caplog.set_level(logging.WARNING, logger="werkzeug")
    caplog.set_level(logging.DEBUG)
    server.expect_ordered_request("/query").respond_with_data("down", status=500)
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json", delay=1.0)
    )
    server.expect_ordered_request("/query").respond_with_handler(serve("info_daily_limit.json"))
    server.expect_ordered_request("/query").respond_with_handler(
        serve("ibm_intraday_5min_compact.json")
    )
    budget = RequestBudget(tmp_path / "budget.json", min_spacing=0)
    client = AlphaVantageClient(
        KEY, budget, base_url=server.url_for("/query"), timeout=0.3, sleep=Sleeps()
    )
    with pytest.raises(DailyLimitError) as info:
        client.intraday("IBM", "5min")
    logging.getLogger("test").error("refused: %s", info.value)
    assert len(client.intraday("IBM", "5min").bars) == 100
    # The API echoed the key in its refusal; the test server really received it.
    assert server.log[2][0].args["apikey"] == KEY
    assert "HTTP Request" in caplog.text  # httpx did log the URLs...
    assert "apikey=***" in caplog.text
    assert KEY not in caplog.text  # ...but never the key


def test_redact() -> None:
    url = "https://www.alphavantage.co/query?function=X&apikey=ABC123&symbol=IBM"
    assert redact(url) == "https://www.alphavantage.co/query?function=X&apikey=***&symbol=IBM"
    assert redact("key ABC123 seen", "ABC123") == "key *** seen"


def test_transport_error_keeps_its_context_without_the_key(server: HTTPServer, make_client) -> None:  # type: ignore[no-untyped-def]
    server.expect_request("/query").respond_with_data("down", status=503)
    client = make_client(max_retries=1)
    with pytest.raises(TransportError) as info:
        client.intraday("IBM", "5min")
    error = info.value
    assert (error.function, error.symbol, error.status) == ("TIME_SERIES_INTRADAY", "IBM", 503)
    assert error.url is not None and "apikey=***" in error.url and KEY not in error.url
    assert error.transient
