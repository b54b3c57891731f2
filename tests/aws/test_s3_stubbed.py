"""S3Lake under SlowDown: botocore Stubber for the boto3 calls, and a fake S3 endpoint
over real HTTP (pytest-httpserver) for pyarrow's reads and writes."""

from __future__ import annotations

import random

import pytest
from botocore.stub import Stubber
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stockpipe.aws.retry import Backoff, is_retryable
from stockpipe.aws.session import aws_session, client
from stockpipe.errors import ConfigError, LakeError, UnsafePathError
from stockpipe.lake.s3 import S3Lake, parse_s3_uri

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def stubbed_lake(sleeps: list[float]):
    s3 = client("s3", "us-east-1")
    lake = S3Lake(
        "s3://lake-bucket/env/dev",
        region="us-east-1",
        session=aws_session("us-east-1"),
        s3_client=s3,
        backoff=Backoff(max_attempts=3, sleep=sleeps.append, rng=random.Random(1)),
    )
    with Stubber(s3) as stubber:
        yield lake, stubber
        stubber.assert_no_pending_responses()


def _slow_down(stubber: Stubber, method: str, params: dict) -> None:
    stubber.add_client_error(
        method,
        service_error_code="SlowDown",
        service_message="Please reduce your request rate.",
        http_status_code=503,
        expected_params=params,
    )


def test_list_retries_slow_down_and_paginates(stubbed_lake, sleeps):
    lake, stubber = stubbed_lake
    first = {"Bucket": "lake-bucket", "Prefix": "env/dev/raw-data/"}
    _slow_down(stubber, "list_objects_v2", first)
    stubber.add_response(
        "list_objects_v2",
        {
            "IsTruncated": True,
            "NextContinuationToken": "t2",
            "Contents": [
                {"Key": "env/dev/raw-data/dt=2026-03-02/hour=14/s0-2.jsonl"},
                {"Key": "env/dev/raw-data/dt=2026-03-02/hour=14/.tmp-abc"},
            ],
        },
        first,
    )
    stubber.add_response(
        "list_objects_v2",
        {
            "IsTruncated": False,
            "Contents": [{"Key": "env/dev/raw-data/dt=2026-03-02/hour=14/s0-1.jsonl"}],
        },
        {**first, "ContinuationToken": "t2"},
    )
    assert lake.list("raw-data") == [
        "raw-data/dt=2026-03-02/hour=14/s0-1.jsonl",
        "raw-data/dt=2026-03-02/hour=14/s0-2.jsonl",
    ]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.1


def test_exists_retries_slow_down_then_sees_404(stubbed_lake, sleeps):
    lake, stubber = stubbed_lake
    params = {"Bucket": "lake-bucket", "Key": "env/dev/_checkpoints/process/checkpoint.json"}
    _slow_down(stubber, "head_object", params)
    _slow_down(stubber, "head_object", params)
    stubber.add_client_error("head_object", service_error_code="404", http_status_code=404)
    assert lake.exists("_checkpoints/process/checkpoint.json") is False
    assert len(sleeps) == 2


def test_slow_down_beyond_the_cap_is_a_lake_error(stubbed_lake):
    lake, stubber = stubbed_lake
    for _ in range(3):
        _slow_down(stubber, "delete_object", {"Bucket": "lake-bucket", "Key": "env/dev/x.json"})
    with pytest.raises(LakeError, match=r"deleting s3://lake-bucket/env/dev/x.json failed"):
        lake.delete("x.json")


def test_missing_bucket_names_the_fix(stubbed_lake):
    lake, stubber = stubbed_lake
    stubber.add_client_error("list_objects_v2", service_error_code="NoSuchBucket")
    with pytest.raises(LakeError, match="STOCKPIPE_LAKE"):
        lake.list("")


@pytest.mark.parametrize(
    "location",
    ["s3://", "s3://A_Bad_Bucket/x", "file:///tmp/x", "s3://bucket/../etc"],
    ids=["no-bucket", "bad-bucket-name", "not-s3", "dot-dot-prefix"],
)
def test_bad_locations_are_refused(location):
    with pytest.raises((ConfigError, UnsafePathError)):
        parse_s3_uri(location)


def test_paths_are_validated(stubbed_lake):
    lake, _ = stubbed_lake
    with pytest.raises(UnsafePathError):
        lake.key("processed-data/../../other-bucket")


@pytest.mark.parametrize(
    "message, retry",
    [
        ("AWS Error SLOW_DOWN during PutObject operation: Please reduce your request rate.", True),
        ("AWS Error UNKNOWN (HTTP status 503) during GetObject operation: No response body.", True),
        ("AWS Error ACCESS_DENIED during PutObject operation: Access Denied", False),
    ],
    ids=["slow-down", "http-503", "access-denied"],
)
def test_pyarrow_errors_are_classified(message, retry):
    assert is_retryable(OSError(message)) is retry


# -- pyarrow's S3 filesystem over real HTTP against a fake S3 that says SlowDown --------


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch):
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url_for("/").rstrip("/"))
    yield server
    server.clear()
    server.stop()


def test_pyarrow_read_retries_slow_down(fake_s3, sleeps):
    calls: list[str] = []

    def handler(request: Request) -> Response:
        calls.append(request.method)
        if len(calls) in (1, 3):  # the first HEAD, then the first GET
            return Response(SLOW_DOWN, status=503, content_type="application/xml")
        return Response(b'{"ok":1}', status=200)

    fake_s3.expect_request("/bkt/lake/a.json").respond_with_handler(handler)
    lake = S3Lake("s3://bkt/lake", region="us-east-1", backoff=Backoff(sleep=sleeps.append))
    assert lake.read_bytes("a.json") == b'{"ok":1}'
    assert calls[0] == "HEAD" and "GET" in calls
    assert len(sleeps) == 2  # one backoff per SlowDown


def test_pyarrow_write_retries_slow_down(fake_s3, sleeps):
    seen: list[tuple[str, bytes]] = []

    def handler(request: Request) -> Response:
        seen.append((request.method, request.get_data()))
        if len(seen) == 1:
            return Response(SLOW_DOWN, status=503, content_type="application/xml")
        if request.method == "POST" and "uploads" in request.args:
            return Response(
                b'<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket>'
                b"<Key>lake/b.json</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
                content_type="application/xml",
            )
        if request.method == "POST":
            return Response(
                b'<?xml version="1.0"?><CompleteMultipartUploadResult><Bucket>bkt</Bucket>'
                b'<Key>lake/b.json</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>',
                content_type="application/xml",
            )
        return Response(b"", status=200, headers={"ETag": '"e"'})

    fake_s3.expect_request("/bkt/lake/b.json").respond_with_handler(handler)
    lake = S3Lake("s3://bkt/lake", region="us-east-1", backoff=Backoff(sleep=sleeps.append))
    lake.write_bytes("b.json", b"payload")
    # The rejected attempt (initiating the upload) sent no data; the retried upload
    # carried the bytes exactly once (aws-chunked framing around them).
    assert seen[0] == ("POST", b"")
    assert sum(1 for method, body in seen if method == "PUT" and b"payload" in body) == 1
    assert len(sleeps) == 1
