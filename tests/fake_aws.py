"""An AwsPort without AWS, for fast tests of the pipeline: it answers from a dict of current rules and
records every call, so tests can assert what was asked and what was revoked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.adapters.ec2 import GroupInfo, RevokeResult
from chalicelib.rules import Direction, PrefixList, Rule


@dataclass
class FakeAws:
    current: dict[str, Rule] = field(default_factory=dict)
    """rule id -> the rule as AWS holds it now; an id missing here no longer exists."""
    names: dict[str, str] = field(default_factory=dict)
    default_name: str = "web"
    calls: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        self.calls.append("DescribeSecurityGroups")
        return {g: GroupInfo(self.names.get(g, self.default_name), "vpc-0123") for g in group_ids}

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        self.calls.append("DescribeManagedPrefixLists")
        return {i: f"{i} was not found" for i in list_ids}

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        self.calls.append("DescribeSecurityGroupRules")
        return {i: self.current[i] for i in rule_ids if i in self.current}

    def rules_of_group(self, group_id: str) -> list[Rule]:
        self.calls.append("DescribeSecurityGroupRules")
        return [r for r in self.current.values() if r.group_id == group_id]

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        self.calls.append(
            "RevokeSecurityGroupEgress" if direction == "egress" else "RevokeSecurityGroupIngress"
        )
        out: dict[str, RevokeResult] = {}
        for rule_id in rule_ids:
            rule = self.current.get(rule_id)
            if rule is None or rule.group_id != group_id or rule.direction != direction:
                out[rule_id] = RevokeResult("already-absent")
                continue
            del self.current[rule_id]
            self.revoked.append(rule_id)
            out[rule_id] = RevokeResult("revoked")
        return out
