"""The sweep report: one JSON document per sweep of an account and region (or of a saved dump).

Every way out renders this document and none re-derives a verdict: the SNS summary, ``sgguard audit``'s
text/json/jsonl/html, chat, Security Hub and EventBridge. Its field names are a public interface;
``version`` changes when a field changes meaning or goes away (adding a field keeps the version).

Per violating rule the document reuses the event decision's :class:`~chalicelib.decision.FindingDoc`
(same ``action`` words, same ``why``), adding the group, whether it is new since the previous sweep
and the command that restores it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chalicelib.decision import ExemptedDoc, ExpiredExemptionDoc, FindingDoc, NotJudgedDoc

REPORT_VERSION: Literal["sgguard.sweep/1"] = "sgguard.sweep/1"
SweepMode = Literal["report", "enforce"]
SWEEP_MODES: tuple[SweepMode, ...] = ("report", "enforce")
Origin = Literal["live", "dump"]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SweepFinding(FindingDoc):
    """A violating rule as the sweep found it. ``action``: ``revoked``/``already-absent``/``failed`` in
    enforce; ``would-revoke`` in report mode; ``reported`` when no control it breaks revokes at the
    sweep (``action = "notify"``, or ``sweep = "report"`` on the control)."""

    group_id: str
    new: bool | None = None
    """Not violating at the previous sweep (None: there was no previous sweep to compare with)."""
    restore: str | None = None
    """The AWS CLI command that puts the rule back exactly as it was (only for revoked rules)."""


class InterfaceDoc(_Doc):
    interface_id: str
    kind: str
    """instance, load balancer, lambda, endpoint, database, cache, container, nat gateway, unattached, ..."""
    interface_type: str
    requester_id: str | None = None
    attached_to: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    description: str | None = None


class Exposure(_Doc):
    """What a group's rules reach: the network interfaces the group is attached to.

    ``known`` is False when DescribeNetworkInterfaces failed (``why_unknown``): the group is then
    ordered as if exposed, never as unattached. ``interfaces`` lists at most ``LISTED_INTERFACES``;
    the counts cover all of them."""

    known: bool = True
    why_unknown: str | None = None
    attached: int = 0
    public: int = 0
    kinds: dict[str, int] = {}
    interfaces: list[InterfaceDoc] = []

    def in_words(self) -> str:
        if not self.known:
            return f"exposure unknown ({self.why_unknown})"
        if not self.attached:
            return "attached to no network interface"
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.kinds.items(), key=lambda kv: -kv[1]))
        public = f", {self.public} with a public IP" if self.public else ", none with a public IP"
        plural = "s" if self.attached != 1 else ""
        return f"on {self.attached} network interface{plural} ({kinds}){public}"


LISTED_INTERFACES = 20


class GroupReport(_Doc):
    """One group with something to say: violating rules, rules exempted or whose exemption expired, or
    rules that could not be judged. Groups are ordered by exposure (public interfaces, then attached
    interfaces, then severity), unattached groups last."""

    group_id: str
    group_name: str | None = None
    vpc_id: str | None = None
    is_default: bool = False
    """A VPC's default group (AWS creates it with rules; Security Hub EC2.2 wants it closed)."""
    severity: str = "INFORMATIONAL"
    """The highest severity of its violating rules: the control's, never raised by exposure."""
    violating: int = 0
    """Its violating rules (``findings`` lists them, unless the report was built without them)."""
    exposure: Exposure | None = None
    """Asked only for groups with violating rules."""
    findings: list[SweepFinding] = []
    exempted: list[ExemptedDoc] = []
    exemptions_expired: list[ExpiredExemptionDoc] = []
    not_judged: list[NotJudgedDoc] = []

    def headline(self) -> str:
        """ "sg-1 (web): 3 violating rules, CRITICAL, on 3 network interfaces (...), 2 with a public IP" """
        name = f" ({self.group_name})" if self.group_name else ""
        count = self.violating
        text = f"{self.group_id}{name}: {count} violating rule{'s' if count != 1 else ''}, {self.severity}"
        return text + (f", {self.exposure.in_words()}" if self.exposure is not None else "")


class ControlCount(_Doc):
    control: str
    title: str
    severity: str
    rationale: str | None = None
    sweep: Literal["enforce", "report"] = "enforce"
    rules: int = 0
    groups: int = 0
    new: int = 0


class ExemptionStatus(_Doc):
    """Each exemption of the baseline on the sweep's day, and how many rules it lifted."""

    id: str
    controls: list[str]
    reason: str
    expires: str
    expired: bool
    rules_lifted: int = 0
    rules_expired: int = 0
    """Rules it would lift had it not expired: violations at this sweep."""


class Totals(_Doc):
    groups: int = 0
    rules: int = 0
    violating: int = 0
    revoked: int = 0
    would_revoke: int = 0
    reported: int = 0
    failed: int = 0
    already_absent: int = 0
    exempted: int = 0
    expired_exemption: int = 0
    """Violating rules that an expired exemption would have lifted."""
    not_judged: int = 0
    new: int = 0
    """Violating now, not at the previous sweep (0 when there was none: see ``previous``)."""
    gone: int = 0
    """Violating at the previous sweep, not any more (fixed, revoked, deleted or exempted)."""


class Previous(_Doc):
    sweep_id: str
    finished_at: str
    violating: int
    not_judged: int = 0


class SweepReport(_Doc):
    """The result of sweeping one account and region (``origin`` live), or of judging a saved dump
    (``origin`` dump). ``complete`` is False when the sweep stopped before the end (the Lambda's time
    ran short, or a read failed): ``cursor`` says where the next run resumes, and the counts cover
    only what was judged. A sweep that judged nothing because AWS could not be read is never a pass:
    ``errors`` says why, and every renderer shows it."""

    version: Literal["sgguard.sweep/1"] = REPORT_VERSION
    sweep_id: str
    origin: Origin = "live"
    account: str | None = None
    region: str | None = None
    baseline: str
    mode: SweepMode
    started_at: str
    finished_at: str
    complete: bool = True
    cursor: str | None = None
    parts: int = 1
    """Invocations this sweep took (it resumes from ``cursor`` when the Lambda's time runs short)."""
    stopped: str | None = None
    """Why this part stopped before the end (e.g. the function's time ran short); not an error."""
    totals: Totals = Totals()
    by_severity: dict[str, int] = {}
    by_control: list[ControlCount] = []
    groups: list[GroupReport] = []
    """Groups with something to say, ordered by exposure (see GroupReport)."""
    groups_omitted: int = 0
    """Only in copies trimmed to fit a size limit (SNS); the log has every group."""
    findings_omitted: int = 0
    """Only in trimmed copies: violating rules left out of ``groups[].findings`` (counted in totals)."""
    not_judged: list[NotJudgedDoc] = []
    """What could not be judged beyond single rules (e.g. a prefix list unreadable for a whole page)."""
    errors: list[str] = []
    """Reads that failed (AccessDenied, throttling that outlasted retries): the sweep is incomplete."""
    exemptions: list[ExemptionStatus] = []
    previous: Previous | None = None

    @property
    def violating(self) -> bool:
        return self.totals.violating > 0

    @property
    def severity(self) -> str:
        from chalicelib.baseline import SEVERITY_ORDER

        return max(self.by_severity, key=SEVERITY_ORDER.__getitem__, default="INFORMATIONAL")

    @property
    def judged_everything(self) -> bool:
        return self.complete and not self.errors and not self.totals.not_judged and not self.not_judged

    def findings(self) -> list[SweepFinding]:
        return [f for g in self.groups for f in g.findings]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
