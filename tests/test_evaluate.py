"""Pure evaluation of canonical rules against the default baseline (chalicelib.evaluate): no AWS."""

from __future__ import annotations

import pytest

from chalicelib.baseline import load_baseline
from chalicelib.evaluate import Facts, Finding, evaluate, evaluate_rule
from chalicelib.rules import PrefixList, Rule, Source

BASELINE = load_baseline("aws-foundational")
GROUP = "sg-0123456789abcdef0"
ACCOUNT = "111122223333"
WEB = Facts(group_names={GROUP: "web"})
DEFAULT = Facts(group_names={GROUP: "default"})

EC2_19_PORTS = [20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432]
EC2_19_PORTS += [5500, 5601, 8080, 8088, 8888, 9200, 9300]

WORLD = ["0.0.0.0/0", "::/0"]


def src(value: str) -> Source:
    return Source.from_text(value)


def rule(
    protocol: str = "tcp",
    ports: tuple[int | None, int | None] | int | None = 22,
    source: str = "0.0.0.0/0",
    direction: str = "ingress",
    group: str = GROUP,
    rule_id: str | None = None,
) -> Rule:
    if isinstance(ports, int):
        ports = (ports, ports)
    elif ports is None:
        ports = (None, None)
    return Rule(group, direction, protocol, ports[0], ports[1], src(source), rule_id)  # type: ignore[arg-type]


def finding(made: Rule, facts: Facts = WEB) -> Finding:
    return evaluate_rule(made, BASELINE, facts)


def hits(made: Rule, facts: Facts = WEB) -> set[str]:
    return {h.control.id for h in finding(made, facts).hits}


def reason(made: Rule, control: str, facts: Facts = WEB) -> str:
    (text,) = [h.reason for h in finding(made, facts).hits if h.control.id == control]
    return text


# --- the baseline itself ---------------------------------------------------------------------------


def test_default_baseline_has_every_control() -> None:
    assert [c.id for c in BASELINE.controls] == [
        "EC2.13",
        "EC2.14",
        "EC2.53",
        "EC2.54",
        "EC2.18",
        "EC2.19",
        "EC2.2",
        "SGG.1",
    ]
    (ec2_19,) = [c for c in BASELINE.controls if c.id == "EC2.19"]
    assert sorted(p for p, _ in ec2_19.ports or []) == EC2_19_PORTS
    assert len(EC2_19_PORTS) == 24


# --- EC2.13 (ssh) and EC2.14 (rdp) -----------------------------------------------------------------


@pytest.mark.parametrize(("port", "control"), [(22, "EC2.13"), (3389, "EC2.14")])
@pytest.mark.parametrize("source", WORLD)
def test_admin_port_from_world(port: int, control: str, source: str) -> None:
    found = hits(rule("tcp", port, source))
    assert control in found
    assert "EC2.19" in found
    assert "EC2.18" in found
    assert ("EC2.53" in found) is (source == "0.0.0.0/0")
    assert ("EC2.54" in found) is (source == "::/0")
    assert "SGG.1" not in found  # the world is not "internet-wide"
    assert "EC2.2" not in found


@pytest.mark.parametrize("port", [21, 23])
def test_neighbours_of_22_are_not_ec2_13_but_are_ec2_19(port: int) -> None:
    found = hits(rule("tcp", port))
    assert "EC2.13" not in found
    assert "EC2.53" not in found
    assert {"EC2.19", "EC2.18"} <= found


@pytest.mark.parametrize("port", [3388, 3390])
def test_neighbours_of_3389_are_not_ec2_14(port: int) -> None:
    found = hits(rule("tcp", port))
    assert "EC2.14" not in found
    assert "EC2.53" not in found
    assert "EC2.19" not in found
    assert found == {"EC2.18"}


@pytest.mark.parametrize(
    ("ports", "control"),
    [((20, 22), "EC2.13"), ((22, 30), "EC2.13"), ((3000, 3389), "EC2.14"), ((3389, 3390), "EC2.14")],
)
def test_ranges_overlapping_the_admin_port(ports: tuple[int, int], control: str) -> None:
    assert control in hits(rule("tcp", ports))


