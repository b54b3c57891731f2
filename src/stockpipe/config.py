"""One typed settings object. Precedence: CLI > environment > stockpipe.toml > defaults.

Every environment variable name lives here. `describe()` reports each effective value
and where it came from, with secrets redacted.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stockpipe.contract import DEFAULT_INDICATOR_SESSIONS, format_sessions, parse_sessions
from stockpipe.errors import ConfigError

CONFIG_FILE_ENV = "STOCKPIPE_CONFIG"
DEFAULT_CONFIG_FILE = "stockpipe.toml"
DEFAULT_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM")


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    help: str
    _: KW_ONLY
    secret: bool = False


# The single table of environment variables (seed names first, then ours).
SETTINGS: tuple[Setting, ...] = (
    Setting("aws_region", "AWS_REGION", "AWS region for Kinesis, S3, Athena and CloudWatch"),
    Setting("alpha_vantage_api_key", "ALPHA_VANTAGE_API_KEY", "Alpha Vantage API key", secret=True),
    Setting("alpha_vantage_base_url", "ALPHA_VANTAGE_BASE_URL", "Alpha Vantage base URL"),
    Setting("alpaca_api_key_id", "ALPACA_API_KEY_ID", "Alpaca API key ID", secret=True),
    Setting("alpaca_api_secret_key", "ALPACA_API_SECRET_KEY", "Alpaca API secret key", secret=True),
    Setting("alpaca_stream_url", "ALPACA_STREAM_URL", "Alpaca market data websocket URL"),
    Setting("alpaca_data_url", "ALPACA_DATA_URL", "Alpaca market data REST base URL"),
    Setting("finnhub_api_key", "FINNHUB_API_KEY", "Finnhub API key", secret=True),
    Setting("finnhub_stream_url", "FINNHUB_STREAM_URL", "Finnhub websocket URL"),
    Setting("finnhub_api_url", "FINNHUB_API_URL", "Finnhub REST base URL"),
    Setting(
        "s3_bucket_name", "S3_BUCKET_NAME", "S3 bucket of the lake (when STOCKPIPE_LAKE is unset)"
    ),
    Setting("kinesis_stream_name", "KINESIS_STREAM_NAME", "Kinesis stream name"),
    Setting("home", "STOCKPIPE_HOME", "Local data folder (stream database, lake, state)"),
    Setting("stream", "STOCKPIPE_STREAM", "Stream backend: local or kinesis"),
    Setting("lake", "STOCKPIPE_LAKE", "Lake location: a folder or s3://bucket/prefix"),
    Setting("shards", "STOCKPIPE_SHARDS", "Shard count of the embedded stream"),
    Setting("retention_hours", "STOCKPIPE_RETENTION_HOURS", "Embedded stream retention, hours"),
    Setting("symbols", "STOCKPIPE_SYMBOLS", "Default symbols, comma-separated"),
    Setting("sql", "STOCKPIPE_SQL", "SQL engine: duckdb or athena"),
    Setting("athena_workgroup", "STOCKPIPE_ATHENA_WORKGROUP", "Athena workgroup"),
    Setting("athena_output", "STOCKPIPE_ATHENA_OUTPUT", "Athena result location, s3://..."),
    Setting("athena_database", "STOCKPIPE_ATHENA_DATABASE", "Athena/Glue database"),
    Setting("metrics", "STOCKPIPE_METRICS", "Metrics backend: local or cloudwatch"),
    Setting("dashboard_host", "STOCKPIPE_DASHBOARD_HOST", "Dashboard bind address"),
    Setting("dashboard_port", "STOCKPIPE_DASHBOARD_PORT", "Dashboard port"),
    Setting("stack_name", "STOCKPIPE_STACK_NAME", "CloudFormation stack of `stockpipe deploy`"),
    Setting(
        "indicator_sessions",
        "STOCKPIPE_INDICATOR_SESSIONS",
        "Bars the indicators run over: all, or sessions among pre,regular,post,closed",
    ),
)
_BY_FIELD = {s.field: s for s in SETTINGS}


class Settings(BaseSettings):
    """Effective configuration. Build it with `load_settings`, not directly."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    aws_region: str = "us-east-1"
    alpha_vantage_api_key: SecretStr | None = None
    alpha_vantage_base_url: str = "https://www.alphavantage.co/query"
    alpaca_api_key_id: SecretStr | None = None
    alpaca_api_secret_key: SecretStr | None = None
    alpaca_stream_url: str = "wss://stream.data.alpaca.markets/v2/{feed}"
    alpaca_data_url: str = "https://data.alpaca.markets"
    finnhub_api_key: SecretStr | None = None
    finnhub_stream_url: str = "wss://ws.finnhub.io"
    finnhub_api_url: str = "https://finnhub.io/api/v1"
    s3_bucket_name: str | None = None
    kinesis_stream_name: str = "stockpipe-bars"
    home: Path = Path("./data")
    stream: Literal["local", "kinesis"] = "local"
    lake: str | None = None
    shards: int = Field(4, ge=1, le=64)
    retention_hours: float = Field(24.0, gt=0)
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    sql: Literal["duckdb", "athena"] = "duckdb"
    athena_workgroup: str = "primary"
    athena_output: str | None = None
    athena_database: str = "stockpipe"
    metrics: Literal["local", "cloudwatch"] = "local"
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(8501, ge=1, le=65535)
    stack_name: str = "stockpipe-dev"
    indicator_sessions: tuple[str, ...] = DEFAULT_INDICATOR_SESSIONS

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(s.strip().upper() for s in value.split(",") if s.strip())
        return value

    @field_validator("indicator_sessions", mode="before")
    @classmethod
    def _parse_sessions(cls, value: Any) -> Any:
        return parse_sessions(value)

    @property
    def lake_location(self) -> str:
        if self.lake:
            return self.lake
        if self.s3_bucket_name:
            return f"s3://{self.s3_bucket_name}"
        return str(self.home / "lake")

    @property
    def stream_path(self) -> Path:
        return self.home / "stream" / "stream.db"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings resolves env and file itself, to record where each value came from.
        return (init_settings,)


