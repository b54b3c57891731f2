"""The `process_bars` job: argument parsing and the three ways to run it.

    --source raw                 batch: raw-data/ -> processed-data/ (reprocess_spark)
    --source raw --stream        Structured Streaming over new raw-data/ files
    --source kinesis             Structured Streaming from Kinesis: on AWS Glue through
                                 glueContext (when awsglue is importable), elsewhere
                                 (EMR) through the `aws-kinesis` connector

On Glue, job parameters arrive as `--name value` pairs and are read with
`awsglue.utils.getResolvedOptions`; everywhere else with argparse. Both accept the
same names (Glue spells them with underscores: --raw_location is --raw).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from stockpipe.contract import parse_sessions
from stockpipe.errors import ConfigError, StockpipeError

GLUE_ARGS = ("source", "out")
GLUE_OPTIONAL = (
    "raw",
    "from",
    "to",
    "stream",
    "checkpoint",
    "stream_arn",
    "stream_name",
    "region",
    "endpoint_url",
    "starting_position",
    "window_seconds",
    "metrics",
    "indicator_sessions",
)
METRICS_CHOICES = ("none", "cloudwatch")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="process_bars",
        description="stockpipe on Spark: raw-data/ or Kinesis -> processed-data/ and quarantine/",
    )
    p.add_argument("--source", choices=("raw", "kinesis"), required=True)
    p.add_argument("--out", required=True, help="Output lake: a folder or s3://bucket/prefix")
    p.add_argument("--raw", help="Lake whose raw-data/ is read (default: --out)")
    p.add_argument("--from", dest="from_date", help="First UTC arrival date, YYYY-MM-DD")
    p.add_argument("--to", dest="to_date", help="Last UTC arrival date, YYYY-MM-DD")
    p.add_argument("--stream", action="store_true", help="With --source raw: stream new files")
    p.add_argument("--once", action="store_true", help="Streaming: drain what exists, then stop")
    p.add_argument("--checkpoint", help="Streaming checkpoint location (required to stream)")
    p.add_argument("--max-files-per-trigger", type=int, default=None)
    p.add_argument("--interval-seconds", type=int, default=60, help="Micro-batch interval")
    p.add_argument("--stream-arn", help="Glue: Kinesis stream ARN")
    p.add_argument("--stream-name", help="EMR: Kinesis stream name")
    p.add_argument(
        "--region",
        default=None,
        help="AWS region of the lake, stream and metrics (default: AWS_REGION, "
        "AWS_DEFAULT_REGION, else the bucket's own region)",
    )
    p.add_argument(
        "--metrics",
        choices=METRICS_CHOICES,
        default=None,
        help="Send StockPipe metrics per batch (default: cloudwatch on Glue, else none)",
    )
    p.add_argument("--endpoint-url", default=None)
    p.add_argument("--starting-position", default="TRIM_HORIZON")
    p.add_argument("--master", default=None, help="Spark master (default: from spark-submit)")
    p.add_argument(
        "--indicator-sessions",
        default=None,
        help="Batch: bars the indicators run over, 'all' or e.g. 'regular' (default: the "
        "lake's recorded choice, or all)",
    )
    return p


def _glue_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """Glue job parameters, when running inside Glue; None elsewhere."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        return None
    names = list(GLUE_ARGS) + [n for n in GLUE_OPTIONAL if f"--{n}" in argv]
    opts = getResolvedOptions(list(argv), ["JOB_NAME", *names])
    ns = parser().parse_args(["--source", opts["source"], "--out", opts["out"]])
    ns.raw, ns.from_date, ns.to_date = opts.get("raw"), opts.get("from"), opts.get("to")
    ns.stream = str(opts.get("stream", "false")).lower() == "true"
    ns.checkpoint = opts.get("checkpoint")
    ns.stream_arn, ns.stream_name = opts.get("stream_arn"), opts.get("stream_name")
    ns.region = opts.get("region", ns.region)
    ns.endpoint_url = opts.get("endpoint_url")
    ns.starting_position = opts.get("starting_position", ns.starting_position)
    ns.interval_seconds = int(opts.get("window_seconds", ns.interval_seconds))
    metrics = opts.get("metrics") or "cloudwatch"
    if metrics not in METRICS_CHOICES:
        raise ConfigError(
            f"--metrics {metrics!r} is unknown: use one of {', '.join(METRICS_CHOICES)}"
        )
    ns.metrics = metrics
    ns.job_name = opts["JOB_NAME"]
    # Job.init hands these to the JVM as a map of strings: Glue's own dict, as resolved,
    # not our Namespace (whose bools, ints and None the JVM cannot take).
    ns.glue_options = opts
    ns.indicator_sessions = opts.get("indicator_sessions")
    return ns


