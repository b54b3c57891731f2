"""`stockpipe deploy` and `stockpipe destroy`: the CloudFormation stack."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from stockpipe.aws.deploy import (
    DEFAULT_ARTIFACTS_DIR,
    DEFAULT_TEMPLATE,
    StackDeployer,
    export_lines,
    find_artifacts,
    load_template,
    parse_params,
)
from stockpipe.aws.glue_catalog import render_into
from stockpipe.aws.processors import ProcessorControl, engine_of, how_to_run
from stockpipe.aws.template_render import minified
from stockpipe.cli.common import settings_from
from stockpipe.config import env_help
from stockpipe.errors import ConfigError

# Progress and the change set go to stderr; stdout carries only the export lines.
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _echo(message: str) -> None:
    err.print(message, markup=False)


def deploy(
    ctx: typer.Context,
    stack_name: str = typer.Option(
        None, "--stack-name", help=f"CloudFormation stack name {env_help('stack_name')}"
    ),
    region: str = typer.Option(None, "--region", help=f"AWS region {env_help('aws_region')}"),
    param: list[str] = typer.Option(
        [], "--param", help="Template parameter KEY=VALUE (repeatable), e.g. StreamMode=ON_DEMAND"
    ),
    template: Path = typer.Option(DEFAULT_TEMPLATE, "--template", help="Template file"),
    artifacts_dir: Path = typer.Option(
        DEFAULT_ARTIFACTS_DIR, "--artifacts-dir", help="Glue artifacts (`make glue-artifacts`)"
    ),
    artifacts_bucket: str = typer.Option(
        None,
        "--artifacts-bucket",
        help="Bucket for the Glue artifacts; default stockpipe-artifacts-<account>-<region>",
    ),
    skip_artifacts: bool = typer.Option(
        False, "--skip-artifacts", help="Do not upload dist/glue (the job keeps its old code)"
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Validate the template and show the change set; change nothing"
    ),
    render: bool = typer.Option(
        False, "--render", help="Regenerate the template's Glue tables from the contract and exit"
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Do not ask before executing the change set (never asked without a terminal)",
    ),
    start_job: bool = typer.Option(
        False,
        "--start-job",
        help="Start the streaming job afterwards: the Glue job, an EMR step or an EMR "
        "Serverless job run, per ProcessingEngine (it bills while it runs)",
    ),
    poll_seconds: float = typer.Option(5.0, "--poll-seconds", help="Status polling interval"),
) -> None:
    """Upload the job artifacts, then create or update the stack through a change set."""
    if render:
        changed = render_into(template)
        _echo(f"{template}: Glue tables {'regenerated' if changed else 'already up to date'}")
        return
    settings = settings_from(ctx, stack_name=stack_name, aws_region=region)
    doc = load_template(template)
    params = parse_params(param, doc)
    # The same document as compact JSON: the commented YAML is over the inline size limit.
    body = minified(doc)
    if not dry_run and not skip_artifacts:
        find_artifacts(artifacts_dir)  # fail before touching AWS
    deployer = StackDeployer(
        settings.stack_name, settings.aws_region, echo=_echo, poll_seconds=poll_seconds
    )
    _check_emr_subnet(deployer, params)
    if dry_run:
        # A real deploy needs no separate call: CreateChangeSet validates the template too.
        _echo(f"validating {template}")
        deployer.validate(body)
    bucket = (
        params.get("ArtifactsBucket") or artifacts_bucket or deployer.default_artifacts_bucket()
    )
    params["ArtifactsBucket"] = bucket
    if not dry_run:
        deployer.ensure_artifacts_bucket(bucket)
        if not skip_artifacts:
            for key, value in deployer.upload_artifacts(bucket, artifacts_dir).items():
                params.setdefault(key, value)
    plan = deployer.create_change_set(
        body,
        params,
        artifacts_bucket=None if dry_run else bucket,
        declared=doc.get("Parameters", {}),
    )
    if plan.empty:
        _echo(f"stack {settings.stack_name}: no changes")
        if dry_run:
            deployer.discard(plan)
    else:
        _echo(f"change set for {settings.stack_name} ({plan.change_set_type}):")
        for change in plan.changes:
            _echo(f"  {change}")
        if dry_run:
            deployer.discard(plan)
            _echo("dry run: change set deleted, nothing changed")
            return
        # Scripts and CI (no terminal) run what they asked for, like `aws cloudformation deploy`.
        interactive = sys.stdin.isatty()
        if interactive and not yes and not typer.confirm("Execute this change set?", err=True):
            deployer.discard(plan)
            raise typer.Abort()
        _echo("executing; waiting for the stack")
        deployer.execute(plan)
    if dry_run:
        return
    outputs = deployer.outputs()
    for line in how_to_run(outputs, deployer.region):
        _echo(line)
    if start_job:
        _start(deployer, outputs, poll_seconds)
        # One processor per lake: the local `process` stage must not run next to the job.
        _echo(
            f"the {engine_of(outputs)} job processes the stream now: "
            "use `stockpipe run --no-process`"
        )
    for line in export_lines(outputs):
        typer.echo(line)


def _check_emr_subnet(deployer: StackDeployer, params: dict[str, str]) -> None:
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


def _start(deployer: StackDeployer, outputs: dict[str, str], poll_seconds: float) -> None:
    engine = engine_of(outputs)
    if engine == "glue":
        deployer.start_glue_job(outputs["GlueJobName"])
        return
    control = ProcessorControl(
        deployer.session, deployer.region, echo=_echo, poll_seconds=poll_seconds
    )
    if engine == "emr":
        control.start_emr_step(outputs)
    else:
        control.start_serverless_run(outputs)


def destroy(
    ctx: typer.Context,
    stack_name: str = typer.Option(
        None, "--stack-name", help=f"CloudFormation stack name {env_help('stack_name')}"
    ),
    region: str = typer.Option(None, "--region", help=f"AWS region {env_help('aws_region')}"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    poll_seconds: float = typer.Option(5.0, "--poll-seconds", help="Status polling interval"),
) -> None:
    """Empty the data bucket (all of the lake!), then delete the stack."""
    settings = settings_from(ctx, stack_name=stack_name, aws_region=region)
    deployer = StackDeployer(
        settings.stack_name, settings.aws_region, echo=_echo, poll_seconds=poll_seconds
    )
    if not yes:
        typer.confirm(
            f"Delete stack {settings.stack_name} in {deployer.region} and EVERY object in its "
            "data bucket?",
            abort=True,
            err=True,
        )
    deployer.destroy()


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("destroy")(destroy)
