"""The cis and strict presets, control by control, on both sides of each edge (aws-foundational's
controls are covered the same way in test_evaluate.py): ports next to each forbidden one, range ends,
/0 /1 /8 /9, IPv6 /16 /17, private and public ranges, and every protocol form."""

from __future__ import annotations

import pytest

from chalicelib.baseline import load_baseline
from chalicelib.evaluate import Facts, evaluate_rule
from chalicelib.rules import Rule, Source

CIS = load_baseline("cis")
STRICT = load_baseline("strict")
GROUP = "sg-0123456789abcdef0"
WEB = Facts(group_names={GROUP: "web"})
DEFAULT = Facts(group_names={GROUP: "default"})


def rule(
    protocol: str = "tcp",
    ports: int | tuple[int | None, int | None] | None = 22,
    source: str = "0.0.0.0/0",
    direction: str = "ingress",
) -> Rule:
    if isinstance(ports, int):
        ports = (ports, ports)
    elif ports is None:
        ports = (None, None)
    kind = "security_group" if source.startswith("sg-") else "cidr_ipv6" if ":" in source else "cidr_ipv4"
    return Rule(GROUP, direction, protocol, ports[0], ports[1], Source(kind, source))  # type: ignore[arg-type]


def cis(made: Rule, facts: Facts = WEB) -> set[str]:
    return {h.control.id for h in evaluate_rule(made, CIS, facts).hits}


def strict(made: Rule, facts: Facts = WEB) -> set[str]:
    return {h.control.id for h in evaluate_rule(made, STRICT, facts).hits}


# --- cis: 5.3 (0.0.0.0/0) and 5.4 (::/0) -----------------------------------------------------------


@pytest.mark.parametrize(("source", "control"), [("0.0.0.0/0", "CIS.5.3"), ("::/0", "CIS.5.4")])
@pytest.mark.parametrize("port", [22, 3389])
@pytest.mark.parametrize("protocol", ["tcp", "udp", "6", "17", "TCP"])
def test_cis_admin_ports_every_ported_protocol_form(
    source: str, control: str, port: int, protocol: str
) -> None:
    from chalicelib.rules import normalise_protocol

    assert cis(rule(normalise_protocol(protocol), port, source)) == {control}


@pytest.mark.parametrize(("source", "control"), [("0.0.0.0/0", "CIS.5.3"), ("::/0", "CIS.5.4")])
def test_cis_all_traffic_opens_the_admin_ports(source: str, control: str) -> None:
    assert cis(rule("-1", None, source)) == {control}


@pytest.mark.parametrize("protocol", ["icmp", "icmpv6", "47"])
def test_cis_non_ported_protocols_open_no_admin_port(protocol: str) -> None:
    assert cis(rule(protocol, (-1, -1), "0.0.0.0/0")) == set()
    assert cis(rule(protocol, (-1, -1), "::/0")) == set()


@pytest.mark.parametrize("port", [21, 23, 3388, 3390, 80, 443])
def test_cis_neighbouring_ports_comply(port: int) -> None:
    assert cis(rule("tcp", port)) == set()
    assert cis(rule("udp", port, "::/0")) == set()


@pytest.mark.parametrize(
    ("ports", "broken"),
    [
        ((0, 21), False),
        ((0, 22), True),
        ((22, 22), True),
        ((22, 3389), True),
        ((23, 3388), False),
        ((3389, 65535), True),
        ((3390, 65535), False),
        ((0, 65535), True),
        ((None, None), True),
    ],
)
def test_cis_range_ends(ports: tuple[int | None, int | None], broken: bool) -> None:
    assert cis(rule("tcp", ports)) == ({"CIS.5.3"} if broken else set())


@pytest.mark.parametrize(
    "source",
    [
        "0.0.0.0/1",
        "128.0.0.0/1",
        "11.0.0.0/8",
        "11.0.0.0/9",
        "10.0.0.0/8",
        "192.168.0.0/16",
        "1.2.3.4/32",
        "::/1",
        "2600::/16",
        "2600::/17",
        "fd00::/8",
        "2001:db8::/32",
        "sg-0fedcba9876543210",
    ],
)
def test_cis_judges_only_the_exact_world(source: str) -> None:
    """CIS checks 0.0.0.0/0 and ::/0 literally: half the internet is not its business (SGG.1's is)."""
    assert cis(rule("tcp", 22, source)) == set()
    assert cis(rule("-1", None, source)) == set()


def test_cis_world_written_with_host_bits_is_the_world() -> None:
    from chalicelib.rules import canonical_cidr

    assert cis(rule("tcp", 22, canonical_cidr("1.2.3.4/0"))) == {"CIS.5.3"}


def test_cis_does_not_judge_egress_except_in_the_default_group() -> None:
    assert cis(rule("tcp", 22, "0.0.0.0/0", "egress")) == set()
    assert cis(rule("tcp", 22, "0.0.0.0/0", "egress"), DEFAULT) == {"CIS.5.5"}


# --- cis 5.5: the default group --------------------------------------------------------------------


@pytest.mark.parametrize(
    "made",
    [
        rule("tcp", 443, "10.0.0.0/8"),
        rule("-1", None, "sg-0fedcba9876543210"),
        rule("icmp", (-1, -1), "192.168.0.0/16"),
        rule("udp", 53, "::/0", "egress"),
        rule("-1", None, "0.0.0.0/0", "egress"),
    ],
    ids=lambda r: r.in_words(),
)
def test_cis_5_5_any_rule_in_the_default_group(made: Rule) -> None:
    assert "CIS.5.5" in cis(made, DEFAULT)
    assert "CIS.5.5" not in cis(made, WEB)


