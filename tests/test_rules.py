"""The canonical rule and the network facts judging it needs (chalicelib.rules): pure, no AWS."""

from __future__ import annotations

import pytest

from chalicelib.rules import (
    Rule,
    Source,
    canonical_cidr,
    covers_network,
    is_internet_wide,
    is_world,
    normalise_protocol,
)

GROUP = "sg-0123456789abcdef0"


def rule(
    protocol: str = "tcp",
    from_port: int | None = 22,
    to_port: int | None = 22,
    source: Source | str = "0.0.0.0/0",
    direction: str = "ingress",
    **extra: object,
) -> Rule:
    if isinstance(source, str):
        source = Source("cidr_ipv6" if ":" in source else "cidr_ipv4", source)
    return Rule(GROUP, direction, protocol, from_port, to_port, source, **extra)  # type: ignore[arg-type]


# --- normalise_protocol ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6", "tcp"),
        ("17", "udp"),
        ("1", "icmp"),
        ("58", "icmpv6"),
        (6, "tcp"),
        (17, "udp"),
        ("TCP", "tcp"),
        (" Udp ", "udp"),
        ("tcp", "tcp"),
        ("icmpv6", "icmpv6"),
        ("-1", "-1"),
        ("all", "-1"),
        ("ALL", "-1"),
        ("47", "47"),
        (47, "47"),
        ("0", "0"),
        ("255", "255"),
        ("006", "tcp"),
    ],
)
def test_normalise_protocol(value: str | int, expected: str) -> None:
    assert normalise_protocol(value) == expected


@pytest.mark.parametrize("value", ["300", "256", 256, "foo", "", "-2", "6.0", "tcp6"])
def test_normalise_protocol_rejects_what_is_not_a_protocol(value: str | int) -> None:
    with pytest.raises(ValueError, match="not an IP protocol"):
        normalise_protocol(value)


# --- is_world --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "1.2.3.4/0", "2001:db8::/0", "0.0.0.0/00"])
def test_is_world(cidr: str) -> None:
    assert is_world(cidr)


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "128.0.0.0/1", "::/1", "10.0.0.0/8", "1.2.3.4/32"])
def test_is_not_world(cidr: str) -> None:
    assert not is_world(cidr)


def test_host_bits_are_dropped_when_canonicalising() -> None:
    assert canonical_cidr("1.2.3.4/0") == "0.0.0.0/0"
    assert canonical_cidr("0.0.0.0/00") == "0.0.0.0/0"
    assert canonical_cidr("10.20.30.40/16") == "10.20.0.0/16"


@pytest.mark.parametrize("cidr", ["999.1.1.1/8", "10.0.0.0/33", "not-a-cidr", "::/129"])
def test_invalid_cidrs_raise(cidr: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ipaddress's own message
        is_world(cidr)


# --- is_internet_wide ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("0.0.0.0/1", True),
        ("128.0.0.0/1", True),
        ("11.0.0.0/8", True),
        ("11.0.0.0/9", False),  # narrower than /8
        ("10.0.0.0/8", False),  # private
        ("10.0.0.0/7", True),  # 10/7 also holds 11/8, which is global
        ("127.0.0.0/8", False),  # loopback
        ("100.0.0.0/8", True),  # holds global addresses beyond 100.64.0.0/10
        ("100.64.0.0/10", False),  # shared address space, and narrower than /8 anyway
        ("172.16.0.0/12", False),
        ("192.168.0.0/16", False),
        ("224.0.0.0/4", False),  # multicast
        ("240.0.0.0/4", False),  # reserved
        ("0.0.0.0/8", False),  # "this network"
        ("0.0.0.0/0", False),  # the world: EC2.* controls judge it, not "internet-wide"
        ("1.2.3.4/32", False),
        ("2000::/3", True),
        ("2001::/16", True),
        ("2001:db8::/32", False),  # documentation
        ("2600::/17", False),  # narrower than /16
        ("2600::/16", True),
        ("fc00::/7", False),  # unique local
        ("fe80::/10", False),  # link local
        ("::/1", True),  # holds 2000::/3
        ("8000::/1", False),  # no global unicast in the upper half
        ("::/0", False),  # the world
    ],
)
def test_is_internet_wide(cidr: str, expected: bool) -> None:
    assert is_internet_wide(cidr) is expected


# --- covers_network --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_cidr", "wanted", "expected"),
    [
        ("0.0.0.0/0", "0.0.0.0/0", True),
        ("1.2.3.4/0", "0.0.0.0/0", True),
        ("0.0.0.0/1", "0.0.0.0/0", False),  # only half of it
        ("10.0.0.0/8", "10.1.0.0/16", True),
        ("10.1.0.0/16", "10.0.0.0/8", False),
        ("10.0.0.0/8", "11.0.0.0/8", False),
        ("::/0", "::/0", True),
        ("::/0", "0.0.0.0/0", False),  # families never cover each other
        ("0.0.0.0/0", "::/0", False),
        ("2001:db8::/32", "2001:db8:1::/48", True),
    ],
)
def test_covers_network(rule_cidr: str, wanted: str, expected: bool) -> None:
    assert covers_network(rule_cidr, wanted) is expected


