"""The stack's streaming processor on EMR or EMR Serverless: start, describe, stop.

The template creates exactly one processor (`ProcessingEngine` = glue | emr |
emr-serverless) and says in its outputs what the job is: `SparkEntryPoint` (the script in
the artifacts bucket) and `SparkJobArguments` (its options, a JSON list). This module turns
those into an EMR step or an EMR Serverless job run, so the template stays the one place
that knows the job's arguments. Glue's own start lives in `deploy.StackDeployer`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from stockpipe.errors import ConfigError, StockpipeError

ENGINES = ("glue", "emr", "emr-serverless")
JOB_NAME = "stockpipe-process-bars"
# EMR 7.1+ ships the awslabs Kinesis connector. On EMR on EC2 it is on Spark's classpath;
# EMR Serverless wants it named (its documented start-job-run example does the same).
KINESIS_CONNECTOR_JAR = (
    "/usr/share/aws/kinesis/spark-sql-kinesis/lib/spark-streaming-sql-kinesis-connector.jar"
)
# The wheel needs Python >= 3.11; EMR 7 runs PySpark on 3.9 unless told otherwise.
EMR_PYTHON = "/usr/bin/python3.11"
# YARN restarts a failed driver up to 4 times; failures older than an hour are forgotten,
# so a job that fails once a day keeps being restarted (from its checkpoint).
EMR_SPARK_CONF = (
    f"spark.pyspark.python={EMR_PYTHON}",
    "spark.yarn.maxAppAttempts=4",
    "spark.yarn.am.attemptFailuresValidityInterval=1h",
)
# The smallest streaming job: one 1-vCPU driver and one 1-vCPU executor, 4 GB each (5 GB
# workers with Spark's overhead), like Glue's 2 x G.025X. Without these EMR Serverless
# starts 4-vCPU/16-GB workers and scales executors up to the application's maximum.
SERVERLESS_SPARK_CONF = (
    f"spark.emr-serverless.driverEnv.PYSPARK_PYTHON={EMR_PYTHON}",
    f"spark.executorEnv.PYSPARK_PYTHON={EMR_PYTHON}",
    "spark.driver.cores=1",
    "spark.driver.memory=4g",
    "spark.executor.cores=1",
    "spark.executor.memory=4g",
    "spark.executor.instances=1",
    "spark.dynamicAllocation.enabled=false",
)
_ACTIVE_STEP_STATES = ["PENDING", "RUNNING", "CANCEL_PENDING"]
_ACTIVE_RUN_STATES = ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED"]
# EMR Serverless retries a failed streaming run this often per hour (1-10; 1 = never).
SERVERLESS_RETRIES_PER_HOUR = 5


class ProcessorError(StockpipeError):
    """Starting, finding or stopping the stack's streaming processor failed."""


def engine_of(outputs: dict[str, str]) -> str:
    """The stack's processor; stacks from before ProcessingEngine existed run Glue."""
    engine = outputs.get("ProcessingEngine", "glue")
    if engine not in ENGINES:
        raise ConfigError(f"stack output ProcessingEngine={engine!r} is not one of {ENGINES}")
    return engine


def _require(outputs: dict[str, str], key: str, engine: str) -> str:
    if not outputs.get(key):
        raise ProcessorError(
            f"the stack has no {key} output although ProcessingEngine={engine}; "
            "deploy the current template (stockpipe deploy) first"
        )
    return outputs[key]


def spark_job_arguments(outputs: dict[str, str]) -> list[str]:
    """The job's options from the stack (`SparkJobArguments`, a JSON list of strings)."""
    raw = _require(outputs, "SparkJobArguments", "emr")
    try:
        args = json.loads(raw)
    except ValueError as exc:
        raise ProcessorError(f"stack output SparkJobArguments is not JSON: {raw!r}") from exc
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ProcessorError(f"stack output SparkJobArguments is not a list of strings: {raw!r}")
    return args


