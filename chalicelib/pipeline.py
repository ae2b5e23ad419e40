"""The imperative shell around the pure core: parse, learn what AWS must tell, evaluate, act, decide.

AWS is reached only through the small :class:`AwsPort` interface, so the same pipeline runs in
Lambda (adapters.revoke.LiveAws), read-only in the HTTP replay route (adapters.ec2.ReadOnlyAws), in the
replay command without any AWS access (:class:`OfflineAws`), and in tests. What AWS could not tell is
reported in ``not_judged`` and ``action_needed``; it never turns into a silent pass. An event that
cannot be read whole is judged on what can be read, and the group's current rules are read to find
the rest ("look"): a rule is revoked only when it is known to be the event's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable, GroupInfo, ReadOnlyAws, RevokeResult
from chalicelib.baseline import Baseline
from chalicelib.current import RuleState, recheck
from chalicelib.decision import (
    ABSENT,
    ActionResult,
    Decision,
    Delivery,
    Mode,
    NotJudgedDoc,
    Unread,
    decide,
    ignored,
    invalid,
    plan,
)
from chalicelib.evaluate import Facts, Finding, evaluate
from chalicelib.events import (
    InvalidEvent,
    ModifyRecord,
    OtherRecord,
    RuleChange,
    UnreadRule,
    claimed_group,
    parse_record,
    prefix_of,
    rule_change,
)
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


def live_aws(
    account: str | None, region: str | None, own_arn: str | None, member_role: str | None, connect: Connect
) -> AwsPort:
    """The live port for the account and region the change happened in (see org/members.py): read-only
    unless ``connect`` may revoke (the guard's adapters.revoke.LiveAws)."""
    target = reach(account, region, own_arn, member_role)
    if target.why is not None:
        return UnreachableAws(target.why, target.busy)
    return connect(region, target.role_arn)


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


Connect = Callable[[str | None, str | None], AwsPort]
"""An AwsPort for a region and (organization mode) a member role: read-only by default; the guard
passes one that may revoke."""
READ_ONLY: Connect = ReadOnlyAws
_AWS_ERRORS = (AwsUnavailable, AwsBusy)


def _facts(
    change: RuleChange, baseline: Baseline, aws: AwsPort, now: datetime, more: Sequence[Rule] = ()
) -> Facts:
    identity = change.record.user_identity
    actors = tuple(dict.fromkeys(a for a in (identity.arn, identity.principal) if a))
    return _facts_for(
        change.group_id, [*change.rules, *more], baseline, aws, now, change.account, change.region, actors
    )


def _facts_for(
    group_id: str,
    rules: Sequence[Rule],
    baseline: Baseline,
    aws: AwsPort,
    now: datetime,
    account: str | None,
    region: str | None,
    actors: tuple[str, ...] = (),
) -> Facts:
    """Everything the evaluation needs beyond the rules. AWS is asked only for what this baseline and
    these rules need: the group (name, VPC: one cached call) when a control names a group or an
    exemption a VPC, prefix lists only when a rule's source is one. Throttling is remembered as
    ``retryable``, so that what it leaves unjudged makes the event be tried again."""
    facts = Facts(account=account, region=region, actors=actors, today=now.astimezone(UTC).date())
    retryable: set[str] = set()
    if baseline.needs_group_names or baseline.needs_group_vpcs:
        try:
            found = aws.groups({group_id})
            facts = dataclasses.replace(
                facts,
                group_names={g: info.name for g, info in found.items()},
                group_vpcs={g: info.vpc_id for g, info in found.items() if info.vpc_id},
                why_unknown=f"{group_id} was not found" if not found else facts.why_unknown,
            )
        except _AWS_ERRORS as error:
            facts = dataclasses.replace(facts, why_unknown=str(error))
            if isinstance(error, AwsBusy):
                retryable.add(str(error))
    list_ids = {r.source.value for r in rules if r.source.kind == "prefix_list"}
    if list_ids:
        try:
            lists = aws.prefix_lists(list_ids)
        except _AWS_ERRORS as error:
            lists = dict.fromkeys(list_ids, str(error))
            if isinstance(error, AwsBusy):
                retryable.add(str(error))
        facts = dataclasses.replace(facts, prefix_lists=lists)
    return dataclasses.replace(facts, retryable=frozenset(retryable)) if retryable else facts


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
    except _AWS_ERRORS as error:
        note = NotJudgedDoc(
            rule_id=None,
            controls=[],
            reason=f"direction of {', '.join(unsure)} unknown ({error}); judged as ingress",
            retryable=isinstance(error, AwsBusy),
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
) -> tuple[list[Finding], ActionResult | None]:
    """Older events carry no rule ids: find the group's current rule that matches each violating rule
    exactly. A rule with no exact match is not revoked (it is gone, or it is not the one the event made).
    What the group holds now is also the current state the revocation is checked against."""
    if all(f.rule.rule_id for f in findings if f.violates):
        return findings, None
    try:
        rules_now = aws.rules_of_group(group_id)
    except _AWS_ERRORS as error:
        why = f"could not find the rule's id: {error}"
        return findings, ActionResult("failed", why, retryable=isinstance(error, AwsBusy))
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
        except _AWS_ERRORS as error:
            retry = isinstance(error, AwsBusy)
            outcome = {
                rid: RevokeResult("failed", str(error), retryable=retry) for rid in revocation.rule_ids
            }
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
    resolve_error: ActionResult | None
    unread: Unread = dataclasses.field(default_factory=Unread)

    @property
    def violates(self) -> bool:
        return any(f.violates for f in self.findings)

    @property
    def needs_attention(self) -> bool:
        """A violation, or anything that could not be judged or read: it may need a message."""
        return (
            self.violates
            or bool(self.notes or self.unread.action_needed)
            or any(f.not_judged for f in self.findings)
        )

    @property
    def event_id(self) -> str:
        return self.change.record.event_id


@dataclasses.dataclass(frozen=True)
class Acted:
    decision: Decision
    results: dict[str, ActionResult]

    @property
    def retryable(self) -> bool:
        """Some revocation or read failed on throttling or an AWS-side error: a later attempt may succeed."""
        return any(r.retryable for r in self.results.values()) or self.decision.retryable

    def why_retry(self) -> str:
        errors = [r.error for r in self.results.values() if r.retryable and r.error]
        errors += [n.reason for n in self.decision.not_judged if n.retryable]
        return errors[0] if errors else "AWS throttled or failed"

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
    connect: Connect | None = None,
) -> Judgement | Decision:
    """Parse and evaluate. Returns a final Decision for what needs no action (invalid, ignored: a call
    that changed nothing, or sgguard's own change), else a Judgement for :func:`act`.

    ``now`` is the clock exemptions expire by (default: the current time); ``own`` returns the ARN
    sgguard itself acts as, and is called only for rule changes. Without ``aws``, the change is looked
    at in its own account: sgguard's, or a member's through ``member_role`` (organization mode), through
    ``connect`` (read-only by default; the guard passes one that may revoke).
    """
    connect = connect or READ_ONLY
    clock = now or datetime.now(UTC)
    try:
        record = parse_record(raw)
    except InvalidEvent as error:
        return _unparsed(raw, error.errors, baseline, mode, aws, connect, clock, own, member_role)
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
        change = rule_change(record, prefix_of(raw))
    except InvalidEvent as error:
        return invalid(raw, error.errors, mode, baseline.name)  # it names no group: nothing to look at

    if aws is None and not _region_known(change.region):
        errors = [f"{prefix_of(raw)}awsRegion: {change.region!r} is not a region AWS has (or botocore knows)"]
        return _unparsed(raw, errors, baseline, mode, aws, connect, clock, own, member_role, region_ok=False)
    if aws is None:
        if own is None:  # the command line: the operator's identity tells which account is "own"
            from chalicelib.adapters import sts

            own_arn = sts.own_arn()
        aws = live_aws(change.account, change.region, own_arn, member_role, connect)
    state = RuleState(aws)
    unresolved: list[UnreadRule] = []
    rules_now: list[Rule] = []
    notes: list[NotJudgedDoc] = []
    look_error: str | None = None
    if change.unread:
        change, unresolved, rules_now, look_error, look_note = _look(change, aws, state)
        notes.extend(look_note)
    facts = _facts(change, baseline, aws, clock, rules_now if unresolved else ())
    rules = change.rules
    if isinstance(record, ModifyRecord):
        rules, direction_notes = _resolve_directions(rules, baseline, facts, state)
        notes.extend(direction_notes)
    findings = evaluate(rules, baseline, facts)
    findings, resolve_error = _resolve_ids(findings, aws, change.group_id, state)
    findings = _with_arns(findings, change)
    unread = Unread(errors=change.errors)
    if unresolved:
        breaking = _breaking_now(rules_now, change.rules, baseline, facts)
        words = _cannot_tell(change.record.event_id, change.group_id, change.errors, look_error, breaking)
        unread = Unread(change.errors, [words], breaking)
    return Judgement(change, findings, facts, notes, state, aws, resolve_error, unread)


