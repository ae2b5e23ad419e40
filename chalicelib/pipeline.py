"""The imperative shell around the pure core: parse, learn what AWS must tell, evaluate, act, decide.

AWS is reached only through the small :class:`AwsPort` interface, so the same pipeline runs in
Lambda (:class:`LiveAws`), in the replay command without any AWS access (:class:`OfflineAws`), and in
tests. What AWS could not tell is reported in ``not_judged``; it never turns into a silent pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from chalicelib.adapters.ec2 import AwsUnavailable, GroupInfo, RevokeResult
from chalicelib.baseline import Baseline
from chalicelib.decision import (
    ABSENT,
    ActionResult,
    Decision,
    Mode,
    NotJudgedDoc,
    decide,
    ignored,
    invalid,
    plan,
)
from chalicelib.evaluate import Facts, Finding, evaluate
from chalicelib.events import InvalidEvent, ModifyRecord, OtherRecord, RuleChange, parse_record, rule_change
from chalicelib.rules import Direction, PrefixList, Rule


class AwsPort(Protocol):
    """What the pipeline needs from AWS for one region."""

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]: ...
    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]: ...
    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]: ...
    def rules_of_group(self, group_id: str) -> list[Rule]: ...
    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]: ...


@dataclasses.dataclass(frozen=True)
class LiveAws:
    region: str | None

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        from chalicelib.adapters import ec2

        return ec2.groups(group_ids, self.region)

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        from chalicelib.adapters import ec2

        return ec2.prefix_lists(list_ids, self.region)

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        from chalicelib.adapters import ec2

        return ec2.rules_by_id(rule_ids, self.region)

    def rules_of_group(self, group_id: str) -> list[Rule]:
        from chalicelib.adapters import ec2

        return ec2.rules_of_group(group_id, self.region)

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        from chalicelib.adapters import ec2

        return ec2.revoke(group_id, direction, rule_ids, self.region)


class OfflineAws:
    """No AWS at all: every question is unanswerable, and nothing can be revoked."""

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        raise AwsUnavailable("offline: AWS was not asked")

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        raise AwsUnavailable("offline: AWS was not asked")

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        raise AwsUnavailable("offline: AWS was not asked")

    def rules_of_group(self, group_id: str) -> list[Rule]:
        raise AwsUnavailable("offline: AWS was not asked")

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        raise AwsUnavailable("offline: nothing can be revoked")


def _facts(change: RuleChange, baseline: Baseline, aws: AwsPort, now: datetime) -> Facts:
    """Everything the evaluation needs beyond the rules. AWS is asked only for what this baseline and
    these rules need: the group (name, VPC: one cached call) when a control names a group or an
    exemption a VPC, prefix lists only when a rule's source is one."""
    identity = change.record.user_identity
    facts = Facts(
        account=change.account,
        region=change.region,
        actors=tuple(dict.fromkeys(a for a in (identity.arn, identity.principal) if a)),
        today=now.astimezone(UTC).date(),
    )
    if baseline.needs_group_names or baseline.needs_group_vpcs:
        try:
            found = aws.groups({change.group_id})
            facts = dataclasses.replace(
                facts,
                group_names={g: info.name for g, info in found.items()},
                group_vpcs={g: info.vpc_id for g, info in found.items() if info.vpc_id},
                why_unknown=f"{change.group_id} was not found" if not found else facts.why_unknown,
            )
        except AwsUnavailable as error:
            facts = dataclasses.replace(facts, why_unknown=str(error))
    list_ids = {r.source.value for r in change.rules if r.source.kind == "prefix_list"}
    if list_ids:
        try:
            lists = aws.prefix_lists(list_ids)
        except AwsUnavailable as error:
            lists = dict.fromkeys(list_ids, str(error))
        facts = dataclasses.replace(facts, prefix_lists=lists)
    return facts


def _resolve_directions(
    rules: tuple[Rule, ...], baseline: Baseline, facts: Facts, aws: AwsPort
) -> tuple[tuple[Rule, ...], list[NotJudgedDoc], set[str]]:
    """ModifySecurityGroupRules does not say ingress or egress. Ask AWS only when the answer matters
    (the rule would be judged differently as egress); where AWS cannot answer, judge it as ingress.

    Returns the rules with their directions, notes for what stayed unknown, and the ids of rules that
    no longer exist.
    """
    as_egress = [dataclasses.replace(r, direction="egress") for r in rules]
    ingress_view, egress_view = evaluate(rules, baseline, facts), evaluate(as_egress, baseline, facts)
    unsure = [
        r.rule_id
        for r, i, e in zip(rules, ingress_view, egress_view, strict=True)
        if _differ(i, e) and r.rule_id
    ]
    if not unsure:
        return rules, [], set()
    try:
        current = aws.rules_by_id(unsure)
    except AwsUnavailable as error:
        note = NotJudgedDoc(
            rule_id=None,
            controls=[],
            reason=f"direction of {', '.join(unsure)} unknown ({error}); judged as ingress",
        )
        return rules, [note], set()
    resolved = tuple(
        dataclasses.replace(r, direction=current[r.rule_id].direction) if r.rule_id in current else r
        for r in rules
    )
    gone = {rid for rid in unsure if rid not in current}
    return resolved, [], gone


