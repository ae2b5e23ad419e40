"""Pure evaluation: canonical rules and a baseline in, findings out.

No I/O and no AWS: what the evaluation cannot know by itself (a group's name, for EC2.2) is passed in
as :class:`Facts`; a control that depends on a fact nobody could supply is reported as *not judged*,
never silently passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chalicelib.baseline import SEVERITY_ORDER, Baseline, Control, PortRange
from chalicelib.rules import (
    ALL_PROTOCOLS,
    MAX_PORT,
    PORTED_PROTOCOLS,
    Rule,
    covers_network,
    is_internet_wide,
    is_world,
    ranges_overlap,
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the shell learned from AWS for this event. A group id absent from ``group_names`` means
    its name is unknown (AWS not asked, or not reachable)."""

    group_names: Mapping[str, str] = field(default_factory=dict)
    why_unknown: str = "AWS was not asked"


@dataclass(frozen=True, slots=True)
class Hit:
    """A control a rule breaks, and why, in words for the notification."""

    control: Control
    reason: str


@dataclass(frozen=True, slots=True)
class NotJudged:
    control_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule and every control it breaks (empty ``hits``: compliant, as far as it could be judged)."""

    rule: Rule
    hits: tuple[Hit, ...]
    not_judged: tuple[NotJudged, ...] = ()

    @property
    def violates(self) -> bool:
        return bool(self.hits)

    @property
    def severity(self) -> str:
        return max(
            (h.control.severity for h in self.hits), key=SEVERITY_ORDER.__getitem__, default="INFORMATIONAL"
        )

    @property
    def must_revoke(self) -> bool:
        return any(h.control.action == "revoke" for h in self.hits)


def _touched_protocols(rule: Rule, control: Control) -> list[str]:
    """The control's protocols that the rule opens; an all-traffic rule opens them all."""
    if control.covers_all_protocols:
        return [rule.protocol]
    if rule.protocol == ALL_PROTOCOLS:
        return list(control.protocols)
    return [rule.protocol] if rule.protocol in control.protocol_set else []


def _first_forbidden_port(opened: PortRange, forbidden: list[PortRange]) -> int | None:
    for low, high in forbidden:
        if ranges_overlap(opened, (low, high)):
            return max(low, opened[0])
    return None


def _first_unallowed_port(opened: PortRange, allowed: list[PortRange]) -> int | None:
    """The lowest opened port outside every allowed range, or None when all are allowed."""
    port = opened[0]
    for low, high in sorted(allowed):
        if port < low:
            return port
        if port <= high:
            port = high + 1
        if port > opened[1]:
            return None
    return port if port <= opened[1] else None


def _port_reason(rule: Rule, control: Control, protocols: list[str]) -> str | None:
    """Why the rule's ports break the control, or None when they do not."""
    opened = rule.port_range
    for protocol in protocols:
        if protocol not in PORTED_PROTOCOLS:
            if control.ports is None and control.allowed_ports is None:
                return "any traffic" if protocol == ALL_PROTOCOLS else f"protocol {protocol}"
            continue
        if control.ports is not None:
            port = _first_forbidden_port(opened, control.ports)
            if port is not None:
                return f"{protocol} port {port}"
        elif control.allowed_ports is not None:
            port = _first_unallowed_port(opened, control.allowed_ports.get(protocol, []))
            if port is not None:
                allowed = control.allowed_ports.get(protocol)
                only = ", ".join(_range_text(r) for r in allowed) if allowed else "none"
                return f"{protocol} port {port} (allowed: {only})"
        else:
            whole = opened == (0, MAX_PORT)
            return f"{protocol} all ports" if whole else f"{protocol} {_range_text(opened)}"
    return None


def _range_text(port_range: PortRange) -> str:
    low, high = port_range
    return str(low) if low == high else f"{low}-{high}"


def _source_reason(rule: Rule, control: Control) -> str | None:
    source = rule.source
    if "any" in control.sources:
        return f"any source ({source})"
    if not source.is_cidr:
        return None
    cidr = source.value
    if "world" in control.sources and is_world(cidr):
        return f"{cidr}, the whole internet"
    if "internet" in control.sources and is_internet_wide(cidr):
        return f"{cidr}, an internet-wide block"
    for wanted in control.cidr_sources:
        if covers_network(cidr, wanted):
            return cidr if cidr == wanted else f"{cidr}, which covers {wanted}"
    return None


def judge(rule: Rule, control: Control, facts: Facts) -> Hit | NotJudged | None:
    """Does ``rule`` break ``control``? A Hit, None, or NotJudged when a needed fact is missing."""
    if rule.direction not in control.directions:
        return None
    protocols = _touched_protocols(rule, control)
    if not protocols:
        return None
    port_reason = _port_reason(rule, control, protocols)
    if port_reason is None:
        return None
    source_reason = _source_reason(rule, control)
    if source_reason is None:
        return None
    where = ""
    if control.group_name is not None:
        name = facts.group_names.get(rule.group_id)
        if name is None:
            return NotJudged((control.id,), f"the name of {rule.group_id} is unknown ({facts.why_unknown})")
        if name != control.group_name:
            return None
        where = f" in the group named {name!r}"
    preposition = "from" if rule.direction == "ingress" else "to"
    return Hit(control, f"opens {port_reason} {preposition} {source_reason}{where}")


def evaluate_rule(rule: Rule, baseline: Baseline, facts: Facts) -> Finding:
    hits: list[Hit] = []
    not_judged: list[NotJudged] = []
    for control in baseline.controls:
        verdict = judge(rule, control, facts)
        if isinstance(verdict, Hit):
            hits.append(verdict)
        elif isinstance(verdict, NotJudged):
            not_judged.append(verdict)
    return Finding(rule, tuple(hits), tuple(not_judged))


def evaluate(rules: Iterable[Rule], baseline: Baseline, facts: Facts | None = None) -> list[Finding]:
    """One finding per rule, in order; the heart of sgguard, and free of side effects."""
    facts = facts or Facts()
    return [evaluate_rule(rule, baseline, facts) for rule in rules]
