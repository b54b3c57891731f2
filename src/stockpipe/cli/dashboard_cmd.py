"""`stockpipe dashboard`: serve the live web dashboard until Ctrl-C."""

from __future__ import annotations

import typer
from rich.console import Console

from stockpipe.cli.common import settings_from
from stockpipe.config import env_help

console = Console()


def dashboard(
    ctx: typer.Context,
    host: str = typer.Option(
        None, "--host", help=f"Bind address (default 127.0.0.1) {env_help('dashboard_host')}"
    ),
    port: int = typer.Option(
        None, "--port", help=f"Port (default 8501; 0 picks a free one) {env_help('dashboard_port')}"
    ),
    refresh: float = typer.Option(
        5.0, "--refresh", help="Seconds between refreshes in the browser (1-3600)."
    ),
) -> None:
    """Serve the live dashboard (charts over the SQL layer's named queries)."""
    # Port 0 is valid for the server (pick a free port) but not for the setting's range.
    settings = settings_from(ctx, dashboard_host=host, dashboard_port=port or None)
    from stockpipe.dashboard import run_dashboard

    def ready(url: str) -> None:
        console.print(f"dashboard: {url}  (lake {settings.lake_location}, sql {settings.sql})")
        console.print("press Ctrl-C to stop")

    run_dashboard(
        settings, host=settings.dashboard_host, port=port, refresh=refresh, on_ready=ready
    )


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