def resolve_region(args: argparse.Namespace) -> str | None:
    """The job's region: --region, AWS_REGION, AWS_DEFAULT_REGION; None lets S3Lake ask
    the bucket (pyarrow.fs.resolve_s3_region)."""
    return args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def stream_label(args: argparse.Namespace) -> str:
    """The `stream` dimension of the job's metrics: the Kinesis stream's name, as the
    `process` stage and the alarms use it; "raw" for the raw-zone sources."""
    if args.stream_name:
        return str(args.stream_name)
    if args.stream_arn and "stream/" in args.stream_arn:
        return str(args.stream_arn).rsplit("stream/", 1)[1]
    return "raw"


def job_metrics(args: argparse.Namespace, region: str | None) -> Any:
    """A StageMetrics for the `process` stage on CloudWatch, or None (--metrics none)."""
    if (getattr(args, "metrics", None) or "none") == "none":
        return None
    from stockpipe.aws.session import client
    from stockpipe.metrics.cloudwatch import CloudWatchMetrics
    from stockpipe.metrics.stage import StageMetrics

    label = stream_label(args)
    return StageMetrics(CloudWatchMetrics(client("cloudwatch", region), label), "process", label)


def run(args: argparse.Namespace, glue_context: Any = None) -> dict[str, Any]:
    """Run the job described by `args`; returns a JSON-able summary."""
    from stockpipe.lake import open_lake
    from stockpipe.spark import streaming
    from stockpipe.spark.batch import reprocess_spark
    from stockpipe.spark.session import build_session

    streaming_job = args.source == "kinesis" or args.stream
    sessions = None
    if getattr(args, "indicator_sessions", None):
        try:
            sessions = parse_sessions(args.indicator_sessions)
        except ValueError as exc:
            raise ConfigError(f"--indicator-sessions: {exc}") from None
    if streaming_job and not args.checkpoint:
        raise ConfigError("streaming needs --checkpoint: give a folder or s3:// location")
    if args.source == "kinesis" and glue_context is None and getattr(args, "once", False):
        # The awslabs Kinesis connector (shipped with EMR 7.1+) has no availableNow support.
        raise ConfigError(
            "--once is not supported with --source kinesis on EMR: the Kinesis connector "
            "cannot run availableNow; drop --once (micro-batches every --interval-seconds), "
            "or archive to raw-data/ and run --source raw --stream --once"
        )
    region = resolve_region(args)
    if glue_context is not None:
        spark = glue_context.spark_session
    else:
        master = args.master
        if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
            # Plain `python process_bars.py` (no spark-submit, no active session): local.
            master = "local[*]"
        spark = build_session(master, "stockpipe-process-bars")
    if not streaming_job:
        stats = reprocess_spark(
            spark,
            args.out,
            args.from_date,
            args.to_date,
            args.raw,
            region,
            indicator_sessions=sessions,
        )
        return {"mode": "batch", **stats.to_state()}
    metrics = job_metrics(args, region)
    if args.source == "kinesis" and glue_context is not None:
        if not args.stream_arn:
            raise ConfigError("--source kinesis on Glue needs --stream_arn")
        frame = streaming.glue_kinesis_stream(glue_context, args.stream_arn, args.starting_position)
        streaming.run_glue_stream(
            glue_context, frame, args.out, args.checkpoint, args.interval_seconds, metrics, region
        )
        return {"mode": "glue-kinesis"}
    if args.source == "kinesis":
        if not args.stream_name:
            raise ConfigError("--source kinesis on EMR needs --stream-name")
        if not region:
            raise ConfigError("--source kinesis on EMR needs --region (or AWS_REGION)")
        frame = streaming.emr_kinesis_stream(
            spark, args.stream_name, region, args.endpoint_url, args.starting_position
        )
    else:
        raw = open_lake(args.raw or args.out, region)
        frame = streaming.raw_file_stream(spark, raw, args.max_files_per_trigger)
    query = streaming.start(
        spark,
        frame,
        args.out,
        args.checkpoint,
        available_now=args.once,
        interval_seconds=args.interval_seconds,
        metrics=metrics,
        region=region,
    )
    query.awaitTermination()
    return {"mode": "stream", "batches": len(query.recentProgress)}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        glue = _glue_args(["process_bars", *argv])
        if glue is not None:
            from awsglue.context import GlueContext
            from awsglue.job import Job
            from pyspark.context import SparkContext

            context = GlueContext(SparkContext.getOrCreate())
            job = Job(context)
            job.init(glue.job_name, glue.glue_options)
            summary = run(glue, context)
            job.commit()
        else:
            summary = run(parser().parse_args(argv))
    except StockpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(summary, sort_keys=True))
    return 0