def _look(
    change: RuleChange, aws: AwsPort, state: RuleState
) -> tuple[RuleChange, list[UnreadRule], list[Rule], str | None, list[NotJudgedDoc]]:
    """The event names its group but not every rule could be read: read the group's rules (one
    DescribeSecurityGroupRules) and take as the event's the current rules that match what could be
    read of each, by id, or by content when exactly one rule matches. The rest cannot be told apart
    from older rules (unresolved)."""
    try:
        rules_now = aws.rules_of_group(change.group_id)
    except _AWS_ERRORS as error:
        note = []
        if isinstance(error, AwsBusy):
            reason = (
                f"could not read the rules of {change.group_id} to find the event's unreadable ones ({error})"
            )
            note = [NotJudgedDoc(rule_id=None, controls=[], reason=reason, retryable=True)]
        return change, list(change.unread), [], str(error), note
    # the group's answer is the current state of every rule the event made in it (only in it: a rule
    # naming another group is not covered by this read, and is asked for by id as usual)
    state.seed(rules_now, [r.rule_id for r in change.rules if r.rule_id and r.group_id == change.group_id])
    known = {r.identity for r in change.rules}
    taken = {r.rule_id for r in change.rules if r.rule_id}
    found: list[Rule] = []
    unresolved: list[UnreadRule] = []
    for unread in change.unread:
        candidates = [
            r for r in rules_now if unread.matches(r) and r.rule_id not in taken and r.identity not in known
        ]
        if unread.rule_id is not None and not candidates:
            continue  # the rule with that id is gone: nothing left to judge
        if len(candidates) == 1:
            found.append(candidates[0])
            taken.add(candidates[0].rule_id or "")
        else:
            unresolved.append(unread)
    return dataclasses.replace(change, rules=(*change.rules, *found)), unresolved, rules_now, None, []


