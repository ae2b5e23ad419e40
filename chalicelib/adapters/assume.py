"""Member accounts' remediation roles: one session per role, its credentials refreshed before they expire.

The first AssumeRole happens when an event from that account first needs AWS; its refusal (no such
role, a trust policy that does not name sgguard's role, an SCP) becomes :class:`MemberUnreachable`,
whose text names the account and the role so that the message can say what to fix. Afterwards
botocore's RefreshableCredentials call AssumeRole again ahead of the expiry (15 minutes before it, or
at the latest 10), so a warm container never acts with expired credentials.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable, error_text, is_transient

SESSION_NAME = "sgguard"
DURATION_SECONDS = 3600

_sessions: dict[str, Any] = {}


class MemberUnreachable(AwsUnavailable):
    """The member account's role could not be assumed; nothing was looked up or changed there."""


def account_of(role_arn: str) -> str:
    return role_arn.split(":")[4]


def session(role_arn: str) -> Any:
    """A boto3 session acting as ``role_arn``; raises MemberUnreachable (or AwsBusy) when refused."""
    if role_arn not in _sessions:
        _sessions[role_arn] = _new_session(role_arn)
    return _sessions[role_arn]


def _refresher(role_arn: str) -> Any:
    def refresh() -> dict[str, str]:
        try:
            answer = clients.sts().assume_role(
                RoleArn=role_arn, RoleSessionName=SESSION_NAME, DurationSeconds=DURATION_SECONDS
            )
        except (ClientError, BotoCoreError) as error:
            why = (
                f"sgguard could not assume {role_arn} in account {account_of(role_arn)} ({error_text(error)})"
            )
            if is_transient(error):
                raise AwsBusy(why) from error
            raise MemberUnreachable(
                f"{why}: deploy the member template in account {account_of(role_arn)} so that the role "
                "exists and trusts sgguard's role"
            ) from error
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    return refresh


def _new_session(role_arn: str) -> Any:
    import boto3
    import botocore.session
    from botocore.credentials import RefreshableCredentials

    refresh = _refresher(role_arn)
    credentials = RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    core = botocore.session.get_session()
    core._credentials = credentials  # type: ignore[attr-defined]  # how botocore's own assume-role provider does it
    return boto3.session.Session(botocore_session=core)


def forget() -> None:
    _sessions.clear()
