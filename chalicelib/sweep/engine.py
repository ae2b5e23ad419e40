"""The pure sweep engine: describe entries, group facts, baseline, clock and mode in; findings, the
revocation plan and the report out. No boto3 and no I/O: the live sweep (shell.py) and
``sgguard audit --from`` (saved dumps) feed it the same PascalCase dicts and get the same findings.

It reuses the event path's core unchanged: :func:`chalicelib.evaluate.evaluate` judges, and
:func:`chalicelib.decision.plan` batches revocations per group and direction. What differs at a sweep:

- its own mode (``report`` by default, ``enforce``), apart from REMEDIATION_MODE;
- a control with ``sweep = "report"`` is never revoked by a sweep, only reported;
- a rule found in place does not say who made it: an exemption scoped by principal is *unchecked*,
  and the rule is reported (held back), never revoked on a guess nor silently passed;
- the clock is the sweep's: an exemption that has expired no longer lifts anything, so the rule it
  allowed is a violation (revoked in ``enforce``): this is what makes temporary access end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.baseline import SEVERITY_ORDER, Baseline, Control
from chalicelib.decision import (
    ActionResult,
    ExemptedDoc,
    ExpiredExemptionDoc,
    NotJudgedDoc,
    Revocation,
    exempted_docs,
    expired_docs,
    finding_doc,
    plan,
)
from chalicelib.evaluate import Facts, Finding, evaluate
from chalicelib.notify import restore_command
from chalicelib.rules import PrefixList, Rule
from chalicelib.sweep.describe import GroupFacts, Interface, rule_from_describe
from chalicelib.sweep.report import (
    LISTED_INTERFACES,
    ControlCount,
    ExemptionStatus,
    Exposure,
    GroupReport,
    InterfaceDoc,
    Origin,
    Previous,
    SweepFinding,
    SweepMode,
    SweepReport,
    Totals,
)

UNKNOWN_GROUP = "the group was not in DescribeSecurityGroups' answer (created or deleted during the sweep?)"
NOT_IN_DUMP = "the group is not in the saved output of aws ec2 describe-security-groups given"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sweep_facts(
    groups: Mapping[str, GroupFacts],
    *,
    account: str | None,
    region: str | None,
    now: datetime,
    prefix_lists: Mapping[str, PrefixList | str] | None = None,
) -> Facts:
    """What the evaluation needs beyond the rules, for a sweep: the groups' names and VPCs (one
    DescribeSecurityGroups answers both), the prefix lists read so far, today's date (exemptions
    expire by it) and no actor (a rule in place does not say who made it)."""
    return Facts(
        group_names={g: facts.name for g, facts in groups.items()},
        group_vpcs={g: facts.vpc_id for g, facts in groups.items() if facts.vpc_id},
        why_unknown=UNKNOWN_GROUP,
        account=account,
        region=region,
        today=now.astimezone(UTC).date(),
        prefix_lists={} if prefix_lists is None else prefix_lists,  # the shell's dict, filled as it goes
        actors_known=False,
    )


def judge_items(items: Iterable[Mapping[str, Any]], baseline: Baseline, facts: Facts) -> list[Finding]:
    """DescribeSecurityGroupRules entries judged: one finding per rule, in order."""
    return evaluate(map(rule_from_describe, items), baseline, facts)


def judge_rules(rules: Iterable[Rule], baseline: Baseline, facts: Facts) -> Iterator[Finding]:
    """Canonical rules judged lazily, so that a dump of a million rules is never held as findings."""
    from chalicelib.evaluate import evaluate_rule

    for rule in rules:
        yield evaluate_rule(rule, baseline, facts)


def held_controls(finding: Finding) -> frozenset[str]:
    """Controls an exemption might lift that could not be checked at the sweep (scoped by principal):
    the rule is reported for them, not revoked."""
    return frozenset(c for nj in finding.not_judged if nj.exemption for c in nj.control_ids)


def _revokes_at_sweep(control: Control, held: frozenset[str]) -> bool:
    return control.action == "revoke" and control.sweep == "enforce" and control.id not in held


def revocable_at_sweep(finding: Finding) -> bool:
    """A violating rule the sweep revokes in enforce mode: it breaks a control whose action is revoke,
    that does not opt out of sweep enforcement, and for which no unchecked exemption might hold."""
    if not finding.violates or not finding.rule.rule_id:
        return False
    held = held_controls(finding)
    return any(_revokes_at_sweep(h.control, held) for h in finding.hits)


def plan_sweep(findings: Sequence[Finding], mode: SweepMode) -> list[Revocation]:
    """The revocations of one batch, one per group and direction (decision.plan's batching); nothing
    in report mode."""
    if mode != "enforce":
        return []
    return plan([f for f in findings if revocable_at_sweep(f)], "enforce")


def sweep_action(finding: Finding, mode: SweepMode, results: Mapping[str, ActionResult]) -> ActionResult:
    if not revocable_at_sweep(finding):
        held = held_controls(finding)
        if any(h.control.action == "revoke" for h in finding.hits):
            if any(h.control.id in held for h in finding.hits):
                return ActionResult("reported", note="held back: an exemption scoped by principal may apply")
            return ActionResult("reported", note="the control opts out of sweep enforcement (sweep = report)")
        return ActionResult("reported")
    if mode != "enforce":
        return ActionResult("would-revoke")
    rule_id = finding.rule.rule_id or ""
    return results.get(rule_id, ActionResult("failed", "sgguard did not attempt the revocation"))


# --- exposure -------------------------------------------------------------------------------------


def exposure_of(interfaces: Sequence[Interface]) -> Exposure:
    """A group's exposure from the interfaces it is attached to: public ones listed first."""
    kinds: dict[str, int] = {}
    for interface in interfaces:
        kinds[interface.kind] = kinds.get(interface.kind, 0) + 1
    ordered = sorted(interfaces, key=lambda i: (i.public_ip is None, i.kind, i.interface_id))
    return Exposure(
        attached=len(interfaces),
        public=sum(1 for i in interfaces if i.public_ip),
        kinds=kinds,
        interfaces=[
            InterfaceDoc(
                interface_id=i.interface_id,
                kind=i.kind,
                interface_type=i.interface_type,
                requester_id=i.requester_id,
                attached_to=i.attached_to,
                public_ip=i.public_ip,
                private_ip=i.private_ip,
                description=i.description,
            )
            for i in ordered[:LISTED_INTERFACES]
        ],
    )


def exposures(interfaces: Iterable[Interface], group_ids: Iterable[str]) -> dict[str, Exposure]:
    """Each wanted group's exposure; a group no interface names is attached to nothing."""
    wanted = set(group_ids)
    found: dict[str, list[Interface]] = {g: [] for g in wanted}
    for interface in interfaces:
        for group_id in interface.group_ids:
            if group_id in wanted:
                found[group_id].append(interface)
    return {g: exposure_of(items) for g, items in found.items()}


def unknown_exposure(why: str) -> Exposure:
    return Exposure(known=False, why_unknown=why)


_ACTION_ORDER = {"failed": 0, "revoked": 1, "already-absent": 2, "would-revoke": 3, "reported": 4}


def finding_priority(finding: SweepFinding) -> tuple[object, ...]:
    """What a reader must see first (lowest first): new findings, failures, revocations (with their
    restore command), then by severity."""
    return (
        0 if finding.new else 1,
        _ACTION_ORDER.get(finding.action, 5),
        -SEVERITY_ORDER[finding.severity],
        finding.rule_id or "",
    )


def exposure_rank(group: GroupReport) -> tuple[Any, ...]:
    """Most exposed first: public interfaces, then attached ones, then severity; an unknown exposure
    counts as the worst (it may be public); unattached groups and groups without violations last."""
    exposure = group.exposure
    if not group.violating:
        return (2, 0, 0, -SEVERITY_ORDER[group.severity], group.group_id)
    if exposure is None or not exposure.known:
        return (0, -(10**9), -(10**9), -SEVERITY_ORDER[group.severity], group.group_id)
    bucket = 0 if exposure.attached else 1
    return (bucket, -exposure.public, -exposure.attached, -SEVERITY_ORDER[group.severity], group.group_id)


# --- the report -----------------------------------------------------------------------------------


@dataclass
class _Group:
    facts: GroupFacts | None
    findings: list[SweepFinding] = field(default_factory=list)
    exempted: list[ExemptedDoc] = field(default_factory=list)
    expired: list[ExpiredExemptionDoc] = field(default_factory=list)
    not_judged: list[NotJudgedDoc] = field(default_factory=list)
    exposure: Exposure | None = None
    violating: int = 0
    severity: str = "INFORMATIONAL"


@dataclass
class ReportBuilder:
    """Accumulates findings batch by batch into a :class:`SweepReport`. It keeps what the report
    shows (violating, exempted and unjudged rules) and only counts compliant ones, so memory grows
    with the violations, not with the rules swept.

    ``previous`` holds the rule ids that violated at the previous sweep (None: there was none, and
    every violation is new)."""

    baseline: Baseline
    sweep_id: str
    mode: SweepMode
    started_at: datetime
    account: str | None = None
    region: str | None = None
    origin: Origin = "live"
    previous: Previous | None = None
    previous_ids: frozenset[str] | None = None
    totals: dict[str, int] = field(default_factory=dict)
    violating_ids: set[str] = field(default_factory=set)
    _groups: dict[str, _Group] = field(default_factory=dict)
    _controls: dict[str, ControlCount] = field(default_factory=dict)
    _control_groups: dict[str, set[str]] = field(default_factory=dict)
    _by_severity: dict[str, int] = field(default_factory=dict)
    _lifted: dict[str, int] = field(default_factory=dict)
    _expired: dict[str, int] = field(default_factory=dict)
    not_judged: list[NotJudgedDoc] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    on_finding: Callable[[SweepFinding], None] | None = None
    """Called with each violating rule as it is judged (``sgguard audit --format jsonl`` streams them)."""
    keep_findings: bool = True
    """False: the report counts violating rules but lists none (memory stays flat for huge dumps)."""
    max_findings: int | None = None
    """Keep at most this many violating rules in the report, the most important (``finding_priority``)
    first; the others are counted in ``findings_omitted`` (and were given to ``on_finding``). This
    bounds the scheduled sweep's memory whatever the number of violations."""
    _kept: list[tuple[tuple[object, ...], int, SweepFinding]] = field(default_factory=list)
    _dropped: int = 0

    def _count(self, name: str, n: int = 1) -> None:
        self.totals[name] = self.totals.get(name, 0) + n

    def count_groups(self, n: int) -> None:
        self._count("groups", n)

    def _group(self, group_id: str, groups: Mapping[str, GroupFacts]) -> _Group:
        entry = self._groups.get(group_id)
        if entry is None:
            entry = self._groups[group_id] = _Group(groups.get(group_id))
        return entry

    def add(
        self,
        findings: Iterable[Finding],
        groups: Mapping[str, GroupFacts],
        results: Mapping[str, ActionResult] | None = None,
    ) -> None:
        """One batch's findings, after its revocations (``results`` by rule id) were made."""
        results = results or {}
        for finding in findings:
            self._count("rules")
            rule = finding.rule
            if finding.not_judged:
                self._count("not_judged")
            if not (finding.violates or finding.exempted or finding.not_judged):
                continue
            entry = self._group(rule.group_id, groups)
            if finding.violates:
                doc = self._finding(finding, results)
                if self.on_finding is not None:
                    self.on_finding(doc)
                if self.keep_findings and self.max_findings is None:
                    entry.findings.append(doc)
                elif self.keep_findings:
                    self._keep(doc)
                entry.violating += 1
                if SEVERITY_ORDER[doc.severity] > SEVERITY_ORDER[entry.severity]:
                    entry.severity = doc.severity
            if finding.exempted:
                self._count("exempted")
                entry.exempted.extend(exempted_docs([finding]))
                for lifted in {x.exemption.id for x in finding.exempted}:
                    self._lifted[lifted] = self._lifted.get(lifted, 0) + 1
            if finding.expired:
                entry.expired.extend(expired_docs([finding]))
                for gone in {x.exemption.id for x in finding.expired}:
                    self._expired[gone] = self._expired.get(gone, 0) + 1
            entry.not_judged.extend(
                NotJudgedDoc(rule_id=rule.rule_id, controls=list(nj.control_ids), reason=nj.reason)
                for nj in finding.not_judged
            )

    def merge(self, other: ReportBuilder) -> None:
        """Fold in what another builder judged of the rules that come after this one's (a piece of a
        dump judged on another process): the result is what one builder over all the rules holds."""
        for name, n in other.totals.items():
            self._count(name, n)
        self.violating_ids |= other.violating_ids
        for group_id, theirs in other._groups.items():
            mine = self._groups.get(group_id)
            if mine is None:
                self._groups[group_id] = theirs
                continue
            mine.findings.extend(theirs.findings)
            mine.exempted.extend(theirs.exempted)
            mine.expired.extend(theirs.expired)
            mine.not_judged.extend(theirs.not_judged)
            mine.violating += theirs.violating
            if SEVERITY_ORDER[theirs.severity] > SEVERITY_ORDER[mine.severity]:
                mine.severity = theirs.severity
        for control, count in other._controls.items():
            known = self._controls.get(control)
            self._controls[control] = (
                count
                if known is None
                else known.model_copy(
                    update={"rules": known.rules + count.rules, "new": known.new + count.new}
                )
            )
            self._control_groups.setdefault(control, set()).update(other._control_groups.get(control, ()))
        for into, given in (
            (self._by_severity, other._by_severity),
            (self._lifted, other._lifted),
            (self._expired, other._expired),
        ):
            for key, n in given.items():
                into[key] = into.get(key, 0) + n
        self.not_judged.extend(other.not_judged)
        self.errors.extend(other.errors)
        base = len(self._kept) + self._dropped  # other's rules come after all of this one's
        self._kept.extend((priority, base + order, doc) for priority, order, doc in other._kept)
        self._dropped += other._dropped

    def _finding(self, finding: Finding, results: Mapping[str, ActionResult]) -> SweepFinding:
        rule = finding.rule
        result = sweep_action(finding, self.mode, results)
        doc = finding_doc(finding, result)
        if doc.rule_arn is None and rule.rule_id and self.account and self.region:
            arn = f"arn:aws:ec2:{self.region}:{self.account}:security-group-rule/{rule.rule_id}"
            doc = doc.model_copy(
                update={"rule_arn": arn}
            )  # describe pages may omit it; it follows from the id
        new = True if self.previous_ids is None else (rule.rule_id or "") not in self.previous_ids
        restore = None
        if result.action in ("revoked", "already-absent"):
            restore = restore_command(doc, rule.group_id, self.region)
        self._count("violating")
        self._count(result.action.replace("-", "_"))
        if finding.expired:
            self._count("expired_exemption")
        if new:
            self._count("new")
        if rule.rule_id:
            self.violating_ids.add(rule.rule_id)
        self._by_severity[finding.severity] = self._by_severity.get(finding.severity, 0) + 1
        for hit in finding.hits:
            control = hit.control
            count = self._controls.get(control.id)
            if count is None:
                count = self._controls[control.id] = ControlCount(
                    control=control.id,
                    title=control.title,
                    severity=control.severity,
                    rationale=control.rationale,
                    sweep=control.sweep,
                )
                self._control_groups[control.id] = set()
            self._controls[control.id] = count.model_copy(
                update={"rules": count.rules + 1, "new": count.new + (1 if new else 0)}
            )
            self._control_groups[control.id].add(rule.group_id)
        return SweepFinding(**doc.model_dump(), group_id=rule.group_id, new=new, restore=restore)

    def _keep(self, doc: SweepFinding) -> None:
        assert self.max_findings is not None
        self._kept.append((finding_priority(doc), len(self._kept) + self._dropped, doc))
        if len(self._kept) >= 2 * self.max_findings + 1:
            self._kept.sort(key=lambda kept: kept[:2])
            self._dropped += len(self._kept) - self.max_findings
            del self._kept[self.max_findings :]

    def violating_groups(self, group_ids: Iterable[str]) -> list[str]:
        """Of the given groups, those with violating rules (their exposure is worth a call)."""
        return [g for g in group_ids if g in self._groups and self._groups[g].violating]

    def set_exposure(self, found: Mapping[str, Exposure]) -> None:
        for group_id, exposure in found.items():
            if group_id in self._groups:
                self._groups[group_id].exposure = exposure

    def build(
        self, finished_at: datetime, *, complete: bool = True, cursor: str | None = None
    ) -> SweepReport:
        omitted = self._dropped
        if self._kept:
            self._kept.sort(key=lambda kept: kept[:2])
            omitted += max(0, len(self._kept) - (self.max_findings or 0))
            for _, _, doc in self._kept[: self.max_findings]:
                self._groups[doc.group_id].findings.append(doc)
            self._kept.clear()
            self._dropped = omitted
        reports = [self._group_report(g, entry) for g, entry in self._groups.items()]
        reports.sort(key=exposure_rank)
        totals = dict(self.totals)
        if complete and self.previous_ids is not None:
            totals["gone"] = len(self.previous_ids - self.violating_ids)
        controls = [
            c.model_copy(update={"groups": len(self._control_groups[c.control])})
            for c in self._controls.values()
        ]
        controls.sort(key=lambda c: (-SEVERITY_ORDER[c.severity], -c.rules, c.control))
        today = self.started_at.astimezone(UTC).date()
        return SweepReport(
            sweep_id=self.sweep_id,
            origin=self.origin,
            account=self.account,
            region=self.region,
            baseline=self.baseline.name,
            mode=self.mode,
            started_at=iso(self.started_at),
            finished_at=iso(finished_at),
            complete=complete,
            cursor=cursor,
            totals=Totals(**totals),
            by_severity=dict(sorted(self._by_severity.items(), key=lambda kv: -SEVERITY_ORDER[kv[0]])),
            by_control=controls,
            groups=reports,
            findings_omitted=omitted,
            not_judged=list(self.not_judged),
            errors=list(self.errors),
            exemptions=[
                ExemptionStatus(
                    id=e.id,
                    controls=list(e.controls),
                    reason=e.reason,
                    expires=e.expires.isoformat(),
                    expired=e.expired(today),
                    rules_lifted=self._lifted.get(e.id, 0),
                    rules_expired=self._expired.get(e.id, 0),
                )
                for e in self.baseline.exemptions
            ],
            previous=self.previous,
        )

    @staticmethod
    def _group_report(group_id: str, entry: _Group) -> GroupReport:
        facts = entry.facts
        return GroupReport(
            group_id=group_id,
            group_name=facts.name if facts else None,
            vpc_id=facts.vpc_id if facts else None,
            is_default=facts.is_default if facts else False,
            severity=entry.severity,
            violating=entry.violating,
            exposure=entry.exposure,
            findings=entry.findings,
            exempted=entry.exempted,
            exemptions_expired=entry.expired,
            not_judged=entry.not_judged,
        )


def sweep_dump(
    rule_items: Iterable[Mapping[str, Any] | Rule],
    group_items: Iterable[Mapping[str, Any] | GroupFacts],
    baseline: Baseline,
    now: datetime,
    *,
    account: str | None = None,
    region: str | None = None,
    prefix_lists: Mapping[str, PrefixList | str] | None = None,
    interfaces: Iterable[Interface] | None = None,
    sweep_id: str = "dump",
    on_finding: Callable[[SweepFinding], None] | None = None,
    keep_findings: bool = True,
) -> SweepReport:
    """Judge saved describe output with no AWS at all (``sgguard audit --from``): the same findings as a
    live sweep of the same rules, in report mode. Prefix lists not given are *not judged* (never
    passed); exposure is shown only when the interfaces are given.

    ``rule_items`` and ``group_items`` may already be canonical (:class:`Rule`, :class:`GroupFacts`):
    ``sgguard audit --from`` converts each entry of an untrusted file once, with
    :func:`~chalicelib.sweep.describe.checked_rule`, and reports a bad one by file, entry and field."""
    dump = DumpSweep.start(
        group_items,
        baseline,
        now,
        account=account,
        region=region,
        prefix_lists=prefix_lists,
        sweep_id=sweep_id,
        on_finding=on_finding,
        keep_findings=keep_findings,
    )
    dump.builder.count_groups(len(dump.groups))
    dump.judge(rule_items)
    return dump.finish(interfaces)


@dataclass
class DumpSweep:
    """One judgement of saved describe output, in parts: :meth:`judge` may be called for several
    runs of rules, and another part's builder merged in (:meth:`ReportBuilder.merge`: ``sgguard
    audit --from`` judges a big dump in pieces on several processes, each with its own DumpSweep)."""

    builder: ReportBuilder
    facts: Facts
    groups: dict[str, GroupFacts]

    @classmethod
    def start(
        cls,
        group_items: Iterable[Mapping[str, Any] | GroupFacts],
        baseline: Baseline,
        now: datetime,
        *,
        account: str | None = None,
        region: str | None = None,
        prefix_lists: Mapping[str, PrefixList | str] | None = None,
        sweep_id: str = "dump",
        on_finding: Callable[[SweepFinding], None] | None = None,
        keep_findings: bool = True,
    ) -> DumpSweep:
        from chalicelib.sweep.describe import groups_by_id

        given = list(group_items)
        groups = {g.group_id: g for g in given if isinstance(g, GroupFacts)}
        groups.update(groups_by_id(g for g in given if not isinstance(g, GroupFacts)))
        facts = sweep_facts(groups, account=account, region=region, now=now, prefix_lists=prefix_lists)
        facts = Facts(**{**_fields(facts), "why_unknown": NOT_IN_DUMP})
        if prefix_lists is None:
            facts = Facts(**{**_fields(facts), "prefix_lists": _Unread("no prefix-list dump was given")})
        builder = ReportBuilder(
            baseline,
            sweep_id,
            "report",
            now,
            account,
            region,
            origin="dump",
            on_finding=on_finding,
            keep_findings=keep_findings,
        )
        return cls(builder, facts, groups)

    def fresh(
        self, on_finding: Callable[[SweepFinding], None] | None = None, keep_findings: bool = True
    ) -> DumpSweep:
        """Another part of the same judgement: the same facts and groups, an empty builder."""
        b = self.builder
        builder = ReportBuilder(
            b.baseline,
            b.sweep_id,
            b.mode,
            b.started_at,
            b.account,
            b.region,
            origin=b.origin,
            on_finding=on_finding,
            keep_findings=keep_findings,
        )
        return DumpSweep(builder, self.facts, self.groups)

    def judge(self, rule_items: Iterable[Mapping[str, Any] | Rule]) -> None:
        rules = (i if isinstance(i, Rule) else rule_from_describe(i) for i in rule_items)
        self.builder.add(judge_rules(rules, self.builder.baseline, self.facts), self.groups)

    def finish(self, interfaces: Iterable[Interface] | None = None) -> SweepReport:
        builder = self.builder
        if interfaces is not None:
            builder.set_exposure(exposures(interfaces, builder.violating_groups(self.groups)))
        return builder.build(builder.started_at)


def _fields(facts: Facts) -> dict[str, Any]:
    return {name: getattr(facts, name) for name in Facts.__dataclass_fields__}


class _Unread(dict[str, PrefixList | str]):
    """Every prefix list unread, for the same reason (a dump without prefix lists)."""

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why

    def get(self, key: str, default: Any = None) -> PrefixList | str:
        return self.why


def merge_parts(earlier: SweepReport, later: SweepReport) -> SweepReport:
    """One report for a sweep that took several invocations: ``later`` resumed where ``earlier``
    stopped, so their groups are distinct (a group re-read after a failed read is taken from the later
    part, which judged it whole). Counts add up; the later part says whether the sweep is complete."""
    later_groups = {g.group_id for g in later.groups}
    groups = [g for g in earlier.groups if g.group_id not in later_groups] + list(later.groups)
    groups.sort(key=exposure_rank)
    totals = {
        name: getattr(earlier.totals, name) + getattr(later.totals, name) for name in Totals.model_fields
    }
    by_severity = dict(earlier.by_severity)
    for severity, n in later.by_severity.items():
        by_severity[severity] = by_severity.get(severity, 0) + n
    controls = {c.control: c for c in earlier.by_control}
    for c in later.by_control:
        was = controls.get(c.control)
        controls[c.control] = (
            c
            if was is None
            else c.model_copy(
                update={"rules": was.rules + c.rules, "groups": was.groups + c.groups, "new": was.new + c.new}
            )
        )
    lifted = {e.id: e for e in earlier.exemptions}
    exemptions = [
        e.model_copy(
            update={
                "rules_lifted": e.rules_lifted + (lifted[e.id].rules_lifted if e.id in lifted else 0),
                "rules_expired": e.rules_expired + (lifted[e.id].rules_expired if e.id in lifted else 0),
            }
        )
        for e in later.exemptions
    ]
    return later.model_copy(
        update={
            "sweep_id": earlier.sweep_id,
            "started_at": earlier.started_at,
            "parts": earlier.parts + later.parts,
            "totals": Totals(**totals),
            "by_severity": dict(sorted(by_severity.items(), key=lambda kv: -SEVERITY_ORDER[kv[0]])),
            "by_control": sorted(
                controls.values(), key=lambda c: (-SEVERITY_ORDER[c.severity], -c.rules, c.control)
            ),
            "groups": groups,
            "groups_omitted": earlier.groups_omitted + later.groups_omitted,
            "findings_omitted": earlier.findings_omitted + later.findings_omitted,
            "not_judged": [*earlier.not_judged, *later.not_judged],
            "exemptions": exemptions,
            "previous": earlier.previous,
        }
    )
