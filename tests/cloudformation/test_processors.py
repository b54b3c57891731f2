"""ProcessorControl paths moto cannot show (its job runs end at once), against botocore Stubber.

Also the EMR bootstrap script's argument handling, run with bash.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from stockpipe.aws.deploy import EMR_BOOTSTRAP
from stockpipe.aws.processors import (
    JOB_NAME,
    KINESIS_CONNECTOR_JAR,
    ProcessorControl,
    ProcessorError,
    emr_step,
    engine_of,
    how_to_run,
)
from stockpipe.errors import ConfigError

ARGS = ["--source", "kinesis", "--stream-name", "s", "--out", "s3://lake", "--checkpoint", "s3://lake/_checkpoints/emr-process-bars/"]  # fmt: skip
APP_ARN = "arn:aws:emr-serverless:us-east-1:123456789012:/applications/app1"
OUTPUTS = {
    "ProcessingEngine": "emr-serverless",
    "LakeLocation": "s3://lake",
    "EmrServerlessApplicationId": "app1",
    "EmrServerlessJobRoleArn": "arn:aws:iam::123456789012:role/stockpipe-dev-emr-serverless-us-east-1",
    "EmrClusterId": "j-1",
    "SparkEntryPoint": "s3://artifacts/glue/process_bars.py",
    "SparkJobArguments": json.dumps(ARGS),
}


class _Session:
    def __init__(self) -> None:
        real = boto3.session.Session(
            aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
        )
        self.clients = {n: real.client(n) for n in ("emr", "emr-serverless")}

    def client(self, name: str, region_name: str | None = None) -> Any:
        return self.clients[name]


@pytest.fixture
def stubbed() -> tuple[ProcessorControl, dict[str, Stubber], list[str]]:
    session = _Session()
    messages: list[str] = []
    control = ProcessorControl(session, "us-east-1", echo=messages.append, poll_seconds=0)
    stubs = {name: Stubber(c) for name, c in session.clients.items()}
    for stub in stubs.values():
        stub.activate()
    return control, stubs, messages


def _runs(*states: str) -> dict[str, Any]:
    return {
        "jobRuns": [
            {
                "applicationId": "app1",
                "id": f"run{i}",
                "arn": f"{APP_ARN}/jobruns/run{i}",
                "createdBy": "arn:aws:iam::123456789012:user/me",
                "createdAt": "2026-12-01T00:00:00Z",
                "updatedAt": "2026-12-01T00:00:00Z",
                "executionRole": OUTPUTS["EmrServerlessJobRoleArn"],
                "state": state,
                "stateDetails": "-",
                "releaseLabel": "emr-7.12.0",
            }
            for i, state in enumerate(states)
        ]
    }


def test_serverless_run_is_a_streaming_job_with_retries(stubbed):  # type: ignore[no-untyped-def]
    control, stubs, messages = stubbed
    stub = stubs["emr-serverless"]
    stub.add_response("list_job_runs", _runs(), {"applicationId": "app1", "states": ANY})
    expected = {
        "applicationId": "app1",
        "executionRoleArn": OUTPUTS["EmrServerlessJobRoleArn"],
        "name": JOB_NAME,
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": 5},
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": "s3://artifacts/glue/process_bars.py",
                "entryPointArguments": ARGS,
                "sparkSubmitParameters": ANY,
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": "s3://lake/logs/emr-serverless/"}
            }
        },
    }
    stub.add_response(
        "start_job_run",
        {"applicationId": "app1", "jobRunId": "run9", "arn": f"{APP_ARN}/jobruns/run9"},
        expected,
    )
    assert control.start_serverless_run(OUTPUTS) == "run9"
    stub.assert_no_pending_responses()
    assert "bills until cancelled" in messages[-1]


def test_serverless_leaves_an_active_run_alone(stubbed):  # type: ignore[no-untyped-def]
    control, stubs, messages = stubbed
    stubs["emr-serverless"].add_response(
        "list_job_runs", _runs("RUNNING"), {"applicationId": "app1", "states": ANY}
    )
    assert control.start_serverless_run(OUTPUTS) == "run0"  # and no start_job_run call
    assert "already active" in messages[-1]


def test_stop_serverless_cancels_runs_and_waits_for_the_stop(stubbed):  # type: ignore[no-untyped-def]
    control, stubs, messages = stubbed
    stub = stubs["emr-serverless"]
    stub.add_response("list_job_runs", _runs("RUNNING"), {"applicationId": "app1", "states": ANY})
    stub.add_response("cancel_job_run", {"applicationId": "app1", "jobRunId": "run0"},
                      {"applicationId": "app1", "jobRunId": "run0"})  # fmt: skip

    def app(state: str) -> dict[str, Any]:
        return {
            "application": {
                "applicationId": "app1", "arn": APP_ARN, "releaseLabel": "emr-7.12.0", "type": "Spark",
                "state": state, "createdAt": "2026-12-01T00:00:00Z",
                "updatedAt": "2026-12-01T00:00:00Z",
            }
        }  # fmt: skip

    stub.add_response("get_application", app("STARTED"), {"applicationId": "app1"})
    stub.add_response("stop_application", {}, {"applicationId": "app1"})
    stub.add_response("get_application", app("STOPPING"), {"applicationId": "app1"})
    stub.add_response("get_application", app("STOPPED"), {"applicationId": "app1"})
    assert control.stop_serverless(OUTPUTS) == 1
    stub.assert_no_pending_responses()
    assert messages == ["cancelled EMR Serverless job run run0"]


def test_emr_step_on_a_terminated_cluster_says_what_to_do(stubbed):  # type: ignore[no-untyped-def]
    control, stubs, _ = stubbed
    stubs["emr"].add_response(
        "describe_cluster",
        {"Cluster": {"Id": "j-1", "Name": "c", "Status": {"State": "TERMINATED"}}},
        {"ClusterId": "j-1"},
    )
    with pytest.raises(ProcessorError, match=r"j-1 is TERMINATED .*stockpipe destroy"):
        control.start_emr_step(OUTPUTS)


def test_emr_step_submits_in_cluster_mode_with_yarn_retries():  # type: ignore[no-untyped-def]
    step = emr_step(OUTPUTS)
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    args = step["HadoopJarStep"]["Args"]
    assert args == [
        "spark-submit", "--deploy-mode", "cluster",
        "--conf", "spark.pyspark.python=/usr/bin/python3.11",
        "--conf", "spark.yarn.maxAppAttempts=4",
        "--conf", "spark.yarn.am.attemptFailuresValidityInterval=1h",
        "s3://artifacts/glue/process_bars.py", *ARGS,
    ]  # fmt: skip
    # EMR on EC2 has the Kinesis connector on Spark's classpath; only Serverless names it.
    assert KINESIS_CONNECTOR_JAR not in " ".join(args)


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"SparkEntryPoint": "s3://a/b.py"}, "no SparkJobArguments output"),
        ({"SparkEntryPoint": "s3://a/b.py", "SparkJobArguments": "[--source"}, "is not JSON"),
        ({"SparkEntryPoint": "s3://a/b.py", "SparkJobArguments": '{"a": 1}'}, "not a list"),
    ],
)
def test_bad_stack_outputs_are_named(outputs, message):  # type: ignore[no-untyped-def]
    with pytest.raises(ProcessorError, match=message):
        emr_step(outputs)


def test_engine_and_instructions():  # type: ignore[no-untyped-def]
    assert engine_of({}) == "glue"  # stacks from before ProcessingEngine
    with pytest.raises(ConfigError, match="'spark'"):
        engine_of({"ProcessingEngine": "spark"})
    glue = how_to_run({"GlueJobName": "job1"}, "eu-west-1")
    assert "aws glue batch-stop-job-run --region eu-west-1 --job-name job1" in "\n".join(glue)
    emr = "\n".join(how_to_run({"ProcessingEngine": "emr", "EmrClusterId": "j-9"}, "us-east-1"))
    assert "aws emr cancel-steps --region us-east-1 --cluster-id j-9" in emr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        ([], 0, "no wheel given"),
        ([""], 0, "no wheel given"),
        (["/tmp/x.whl"], 2, "is not an s3:// URI of a .whl file"),
        (["s3://b/x.tar.gz"], 2, "is not an s3:// URI of a .whl file"),
    ],
)
@pytest.mark.integration  # bash in a subprocess
def test_bootstrap_script_checks_its_argument(args, code, says):  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        ["bash", str(EMR_BOOTSTRAP), *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == code
    assert says in proc.stdout + proc.stderr
