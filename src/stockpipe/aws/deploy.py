"""Deploy and destroy the CloudFormation stack: artifacts, change sets, outputs.

`stockpipe deploy` always goes through a change set, so what will change is shown
before anything changes. Progress goes to `echo` (stderr in the CLI); the `export`
lines go to stdout, so `eval "$(stockpipe deploy)"` points the shell at the stack.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

from stockpipe.aws.processors import ProcessorControl, engine_of, how_to_run
from stockpipe.aws.template_render import minified
from stockpipe.errors import ConfigError, StockpipeError

# The template ships inside the package, so an installed wheel deploys from any folder.
DEFAULT_TEMPLATE = Path(str(resources.files("stockpipe.aws").joinpath("cloudformation"))) / (
    "stockpipe.yaml"
)
DEFAULT_ARTIFACTS_DIR = Path("dist/glue")
GLUE_SCRIPT = "process_bars.py"
ARTIFACTS_PREFIX = "glue/"
# The EMR cluster's bootstrap action (installs the wheel); the template points at this key.
EMR_BOOTSTRAP = DEFAULT_TEMPLATE.parent / "emr-bootstrap.sh"
EMR_BOOTSTRAP_KEY = ARTIFACTS_PREFIX + "emr-bootstrap.sh"
# CreateChangeSet accepts at most 51,200 bytes inline; larger templates go through S3.
MAX_TEMPLATE_BODY = 51_200
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
_ACTIVE_RUN_STATES = ("STARTING", "RUNNING", "WAITING", "STOPPING")
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")

# Stack output -> environment variable stockpipe reads (see stockpipe.config.SETTINGS).
OUTPUT_ENV = (
    ("Region", "AWS_REGION"),
    ("BucketName", "S3_BUCKET_NAME"),
    ("StreamName", "KINESIS_STREAM_NAME"),
    ("LakeLocation", "STOCKPIPE_LAKE"),
    ("AthenaWorkGroupName", "STOCKPIPE_ATHENA_WORKGROUP"),
    ("AthenaOutput", "STOCKPIPE_ATHENA_OUTPUT"),
    ("GlueDatabaseName", "STOCKPIPE_ATHENA_DATABASE"),
)
# Backends that follow from deploying to AWS at all.
FIXED_ENV = (
    ("STOCKPIPE_STREAM", "kinesis"),
    ("STOCKPIPE_SQL", "athena"),
    ("STOCKPIPE_METRICS", "cloudwatch"),
)


class DeployError(StockpipeError):
    """CloudFormation, or an upload the deploy needs, failed."""


class ChangeSetDeclined(DeployError):
    """The user did not confirm the change set; it was deleted and nothing changed."""


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no stubs: Any base
    """Reads CloudFormation YAML; short-form intrinsics (!Ref, !Sub ...) load as plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # Short forms become the long ones: !Sub x -> {"Fn::Sub": x}, !Ref x -> {"Ref": x}.
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {key: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {key: loader.construct_sequence(node, deep=True)}
    return {key: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """The template as a dict (intrinsics kept as {"Ref": ...} style values)."""
    try:
        doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(doc, dict) or "Resources" not in doc:
        raise ConfigError(f"{path} is not a CloudFormation template (no Resources section)")
    return doc


def parse_params(pairs: Iterable[str], template: dict[str, Any]) -> dict[str, str]:
    """`K=V` strings -> parameters, checked against the template's Parameters."""
    known = template.get("Parameters", {})
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {pair!r} is not KEY=VALUE, e.g. --param ShardCount=2")
        if key not in known:
            raise ConfigError(
                f"--param {key} is not a parameter of the template; known: {', '.join(known)}"
            )
        params[key] = value
    return params


def export_lines(outputs: dict[str, str]) -> list[str]:
    """`export NAME=value` lines for the shell, from the stack outputs."""
    lines = [
        f"export {env}={shlex.quote(outputs[key])}" for key, env in OUTPUT_ENV if key in outputs
    ]
    lines += [f"export {env}={value}" for env, value in FIXED_ENV]
    return lines


def find_artifacts(directory: Path) -> tuple[Path, list[Path]]:
    """The Glue script and the wheels `make glue-artifacts` put in `directory`."""
    script = directory / GLUE_SCRIPT
    if not script.is_file():
        raise ConfigError(
            f"no Glue job script at {script}: run `make glue-artifacts` first "
            "(or pass --skip-artifacts to deploy without uploading)"
        )
    return script, sorted(directory.glob("*.whl"))


@dataclass
class Change:
    action: str
    logical_id: str
    resource_type: str
    replacement: str

    def __str__(self) -> str:
        extra = f" (replacement: {self.replacement})" if self.replacement else ""
        return f"{self.action:<7} {self.resource_type:<32} {self.logical_id}{extra}"


@dataclass
class ChangeSetPlan:
    name: str
    stack_id: str
    change_set_type: str  # CREATE or UPDATE
    changes: list[Change] = field(default_factory=list)
    empty: bool = False


class StackDeployer:
    """Change-set based deploys of one stack in one account and region."""

    def __init__(
        self,
        stack_name: str,
        region: str | None = None,
        *,
        session: Any = None,
        echo: Callable[[str], None] = print,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 3600.0,
    ) -> None:
        self.stack_name = stack_name
        self.session = session or boto3.session.Session(region_name=region or None)
        self.region = self.session.region_name or "us-east-1"
        self.cfn = self.session.client("cloudformation", region_name=self.region)
        self.s3 = self.session.client("s3", region_name=self.region)
        self.echo = echo
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds

    # ------------------------------------------------------------ artifacts
    def account_id(self) -> str:
        try:
            return str(
                self.session.client("sts", region_name=self.region).get_caller_identity()["Account"]
            )
        except ClientError as exc:
            raise DeployError(f"cannot identify the AWS account: {exc}; check credentials") from exc

    def default_artifacts_bucket(self) -> str:
        return f"stockpipe-artifacts-{self.account_id()}-{self.region}"

    def ensure_artifacts_bucket(self, bucket: str) -> None:
        """Create the artifacts bucket (private, encrypted, TLS only) if it is missing."""
        try:
            self.s3.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise DeployError(f"cannot use artifacts bucket {bucket}: {exc}") from exc
        self.echo(f"creating artifacts bucket {bucket}")
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.s3.create_bucket(**kwargs)
        self.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        if not str(self.s3.meta.endpoint_url).startswith("https://"):
            # A TLS-only policy on a plain-HTTP endpoint (moto, LocalStack) locks us out.
            self.echo(f"not adding a TLS-only policy: {self.s3.meta.endpoint_url} is not HTTPS")
            return
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
        self.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def upload_artifacts(self, bucket: str, directory: Path) -> dict[str, str]:
        """Upload the script, wheel and EMR bootstrap; returns the parameters that point at them.

        Every engine gets the same artifacts: Glue and EMR Serverless ignore the bootstrap.
        """
        script, wheels = find_artifacts(directory)
        params = {"GlueScriptKey": ARTIFACTS_PREFIX + GLUE_SCRIPT, "GlueWheelKey": ""}
        uploads = [(script, params["GlueScriptKey"]), (EMR_BOOTSTRAP, EMR_BOOTSTRAP_KEY)]
        if wheels:
            # The newest wheel wins if a stale one is still lying around.
            wheel = max(wheels, key=lambda p: p.stat().st_mtime)
            params["GlueWheelKey"] = ARTIFACTS_PREFIX + wheel.name
            uploads.append((wheel, params["GlueWheelKey"]))
        for path, key in uploads:
            self.echo(f"uploading {path} -> s3://{bucket}/{key}")
            try:
                self.s3.upload_file(str(path), bucket, key)
            except (ClientError, OSError) as exc:
                raise DeployError(f"cannot upload {path} to s3://{bucket}/{key}: {exc}") from exc
        return params

    # ------------------------------------------------------------ stack state
    def stack(self) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise DeployError(f"cannot describe stack {self.stack_name}: {exc}") from exc
        return stacks[0] if stacks else None

    def outputs(self) -> dict[str, str]:
        stack = self.stack()
        if stack is None:
            raise DeployError(f"stack {self.stack_name} does not exist in {self.region}")
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def validate(self, body: str) -> None:
        try:
            self.cfn.validate_template(**self._template_arg(body, upload=False))
        except ClientError as exc:
            raise DeployError(f"CloudFormation rejected the template: {exc}") from exc

    def _template_arg(
        self, body: str, *, upload: bool, bucket: str | None = None
    ) -> dict[str, str]:
        if len(body.encode()) <= MAX_TEMPLATE_BODY:
            return {"TemplateBody": body}
        if not upload or not bucket:
            raise DeployError(
                f"the template is {len(body.encode())} bytes, over the {MAX_TEMPLATE_BODY}-byte "
                "inline limit; deploy without --dry-run so it can be uploaded to the artifacts bucket"
            )
        key = f"cloudformation/{self.stack_name}-{hashlib.sha256(body.encode()).hexdigest()[:16]}.yaml"
        self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        return {"TemplateURL": f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"}

    # ------------------------------------------------------------ change sets
    def create_change_set(
        self,
        body: str,
        params: dict[str, str],
        artifacts_bucket: str | None = None,
        declared: Iterable[str] = (),
    ) -> ChangeSetPlan:
        """A change set from `body`; on update, parameters not given keep their values.

        `declared` names the template's parameters: those the stack already has and the
        caller did not set are passed as UsePreviousValue (otherwise CloudFormation would
        silently reset them to their defaults).
        """
        existing = self.stack()
        status = existing["StackStatus"] if existing else None
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {self.stack_name} is in ROLLBACK_COMPLETE (its first create failed); "
                "run `stockpipe destroy` and deploy again"
            )
        if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
            raise DeployError(f"stack {self.stack_name} is busy ({status}); wait and retry")
        cs_type = "UPDATE" if status and status != "REVIEW_IN_PROGRESS" else "CREATE"
        name = "stockpipe-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        parameters: list[dict[str, Any]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in params.items()
        ]
        if cs_type == "UPDATE" and existing:
            previous = {p["ParameterKey"] for p in existing.get("Parameters", [])}
            parameters += [
                {"ParameterKey": k, "UsePreviousValue": True}
                for k in declared
                if k in previous and k not in params
            ]
        try:
            reply = self.cfn.create_change_set(
                StackName=self.stack_name,
                ChangeSetName=name,
                ChangeSetType=cs_type,
                Parameters=parameters,
                Capabilities=CAPABILITIES,
                Tags=[{"Key": "stockpipe:managed-by", "Value": "stockpipe deploy"}],
                **self._template_arg(body, upload=True, bucket=artifacts_bucket),
            )
        except ClientError as exc:
            if any(marker in str(exc) for marker in _NO_CHANGES):
                return ChangeSetPlan(name=name, stack_id="", change_set_type=cs_type, empty=True)
            raise DeployError(f"cannot create a change set for {self.stack_name}: {exc}") from exc
        plan = ChangeSetPlan(name=reply["Id"], stack_id=reply["StackId"], change_set_type=cs_type)
        desc = self._wait_change_set(plan.name)
        if desc["Status"] == "FAILED":
            reason = desc.get("StatusReason", "")
            if any(marker in reason for marker in _NO_CHANGES):
                plan.empty = True
                self.cfn.delete_change_set(ChangeSetName=plan.name, StackName=self.stack_name)
                return plan
            raise DeployError(f"change set for {self.stack_name} failed: {reason}")
        plan.changes = [
            Change(
                action=c["ResourceChange"].get("Action", "?"),
                logical_id=c["ResourceChange"].get("LogicalResourceId", "?"),
                resource_type=c["ResourceChange"].get("ResourceType", "?"),
                replacement=c["ResourceChange"].get("Replacement", "") or "",
            )
            for c in desc.get("Changes", [])
            if "ResourceChange" in c
        ]
        return plan

    def _wait_change_set(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            desc: dict[str, Any] = self.cfn.describe_change_set(
                ChangeSetName=name, StackName=self.stack_name
            )
            if desc["Status"] in ("CREATE_COMPLETE", "FAILED"):
                return desc
            if time.monotonic() > deadline:
                raise DeployError(f"change set {name} still {desc['Status']}; check the console")
            time.sleep(self.poll_seconds)

    def discard(self, plan: ChangeSetPlan) -> None:
        """Drop a change set that will not run (and the empty stack a CREATE left behind)."""
        if not plan.empty:  # an empty plan's change set is already gone
            self.cfn.delete_change_set(ChangeSetName=plan.name, StackName=self.stack_name)
        stack = self.stack()
        if (
            plan.change_set_type == "CREATE"
            and stack
            and stack["StackStatus"] == "REVIEW_IN_PROGRESS"
        ):
            self.cfn.delete_stack(StackName=self.stack_name)

    def execute(self, plan: ChangeSetPlan) -> dict[str, str]:
        """Run the change set, wait for the stack, return its outputs."""
        self.cfn.execute_change_set(ChangeSetName=plan.name, StackName=self.stack_name)
        status = self.wait_stack()
        if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise DeployError(
                f"stack {self.stack_name} ended in {status}: {self._failure_reasons()}"
            )
        return self.outputs()

    def wait_stack(self, *, gone_ok: bool = False) -> str:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            stack = self.stack()
            if stack is None:
                if gone_ok:
                    return "DELETE_COMPLETE"
                raise DeployError(f"stack {self.stack_name} disappeared while waiting")
            status = str(stack["StackStatus"])
            if not status.endswith("_IN_PROGRESS"):
                return status
            if time.monotonic() > deadline:
                raise DeployError(
                    f"stack {self.stack_name} still {status} after {self.timeout_seconds:.0f}s"
                )
            time.sleep(self.poll_seconds)

    def _failure_reasons(self) -> str:
        try:
            events = self.cfn.describe_stack_events(StackName=self.stack_name)["StackEvents"]
        except ClientError:
            return "see the stack events in the console"
        reasons = [
            f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}"
            for e in events
            if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")
        ]
        return "; ".join(reasons[:5]) or "see the stack events in the console"

    # ------------------------------------------------------------ Glue job
    def start_glue_job(self, job_name: str) -> str:
        """Start the streaming job unless a run is already active; returns the run id."""
        glue = self.session.client("glue", region_name=self.region)
        try:
            runs = glue.get_job_runs(JobName=job_name, MaxResults=10)["JobRuns"]
            active = [r for r in runs if r.get("JobRunState") in _ACTIVE_RUN_STATES]
            if active:
                self.echo(f"Glue job {job_name} already running ({active[0]['Id']})")
                return str(active[0]["Id"])
            run_id = str(glue.start_job_run(JobName=job_name)["JobRunId"])
        except ClientError as exc:
            raise DeployError(f"cannot start Glue job {job_name}: {exc}") from exc
        self.echo(f"started Glue job {job_name} ({run_id}); it bills until you stop it")
        return run_id

    # ------------------------------------------------------------ destroy
    def empty_bucket(self, bucket: str) -> int:
        """Delete every object version and delete marker; returns how many were deleted."""
        deleted = 0
        paginator = self.s3.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=bucket):
                keys = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
                    self.s3.delete_objects(
                        Bucket=bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
                    )
                    deleted += len(keys[i : i + 1000])
        except ClientError as exc:
            if "NoSuchBucket" in str(exc):
                return deleted
            raise DeployError(f"cannot empty bucket {bucket}: {exc}") from exc
        return deleted

    def destroy(self) -> None:
        """Empty the data bucket, delete the stack, then the bucket it retains."""
        stack = self.stack()
        if stack is None:
            raise DeployError(
                f"stack {self.stack_name} does not exist in {self.region}; nothing to destroy"
            )
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if outputs.get("ProcessingEngine") == "emr-serverless":
            # CloudFormation cannot delete an application that is started or has runs.
            ProcessorControl(
                self.session, self.region, echo=self.echo, poll_seconds=self.poll_seconds
            ).stop_serverless(outputs)
        bucket = outputs.get("BucketName")
        if bucket:
            count = self.empty_bucket(bucket)
            self.echo(f"emptied s3://{bucket} ({count} object versions)")
        self.cfn.delete_stack(StackName=self.stack_name)
        status = self.wait_stack(gone_ok=True)
        if status != "DELETE_COMPLETE":
            raise DeployError(
                f"stack {self.stack_name} ended in {status}: {self._failure_reasons()}"
            )
        if bucket:
            # An EMR cluster pushes its last logs to logs/ while CloudFormation terminates
            # it, after the first emptying: empty again before deleting the bucket.
            late = self.empty_bucket(bucket)
            if late:
                self.echo(f"emptied s3://{bucket} again ({late} object versions written meanwhile)")
            # DeletionPolicy: Retain keeps the lake if the stack is deleted by hand; here
            # the user confirmed, so the (now empty) bucket goes too.
            try:
                self.s3.delete_bucket(Bucket=bucket)
            except ClientError as exc:
                if "NoSuchBucket" not in str(exc):
                    raise DeployError(f"stack deleted, but bucket {bucket} remains: {exc}") from exc
        self.echo(f"deleted stack {self.stack_name}")