@pytest.mark.parametrize(("ports", "control"), [((23, 3388), "EC2.13"), ((3390, 65535), "EC2.14")])
def test_ranges_not_touching_the_admin_port(ports: tuple[int, int], control: str) -> None:
    assert control not in hits(rule("tcp", ports))


@pytest.mark.parametrize("ports", [(0, 65535), None])
def test_every_tcp_port_breaks_ec2_13_and_14(ports: tuple[int, int] | None) -> None:
    assert {"EC2.13", "EC2.14", "EC2.53", "EC2.18", "EC2.19"} <= hits(rule("tcp", ports))


def test_all_traffic_from_ipv4_world() -> None:
    assert hits(rule("-1", None, "0.0.0.0/0")) == {"EC2.13", "EC2.14", "EC2.53", "EC2.18", "EC2.19"}


def test_all_traffic_from_ipv6_world() -> None:
    assert hits(rule("-1", None, "::/0")) == {"EC2.13", "EC2.14", "EC2.54", "EC2.18", "EC2.19"}


@pytest.mark.parametrize(("port", "control"), [(22, "EC2.13"), (3389, "EC2.14")])
def test_udp_admin_port_breaks_ec2_53_not_ec2_13_or_14(port: int, control: str) -> None:
    found = hits(rule("udp", port, "0.0.0.0/0"))
    assert "EC2.53" in found
    assert "EC2.54" not in found
    assert control not in found
    assert "EC2.19" not in found  # tcp only
    assert "EC2.18" in found  # no udp port is allowed from the world


@pytest.mark.parametrize("port", [22, 3389])
def test_udp_admin_port_from_ipv6_world_breaks_ec2_54(port: int) -> None:
    found = hits(rule("udp", port, "::/0"))
    assert "EC2.54" in found
    assert "EC2.53" not in found
    assert "EC2.13" not in found
    assert "EC2.14" not in found


@pytest.mark.parametrize(
    "source", ["10.0.0.0/8", "203.0.113.0/24", "1.2.3.4/32", "fd00::/8", "2001:db8::/32"]
)
@pytest.mark.parametrize("port", [22, 3389])
def test_admin_port_from_a_narrow_source_breaks_nothing(source: str, port: int) -> None:
    assert hits(rule("tcp", port, source)) == set()


def test_half_the_internet_is_not_ec2_13_but_is_sgg_1() -> None:
    assert hits(rule("tcp", 22, "0.0.0.0/1")) == {"SGG.1"}


# --- EC2.53 / EC2.54: exact families ---------------------------------------------------------------


def test_ec2_53_and_54_are_family_specific() -> None:
    assert "EC2.53" in hits(rule("tcp", 22, "0.0.0.0/0"))
    assert "EC2.54" not in hits(rule("tcp", 22, "0.0.0.0/0"))
    assert "EC2.54" in hits(rule("tcp", 3389, "::/0"))
    assert "EC2.53" not in hits(rule("tcp", 3389, "::/0"))
    assert not {"EC2.53", "EC2.54"} & hits(rule("tcp", 80, "0.0.0.0/0"))


# --- EC2.18 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", WORLD)
@pytest.mark.parametrize("port", [80, 443])
def test_web_ports_from_world_comply(port: int, source: str) -> None:
    made = rule("tcp", port, source)
    assert hits(made) == set()
    assert not finding(made).violates
    assert finding(made).not_judged == ()  # the name "web" was known


def test_port_range_between_web_ports_breaks_ec2_18_at_81() -> None:
    made = rule("tcp", (80, 443))
    assert "EC2.18" in hits(made)
    assert "port 81" in reason(made, "EC2.18")


@pytest.mark.parametrize("port", [8443, 79, 444, 1024, 65535, 0])
def test_other_tcp_ports_from_world_break_ec2_18(port: int) -> None:
    made = rule("tcp", port)
    assert "EC2.18" in hits(made)
    assert f"port {port}" in reason(made, "EC2.18")


@pytest.mark.parametrize("source", WORLD)
@pytest.mark.parametrize("ports", [53, 80, 443, 123, (0, 65535), None])
def test_any_udp_port_from_world_breaks_ec2_18(ports: int | tuple[int, int] | None, source: str) -> None:
    assert "EC2.18" in hits(rule("udp", ports, source))


