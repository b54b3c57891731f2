"""The `stockpipe` command line. Each area registers its commands from its own module.

Errors are one red line and a non-zero exit; `--debug` shows the traceback.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

import click
import typer
from rich.console import Console
from typer import exceptions as texc
from typer._click import exceptions as tclick

from stockpipe.errors import StockpipeError

app = typer.Typer(
    name="stockpipe",
    help="A real-time stock-market data pipeline: market data -> stream -> lake -> SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Modules that define `register(app)`. One line per area; keep this list sorted.
_COMMAND_MODULES = (
    "stockpipe.cli.chaos_cmd",
    "stockpipe.cli.config_cmd",
    "stockpipe.cli.dashboard_cmd",
    "stockpipe.cli.deploy_cmd",
    "stockpipe.cli.maintenance",
    "stockpipe.cli.pipeline",
    "stockpipe.cli.powerbi_cmd",
    "stockpipe.cli.query",
    "stockpipe.cli.reprocess_cmd",
    "stockpipe.cli.stream_cmd",
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    config: str = typer.Option(
        None, "--config", help="Config file (default ./stockpipe.toml) [env: STOCKPIPE_CONFIG]"
    ),
) -> None:
    ctx.obj = {"debug": debug, "config": config}


@functools.cache
def _register() -> None:
    """Add every area's commands to `app`, once per process: the tests run main() many
    times, and each register(app) again added every command another time."""
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


def fail(message: str, code: int = 1) -> None:
    """Print one red line and exit."""
    err_console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> Any:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _register()
    command = typer.main.get_command(app)
    try:
        return command.main(args=args, prog_name="stockpipe", standalone_mode=False)
    except (click.exceptions.Abort, texc.Abort):
        err_console.print("aborted")
        raise SystemExit(130) from None
    except (click.exceptions.Exit, texc.Exit) as exc:
        raise SystemExit(exc.exit_code) from None
    except tclick.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "stockpipe --help")
        raise SystemExit(0) from None
    except (click.ClickException, tclick.ClickException) as exc:
        if debug:
            raise
        msg = exc.format_message().replace("\n", " ")
        fail(msg, exc.exit_code)
    except StockpipeError as exc:
        if debug:
            raise
        fail(str(exc).replace("\n", " "), exc.exit_code)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - last line of defence for the one-line promise
        if debug:
            raise
        fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)".replace("\n", " "))
    return None
