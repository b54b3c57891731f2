"""Fixtures for the template tests: the parsed template and a moto server for deploys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stockpipe.aws.deploy import DEFAULT_TEMPLATE, load_template


@pytest.fixture(scope="session")
def template_path() -> Path:
    return DEFAULT_TEMPLATE


@pytest.fixture(scope="session")
def template(template_path: Path) -> dict[str, Any]:
    return load_template(template_path)


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def cfn_lifecycle_to_api(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CloudFormation LifecycleConfiguration rules -> the S3 API's rule shape."""
    out = []
    for rule in rules:
        api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
        api["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "Transitions" in rule:
            api["Transition"] = [
                {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
                for t in rule["Transitions"]
            ]
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": rule["ExpirationInDays"]}
        elif rule.get("ExpiredObjectDeleteMarker"):
            api["Expiration"] = {"ExpiredObjectDeleteMarker": "true"}
        if "AbortIncompleteMultipartUpload" in rule:
            days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        if "NoncurrentVersionExpiration" in rule:
            days = rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
        out.append(api)
    return out


_SERVERLESS_MODEL: list[type] = []


def _emr_gaps() -> Callable[[], None]:
    """moto's EMR in CloudFormation: two gaps real CloudFormation does not have.

    1. AWS::EMR::Cluster ignores Instances.KeepJobFlowAliveWhenNoSteps (moto reads its own
       snake_case key), so a cluster without steps ends at once; we pass the value on.
    2. AWS::EMRServerless::Application is not supported at all (the stack fails on the
       output that reads its ApplicationId). A minimal model creates the application in
       moto's own EMR Serverless backend (with the empty run list AWS reports for a new
       application), so the deploy, `--start-job` and `destroy` run against moto's EMR
       Serverless API unchanged.
    Returns the function that undoes (1); the model of (2) stays registered, harmless.
    """
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.emr.models import Cluster
    from moto.emrserverless.models import emrserverless_backends

    original = Cluster.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        instances = cloudformation_json["Properties"].get("Instances", {})
        keep = str(instances.get("KeepJobFlowAliveWhenNoSteps", "false")).lower() == "true"
        instances["keep_job_flow_alive_when_no_steps"] = keep
        return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    Cluster.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]

    class ServerlessApplication(CloudFormationModel):
        # moto's model registry files each model under the service of its module.
        __module__ = "moto.emrserverless.models"

        def __init__(self, app: Any) -> None:
            self.app = app

        @property
        def physical_resource_id(self) -> str:
            return str(self.app.id)

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::EMRServerless::Application"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("ApplicationId", "Arn")

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return str(self.app.id if attribute_name == "ApplicationId" else self.app.arn)

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[no-untyped-def,override]
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        ):
            props = cloudformation_json["Properties"]
            backend = emrserverless_backends[account_id][region_name]

            def api(block: dict[str, Any] | None) -> dict[str, Any] | None:
                # CloudFormation spells the API's fields with a capital (Cpu -> cpu) and
                # passes parameter values as strings (IdleTimeoutMinutes "15" -> 15).
                if block is None:
                    return None
                out = {k[0].lower() + k[1:]: v for k, v in block.items()}
                if "idleTimeoutMinutes" in out:
                    out["idleTimeoutMinutes"] = int(out["idleTimeoutMinutes"])
                return out

            app = backend.create_application(
                name=props["Name"],
                release_label=props["ReleaseLabel"],
                application_type=props["Type"].upper(),
                client_token=resource_name,
                initial_capacity=None,  # type: ignore[arg-type]
                maximum_capacity=api(props.get("MaximumCapacity")),  # type: ignore[arg-type]
                tags={t["Key"]: t["Value"] for t in props.get("Tags", [])},
                auto_start_configuration=api(props.get("AutoStartConfiguration")),  # type: ignore[arg-type]
                auto_stop_configuration=api(props.get("AutoStopConfiguration")),  # type: ignore[arg-type]
                network_configuration=None,
            )
            # moto's ListJobRuns answers ResourceNotFound for an application that has no
            # run yet (AWS answers an empty list); give it its empty list of runs.
            backend.job_runs.setdefault(app.id, [])
            return cls(app)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[no-untyped-def,override]
            cls, resource_name, cloudformation_json, account_id, region_name
        ):
            emrserverless_backends[account_id][region_name].delete_application(resource_name)

    if "AWS::EMRServerless::Application" not in parsing.get_model_map():
        _SERVERLESS_MODEL.append(ServerlessApplication)  # define it once per process
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()

    def undo() -> None:
        Cluster.create_from_cloudformation_json = classmethod(original)  # type: ignore[method-assign,assignment]

    return undo


@pytest.fixture(scope="module")
def moto_cfn_gaps() -> Iterator[None]:
    """Close the gaps of moto 5.2.5's CloudFormation that real CloudFormation does not have.

    1. AWS::S3::Bucket applies only BucketEncryption and Tags; real CloudFormation also
       applies LifecycleConfiguration, VersioningConfiguration and
       PublicAccessBlockConfiguration. We forward those (as moto resolved them from our
       template and parameters) to moto's own S3 API, so the test can check that the rules
       in the template reach the bucket.
    2. ExecuteChangeSet never computes the stack's Outputs (only CreateStack does), so we
       build them after the change set ran, from the template moto stored.
    3. The EMR gaps of `_emr_gaps`.
    None fakes anything of stockpipe's: the deploy code and the template run unchanged.
    """
    from moto.cloudformation.models import CloudFormationBackend
    from moto.s3.models import FakeBucket, s3_backends

    original_execute = CloudFormationBackend.execute_change_set

    def execute(self, change_set_name, stack_name=None):  # type: ignore[no-untyped-def]
        original_execute(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.name == stack_name or stack.stack_id == stack_name:
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute  # type: ignore[method-assign]

    original = FakeBucket.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        bucket = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        props = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id]["aws"]
        if "LifecycleConfiguration" in props:
            rules = cfn_lifecycle_to_api(props["LifecycleConfiguration"]["Rules"])
            backend.put_bucket_lifecycle_configuration(bucket.name, rules)
        if "VersioningConfiguration" in props:
            backend.put_bucket_versioning(bucket.name, props["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in props:
            block = {k: str(v).lower() for k, v in props["PublicAccessBlockConfiguration"].items()}
            backend.put_public_access_block(bucket.name, block)
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]
    undo_emr = _emr_gaps()
    try:
        yield
    finally:
        undo_emr()
        FakeBucket.create_from_cloudformation_json = classmethod(original)  # type: ignore[method-assign,assignment]
        CloudFormationBackend.execute_change_set = original_execute  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def glue_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-ins for `make glue-artifacts`; the deploy only uploads them."""
    path = tmp_path_factory.mktemp("dist") / "glue"
    path.mkdir()
    (path / "process_bars.py").write_text("print('glue job')\n")
    (path / "stockpipe-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return path


@pytest.fixture
def moto_aws(fake_aws_env: None, moto_server: str, moto_cfn_gaps: None, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server