@pytest.mark.parametrize("protocol", ["icmp", "icmpv6", "47"])
@pytest.mark.parametrize("source", WORLD)
def test_non_ported_protocols_from_world_do_not_break_ec2_18(protocol: str, source: str) -> None:
    assert hits(rule(protocol, (-1, -1), source)) == set()


def test_ec2_18_needs_the_world() -> None:
    assert "EC2.18" not in hits(rule("tcp", 8443, "203.0.113.0/24"))


# --- EC2.19 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", WORLD)
@pytest.mark.parametrize("port", EC2_19_PORTS)
def test_each_high_risk_port_from_world_breaks_ec2_19(port: int, source: str) -> None:
    made = rule("tcp", port, source)
    assert "EC2.19" in hits(made)
    assert finding(made).severity == "CRITICAL"
    assert f"port {port}" in reason(made, "EC2.19")


@pytest.mark.parametrize("port", [24, 26, 111, 3307, 9201])
def test_ports_next_to_high_risk_ones_are_not_ec2_19(port: int) -> None:
    made = rule("tcp", port)
    found = hits(made)
    assert "EC2.19" not in found
    assert "EC2.18" in found
    assert finding(made).severity == "HIGH"


@pytest.mark.parametrize("port", EC2_19_PORTS)
def test_high_risk_ports_over_udp_are_not_ec2_19(port: int) -> None:
    assert "EC2.19" not in hits(rule("udp", port))


def test_ec2_19_needs_the_world() -> None:
    assert "EC2.19" not in hits(rule("tcp", 3306, "10.0.0.0/8"))
    assert hits(rule("tcp", 3306, "192.168.1.0/24")) == set()


# --- EC2.2 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "made",
    [
        rule("tcp", 443, "10.0.0.0/8"),
        rule("tcp", 443, "sg-0fedcba9876543210"),
        rule("tcp", 443, "pl-0123456789abcdef0"),
        rule("-1", None, "sg-0fedcba9876543210"),
        rule("icmp", (-1, -1), "10.0.0.0/8"),
        rule("tcp", 443, "0.0.0.0/0", direction="egress"),
        rule("-1", None, "sg-0fedcba9876543210", direction="egress"),
        rule("udp", 53, "::/0", direction="egress"),
    ],
    ids=lambda r: r.in_words(),
)
def test_ec2_2_any_rule_in_the_default_group(made: Rule) -> None:
    result = finding(made, DEFAULT)
    assert "EC2.2" in {h.control.id for h in result.hits}
    assert "'default'" in reason(made, "EC2.2", DEFAULT)
    assert result.not_judged == ()
    assert "EC2.2" not in hits(made, WEB)
    assert finding(made, WEB).not_judged == ()


def test_ec2_2_not_judged_when_the_name_is_unknown() -> None:
    made = rule("tcp", 443, "sg-0fedcba9876543210")
    result = finding(made, Facts())
    assert result.hits == ()
    assert not result.violates
    assert [nj.control_ids for nj in result.not_judged] == [("EC2.2",)]
    assert GROUP in result.not_judged[0].reason
    assert "AWS was not asked" in result.not_judged[0].reason


def test_ec2_2_not_judged_says_why_the_name_is_unknown() -> None:
    facts = Facts(
        group_names={"sg-0other000000000000": "default"}, why_unknown="DescribeSecurityGroups failed"
    )
    result = finding(rule("tcp", 443, "10.0.0.0/8"), facts)
    assert [nj.control_ids for nj in result.not_judged] == [("EC2.2",)]
    assert "DescribeSecurityGroups failed" in result.not_judged[0].reason


def test_unknown_group_name_does_not_hide_other_hits() -> None:
    result = finding(rule("tcp", 22, "0.0.0.0/0"), Facts())
    assert {h.control.id for h in result.hits} == {"EC2.13", "EC2.53", "EC2.18", "EC2.19"}
    assert [nj.control_ids for nj in result.not_judged] == [("EC2.2",)]


