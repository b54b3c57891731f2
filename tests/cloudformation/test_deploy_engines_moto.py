"""`stockpipe deploy --param ProcessingEngine=emr|emr-serverless` against a moto server.

moto creates the EMR cluster of the template (AWS::EMR::Cluster; it ignores the instance
fleets, which test_engines.py checks on the rendered template) and, with the model in
conftest's moto_cfn_gaps, the EMR Serverless application. `--start-job` then talks to
moto's EMR and EMR Serverless APIs over HTTP, and `destroy` removes everything.
moto's change sets list every resource whatever the conditions, so which resources each
value creates is proved on the rendered template (test_engines.py), not here.
"""

from __future__ import annotations

import json

import boto3
import pytest
from cfn_support import exports_of

from stockpipe.aws.processors import EMR_SPARK_CONF, JOB_NAME, KINESIS_CONNECTOR_JAR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning"),
]

SUBNET = "subnet-0123456789abcdef0"
ARTIFACTS = "stockpipe-artifacts-123456789012-us-east-1"


def _live_stacks() -> list[str]:
    summaries = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def test_emr_without_subnet_fails_before_any_upload(moto_aws, cli, glue_artifacts):  # type: ignore[no-untyped-def]
    result = cli(
        "deploy", "--stack-name", "stockpipe-nosubnet", "--artifacts-dir", str(glue_artifacts),
        "--param", "ProcessingEngine=emr",
    )  # fmt: skip
    assert result.code == 2
    assert "ProcessingEngine=emr needs a subnet" in result.err
    assert "--param EmrSubnetId=subnet-" in result.err
    assert "Traceback" not in result.err
    assert "stockpipe-nosubnet" not in _live_stacks()


def test_deploy_emr_start_the_step_then_destroy(moto_aws, cli, glue_artifacts):  # type: ignore[no-untyped-def]
    stack = "stockpipe-emr"
    result = cli(
        "deploy", "--stack-name", stack, "--artifacts-dir", str(glue_artifacts),
        "--param", "EnvironmentName=emr", "--param", "ProcessingEngine=emr",
        "--param", f"EmrSubnetId={SUBNET}", "--start-job", "--poll-seconds", "0.05",
    )  # fmt: skip
    assert result.code == 0, result.err
    env = exports_of(result.out)
    bucket = env["S3_BUCKET_NAME"]

    # The same artifacts as for Glue, plus the bootstrap action that installs the wheel.
    s3 = boto3.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=ARTIFACTS)["Contents"]}
    assert {"glue/process_bars.py", "glue/emr-bootstrap.sh"} <= keys

    cfn = boto3.client("cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    assert outputs["ProcessingEngine"] == "emr"
    assert "GlueJobName" not in outputs and "EmrServerlessApplicationId" not in outputs
    cluster_id = outputs["EmrClusterId"]

    emr = boto3.client("emr")
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Name"] == "stockpipe-emr-process-bars"
    assert cluster["ReleaseLabel"].startswith("emr-7.")
    assert cluster["Status"]["State"] == "RUNNING"  # kept alive, running the streaming step
    tags = {t["Key"]: t["Value"] for t in cluster["Tags"]}
    assert tags["for-use-with-amazon-emr-managed-policies"] == "true"

    # --start-job added the streaming step, with the stack's job arguments.
    (step,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Name"] == JOB_NAME
    assert step["ActionOnFailure"] == "CONTINUE"
    args = step["Config"]["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    for conf in EMR_SPARK_CONF:
        assert args[args.index(conf) - 1] == "--conf"
    entry = args.index(f"s3://{ARTIFACTS}/glue/process_bars.py")
    assert args[entry + 1 :] == [
        "--source", "kinesis", "--stream-name", "stockpipe-emr-bars", "--region", "us-east-1",
        "--out", f"s3://{bucket}", "--checkpoint", f"s3://{bucket}/_checkpoints/emr-process-bars/",
        "--interval-seconds", "60",
    ]  # fmt: skip
    # How to start, watch and stop it is printed for the user.
    assert f"aws emr list-steps --region us-east-1 --cluster-id {cluster_id}" in result.err
    assert "aws emr cancel-steps" in result.err

    # A second --start-job finds the step pending or running and adds none.
    again = cli("deploy", "--stack-name", stack, "--skip-artifacts", "--start-job",
                "--poll-seconds", "0.05")  # fmt: skip
    assert again.code == 0, again.err
    assert len(emr.list_steps(ClusterId=cluster_id)["Steps"]) == 1
    assert "already active" in again.err

    # The cluster's logs go to the lake bucket's logs/ prefix; destroy empties it anyway.
    s3.put_object(Bucket=bucket, Key=f"logs/emr/{cluster_id}/node/i-1/bootstrap.log", Body=b"x")
    gone = cli("destroy", "--stack-name", stack, "--yes", "--poll-seconds", "0.05")
    assert gone.code == 0, gone.err
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert stack not in _live_stacks()
    state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
    assert state.startswith("TERMINAT")


def test_deploy_emr_serverless_start_a_run_then_destroy(moto_aws, cli, glue_artifacts):  # type: ignore[no-untyped-def]
    stack = "stockpipe-emrs"
    result = cli(
        "deploy", "--stack-name", stack, "--artifacts-dir", str(glue_artifacts),
        "--param", "EnvironmentName=emrs", "--param", "ProcessingEngine=emr-serverless",
        "--start-job", "--poll-seconds", "0.05",
    )  # fmt: skip
    assert result.code == 0, result.err
    env = exports_of(result.out)
    cfn = boto3.client("cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    }
    app_id = outputs["EmrServerlessApplicationId"]
    serverless = boto3.client("emr-serverless")
    app = serverless.get_application(applicationId=app_id)["application"]
    assert app["name"] == "stockpipe-emrs-process-bars"
    assert app["type"].upper() == "SPARK"
    assert app["maximumCapacity"] == {"cpu": "8 vCPU", "memory": "32 GB"}
    assert app["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": 15}

    (run,) = serverless.list_job_runs(applicationId=app_id)["jobRuns"]
    assert run["name"] == JOB_NAME
    assert run["executionRole"] == outputs["EmrServerlessJobRoleArn"]
    assert run["executionRole"].endswith(":role/stockpipe-emrs-emr-serverless-us-east-1")
    detail = serverless.get_job_run(applicationId=app_id, jobRunId=run["id"])["jobRun"]
    submit = detail["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == f"s3://{ARTIFACTS}/glue/process_bars.py"
    assert submit["entryPointArguments"] == json.loads(outputs["SparkJobArguments"])
    assert f"--jars {KINESIS_CONNECTOR_JAR}" in submit["sparkSubmitParameters"]
    for conf in ("spark.executor.instances=1", "spark.dynamicAllocation.enabled=false"):
        assert f"--conf {conf}" in submit["sparkSubmitParameters"]
    logs = detail["configurationOverrides"]["monitoringConfiguration"]
    assert (
        logs["s3MonitoringConfiguration"]["logUri"]
        == f"{env['STOCKPIPE_LAKE']}/logs/emr-serverless/"
    )
    assert f"aws emr-serverless cancel-job-run --region us-east-1 --application-id {app_id}" in (
        result.err
    )

    # moto starts applications STARTED; CloudFormation cannot delete one in that state,
    # so destroy stops it first.
    gone = cli("destroy", "--stack-name", stack, "--yes", "--poll-seconds", "0.05")
    assert gone.code == 0, gone.err
    assert stack not in _live_stacks()
    assert serverless.get_application(applicationId=app_id)["application"]["state"] == "TERMINATED"
