"""Decisions (chalicelib.decision) and the SNS message (chalicelib.notify): pure, no AWS."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest

from chalicelib.baseline import Control, load_baseline
from chalicelib.decision import (
    ABSENT,
    ActionResult,
    Decision,
    NotJudgedDoc,
    Revocation,
    action_for,
    decide,
    plan,
)
from chalicelib.evaluate import Facts, Finding, Hit, evaluate
from chalicelib.events import AuthorizeRecord, RuleChange, parse_record, rule_change
from chalicelib.notify import MESSAGE_BUDGET, SUBJECT_LIMIT, render, restore_command, subject
from chalicelib.rules import Rule, Source
from tests.conftest import load_sample

BASELINE_NAME = "aws-foundational"
BASELINE = load_baseline(BASELINE_NAME)
SSH = "authorize-ingress-ssh-mixed-sources.json"
SEVERAL = "authorize-ingress-several-permissions.json"
ALL_TRAFFIC = "authorize-ingress-all-traffic-world.json"
CLOUDFORMATION = "authorize-ingress-cloudformation-group-reference.json"
LEGACY = "authorize-ingress-legacy-without-rule-ids.json"
MODIFY = "modify-security-group-rules.json"
EGRESS = "authorize-egress-all-traffic.json"
USER_ARN = "arn:aws:iam::111122223333:user/ci-deployer"
ROLE_ARN = "arn:aws:iam::111122223333:role/DeveloperAccess"

REVOKE = Control(id="R.1", title="revoke me", severity="HIGH", protocols=["tcp"], sources=["world"])
NOTIFY = Control(
    id="N.1", title="tell me", severity="LOW", protocols=["tcp"], sources=["world"], action="notify"
)


def src(value: str) -> Source:
    return Source.from_text(value)


def make_rule(
    rule_id: str | None,
    group: str = "sg-0aaaaaaaaaaaaaaa1",
    direction: str = "ingress",
    protocol: str = "tcp",
    ports: tuple[int | None, int | None] = (22, 22),
    source: str = "0.0.0.0/0",
    description: str | None = None,
) -> Rule:
    arn = f"arn:aws:ec2:eu-west-1:111122223333:security-group-rule/{rule_id}" if rule_id else None
    return Rule(group, direction, protocol, ports[0], ports[1], src(source), rule_id, arn, description)  # type: ignore[arg-type]


def hit_finding(rule: Rule, *controls: Control) -> Finding:
    return Finding(rule, tuple(Hit(c, f"breaks {c.id}") for c in controls))


def change_of(name: str) -> RuleChange:
    record = parse_record(load_sample(name))
    return rule_change(record)  # type: ignore[arg-type]


def decision_of(
    name: str,
    mode: str = "enforce",
    facts: Facts | None = None,
    action: str = "revoked",
) -> Decision:
    change = change_of(name)
    facts = facts if facts is not None else Facts(group_names={change.group_id: "web"})
    findings = evaluate(change.rules, BASELINE, facts)
    results = {r.rule_id: ActionResult(action) for r in change.rules if r.rule_id}  # type: ignore[arg-type]
    return decide(change, findings, mode, BASELINE_NAME, results)  # type: ignore[arg-type]


def synthetic_decision(rules: list[Rule], mode: str = "enforce", action: str = "revoked") -> Decision:
    """A decision for any rules, with the ssh sample's record as the event that made them."""
    record = parse_record(load_sample(SSH))
    assert isinstance(record, AuthorizeRecord)
    group = rules[0].group_id
    change = RuleChange(record, group, tuple(rules), direction_known=True, ids_known=True)
    findings = evaluate(rules, BASELINE, Facts(group_names={group: "default"}))
    results = {r.rule_id: ActionResult(action) for r in rules if r.rule_id}  # type: ignore[arg-type]
    return decide(change, findings, mode, BASELINE_NAME, results)  # type: ignore[arg-type]


def body_of(decision: Decision) -> dict[str, Any]:
    return json.loads(render(decision).body)


def restore_commands(text: str) -> list[list[str]]:
    return [
        shlex.split(line) for line in text.splitlines() if line.startswith("aws ec2 authorize-security-group")
    ]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# --- plan ------------------------------------------------------------------------------------------


