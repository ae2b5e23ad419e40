"""The live sweep port: the EC2 calls a sweep makes, over sgguard's lazily created boto3 client.

Every read is paged by botocore's paginators; a refusal becomes AwsUnavailable and throttling or an
AWS-side error that outlasted the retries AwsBusy, as for the event path (adapters/ec2.py), whose
prefix-list reader and batched revoke are reused as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients, ec2, revoke
from chalicelib.adapters.ec2 import RevokeResult
from chalicelib.rules import Direction, PrefixList
from chalicelib.sweep.shell import RULES_PER_PAGE


@dataclass(frozen=True)
class LiveSweepAws:
    region: str | None = None
    role_arn: str | None = None
    """A member account's remediation role (the organization's sweep); None: the function's own account."""

    def security_groups(self) -> Iterator[Mapping[str, Any]]:
        paginator = clients.ec2(self.region, self.role_arn).get_paginator("describe_security_groups")
        for page in _read(paginator.paginate(PaginationConfig={"PageSize": 1000})):
            yield from page.get("SecurityGroups", [])

    def rule_pages(self, group_ids: Sequence[str]) -> Iterator[Sequence[Mapping[str, Any]]]:
        paginator = clients.ec2(self.region, self.role_arn).get_paginator("describe_security_group_rules")
        pages = paginator.paginate(
            Filters=[{"Name": "group-id", "Values": list(group_ids)}],
            PaginationConfig={"PageSize": RULES_PER_PAGE},
        )
        for page in _read(pages):
            yield page.get("SecurityGroupRules", [])

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        return ec2.prefix_lists(list_ids, self.region, self.role_arn)

    def network_interfaces(self, group_ids: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        paginator = clients.ec2(self.region, self.role_arn).get_paginator("describe_network_interfaces")
        pages = paginator.paginate(
            Filters=[{"Name": "group-id", "Values": list(group_ids)}], PaginationConfig={"PageSize": 1000}
        )
        for page in _read(pages):
            yield from page.get("NetworkInterfaces", [])

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        return revoke.revoke(group_id, direction, rule_ids, self.region, self.role_arn)


def _read(pages: Iterable[Any]) -> Iterator[Any]:
    """A paginator's pages, a failed read as AwsUnavailable (refused) or AwsBusy (try later)."""
    try:
        yield from pages
    except (ClientError, BotoCoreError) as error:
        raise ec2.read_error(error) from error
