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


class NotJudgedDoc(_Doc):
    rule_id: str | None
    controls: list[str]
    reason: str


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

    @property
    def severity(self) -> str:
        return max(
            (f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__, default="INFORMATIONAL"
        )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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


def decide(
    change: RuleChange,
    findings: Sequence[Finding],
    mode: Mode,
    baseline: str,
    results: Mapping[str, ActionResult],
    extra_not_judged: Sequence[NotJudgedDoc] = (),
    without_id: ActionResult = ABSENT,
) -> Decision:
    """The decision document for an event whose rules were evaluated (and perhaps revoked)."""
    violating = [f for f in findings if f.violates]
    docs = [_finding_doc(f, action_for(f, mode, results, without_id)) for f in violating]
    not_judged = [
        NotJudgedDoc(rule_id=f.rule.rule_id, controls=list(nj.control_ids), reason=nj.reason)
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
    return Decision(
        **_header(change.record, change.group_id, mode, baseline),
        outcome=outcome,
        reason=reason,
        findings=docs,
        not_judged=not_judged,
        exempted=exempted,
        exemptions_expired=expired,
    )


def _count_actions(docs: Sequence[FindingDoc]) -> str:
    counts: dict[str, int] = {}
    for doc in docs:
        counts[doc.action] = counts.get(doc.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in counts.items())


def ignored(record: Record, reason: str, mode: Mode, baseline: str | None = None) -> Decision:
    group_id = None
    return Decision(**_header(record, group_id, mode, baseline), outcome="ignored", reason=reason)


def invalid(raw: Any, errors: Sequence[str], mode: Mode, baseline: str | None = None) -> Decision:
    """A document for an event that could not be understood, carrying what little can be read of it."""
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
        group_id=None,
        actor=Actor(),
        outcome="invalid",
        reason="; ".join(errors)[:4000],
        mode=mode,
        baseline=baseline,
    )