# ------------------------------------------------------------ the deploy, step by step


@dataclass(frozen=True)
class DeployRequest:
    """What `stockpipe deploy` was asked to do (its options, parsed)."""

    stack_name: str
    region: str | None
    template: Path = DEFAULT_TEMPLATE
    params: tuple[str, ...] = ()  # KEY=VALUE strings, checked against the template
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR
    artifacts_bucket: str | None = None
    skip_artifacts: bool = False
    dry_run: bool = False
    start_job: bool = False
    poll_seconds: float = 5.0


def deploy_stack(
    request: DeployRequest,
    *,
    echo: Callable[[str], None],
    confirm: Callable[[], bool],
    session: Any = None,
) -> dict[str, str] | None:
    """Upload the job artifacts, then create or update the stack through a change set.

    Progress goes to `echo`. `confirm()` is asked before a non-empty change set runs;
    False deletes it and raises ChangeSetDeclined. Returns the stack outputs, or None
    after a dry run (which validates and shows the change set, then deletes it).
    """
    dry_run = request.dry_run
    doc = load_template(request.template)
    params = parse_params(request.params, doc)
    # The same document as compact JSON: the commented YAML is over the inline size limit.
    body = minified(doc)
    if not dry_run and not request.skip_artifacts:
        find_artifacts(request.artifacts_dir)  # fail before touching AWS
    deployer = StackDeployer(
        request.stack_name,
        request.region,
        session=session,
        echo=echo,
        poll_seconds=request.poll_seconds,
    )
    check_emr_subnet(deployer, params)
    if dry_run:
        # A real deploy needs no separate call: CreateChangeSet validates the template too.
        echo(f"validating {request.template}")
        deployer.validate(body)
    bucket = (
        params.get("ArtifactsBucket")
        or request.artifacts_bucket
        or deployer.default_artifacts_bucket()
    )
    params["ArtifactsBucket"] = bucket
    if not dry_run:
        deployer.ensure_artifacts_bucket(bucket)
        if not request.skip_artifacts:
            for key, value in deployer.upload_artifacts(bucket, request.artifacts_dir).items():
                params.setdefault(key, value)
    plan = deployer.create_change_set(
        body,
        params,
        artifacts_bucket=None if dry_run else bucket,
        declared=doc.get("Parameters", {}),
    )
    if plan.empty:
        echo(f"stack {request.stack_name}: no changes")
        if dry_run:
            deployer.discard(plan)
    else:
        echo(f"change set for {request.stack_name} ({plan.change_set_type}):")
        for change in plan.changes:
            echo(f"  {change}")
        if dry_run:
            deployer.discard(plan)
            echo("dry run: change set deleted, nothing changed")
            return None
        if not confirm():
            deployer.discard(plan)
            raise ChangeSetDeclined(f"change set for {request.stack_name} not executed")
        echo("executing; waiting for the stack")
        deployer.execute(plan)
    if dry_run:
        return None
    outputs = deployer.outputs()
    for line in how_to_run(outputs, deployer.region):
        echo(line)
    if request.start_job:
        start_processor(deployer, outputs)
        # One processor per lake: the local `process` stage must not run next to the job.
        echo(
            f"the {engine_of(outputs)} job processes the stream now: use `stockpipe run --no-process`"
        )
    return outputs