@dataclass
class Loaded:
    settings: Settings
    origins: dict[str, str]


_CURRENT: Loaded | None = None


def _config_file(explicit: str | None) -> Path | None:
    name = explicit or os.environ.get(CONFIG_FILE_ENV)
    if name:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist (from {CONFIG_FILE_ENV} or --config)"
            )
        return path
    path = Path(DEFAULT_CONFIG_FILE)
    return path if path.is_file() else None


def load_settings(
    overrides: dict[str, Any] | None = None, config_file: str | None = None
) -> Loaded:
    """Resolve settings from CLI overrides, environment, file and defaults."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    path = _config_file(config_file)
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        section = doc.get("stockpipe", doc)
        for key, value in section.items():
            if key not in _BY_FIELD:
                known = ", ".join(sorted(_BY_FIELD))
                raise ConfigError(f"unknown setting {key!r} in {path}; known settings: {known}")
            values[key] = value
            origins[key] = f"file {path}"
    for setting in SETTINGS:
        env_value = os.environ.get(setting.env)
        if env_value not in (None, ""):
            values[setting.field] = env_value
            origins[setting.field] = f"env {setting.env}"
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
            origins[key] = "cli"
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        bad = _BY_FIELD.get(field)
        where = origins.get(field, "default")
        name = bad.env if bad else field
        shown = "***" if bad and bad.secret else repr(values.get(field))
        raise ConfigError(f"invalid {name}={shown} (from {where}): {err['msg']}") from None
    for setting in SETTINGS:
        origins.setdefault(setting.field, "default")
    return Loaded(settings, origins)


def configure(overrides: dict[str, Any] | None = None, config_file: str | None = None) -> Settings:
    """Load settings once for this process (the CLI calls this at start-up)."""
    global _CURRENT
    _CURRENT = load_settings(overrides, config_file)
    return _CURRENT.settings


def get_settings() -> Settings:
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = load_settings()
    return _CURRENT.settings


def describe(loaded: Loaded | None = None) -> list[tuple[str, str, str]]:
    """(env var, effective value, origin) for every setting, secrets redacted."""
    loaded = loaded or _CURRENT or load_settings()
    rows = []
    for setting in SETTINGS:
        value = getattr(loaded.settings, setting.field)
        if setting.secret:
            shown = "(unset)" if value is None else "********"
        elif setting.field == "indicator_sessions":
            shown = format_sessions(value)
        elif isinstance(value, tuple):
            shown = ",".join(value)
        else:
            shown = "(unset)" if value is None else str(value)
        rows.append((setting.env, shown, loaded.origins.get(setting.field, "default")))
    rows.append(("(derived) lake location", loaded.settings.lake_location, "computed"))
    return rows


def env_help(field: str) -> str:
    """The `[env: NAME]` suffix for a CLI option's help."""
    setting = _BY_FIELD[field]
    return f"[env: {setting.env}]"
