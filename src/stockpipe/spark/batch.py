"""The Spark batch function: raw envelopes in, processed-data/ and quarantine/ out.

Every micro-batch of the streaming job and every `reprocess --engine spark` goes
through `process_envelopes`. The steps, and where the logic lives:

1. route each envelope to a group with the shared `clean()`, and each group to one of a
   few buckets (tasks.route; `reprocess_spark` reads the raw files there, tasks.route_files);
2. read the stored bars files of the touched series as bytes (tasks.split_stored);
3. per bucket, run the embedded engine's `Processor` in memory (tasks.run_bucket);
4. update the series index, then merge the produced files into the lake partitions
   with the engine's `PartitionSet` (tasks.merge_partition), in a crash-safe order.

Crash safety follows the engine's rule: a series' earliest touched bars partition holds
its changed bars, so it is written last. Until then a re-run sees those bars as new and
recomputes everything after them. Phase 1 writes daily, quarantine and every bars
partition that is nobody's earliest, in parallel; phase 2 writes the earliest ones from
the latest date back. A re-run (or a replayed micro-batch) gives the same lake.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from stockpipe.contract import BARS, RAW
from stockpipe.errors import ConfigError
from stockpipe.lake import Lake, manifest, open_lake
from stockpipe.lake.partitions import DT_RE
from stockpipe.processing.base import BatchStats
from stockpipe.processing.engine import clear_processed as clear_zone
from stockpipe.processing.latest import flush_latest, mark_latest_pending
from stockpipe.processing.sessions import settle_indicator_sessions
from stockpipe.processing.workers import lake_workers
from stockpipe.processing.zone import SERIES_INDEX, load_series_index
from stockpipe.spark import tasks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RAW_DDL = f"{tasks.ENVELOPE_DDL}, dt string, hour string"


def _empty(spark: SparkSession, ddl: str) -> DataFrame:
    return spark.createDataFrame([], ddl)


def stored_bars(spark: SparkSession, lake: Lake, labels: Sequence[int] = (0,)) -> DataFrame:
    """Every bars file a reader reads (the ones the manifests name; every file of a
    partition without one), split into one row (Parquet bytes) per series and file, with
    the series' bucket among `labels`."""
    live = manifest.live_files(lake, BARS.prefix)
    paths = [lake.uri(path) for dt in sorted(live) for path in live[dt]]
    if not paths:
        return _empty(spark, tasks.STORED_DDL)

    def split(batches):  # type: ignore[no-untyped-def]
        return tasks.split_stored(batches, labels)

    files = spark.read.format("binaryFile").load(paths)
    return files.select("path", "content").mapInPandas(split, tasks.STORED_DDL)


def bucket_labels(spark: SparkSession) -> list[int]:
    """Two buckets per task slot (at most one per shuffle partition), labelled so
    that Spark's hash partitioning puts each bucket in a shuffle partition of its own.

    Issue 21: a group (a task's unit) per series made the engine run once per series; a
    bucket runs it once for many series, and the buckets keep every core busy.
    """
    from pyspark.sql import functions as F

    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or "200")
    count = max(1, min(partitions, spark.sparkContext.defaultParallelism * 2))
    probe = spark.range(partitions * 16).select(
        F.col("id").cast("int").alias("label"),
        F.expr(f"pmod(hash(cast(id as int)), {partitions})").alias("slot"),
    )
    first: dict[int, int] = {}
    for row in probe.collect():
        first.setdefault(row["slot"], row["label"])
    return sorted(first.values())[:count]


def _widen_index(lake: Lake, spans: dict[str, tuple[str, str]]) -> None:
    """Widen the engine's series index before any data file is written (its rule)."""
    index = load_series_index(lake)
    for key, (first, last) in spans.items():
        old = index.get(key)
        index[key] = [min(first, old[0]), max(last, old[1])] if old else [first, last]
    lake.write_bytes(SERIES_INDEX, json.dumps(dict(sorted(index.items())), indent=0).encode())


