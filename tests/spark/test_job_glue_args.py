"""Issue 18, items 6 and 9: the job's region, `job.init`'s arguments, `--once` on EMR.

`awsglue` exists only inside Glue. For the Glue entry path a minimal `awsglue` package
is written to a temporary folder: its `getResolvedOptions` parses `--name value` pairs
with argparse and returns a dict of strings, as the awsglue source does; its `Job`
records what `init` received. The job itself runs unchanged on the shared session.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from stockpipe.spark.job import main, resolve_region, stream_label

pytestmark = [pytest.mark.spark, pytest.mark.integration]

FAKE_AWSGLUE = {
    "__init__.py": "",
    "utils.py": """
        import argparse

        def getResolvedOptions(args, options):
            parser = argparse.ArgumentParser()
            for option in options:
                parser.add_argument("--" + option, required=True)
            return vars(parser.parse_known_args(args[1:])[0])
    """,
    "context.py": """
        from pyspark.sql import SparkSession

        class GlueContext:
            def __init__(self, sc):
                self.spark_session = SparkSession.builder.getOrCreate()
    """,
    "job.py": """
        CALLS = []

        class Job:
            def __init__(self, context):
                self.context = context

            def init(self, name, args):
                CALLS.append(("init", name, args))

            def commit(self):
                CALLS.append(("commit",))
    """,
}


@pytest.fixture
def awsglue(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    package = tmp_path / "glue-libs" / "awsglue"
    package.mkdir(parents=True)
    for name, body in FAKE_AWSGLUE.items():
        (package / name).write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(package.parent))
    for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
        del sys.modules[name]


def test_glue_job_init_gets_the_resolved_options_dict_of_strings(
    spark, awsglue, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "lake"
    argv = ["--JOB_NAME", "stockpipe-dev-process-bars", "--source", "raw", "--out", str(out),
            "--window_seconds", "30", "--metrics", "none"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    from awsglue.job import CALLS  # type: ignore[import-not-found]

    assert CALLS[-1] == ("commit",)
    kind, name, args = CALLS[0]
    assert (kind, name) == ("init", "stockpipe-dev-process-bars")
    assert args == {
        "JOB_NAME": "stockpipe-dev-process-bars", "source": "raw", "out": str(out),
        "window_seconds": "30", "metrics": "none",
    }  # fmt: skip
    assert all(isinstance(v, str) for v in args.values())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mode"] == "batch"


def test_once_with_the_emr_kinesis_connector_fails_with_a_clear_message(tmp_path, capsys) -> None:
    code = main(["--source", "kinesis", "--stream-name", "bars", "--region", "eu-west-1",
                 "--once", "--checkpoint", str(tmp_path / "ck"), "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "--once is not supported with --source kinesis on EMR" in err
    assert "availableNow" in err


def test_region_and_stream_dimension_come_from_the_job(monkeypatch) -> None:
    from stockpipe.spark.job import parser

    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    args = parser().parse_args(["--source", "raw", "--out", "s3://lake-bucket"])
    assert resolve_region(args) is None  # S3Lake will ask the bucket
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve_region(args) == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert resolve_region(args) == "ap-south-1"
    args.region = "eu-west-1"
    assert resolve_region(args) == "eu-west-1"
    assert stream_label(args) == "raw"
    args.stream_arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/stockpipe-dev-bars"
    assert stream_label(args) == "stockpipe-dev-bars"
