"""config.py on its own: defaults, precedence, origins, errors and redaction.

The expected values are the documented ones (README, `stockpipe config show`), written out
here rather than read back from the module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import stockpipe.config as config_module
from stockpipe.config import (
    SETTINGS,
    Settings,
    configure,
    describe,
    env_help,
    get_settings,
    load_settings,
)
from stockpipe.errors import ConfigError, StockpipeError


@pytest.fixture(autouse=True)
def _no_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # The root conftest clears stockpipe's own variables; AWS_REGION is a seed name it keeps.
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("STOCKPIPE_CONFIG", raising=False)


def test_defaults_with_no_file_no_env_and_no_overrides() -> None:
    loaded = load_settings()
    s = loaded.settings
    assert (s.stream, s.sql, s.metrics) == ("local", "duckdb", "local")
    assert (s.shards, s.retention_hours, s.dashboard_port) == (4, 24.0, 8501)
    assert s.dashboard_host == "127.0.0.1"  # servers bind loopback unless told otherwise
    assert s.symbols == ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM")
    assert s.indicator_sessions == ("pre", "regular", "post", "closed")
    assert s.alpha_vantage_api_key is None
    assert s.lake_location == str(Path("data") / "lake")
    assert s.stream_path == Path("data/stream/stream.db")
    assert s.state_dir == Path("data/state")
    assert set(loaded.origins.values()) == {"default"}
    assert len(loaded.origins) == len(SETTINGS) == 27


def test_cli_beats_env_beats_file_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("stockpipe.toml").write_text(
        '[stockpipe]\nshards = 2\nsql = "athena"\ndashboard_port = 9000\n'
    )
    monkeypatch.setenv("STOCKPIPE_SHARDS", "3")
    monkeypatch.setenv("STOCKPIPE_SQL", "duckdb")
    loaded = load_settings({"shards": 5, "lake": None})  # None means "not given"
    s = loaded.settings
    assert (s.shards, s.sql, s.dashboard_port, s.lake) == (5, "duckdb", 9000, None)
    assert loaded.origins["shards"] == "cli"
    assert loaded.origins["sql"] == "env STOCKPIPE_SQL"
    assert loaded.origins["dashboard_port"] == "file stockpipe.toml"
    assert loaded.origins["lake"] == "default"


def test_an_empty_environment_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPIPE_SHARDS", "")
    loaded = load_settings()
    assert (loaded.settings.shards, loaded.origins["shards"]) == (4, "default")


def test_a_file_without_a_section_and_one_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = tmp_path / "elsewhere.toml"
    flat.write_text('symbols = "ibm, brk.b,, msft "\nretention_hours = 1.5\n')
    monkeypatch.setenv("STOCKPIPE_CONFIG", str(flat))
    loaded = load_settings()
    assert loaded.settings.symbols == ("IBM", "BRK.B", "MSFT")
    assert loaded.settings.retention_hours == 1.5
    assert loaded.origins["symbols"] == f"file {flat}"


def test_a_missing_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as err:
        load_settings(config_file=str(missing))
    assert str(err.value) == (
        f"config file {missing} does not exist (from STOCKPIPE_CONFIG or --config)"
    )
    assert err.value.exit_code == 2 and isinstance(err.value, StockpipeError)


def test_an_unknown_key_and_bad_toml_are_refused() -> None:
    Path("stockpipe.toml").write_text("[stockpipe]\nshard = 2\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'shard' in stockpipe.toml; known"):
        load_settings()
    Path("stockpipe.toml").write_text("[stockpipe\n")
    with pytest.raises(ConfigError, match=r"^cannot read config file stockpipe.toml: "):
        load_settings()


def test_an_invalid_value_names_the_variable_the_value_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPIPE_SHARDS", "0")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        "invalid STOCKPIPE_SHARDS='0' (from env STOCKPIPE_SHARDS): "
        "Input should be greater than or equal to 1"
    )
    with pytest.raises(ConfigError, match=r"^invalid STOCKPIPE_STREAM='kafka' \(from cli\): "):
        load_settings({"stream": "kafka"})
    monkeypatch.delenv("STOCKPIPE_SHARDS")
    monkeypatch.setenv("STOCKPIPE_INDICATOR_SESSIONS", "regular,lunch")
    with pytest.raises(ConfigError, match=r"^invalid STOCKPIPE_INDICATOR_SESSIONS='regular,lunch'"):
        load_settings()


def test_an_invalid_secret_is_reported_without_its_value() -> None:
    Path("stockpipe.toml").write_text("[stockpipe]\nalpha_vantage_api_key = 987654321\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(
        "invalid ALPHA_VANTAGE_API_KEY=*** (from file stockpipe.toml): "
    )
    assert "987654321" not in str(err.value)


def test_lake_location_prefers_the_lake_then_the_bucket_then_home() -> None:
    assert load_settings({"home": "/srv/sp"}).settings.lake_location == "/srv/sp/lake"
    assert load_settings({"s3_bucket_name": "b1"}).settings.lake_location == "s3://b1"
    both = load_settings({"s3_bucket_name": "b1", "lake": "s3://b2/data"}).settings
    assert both.lake_location == "s3://b2/data"


def test_indicator_sessions_are_parsed_into_contract_order() -> None:
    settings = load_settings({"indicator_sessions": "Regular, pre"}).settings
    assert settings.indicator_sessions == ("pre", "regular")


def test_describe_redacts_secrets_and_reports_every_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", "fh-secret-value")
    loaded = load_settings({"symbols": "ibm,msft", "indicator_sessions": "regular"})
    rows = {env: (shown, origin) for env, shown, origin in describe(loaded)}
    assert rows["FINNHUB_API_KEY"] == ("********", "env FINNHUB_API_KEY")
    assert rows["ALPHA_VANTAGE_API_KEY"] == ("(unset)", "default")
    assert rows["STOCKPIPE_SYMBOLS"] == ("IBM,MSFT", "cli")
    assert rows["STOCKPIPE_INDICATOR_SESSIONS"] == ("regular", "cli")
    assert rows["STOCKPIPE_SHARDS"] == ("4", "default")
    assert rows["STOCKPIPE_LAKE"] == ("(unset)", "default")
    assert rows["(derived) lake location"] == (str(Path("data") / "lake"), "computed")
    assert len(rows) == 28
    assert "fh-secret-value" not in repr(describe(loaded))
    # The secret itself is still there for the code that needs it.
    assert loaded.settings.finnhub_api_key is not None
    assert loaded.settings.finnhub_api_key.get_secret_value() == "fh-secret-value"


def test_all_indicator_sessions_are_shown_as_all() -> None:
    rows = {env: shown for env, shown, _ in describe(load_settings())}
    assert rows["STOCKPIPE_INDICATOR_SESSIONS"] == "all"


def test_configure_sets_the_process_settings_and_get_settings_loads_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert config_module._CURRENT is None  # the root conftest resets it
    monkeypatch.setenv("STOCKPIPE_SHARDS", "6")
    first = get_settings()
    assert first.shards == 6
    monkeypatch.setenv("STOCKPIPE_SHARDS", "9")
    assert get_settings() is first  # loaded once per process
    assert configure({"shards": 7}).shards == 7
    assert get_settings().shards == 7


def test_env_help_names_the_variable() -> None:
    assert env_help("shards") == "[env: STOCKPIPE_SHARDS]"
    assert env_help("alpha_vantage_api_key") == "[env: ALPHA_VANTAGE_API_KEY]"
    with pytest.raises(KeyError):
        env_help("no_such_field")


def test_the_table_of_variables_matches_the_settings_fields() -> None:
    # One row per field, and no two fields share a variable.
    assert sorted(s.field for s in SETTINGS) == sorted(Settings.model_fields)
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)
    secrets = {s.env for s in SETTINGS if s.secret}
    assert secrets == {
        "ALPHA_VANTAGE_API_KEY",
        "ALPACA_API_KEY_ID",
        "ALPACA_API_SECRET_KEY",
        "FINNHUB_API_KEY",
    }
