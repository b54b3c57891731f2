"""A lake in S3: s3://bucket/prefix, same layout as the local lake.

Object bytes are read and written through pyarrow's S3 filesystem (the same one that
engines use for Parquet); listing, existence checks and deletes use boto3. A PUT
replaces an object atomically, so no temporary objects are needed. Both paths retry
SlowDown, throttling and 5xx replies with capped exponential backoff and jitter.
Endpoint and credentials come from boto3's standard chain (AWS_PROFILE,
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3), so moto, LocalStack and AWS differ only in the
environment. The region is, in order: the one passed in (a Spark job's --region),
AWS_REGION, AWS_DEFAULT_REGION, the bucket's own (pyarrow.fs.resolve_s3_region), us-east-1.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlparse

import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError

from stockpipe.aws.retry import Backoff, error_code, with_backoff
from stockpipe.aws.session import aws_session, client, endpoint_for
from stockpipe.errors import ConfigError, LakeError
from stockpipe.lake.base import TMP_PREFIX, Lake, safe_relpath

T = TypeVar("T")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
DEFAULT_REGION = "us-east-1"
_BUCKET_REGIONS: dict[str, str | None] = {}
_REGIONS_LOCK = threading.Lock()


def configured_region() -> str | None:
    """The region the environment names: AWS_REGION (or stockpipe.toml), then
    AWS_DEFAULT_REGION; None when neither is set (settings' built-in default ignored)."""
    from stockpipe.config import load_settings

    loaded = load_settings()
    if loaded.origins.get("aws_region", "default") != "default":
        return loaded.settings.aws_region
    return os.environ.get("AWS_DEFAULT_REGION") or None


def bucket_region(bucket: str) -> str | None:
    """The bucket's own region, asked of S3 once per process (None if it cannot be asked).

    Spark tasks on Glue or EMR may have no region in their environment, and pyarrow's
    S3 filesystem does not follow a cross-region redirect, so a guessed us-east-1 would
    fail on any other region. Against an emulator (an endpoint override) nothing is asked.
    """
    if endpoint_for("s3"):
        return None
    with _REGIONS_LOCK:
        if bucket not in _BUCKET_REGIONS:
            try:
                _BUCKET_REGIONS[bucket] = pafs.resolve_s3_region(bucket)
            except (OSError, ValueError):
                _BUCKET_REGIONS[bucket] = None
        return _BUCKET_REGIONS[bucket]


def parse_s3_uri(location: str) -> tuple[str, str]:
    """("bucket", "prefix") from s3://bucket/prefix; the prefix may be empty."""
    parsed = urlparse(location)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    if parsed.scheme != "s3" or not _BUCKET_RE.match(bucket or ""):
        raise ConfigError(
            f"lake location {location!r} is not s3://bucket[/prefix] with a valid bucket name; "
            "fix STOCKPIPE_LAKE or S3_BUCKET_NAME"
        )
    if prefix:
        safe_relpath(prefix)
    return bucket, prefix


class S3Lake(Lake):
    def __init__(
        self,
        location: str,
        region: str | None = None,
        session: Any = None,
        s3_client: Any = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.bucket, self.prefix = parse_s3_uri(location)
        self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.region = region or configured_region() or bucket_region(self.bucket) or DEFAULT_REGION
        self._session = session
        self._client = s3_client
        self.backoff = backoff or Backoff()
        self._fs: pafs.S3FileSystem | None = None
        self._fs_key: tuple[str, str | None] | None = None
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = aws_session(self.region)
        return self._session

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = client("s3", self.region, self.session)
        return self._client

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's S3 filesystem with boto3's credentials, region and endpoint.

        Rebuilt when boto3 refreshes temporary credentials (an instance or task role),
        so a long-running stage never writes with expired keys.
        """
        creds = self.session.get_credentials()
        if creds is None:
            raise ConfigError(
                "no AWS credentials found for the S3 lake: set AWS_PROFILE, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role"
            )
        frozen = creds.get_frozen_credentials()
        key = (frozen.access_key, frozen.token)
        with self._lock:
            if self._fs is None or self._fs_key != key:
                kwargs: dict[str, Any] = {
                    "access_key": frozen.access_key,
                    "secret_key": frozen.secret_key,
                    "session_token": frozen.token,
                    "region": self.region,
                    # with_backoff is the one retry policy (see stockpipe.aws.retry).
                    "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=1),
                }
                endpoint = endpoint_for("s3")
                if endpoint:
                    url = urlparse(endpoint)
                    kwargs["endpoint_override"] = url.netloc + url.path.rstrip("/")
                    kwargs["scheme"] = url.scheme or "https"
                self._fs = pafs.S3FileSystem(**kwargs)
                self._fs_key = key
            return self._fs

    def key(self, relpath: str) -> str:
        relpath = safe_relpath(relpath)
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def _arrow_path(self, relpath: str) -> str:
        return f"{self.bucket}/{self.key(relpath)}"

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        try:
            return with_backoff(fn, what, self.backoff)
        except FileNotFoundError:
            raise
        except ClientError as exc:
            code = error_code(exc)
            if code in ("NoSuchBucket",):
                raise LakeError(
                    f"bucket {self.bucket!r} does not exist ({what}); create it or fix "
                    "STOCKPIPE_LAKE / S3_BUCKET_NAME"
                ) from exc
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise LakeError(
                    f"{what} was denied ({code}); check the AWS credentials and the "
                    "IAM policy in docs/aws.md"
                ) from exc
            raise LakeError(f"{what} failed after retries: {exc}") from exc
        except (OSError, BotoCoreError) as exc:
            raise LakeError(f"{what} failed after retries: {exc}") from exc

    # -- Lake ----------------------------------------------------------------

    def uri(self, relpath: str) -> str:
        return f"s3://{self._arrow_path(relpath)}"

    def read_bytes(self, relpath: str) -> bytes:
        path = self._arrow_path(relpath)

        def read() -> bytes:
            with self.filesystem().open_input_stream(path) as fh:
                return bytes(fh.read())

        return self._retry(read, f"reading {self.uri(relpath)}")

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = self._arrow_path(relpath)

        def write() -> None:
            # One PUT (or one completed multipart upload): readers see old or new bytes.
            with self.filesystem().open_output_stream(path) as fh:
                fh.write(data)

        self._retry(write, f"writing {self.uri(relpath)}")

    def exists(self, relpath: str) -> bool:
        key = self.key(relpath)

        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
            return True

        return bool(self._retry(head, f"checking {self.uri(relpath)}"))

    def list(self, prefix: str) -> list[str]:
        if prefix:
            base = self.key(prefix.rstrip("/")) + "/"
        else:
            base = f"{self.prefix}/" if self.prefix else ""
        strip = len(f"{self.prefix}/") if self.prefix else 0
        out: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base}
            if token:
                kwargs["ContinuationToken"] = token
            reply: dict[str, Any] = self._retry(
                partial(self.client.list_objects_v2, **kwargs),
                f"listing s3://{self.bucket}/{base}",
            )
            for obj in reply.get("Contents", []):
                rel = obj["Key"][strip:]
                if rel.endswith("/") or any(p.startswith(TMP_PREFIX) for p in rel.split("/")):
                    continue
                out.append(rel)
            token = reply.get("NextContinuationToken") if reply.get("IsTruncated") else None
            if not token:
                return sorted(out)

    def delete(self, relpath: str) -> None:
        key = self.key(relpath)
        self._retry(
            lambda: self.client.delete_object(Bucket=self.bucket, Key=key),
            f"deleting {self.uri(relpath)}",
        )

    def arrow_filesystem(self) -> tuple[object, str]:
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return self.filesystem(), base
