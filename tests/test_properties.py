"""Property-based tests of the evaluation over every bundled preset (hypothesis).

1. Widening a rule's source (a supernet of the same family) or its port range never turns a violation
   into compliance, never turns a revocation into a mere report, and never lowers the severity.
2. Evaluation never raises on a valid rule, whatever the protocol, ports, source, direction, facts.
"""

from __future__ import annotations

import ipaddress
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.baseline import SEVERITY_ORDER, Baseline, load_baseline, parse_baseline, preset_names
from chalicelib.evaluate import Facts, Finding, evaluate_rule
from chalicelib.rules import MAX_PORT, PrefixList, Rule, Source

PRESETS = [load_baseline(name) for name in preset_names()]
GROUP = "sg-0123456789abcdef0"
FACTS = [
    Facts(group_names={GROUP: "web"}),
    Facts(group_names={GROUP: "default"}),
    Facts(),
]

presets = st.sampled_from(PRESETS)
facts = st.sampled_from(FACTS)
directions = st.sampled_from(["ingress", "egress"])
ported = st.sampled_from(["tcp", "udp"])


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if draw(st.booleans()):
        address = draw(st.integers(0, 2**32 - 1))
        return ipaddress.IPv4Network((address, draw(st.integers(0, 32))), strict=False)
    address = draw(st.integers(0, 2**128 - 1))
    return ipaddress.IPv6Network((address, draw(st.integers(0, 128))), strict=False)


@st.composite
def interesting_networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Random networks, plus the ones near the edges that matter: the world, /1, /8, /9, global IPv6."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(networks())
    if choice == 1:
        prefix = draw(st.integers(0, 12))
        return ipaddress.IPv4Network((draw(st.integers(0, 2**32 - 1)), prefix), strict=False)
    prefix = draw(st.integers(0, 20))
    address = (0x2000 << 112) + draw(st.integers(0, 2**125 - 1))
    return ipaddress.IPv6Network((address, prefix), strict=False)


