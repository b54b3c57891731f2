"""The JSON API over a fixture lake: values from named queries, 400 on bad filters."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from stockpipe.config import load_settings
from stockpipe.dashboard import create_app
from stockpipe.errors import ConfigError
from stockpipe.lake.local import LocalLake
from stockpipe.sql import run_named_query

# A real server on loopback: Starlette's TestClient wants a package we do not ship.
pytestmark = pytest.mark.integration


@pytest.fixture
def open_client(serve_dashboard):  # type: ignore[no-untyped-def]
    clients = []

    def open_(settings):  # type: ignore[no-untyped-def]
        handle = serve_dashboard(settings)
        clients.append(httpx.Client(base_url=handle.url, timeout=30))
        return clients[-1]

    yield open_
    for c in clients:
        c.close()


@pytest.fixture
def client(open_client, shared_lake):  # type: ignore[no-untyped-def]
    return open_client(shared_lake.settings)


def expected_kpis(df: pd.DataFrame) -> dict[str, float]:
    """KPIs computed with pandas from the fixture frame, independently of the SQL."""
    session = df["ts"].dt.tz_convert("America/New_York").dt.date
    last = df.iloc[-1]
    today = df[session == session.iloc[-1]]
    previous = df[session < session.iloc[-1]]
    reference = previous["close"].iloc[-1]
    return {
        "last_price": last["close"],
        "reference_price": reference,
        "change": last["close"] - reference,
        "change_pct": 100 * (last["close"] - reference) / reference,
        "session_high": today["high"].max(),
        "session_low": today["low"].min(),
        "volume": int(today["volume"].sum()),
        "vwap": last["vwap"],
    }


def test_default_view_picks_configured_symbols_and_the_latest_session(client, shared_lake) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/view").json()
    assert body["filters"]["symbols"] == ["AAPL", "MSFT", "NVDA"]
    assert body["filters"]["interval"] == "1m"  # 1 session: one-minute bars by default
    assert body["window"] == {"from": "2026-01-06T05:00:00Z", "to": "2026-01-06T16:29:00Z"}
    assert body["empty"] is False
    # The latest session only: 120 one-minute bars per symbol.
    assert {s: len(v["ts"]) for s, v in body["series"].items()} == {
        "AAPL": 120,
        "MSFT": 120,
        "NVDA": 120,
    }
    aapl = shared_lake.frames["AAPL"].iloc[-120:]
    assert body["series"]["AAPL"]["close"] == pytest.approx(list(aapl["close"]))
    assert body["series"]["AAPL"]["norm_close"][0] == pytest.approx(100.0)
    assert body["series"]["AAPL"]["norm_close"][-1] == pytest.approx(
        100 * aapl["close"].iloc[-1] / aapl["close"].iloc[0]
    )


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT", "NVDA"])
def test_kpis_match_an_independent_computation(client, shared_lake, symbol: str) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/view", params={"symbols": symbol}).json()
    (kpi,) = body["kpis"]
    expected = expected_kpis(shared_lake.frames[symbol])
    for field, value in expected.items():
        assert kpi[field] == pytest.approx(value, rel=1e-9), field
    assert kpi["last_ts"] == "2026-01-06T16:29:00Z"


def test_buckets_sum_to_the_window_volume(client, shared_lake) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/view", params={"symbols": "MSFT", "window": "1h"}).json()
    assert body["bucket_seconds"] == 300
    df = shared_lake.frames["MSFT"]
    in_window = df[df["ts"] >= pd.Timestamp("2026-01-06T15:29:00Z")]
    assert sum(b["volume"] for b in body["buckets"]) == int(in_window["volume"].sum())
    # First bucket 15:25-15:30 holds the 15:29 bar only: its change is close/open - 1.
    first = body["buckets"][0]
    bar = in_window.iloc[0]
    assert first["bucket"] == "2026-01-06T15:25:00Z"
    assert first["change_pct"] == pytest.approx(100 * (bar["close"] - bar["open"]) / bar["open"])


def test_view_values_are_what_the_named_query_returns(client, shared_lake) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/view", params={"symbols": "AAPL,NVDA"}).json()
    rows = run_named_query(
        "dashboard_kpis",
        {
            "symbols": "AAPL,NVDA",
            "interval": "1min",
            "to_ts": "2026-01-06T16:29:00Z",
            "to_dt": "2026-01-07",
        },
        settings=shared_lake.settings,
    ).to_dicts()
    assert [k["symbol"] for k in body["kpis"]] == [r["symbol"] for r in rows]
    for kpi, row in zip(body["kpis"], rows, strict=True):
        assert kpi["last_price"] == row["last_price"]
        assert kpi["change_pct"] == row["change_pct"]
        assert kpi["volume"] == row["volume"]


@pytest.mark.parametrize(
    "params",
    [
        {"symbols": "x' OR 1=1 --"},
        {"symbols": "AAPL'); DROP TABLE bars; --"},
        {"interval": "1min' OR '1'='1"},
        {"window": "custom", "from": "2026-01-05' --", "to": "2026-01-06T00:00:00Z"},
    ],
    ids=["symbol-or", "symbol-drop", "interval", "from"],
)
def test_hostile_filters_get_400_with_a_message(client, shared_lake, params) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/api/view", params=params)
    assert resp.status_code == 400
    assert "Traceback" not in resp.text
    assert resp.json()["error"]
    # The lake is untouched and still answers.
    assert len(client.get("/api/view").json()["series"]["AAPL"]["ts"]) == 120


def test_a_valid_but_unknown_symbol_is_an_empty_selection(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/api/view", params={"symbols": "ZZZZ"}).json()
    assert body["kpis"] == [] and body["series"] == {} and body["window"] is None


def test_empty_lake_is_a_state_not_an_error(tmp_path, open_client) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings({"lake": str(tmp_path / "lake"), "home": str(tmp_path)}).settings
    client = open_client(settings)
    body = client.get("/api/view").json()
    assert body["empty"] is True and body["kpis"] == []
    health = client.get("/api/health").json()
    assert health["last_bar"] is None and health["consumers"] == []
    assert health["ingest_rate"] is None and health["quarantined"] is None


class UnreachableLake(LocalLake):
    """A lake whose backend refuses connections, like S3 behind a dead network."""

    def list(self, prefix: str) -> list[str]:
        raise ConnectionError("connection refused by lake.example:443")


def test_unreachable_lake_is_a_503_with_the_reason(tmp_path, serve_dashboard) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings({"lake": "s3://stockpipe-test/lake", "home": str(tmp_path)}).settings
    handle = serve_dashboard(settings, lake=UnreachableLake(tmp_path / "lake"))
    resp = httpx.get(handle.url + "api/view", timeout=30)
    assert resp.status_code == 503
    assert "Traceback" not in resp.text
    error = resp.json()["error"]
    assert "s3://stockpipe-test/lake" in error and "connection refused" in error
    health = httpx.get(handle.url + "api/health", timeout=30)
    assert health.status_code == 200
    assert "cannot list consumer checkpoints" in health.json()["errors"][0]


def test_health_reads_checkpoints_and_turns_counters_into_a_rate(shared_lake, open_client) -> None:  # type: ignore[no-untyped-def]
    from stockpipe.lake.checkpoints import LakeCheckpointStore
    from stockpipe.stream.checkpoint import Checkpoint

    lake = shared_lake.lake
    store = LakeCheckpointStore(lake)
    cp = Checkpoint("process", state={"read": 100, "kept": 95, "duplicates": 3, "quarantined": 2})
    store.save(cp)
    client = open_client(shared_lake.settings)
    first = client.get("/api/health").json()
    assert first["ingest_rate"] is None  # no previous reading yet
    assert (first["quarantined"], first["duplicates"]) == (2, 3)
    assert [c["name"] for c in first["consumers"]] == ["process"]
    assert first["last_bar"] == "2026-01-06T16:29:00Z"
    cp.state = {"read": 160, "kept": 150, "duplicates": 5, "quarantined": 5}
    store.save(cp)
    second = client.get("/api/health").json()
    assert second["ingest_rate"] > 0
    assert (second["quarantined"], second["duplicates"]) == (5, 5)
    lake.delete("_checkpoints/process/checkpoint.json")


@pytest.mark.parametrize("refresh", [0, 0.5, 4000], ids=["zero", "half", "hour-plus"])
def test_refresh_out_of_range_is_a_config_error(shared_lake, refresh: float) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="--refresh"):
        create_app(shared_lake.settings, refresh=refresh)


def test_static_files_are_a_fixed_list(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/static/plotly.min.js").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/..%2F..%2Fserver.py").status_code == 404
    page = client.get("/").text
    assert 'data-refresh="5"' in page and "cdn" not in page.lower()
