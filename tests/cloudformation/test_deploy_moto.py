"""`stockpipe deploy` against a moto server, then the pipeline against what it created.

moto skips the Glue, Athena and CloudWatch resources of the template (with a warning,
ignored below); those parts are covered by cfn-lint and test_template.py.
"""

from __future__ import annotations

import io

import boto3
import pytest
from cfn_support import exports_of

from stockpipe.aws.deploy import ChangeSetDeclined, DeployRequest, deploy_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning"),
]

STACK = "stockpipe-it"


def _live_stacks() -> list[str]:
    """The names of the stacks that exist (not deleted)."""
    summaries = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def test_dry_run_shows_change_set_and_creates_nothing(moto_aws, cli, glue_artifacts):  # type: ignore[no-untyped-def]
    result = cli("deploy", "--stack-name", "stockpipe-dry", "--dry-run", "--poll-seconds", "0.05")
    assert result.code == 0, result.err
    assert "change set for stockpipe-dry (CREATE)" in result.err
    assert "dry run" in result.err
    assert result.out == ""
    assert "stockpipe-dry" not in _live_stacks()
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert not any(b.startswith("stockpipe-dry") for b in buckets)


def test_deploy_without_artifacts_says_how_to_build_them(moto_aws, cli, tmp_path):  # type: ignore[no-untyped-def]
    result = cli(
        "deploy", "--stack-name", "stockpipe-noart", "--artifacts-dir", str(tmp_path / "none")
    )
    assert result.code == 2
    assert "make glue-artifacts" in result.err


def test_deploy_then_pipeline_end_to_end(moto_aws, cli, glue_artifacts, home, monkeypatch):  # type: ignore[no-untyped-def]
    result = cli(
        "deploy",
        "--stack-name", STACK,
        "--artifacts-dir", str(glue_artifacts),
        "--param", "EnvironmentName=it",
        "--param", "RetentionHours=48",
        "--param", "AlarmEmail=ops@example.com",
        "--poll-seconds", "0.05",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "change set for stockpipe-it (CREATE)" in result.err
    assert "AWS::S3::Bucket" in result.err and "DataBucket" in result.err
    env = exports_of(result.out)
    bucket = "stockpipe-it-123456789012-us-east-1"
    assert env["S3_BUCKET_NAME"] == bucket
    assert env["STOCKPIPE_LAKE"] == f"s3://{bucket}"
    assert env["KINESIS_STREAM_NAME"] == "stockpipe-it-bars"
    assert env["STOCKPIPE_STREAM"] == "kinesis"
    assert env["AWS_REGION"] == "us-east-1"

    s3 = boto3.client("s3")
    s3.head_bucket(Bucket=bucket)
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    raw = rules["raw-data-tiering"]
    assert raw["Filter"]["Prefix"] == "raw-data/"
    assert [(t["Days"], t["StorageClass"]) for t in raw["Transitions"]] == [
        (30, "STANDARD_IA"),
        (90, "GLACIER_IR"),
    ]
    assert raw["Expiration"]["Days"] == 365
    assert rules["athena-results-expiry"]["Expiration"]["Days"] == 7
    assert rules["athena-results-expiry"]["Filter"]["Prefix"] == "athena-results/"
    assert (
        rules["logs-expiry"]["Filter"]["Prefix"],
        rules["logs-expiry"]["Expiration"]["Days"],
    ) == (
        "logs/",
        30,
    )
    aborts = rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]
    assert aborts["DaysAfterInitiation"] == 1
    assert rules["processed-data-tiering"]["Status"] == "Disabled"
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    kinesis = boto3.client("kinesis")
    summary = kinesis.describe_stream_summary(StreamName="stockpipe-it-bars")
    desc = summary["StreamDescriptionSummary"]
    assert desc["StreamStatus"] == "ACTIVE"
    assert desc["RetentionPeriodHours"] == 48
    assert desc["OpenShardCount"] == 1

    artifacts = "stockpipe-artifacts-123456789012-us-east-1"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=artifacts)["Contents"]}
    assert keys == {
        "glue/process_bars.py",
        "glue/stockpipe-0.1.0-py3-none-any.whl",
        "glue/emr-bootstrap.sh",
    }
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["GlueWheelKey"] == "glue/stockpipe-0.1.0-py3-none-any.whl"
    assert params["ArtifactsBucket"] == artifacts

    # Deploying again without parameters keeps the previous values: no changes, same exports.
    again = cli("deploy", "--stack-name", STACK, "--skip-artifacts", "--poll-seconds", "0.05")
    assert again.code == 0, again.err
    assert "no changes" in again.err
    assert exports_of(again.out) == env

    # The pipeline, over HTTP, against the deployed stream and bucket.
    for key in ("AWS_REGION", "KINESIS_STREAM_NAME", "STOCKPIPE_STREAM", "STOCKPIPE_LAKE"):
        monkeypatch.setenv(key, env[key])
    ingest = cli(
        "ingest", "--source", "simulator", "--days", "1", "--symbols", "AAPL", "--seed", "1"
    )
    assert ingest.code == 0, ingest.err
    archive = cli("archive")
    assert archive.code == 0, archive.err
    process = cli("process")
    assert process.code == 0, process.err
    listed = s3.list_objects_v2(Bucket=bucket)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert any(k.startswith("raw-data/dt=") and k.endswith(".jsonl") for k in keys), keys
    assert any(k.startswith("processed-data/bars/dt=") and k.endswith(".parquet") for k in keys)
    assert any(k.startswith("processed-data/daily/dt=") for k in keys)

    # destroy asks first; "n" leaves everything in place.
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    declined = cli("destroy", "--stack-name", STACK)
    assert declined.code == 130
    assert "Delete stack stockpipe-it" in declined.err
    s3.head_bucket(Bucket=bucket)

    gone = cli("destroy", "--stack-name", STACK, "--yes", "--poll-seconds", "0.05")
    assert gone.code == 0, gone.err
    assert f"emptied s3://{bucket}" in gone.err
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket not in names
    live = [
        s["StackName"]
        for s in boto3.client("cloudformation").list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert STACK not in live


def test_a_declined_change_set_is_deleted_and_creates_nothing(moto_aws, glue_artifacts):  # type: ignore[no-untyped-def]
    asked: list[str] = []
    progress: list[str] = []
    request = DeployRequest(
        stack_name="stockpipe-no",
        region="us-east-1",
        artifacts_dir=glue_artifacts,
        poll_seconds=0.05,
    )

    def decline() -> bool:
        asked.append("execute?")
        return False

    with pytest.raises(ChangeSetDeclined, match="stockpipe-no"):
        deploy_stack(request, echo=progress.append, confirm=decline)
    assert asked == ["execute?"]
    assert "change set for stockpipe-no (CREATE):" in progress
    assert "executing; waiting for the stack" not in progress
    assert "stockpipe-no" not in _live_stacks()