def process_envelopes(
    spark: SparkSession,
    envelopes: DataFrame,
    location: str,
    region: str | None = None,
    indicator_sessions: Sequence[str] | None = None,
) -> BatchStats:
    """Process raw-zone envelopes (RAW columns) into the lake at `location`; durable on return.

    `region` (the job's --region) reaches every task that opens the lake, because an
    executor's environment may name no region at all. The choice of indicator bars is
    settled against the lake's record here, on the driver (None: the recorded one, or every
    bar for a new lake), and handed to the tasks.
    """
    labels = bucket_labels(spark)

    def route(batches):  # type: ignore[no-untyped-def]
        return tasks.route(batches, labels)

    routed = envelopes.select(*tasks.ENVELOPE).mapInPandas(route, tasks.ROUTED_DDL)
    return _process_routed(spark, routed, labels, location, region, indicator_sessions)


def _process_routed(
    spark: SparkSession,
    routed: DataFrame,
    labels: Sequence[int],
    location: str,
    region: str | None,
    indicator_sessions: Sequence[str] | None,
) -> BatchStats:
    """Routed envelopes (tasks.ROUTED_DDL) through the buckets' engines into the lake."""
    from pyspark.sql import functions as F

    lake = open_lake(location, region)
    workers = lake_workers(lake)
    if workers > 1:
        # Spark writes the zone as one writer; rows of N workers' writers would be merged
        # by neither (the streaming job and a ranged reprocess reach here).
        raise ConfigError(
            f"the lake's processed zone was written by {workers} workers (`process "
            f"--workers {workers}`), which Spark does not write as: keep it on `stockpipe "
            "process`, or rebuild it all with `stockpipe reprocess --engine spark`"
        )
    flush_latest(lake)  # the dates of a batch that crashed before its rows were written
    sessions = settle_indicator_sessions(lake, indicator_sessions)

    def run(envelopes, stored):  # type: ignore[no-untyped-def]
        # A plain function, not functools.partial: Spark inspects its type hints.
        return tasks.run_bucket(envelopes, stored, sessions)

    # No dropDuplicates: copies of one stream position are one record, routed to one
    # group; its engine run keeps one per position (tasks.run_group), as engine.reprocess.
    stored = stored_bars(spark, lake, labels)
    if manifest.live_files(lake, BARS.prefix):
        # Read twice (the touched groups, then the buckets): kept, not routed twice.
        routed = routed.persist()
        stored = stored.join(routed.select("group").distinct(), "group", "left_semi")
    try:
        out = (
            routed.groupBy("bucket")
            .cogroup(stored.groupBy("bucket"))
            .applyInPandas(run, tasks.OUTPUT_DDL)
            .persist()
        )
        try:
            return _write(lake, location, out, F, region)
        finally:
            out.unpersist()
    finally:
        routed.unpersist()


def _write(lake: Lake, location: str, out: DataFrame, F, region: str | None) -> BatchStats:  # type: ignore[no-untyped-def]  # noqa: N803
    is_meta = F.col("table").isin(*tasks.META)
    meta = out.select("table", "dt", F.when(is_meta, F.col("data")).alias("data")).collect()
    stats = tasks.sum_stats(r["data"] for r in meta if r["table"] == tasks.STATS)
    spans = tasks.read_spans(r["data"] for r in meta if r["table"] == tasks.SPANS)
    if not any(r["table"] not in tasks.META for r in meta):
        return stats
    _widen_index(lake, spans)
    mark_latest_pending(lake, {r["dt"] for r in meta if r["table"] == "bars"})
    earliest = sorted({first for first, _ in spans.values()})
    data = out.filter(~is_meta)
    last_phase = (F.col("table") == "bars") & F.col("dt").isin(earliest)

    def write(pdf):  # type: ignore[no-untyped-def]
        # A plain function, not functools.partial: Spark inspects its type hints.
        return tasks.write_partitions(location, pdf, region)

    data.filter(~last_phase).groupBy("table", "dt").applyInPandas(
        write, tasks.WRITTEN_DDL
    ).collect()
    for dt in reversed(earliest):
        rows = data.filter((F.col("table") == "bars") & (F.col("dt") == dt)).select("data")
        tasks.merge_partition(lake, "bars", dt, [r["data"] for r in rows.collect()])
    flush_latest(lake)
    return stats


