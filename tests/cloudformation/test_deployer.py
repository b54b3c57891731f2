"""StackDeployer paths the moto deploy does not reach, against botocore's Stubber."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stockpipe.aws.deploy import DeployError, StackDeployer

STACK = "stockpipe-unit"


class _Session:
    """Hands out one pre-built client per service, so each can be stubbed."""

    region_name = "us-east-1"

    def __init__(self) -> None:
        real = boto3.session.Session(
            aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
        )
        self.clients = {n: real.client(n) for n in ("cloudformation", "s3", "glue", "sts")}

    def client(self, name: str, region_name: str | None = None) -> Any:
        return self.clients[name]


@pytest.fixture
def stubbed() -> tuple[StackDeployer, dict[str, Stubber], list[str]]:
    session = _Session()
    messages: list[str] = []
    deployer = StackDeployer(STACK, session=session, echo=messages.append, poll_seconds=0)
    stubs = {name: Stubber(c) for name, c in session.clients.items()}
    for stub in stubs.values():
        stub.activate()
    return deployer, stubs, messages


def _stack(status: str) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "StackId": "arn:aws:cloudformation:us-east-1:1:stack/x/1",
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
            }
        ]
    }


def test_start_glue_job_starts_when_idle(stubbed):  # type: ignore[no-untyped-def]
    deployer, stubs, messages = stubbed
    glue = stubs["glue"]
    glue.add_response(
        "get_job_runs",
        {"JobRuns": [{"Id": "jr_old", "JobRunState": "FAILED"}]},
        {"JobName": "job", "MaxResults": 10},
    )
    glue.add_response("start_job_run", {"JobRunId": "jr_new"}, {"JobName": "job"})
    assert deployer.start_glue_job("job") == "jr_new"
    glue.assert_no_pending_responses()
    assert "bills until you stop it" in messages[-1]


def test_start_glue_job_leaves_a_running_job_alone(stubbed):  # type: ignore[no-untyped-def]
    deployer, stubs, _ = stubbed
    stubs["glue"].add_response(
        "get_job_runs",
        {"JobRuns": [{"Id": "jr_live", "JobRunState": "RUNNING"}]},
        {"JobName": "job", "MaxResults": 10},
    )
    assert deployer.start_glue_job("job") == "jr_live"  # and no start_job_run call


def test_rolled_back_stack_must_be_destroyed_first(stubbed):  # type: ignore[no-untyped-def]
    deployer, stubs, _ = stubbed
    stubs["cloudformation"].add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    with pytest.raises(DeployError, match="ROLLBACK_COMPLETE.*stockpipe destroy"):
        deployer.create_change_set("Resources: {}", {})


def test_failed_stack_reports_resource_reasons(stubbed):  # type: ignore[no-untyped-def]
    deployer, stubs, _ = stubbed
    cfn = stubs["cloudformation"]
    cfn.add_response("execute_change_set", {})
    cfn.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"))
    cfn.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE"))
    event = {
        "StackId": "s",
        "EventId": "e",
        "StackName": STACK,
        "Timestamp": "2026-01-01T00:00:00Z",
        "LogicalResourceId": "GlueJob",
        "ResourceStatus": "UPDATE_FAILED",
        "ResourceStatusReason": "Worker type G.025X is not supported",
    }
    cfn.add_response("describe_stack_events", {"StackEvents": [event]})
    from stockpipe.aws.deploy import ChangeSetPlan

    plan = ChangeSetPlan(name="cs", stack_id="s", change_set_type="UPDATE")
    with pytest.raises(DeployError, match="UPDATE_ROLLBACK_COMPLETE: GlueJob: Worker type"):
        deployer.execute(plan)
