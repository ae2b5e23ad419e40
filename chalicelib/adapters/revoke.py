"""EC2 revocation by rule id: only the guard's function and `sgguard replay --mode enforce` reach this
module; the HTTP replay route's function never does, and its policy grants no revoke.

Revocation always names rules by ``SecurityGroupRuleIds``: the IpPermissions form needs an exact
match of every field and either fails or misses a rule that differs in a description. Errors become
outcomes (``already-absent``, ``failed``) per rule, so one bad rule never hides the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import (
    _GONE,
    ReadOnlyAws,
    RevokeResult,
    error_code,
    error_text,
    is_transient,
    sendable,
)
from chalicelib.rules import Direction


@dataclass(frozen=True)
class LiveAws(ReadOnlyAws):
    """The guard's port for one region (and member account): the reads, and revocation."""

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        return revoke(group_id, direction, rule_ids, self.region, self.role_arn)


def revoke(
    group_id: str,
    direction: Direction,
    rule_ids: list[str],
    region: str | None,
    role_arn: str | None = None,
) -> dict[str, RevokeResult]:
    """Revoke the rules in one call; on a per-rule error, retry them one by one to tell them apart. An
    id no request could carry (an event's unpaired surrogate) cannot exist: already absent."""
    unsendable = {r: RevokeResult("already-absent") for r in rule_ids if not sendable(r)}
    return {
        **unsendable,
        **_revoke([r for r in rule_ids if r not in unsendable], group_id, direction, region, role_arn),
    }


def _revoke(
    rule_ids: list[str], group_id: str, direction: Direction, region: str | None, role_arn: str | None
) -> dict[str, RevokeResult]:
    if not rule_ids:
        return {}
    try:
        _revoke_call(group_id, direction, rule_ids, region, role_arn)
        return dict.fromkeys(rule_ids, RevokeResult("revoked"))
    except (ClientError, BotoCoreError) as error:
        if len(rule_ids) == 1:
            return {rule_ids[0]: _result_of(error)}
        if error_code(error) not in _GONE or is_transient(error):
            return dict.fromkeys(rule_ids, _result_of(error))
    results: dict[str, RevokeResult] = {}
    for rule_id in rule_ids:
        try:
            _revoke_call(group_id, direction, [rule_id], region, role_arn)
            results[rule_id] = RevokeResult("revoked")
        except (ClientError, BotoCoreError) as error:
            results[rule_id] = _result_of(error)
    return results


def _result_of(error: Exception) -> RevokeResult:
    if error_code(error) in _GONE:
        return RevokeResult("already-absent")
    return RevokeResult("failed", error_text(error), retryable=is_transient(error))


def _revoke_call(
    group_id: str, direction: Direction, rule_ids: list[str], region: str | None, role_arn: str | None
) -> None:
    client = clients.ec2(region, role_arn)
    if direction == "egress":
        response: Mapping[str, Any] = client.revoke_security_group_egress(
            GroupId=group_id, SecurityGroupRuleIds=rule_ids
        )
    else:
        response = client.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)
    if response.get("Return") is False:
        raise ClientError(
            {"Error": {"Code": "RevokeReturnedFalse", "Message": "AWS answered Return=false"}},
            "RevokeSecurityGroupIngress" if direction == "ingress" else "RevokeSecurityGroupEgress",
        )
