"""Exemptions (pure): scope matching field by field, expiry to the day, what the decision and the
message say, and that nothing but the baseline file can exempt a rule. Prefix lists through a fake
AwsPort: judged by their entries, AWS-managed ones never the internet, unread ones never passed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib import notify
from chalicelib.adapters.ec2 import AwsUnavailable, GroupInfo, RevokeResult, rule_from_describe
from chalicelib.baseline import Baseline, parse_baseline
from chalicelib.evaluate import Facts, evaluate_rule
from chalicelib.pipeline import OfflineAws, process
from chalicelib.rules import Direction, PrefixList, Rule, Source
from devtools.eventgen import DEVELOPER, authorize_event

GROUP = "sg-0123456789abcdef0"
OTHER_GROUP = "sg-0fedcba9876543210"
VPC = "vpc-0123456789abcdef0"
ACCOUNT = "111122223333"
ROLE = "arn:aws:iam::111122223333:role/DeveloperAccess"
SESSION = "arn:aws:sts::111122223333:assumed-role/DeveloperAccess/dana@example.com"


def baseline_with(
    scope: str, expires: str = "2026-06-30", controls: str = '["EC2.13", "EC2.19"]'
) -> Baseline:
    return parse_baseline(
        f"""
name = "acme"
extends = "aws-foundational"
[[exemptions]]
id = "PARTNER-SSH"
controls = {controls}
scope = {scope}
reason = "partner support; ticket SEC-42"
expires = {expires}
""",
        "acme",
    )


def facts(today: date = date(2026, 6, 1), **changes: Any) -> Facts:
    base: dict[str, Any] = {
        "group_names": {GROUP: "web"},
        "group_vpcs": {GROUP: VPC},
        "account": ACCOUNT,
        "region": "eu-west-1",
        "actors": (SESSION, ROLE),
        "today": today,
    }
    base.update(changes)
    return Facts(**base)


def ssh(source: str = "0.0.0.0/0", group: str = GROUP, description: str | None = None) -> Rule:
    kind = "cidr_ipv6" if ":" in source else "cidr_ipv4"
    return Rule(group, "ingress", "tcp", 22, 22, Source(kind, source), "sgr-0aa", None, description)  # type: ignore[arg-type]


def lifted_and_kept(made: Rule, baseline: Baseline, known: Facts) -> tuple[set[str], set[str]]:
    finding = evaluate_rule(made, baseline, known)
    return {x.hit.control.id for x in finding.exempted}, {h.control.id for h in finding.hits}


# --- scope -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        (f'{{ groups = ["{GROUP}"] }}', True),
        (f'{{ groups = ["{OTHER_GROUP}", "{GROUP}"] }}', True),  # within a field, any value
        (f'{{ groups = ["{OTHER_GROUP}"] }}', False),
        (f'{{ vpcs = ["{VPC}"] }}', True),
        ('{ vpcs = ["vpc-0fffffffffffffff0"] }', False),
        (f'{{ accounts = ["{ACCOUNT}"] }}', True),
        ('{ accounts = ["444455556666"] }', False),
        ('{ regions = ["eu-west-1"] }', True),
        ('{ regions = ["us-east-1"] }', False),
        (f'{{ principals = ["{ROLE}"] }}', True),  # the role covers every session
        (f'{{ principals = ["{SESSION}"] }}', True),  # or one session exactly
        ('{ principals = ["arn:aws:iam::111122223333:role/Other"] }', False),
        (f'{{ groups = ["{GROUP}"], regions = ["eu-west-1"], principals = ["{ROLE}"] }}', True),
        (f'{{ groups = ["{GROUP}"], regions = ["us-east-1"] }}', False),  # across fields, all must match
        (f'{{ groups = ["{GROUP}"], accounts = ["444455556666"] }}', False),
    ],
)
def test_scope(scope: str, applies: bool) -> None:
    lifted, kept = lifted_and_kept(ssh(), baseline_with(scope), facts())
    if applies:
        assert lifted == {"EC2.13", "EC2.19"}
        assert kept == {"EC2.53", "EC2.18"}  # only the named controls are lifted
    else:
        assert lifted == set()
        assert kept == {"EC2.13", "EC2.53", "EC2.18", "EC2.19"}


def test_an_unknown_vpc_never_applies_the_exemption_and_says_why() -> None:
    baseline = baseline_with(f'{{ vpcs = ["{VPC}"] }}')
    finding = evaluate_rule(ssh(), baseline, facts(group_vpcs={}, why_unknown="AccessDenied"))
    assert finding.exempted == ()
    assert {h.control.id for h in finding.hits} >= {"EC2.13", "EC2.19"}
    reasons = [nj.reason for nj in finding.not_judged]
    assert any("exemption PARTNER-SSH not applied" in r and "AccessDenied" in r for r in reasons)


def test_a_definite_mismatch_needs_no_vpc() -> None:
    baseline = baseline_with(f'{{ vpcs = ["{VPC}"], groups = ["{OTHER_GROUP}"] }}')
    finding = evaluate_rule(ssh(), baseline, facts(group_vpcs={}))
    assert finding.not_judged == ()


# --- expiry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "applies"), [(date(2026, 6, 29), True), (date(2026, 6, 30), True), (date(2026, 7, 1), False)]
)
def test_an_exemption_holds_through_its_expiry_day(today: date, applies: bool) -> None:
    finding = evaluate_rule(ssh(), baseline_with(f'{{ groups = ["{GROUP}"] }}'), facts(today))
    assert bool(finding.exempted) is applies
    assert bool(finding.expired) is not applies
    if not applies:
        assert {x.exemption.id for x in finding.expired} == {"PARTNER-SSH"}
        assert {x.hit.control.id for x in finding.expired} == {"EC2.13", "EC2.19"}


def test_without_a_clock_no_exemption_applies() -> None:
    finding = evaluate_rule(ssh(), baseline_with(f'{{ groups = ["{GROUP}"] }}'), facts(today=None))
    assert finding.exempted == ()
    assert any("no date" in nj.reason for nj in finding.not_judged)


# --- through the pipeline: decision and message ----------------------------------------------------


class FakeAws:
    """An AwsPort that answers from memory and records what it is asked."""

    def __init__(self, lists: dict[str, PrefixList | str] | None = None, fail_lists: bool = False) -> None:
        self.lists = lists or {}
        self.fail_lists = fail_lists
        self.calls: list[str] = []
        self.revoked: list[str] = []

    def groups(self, group_ids: Iterable[str]) -> dict[str, GroupInfo]:
        self.calls.append("groups")
        return {g: GroupInfo("web", VPC) for g in group_ids}

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]:
        self.calls.append(f"prefix_lists {sorted(list_ids)}")
        if self.fail_lists:
            raise AwsUnavailable("AccessDenied: not authorized to DescribeManagedPrefixLists")
        return {i: self.lists.get(i, f"{i} was not found") for i in list_ids}

    def rules_by_id(self, rule_ids: Iterable[str]) -> dict[str, Rule]:
        """The current state read before revoking: each rule is as its event made it."""
        self.calls.append("rules_by_id")
        return {i: MADE[i] for i in rule_ids if i in MADE}

    def rules_of_group(self, group_id: str) -> list[Rule]:
        raise AssertionError("not expected")

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]:
        self.calls.append("revoke")
        self.revoked.extend(rule_ids)
        return dict.fromkeys(rule_ids, RevokeResult("revoked"))


def event(permission: dict[str, Any], group: str = GROUP, description: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "SecurityGroupRuleId": "sgr-0aa11bb22cc33dd41",
        "GroupId": group,
        "IsEgress": False,
        **permission,
    }
    if description:
        rule["Description"] = description
    MADE[rule["SecurityGroupRuleId"]] = rule_from_describe(rule)
    return authorize_event(group, [], [rule], identity=DEVELOPER)


MADE: dict[str, Rule] = {}
"""The rules the events of these tests made, as AWS holds them (FakeAws.rules_by_id answers from it)."""


SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}
FULL_SCOPE = f'{{ groups = ["{GROUP}"], principals = ["{ROLE}"] }}'
ALL_SSH_CONTROLS = '["EC2.13", "EC2.53", "EC2.18", "EC2.19"]'


def test_an_exempted_violation_is_compliant_names_the_exemption_and_revokes_nothing() -> None:
    aws = FakeAws()
    baseline = baseline_with(FULL_SCOPE, controls=ALL_SSH_CONTROLS)
    decision = process(event(SSH_WORLD), baseline, "enforce", aws, now=datetime(2026, 6, 1, tzinfo=UTC))
    doc = decision.to_json_dict()
    assert doc["outcome"] == "compliant"
    assert doc["findings"] == []
    assert aws.revoked == []
    assert doc["exempted"] == [
        {
            "rule_id": "sgr-0aa11bb22cc33dd41",
            "controls": ["EC2.13", "EC2.53", "EC2.18", "EC2.19"],
            "exemption": "PARTNER-SSH",
            "reason": "partner support; ticket SEC-42",
            "expires": "2026-06-30",
        }
    ]
    assert "exempted by PARTNER-SSH" in doc["reason"]


def test_a_partly_exempted_rule_is_still_revoked_for_the_rest() -> None:
    aws = FakeAws()
    decision = process(
        event(SSH_WORLD), baseline_with(FULL_SCOPE), "enforce", aws, now=datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert decision.outcome == "violation"
    assert decision.findings[0].controls == ["EC2.53", "EC2.18"]
    assert aws.revoked == ["sgr-0aa11bb22cc33dd41"]
    assert [(x.exemption, x.controls) for x in decision.exempted] == [("PARTNER-SSH", ["EC2.13", "EC2.19"])]
    text = json.loads(notify.render(decision).body)["default"]
    assert "EXEMPTED (left in place)" in text
    assert "EC2.13, EC2.19 lifted by exemption PARTNER-SSH until 2026-06-30" in text


def test_after_expiry_the_rule_is_revoked_and_decision_and_message_say_when_it_expired() -> None:
    aws = FakeAws()
    baseline = baseline_with(FULL_SCOPE, controls=ALL_SSH_CONTROLS)
    decision = process(event(SSH_WORLD), baseline, "enforce", aws, now=datetime(2026, 7, 1, 0, 5, tzinfo=UTC))
    assert decision.outcome == "violation"
    assert aws.revoked == ["sgr-0aa11bb22cc33dd41"]
    assert decision.exempted == []
    [expired] = decision.exemptions_expired
    assert (expired.exemption, expired.expired_on, expired.rule_id) == (
        "PARTNER-SSH",
        "2026-06-30",
        "sgr-0aa11bb22cc33dd41",
    )
    assert "exemption PARTNER-SSH expired on 2026-06-30" in decision.reason
    text = json.loads(notify.render(decision).body)["default"]
    assert "exemption PARTNER-SSH expired on 2026-06-30" in text


def test_the_clock_defaults_to_now() -> None:
    baseline = baseline_with(FULL_SCOPE, expires="2000-01-01", controls=ALL_SSH_CONTROLS)
    decision = process(event(SSH_WORLD), baseline, "enforce", FakeAws())
    assert decision.outcome == "violation"
    assert decision.exemptions_expired


@pytest.mark.parametrize(
    "words", ["exempt", "sgguard:exempt", "sgguard:exempt=true", "EXEMPT: approved by security, ticket SEC-1"]
)
def test_a_rule_description_never_exempts(words: str) -> None:
    """Only the baseline file exempts: the description is written by whoever opened the port."""
    aws = FakeAws()
    plain = parse_baseline('name = "plain"\nextends = "aws-foundational"\n', "plain")
    decision = process(event(SSH_WORLD, description=words), plain, "enforce", aws)
    assert decision.outcome == "violation"
    assert decision.findings[0].description == words
    assert decision.findings[0].action == "revoked"
    assert aws.revoked == ["sgr-0aa11bb22cc33dd41"]
    assert decision.exempted == []
    # and with an exemption for some other group in the file, the description still changes nothing
    scoped = baseline_with(f'{{ groups = ["{OTHER_GROUP}"] }}', controls=ALL_SSH_CONTROLS)
    assert process(event(SSH_WORLD, description=words), scoped, "enforce", FakeAws()).outcome == "violation"


# --- prefix lists ------------------------------------------------------------------------------------

CUSTOMER = "pl-0c0c0c0c0c0c0c0c0"
AWS_S3 = "pl-6da54004"


def pl_event(list_id: str, port: int = 22) -> dict[str, Any]:
    return event({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "PrefixListId": list_id})


FOUNDATIONAL = parse_baseline('name = "f"\nextends = "aws-foundational"\n', "f")


def test_a_customer_list_holding_the_world_is_judged_by_its_entries() -> None:
    listed = PrefixList(CUSTOMER, "partners", ACCOUNT, 4, ("203.0.113.0/24", "0.0.0.0/0"))
    aws = FakeAws({CUSTOMER: listed})
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", aws)
    assert decision.outcome == "violation"
    assert {"EC2.13", "EC2.19"} <= set(decision.findings[0].controls)
    assert "EC2.53" in decision.findings[0].controls  # the entry is exactly 0.0.0.0/0
    why = {w.control: w.reason for w in decision.findings[0].why}
    assert f"{CUSTOMER} (partners), whose entry 0.0.0.0/0, the whole internet" in why["EC2.13"]
    assert aws.revoked == ["sgr-0aa11bb22cc33dd41"]


def test_a_customer_list_holding_half_the_internet_breaks_sgg_1() -> None:
    listed = PrefixList(CUSTOMER, "split", ACCOUNT, 1, ("0.0.0.0/1", "128.0.0.0/1"))
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", FakeAws({CUSTOMER: listed}))
    assert decision.findings[0].controls == ["SGG.1"]


def test_a_customer_list_of_private_networks_complies() -> None:
    listed = PrefixList(CUSTOMER, "offices", ACCOUNT, 2, ("10.0.0.0/8", "192.168.0.0/16"))
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", FakeAws({CUSTOMER: listed}))
    assert decision.outcome == "compliant"
    assert decision.not_judged == []


@pytest.mark.parametrize(
    "listed",
    [
        PrefixList(AWS_S3, "com.amazonaws.eu-west-1.s3", "AWS", None),
        PrefixList(AWS_S3, "com.amazonaws.global.cloudfront.origin-facing", "AWS", None, ("0.0.0.0/0",)),
    ],
)
def test_aws_managed_lists_are_aws_networks_never_the_internet(listed: PrefixList) -> None:
    decision = process(pl_event(AWS_S3), FOUNDATIONAL, "enforce", FakeAws({AWS_S3: listed}))
    assert decision.outcome == "compliant"
    assert decision.not_judged == []


def test_offline_a_prefix_list_rule_is_not_judged_never_passed() -> None:
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", OfflineAws())
    assert decision.outcome == "compliant"
    [listed] = [nj for nj in decision.not_judged if CUSTOMER in nj.reason]
    assert set(listed.controls) == {"EC2.13", "EC2.53", "EC2.54", "EC2.18", "EC2.19", "SGG.1"}
    assert "offline" in listed.reason
    assert "could not be judged" in decision.reason


def test_when_aws_cannot_answer_the_rule_is_not_judged_with_the_reason() -> None:
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", FakeAws(fail_lists=True))
    [listed] = [nj for nj in decision.not_judged if CUSTOMER in nj.reason]
    assert "AccessDenied" in listed.reason


def test_a_missing_list_is_not_judged() -> None:
    decision = process(pl_event(CUSTOMER), FOUNDATIONAL, "enforce", FakeAws())
    assert any("was not found" in nj.reason for nj in decision.not_judged)


def test_prefix_lists_are_asked_about_only_when_a_rule_uses_one() -> None:
    aws = FakeAws()
    process(event(SSH_WORLD), FOUNDATIONAL, "enforce", aws)
    assert not any(c.startswith("prefix_lists") for c in aws.calls)
    aws = FakeAws()
    process(pl_event(CUSTOMER, 443), FOUNDATIONAL, "enforce", aws)
    assert aws.calls == ["groups", f"prefix_lists ['{CUSTOMER}']"]