# --- Rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "from_port", "to_port", "expected"),
    [
        ("tcp", 22, 22, (22, 22)),
        ("udp", 1000, 2000, (1000, 2000)),
        ("tcp", None, None, (0, 65535)),
        ("-1", None, None, (0, 65535)),
        ("icmp", 8, 0, (0, 65535)),  # icmp type/code are not ports
        ("47", None, None, (0, 65535)),
    ],
)
def test_port_range(protocol: str, from_port: int | None, to_port: int | None, expected: tuple) -> None:
    assert rule(protocol, from_port, to_port).port_range == expected


@pytest.mark.parametrize(
    ("made", "words"),
    [
        (rule("tcp", 22, 22, "0.0.0.0/0"), "tcp 22 from 0.0.0.0/0"),
        (rule("tcp", 8000, 8100, "10.0.0.0/8"), "tcp 8000-8100 from 10.0.0.0/8"),
        (rule("udp", 53, 53, "::/0"), "udp 53 from ::/0"),
        (rule("tcp", 0, 65535, "0.0.0.0/0"), "tcp all ports from 0.0.0.0/0"),
        (rule("tcp", None, None, "0.0.0.0/0"), "tcp all ports from 0.0.0.0/0"),
        (rule("-1", None, None, "::/0", direction="egress"), "all traffic to ::/0"),
        (rule("-1", None, None, "0.0.0.0/0"), "all traffic from 0.0.0.0/0"),
        (rule("icmp", -1, -1, "0.0.0.0/0"), "icmp all types from 0.0.0.0/0"),
        (rule("icmp", None, None, "0.0.0.0/0"), "icmp all types from 0.0.0.0/0"),
        (rule("icmp", 8, -1, "0.0.0.0/0"), "icmp type 8 from 0.0.0.0/0"),
        (rule("icmp", 3, 4, "0.0.0.0/0"), "icmp type 3 code 4 from 0.0.0.0/0"),
        (rule("icmpv6", 128, 0, "::/0"), "icmpv6 type 128 code 0 from ::/0"),
        (rule("47", None, None, "0.0.0.0/0"), "protocol 47 from 0.0.0.0/0"),
        (
            rule("tcp", 443, 443, Source("prefix_list", "pl-0123456789abcdef0")),
            "tcp 443 from pl-0123456789abcdef0",
        ),
        (
            rule("tcp", 5432, 5432, Source("security_group", "sg-0fedcba9876543210"), direction="egress"),
            "tcp 5432 to sg-0fedcba9876543210",
        ),
    ],
)
def test_in_words(made: Rule, words: str) -> None:
    assert made.in_words() == words


def test_identity_ignores_id_arn_and_description() -> None:
    a = rule(rule_id="sgr-1", rule_arn="arn:1", description="one")
    b = rule(rule_id="sgr-2", rule_arn="arn:2", description="two")
    c = rule()
    assert a != b  # the dataclasses differ...
    assert a.identity == b.identity == c.identity  # ...but AWS sees one rule


def test_identity_treats_missing_ports_as_all_ports_for_ported_protocols() -> None:
    assert rule("tcp", None, None).identity == rule("tcp", 0, 65535).identity


@pytest.mark.parametrize(
    "other",
    [
        rule(from_port=23, to_port=23),
        rule(protocol="udp"),
        rule(source="0.0.0.0/1"),
        rule(source=Source("cidr_ipv6", "::/0")),
        rule(direction="egress"),
        Rule("sg-0fffffffffffffff0", "ingress", "tcp", 22, 22, Source("cidr_ipv4", "0.0.0.0/0")),
        rule(source=Source("prefix_list", "0.0.0.0/0")),  # same text, different kind of source
    ],
)
def test_identity_differs_when_anything_aws_compares_differs(other: Rule) -> None:
    assert rule().identity != other.identity


def test_identity_keeps_icmp_type_and_code() -> None:
    assert rule("icmp", 8, 0).identity != rule("icmp", 3, 4).identity


def test_negative_ports_on_a_ported_protocol_mean_every_port_never_none() -> None:
    rule = Rule("sg-1", "ingress", "tcp", -1, -1, Source("cidr_ipv4", "0.0.0.0/0"))
    assert rule.port_range == (0, 65535)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0.0.0.0/0", "cidr_ipv4"),
        ("2001:db8::/32", "cidr_ipv6"),
        ("pl-0123456789abcdef0", "prefix_list"),
        ("sg-0fedcba9876543210", "security_group"),
    ],
)
def test_source_kind_from_the_text_a_decision_keeps(text: str, kind: str) -> None:
    assert Source.from_text(text) == Source(kind, text)  # type: ignore[arg-type]