def _breaking_now(
    rules_now: Sequence[Rule], known: Sequence[Rule], baseline: Baseline, facts: Facts
) -> list[Finding]:
    ids = {r.rule_id for r in known if r.rule_id}
    return [
        f for f in evaluate([r for r in rules_now if r.rule_id not in ids], baseline, facts) if f.violates
    ]


def _cannot_tell(
    event_id: str | None,
    group_id: str,
    errors: Sequence[str],
    look_error: str | None,
    breaking: Sequence[Finding],
) -> str:
    shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
    text = (
        f"event {event_id or '(no id)'} changed {group_id} but sgguard could not read all of it ({shown}), "
        "so it cannot tell which of the group's rules the event created; none was revoked for that part"
    )
    if look_error is not None:
        return text + f"; the group's rules could not be read either ({look_error}): check {group_id} by hand"
    if not breaking:
        return text + f"; none of {group_id}'s rules breaks the baseline now: check that nothing is missing"
    return (
        text + f"; {len(breaking)} of {group_id}'s rules break the baseline now (group_rules_breaking): "
        "revoke those the event added"
    )


def _unparsed(
    raw: object,
    errors: list[str],
    baseline: Baseline,
    mode: Mode,
    aws: AwsPort | None,
    connect: Connect,
    now: datetime,
    own: OwnIdentity | None = None,
    member_role: str | None = None,
    region_ok: bool = True,
) -> Decision:
    """An event that cannot be parsed is invalid. When it claims to be a rule change and names its
    group, people are told (ACTION NEEDED) and shown the group's rules that break the baseline now;
    only a record naming no group stays quiet (counted as SilentInvalidEvents)."""
    group_id, region = claimed_group(raw)
    if group_id is None:
        return invalid(raw, errors, mode, baseline.name)
    event_id = _text(raw, "eventID")
    if region is None or not region_ok or (aws is None and not _region_known(region)):
        words = _cannot_tell(event_id, group_id, errors, "its region is not a region name", [])
        return invalid(raw, errors, mode, baseline.name, group_id, Unread(errors, [words]))
    if aws is None:
        from chalicelib.adapters import sts

        own_arn = own() if own is not None else sts.own_arn()
        aws = live_aws(_text(raw, "recipientAccountId"), region, own_arn, member_role, connect)
    port = aws
    try:
        rules_now = port.rules_of_group(group_id)
    except _AWS_ERRORS as error:
        words = _cannot_tell(event_id, group_id, errors, str(error), [])
        return invalid(raw, errors, mode, baseline.name, group_id, Unread(errors, [words]))
    facts = _facts_for(group_id, rules_now, baseline, port, now, None, region)
    breaking = _breaking_now(rules_now, (), baseline, facts)
    words = _cannot_tell(event_id, group_id, errors, None, breaking)
    return invalid(raw, errors, mode, baseline.name, group_id, Unread(errors, [words], breaking))


