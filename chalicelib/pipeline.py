"""The imperative shell around the pure core: parse, learn what AWS must tell, evaluate, act, decide.

AWS is reached only through the small :class:`AwsPort` interface, so the same pipeline runs in
Lambda (:class:`LiveAws`), in the replay command without any AWS access (:class:`OfflineAws`), and in
tests. What AWS could not tell is reported in ``not_judged``; it never turns into a silent pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable, GroupInfo, RevokeResult
from chalicelib.baseline import Baseline
from chalicelib.current import RuleState, recheck
from chalicelib.decision import (
    ABSENT,
    ActionResult,
    Decision,
    Delivery,
    Mode,
    NotJudgedDoc,
    decide,
    ignored,
    invalid,
    plan,
)
from chalicelib.evaluate import Facts, Finding, evaluate
from chalicelib.events import InvalidEvent, ModifyRecord, OtherRecord, RuleChange, parse_record, rule_change
from chalicelib.org.members import reach
from chalicelib.redelivery import Earlier, merge
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
    """EC2 in one region, as the function itself or (``role_arn``) as a member account's role."""

    region: str | None
    role_arn: str | None = None

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        from chalicelib.adapters import ec2

        return ec2.groups(group_ids, self.region, self.role_arn)

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        from chalicelib.adapters import ec2

        return ec2.prefix_lists(list_ids, self.region, self.role_arn)

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        from chalicelib.adapters import ec2

        return ec2.rules_by_id(rule_ids, self.region, self.role_arn)

    def rules_of_group(self, group_id: str) -> list[Rule]:
        from chalicelib.adapters import ec2

        return ec2.rules_of_group(group_id, self.region, self.role_arn)

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        from chalicelib.adapters import ec2

        return ec2.revoke(group_id, direction, rule_ids, self.region, self.role_arn)


@dataclasses.dataclass(frozen=True)
class UnreachableAws:
    """An account sgguard cannot act in: every question fails with the reason, so every violating rule
    ends ``failed`` with a message naming the account and the role, never ``already-absent``."""

    why: str
    busy: bool = False

    def _refuse(self) -> AwsUnavailable | AwsBusy:
        return AwsBusy(self.why) if self.busy else AwsUnavailable(self.why)

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        raise self._refuse()

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        raise self._refuse()

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        raise self._refuse()

    def rules_of_group(self, group_id: str) -> list[Rule]:
        raise self._refuse()

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        raise self._refuse()


def live_aws(change: RuleChange, own_arn: str | None, member_role: str | None) -> AwsPort:
    """The live port for the account and region the change happened in (see org/members.py)."""
    target = reach(change.account, change.region, own_arn, member_role)
    if target.why is not None:
        return UnreachableAws(target.why, target.busy)
    return LiveAws(change.region, target.role_arn)


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
    rules: tuple[Rule, ...], baseline: Baseline, facts: Facts, state: RuleState
) -> tuple[tuple[Rule, ...], list[NotJudgedDoc]]:
    """ModifySecurityGroupRules does not say ingress or egress. Ask AWS only when the answer matters
    (the rule would be judged differently as egress); where AWS cannot answer, judge it as ingress.

    The same read also fetches every rule that would be revoked in either direction, so that the
    check of their current state before revoking costs no second call.
    """
    as_egress = [r.with_direction("egress") for r in rules]
    ingress_view, egress_view = evaluate(rules, baseline, facts), evaluate(as_egress, baseline, facts)
    unsure = [
        r.rule_id
        for r, i, e in zip(rules, ingress_view, egress_view, strict=True)
        if _differ(i, e) and r.rule_id
    ]
    if not unsure:
        return rules, []
    revocable = [
        r.rule_id
        for r, i, e in zip(rules, ingress_view, egress_view, strict=True)
        if r.rule_id and (i.must_revoke or e.must_revoke)
    ]
    try:
        current = state.read([*unsure, *revocable])
    except AwsUnavailable as error:
        note = NotJudgedDoc(
            rule_id=None,
            controls=[],
            reason=f"direction of {', '.join(unsure)} unknown ({error}); judged as ingress",
        )
        return rules, [note]
    resolved = tuple(
        dataclasses.replace(r, direction=current[r.rule_id].direction) if r.rule_id in current else r
        for r in rules
    )
    return resolved, []


def _differ(a: Finding, b: Finding) -> bool:
    return [h.control.id for h in a.hits] != [h.control.id for h in b.hits] or bool(a.not_judged) != bool(
        b.not_judged
    )


def _resolve_ids(
    findings: list[Finding], aws: AwsPort, group_id: str, state: RuleState
) -> tuple[list[Finding], str | None]:
    """Older events carry no rule ids: find the group's current rule that matches each violating rule
    exactly. A rule with no exact match is not revoked (it is gone, or it is not the one the event made).
    What the group holds now is also the current state the revocation is checked against."""
    if all(f.rule.rule_id for f in findings if f.violates):
        return findings, None
    try:
        rules_now = aws.rules_of_group(group_id)
    except AwsUnavailable as error:
        return findings, str(error)
    state.seed(rules_now)
    current = {r.identity: r for r in rules_now}
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