def check_emr_subnet(deployer: StackDeployer, params: dict[str, str]) -> None:
    """ProcessingEngine=emr without a subnet fails here, before any upload.

    (The template's Rules tell CloudFormation the same; this says it earlier.) Parameters
    not given keep the stack's previous values, so those count too.
    """
    if params.get("ProcessingEngine", "emr") != "emr" or params.get("EmrSubnetId"):
        return
    stack = deployer.stack()
    previous = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])
    }
    engine = params.get("ProcessingEngine", previous.get("ProcessingEngine", "glue"))
    subnet = params["EmrSubnetId"] if "EmrSubnetId" in params else previous.get("EmrSubnetId")
    if engine == "emr" and not subnet:
        raise ConfigError(
            "ProcessingEngine=emr needs a subnet for the cluster: add "
            "--param EmrSubnetId=subnet-... (routes to S3, Kinesis and PyPI; see docs/deploy.md)"
        )


def start_processor(deployer: StackDeployer, outputs: dict[str, str]) -> None:
    """Start the streaming job of the stack's ProcessingEngine: Glue, an EMR step or a run."""
    engine = engine_of(outputs)
    if engine == "glue":
        deployer.start_glue_job(outputs["GlueJobName"])
        return
    control = ProcessorControl(
        deployer.session, deployer.region, echo=deployer.echo, poll_seconds=deployer.poll_seconds
    )
    if engine == "emr":
        control.start_emr_step(outputs)
    else:
        control.start_serverless_run(outputs)
