"""`stockpipe ingest/run --source alpaca|finnhub`: options, keys as secrets, and the
acceptance run: `stockpipe run --source finnhub --symbols AAPL,MSFT` against the fake
feed shows bars in the dashboard, and Ctrl-C (SIGINT) stops it cleanly."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from ws_fakes import KEY_ID, SECRET, TOKEN, FakeFeed, Session, collect, finnhub, finnhub_trades

from stockpipe.config import describe, load_settings

STOCKPIPE = Path(sys.executable).with_name("stockpipe")


@pytest.mark.parametrize(
    ("source", "needs"),
    [("alpaca", "ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY"), ("finnhub", "FINNHUB_API_KEY")],
)
def test_missing_key_is_one_line_and_exit_2(cli, home: Path, source: str, needs: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("ingest", "--source", source, "--symbols", "AAPL")
    assert result.code == 2
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and needs in lines[0], result.err
    assert "Traceback" not in result.err


def test_bad_stream_options_fail_before_connecting(cli, home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ALPACA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", SECRET)
    result = cli("ingest", "--source", "alpaca", "--feed", "nasdaq", "--symbols", "AAPL")
    assert result.code == 2 and "--feed 'nasdaq' is invalid" in result.err
    many = ",".join(f"S{i}" for i in range(31))
    result = cli("ingest", "--source", "alpaca", "--channel", "trades", "--symbols", many)
    assert result.code == 2 and "allows 30" in result.err
    monkeypatch.setenv("FINNHUB_API_KEY", TOKEN)
    result = cli("ingest", "--source", "finnhub", "--channel", "bars", "--symbols", "AAPL")
    assert result.code == 2 and "Alpaca only" in result.err
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in result.out + result.err


def test_keys_are_redacted_in_config_show(cli, home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ALPACA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", SECRET)
    monkeypatch.setenv("FINNHUB_API_KEY", TOKEN)
    monkeypatch.setenv("FINNHUB_STREAM_URL", "ws://127.0.0.1:9/")
    rows = {env: shown for env, shown, _ in describe(load_settings())}
    assert rows["ALPACA_API_KEY_ID"] == rows["ALPACA_API_SECRET_KEY"] == "********"
    assert rows["FINNHUB_API_KEY"] == "********"
    assert rows["FINNHUB_STREAM_URL"] == "ws://127.0.0.1:9/"
    result = cli("config", "show")
    assert result.code == 0 and "FINNHUB_API_KEY" in result.out
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in result.out + result.err


def test_the_token_never_reaches_a_log_or_error(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Finnhub's token is in the URL: websockets logs URLs at DEBUG; errors quote them."""
    caplog.set_level(logging.DEBUG)
    with FakeFeed("finnhub", [Session(frames=["garbage"], end="drop")]) as feed:
        source = finnhub(feed, tmp_path, stall_s=0.3)
        collect(source, lambda out: source.stats.extra["disconnects"] >= 2, timeout=10)
    # Every record except the fake server's own (it logs the request line it received).
    text = "\n".join(
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith("websockets.server")
    )
    assert "connection lost" in text and "malformed_frame" in text
    assert TOKEN not in text
    assert all(TOKEN not in p.read_text() for p in tmp_path.rglob("*.json"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.integration
def test_run_finnhub_shows_bars_in_the_dashboard_and_ctrl_c_stops(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    m1, m2 = now - timedelta(minutes=3), now - timedelta(minutes=2)
    frames: list[str | bytes] = [
        finnhub_trades(
            ("AAPL", 230.10, m1 + timedelta(seconds=3), 100),
            ("MSFT", 480.00, m1 + timedelta(seconds=4), 50),
        ),  # fmt: skip
        finnhub_trades(
            ("AAPL", 230.50, m1 + timedelta(seconds=30), 300),
            ("MSFT", 479.00, m1 + timedelta(seconds=50), 150),
        ),  # fmt: skip
        finnhub_trades(
            ("AAPL", 231.00, m2 + timedelta(seconds=10), 10),
            ("MSFT", 481.00, m2 + timedelta(seconds=11), 10),
        ),  # fmt: skip
    ]
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STOCKPIPE_", "FINNHUB_", "ALPACA_"))}  # fmt: skip
    with FakeFeed("finnhub", [Session(frames=frames)], rest={"s": "no_data"}) as feed:
        env.update(
            STOCKPIPE_HOME=str(tmp_path / "home"),
            FINNHUB_API_KEY=TOKEN,
            FINNHUB_STREAM_URL=feed.url,
            FINNHUB_API_URL=feed.http,
        )
        proc = subprocess.Popen(
            [
                str(STOCKPIPE),
                "run",
                "--source",
                "finnhub",
                "--symbols",
                "AAPL,MSFT",
                "--port",
                str(port),
                "--refresh",
                "1",
            ],  # fmt: skip
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            body = _wait_for_bars(port, proc, timeout=120)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            out, err = proc.communicate(timeout=60)
        assert feed.subscribes == [{"type": "subscribe", "symbol": "AAPL"},
                                   {"type": "subscribe", "symbol": "MSFT"}]  # fmt: skip
    assert proc.returncode == 0, err[-2000:]
    assert "stopped: checkpoints saved" in out
    assert "Traceback" not in err
    assert TOKEN not in out + err
    series = body["series"]
    # Minute m1 closed (m2's trades moved the watermark past it): exact OHLCV.
    m1_text = m1.strftime("%Y-%m-%dT%H:%M:%SZ")
    aapl = series["AAPL"]
    i = aapl["ts"].index(m1_text)
    assert (aapl["open"][i], aapl["high"][i], aapl["low"][i], aapl["close"][i]) == (
        230.10, 230.50, 230.10, 230.50,
    )  # fmt: skip
    assert aapl["volume"][i] == 400
    msft = series["MSFT"]
    j = msft["ts"].index(m1_text)
    assert (msft["close"][j], msft["volume"][j]) == (479.0, 200)


def _wait_for_bars(port: int, proc: subprocess.Popen[str], timeout: float) -> dict:  # type: ignore[type-arg]
    """Poll the dashboard's API until both symbols show a bar; return the view."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stockpipe run exited early: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        try:
            resp = httpx.get(
                f"http://127.0.0.1:{port}/api/view",
                params={"symbols": "AAPL,MSFT", "interval": "1min"},
                timeout=5,
            )
            last = resp.text
            body = resp.json()
            if resp.status_code == 200 and {"AAPL", "MSFT"} <= set(body.get("series") or {}):
                return body
        except (httpx.HTTPError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise AssertionError(f"no bars in the dashboard after {timeout} s: {last}")
