"""Planted secrets never appear in output, logs, status, `config show`, exception
messages or state files, on success and on every failure path we can provoke."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from stockpipe.config import describe, load_settings
from stockpipe.errors import Backoff

AV_KEY = "PLANTEDavKEY7f3a9c"
AWS_SECRET = "PLANTEDawsSECRET/9f8e7d+6c5b4a3"
SECRETS = (AV_KEY, AWS_SECRET)


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch, home: Path, caplog: pytest.LogCaptureFixture) -> Path:
    monkeypatch.setenv("ALPHA_VANTAGE_API_KEY", AV_KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTEDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home.parent / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home.parent / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    caplog.set_level(logging.DEBUG)  # every logger, every level: httpx, botocore, ours
    return home


def our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log line except the fake servers' own (werkzeug logs request URLs)."""
    return "\n".join(
        f"{r.name}: {r.getMessage()}" for r in caplog.records if not r.name.startswith("werkzeug")
    )


def assert_clean(*texts: str, home: Path | None = None) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    if home is not None and home.exists():
        for path in home.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert all(s.encode() not in data for s in SECRETS), path


def test_settings_repr_dump_and_describe_hide_the_key(planted: Path) -> None:
    loaded = load_settings()
    assert loaded.settings.alpha_vantage_api_key is not None
    assert loaded.settings.alpha_vantage_api_key.get_secret_value() == AV_KEY  # it is loaded
    rows = describe(loaded)
    assert ("ALPHA_VANTAGE_API_KEY", "********", "env ALPHA_VANTAGE_API_KEY") in rows
    assert_clean(
        repr(loaded.settings), str(loaded.settings), loaded.settings.model_dump_json(), str(rows)
    )


def test_config_show_and_status_never_print_secrets(cli, planted: Path, caplog) -> None:
    outputs = []
    for args in (("config", "show"), ("status",), ("status", "--json")):
        result = cli(*args)
        assert result.code == 0, result.err
        outputs += [result.out, result.err]
    assert "ALPHA_VANTAGE_API_KEY" in outputs[0] and "********" in outputs[0]
    assert_clean(*outputs, our_logs(caplog), home=planted)


def test_invalid_setting_next_to_a_secret_names_the_setting_not_the_secret(
    cli, planted: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("STOCKPIPE_SHARDS", "many")
    result = cli("config", "show")
    assert result.code == 2 and "STOCKPIPE_SHARDS='many'" in result.err
    assert_clean(result.out, result.err, our_logs(caplog))


# -- Alpha Vantage failure paths against a local server ----------------------------

ECHOING_ERROR = {"Error Message": f"Invalid API call for apikey={AV_KEY}. Please retry."}
INVALID_KEY = {"Information": f"the parameter apikey is invalid or missing: {AV_KEY}"}
DAILY_LIMIT = {"Information": "We have detected your API key as " + AV_KEY + " ... 25 per day"}


def _respond(server: HTTPServer, kind: str) -> None:
    handler = server.expect_request("/query")
    if kind == "http-500":
        handler.respond_with_data(f"boom {AV_KEY}", status=500)
    elif kind == "http-404":
        handler.respond_with_data("not found", status=404)
    elif kind == "garbled-body":
        handler.respond_with_data('{"Meta Data": {"2. Symbol": "IBM"}, "Time Series (5min)": [')
    elif kind == "redirect-with-key":
        handler.respond_with_response(
            Response(status=302, headers={"Location": f"http://127.0.0.1:1/?apikey={AV_KEY}"})
        )
    else:
        body = {
            "echoing-error": ECHOING_ERROR,
            "invalid-key": INVALID_KEY,
            "daily-limit": DAILY_LIMIT,
        }
        handler.respond_with_json(body[kind])


@pytest.mark.parametrize(
    "kind",
    ["echoing-error", "invalid-key", "daily-limit", "http-500", "http-404", "garbled-body"]
    + ["redirect-with-key"],
)
def test_alphavantage_failures_never_show_the_key(
    cli, planted: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, caplog, kind
) -> None:
    monkeypatch.setattr(Backoff, "delay", lambda self, attempt: 0.0)  # fast retries
    monkeypatch.setenv("ALPHA_VANTAGE_BASE_URL", httpserver.url_for("/query"))
    _respond(httpserver, kind)
    result = cli(
        "ingest", "--source", "alphavantage", "--symbols", "IBM", "--once",
        "--min-spacing", "0", "--requests-per-day", "0",
    )  # fmt: skip
    requests = [req for req, _ in httpserver.log]
    assert requests and all(r.args.get("apikey") == AV_KEY for r in requests)  # it was sent
    failed = result.code != 0 or "IBM" in result.out  # refused outright, or per symbol
    assert failed, (result.out, result.err)
    assert_clean(result.out, result.err, our_logs(caplog), home=planted)


def test_alphavantage_unreachable_server_never_shows_the_key(
    cli, planted: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(Backoff, "delay", lambda self, attempt: 0.0)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ALPHA_VANTAGE_BASE_URL", f"http://127.0.0.1:{port}/query")
    result = cli(
        "ingest", "--source", "alphavantage", "--symbols", "IBM", "--once",
        "--min-spacing", "0", "--requests-per-day", "0",
    )  # fmt: skip
    assert result.code != 0 and "failed after" in result.err
    assert_clean(result.out, result.err, our_logs(caplog), home=planted)


# -- AWS failure paths against a moto server ----------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "fails"),
    [
        (("status",), True),
        (("stream", "describe"), True),
        (("ingest", "--source", "simulator", "--days", "1", "--start", "2026-11-23"), True),
        (("archive",), True),
        # DuckDB over a missing bucket sees an empty lake: it answers 0, which is fine here.
        (("query", "SELECT count(*) FROM bars"), False),
    ],
    ids=["status", "stream-describe", "ingest", "archive", "query"],
)
def test_aws_failures_never_show_the_secret_key(
    cli, planted: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch, caplog, args, fails
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("STOCKPIPE_STREAM", "kinesis")
    monkeypatch.setenv("KINESIS_STREAM_NAME", "no-such-stream")
    monkeypatch.setenv("STOCKPIPE_LAKE", "s3://no-such-bucket-planted/lake")
    result = cli(*args)
    assert (result.code != 0) == fails, result.out  # the stream and the bucket do not exist
    assert "Traceback" not in result.err
    assert_clean(result.out, result.err, our_logs(caplog), home=planted)