def emr_step(outputs: dict[str, str]) -> dict[str, Any]:
    """The EMR step that runs the streaming job (cluster deploy mode, so YARN restarts it)."""
    submit = ["spark-submit", "--deploy-mode", "cluster"]
    for conf in EMR_SPARK_CONF:
        submit += ["--conf", conf]
    submit.append(_require(outputs, "SparkEntryPoint", "emr"))
    return {
        "Name": JOB_NAME,
        # A failed streaming step must not take the cluster (and its Spot capacity) down.
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {
            "Jar": "command-runner.jar",
            "Args": submit + spark_job_arguments(outputs),
        },
    }


def serverless_job_run(outputs: dict[str, str]) -> dict[str, Any]:
    """StartJobRun arguments of the streaming job on EMR Serverless."""
    lake = _require(outputs, "LakeLocation", "emr-serverless")
    # The custom image (EmrServerlessImageUri) has Python 3.11 with the wheel installed;
    # driver and executors are pointed at it explicitly.
    params = " ".join(
        [f"--jars {KINESIS_CONNECTOR_JAR}"] + [f"--conf {c}" for c in SERVERLESS_SPARK_CONF]
    )
    return {
        "applicationId": _require(outputs, "EmrServerlessApplicationId", "emr-serverless"),
        "executionRoleArn": _require(outputs, "EmrServerlessJobRoleArn", "emr-serverless"),
        "name": JOB_NAME,
        # STREAMING: no execution timeout, and EMR Serverless restarts a failed run from
        # its checkpoint (the retry policy bounds how often per hour).
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": SERVERLESS_RETRIES_PER_HOUR},
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": _require(outputs, "SparkEntryPoint", "emr-serverless"),
                "entryPointArguments": spark_job_arguments(outputs),
                "sparkSubmitParameters": params,
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {
                "s3MonitoringConfiguration": {"logUri": f"{lake}/logs/emr-serverless/"}
            }
        },
    }