def test_plan_groups_rule_ids_per_group_and_direction() -> None:
    findings = [
        hit_finding(make_rule("sgr-1", "sg-a"), REVOKE),
        hit_finding(make_rule("sgr-2", "sg-b"), REVOKE),
        hit_finding(make_rule("sgr-3", "sg-a"), REVOKE),
        hit_finding(make_rule("sgr-4", "sg-a", "egress"), REVOKE),
        hit_finding(make_rule("sgr-1", "sg-a"), REVOKE),  # the same rule twice: revoked once
    ]
    assert plan(findings, "enforce") == [
        Revocation("sg-a", "ingress", ("sgr-1", "sgr-3")),
        Revocation("sg-b", "ingress", ("sgr-2",)),
        Revocation("sg-a", "egress", ("sgr-4",)),
    ]


def test_plan_is_empty_in_dry_run() -> None:
    assert plan([hit_finding(make_rule("sgr-1"), REVOKE)], "dry-run") == []


def test_plan_skips_rules_without_id() -> None:
    findings = [hit_finding(make_rule(None), REVOKE), hit_finding(make_rule("sgr-2"), REVOKE)]
    assert plan(findings, "enforce") == [Revocation("sg-0aaaaaaaaaaaaaaa1", "ingress", ("sgr-2",))]
    assert plan([hit_finding(make_rule(None), REVOKE)], "enforce") == []


def test_plan_skips_notify_only_controls_and_compliant_rules() -> None:
    findings = [
        hit_finding(make_rule("sgr-1"), NOTIFY),
        hit_finding(make_rule("sgr-2")),
        hit_finding(make_rule("sgr-3"), NOTIFY, REVOKE),  # one revoke control is enough
    ]
    assert plan(findings, "enforce") == [Revocation("sg-0aaaaaaaaaaaaaaa1", "ingress", ("sgr-3",))]


def test_plan_for_a_sample() -> None:
    change = change_of(SSH)
    findings = evaluate(change.rules, BASELINE, Facts(group_names={change.group_id: "web"}))
    assert plan(findings, "enforce") == [
        Revocation("sg-0f9e8d7c6b5a49382", "ingress", ("sgr-0aa11bb22cc33dd41", "sgr-0aa11bb22cc33dd43"))
    ]


# --- action_for ------------------------------------------------------------------------------------


def test_action_for() -> None:
    revoke = hit_finding(make_rule("sgr-1"), REVOKE)
    assert action_for(hit_finding(make_rule("sgr-1"), NOTIFY), "enforce", {}).action == "reported"
    assert action_for(revoke, "dry-run", {}).action == "would-revoke"
    assert action_for(revoke, "enforce", {"sgr-1": ActionResult("revoked")}).action == "revoked"
    failed = action_for(revoke, "enforce", {})
    assert failed.action == "failed"
    assert failed.error
    assert action_for(hit_finding(make_rule(None), REVOKE), "enforce", {}) == ABSENT
    search_failed = ActionResult("failed", "could not list the group's rules")
    assert action_for(hit_finding(make_rule(None), REVOKE), "enforce", {}, search_failed) == search_failed


# --- decide: the document --------------------------------------------------------------------------

TOP_KEYS = {
    "event_id",
    "event_name",
    "event_time",
    "account",
    "region",
    "group_id",
    "actor",
    "outcome",
    "reason",
    "findings",
    "not_judged",
}
ACTOR_KEYS = {
    "person",
    "person_source",
    "via",
    "type",
    "arn",
    "principal",
    "session",
    "invoked_by",
    "source_ip",
    "user_agent",
}
FINDING_KEYS = {
    "rule_id",
    "rule_arn",
    "direction",
    "protocol",
    "from_port",
    "to_port",
    "source",
    "controls",
    "severity",
    "action",
    "error",
}
NOT_JUDGED_KEYS = {"rule_id", "controls", "reason"}