def cidr_source(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Source:
    return Source("cidr_ipv4" if network.version == 4 else "cidr_ipv6", str(network))


@st.composite
def port_ranges(draw: st.DrawFn) -> tuple[int, int]:
    low = draw(st.integers(0, MAX_PORT))
    high = draw(st.integers(low, MAX_PORT))
    return low, high


def worse_or_equal(narrow: Finding, wide: Finding) -> None:
    if narrow.violates:
        assert wide.violates, (narrow.rule.in_words(), wide.rule.in_words(), narrow.hits)
        assert SEVERITY_ORDER[wide.severity] >= SEVERITY_ORDER[narrow.severity]
    if narrow.must_revoke:
        assert wide.must_revoke


@settings(max_examples=600, deadline=None)
@given(
    baseline=presets,
    known=facts,
    direction=directions,
    protocol=st.sampled_from(["tcp", "udp", "-1", "icmp", "icmpv6", "47"]),
    ports=port_ranges(),
    network=interesting_networks(),
    widen_by=st.integers(1, 128),
)
def test_widening_the_source_never_turns_a_violation_into_compliance(
    baseline: Baseline,
    known: Facts,
    direction: str,
    protocol: str,
    ports: tuple[int, int],
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    widen_by: int,
) -> None:
    wider = network.supernet(new_prefix=max(0, network.prefixlen - widen_by))
    low, high = ports if protocol in ("tcp", "udp") else (-1, -1)
    narrow = Rule(GROUP, direction, protocol, low, high, cidr_source(network))  # type: ignore[arg-type]
    wide = Rule(GROUP, direction, protocol, low, high, cidr_source(wider))  # type: ignore[arg-type]
    worse_or_equal(evaluate_rule(narrow, baseline, known), evaluate_rule(wide, baseline, known))


@settings(max_examples=600, deadline=None)
@given(
    baseline=presets,
    known=facts,
    direction=directions,
    protocol=ported,
    ports=port_ranges(),
    wider=port_ranges(),
    network=interesting_networks(),
)
def test_widening_the_port_range_never_turns_a_violation_into_compliance(
    baseline: Baseline,
    known: Facts,
    direction: str,
    protocol: str,
    ports: tuple[int, int],
    wider: tuple[int, int],
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> None:
    low, high = min(ports[0], wider[0]), max(ports[1], wider[1])
    source = cidr_source(network)
    narrow = Rule(GROUP, direction, protocol, ports[0], ports[1], source)  # type: ignore[arg-type]
    wide = Rule(GROUP, direction, protocol, low, high, source)  # type: ignore[arg-type]
    worse_or_equal(evaluate_rule(narrow, baseline, known), evaluate_rule(wide, baseline, known))
    # every port (no ports given, or -1) is the widest range of all
    widest = Rule(GROUP, direction, protocol, None, None, source)  # type: ignore[arg-type]
    worse_or_equal(evaluate_rule(wide, baseline, known), evaluate_rule(widest, baseline, known))


WITH_EXEMPTIONS = parse_baseline(
    """
name = "with-exemptions"
extends = "strict"
[[exemptions]]
id = "E1"
controls = ["EC2.13", "SGG.1", "EC2.2", "SGG.8"]
scope = { groups = ["sg-0123456789abcdef0"], vpcs = ["vpc-0123456789abcdef0"] }
reason = "property test"
expires = 2030-01-01
[[exemptions]]
id = "E2"
controls = ["EC2.18"]
scope = { principals = ["arn:aws:iam::111122223333:role/Admin"], regions = ["eu-west-1"] }
reason = "property test"
expires = 2020-01-01
""",
    "inline",
)


@st.composite
def sources(draw: st.DrawFn) -> Source:
    kind = draw(st.sampled_from(["cidr", "cidr", "prefix_list", "security_group"]))
    if kind == "cidr":
        return cidr_source(draw(interesting_networks()))
    if kind == "prefix_list":
        return Source(
            "prefix_list", draw(st.sampled_from(["pl-0aaaaaaaaaaaaaaaa", "pl-0bbbbbbbbbbbbbbbb", "pl-0c"]))
        )
    return Source("security_group", "sg-0fedcba9876543210")


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from(["tcp", "udp", "-1", "icmp", "icmpv6"]) | st.integers(0, 255).map(str))
    from chalicelib.rules import normalise_protocol

    protocol = normalise_protocol(protocol)
    if protocol in ("tcp", "udp"):
        low, high = draw(st.one_of(port_ranges(), st.just((-1, -1)), st.just((None, None))))
    elif protocol == "-1":
        low = high = None
    else:
        low, high = draw(st.integers(-1, 255)), draw(st.integers(-1, 255))
    return Rule(
        GROUP, draw(directions), protocol, low, high, draw(sources()), draw(st.sampled_from([None, "sgr-1"]))
    )


@st.composite
def any_facts(draw: st.DrawFn) -> Facts:
    prefix_lists: dict[str, PrefixList | str] = {}
    entries = tuple(str(draw(networks())) for _ in range(draw(st.integers(0, 4))))
    owner = draw(st.sampled_from(["AWS", "111122223333"]))
    prefix_lists["pl-0aaaaaaaaaaaaaaaa"] = PrefixList(
        "pl-0aaaaaaaaaaaaaaaa", "com.amazonaws.x.s3", owner, None
    )
    prefix_lists["pl-0bbbbbbbbbbbbbbbb"] = PrefixList("pl-0bbbbbbbbbbbbbbbb", "office", owner, 3, entries)
    if draw(st.booleans()):
        prefix_lists["pl-0c"] = "AccessDenied"
    return Facts(
        group_names=draw(st.sampled_from([{}, {GROUP: "default"}, {GROUP: "web"}])),
        group_vpcs=draw(st.sampled_from([{}, {GROUP: "vpc-0123456789abcdef0"}])),
        account=draw(st.sampled_from([None, "111122223333"])),
        region=draw(st.sampled_from([None, "eu-west-1"])),
        actors=draw(st.sampled_from([(), ("arn:aws:iam::111122223333:role/Admin",)])),
        today=draw(st.none() | st.dates(date(2019, 1, 1), date(2031, 1, 1))),
        prefix_lists=prefix_lists,
    )


@settings(max_examples=800, deadline=None)
@given(baseline=st.sampled_from([*PRESETS, WITH_EXEMPTIONS]), made=rules(), known=any_facts())
def test_evaluation_never_raises_on_a_valid_rule(baseline: Baseline, made: Rule, known: Facts) -> None:
    finding = evaluate_rule(made, baseline, known)
    assert finding.rule == made
    assert finding.severity in SEVERITY_ORDER
    lifted = {x.hit.control.id for x in finding.exempted}
    assert not lifted & {h.control.id for h in finding.hits}
    for item in finding.not_judged:
        assert item.control_ids
        assert item.reason