def _execute(findings: Sequence[Finding], mode: Mode, aws: AwsPort) -> dict[str, ActionResult]:
    results: dict[str, ActionResult] = {}
    for revocation in plan(findings, mode):
        try:
            outcome = aws.revoke(revocation.group_id, revocation.direction, list(revocation.rule_ids))
        except AwsUnavailable as error:
            outcome = {rid: RevokeResult("failed", str(error)) for rid in revocation.rule_ids}
        for rule_id, result in outcome.items():
            results[rule_id] = ActionResult(result.outcome, result.error, retryable=result.retryable)
    return results


@dataclasses.dataclass(frozen=True)
class Judgement:
    """An event understood and evaluated, nothing changed yet: the handler claims the event here,
    before acting, so that duplicates and retries are told apart."""

    change: RuleChange
    findings: list[Finding]
    facts: Facts
    notes: list[NotJudgedDoc]
    state: RuleState
    aws: AwsPort
    resolve_error: str | None

    @property
    def violates(self) -> bool:
        return any(f.violates for f in self.findings)

    @property
    def event_id(self) -> str:
        return self.change.record.event_id


@dataclasses.dataclass(frozen=True)
class Acted:
    decision: Decision
    results: dict[str, ActionResult]

    @property
    def retryable(self) -> bool:
        """Some revocation failed on throttling or an AWS-side error: a later attempt may succeed."""
        return any(r.retryable for r in self.results.values())

    @property
    def revoked_now(self) -> bool:
        return any(r.action == "revoked" and r.note is None for r in self.results.values())


OwnIdentity = Callable[[], str | None]


def judge(
    raw: object,
    baseline: Baseline,
    mode: Mode,
    aws: AwsPort | None = None,
    now: datetime | None = None,
    own: OwnIdentity | None = None,
    member_role: str | None = None,
) -> Judgement | Decision:
    """Parse and evaluate. Returns a final Decision for what needs no action (invalid, ignored: a call
    that changed nothing, or sgguard's own change), else a Judgement for :func:`act`.

    ``now`` is the clock exemptions expire by (default: the current time); ``own`` returns the ARN
    sgguard itself acts as, and is called only for rule changes. Without ``aws``, the change is looked
    at in its own account: sgguard's, or a member's through ``member_role`` (organization mode).
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
    own_arn = own() if own is not None else None
    if own_arn and record.user_identity.arn == own_arn:
        reason = f"made by sgguard's own identity ({own_arn}); its own changes are not judged again"
        return ignored(record, reason, mode, baseline.name)
    try:
        change = rule_change(record)
    except InvalidEvent as error:
        return invalid(raw, error.errors, mode, baseline.name)

    if aws is None:
        if own is None:  # the command line: the operator's identity tells which account is "own"
            from chalicelib.adapters import sts

            own_arn = sts.own_arn()
        aws = live_aws(change, own_arn, member_role)
    state = RuleState(aws)
    facts = _facts(change, baseline, aws, now or datetime.now(UTC))
    notes: list[NotJudgedDoc] = []
    rules = change.rules
    if isinstance(record, ModifyRecord):
        rules, notes = _resolve_directions(rules, baseline, facts, state)
    findings = evaluate(rules, baseline, facts)
    findings, resolve_error = _resolve_ids(findings, aws, change.group_id, state)
    findings = _with_arns(findings, change)
    return Judgement(change, findings, facts, notes, state, aws, resolve_error)


def act(
    judgement: Judgement,
    baseline: Baseline,
    mode: Mode,
    earlier: Earlier | None = None,
    delivery: Delivery = "first",
) -> Acted:
    """Read the violating rules' current state, revoke those that still violate, decide.

    ``earlier`` is what a previous attempt at the same event decided (see redelivery.py).
    """
    j = judgement
    checked = recheck(j.findings, baseline, j.facts, j.state, mode)
    results = {**checked.settled, **_execute(checked.still_violating, mode, j.aws)}
    results = merge(results, earlier)
    without_id = (
        ActionResult("failed", f"could not find the rule's id: {j.resolve_error}")
        if j.resolve_error
        else ABSENT
    )
    decision = decide(j.change, j.findings, mode, baseline.name, results, j.notes, without_id)
    if delivery != "first":
        decision = decision.model_copy(update={"delivery": delivery})
    return Acted(decision, results)


def process(
    raw: object,
    baseline: Baseline,
    mode: Mode,
    aws: AwsPort | None = None,
    now: datetime | None = None,
    own: OwnIdentity | None = None,
    member_role: str | None = None,
) -> Decision:
    """One event in, one decision out, with every revocation the decision reports already made.

    ``aws`` defaults to the live adapters for the event's region; ``now`` (the clock exemptions expire
    by) to the current time. Invalid or irrelevant events never reach AWS.
    """
    judged = judge(raw, baseline, mode, aws, now, own, member_role)
    if isinstance(judged, Decision):
        return judged
    return act(judged, baseline, mode).decision