def test_default_group_adds_ec2_2_to_world_rules() -> None:
    assert hits(rule("tcp", 22, "0.0.0.0/0"), DEFAULT) == {"EC2.13", "EC2.53", "EC2.18", "EC2.19", "EC2.2"}


# --- SGG.1: EC2.18 for internet-wide blocks ----------------------------------------------------------
# SGG.1 judges an internet-wide block exactly as EC2.18 judges the world: tcp 80 and 443 are allowed,
# every other tcp port and every udp port is not. (Until issue 3 it flagged every protocol and port,
# so 0.0.0.0/1 tcp 443 broke it while 0.0.0.0/0 tcp 443 complied: widening a source turned a
# violation into compliance.)

INTERNET_WIDE = ["0.0.0.0/1", "128.0.0.0/1", "11.0.0.0/8", "100.0.0.0/8", "2600::/16", "::/1"]


@pytest.mark.parametrize("source", INTERNET_WIDE)
@pytest.mark.parametrize("port", [22, 8443, 3306])
def test_sgg_1_internet_wide_sources(source: str, port: int) -> None:
    made = rule("tcp", port, source)
    assert hits(made) == {"SGG.1"}
    assert source in reason(made, "SGG.1")
    assert str(port) in reason(made, "SGG.1")


@pytest.mark.parametrize("source", INTERNET_WIDE)
@pytest.mark.parametrize("port", [80, 443])
def test_sgg_1_allows_the_web_ports_like_ec2_18(source: str, port: int) -> None:
    made = rule("tcp", port, source)
    assert hits(made) == set()
    assert hits(rule("tcp", port, "::/0" if ":" in source else "0.0.0.0/0")) == set()


@pytest.mark.parametrize("source", INTERNET_WIDE)
@pytest.mark.parametrize("ports", [53, 80, 443, (0, 65535), None])
def test_sgg_1_any_udp_port_from_an_internet_wide_block(
    source: str, ports: int | tuple[int, int] | None
) -> None:
    assert hits(rule("udp", ports, source)) == {"SGG.1"}


def test_sgg_1_range_between_web_ports_breaks_at_81() -> None:
    made = rule("tcp", (80, 443), "0.0.0.0/1")
    assert "port 81" in reason(made, "SGG.1")


@pytest.mark.parametrize(
    "source", ["11.0.0.0/9", "10.0.0.0/8", "172.16.0.0/12", "2600::/17", "2001:db8::/32", "fc00::/7"]
)
@pytest.mark.parametrize("port", [22, 443])
def test_sgg_1_narrow_or_private_sources(source: str, port: int) -> None:
    assert hits(rule("tcp", port, source)) == set()


@pytest.mark.parametrize("source", WORLD)
def test_sgg_1_excludes_the_world(source: str) -> None:
    made = rule("tcp", 22, source)
    assert "SGG.1" not in hits(made)
    assert not finding(rule("tcp", 443, source)).violates


@pytest.mark.parametrize(
    ("protocol", "ports", "broken"),
    [
        ("-1", None, True),
        ("udp", 53, True),
        ("tcp", (0, 65535), True),
        ("tcp", 443, False),
        ("icmp", (-1, -1), False),
        ("icmpv6", (-1, -1), False),
        ("47", None, False),
    ],
)
def test_sgg_1_every_protocol_form(protocol: str, ports: int | tuple[int, int] | None, broken: bool) -> None:
    assert hits(rule(protocol, ports, "0.0.0.0/1")) == ({"SGG.1"} if broken else set())
    # ... exactly as EC2.18 judges the same rule from the world
    assert ("EC2.18" in hits(rule(protocol, ports, "0.0.0.0/0"))) is broken


def test_sgg_1_does_not_apply_to_egress() -> None:
    assert hits(rule("tcp", 22, "0.0.0.0/1", direction="egress")) == set()
    assert hits(rule("-1", None, "11.0.0.0/8", direction="egress")) == set()


# --- sources that are never the world ----------------------------------------------------------------


