"""`stockpipe reprocess`: rebuild processed-data/ from raw-data/ with either engine."""

from __future__ import annotations

import re
from datetime import date

import typer
from rich.console import Console

from stockpipe.cli.common import open_lake_from, settings_from
from stockpipe.config import env_help
from stockpipe.errors import ConfigError
from stockpipe.pipeline.reprocess import ENGINES, rebuild_processed
from stockpipe.processing.base import BatchStats
from stockpipe.stream.slices import check_workers

console = Console()
# local, local[4], local[*], local[4,2], spark://host:7077, yarn, k8s://https://host:443
_MASTER_RE = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://[\w.\-]+:\d+|yarn|k8s://\S+)$")


def _date(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


def reprocess(
    ctx: typer.Context,
    engine: str = typer.Option("local", "--engine", help="local (pandas) or spark"),
    from_date: str = typer.Option(
        None, "--from", help="First UTC arrival date of raw-data/ to read, YYYY-MM-DD"
    ),
    to_date: str = typer.Option(
        None, "--to", help="Last UTC arrival date of raw-data/ to read, YYYY-MM-DD"
    ),
    master: str = typer.Option(
        None, "--master", help="Spark master, e.g. spark://host:7077 (default local[*])"
    ),
    lake: str = typer.Option(None, "--lake", help=f"Lake folder or s3:// URI {env_help('lake')}"),
    workers: int = typer.Option(
        None,
        "--workers",
        help="A full rebuild (--engine local): write the zone for `process --workers N` "
        "(default 1); a --from/--to range keeps the lake's number",
    ),
) -> None:
    """Rebuild processed-data/ and quarantine/ from raw-data/.

    Without --from/--to the processed zone is deleted and rebuilt from every raw record
    (refused while raw-data/ is behind the process checkpoint: run `stockpipe archive`
    first); with them, those days' raw records are merged into the existing tables.
    """
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is unknown: use local or spark")
    if master is not None and engine != "spark":
        raise ConfigError("--master only applies to --engine spark: add --engine spark")
    if master is not None and not _MASTER_RE.match(master):
        raise ConfigError(
            f"--master {master!r} is not a Spark master URL: use local[*], spark://host:port, "
            "yarn or k8s://..."
        )
    if workers is not None:
        check_workers(workers)
    lo, hi = _date("--from", from_date), _date("--to", to_date)
    if lo and hi and lo > hi:
        raise ConfigError(f"--from {lo} is after --to {hi}: swap them")
    settings = settings_from(ctx, **({"lake": lake} if lake else {}))
    target = open_lake_from(settings)
    stats = rebuild_processed(settings, target, engine, lo, hi, master, workers)
    console.print(_summary(engine, stats, target.uri("processed-data")))


def _summary(engine: str, stats: BatchStats, where: str) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in stats.reasons.items()) or "none"
    return (
        f"reprocessed with {engine}: read {stats.read}, kept {stats.kept}, "
        f"duplicates {stats.duplicates}, quarantined {stats.quarantined} "
        f"(reasons: {reasons}) -> {where}"
    )


def register(app: typer.Typer) -> None:
    app.command("reprocess")(reprocess)
