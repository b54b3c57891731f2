"""boto3 sessions and clients built from the standard AWS configuration."""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from stockpipe.errors import ConfigError

# Our own `with_backoff` is the single retry policy, so botocore must not retry too:
# otherwise retries multiply and stubbed tests could not script the sequence of replies.
CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=10,
    read_timeout=60,
)


def aws_session(region: str | None = None) -> boto3.session.Session:
    """A session from the standard chain (env, AWS_PROFILE, config files, instance role).

    `region` defaults to our settings' AWS_REGION (botocore itself only reads
    AWS_DEFAULT_REGION and the profile's region).
    """
    if not region:
        from stockpipe.config import get_settings

        region = get_settings().aws_region
    try:
        return boto3.session.Session(region_name=region)
    except Exception as exc:  # ProfileNotFound and friends
        raise ConfigError(
            f"cannot build an AWS session: {exc}; check AWS_PROFILE and ~/.aws/config"
        ) from exc


def client(service: str, region: str | None = None, session: Any = None) -> Any:
    """A boto3 client whose endpoint honours AWS_ENDPOINT_URL(_<SERVICE>) (boto3 >= 1.28)."""
    session = session or aws_session(region)
    return session.client(service, region_name=region or session.region_name, config=CLIENT_CONFIG)


def endpoint_for(service: str) -> str | None:
    """The endpoint override for `service` from the environment, if any.

    boto3 reads these itself; pyarrow's S3 filesystem needs them passed explicitly.
    `service` is the boto3 name, e.g. "s3" -> AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL.
    """
    specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
    return specific or os.environ.get("AWS_ENDPOINT_URL") or None
