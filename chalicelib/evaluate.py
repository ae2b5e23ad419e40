"""Pure evaluation: canonical rules and a baseline in, findings out.

No I/O and no AWS: what the evaluation cannot know by itself (a group's name and VPC, the entries of a
prefix list, the event's account, region and actor, today's date) is passed in as :class:`Facts`; a
control that depends on a fact nobody could supply is reported as *not judged*, never silently passed.
Exemptions are applied here too, so that one pure function says what breaks the baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from chalicelib.baseline import SEVERITY_ORDER, Baseline, Control, PortRange
from chalicelib.exemptions import Exemption, Where, match
from chalicelib.rules import (
    ALL_PROTOCOLS,
    MAX_PORT,
    PORTED_PROTOCOLS,
    PrefixList,
    Rule,
    covers_network,
    is_internet_wide,
    is_world,
    ranges_overlap,
)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the shell learned for this event. A group id absent from ``group_names`` (``group_vpcs``)
    means its name (VPC) is unknown, for the reason ``why_unknown``. ``prefix_lists`` maps a list id to
    the list, or to why it could not be read; an id absent from it was not asked about. ``actors`` are
    the caller's ARN and principal ARN; ``today`` is the clock (UTC) that exemptions expire by."""

    group_names: Mapping[str, str] = field(default_factory=dict)
    why_unknown: str = "AWS was not asked"
    group_vpcs: Mapping[str, str] = field(default_factory=dict)
    account: str | None = None
    region: str | None = None
    actors: tuple[str, ...] = ()
    today: date | None = None
    prefix_lists: Mapping[str, PrefixList | str] = field(default_factory=dict)
    actors_known: bool = True
    """False in a sweep, which finds rules in place and cannot know who made them."""
    retryable: frozenset[str] = frozenset()
    """The reasons above (``why_unknown``, a prefix list's) that are AWS throttling or failing on its
    side: what they leave unjudged may be judged by a later attempt."""

    def where(self, rule: Rule) -> Where:
        return Where(
            group_id=rule.group_id,
            vpc_id=self.group_vpcs.get(rule.group_id),
            account=self.account,
            region=self.region,
            actors=self.actors,
            why_vpc_unknown=self.why_unknown,
            actors_known=self.actors_known,
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """A control a rule breaks, and why, in words for the notification."""

    control: Control
    reason: str


@dataclass(frozen=True, slots=True)
class NotJudged:
    control_ids: tuple[str, ...]
    reason: str
    exemption: str | None = None
    """The exemption that could not be checked, when that is why (the sweep holds such rules back)."""
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class Lifted:
    """A control the rule breaks that an exemption lifts."""

    hit: Hit
    exemption: Exemption


@dataclass(frozen=True, slots=True)
class Expired:
    """A control the rule breaks that an exemption would lift, had it not expired."""

    hit: Hit
    exemption: Exemption


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule and every control it breaks that no exemption lifts (empty ``hits``: compliant, as
    far as it could be judged)."""

    rule: Rule
    hits: tuple[Hit, ...]
    not_judged: tuple[NotJudged, ...] = ()
    exempted: tuple[Lifted, ...] = ()
    expired: tuple[Expired, ...] = ()

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


def _cidr_reason(cidr: str, control: Control) -> str | None:
    if "world" in control.sources and is_world(cidr):
        return f"{cidr}, the whole internet"
    if "internet" in control.sources and is_internet_wide(cidr):
        return f"{cidr}, an internet-wide block"
    for wanted in control.cidr_sources:
        if covers_network(cidr, wanted):
            return cidr if cidr == wanted else f"{cidr}, which covers {wanted}"
    return None


def _prefix_list_reason(list_id: str, control: Control, facts: Facts) -> str | NotJudged | None:
    """A customer-managed list breaks a control when one of its entries would; an AWS-managed list
    holds AWS networks, never the internet; an unread list is not judged."""
    known = facts.prefix_lists.get(list_id)
    if not isinstance(known, PrefixList):
        why = known or "AWS was not asked"
        unknown = f"the entries of prefix list {list_id} are unknown ({why})"
        return NotJudged((control.id,), unknown, retryable=why in facts.retryable)
    if known.aws_managed:
        return None
    for entry in known.entries:
        reason = _cidr_reason(entry, control)
        if reason is not None:
            return f"{list_id} ({known.name}), whose entry {reason}"
    return None


def _source_reason(rule: Rule, control: Control, facts: Facts) -> str | NotJudged | None:
    source = rule.source
    if "any" in control.sources:
        return "any source"
    if source.kind == "prefix_list":
        return _prefix_list_reason(source.value, control, facts)
    if not source.is_cidr:
        return None
    return _cidr_reason(source.value, control)


def _content_match(rule: Rule, control: Control, facts: Facts) -> tuple[str, str | NotJudged] | None:
    """Why the rule's direction, protocol, ports and source break the control, leaving the group's
    name aside: the reasons for its ports and its source, or None when the control does not apply."""
    if rule.direction not in control.directions:
        return None
    protocols = _touched_protocols(rule, control)
    if not protocols:
        return None
    port_reason = _port_reason(rule, control, protocols)
    if port_reason is None:
        return None
    source_reason = _source_reason(rule, control, facts)
    if source_reason is None:
        return None
    return port_reason, source_reason


def _verdict(
    rule: Rule, control: Control, port_reason: str, source_reason: str | NotJudged, facts: Facts
) -> Hit | NotJudged | None:
    where = ""
    if control.group_name is not None:
        name = facts.group_names.get(rule.group_id)
        if name is None:
            why = facts.why_unknown
            reason = f"the name of {rule.group_id} is unknown ({why})"
            return NotJudged((control.id,), reason, retryable=why in facts.retryable)
        if name != control.group_name:
            return None
        where = f" in the group named {name!r}"
    if isinstance(source_reason, NotJudged):
        return source_reason
    preposition = "from" if rule.direction == "ingress" else "to"
    return Hit(control, f"opens {port_reason} {preposition} {source_reason}{where}")


def judge(rule: Rule, control: Control, facts: Facts) -> Hit | NotJudged | None:
    """Does ``rule`` break ``control``? A Hit, None, or NotJudged when a needed fact is missing."""
    matched = _content_match(rule, control, facts)
    if matched is None:
        return None
    return _verdict(rule, control, *matched, facts)


@dataclass(frozen=True, slots=True)
class _NeedsFacts:
    """A control the rule's content breaks, whose verdict still depends on the group's name."""

    control: Control
    port_reason: str
    source_reason: str


_NO_FACTS = Facts()
_CACHE_LIMIT = 100_000


def _content_verdicts(rule: Rule, baseline: Baseline) -> tuple[Hit | _NeedsFacts, ...]:
    """The controls the rule's content breaks, in baseline order, remembered per baseline.

    Verdicts depend only on a rule's direction, protocol, ports and source, and real rule sets repeat
    the same few shapes (tcp 443 from 0.0.0.0/0 in thousands of groups), so a sweep or a replay judges
    each shape once; what depends on the group's name is finished per rule. Prefix-list sources depend
    on the list's entries and are never cached here.
    """
    # A group reference is never the world or a CIDR: which group it names cannot change a verdict.
    source = rule.source if rule.source.is_cidr else rule.source.kind
    key = (rule.direction, rule.protocol, rule.from_port, rule.to_port, source)
    cache = baseline.verdict_cache
    verdicts: tuple[Hit | _NeedsFacts, ...] | None = cache.get(key)
    if verdicts is None:
        found: list[Hit | _NeedsFacts] = []
        for control in baseline.controls:
            matched = _content_match(rule, control, _NO_FACTS)
            if matched is None:
                continue
            port_reason, source_reason = matched
            assert isinstance(source_reason, str)  # only prefix lists are undecided without facts
            if control.group_name is None:
                verdict = _verdict(rule, control, port_reason, source_reason, _NO_FACTS)
                assert isinstance(verdict, Hit)
                found.append(verdict)
            else:
                found.append(_NeedsFacts(control, port_reason, source_reason))
        verdicts = tuple(found)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = verdicts
    return verdicts


def evaluate_rule(rule: Rule, baseline: Baseline, facts: Facts) -> Finding:
    hits: list[Hit] = []
    not_judged: list[NotJudged] = []
    if rule.source.kind == "prefix_list":
        verdicts: list[Hit | NotJudged | None] = [
            judge(rule, control, facts) for control in baseline.controls
        ]
    else:
        verdicts = [
            v if isinstance(v, Hit) else _verdict(rule, v.control, v.port_reason, v.source_reason, facts)
            for v in _content_verdicts(rule, baseline)
        ]
    for verdict in verdicts:
        if isinstance(verdict, Hit):
            hits.append(verdict)
        elif isinstance(verdict, NotJudged):
            not_judged.append(verdict)
    if len(not_judged) > 1:
        not_judged = _merged(not_judged)
    if not hits or not baseline.exemptions:
        return Finding(rule, tuple(hits), tuple(not_judged))
    return _apply_exemptions(Finding(rule, tuple(hits), tuple(not_judged)), baseline, facts)


def _merged(not_judged: list[NotJudged]) -> list[NotJudged]:
    """One entry per reason: an unread prefix list leaves several controls undecided for one cause."""
    by_reason: dict[str, list[str]] = {}
    retryable: set[str] = set()
    for item in not_judged:
        by_reason.setdefault(item.reason, []).extend(item.control_ids)
        if item.retryable:
            retryable.add(item.reason)
    return [NotJudged(tuple(ids), reason, retryable=reason in retryable) for reason, ids in by_reason.items()]


def _apply_exemptions(finding: Finding, baseline: Baseline, facts: Facts) -> Finding:
    """Move each hit an active exemption covers into ``exempted``; note expired and unchecked ones."""
    where = facts.where(finding.rule)
    kept: list[Hit] = []
    lifted: list[Lifted] = []
    expired: list[Expired] = []
    not_judged = list(finding.not_judged)
    for hit in finding.hits:
        found = match(baseline.exemptions, hit.control.id, where, facts.today)
        if found.active is not None:
            lifted.append(Lifted(hit, found.active))
            continue
        kept.append(hit)
        expired.extend(Expired(hit, e) for e in found.expired)
        not_judged.extend(
            NotJudged(
                (hit.control.id,),
                f"exemption {e.id} not applied: {why}",
                e.id,
                retryable=any(r in why for r in facts.retryable),
            )
            for e, why in found.unchecked
        )
    return Finding(finding.rule, tuple(kept), tuple(not_judged), tuple(lifted), tuple(expired))


def evaluate(rules: Iterable[Rule], baseline: Baseline, facts: Facts | None = None) -> list[Finding]:
    """One finding per rule, in order; the heart of sgguard, and free of side effects."""
    facts = facts or Facts()
    return [evaluate_rule(rule, baseline, facts) for rule in rules]
