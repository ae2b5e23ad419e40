"""Who and where the person running ``sgguard audit`` is: their account, their default region and the
regions enabled in the account, asked with their own credentials (STS GetCallerIdentity, EC2
DescribeRegions). Failures become :class:`NotAsked` in the user's words, never a botocore class name.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import error_text


class NotAsked(RuntimeError):
    """AWS could not be asked; the message says why and what to do."""


def _words(error: Exception, call: str) -> NotAsked:
    if isinstance(error, NoCredentialsError):
        return NotAsked(
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE, aws sso login) "
            "or judge saved output with --from"
        )
    if isinstance(error, ClientError):
        return NotAsked(f"AWS refused {call}: {error_text(error)}")
    return NotAsked(f"could not reach AWS for {call}: {error}")


def account(region: str) -> str:
    try:
        return str(clients.sts(region).get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as error:
        raise _words(error, "sts GetCallerIdentity") from None


def region() -> str:
    """The caller's default region (AWS_REGION, AWS_DEFAULT_REGION or the profile's)."""
    try:
        name = clients.ec2().meta.region_name
    except (NoRegionError, BotoCoreError):
        name = None
    if not name:
        raise NotAsked("no region given: use --region REGION (or --all-regions), or set AWS_REGION")
    return str(name)


def enabled_regions() -> list[str]:
    """The regions enabled for the account (opt-in regions it has not opted into are left out)."""
    try:
        answer = clients.ec2(any_region()).describe_regions(AllRegions=False)
    except (ClientError, BotoCoreError) as error:
        raise _words(error, "ec2 DescribeRegions") from None
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def any_region() -> str:
    """The caller's region if they have one, else us-east-1: STS and DescribeRegions answer anywhere."""
    try:
        return region()
    except NotAsked:
        return "us-east-1"