@pytest.mark.parametrize("source", ["pl-0123456789abcdef0", "sg-0fedcba9876543210"])
@pytest.mark.parametrize(("protocol", "ports"), [("tcp", 22), ("tcp", 3389), ("-1", None), ("udp", 53)])
def test_aws_managed_prefix_lists_and_groups_are_never_the_world(
    source: str, protocol: str, ports: int | None
) -> None:
    """A group reference is never the world; nor is an AWS-managed prefix list, even one whose entries
    span the internet (customer-managed lists are judged by their entries: tests/test_exemptions.py)."""
    s3 = PrefixList("pl-0123456789abcdef0", "com.amazonaws.eu-west-1.s3", "AWS", None, ("0.0.0.0/0",))
    web = Facts(group_names={GROUP: "web"}, prefix_lists={s3.id: s3})
    default = Facts(group_names={GROUP: "default"}, prefix_lists={s3.id: s3})
    made = rule(protocol, ports, source)
    assert hits(made, web) == set()
    assert finding(made, web).not_judged == ()
    assert hits(made, default) == {"EC2.2"}


# --- egress ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "ports", "source"),
    [("tcp", 22, "0.0.0.0/0"), ("-1", None, "0.0.0.0/0"), ("-1", None, "::/0"), ("tcp", 3306, "0.0.0.0/1")],
)
def test_egress_is_judged_only_by_ec2_2(protocol: str, ports: int | None, source: str) -> None:
    made = rule(protocol, ports, source, direction="egress")
    assert hits(made, WEB) == set()
    assert hits(made, DEFAULT) == {"EC2.2"}


# --- findings, severity and reasons --------------------------------------------------------------------


def test_severity() -> None:
    assert finding(rule("tcp", 22)).severity == "CRITICAL"
    assert finding(rule("tcp", 8443)).severity == "HIGH"
    assert finding(rule("tcp", 443)).severity == "INFORMATIONAL"


def test_must_revoke_for_the_default_baseline() -> None:
    assert finding(rule("tcp", 22)).must_revoke
    assert not finding(rule("tcp", 443)).must_revoke


@pytest.mark.parametrize(
    ("made", "control", "words"),
    [
        (rule("tcp", 22, "0.0.0.0/0"), "EC2.13", ["port 22", "0.0.0.0/0"]),
        (rule("tcp", 22, "::/0"), "EC2.54", ["port 22", "::/0"]),
        (rule("tcp", 3389, "0.0.0.0/0"), "EC2.14", ["port 3389", "0.0.0.0/0"]),
        (rule("tcp", 3306, "0.0.0.0/0"), "EC2.19", ["port 3306", "0.0.0.0/0"]),
        (rule("tcp", 8443, "::/0"), "EC2.18", ["port 8443", "::/0", "80", "443"]),
        (rule("udp", 22, "0.0.0.0/0"), "EC2.53", ["udp", "port 22", "0.0.0.0/0"]),
        (rule("tcp", 8443, "128.0.0.0/1"), "SGG.1", ["8443", "128.0.0.0/1", "80", "443"]),
    ],
)
def test_reasons_mention_port_and_source(made: Rule, control: str, words: list[str]) -> None:
    text = reason(made, control)
    for word in words:
        assert word in text, (word, text)


def test_all_traffic_reason_mentions_the_first_port_and_source() -> None:
    text = reason(rule("-1", None, "0.0.0.0/0"), "EC2.13")
    assert "22" in text
    assert "0.0.0.0/0" in text


def test_evaluate_keeps_order_and_defaults_facts() -> None:
    rules = [rule("tcp", 443), rule("tcp", 22), rule("tcp", 22, "10.0.0.0/8")]
    findings = evaluate(rules, BASELINE)
    assert [f.rule for f in findings] == rules
    assert [f.violates for f in findings] == [False, True, False]
    assert all([nj.control_ids for nj in f.not_judged] == [("EC2.2",)] for f in findings)


# --- the shared samples, end to end ----------------------------------------------------------------


def sample_findings(name: str) -> list[tuple[str | None, set[str]]]:
    from chalicelib.events import parse_record, rule_change
    from tests.conftest import load_sample

    change = rule_change(parse_record(load_sample(name)))  # type: ignore[arg-type]
    office = PrefixList("pl-0123456789abcdef0", "office", ACCOUNT, 3, ("10.0.0.0/8", "192.168.0.0/16"))
    facts = Facts(group_names={change.group_id: "web"}, prefix_lists={office.id: office})
    findings = evaluate(change.rules, BASELINE, facts)
    for f in findings:
        assert f.not_judged == ()
    return [(f.rule.rule_id, {h.control.id for h in f.hits}) for f in findings]