def _differ(a: Finding, b: Finding) -> bool:
    return [h.control.id for h in a.hits] != [h.control.id for h in b.hits] or bool(a.not_judged) != bool(
        b.not_judged
    )


def _resolve_ids(findings: list[Finding], aws: AwsPort, group_id: str) -> tuple[list[Finding], str | None]:
    """Older events carry no rule ids: find the group's current rule that matches each violating rule
    exactly. A rule with no exact match is not revoked (it is gone, or it is not the one the event made)."""
    if all(f.rule.rule_id for f in findings if f.violates):
        return findings, None
    try:
        current = {r.identity: r for r in aws.rules_of_group(group_id)}
    except AwsUnavailable as error:
        return findings, str(error)
    resolved = []
    for finding in findings:
        match = current.get(finding.rule.identity) if finding.violates and not finding.rule.rule_id else None
        if match is not None:
            rule = dataclasses.replace(finding.rule, rule_id=match.rule_id, rule_arn=match.rule_arn)
            finding = dataclasses.replace(finding, rule=rule)
        resolved.append(finding)
    return resolved, None


def _with_arns(findings: list[Finding], change: RuleChange) -> list[Finding]:
    """Rules from ModifySecurityGroupRules and describe pages may lack an ARN; it follows from the id."""
    account, region = change.account, change.region
    if not account:
        return findings
    out = []
    for f in findings:
        if f.violates and f.rule.rule_id and not f.rule.rule_arn:
            arn = f"arn:aws:ec2:{region}:{account}:security-group-rule/{f.rule.rule_id}"
            f = dataclasses.replace(f, rule=dataclasses.replace(f.rule, rule_arn=arn))
        out.append(f)
    return out


def _execute(
    findings: Sequence[Finding], mode: Mode, aws: AwsPort, gone: set[str]
) -> dict[str, ActionResult]:
    results: dict[str, ActionResult] = {rid: ActionResult("already-absent") for rid in gone}
    for revocation in plan([f for f in findings if f.rule.rule_id not in gone], mode):
        try:
            outcome = aws.revoke(revocation.group_id, revocation.direction, list(revocation.rule_ids))
        except AwsUnavailable as error:
            outcome = {rid: RevokeResult("failed", str(error)) for rid in revocation.rule_ids}
        for rule_id, result in outcome.items():
            results[rule_id] = ActionResult(result.outcome, result.error)
    return results


def process(
    raw: object, baseline: Baseline, mode: Mode, aws: AwsPort | None = None, now: datetime | None = None
) -> Decision:
    """One event in, one decision out, with every revocation the decision reports already made.

    ``aws`` defaults to the live adapters for the event's region; ``now`` (the clock exemptions expire
    by) to the current time. Invalid or irrelevant events never reach AWS.
    """
    try:
        record = parse_record(raw)
    except InvalidEvent as error:
        return invalid(raw, error.errors, mode, baseline.name)
    if isinstance(record, OtherRecord):
        if record.error_code:
            reason = f"the call failed ({record.error_code}), so nothing changed"
        else:
            reason = f"{record.event_source} {record.event_name} is not a security-group rule change"
        return ignored(record, reason, mode, baseline.name)
    try:
        change = rule_change(record)
    except InvalidEvent as error:
        return invalid(raw, error.errors, mode, baseline.name)

    aws = aws or LiveAws(change.region)
    facts = _facts(change, baseline, aws, now or datetime.now(UTC))
    notes: list[NotJudgedDoc] = []
    rules, gone = change.rules, set[str]()
    if isinstance(record, ModifyRecord):
        rules, notes, gone = _resolve_directions(rules, baseline, facts, aws)
    findings = evaluate(rules, baseline, facts)
    findings, resolve_error = _resolve_ids(findings, aws, change.group_id)
    findings = _with_arns(findings, change)
    results = _execute(findings, mode, aws, gone)
    without_id = (
        ActionResult("failed", f"could not find the rule's id: {resolve_error}") if resolve_error else ABSENT
    )
    return decide(change, findings, mode, baseline.name, results, notes, without_id)
