"""`stockpipe compact` and `stockpipe expire`: lake upkeep."""

from __future__ import annotations

import contextlib

import typer
from rich.console import Console

from stockpipe.cli.common import open_lake_from, settings_from
from stockpipe.config import env_help
from stockpipe.contract import BARS, DAILY, QUARANTINE, RAW
from stockpipe.lake import Lake, maintenance

console = Console()


def compact(
    ctx: typer.Context,
    *,
    lake: str = typer.Option(None, "--lake", help=f"Lake folder or s3:// URI {env_help('lake')}"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be merged"),
) -> None:
    """Merge the small files of each partition (processed zone and closed raw hours)."""
    from stockpipe.lake.lock import consumer_lock
    from stockpipe.pipeline.stages import PROCESS_CONSUMER
    from stockpipe.processing.zone import every_writer_partitions

    store = open_lake_from(settings_from(ctx, lake=lake))
    # A running `process` holds its partitions in memory and owns their manifests:
    # refused while it runs (its lock's holder is named), like `reprocess`.
    guard = contextlib.nullcontext() if dry_run else consumer_lock(store, PROCESS_CONSUMER)
    with guard:
        report = maintenance.compact(store, every_writer_partitions(store), dry_run=dry_run)
    for line in report.details:
        console.print(line, highlight=False)
    verb = "would merge" if dry_run else "merged"
    console.print(f"{verb} {report.files_merged} files in {report.partitions} partitions")


def expire(
    ctx: typer.Context,
    *,
    raw_days: int = typer.Option(None, "--raw-days", help="Keep raw-data/ this many days"),
    processed_days: int = typer.Option(
        None, "--processed-days", help="Keep processed-data/ (bars, daily) this many days"
    ),
    quarantine_days: int = typer.Option(
        None, "--quarantine-days", help="Keep quarantine/ this many days"
    ),
    lake: str = typer.Option(None, "--lake", help=f"Lake folder or s3:// URI {env_help('lake')}"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be deleted"),
) -> None:
    """Delete partitions older than the retention, as the S3 lifecycle rules do in AWS."""
    store = open_lake_from(settings_from(ctx, lake=lake))
    if raw_days is None and processed_days is None and quarantine_days is None:
        _explain_expire(store)
        return
    report = maintenance.expire(store, raw_days, processed_days, quarantine_days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for prefix, cutoff in report.cutoffs.items():
        console.print(
            f"{prefix}: {verb} {report.deleted[prefix]} files with dt < {cutoff}", highlight=False
        )


_ZONES = (
    ("--raw-days", (RAW.prefix,)),
    ("--processed-days", (BARS.prefix, DAILY.prefix)),
    ("--quarantine-days", (QUARANTINE.prefix,)),
)


def _explain_expire(store: Lake) -> None:
    """`expire` without a retention deletes nothing: say so, what each option would
    delete, and what the lake holds now (a read-only listing)."""
    typer.echo(
        "expire deletes the dt= partitions older than a retention, as the S3 lifecycle "
        "rules do. No retention was given, so nothing was deleted. The lake holds:"
    )
    for option, prefixes in _ZONES:
        for prefix in prefixes:
            dates = maintenance.files_per_date(store, prefix)
            held = (
                f"{len(dates)} date(s), {min(dates)} to {max(dates)}, {sum(dates.values())} file(s)"
                if dates
                else "nothing"
            )
            typer.echo(f"  {prefix}/: {held} ({option} N)")
    typer.echo(
        "e.g. `stockpipe expire --raw-days 30 --dry-run` lists what a 30-day raw retention "
        "would delete; drop --dry-run to delete it."
    )


def register(app: typer.Typer) -> None:
    app.command("compact")(compact)
    app.command("expire")(expire)
