"""The canonical security-group rule and the few network facts that judging it needs.

Every source of rules (an Authorize event's rule set, a ModifySecurityGroupRules request, a
DescribeSecurityGroupRules page) is converted once into :class:`Rule`; evaluation only ever sees this
type. It is a frozen dataclass, not a pydantic model: its inputs were already validated at the edge
(the event models or boto3's typed responses), and a sweep builds hundreds of thousands of them, so
construction must cost no more than a tuple.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Direction = Literal["ingress", "egress"]
SourceKind = Literal["cidr_ipv4", "cidr_ipv6", "prefix_list", "security_group"]

ALL_PROTOCOLS = "-1"
"""AWS's protocol for "all traffic": every protocol, every port."""

PORTED_PROTOCOLS = frozenset({"tcp", "udp"})
"""Protocols whose from/to values are ports; for icmp/icmpv6 they are a type and a code."""

MAX_PORT = 65535

_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": ALL_PROTOCOLS}
_CANONICAL_PROTOCOLS: dict[str | int, str] = {name: name for name in ("tcp", "udp", "icmp", "icmpv6", "-1")}
_CANONICAL_PROTOCOLS.update(_PROTOCOL_NAMES)
_CANONICAL_PROTOCOLS.update({int(n): name for n, name in _PROTOCOL_NAMES.items() if n.isdigit()})
_CANONICAL_PROTOCOLS[-1] = ALL_PROTOCOLS


def normalise_protocol(value: str | int) -> str:
    """Return the protocol as AWS's describe calls spell it.

    CloudTrail records what the caller sent, so the same rule arrives as "tcp", "TCP", "6" or 6;
    describe answers "tcp". Numbers without a name (e.g. "47", GRE) stay numbers.
    """
    known = _CANONICAL_PROTOCOLS.get(value)  # the common spellings, without the string work below
    if known is not None:
        return known
    text = str(value).strip().lower()
    text = _PROTOCOL_NAMES.get(text, text)
    if text in ("tcp", "udp", "icmp", "icmpv6", ALL_PROTOCOLS):
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return _PROTOCOL_NAMES.get(str(int(text)), str(int(text)))
    raise ValueError(f"{value!r} is not an IP protocol (a name such as tcp, a number 0-255, or -1)")


@dataclass(frozen=True, slots=True)
class Source:
    """Where traffic comes from (ingress) or goes to (egress): exactly one of the four kinds AWS has."""

    kind: SourceKind
    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def is_cidr(self) -> bool:
        return self.kind in ("cidr_ipv4", "cidr_ipv6")

    @classmethod
    def from_text(cls, value: str) -> Source:
        """The source a decision document's ``source`` text names: a CIDR (with "/"), a prefix list
        ("pl-") or a security group. The document keeps only the text; AWS's ids tell the kind."""
        if "/" in value:
            return cls("cidr_ipv6" if ":" in value else "cidr_ipv4", value)
        return cls("prefix_list" if value.startswith("pl-") else "security_group", value)


def source_from(
    cidr_ipv4: str | None, cidr_ipv6: str | None, prefix_list_id: str | None, group_id: str | None
) -> Source | None:
    """The one source a rule has, from whichever of AWS's four exclusive fields carries it (every
    rule source spells them differently: camelCase events, PascalCase requests, describe pages)."""
    if cidr_ipv4:
        return Source("cidr_ipv4", cidr_ipv4)
    if cidr_ipv6:
        return Source("cidr_ipv6", cidr_ipv6)
    if prefix_list_id:
        return Source("prefix_list", prefix_list_id)
    if group_id:
        return Source("security_group", group_id)
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    """One security-group rule: one protocol, one port range, one source.

    ``from_port``/``to_port`` are ``None`` when the rule covers every port (protocol -1, or a
    ported protocol written without ports). ``rule_id`` is ``None`` for events too old to carry one;
    such rules are matched against the group's current rules before anything is revoked.
    """

    group_id: str
    direction: Direction
    protocol: str
    from_port: int | None
    to_port: int | None
    source: Source
    rule_id: str | None = None
    rule_arn: str | None = None
    description: str | None = None

    @property
    def port_range(self) -> tuple[int, int]:
        """The ports the rule opens, as an inclusive range; every port when none is given."""
        if self.protocol not in PORTED_PROTOCOLS:
            return (0, MAX_PORT)
        # A missing or negative bound means "every port" (-1 is AWS's "all"); never an empty range,
        # which would let the rule pass every port-based control.
        low = 0 if self.from_port is None or self.from_port < 0 else self.from_port
        high = MAX_PORT if self.to_port is None or self.to_port < 0 else min(self.to_port, MAX_PORT)
        return (low, high)

    @property
    def identity(self) -> tuple[object, ...]:
        """What makes two rules the same rule to AWS (ids and descriptions aside)."""
        ports = self.port_range if self.protocol in PORTED_PROTOCOLS else (self.from_port, self.to_port)
        return (self.group_id, self.direction, self.protocol, ports, self.source)

    def with_direction(self, direction: Direction) -> Rule:
        """The same rule in another direction (dataclasses.replace, without its per-call introspection:
        every rule of a ModifySecurityGroupRules event is also judged as egress)."""
        return Rule(
            self.group_id,
            direction,
            self.protocol,
            self.from_port,
            self.to_port,
            self.source,
            self.rule_id,
            self.rule_arn,
            self.description,
        )

    def in_words(self) -> str:
        """The rule as an engineer says it: "tcp 22 from 0.0.0.0/0", "all traffic to ::/0"."""
        preposition = "from" if self.direction == "ingress" else "to"
        return f"{self.traffic_in_words()} {preposition} {self.source}"

    def traffic_in_words(self) -> str:
        if self.protocol == ALL_PROTOCOLS:
            return "all traffic"
        if self.protocol in PORTED_PROTOCOLS:
            low, high = self.port_range
            if (low, high) == (0, MAX_PORT):
                return f"{self.protocol} all ports"
            return f"{self.protocol} {low}" if low == high else f"{self.protocol} {low}-{high}"
        if self.protocol in ("icmp", "icmpv6"):
            if self.from_port is None or self.from_port == -1:
                return f"{self.protocol} all types"
            code = "" if self.to_port is None or self.to_port == -1 else f" code {self.to_port}"
            return f"{self.protocol} type {self.from_port}{code}"
        return f"protocol {self.protocol}"


