"""`stockpipe chaos`: the crash harness."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.console import Console

from stockpipe.errors import ConfigError

console = Console()


def chaos(
    kills: int = typer.Option(50, "--kills", help="How many SIGKILLs to deliver"),
    seed: int = typer.Option(7, "--seed", help="Seed of the dataset and of the kill schedule"),
    days: int = typer.Option(3, "--days", help="Sessions in the dataset"),
    workdir: Path = typer.Option(
        None, "--workdir", help="Keep the lakes here (default: a temporary folder)"
    ),
) -> None:
    """Kill the consumers at random moments; compare with a clean run; print a verdict."""
    from stockpipe.testing.chaos import run_chaos

    if not 1 <= kills <= 10000:
        raise ConfigError(f"--kills {kills} is out of range: use 1-10000")
    if not 1 <= days <= 60:
        raise ConfigError(f"--days {days} is out of range: use 1-60")
    if workdir is not None:
        verdict = run_chaos(workdir, kills=kills, seed=seed, days=days)
    else:
        with tempfile.TemporaryDirectory(prefix="stockpipe-chaos-") as tmp:
            verdict = run_chaos(Path(tmp), kills=kills, seed=seed, days=days)
    console.print(verdict.line(), markup=False)
    if not verdict.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("chaos")(chaos)
