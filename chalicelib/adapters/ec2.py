"""EC2: group names and VPCs, prefix-list entries, the current state of rules, and revocation by rule id.

Revocation always names rules by ``SecurityGroupRuleIds``: the IpPermissions form needs an exact
match of every field and either fails or misses a rule that differs in a description. Errors become
outcomes (``already-absent``, ``failed``) per rule, so one bad rule never hides the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from chalicelib.adapters import clients
from chalicelib.rules import Direction, PrefixList, Rule, canonical_cidr
from chalicelib.sweep.describe import rule_from_describe as rule_from_describe  # its home (pure)

Outcome = Literal["revoked", "already-absent", "failed"]

# Errors meaning "the rule (or its group) is not there any more": the goal is reached.
_GONE = frozenset(
    {
        "InvalidSecurityGroupRuleId.NotFound",
        "InvalidPermission.NotFound",
        "InvalidGroup.NotFound",
        "InvalidSecurityGroupRuleId.Malformed",
    }
)
# Errors that go away by themselves (botocore has already retried them MAX_ATTEMPTS times): the event
# must be tried again later, by Lambda's retry, rather than decided as a failure.
_TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_DESCRIBE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """What sgguard needs to know about a group beyond its rules; neither ever changes."""

    name: str
    vpc_id: str | None


_groups: dict[str, GroupInfo] = {}
_prefix_list_entries: dict[tuple[str, int | None], tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class RevokeResult:
    outcome: Outcome
    error: str | None = None
    retryable: bool = False
    """The failure was throttling or an AWS-side error that a later attempt may not meet."""


class AwsUnavailable(RuntimeError):
    """AWS could not be asked (no credentials, no network, access denied to a read call)."""


class AwsBusy(RuntimeError):
    """AWS throttled or failed on its side even after botocore's retries: the event must be tried again
    later (the handler raises, so Lambda retries it), never decided on what could not be read."""


def is_transient(error: Exception) -> bool:
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in _TRANSIENT or status >= 500
    return isinstance(error, BotoCoreError) and not isinstance(error, NoCredentialsError | NoRegionError)


def read_error(error: Exception) -> Exception:
    """A failed read as sgguard's two outcomes: AwsBusy (try later) or AwsUnavailable (refused)."""
    return AwsBusy(error_text(error)) if is_transient(error) else AwsUnavailable(error_text(error))


_read_error = read_error