class ProcessorControl:
    """Start and stop the EMR or EMR Serverless processor of one stack."""

    def __init__(
        self,
        session: Any,
        region: str,
        *,
        echo: Callable[[str], None] = print,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 600.0,
    ) -> None:
        self.session = session
        self.region = region
        self.echo = echo
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    def _client(self, name: str) -> Any:
        return self.session.client(name, region_name=self.region)

    # ------------------------------------------------------------ EMR on EC2
    def start_emr_step(self, outputs: dict[str, str]) -> str:
        """Add the streaming step unless one is pending or running; returns the step id."""
        cluster_id = _require(outputs, "EmrClusterId", "emr")
        emr = self._client("emr")
        try:
            state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
            if state.startswith("TERMINAT"):
                raise ProcessorError(
                    f"EMR cluster {cluster_id} is {state} (idle longer than "
                    "EmrIdleTimeoutSeconds, or terminated by hand); run `stockpipe destroy` "
                    "and deploy again for a new cluster"
                )
            steps = emr.list_steps(ClusterId=cluster_id, StepStates=_ACTIVE_STEP_STATES)
            active = [s for s in steps.get("Steps", []) if s.get("Name") == JOB_NAME]
            if active:
                self.echo(f"EMR step {JOB_NAME} already active on {cluster_id} ({active[0]['Id']})")
                return str(active[0]["Id"])
            reply = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[emr_step(outputs)])
        except ClientError as exc:
            raise ProcessorError(f"cannot start the EMR step on {cluster_id}: {exc}") from exc
        step_id = str(reply["StepIds"][0])
        self.echo(f"added EMR step {JOB_NAME} ({step_id}) to {cluster_id}")
        return step_id

    # ------------------------------------------------------------ EMR Serverless
    def active_job_runs(self, application_id: str) -> list[str]:
        client = self._client("emr-serverless")
        try:
            pages = client.get_paginator("list_job_runs").paginate(
                applicationId=application_id, states=_ACTIVE_RUN_STATES
            )
            return [r["id"] for page in pages for r in page.get("jobRuns", [])]
        except ClientError as exc:
            raise ProcessorError(f"cannot list job runs of {application_id}: {exc}") from exc

    def start_serverless_run(self, outputs: dict[str, str]) -> str:
        """Start the streaming job run unless one is active; returns the job run id."""
        request = serverless_job_run(outputs)
        app = request["applicationId"]
        active = self.active_job_runs(app)
        if active:
            self.echo(f"EMR Serverless job run already active on {app} ({active[0]})")
            return active[0]
        try:
            run_id = str(self._client("emr-serverless").start_job_run(**request)["jobRunId"])
        except ClientError as exc:
            raise ProcessorError(f"cannot start a job run on {app}: {exc}") from exc
        self.echo(f"started EMR Serverless job run {run_id} on {app}; it bills until cancelled")
        return run_id

    def stop_serverless(self, outputs: dict[str, str]) -> int:
        """Cancel active job runs and stop the application (it must be stopped to delete).

        Returns how many runs were cancelled.
        """
        app = _require(outputs, "EmrServerlessApplicationId", "emr-serverless")
        client = self._client("emr-serverless")
        runs = self.active_job_runs(app)
        try:
            for run_id in runs:
                client.cancel_job_run(applicationId=app, jobRunId=run_id)
                self.echo(f"cancelled EMR Serverless job run {run_id}")
            state = client.get_application(applicationId=app)["application"]["state"]
            if state in ("STARTING", "STARTED"):
                client.stop_application(applicationId=app)
                self._wait_application(app)
        except ClientError as exc:
            raise ProcessorError(f"cannot stop EMR Serverless application {app}: {exc}") from exc
        return len(runs)

    def _wait_application(self, app: str) -> None:
        client = self._client("emr-serverless")
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            state = client.get_application(applicationId=app)["application"]["state"]
            if state in ("STOPPED", "CREATED", "TERMINATED"):
                return
            if time.monotonic() > deadline:
                raise ProcessorError(f"EMR Serverless application {app} still {state}")
            time.sleep(self.poll_seconds)


def how_to_run(outputs: dict[str, str], region: str) -> list[str]:
    """Lines telling the user how to start, watch and stop the stack's processor."""
    engine = engine_of(outputs)
    r = f"--region {region}"
    if engine == "glue":
        job = outputs.get("GlueJobName", "<GlueJobName>")
        return [
            f"processor: AWS Glue streaming job {job} (bills per DPU-hour while it runs)",
            "  start: stockpipe deploy --start-job",
            f"  watch: aws glue get-job-runs {r} --job-name {job} --max-items 1",
            f"  stop:  aws glue batch-stop-job-run {r} --job-name {job} --job-run-ids <run id>",
        ]
    if engine == "emr":
        cluster = outputs.get("EmrClusterId", "<EmrClusterId>")
        return [
            f"processor: EMR cluster {cluster} (bills per instance-hour until it terminates)",
            "  start: stockpipe deploy --start-job   (adds the streaming step)",
            f"  watch: aws emr list-steps {r} --cluster-id {cluster} --step-states PENDING RUNNING",
            f"  stop:  aws emr cancel-steps {r} --cluster-id {cluster} --step-ids <step id>"
            "   (the idle cluster then terminates itself; stockpipe destroy removes it at once)",
        ]
    app = outputs.get("EmrServerlessApplicationId", "<EmrServerlessApplicationId>")
    return [
        f"processor: EMR Serverless application {app} (bills per vCPU- and GB-hour of each run)",
        "  start: stockpipe deploy --start-job   (a STREAMING job run)",
        f"  watch: aws emr-serverless list-job-runs {r} --application-id {app} --states RUNNING",
        f"  stop:  aws emr-serverless cancel-job-run {r} --application-id {app} "
        "--job-run-id <run id>   (the application stops itself when idle)",
    ]