def test_cis_5_5_not_judged_without_the_group_name() -> None:
    result = evaluate_rule(rule("tcp", 443, "10.0.0.0/8"), CIS, Facts())
    assert result.hits == ()
    assert [nj.control_ids for nj in result.not_judged] == [("CIS.5.5",)]


# --- strict: the data-store, cache, queue, search and clear-text controls ---------------------------

STRICT_PORTS = {
    "SGG.2": [3306, 5432, 1521, 2483, 1433, 1434, 27017, 27018, 7199, 9160, 8888],
    "SGG.3": [6379],
    "SGG.4": [11211],
    "SGG.5": [9092],
    "SGG.6": [9200, 9300, 5601],
    "SGG.7": [20, 21, 23],
}
CASES = [(control, port) for control, ports in STRICT_PORTS.items() for port in ports]
INTERNET = ["0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "11.0.0.0/8", "2600::/16", "::/1"]
NOT_INTERNET = ["11.0.0.0/9", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "203.0.113.0/24"]
NOT_INTERNET += ["2600::/17", "fd00::/8", "2001:db8::/32", "sg-0fedcba9876543210"]


@pytest.mark.parametrize(("control", "port"), CASES)
@pytest.mark.parametrize("source", INTERNET)
def test_strict_port_from_the_internet(control: str, port: int, source: str) -> None:
    made = rule("tcp", port, source)
    found = evaluate_rule(made, STRICT, WEB)
    assert control in {h.control.id for h in found.hits}
    assert found.severity == "CRITICAL"
    assert found.must_revoke


@pytest.mark.parametrize(("control", "port"), CASES)
@pytest.mark.parametrize("source", NOT_INTERNET)
def test_strict_port_from_a_narrow_or_private_source(control: str, port: int, source: str) -> None:
    assert strict(rule("tcp", port, source)) == set()


@pytest.mark.parametrize(("control", "port"), CASES)
def test_strict_neighbouring_ports(control: str, port: int) -> None:
    for neighbour in (port - 1, port + 1):
        if any(neighbour in ports for ports in STRICT_PORTS.values()):
            continue
        assert control not in strict(rule("tcp", neighbour))
        assert control in strict(rule("tcp", (neighbour, port) if neighbour < port else (port, neighbour)))


@pytest.mark.parametrize(("control", "port"), CASES)
def test_strict_all_traffic_and_every_tcp_port(control: str, port: int) -> None:
    assert control in strict(rule("-1", None, "0.0.0.0/1"))
    assert control in strict(rule("tcp", (0, 65535), "::/0"))
    assert control in strict(rule("tcp", (None, None), "128.0.0.0/1"))


@pytest.mark.parametrize(("control", "port"), [c for c in CASES if c[0] != "SGG.4"])
def test_strict_tcp_only_controls_ignore_udp(control: str, port: int) -> None:
    assert control not in strict(rule("udp", port))


@pytest.mark.parametrize("source", INTERNET)
def test_strict_memcached_over_udp(source: str) -> None:
    assert "SGG.4" in strict(rule("udp", 11211, source))
    assert "SGG.4" not in strict(rule("udp", 11210, source))
    assert "SGG.4" not in strict(rule("udp", 11212, source))


@pytest.mark.parametrize("protocol", ["icmp", "icmpv6", "47"])
def test_strict_port_controls_ignore_non_ported_protocols(protocol: str) -> None:
    found = strict(rule(protocol, (-1, -1), "0.0.0.0/0"))
    assert not found & set(STRICT_PORTS)


def test_strict_keeps_every_aws_foundational_control() -> None:
    assert strict(rule("tcp", 22)) >= {"EC2.13", "EC2.53", "EC2.18", "EC2.19"}
    assert strict(rule("tcp", 443)) == set()
    assert strict(rule("tcp", 8443, "0.0.0.0/1")) == {"SGG.1"}


# --- strict SGG.8: all-traffic egress to the internet -------------------------------------------------


@pytest.mark.parametrize("source", INTERNET)
def test_sgg_8_all_traffic_egress_to_the_internet(source: str) -> None:
    found = evaluate_rule(rule("-1", None, source, "egress"), STRICT, WEB)
    assert {h.control.id for h in found.hits} == {"SGG.8"}
    assert found.severity == "MEDIUM"


@pytest.mark.parametrize("source", NOT_INTERNET)
def test_sgg_8_all_traffic_egress_to_a_narrow_or_private_destination(source: str) -> None:
    assert strict(rule("-1", None, source, "egress")) == set()


@pytest.mark.parametrize(
    ("protocol", "ports"),
    [("tcp", (0, 65535)), ("tcp", 443), ("udp", (0, 65535)), ("icmp", (-1, -1)), ("47", None)],
)
def test_sgg_8_judges_only_all_traffic_rules(protocol: str, ports: tuple[int, int] | int | None) -> None:
    assert strict(rule(protocol, ports, "0.0.0.0/0", "egress")) == set()


def test_sgg_8_is_egress_only() -> None:
    assert "SGG.8" not in strict(rule("-1", None, "0.0.0.0/0"))
