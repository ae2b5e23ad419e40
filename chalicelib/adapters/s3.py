"""S3: a trail's log files, listed under a prefix and read. Used by ``sgguard replay s3://...`` with the
operator's own credentials; the Lambda never reads S3, and its policy does not allow it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from chalicelib.adapters import clients


class S3Unavailable(RuntimeError):
    """A listing or an object could not be read; the message carries AWS's error (the caller names
    the bucket and key: the message does not repeat them)."""


def _words(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', str(error))}"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found (configure a profile, or replay local files)"
    return str(error)


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str
    size: int

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, prefix)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError("expected s3://bucket/prefix")
    return bucket, prefix


def objects(bucket: str, prefix: str) -> Iterator[S3Object]:
    """Every object under the prefix, in key order (S3 lists keys sorted), one page at a time."""
    paginator = clients.s3().get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield S3Object(bucket, item["Key"], item.get("Size", 0))
    except (ClientError, BotoCoreError) as error:
        raise S3Unavailable(_words(error)) from error


def open_object(obj: S3Object) -> Any:
    """The object's body: a stream with ``read(n)``, read as it is consumed."""
    try:
        return clients.s3().get_object(Bucket=obj.bucket, Key=obj.key)["Body"]
    except (ClientError, BotoCoreError) as error:
        raise S3Unavailable(_words(error)) from error
