"""Shared AWS plumbing: boto3 sessions and clients, and one retry policy.

Everything goes through boto3's standard configuration (credential chain, AWS_PROFILE,
AWS_REGION, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>), so LocalStack, moto and
real AWS differ only in the environment.
"""

from __future__ import annotations

from stockpipe.aws.retry import Backoff, is_retryable, with_backoff
from stockpipe.aws.session import aws_session, client, endpoint_for

__all__ = ["Backoff", "aws_session", "client", "endpoint_for", "is_retryable", "with_backoff"]