def _check_date(name: str, value: str | date | None) -> str | None:
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not DT_RE.match(text):
        raise ConfigError(f"{name} {text!r} is not a date: use YYYY-MM-DD")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not a valid date: use YYYY-MM-DD") from None
    return text


def read_raw(
    spark: SparkSession,
    raw: Lake,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
) -> DataFrame | None:
    """The raw zone's envelopes (optionally by UTC arrival date), or None if it is empty."""
    from pyspark.sql import functions as F

    lo, hi = _check_date("--from", from_date), _check_date("--to", to_date)
    if not any(p.endswith(".jsonl") for p in raw.list(RAW.prefix)):
        return None
    frame = (
        spark.read.schema(RAW_DDL)
        .option("mode", "FAILFAST")  # the archiver writes valid JSON lines; anything else is a bug
        .option("pathGlobFilter", "*.jsonl")
        .option("basePath", raw.uri(RAW.prefix))
        .json(raw.uri(RAW.prefix))
    )
    if lo is not None:
        frame = frame.filter(F.col("dt") >= lo)
    if hi is not None:
        frame = frame.filter(F.col("dt") <= hi)
    return frame.select(*tasks.ENVELOPE)


def clear_processed(lake: Lake) -> None:
    """What `engine.reprocess` deletes before a full rebuild (a lake of one writer after)."""
    clear_zone(lake)


def reprocess_spark(
    spark: SparkSession,
    location: str,
    from_date: str | date | None = None,
    to_date: str | date | None = None,
    raw_location: str | None = None,
    region: str | None = None,
    indicator_sessions: Sequence[str] | None = None,
) -> BatchStats:
    """`reprocess --engine spark`: the same contract as `engine.reprocess`.

    Without a date range the processed zone is deleted and rebuilt from every raw record;
    with one, those raw records are merged into the existing tables. `raw_location`
    reads raw-data/ from another lake (default: the output lake). `indicator_sessions`
    chooses the indicator bars (None: the lake's recorded choice, or every bar).
    """
    lake = open_lake(location, region)
    raw = open_lake(raw_location, region) if raw_location else lake
    lo, hi = _check_date("--from", from_date), _check_date("--to", to_date)
    if lo and hi and lo > hi:
        raise ConfigError(f"--from {lo} is after --to {hi}: swap them")
    if lo is None and hi is None:
        clear_processed(lake)
    paths = raw_files(raw, lo, hi)
    if not paths:
        return BatchStats()
    labels = bucket_labels(spark)
    raw_at = raw_location or location

    def route(batches):  # type: ignore[no-untyped-def]
        return tasks.route_files(batches, raw_at, region, labels)

    slices = max(1, min(len(paths), spark.sparkContext.defaultParallelism * 2))
    rows = spark.sparkContext.parallelize([(path,) for path in paths], slices)
    files = spark.createDataFrame(rows, "path string")
    routed = files.mapInPandas(route, tasks.ROUTED_DDL)
    return _process_routed(spark, routed, labels, location, region, indicator_sessions)


def raw_files(raw: Lake, lo: str | None = None, hi: str | None = None) -> list[str]:
    """The raw zone's files (lake paths), optionally by UTC arrival date (their dt=)."""
    paths = []
    for path in raw.list(RAW.prefix):
        dt = tasks.path_dt(path)
        if path.endswith(".jsonl") and not ((lo and dt < lo) or (hi and dt > hi)):
            paths.append(path)
    return sorted(paths)