def test_document_keys() -> None:
    doc = decision_of(SSH, facts=Facts()).to_json_dict()
    assert set(doc) >= TOP_KEYS
    # the whole public interface, so that an added or renamed field is a deliberate change
    assert set(doc) == TOP_KEYS | {
        "mode",
        "baseline",
        "findings_omitted",
        "exempted",
        "exemptions_expired",
        "delivery",
        "event_errors",
        "action_needed",
        "group_rules_breaking",
        "omitted",
    }
    assert set(doc["actor"]) == ACTOR_KEYS
    assert doc["findings"]
    for item in doc["findings"]:
        assert set(item) >= FINDING_KEYS
        assert set(item) == FINDING_KEYS | {"description", "why", "note", "in_event"}
    assert doc["not_judged"]
    for item in doc["not_judged"]:
        assert set(item) == NOT_JUDGED_KEYS | {"retryable"}
    json.dumps(doc)  # plain JSON


def test_document_for_ssh_sample() -> None:
    doc = decision_of(SSH).to_json_dict()
    assert doc["event_id"] == "8a1f0c7e-6b7d-4a53-9d0e-000000000002"
    assert doc["event_name"] == "AuthorizeSecurityGroupIngress"
    assert doc["event_time"] == "2026-11-20T10:02:11Z"
    assert (doc["account"], doc["region"], doc["group_id"]) == (
        "111122223333",
        "eu-west-1",
        "sg-0f9e8d7c6b5a49382",
    )
    assert doc["outcome"] == "violation"
    assert doc["mode"] == "enforce"
    assert doc["baseline"] == BASELINE_NAME
    assert doc["findings_omitted"] == 0
    assert doc["not_judged"] == []
    assert [f["rule_id"] for f in doc["findings"]] == ["sgr-0aa11bb22cc33dd41", "sgr-0aa11bb22cc33dd43"]
    first = doc["findings"][0]
    assert first == first | {
        "rule_arn": "arn:aws:ec2:eu-west-1:111122223333:security-group-rule/sgr-0aa11bb22cc33dd41",
        "direction": "ingress",
        "protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "source": "0.0.0.0/0",
        "severity": "CRITICAL",
        "action": "revoked",
        "error": None,
    }
    assert set(first["controls"]) == {"EC2.13", "EC2.53", "EC2.18", "EC2.19"}
    assert [w["control"] for w in first["why"]] == first["controls"]
    assert set(doc["findings"][1]["controls"]) == {"EC2.13", "EC2.54", "EC2.18", "EC2.19"}
    assert "2 of 3" in doc["reason"]
    assert "2 revoked" in doc["reason"]


def test_document_lists_not_judged_rules() -> None:
    doc = decision_of(SEVERAL, facts=Facts()).to_json_dict()
    assert [(n["rule_id"], n["controls"]) for n in doc["not_judged"]] == [
        ("sgr-0b1b2b3b4b5b6b7b1", ["EC2.2"]),
        ("sgr-0b1b2b3b4b5b6b7b2", ["EC2.2"]),
        ("sgr-0b1b2b3b4b5b6b7b3", ["EC2.18", "EC2.19", "SGG.1"]),  # tcp 5432 from an unread prefix list
        ("sgr-0b1b2b3b4b5b6b7b3", ["EC2.2"]),
        ("sgr-0b1b2b3b4b5b6b7b4", ["EC2.2"]),
    ]
    by_group = [n for n in doc["not_judged"] if n["controls"] == ["EC2.2"]]
    assert all("sg-01234abcd5678ef90" in n["reason"] for n in by_group)
    [by_list] = [n for n in doc["not_judged"] if n["controls"] != ["EC2.2"]]
    assert "prefix list pl-0123456789abcdef0" in by_list["reason"]


def test_compliant_document() -> None:
    doc = decision_of(CLOUDFORMATION).to_json_dict()
    assert doc["outcome"] == "compliant"
    assert doc["findings"] == []
    assert doc["reason"] == f"all 1 rules comply with {BASELINE_NAME}"
    unjudged = decision_of(CLOUDFORMATION, facts=Facts()).to_json_dict()
    assert unjudged["outcome"] == "compliant"
    assert "1 could not be judged" in unjudged["reason"]