@dataclass(frozen=True, slots=True)
class PrefixList:
    """A managed prefix list as AWS described it at one version.

    AWS-managed lists (owner ``AWS``, names ``com.amazonaws.*``: S3, DynamoDB, CloudFront origin-facing
    ...) hold AWS's own networks, never the internet at large, so their entries are not needed.
    A customer-managed list is judged by its entries, each one as if it were the rule's CIDR.
    """

    id: str
    name: str
    owner: str
    version: int | None
    entries: tuple[str, ...] = ()

    @property
    def aws_managed(self) -> bool:
        return self.owner == "AWS" or self.name.startswith("com.amazonaws.")


def ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


# --- network facts -------------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})

# Ranges whose addresses are never reachable from the internet (IANA special-purpose registries:
# private, shared, loopback, link-local, documentation, benchmarking, multicast, reserved). A CIDR that
# lies wholly inside one of these is never "internet-wide", however wide it is.
_NON_GLOBAL_V4 = tuple(
    ipaddress.IPv4Network(c)
    for c in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
# IPv6: only 2000::/3 is allocated as global unicast today; inside it, documentation is the only
# special range wide enough to matter here.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NON_GLOBAL_V6 = tuple(ipaddress.IPv6Network(c) for c in ("2001:db8::/32", "3fff::/20"))

INTERNET_WIDE_PREFIX = {4: 8, 6: 16}
"""A CIDR this wide or wider that holds global addresses is open to a large part of the internet."""


@lru_cache(maxsize=65536)
def parse_cidr(cidr: str) -> Network:
    """The network a CIDR names, host bits dropped (AWS stores 1.2.3.4/0 as 0.0.0.0/0)."""
    return ipaddress.ip_network(cidr.strip(), strict=False)


@lru_cache(maxsize=65536)
def canonical_cidr(cidr: str) -> str:
    """The CIDR written the way AWS writes it back, so that "0.0.0.0/00" is recognised as the world."""
    return str(parse_cidr(cidr))


def is_world(cidr: str) -> bool:
    """Exactly 0.0.0.0/0 or ::/0: every address of its family."""
    return parse_cidr(cidr).prefixlen == 0


@lru_cache(maxsize=65536)
def holds_global_addresses(cidr: str) -> bool:
    network = parse_cidr(cidr)
    if isinstance(network, ipaddress.IPv4Network):
        return not any(network.subnet_of(reserved) for reserved in _NON_GLOBAL_V4)
    if not network.overlaps(_GLOBAL_UNICAST_V6):
        return False
    return not any(network.subnet_of(reserved) for reserved in _NON_GLOBAL_V6)


@lru_cache(maxsize=65536)
def is_internet_wide(cidr: str) -> bool:
    """Not the world, yet open to a large slice of it: e.g. 0.0.0.0/1 + 128.0.0.0/1.

    That split slips past every literal "0.0.0.0/0" check; sgguard's SGG.1 exists for it.
    """
    network = parse_cidr(cidr)
    if network.prefixlen == 0:
        return False
    return network.prefixlen <= INTERNET_WIDE_PREFIX[network.version] and holds_global_addresses(cidr)


@lru_cache(maxsize=65536)
def covers_network(rule_cidr: str, wanted_cidr: str) -> bool:
    """True when the rule's CIDR opens every address of ``wanted_cidr`` (same family, supernet)."""
    rule_net, wanted = parse_cidr(rule_cidr), parse_cidr(wanted_cidr)
    if rule_net.version != wanted.version:
        return False
    return wanted.subnet_of(rule_net)  # type: ignore[arg-type]