def error_text(error: Exception) -> str:
    """AWS's error code and message; for botocore's own errors their sentence ("Unable to locate
    credentials", "Could not connect to the endpoint URL: ..."), not the exception's class name."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', str(error))}"
    return str(error) or type(error).__name__


def error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def sendable(value: str) -> bool:
    """An id AWS could have: one that can be sent at all (an event's text may hold unpaired
    surrogates, which no request can carry). Others are answered as AWS would: not found."""
    return value.isprintable() and not any("\ud800" <= c <= "\udfff" for c in value)


def groups(group_ids: Iterable[str], region: str | None, role_arn: str | None = None) -> dict[str, GroupInfo]:
    """Name and VPC of the given groups (one DescribeSecurityGroups answers both), cached for the
    life of the container: neither ever changes. Groups that no longer exist are absent."""
    wanted = sorted({g for g in group_ids if g not in _groups and sendable(g)})
    if wanted:
        try:
            response = clients.ec2(region, role_arn).describe_security_groups(
                Filters=[{"Name": "group-id", "Values": wanted}]
            )
        except (ClientError, BotoCoreError) as error:
            raise _read_error(error) from error
        for group in response.get("SecurityGroups", []):
            _groups[group["GroupId"]] = GroupInfo(group["GroupName"], group.get("VpcId"))
    return {g: _groups[g] for g in group_ids if g in _groups}


def prefix_lists(
    list_ids: Iterable[str], region: str | None, role_arn: str | None = None
) -> dict[str, PrefixList | str]:
    """Each list as it is now, or why it could not be read.

    The description (owner, name, version) is asked for every time, since a list changes under the
    same id; the entries are cached per (list, version) and never asked for AWS-managed lists, whose
    networks are AWS's own.
    """
    wanted = sorted(i for i in set(list_ids) if sendable(i))
    client = clients.ec2(region, role_arn)
    try:
        pages = client.get_paginator("describe_managed_prefix_lists").paginate(PrefixListIds=wanted)
        described = [item for page in pages for item in page.get("PrefixLists", [])] if wanted else []
    except (ClientError, BotoCoreError) as error:
        raise _read_error(error) from error
    found: dict[str, PrefixList | str] = {}
    for item in described:
        listed = PrefixList(
            id=item["PrefixListId"],
            name=item.get("PrefixListName", ""),
            owner=item.get("OwnerId", ""),
            version=item.get("Version"),
        )
        if listed.aws_managed:
            found[listed.id] = listed
            continue
        key = (listed.id, listed.version)
        if key not in _prefix_list_entries:
            try:
                _prefix_list_entries[key] = _entries(client, listed)
            except (ClientError, BotoCoreError) as error:
                if is_transient(error):  # a later attempt may read it: never decided as unknown
                    raise AwsBusy(f"{listed.id}: {error_text(error)}") from error
                found[listed.id] = error_text(error)
                continue
        found[listed.id] = dataclasses.replace(listed, entries=_prefix_list_entries[key])
    for list_id in set(list_ids):
        found.setdefault(list_id, f"{list_id} was not found")
    return found


def _entries(client: Any, listed: PrefixList) -> tuple[str, ...]:
    kwargs: dict[str, Any] = {"PrefixListId": listed.id}
    if listed.version is not None:
        kwargs["TargetVersion"] = listed.version
    pages = client.get_paginator("get_managed_prefix_list_entries").paginate(**kwargs)
    return tuple(canonical_cidr(e["Cidr"]) for page in pages for e in page.get("Entries", []) if "Cidr" in e)


def forget_cache() -> None:
    """Forget cached groups and prefix-list entries (tests; a Lambda container never needs to)."""
    _groups.clear()
    _prefix_list_entries.clear()


def _describe(region: str | None, role_arn: str | None, **kwargs: Any) -> Iterator[Rule]:
    paginator = clients.ec2(region, role_arn).get_paginator("describe_security_group_rules")
    try:
        for page in paginator.paginate(**kwargs):
            for item in page.get("SecurityGroupRules", []):
                yield rule_from_describe(item)
    except (ClientError, BotoCoreError) as error:
        if error_code(error) in _GONE:
            return
        raise _read_error(error) from error


def rules_of_group(group_id: str, region: str | None, role_arn: str | None = None) -> list[Rule]:
    """Every current rule of a group, ingress and egress."""
    if not sendable(group_id):
        return []
    return list(_describe(region, role_arn, Filters=[{"Name": "group-id", "Values": [group_id]}]))


def rules_by_id(rule_ids: Iterable[str], region: str | None, role_arn: str | None = None) -> dict[str, Rule]:
    """The current state of the given rules; ids that no longer exist are absent from the answer."""
    ids = sorted(i for i in set(rule_ids) if sendable(i))
    found: dict[str, Rule] = {}
    for start in range(0, len(ids), _DESCRIBE_BATCH):
        batch = ids[start : start + _DESCRIBE_BATCH]
        filters = [{"Name": "security-group-rule-id", "Values": batch}]
        for rule in _describe(region, role_arn, Filters=filters):
            if rule.rule_id:
                found[rule.rule_id] = rule
    return found


@dataclass(frozen=True)
class ReadOnlyAws:
    """EC2 in one region, as the function itself or (``role_arn``) as a member account's role, for
    reading only: the HTTP replay route's function has a policy without revoke and this port never
    tries (adapters/revoke.py has the guard's, which may)."""

    region: str | None
    role_arn: str | None = None

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        return groups(group_ids, self.region, self.role_arn)

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        return prefix_lists(list_ids, self.region, self.role_arn)

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        return rules_by_id(rule_ids, self.region, self.role_arn)

    def rules_of_group(self, group_id: str) -> list[Rule]:
        return rules_of_group(group_id, self.region, self.role_arn)

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        raise AwsUnavailable("this function only reads: revoking is for the guard and `sgguard replay`")