def test_extra_not_judged_are_kept() -> None:
    change = change_of(LEGACY)
    findings = evaluate(change.rules, BASELINE, Facts(group_names={change.group_id: "web"}))
    extra = NotJudgedDoc(rule_id=None, controls=["EC2.2"], reason="extra")
    decision = decide(change, findings, "enforce", BASELINE_NAME, {}, extra_not_judged=[extra])
    assert decision.not_judged == [extra]
    (only,) = decision.findings
    assert (only.rule_id, only.action) == (None, "already-absent")


def test_dry_run_document() -> None:
    doc = decision_of(SSH, mode="dry-run").to_json_dict()
    assert doc["mode"] == "dry-run"
    assert {f["action"] for f in doc["findings"]} == {"would-revoke"}


def test_severity_of_a_decision() -> None:
    assert decision_of(SSH).severity == "CRITICAL"
    assert decision_of(CLOUDFORMATION).severity == "INFORMATIONAL"


# --- decide: the actor -----------------------------------------------------------------------------


def test_actor_of_an_assumed_role() -> None:
    actor = decision_of(ALL_TRAFFIC).actor
    assert actor.type == "AssumedRole"
    assert actor.arn == "arn:aws:sts::111122223333:assumed-role/DeveloperAccess/dana@example.com"
    assert actor.principal == ROLE_ARN
    assert actor.session == "dana@example.com"
    assert actor.invoked_by is None
    assert actor.source_ip == "198.51.100.23"
    assert actor.user_agent == "AWS Internal"


@pytest.mark.parametrize("name", [SSH, SEVERAL, LEGACY, EGRESS])
def test_actor_of_an_iam_user(name: str) -> None:
    actor = decision_of(name).actor
    assert actor.type == "IAMUser"
    assert actor.arn == USER_ARN
    assert actor.principal == USER_ARN
    assert actor.session is None


def test_actor_of_cloudformation() -> None:
    actor = decision_of(CLOUDFORMATION).actor
    assert actor.invoked_by == "cloudformation.amazonaws.com"
    assert actor.principal == ROLE_ARN
    assert actor.source_ip == "AWS Internal"


def test_actor_of_a_modify() -> None:
    decision = decision_of(MODIFY)
    assert decision.actor.principal == ROLE_ARN
    assert decision.event_name == "ModifySecurityGroupRules"


# --- render: subject, attributes, body -------------------------------------------------------------


def is_printable_ascii(text: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E for c in text)


@pytest.mark.parametrize("name", [SSH, SEVERAL, ALL_TRAFFIC, LEGACY, MODIFY])
def test_subject_is_short_printable_ascii(name: str) -> None:
    message = render(decision_of(name))
    assert 0 < len(message.subject) <= SUBJECT_LIMIT <= 99
    assert is_printable_ascii(message.subject)
    assert message.subject.startswith("sgguard ")


def test_subject_content() -> None:
    decision = decision_of(SEVERAL).model_copy(update={"action_needed": []})
    text = subject(decision)
    assert (
        text
        == "sgguard CRITICAL: revoked 1 rule in sg-01234abcd5678ef90 (111122223333 eu-west-1) EC2.18,EC2.19"
    )


def test_subject_says_action_needed_when_something_could_not_be_judged() -> None:
    decision = decision_of(SEVERAL).model_copy(update={"action_needed": ["could not judge a rule: ..."]})
    assert subject(decision).startswith(
        "sgguard CRITICAL: ACTION NEEDED, revoked 1 rule in sg-01234abcd5678ef90"
    )


def test_long_subject_is_cut() -> None:
    decision = decision_of(SSH).model_copy(update={"group_id": "sg-" + "0" * 120})
    text = subject(decision)
    assert len(text) == SUBJECT_LIMIT
    assert text.endswith("...")


def test_attributes() -> None:
    message = render(decision_of(SSH))
    assert message.attributes == {
        "severity": "CRITICAL",
        "outcome": "violation",
        "action": "revoked",
        "mode": "enforce",
        "account": "111122223333",
        "region": "eu-west-1",
        "person": "ci-deployer",
        "person_source": "iam-user",
    }
    assert all(isinstance(v, str) for v in message.attributes.values())
    assert message.array_attributes == {
        "controls": sorted({c for f in decision_of(SSH).findings for c in f.controls})
    }