SAMPLE_EXPECTATIONS = {
    "authorize-ingress-ssh-mixed-sources.json": [
        ("sgr-0aa11bb22cc33dd41", {"EC2.13", "EC2.53", "EC2.18", "EC2.19"}),
        ("sgr-0aa11bb22cc33dd42", set()),
        ("sgr-0aa11bb22cc33dd43", {"EC2.13", "EC2.54", "EC2.18", "EC2.19"}),
    ],
    "authorize-ingress-several-permissions.json": [
        ("sgr-0b1b2b3b4b5b6b7b1", set()),
        ("sgr-0b1b2b3b4b5b6b7b2", {"EC2.18", "EC2.19"}),
        ("sgr-0b1b2b3b4b5b6b7b3", set()),
        ("sgr-0b1b2b3b4b5b6b7b4", set()),
    ],
    "authorize-ingress-all-traffic-world.json": [
        ("sgr-035a8e56b1e097d50", {"EC2.13", "EC2.14", "EC2.53", "EC2.18", "EC2.19"}),
    ],
    "authorize-ingress-cloudformation-group-reference.json": [("sgr-0c4c4c4c4c4c4c4c4", set())],
    "authorize-ingress-legacy-without-rule-ids.json": [(None, {"EC2.14", "EC2.53", "EC2.18", "EC2.19"})],
    "modify-security-group-rules.json": [("sgr-0aa11bb22cc33dd42", {"EC2.14", "EC2.53", "EC2.18", "EC2.19"})],
    "authorize-egress-all-traffic.json": [("sgr-0e5e5e5e5e5e5e5e5", set())],
}


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTATIONS))
def test_samples_end_to_end(name: str) -> None:
    assert sample_findings(name) == SAMPLE_EXPECTATIONS[name]


def test_every_rule_changing_sample_has_expectations() -> None:
    from tests.conftest import SAMPLE_EVENTS

    assert set(SAMPLE_EVENTS) - set(SAMPLE_EXPECTATIONS) == {"authorize-ingress-failed-call.json"}


# --- the per-baseline memory of verdicts must never carry one rule's facts over to another ----------


def test_remembered_verdicts_do_not_leak_group_names_between_groups() -> None:
    source = Source("cidr_ipv4", "10.0.0.0/8")
    in_default = Rule("sg-0000000000000000a", "ingress", "tcp", 8080, 8080, source)
    in_web = Rule("sg-0000000000000000b", "ingress", "tcp", 8080, 8080, source)
    facts = Facts(group_names={"sg-0000000000000000a": "default", "sg-0000000000000000b": "web"})
    for _ in range(3):  # the second and third rounds are answered from memory
        assert [h.control.id for h in evaluate_rule(in_default, BASELINE, facts).hits] == ["EC2.2"]
        assert evaluate_rule(in_web, BASELINE, facts).hits == ()
        unknown = evaluate_rule(in_web, BASELINE, Facts())
        assert unknown.hits == ()
        assert [nj.control_ids for nj in unknown.not_judged] == [("EC2.2",)]


def test_remembered_verdicts_match_a_fresh_judgement() -> None:
    from chalicelib.evaluate import judge

    facts = Facts(group_names={"sg-1": "web"})
    for cidr in ("0.0.0.0/0", "::/0", "0.0.0.0/1", "10.0.0.0/8"):
        for protocol, low, high in (("tcp", 22, 22), ("udp", 0, 65535), ("-1", None, None), ("icmp", 8, -1)):
            kind = "cidr_ipv6" if ":" in cidr else "cidr_ipv4"
            rule = Rule("sg-1", "ingress", protocol, low, high, Source(kind, cidr))  # type: ignore[arg-type]
            fresh = [v for c in BASELINE.controls if (v := judge(rule, c, facts)) is not None]
            for _ in range(2):
                assert list(evaluate_rule(rule, BASELINE, facts).hits) == fresh
