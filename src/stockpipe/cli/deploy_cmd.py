"""`stockpipe deploy` and `stockpipe destroy`: the CloudFormation stack."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from stockpipe.aws.deploy import (
    DEFAULT_ARTIFACTS_DIR,
    DEFAULT_TEMPLATE,
    ChangeSetDeclined,
    DeployRequest,
    StackDeployer,
    deploy_stack,
    export_lines,
)
from stockpipe.aws.glue_catalog import render_into
from stockpipe.cli.common import settings_from
from stockpipe.config import env_help

# Progress and the change set go to stderr; stdout carries only the export lines.
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _echo(message: str) -> None:
    err.print(message, markup=False)


def deploy(
    ctx: typer.Context,
    *,
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
    request = DeployRequest(
        stack_name=settings.stack_name,
        region=settings.aws_region,
        template=template,
        params=tuple(param),
        artifacts_dir=artifacts_dir,
        artifacts_bucket=artifacts_bucket,
        skip_artifacts=skip_artifacts,
        dry_run=dry_run,
        start_job=start_job,
        poll_seconds=poll_seconds,
    )
    try:
        outputs = deploy_stack(request, echo=_echo, confirm=lambda: _confirm(yes=yes))
    except ChangeSetDeclined:
        raise typer.Abort() from None
    if outputs is None:  # a dry run
        return
    for line in export_lines(outputs):
        typer.echo(line)


def _confirm(*, yes: bool) -> bool:
    """Whether to execute the change set shown. Scripts and CI (no terminal) run what they
    asked for, like `aws cloudformation deploy`."""
    if yes or not sys.stdin.isatty():
        return True
    return typer.confirm("Execute this change set?", err=True)


def destroy(
    ctx: typer.Context,
    *,
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
