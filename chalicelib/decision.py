"""Pure decisions: findings and the mode in, a revocation plan and the decision document out.

The decision document is sgguard's one output format: the handler returns it, logs it as one JSON
line, sends it to machine subscribers over SNS, and the replay command prints it. Its field names are
a public interface; other tools read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.evaluate import Expired, Finding, Lifted
from chalicelib.events import Record, RuleChange, UserIdentity
from chalicelib.exemptions import Exemption
from chalicelib.identity import PersonSource, who
from chalicelib.rules import Direction, Rule

Mode = Literal["enforce", "dry-run"]
MODES: tuple[Mode, ...] = ("enforce", "dry-run")
Outcome = Literal["violation", "compliant", "ignored", "invalid"]
Action = Literal["revoked", "would-revoke", "already-absent", "already-fixed", "failed", "reported"]
Delivery = Literal["first", "retry", "duplicate"]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(_Doc):
    person: str | None = None
    """The best human identity the record holds (chalicelib.identity); ``person_source`` says whence."""
    person_source: PersonSource | None = None
    via: str | None = None
    """The role, permission set or service the person acted through."""
    type: str | None = None
    arn: str | None = None
    principal: str | None = None
    session: str | None = None
    invoked_by: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


class Why(_Doc):
    control: str
    severity: str
    title: str
    reason: str


class FindingDoc(_Doc):
    rule_id: str | None
    rule_arn: str | None
    direction: Direction
    protocol: str
    from_port: int | None
    to_port: int | None
    source: str
    controls: list[str]
    severity: str
    action: Action
    error: str | None = None
    description: str | None = None
    why: list[Why]
    note: str | None = None
    """What an earlier attempt at the same event did, e.g. revoked it before a notification failed."""
    in_event: str | None = None
    """The rule as the event described it, in words, when the rule sgguard found (and revoked) had been
    changed since: every other field describes the rule as it was when sgguard acted."""


class NotJudgedDoc(_Doc):
    rule_id: str | None
    controls: list[str]
    reason: str
    retryable: bool = False
    """AWS throttled or failed on its side: a later attempt may read what this one could not."""


class ExemptedDoc(_Doc):
    """Controls a rule breaks that an exemption of the baseline lifts: reported, not revoked."""

    rule_id: str | None
    controls: list[str]
    exemption: str
    reason: str
    expires: str


class ExpiredExemptionDoc(_Doc):
    """An exemption that would have lifted these controls for this rule, had it not expired."""

    rule_id: str | None
    controls: list[str]
    exemption: str
    expired_on: str


class Decision(_Doc):
    event_id: str | None
    event_name: str | None
    event_time: str | None
    account: str | None
    region: str | None
    group_id: str | None
    actor: Actor
    outcome: Outcome
    reason: str
    mode: Mode
    baseline: str | None = None
    findings: list[FindingDoc] = []
    not_judged: list[NotJudgedDoc] = []
    exempted: list[ExemptedDoc] = []
    exemptions_expired: list[ExpiredExemptionDoc] = []
    findings_omitted: int = 0
    """Only in copies trimmed to fit a size limit (SNS); the log always carries every finding."""
    delivery: Delivery = "first"
    """``retry``: an earlier attempt at this event failed before its message went out; ``duplicate``:
    the event was already decided and notified (EventBridge delivers at least once)."""
    event_errors: list[str] = []
    """Fields of the event sgguard could not read (``path: problem``), also when the decision could be
    reached without them (AWS's rule set said what was created)."""
    action_needed: list[str] = []
    """What people must look at because sgguard could not: rules it could not judge or tell apart.
    Not empty: a message marked ACTION NEEDED goes out, whatever the outcome."""
    group_rules_breaking: list[FindingDoc] = []
    """The group's current rules that break the baseline, read because the event could not be; not
    revoked (action ``reported``): which of them the event created is unknown."""
    omitted: dict[str, int] = {}
    """Only in copies trimmed to fit a size limit (SNS): how many entries of each list were left out."""

    @property
    def severity(self) -> str:
        return max(
            (f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__, default="INFORMATIONAL"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def needs_message(self) -> bool:
        """A violation, or something people must look at: never a silent pass."""
        return self.outcome == "violation" or bool(self.action_needed)

    @property
    def retryable(self) -> bool:
        """Something could not be judged because AWS throttled or failed: a later attempt may."""
        return any(n.retryable for n in self.not_judged)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One RevokeSecurityGroup{Ingress,Egress} call: AWS takes one group and one direction per call."""

    group_id: str
    direction: Direction
    rule_ids: tuple[str, ...]


def plan(findings: Sequence[Finding], mode: Mode) -> list[Revocation]:
    """Which rule ids to revoke, grouped per (group, direction). Nothing in dry-run; never a rule that
    no revoke-action control flags; never a rule without an id."""
    if mode != "enforce":
        return []
    wanted: dict[tuple[str, Direction], list[str]] = defaultdict(list)
    for finding in findings:
        rule = finding.rule
        if (
            finding.must_revoke
            and rule.rule_id
            and rule.rule_id not in wanted[(rule.group_id, rule.direction)]
        ):
            wanted[(rule.group_id, rule.direction)].append(rule.rule_id)
    return [Revocation(group, direction, tuple(ids)) for (group, direction), ids in wanted.items() if ids]


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    error: str | None = None
    note: str | None = None
    retryable: bool = False


ABSENT = ActionResult("already-absent")


def action_for(
    finding: Finding, mode: Mode, results: Mapping[str, ActionResult], without_id: ActionResult = ABSENT
) -> ActionResult:
    """What happened to a violating rule, given the results of the plan's calls. A rule that still has
    no id after the group's rules were searched for it is gone (``without_id``, unless the search failed)."""
    if not finding.must_revoke:
        return ActionResult("reported")
    if mode != "enforce":
        return ActionResult("would-revoke")
    rule_id = finding.rule.rule_id
    if rule_id is None:
        return without_id
    return results.get(rule_id, ActionResult("failed", "sgguard did not attempt the revocation"))


def actor_of(identity: UserIdentity, record: Record) -> Actor:
    found = who(identity)
    return Actor(
        person=found.person,
        person_source=found.person_source,
        via=found.via,
        type=identity.type,
        arn=identity.arn,
        principal=identity.principal,
        session=identity.session_name,
        invoked_by=identity.invoked_by,
        source_ip=record.source_ip,
        user_agent=record.user_agent,
    )


def _finding_doc(finding: Finding, result: ActionResult) -> FindingDoc:
    rule: Rule = finding.rule
    return FindingDoc(
        rule_id=rule.rule_id,
        rule_arn=rule.rule_arn,
        direction=rule.direction,
        protocol=rule.protocol,
        from_port=rule.from_port,
        to_port=rule.to_port,
        source=rule.source.value,
        controls=[h.control.id for h in finding.hits],
        severity=finding.severity,
        action=result.action,
        error=result.error,
        description=rule.description,
        why=[
            Why(control=h.control.id, severity=h.control.severity, title=h.control.title, reason=h.reason)
            for h in finding.hits
        ],
        note=result.note,
    )


finding_doc = _finding_doc
"""Public name: the sweep builds its findings with the same words and fields as the event decision."""


def _by_exemption(items: Iterable[Lifted | Expired]) -> dict[str, tuple[Exemption, list[str]]]:
    """One rule's lifted (or expired) controls, grouped per exemption, in order."""
    grouped: dict[str, tuple[Exemption, list[str]]] = {}
    for item in items:
        grouped.setdefault(item.exemption.id, (item.exemption, []))[1].append(item.hit.control.id)
    return grouped


def _exempted_docs(findings: Sequence[Finding]) -> list[ExemptedDoc]:
    return [
        ExemptedDoc(
            rule_id=f.rule.rule_id,
            controls=controls,
            exemption=exemption.id,
            reason=exemption.reason,
            expires=exemption.expires.isoformat(),
        )
        for f in findings
        for exemption, controls in _by_exemption(f.exempted).values()
    ]


def _expired_docs(findings: Sequence[Finding]) -> list[ExpiredExemptionDoc]:
    return [
        ExpiredExemptionDoc(
            rule_id=f.rule.rule_id,
            controls=controls,
            exemption=exemption.id,
            expired_on=exemption.expires.isoformat(),
        )
        for f in findings
        for exemption, controls in _by_exemption(f.expired).values()
    ]


exempted_docs = _exempted_docs
expired_docs = _expired_docs


def _header(record: Record, group_id: str | None, mode: Mode, baseline: str | None) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "event_name": record.event_name,
        "event_time": record.event_time.isoformat().replace("+00:00", "Z"),
        "account": record.recipient_account_id or record.user_identity.account_id,
        "region": record.aws_region,
        "group_id": group_id,
        "actor": actor_of(record.user_identity, record),
        "mode": mode,
        "baseline": baseline,
    }


@dataclass(frozen=True, slots=True)
class Unread:
    """What the shell could not read of an event, and what it found in the group instead."""

    errors: Sequence[str] = ()
    action_needed: Sequence[str] = ()
    group_rules_breaking: Sequence[Finding] = ()


def not_judged_words(doc: NotJudgedDoc) -> str:
    rule = f"rule {doc.rule_id}" if doc.rule_id else "a rule"
    controls = f" against {', '.join(doc.controls)}" if doc.controls else ""
    return f"could not judge {rule}{controls}: {doc.reason}"


def decide(
    change: RuleChange,
    findings: Sequence[Finding],
    mode: Mode,
    baseline: str,
    results: Mapping[str, ActionResult],
    extra_not_judged: Sequence[NotJudgedDoc] = (),
    without_id: ActionResult = ABSENT,
    unread: Unread | None = None,
    in_event: Mapping[str, str] | None = None,
) -> Decision:
    """The decision document for an event whose rules were evaluated (and perhaps revoked).

    ``in_event`` maps a rule id to the event's words for it, where the rule acted on differs."""
    unread = unread or Unread()
    violating = [f for f in findings if f.violates]
    docs = [_finding_doc(f, action_for(f, mode, results, without_id)) for f in violating]
    if in_event:
        docs = [
            d.model_copy(update={"in_event": in_event[d.rule_id]})
            if d.rule_id and d.rule_id in in_event
            else d
            for d in docs
        ]
    not_judged = [
        NotJudgedDoc(
            rule_id=f.rule.rule_id, controls=list(nj.control_ids), reason=nj.reason, retryable=nj.retryable
        )
        for f in findings
        for nj in f.not_judged
    ]
    not_judged.extend(extra_not_judged)
    exempted, expired = _exempted_docs(findings), _expired_docs(findings)
    if docs:
        controls = sorted({c for d in docs for c in d.controls})
        counts = _count_actions(docs)
        reason = f"{len(docs)} of {len(findings)} rules break {baseline} ({', '.join(controls)}): {counts}"
        outcome: Outcome = "violation"
    elif unread.action_needed:  # rules that could not be read nor found: the event is not understood
        reason = "; ".join(unread.errors)[:4000] + f"; {len(findings)} readable rules comply with {baseline}"
        outcome = "invalid"
    else:
        reason = f"all {len(findings)} rules comply with {baseline}"
        if not_judged:
            reason += f"; {len(not_judged)} could not be judged (see not_judged)"
        outcome = "compliant"
    if exempted:
        names = ", ".join(sorted({e.exemption for e in exempted}))
        reason += f"; {len({e.rule_id for e in exempted})} rule(s) exempted by {names} (see exempted)"
    for name, day in sorted({(x.exemption, x.expired_on) for x in expired}):
        reason += f"; exemption {name} expired on {day}"
    if unread.action_needed:
        reason += "; ACTION NEEDED: part of the event could not be read (see action_needed)"
    return Decision(
        **_header(change.record, change.group_id, mode, baseline),
        outcome=outcome,
        reason=reason,
        findings=docs,
        not_judged=not_judged,
        exempted=exempted,
        exemptions_expired=expired,
        event_errors=list(unread.errors),
        action_needed=[*unread.action_needed, *(not_judged_words(n) for n in not_judged)],
        group_rules_breaking=[_finding_doc(f, ActionResult("reported")) for f in unread.group_rules_breaking],
    )


def _count_actions(docs: Sequence[FindingDoc]) -> str:
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc.action] = counts.get(doc.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in counts.items())


def ignored(record: Record, reason: str, mode: Mode, baseline: str | None = None) -> Decision:
    group_id = None
    return Decision(**_header(record, group_id, mode, baseline), outcome="ignored", reason=reason)


def invalid(
    raw: Any,
    errors: Sequence[str],
    mode: Mode,
    baseline: str | None = None,
    group_id: str | None = None,
    unread: Unread | None = None,
) -> Decision:
    """A document for an event that could not be understood, carrying what little can be read of it:
    for one that names its group, what people must look at there (``unread``)."""
    unread = unread or Unread()
    detail: Mapping[str, Any] = {}
    if isinstance(raw, Mapping):
        inner = raw.get("detail")
        detail = inner if isinstance(inner, Mapping) else raw

    def text(key: str) -> str | None:
        value = detail.get(key)
        return value if isinstance(value, str) else None

    return Decision(
        event_id=text("eventID"),
        event_name=text("eventName"),
        event_time=text("eventTime"),
        account=text("recipientAccountId"),
        region=text("awsRegion"),
        group_id=group_id,
        actor=Actor(),
        outcome="invalid",
        reason="; ".join(errors)[:4000],
        mode=mode,
        baseline=baseline,
        event_errors=list(errors)[:100],
        action_needed=list(unread.action_needed),
        group_rules_breaking=[_finding_doc(f, ActionResult("reported")) for f in unread.group_rules_breaking],
    )
