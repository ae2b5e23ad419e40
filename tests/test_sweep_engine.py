"""The pure sweep engine, with plain describe dicts and no mocks: what a sweep judges, what it would
revoke, what it holds back, how it orders groups by exposure, and what its report says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.baseline import BaselineError, load_baseline, parse_baseline
from chalicelib.decision import ActionResult
from chalicelib.sweep.describe import (
    DescribeError,
    checked_rule,
    group_from_describe,
    interface_from_describe,
    interface_kind,
    rule_from_describe,
)
from chalicelib.sweep.engine import (
    ReportBuilder,
    exposures,
    judge_rules,
    plan_sweep,
    sweep_dump,
    sweep_facts,
)
from chalicelib.sweep.report import SweepFinding, SweepReport

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WEB, DB, DEFAULT = "sg-0000000000000000a", "sg-0000000000000000b", "sg-0000000000000000c"
GROUPS = [
    {"GroupId": WEB, "GroupName": "web", "VpcId": "vpc-0000000000000000a", "OwnerId": "111122223333"},
    {"GroupId": DB, "GroupName": "db", "VpcId": "vpc-0000000000000000a"},
    {"GroupId": DEFAULT, "GroupName": "default", "VpcId": "vpc-0000000000000000a"},
]


def rule(
    n: int, group: str = WEB, port: int | None = 22, cidr: str | None = "0.0.0.0/0", **extra: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "SecurityGroupRuleId": f"sgr-{n:017x}",
        "GroupId": group,
        "GroupOwnerId": "111122223333",
        "IsEgress": False,
        "IpProtocol": "tcp" if port is not None else "-1",
        "FromPort": port if port is not None else -1,
        "ToPort": port if port is not None else -1,
        "Tags": [],
    }
    if cidr is not None:
        item["CidrIpv6" if ":" in cidr else "CidrIpv4"] = cidr
    item.update(extra)
    return item


def _dump(items: list[dict[str, Any]], baseline: Any = None, **kwargs: Any) -> SweepReport:
    return sweep_dump(
        iter(items),
        GROUPS,
        baseline or load_baseline(),
        NOW,
        account="111122223333",
        region="eu-west-1",
        **kwargs,
    )


def test_describe_entries_become_canonical_rules() -> None:
    r = rule_from_describe(rule(1, cidr="::/0", port=3389))
    assert (r.direction, r.protocol, r.port_range, r.source.kind, r.source.value) == (
        "ingress",
        "tcp",
        (3389, 3389),
        "cidr_ipv6",
        "::/0",
    )
    everything = rule_from_describe(rule(2, port=None, IsEgress=True))
    assert everything.direction == "egress"
    assert (everything.from_port, everything.to_port) == (None, None)
    referenced = rule_from_describe(rule(3, cidr=None, ReferencedGroupInfo={"GroupId": DB, "UserId": "1"}))
    assert referenced.source.kind == "security_group"
    assert group_from_describe(GROUPS[2]).is_default


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ("not an object", "expected an object"),
        ({"IpProtocol": "tcp"}, "GroupId"),
        ({"GroupId": WEB, "IpProtocol": "tcp", "FromPort": "22"}, "FromPort"),
        ({"GroupId": WEB, "IpProtocol": "tcp", "CidrIpv4": ["0.0.0.0/0"]}, "CidrIpv4"),
        ({"GroupId": WEB, "IpProtocol": "tcpp"}, "IpProtocol"),
        ({"GroupId": WEB, "IpProtocol": "tcp", "CidrIpv4": "300.0.0.0/8"}, "CidrIpv4"),
        ({"GroupId": WEB, "IpProtocol": True}, "IpProtocol"),
    ],
)
def test_a_hostile_dump_entry_is_refused_naming_the_field(item: object, field: str) -> None:
    with pytest.raises(DescribeError) as caught:
        checked_rule(item, "SecurityGroupRules[7]")
    assert field in str(caught.value)
    assert "SecurityGroupRules[7]" in str(caught.value)


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ({"InterfaceType": "interface", "Attachment": {"InstanceId": "i-1"}}, "instance"),
        (
            {"InterfaceType": "interface", "RequesterId": "amazon-elb", "Description": "ELB app/x"},
            "load balancer",
        ),
        ({"InterfaceType": "network_load_balancer"}, "load balancer"),
        ({"InterfaceType": "lambda"}, "lambda"),
        ({"InterfaceType": "vpc_endpoint"}, "endpoint"),
        ({"InterfaceType": "interface", "RequesterId": "amazon-rds", "Attachment": {}}, "database"),
        ({"InterfaceType": "nat_gateway"}, "nat gateway"),
        ({"InterfaceType": "interface", "Status": "available"}, "unattached"),
        ({"InterfaceType": "branch"}, "container"),
    ],
)
def test_interface_kinds(item: dict[str, Any], kind: str) -> None:
    assert interface_kind(item) == kind


def _interface(n: int, group: str, public: str | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "NetworkInterfaceId": f"eni-{n:017x}",
        "InterfaceType": "interface",
        "Attachment": {"InstanceId": f"i-{n:017x}"},
        "Groups": [{"GroupId": group, "GroupName": "x"}],
        "PrivateIpAddress": f"10.0.0.{n}",
        **extra,
    }
    if public:
        item["Association"] = {"PublicIp": public}
    return item


def test_exposure_orders_groups_public_first_unattached_last() -> None:
    items = [rule(1, WEB), rule(2, DB, port=3306), rule(3, DEFAULT, port=443, cidr="10.0.0.0/8")]
    interfaces = [
        interface_from_describe(_interface(1, DB)),
        interface_from_describe(_interface(2, DB, "198.51.100.7")),
        interface_from_describe(_interface(3, DB, Ipv6Addresses=[{"Ipv6Address": "2001:db8::1"}])),
    ]
    report = _dump(items, interfaces=interfaces)
    assert report.groups[0].group_id == DB
    db = report.groups[0]
    assert db.exposure is not None
    assert (db.exposure.attached, db.exposure.public, db.exposure.kinds) == (3, 2, {"instance": 3})
    assert db.exposure.interfaces[0].public_ip is not None  # public ones listed first
    assert db.headline().startswith(f"{DB} (db): 1 violating rule, CRITICAL, on 3 network interfaces")
    assert "2 with a public IP" in db.headline()
    rest = report.groups[1:]
    assert all(g.exposure is not None and g.exposure.attached == 0 for g in rest)
    assert "attached to no network interface" in rest[0].headline()
    assert db.severity == "CRITICAL"  # the control's severity, not raised or lowered by exposure


def test_unknown_exposure_is_ordered_as_the_worst_never_as_unattached() -> None:
    builder = ReportBuilder(load_baseline(), "t", "report", NOW)
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    facts = sweep_facts(groups, account=None, region=None, now=NOW)
    builder.add(
        judge_rules(map(rule_from_describe, [rule(1, WEB), rule(2, DB)]), load_baseline(), facts), groups
    )
    from chalicelib.sweep.engine import unknown_exposure

    found = exposures([interface_from_describe(_interface(1, WEB, "198.51.100.1"))], [WEB])
    builder.set_exposure({**found, DB: unknown_exposure("DescribeNetworkInterfaces failed: AccessDenied")})
    report = builder.build(NOW)
    assert report.groups[0].group_id == DB
    assert "exposure unknown (DescribeNetworkInterfaces failed: AccessDenied)" in report.groups[0].headline()


def _baseline(extra: str) -> Any:
    return parse_baseline('name = "t"\nextends = "aws-foundational"\n' + extra, "t.toml")


def test_report_mode_revokes_nothing_and_enforce_plans_one_call_per_group_and_direction() -> None:
    items = [rule(1, WEB), rule(2, WEB, port=3389), rule(3, WEB, port=3306, IsEgress=True), rule(4, DB)]
    baseline = _baseline(
        '[[controls]]\nid = "EGRESS.DB"\ntitle = "t"\nseverity = "LOW"\ndirections = ["egress"]\n'
        'protocols = ["tcp"]\nports = [3306]\nsources = ["world"]\n'
    )
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    findings = list(
        judge_rules(
            map(rule_from_describe, items), baseline, sweep_facts(groups, account=None, region=None, now=NOW)
        )
    )
    assert plan_sweep(findings, "report") == []
    revocations = {(r.group_id, r.direction): r.rule_ids for r in plan_sweep(findings, "enforce")}
    assert revocations == {
        (WEB, "ingress"): (items[0]["SecurityGroupRuleId"], items[1]["SecurityGroupRuleId"]),
        (WEB, "egress"): (items[2]["SecurityGroupRuleId"],),
        (DB, "ingress"): (items[3]["SecurityGroupRuleId"],),
    }


def test_a_control_may_opt_out_of_sweep_enforcement() -> None:
    baseline = _baseline('[[controls]]\nid = "EC2.2"\nsweep = "report"\n')
    items = [rule(1, DEFAULT, port=443, cidr="10.0.0.0/8"), rule(2, WEB)]
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    findings = list(
        judge_rules(
            map(rule_from_describe, items), baseline, sweep_facts(groups, account=None, region=None, now=NOW)
        )
    )
    planned = {rid for r in plan_sweep(findings, "enforce") for rid in r.rule_ids}
    assert planned == {items[1]["SecurityGroupRuleId"]}  # the default group's rule is only reported
    builder = ReportBuilder(baseline, "t", "enforce", NOW)
    builder.add(findings, groups, {items[1]["SecurityGroupRuleId"]: ActionResult("revoked")})
    report = builder.build(NOW)
    actions = {f.rule_id: (f.action, f.note) for f in report.findings()}
    assert actions[items[0]["SecurityGroupRuleId"]] == (
        "reported",
        "the control opts out of sweep enforcement (sweep = report)",
    )
    assert actions[items[1]["SecurityGroupRuleId"]] == ("revoked", None)
    assert {c.control: c.sweep for c in report.by_control}["EC2.2"] == "report"


def test_the_sweep_field_is_validated() -> None:
    with pytest.raises(BaselineError) as caught:
        _baseline('[[controls]]\nid = "EC2.2"\nsweep = "never"\n')
    assert "controls[0](EC2.2).sweep" in str(caught.value)
    from chalicelib.baseline import file_schema

    assert file_schema()["properties"]["controls"]["items"]["properties"]["sweep"]["enum"] == [
        "enforce",
        "report",
    ]


def test_an_expired_exemption_no_longer_lifts_anything_at_the_sweep() -> None:
    baseline = _baseline(
        '[[exemptions]]\nid = "JIT"\ncontrols = ["EC2.13", "EC2.53", "EC2.18", "EC2.19"]\n'
        f'scope = {{ groups = ["{WEB}"] }}\nreason = "until Friday"\nexpires = 2026-05-29\n'
    )
    report = _dump([rule(1, WEB)], baseline)
    [finding] = report.findings()
    assert finding.action == "would-revoke"
    assert report.totals.expired_exemption == 1
    assert report.groups[0].exemptions_expired[0].exemption == "JIT"
    [status] = report.exemptions
    assert status.expired
    assert status.rules_expired == 1
    before = sweep_dump(iter([rule(1, WEB)]), GROUPS, baseline, datetime(2026, 5, 29, 23, 0, tzinfo=UTC))
    assert before.totals.violating == 0
    assert before.totals.exempted == 1


def test_an_exemption_scoped_by_principal_is_held_back_at_the_sweep_never_revoked_nor_passed() -> None:
    baseline = _baseline(
        '[[exemptions]]\nid = "ADMIN"\ncontrols = ["EC2.13", "EC2.53", "EC2.18", "EC2.19"]\n'
        'scope = { principals = ["arn:aws:iam::111122223333:role/Admin"] }\n'
        'reason = "break glass"\nexpires = 2030-01-01\n'
    )
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    findings = list(
        judge_rules(
            [rule_from_describe(rule(1, WEB))],
            baseline,
            sweep_facts(groups, account=None, region=None, now=NOW),
        )
    )
    assert findings[0].violates
    assert plan_sweep(findings, "enforce") == []
    report = _dump([rule(1, WEB)], baseline)
    [finding] = report.findings()
    assert finding.action == "reported"
    assert "scoped by principal" in (finding.note or "")
    assert any("who made the rule is unknown to a sweep" in nj.reason for nj in report.groups[0].not_judged)
    assert not report.judged_everything


def test_new_since_the_previous_sweep() -> None:
    items = [rule(1, WEB), rule(2, DB)]
    builder = ReportBuilder(
        load_baseline(),
        "t",
        "report",
        NOW,
        previous_ids=frozenset({items[0]["SecurityGroupRuleId"], "sgr-gone"}),
    )
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    builder.add(
        judge_rules(
            map(rule_from_describe, items),
            load_baseline(),
            sweep_facts(groups, account=None, region=None, now=NOW),
        ),
        groups,
    )
    report = builder.build(NOW)
    assert {f.rule_id: f.new for f in report.findings()} == {
        items[0]["SecurityGroupRuleId"]: False,
        items[1]["SecurityGroupRuleId"]: True,
    }
    assert (report.totals.new, report.totals.gone) == (1, 1)
    assert {c.control: c.new for c in report.by_control}["EC2.13"] == 1


def test_counts_by_control_and_severity_and_the_document_is_json() -> None:
    report = _dump(
        [
            rule(1, WEB),
            rule(2, WEB, port=443),
            rule(3, DB, port=3389, cidr="::/0"),
            rule(4, DB, port=5432, cidr="10.0.0.0/8"),
        ]
    )
    assert report.totals.rules == 4
    assert report.totals.violating == 2
    assert report.by_severity == {"CRITICAL": 2}
    counts = {c.control: (c.rules, c.groups) for c in report.by_control}
    assert counts["EC2.19"] == (2, 2)
    assert counts["EC2.54"] == (1, 1)
    assert report.by_control[0].severity == "CRITICAL"
    document = json.loads(json.dumps(report.to_json_dict()))
    assert SweepReport.model_validate(document) == report
    assert document["version"] == "sgguard.sweep/1"


def test_a_huge_dump_can_be_streamed_without_keeping_findings() -> None:
    seen: list[SweepFinding] = []
    items = (rule(n, WEB, port=1000 + n % 60000) for n in range(5000))
    report = sweep_dump(items, GROUPS, load_baseline(), NOW, on_finding=seen.append, keep_findings=False)
    assert report.totals.violating == 5000
    assert len(seen) == 5000
    assert report.groups[0].violating == 5000
    assert report.groups[0].findings == []


def test_exemption_matching_for_events_is_unchanged_by_the_sweep_flag() -> None:
    from chalicelib.exemptions import Where, match

    baseline = _baseline(
        '[[exemptions]]\nid = "ADMIN"\ncontrols = ["EC2.13"]\n'
        'scope = { principals = ["arn:aws:iam::111122223333:role/Admin"] }\n'
        'reason = "r"\nexpires = 2030-01-01\n'
    )
    event = Where(group_id=WEB, actors=("arn:aws:iam::111122223333:role/Admin",))
    assert match(baseline.exemptions, "EC2.13", event, date(2026, 1, 1)).active is not None
    stranger = Where(group_id=WEB, actors=("arn:aws:iam::111122223333:role/Other",))
    assert match(baseline.exemptions, "EC2.13", stranger, date(2026, 1, 1)) == match(
        [], "EC2.13", stranger, None
    )


def test_a_bounded_report_keeps_the_most_important_and_counts_the_rest() -> None:
    logged: list[SweepFinding] = []
    items = [rule(n, WEB, port=8000 + n) for n in range(100)] + [rule(500, DB, port=22)]
    groups = {g["GroupId"]: group_from_describe(g) for g in GROUPS}
    previous = frozenset(i["SecurityGroupRuleId"] for i in items[:100])  # only the SSH rule is new
    builder = ReportBuilder(
        load_baseline(), "t", "report", NOW, previous_ids=previous, on_finding=logged.append, max_findings=10
    )
    facts = sweep_facts(groups, account=None, region=None, now=NOW)
    builder.add(judge_rules(map(rule_from_describe, items), load_baseline(), facts), groups)
    report = builder.build(NOW)
    assert len(logged) == 101  # every violating rule reached the log
    assert len(report.findings()) == 10
    assert report.findings_omitted == 91
    assert report.totals.violating == 101
    assert items[100]["SecurityGroupRuleId"] in {f.rule_id for f in report.findings()}  # new: kept first
    assert {g.group_id: g.violating for g in report.groups} == {WEB: 100, DB: 1}
