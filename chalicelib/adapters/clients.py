"""boto3 clients, created on first use and reused across invocations of a warm Lambda container.

Nothing here runs at import time: importing boto3 is paid once per cold start, creating a client only
when an event first needs one. Retries use botocore's adaptive mode with a bounded number of attempts,
so throttling slows sgguard down instead of failing it, and a lasting error still ends the invocation.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sts import STSClient

MAX_ATTEMPTS = 4
"""Calls per request, the first included (botocore's ``max_attempts`` key would count only retries)."""


@cache
def _client(service: str, region: str | None, role_arn: str | None = None) -> Any:
    """One client per service, region and identity: the function's own (``role_arn`` None) or a member
    account's remediation role, whose credentials botocore refreshes before they expire."""
    import boto3  # deferred: the pure core and the CLI's offline mode never pay for it
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=20,
        user_agent_extra="sgguard",
    )
    if role_arn is None:
        session: Any = boto3.session.Session()
    else:
        from chalicelib.adapters import assume

        session = assume.session(role_arn)
    return session.client(service, region_name=region, config=config)


@cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows EC2 in, across partitions: a client is only ever built for one of
    them (a region name AWS has not opened is refused before any call; upgrading botocore adds new ones)."""
    import boto3

    session: Any = boto3.session.Session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition)
    )


def _region(region: str | None) -> str | None:
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def ec2(region: str | None = None, role_arn: str | None = None) -> EC2Client:
    """EC2 in ``region``, as the function itself or (``role_arn``) as a member account's role."""
    client: EC2Client = _client("ec2", _region(region), role_arn)
    return client


def sns(region: str | None = None) -> SNSClient:
    client: SNSClient = _client("sns", _region(region))
    return client


def s3(region: str | None = None) -> S3Client:
    """Only the replay command reads S3 (a trail's log files); the Lambda never does."""
    client: S3Client = _client("s3", _region(region))
    return client


def sts(region: str | None = None) -> STSClient:
    client: STSClient = _client("sts", _region(region))
    return client


def dynamodb(region: str | None = None) -> DynamoDBClient:
    client: DynamoDBClient = _client("dynamodb", _region(region))
    return client


def events(region: str | None = None) -> EventBridgeClient:
    client: EventBridgeClient = _client("events", _region(region))
    return client


def securityhub(region: str | None = None, role_arn: str | None = None) -> SecurityHubClient:
    """Security Hub as the function itself or (``role_arn``) as a member account's role: a finding of
    the default product is imported by the account it is about."""
    client: SecurityHubClient = _client("securityhub", _region(region), role_arn)
    return client


def sqs(region: str | None = None) -> Any:
    """The organization sweep's producer sends its units to SQS (the consumer is fed by Lambda)."""
    return _client("sqs", _region(region))


def organizations() -> Any:
    """Organizations is global; its endpoint answers in the partition's home region."""
    return _client("organizations", _region(None))


def reset() -> None:
    """Forget every client (tests switch between moto and a moto server; the Lambda never calls it)."""
    _client.cache_clear()
    from chalicelib.adapters import assume

    assume.forget()