def test_body_structure() -> None:
    decision = decision_of(SSH)
    body = body_of(decision)
    assert set(body) == {"default", "sqs", "lambda", "https"}
    for key in ("sqs", "lambda", "https"):
        assert isinstance(body[key], str)
        assert json.loads(body[key]) == decision.to_json_dict()
    assert isinstance(body["default"], str)


def test_default_text_says_what_where_who_when() -> None:
    decision = decision_of(SSH)
    text = body_of(decision)["default"]
    for expected in [
        "111122223333",
        "eu-west-1",
        "sg-0f9e8d7c6b5a49382",
        "tcp 22 from 0.0.0.0/0",
        "tcp 22 from ::/0",
        "sgr-0aa11bb22cc33dd41",
        "arn:aws:ec2:eu-west-1:111122223333:security-group-rule/sgr-0aa11bb22cc33dd41",
        "EC2.13",
        "EC2.19",
        "EC2.53",
        "EC2.54",
        "EC2.18",
        USER_ARN,
        "203.0.113.77",
        decision.actor.user_agent,
        "2026-11-20T10:02:11Z",
        "8a1f0c7e-6b7d-4a53-9d0e-000000000002",
        "aws ec2 authorize-security-group-ingress",
    ]:
        assert expected in text, expected
    assert "sgr-0aa11bb22cc33dd42" not in text  # the compliant rule is not reported


def test_restore_command_recreates_each_rule_exactly() -> None:
    text = body_of(decision_of(SSH))["default"]
    commands = restore_commands(text)
    assert len(commands) == 2
    for argv in commands:
        assert argv[:3] == ["aws", "ec2", "authorize-security-group-ingress"]
        assert option(argv, "--group-id") == "sg-0f9e8d7c6b5a49382"
        assert option(argv, "--region") == "eu-west-1"
    assert [json.loads(option(argv, "--ip-permissions")) for argv in commands] == [
        [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}],
    ]


@pytest.mark.parametrize("action", ["would-revoke", "failed", "reported"])
def test_no_restore_command_when_nothing_was_removed(action: str) -> None:
    text = body_of(decision_of(SSH, action=action))["default"]
    assert restore_commands(text) == []


def test_failed_revocation_says_so() -> None:
    decision = decision_of(SSH, action="failed")
    assert "FAILED" in body_of(decision)["default"]
    assert subject(decision).startswith("sgguard CRITICAL: ACTION NEEDED")


@pytest.mark.parametrize(
    ("rule", "permission"),
    [
        (
            make_rule("sgr-1", source="pl-0123456789abcdef0", ports=(5432, 5432)),
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}],
            },
        ),
        (
            make_rule("sgr-2", source="sg-0fedcba9876543210", ports=(8080, 8081)),
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8081,
                "UserIdGroupPairs": [{"GroupId": "sg-0fedcba9876543210"}],
            },
        ),
        (
            make_rule("sgr-3", protocol="-1", ports=(None, None), source="10.0.0.0/8"),
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ),
        (
            make_rule("sgr-4", protocol="icmp", ports=(8, 0), source="2001:db8::/32"),
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]},
        ),
        (
            make_rule(
                "sgr-5", protocol="udp", ports=(53, 53), description='it\'s "temporary" -- zoë; $(rm -rf /)'
            ),
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": 'it\'s "temporary" -- zoë; $(rm -rf /)'}],
            },
        ),
    ],
    ids=["prefix-list", "group", "all-traffic", "icmp-ipv6-source", "quoted-description"],
)
def test_restore_command_round_trips(rule: Rule, permission: dict[str, Any]) -> None:
    decision = synthetic_decision([rule])
    (doc,) = decision.findings
    argv = shlex.split(restore_command(doc, decision.group_id, decision.region))
    assert argv[:3] == ["aws", "ec2", "authorize-security-group-ingress"]
    assert json.loads(option(argv, "--ip-permissions")) == [permission]
    assert option(argv, "--group-id") == "sg-0aaaaaaaaaaaaaaa1"
    # and it is the command the e-mail shows
    (shown,) = restore_commands(body_of(decision)["default"])
    assert shown == argv


