"""Bad arguments and bad configuration: one readable line, non-zero exit."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "--days", "0"], "--days 0 is out of range"),
        (["ingest", "--source", "bloomberg"], "--source 'bloomberg' is unknown"),
        (["ingest", "--start", "yesterday"], "--start 'yesterday' is not a date"),
        (["ingest", "--symbols", "AAPL,bad/sym"], "symbol 'BAD/SYM' is invalid"),
        (["ingest", "--fault-rate", "2"], "--fault-rate 2.0 is out of range"),
        (["ingest", "--days", "many"], "Invalid value for '--days'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
    ids=["days", "source", "start", "symbol", "fault-rate", "not-int", "command"],
)
def test_bad_arguments_print_one_line_and_exit_non_zero(cli, home, args, message) -> None:
    result = cli(*args)
    assert result.code != 0
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in result.err


def test_bad_environment_names_the_variable_and_its_origin(cli, home, monkeypatch) -> None:
    monkeypatch.setenv("STOCKPIPE_STREAM", "kafka")
    result = cli("status")
    assert result.code == 2
    assert "invalid STOCKPIPE_STREAM='kafka' (from env STOCKPIPE_STREAM)" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(cli, home) -> None:
    from stockpipe.errors import ConfigError

    with pytest.raises(ConfigError):
        from stockpipe.cli import main

        main(["--debug", "ingest", "--days", "0"])


def test_config_show_redacts_secrets_and_names_origins(cli, home, monkeypatch, tmp_path) -> None:
    secret = "PLANTED-SECRET-4242"
    monkeypatch.setenv("ALPHA_VANTAGE_API_KEY", secret)
    (tmp_path / "stockpipe.toml").write_text('shards = 2\nsymbols = "IBM,MSFT"\n')
    monkeypatch.setenv("STOCKPIPE_SHARDS", "3")
    result = cli("config", "show")
    assert result.code == 0
    assert secret not in result.out + result.err
    rows = {line.split("│")[1].strip(): line for line in result.out.splitlines() if "│" in line}
    assert "********" in rows["ALPHA_VANTAGE_API_KEY"]
    # env beats the file, the file beats defaults
    assert " 3 " in rows["STOCKPIPE_SHARDS"] and "env STOCKPIPE_SHARDS" in rows["STOCKPIPE_SHARDS"]
    assert "IBM,MSFT" in rows["STOCKPIPE_SYMBOLS"] and "file" in rows["STOCKPIPE_SYMBOLS"]
    assert "default" in rows["STOCKPIPE_STREAM"]


def test_unknown_setting_in_config_file_is_an_error(cli, home, tmp_path) -> None:
    (tmp_path / "stockpipe.toml").write_text("shardz = 2\n")
    result = cli("status")
    assert result.code == 2
    assert "unknown setting 'shardz'" in result.err


def test_help_shows_the_environment_variable_behind_options(cli) -> None:
    result = cli("ingest", "--help")
    assert result.code == 0
    assert "STOCKPIPE_SYMBOLS" in result.out
    assert "STOCKPIPE_CONFIG" in cli("--help").out


def test_running_main_again_registers_no_command_twice(cli) -> None:
    """In-process runs (these tests) call main() many times: each command stays one command."""
    from stockpipe.cli import _COMMAND_MODULES, app

    assert cli("--help").code == 0
    commands, groups = len(app.registered_commands), len(app.registered_groups)
    assert commands + groups >= len(_COMMAND_MODULES)  # every area registers something
    for _ in range(3):
        assert cli("--help").code == 0
    assert (len(app.registered_commands), len(app.registered_groups)) == (commands, groups)
    names = [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    assert len(names) == len(set(names))