def _region_known(region: str) -> bool:
    from chalicelib.adapters.clients import known_regions

    return region in known_regions()


def _text(raw: object, key: str) -> str | None:
    detail = raw.get("detail", raw) if isinstance(raw, dict) else None
    value = detail.get(key) if isinstance(detail, dict) else None
    return value if isinstance(value, str) else None


def act(
    judgement: Judgement,
    baseline: Baseline,
    mode: Mode,
    earlier: Earlier | None = None,
    delivery: Delivery = "first",
) -> Acted:
    """Read the violating rules' current state, revoke those that still violate, decide.

    The decision describes each rule as it was when sgguard acted (what it revoked, and what "put it
    back" must re-create), and says what the event said where that differs. ``earlier`` is what a
    previous attempt at the same event decided (see redelivery.py).
    """
    j = judgement
    checked = recheck(j.findings, baseline, j.facts, j.state, mode)
    results = {**checked.settled, **_execute(checked.still_violating, mode, j.aws)}
    results = merge(results, earlier)
    findings, in_event = _as_acted_on(j.findings, checked.still_violating)
    decision = decide(
        j.change,
        findings,
        mode,
        baseline.name,
        results,
        j.notes,
        j.resolve_error or ABSENT,
        j.unread,
        in_event,
    )
    if delivery != "first":
        decision = decision.model_copy(update={"delivery": delivery})
    return Acted(decision, results)


def _as_acted_on(
    findings: Sequence[Finding], current: Sequence[Finding]
) -> tuple[list[Finding], dict[str, str]]:
    """Each event finding replaced by its rule's current finding, where sgguard read one; and the
    event's words for the rules that had changed since (modified between the event and the action)."""
    by_id = {f.rule.rule_id: f for f in current if f.rule.rule_id}
    if not by_id:
        return list(findings), {}
    out: list[Finding] = []
    in_event: dict[str, str] = {}
    for finding in findings:
        now = by_id.get(finding.rule.rule_id) if finding.rule.rule_id else None
        if now is None:
            out.append(finding)
            continue
        rule = (
            now.rule if now.rule.rule_arn else dataclasses.replace(now.rule, rule_arn=finding.rule.rule_arn)
        )
        was, became = finding.rule, now.rule
        if (was.identity, was.description or None) != (became.identity, became.description or None):
            in_event[became.rule_id or ""] = was.in_words() + (
                f" ({was.description})" if was.description else ""
            )
        out.append(dataclasses.replace(now, rule=rule))
    return out, in_event


def process(
    raw: object,
    baseline: Baseline,
    mode: Mode,
    aws: AwsPort | None = None,
    now: datetime | None = None,
    own: OwnIdentity | None = None,
    member_role: str | None = None,
    connect: Connect | None = None,
) -> Decision:
    """One event in, one decision out, with every revocation the decision reports already made.

    ``aws`` defaults to ``connect`` (read-only unless given) for the event's region; ``now`` (the
    clock exemptions expire by) to the current time. Invalid or irrelevant events are never acted on.
    """
    judged = judge(raw, baseline, mode, aws, now, own, member_role, connect)
    if isinstance(judged, Decision):
        return judged
    return act(judged, baseline, mode).decision