def test_restore_command_for_egress() -> None:
    decision = synthetic_decision([make_rule("sgr-9", direction="egress", protocol="-1", ports=(None, None))])
    (argv,) = restore_commands(body_of(decision)["default"])
    assert argv[:3] == ["aws", "ec2", "authorize-security-group-egress"]
    assert json.loads(option(argv, "--ip-permissions")) == [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]


def test_unicode_identity_keeps_the_subject_ascii() -> None:
    event = load_sample(ALL_TRAFFIC)
    identity = event["detail"]["userIdentity"]
    identity["arn"] = "arn:aws:sts::111122223333:assumed-role/DeveloperAccess/zoë"
    identity["principalId"] = "AROAEXAMPLEROLEID1234:zoë"
    change = rule_change(parse_record(event))  # type: ignore[arg-type]
    findings = evaluate(change.rules, BASELINE, Facts(group_names={change.group_id: "web"}))
    decision = decide(
        change, findings, "enforce", BASELINE_NAME, {"sgr-035a8e56b1e097d50": ActionResult("revoked")}
    )
    assert decision.actor.session == "zoë"
    message = render(decision)
    assert is_printable_ascii(message.subject)
    assert len(message.subject) <= SUBJECT_LIMIT
    person = message.attributes.pop("person")
    assert person == "zoë"  # SNS attribute values are UTF-8: a filter policy can match the real name
    assert is_printable_ascii("".join(message.attributes.values()))
    message.body.encode("utf-8")
    body = json.loads(message.body)
    assert "zoë" in body["default"]
    assert json.loads(body["sqs"])["actor"]["session"] == "zoë"


def test_non_ascii_in_subject_fields_is_replaced() -> None:
    decision = decision_of(SSH).model_copy(update={"group_id": "sg-zoë\nnext", "region": "eu-wést-1"})
    text = subject(decision)
    assert is_printable_ascii(text)
    assert "sg-zo?" in text


# --- render: size ----------------------------------------------------------------------------------


def test_a_thousand_findings_fit_in_one_message() -> None:
    high_risk = [22, 3306, 3389, 5432, 9200]
    rules = [
        make_rule(
            f"sgr-{i:017x}",
            ports=(high_risk[i % 5], high_risk[i % 5]) if i % 3 == 0 else (10000 + i, 10000 + i),
            source="0.0.0.0/0" if i % 2 else "::/0",
            description=f"synthetic rule number {i}",
        )
        for i in range(1000)
    ]
    decision = synthetic_decision(rules)
    assert len(decision.findings) == 1000
    message = render(decision)
    assert len(message.body.encode("utf-8")) <= MESSAGE_BUDGET < 240_001
    body = json.loads(message.body)
    for key in ("sqs", "lambda", "https"):
        doc = json.loads(body[key])
        kept = doc["findings"]
        assert doc["findings_omitted"] > 0
        assert len(kept) + doc["findings_omitted"] == 1000
        assert len(kept) > 0
    doc = json.loads(body["sqs"])
    omitted = doc["findings_omitted"]
    match = re.search(r"\.\.\. and (\d+) more finding\(s\) left out", body["default"])
    assert match, "the text must say that findings were left out"
    assert int(match.group(1)) == omitted
    assert body["default"].count("  rule id: sgr-") == len(doc["findings"])
    # the most severe findings are the ones kept
    order = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
    kept_ids = {f["rule_id"] for f in doc["findings"]}
    omitted_docs = [f for f in decision.findings if f.rule_id not in kept_ids]
    assert len(omitted_docs) == omitted
    assert min(order[f["severity"]] for f in doc["findings"]) >= max(order[f.severity] for f in omitted_docs)
    # the untrimmed decision still has every finding (the log writes it)
    assert decision.findings_omitted == 0
    assert len(decision.to_json_dict()["findings"]) == 1000


def test_a_small_decision_is_not_trimmed() -> None:
    body = body_of(decision_of(SSH))
    assert json.loads(body["sqs"])["findings_omitted"] == 0
    assert "left out" not in body["default"]
