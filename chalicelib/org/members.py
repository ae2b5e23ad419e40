"""Where a rule change must be looked at and acted on: sgguard's own account, or a member account
through its remediation role. Pure: no AWS call is made here.

A central bus delivers events from every member account; the rule an event names exists only in that
account. Looking for it in sgguard's own account finds nothing and would report the rule "already
gone" while it stays open, so an account sgguard cannot reach is a refusal that people are told about,
never an absence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
ACCOUNT_ID = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, slots=True)
class Reach:
    """``role_arn`` None and ``why`` None: sgguard's own account. ``role_arn``: a member account, through
    that role. ``why``: the account cannot be reached; ``busy`` when a later attempt may succeed."""

    account: str | None
    role_arn: str | None = None
    why: str | None = None
    busy: bool = False


def partition(region: str | None) -> str:
    region = region or ""
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def role_arn(account: str, role_name: str, region: str | None) -> str:
    return f"arn:{partition(region)}:iam::{account}:role/{role_name}"


def account_of_arn(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) > 5 and ACCOUNT_ID.fullmatch(parts[4]) else None


def reach(account: str | None, region: str | None, own_arn: str | None, member_role: str | None) -> Reach:
    """How to reach the account a rule change happened in."""
    own = account_of_arn(own_arn)
    if account is None or not ACCOUNT_ID.fullmatch(account):
        shown = "no account" if account is None else f"account {account!r}"
        return Reach(None, why=f"the event names {shown} (recipientAccountId); nothing was looked up")
    if own is None:
        why = (
            f"sgguard's own identity is unknown (STS GetCallerIdentity failed), so it cannot tell whether "
            f"account {account} is its own; nothing was looked up"
        )
        return Reach(account, why=why, busy=True)
    if account == own:
        return Reach(account)
    if not member_role:
        why = (
            f"the rule is in account {account}, not sgguard's own ({own}), and no member role is configured "
            f"(MEMBER_ROLE_NAME): nothing was looked up or revoked there; deploy the member template in "
            f"{account} and set MEMBER_ROLE_NAME"
        )
        return Reach(account, why=why)
    return Reach(account, role_arn=role_arn(account, member_role, region))
