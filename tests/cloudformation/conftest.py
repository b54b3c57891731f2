"""Fixtures for the template tests: the parsed template and a moto server for deploys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockpipe.aws.deploy import DEFAULT_TEMPLATE, load_template

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def template_path() -> Path:
    return DEFAULT_TEMPLATE


@pytest.fixture(scope="session")
def template(template_path: Path) -> dict[str, Any]:
    return load_template(template_path)


@pytest.fixture(scope="session")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no profile, so nothing can reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@pytest.fixture(scope="module")
def cfn_moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (random port) for this module's deploys."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


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


@pytest.fixture(scope="module")
def moto_cfn_gaps() -> Iterator[None]:
    """Close two gaps of moto 5.2.5's CloudFormation that real CloudFormation does not have.

    1. AWS::S3::Bucket applies only BucketEncryption and Tags; real CloudFormation also
       applies LifecycleConfiguration, VersioningConfiguration and
       PublicAccessBlockConfiguration. We forward those (as moto resolved them from our
       template and parameters) to moto's own S3 API, so the test can check that the rules
       in the template reach the bucket.
    2. ExecuteChangeSet never computes the stack's Outputs (only CreateStack does), so we
       build them after the change set ran, from the template moto stored.
    Neither fakes anything of stockpipe's: the deploy code and the template run unchanged.
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
    try:
        yield
    finally:
        FakeBucket.create_from_cloudformation_json = classmethod(original)  # type: ignore[method-assign,assignment]
        CloudFormationBackend.execute_change_set = original_execute  # type: ignore[method-assign]
