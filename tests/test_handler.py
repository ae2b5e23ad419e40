"""The whole loop through Chalice's test client, against moto: real groups and rules, the event built
from what describe returns, the handler invoked, the violating rules gone, the others still there, and
the message the security team receives on a queue subscribed to the topic."""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterator

import pytest
from moto import mock_aws

from devtools.eventgen import authorize_and_record, group_rules, modify_event
from tests.conftest import ACCOUNT, REGION, load_sample
from tests.moto_env import World, build_world

ALL_TRAFFIC_WORLD = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
SSH_OFFICE = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield from build_world()


def test_all_traffic_from_the_world_is_revoked_and_reported(world: World) -> None:
    group = world.group("web")
    harmless, _ = authorize_and_record(world.ec2, group, [HTTPS_WORLD])
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    bad_id = created[0]["SecurityGroupRuleId"]

    decision = world.invoke(harmless)
    assert decision["outcome"] == "compliant"
    assert world.messages() == []

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert [f["rule_id"] for f in decision["findings"]] == [bad_id]
    finding = decision["findings"][0]
    assert finding["action"] == "revoked"
    assert set(finding["controls"]) >= {"EC2.13", "EC2.14", "EC2.18", "EC2.19", "EC2.53"}
    assert finding["severity"] == "CRITICAL"
    remaining = world.rule_ids(group)
    assert bad_id not in remaining
    https_rule = [r for r in group_rules(world.ec2, group) if r.get("FromPort") == 443 and not r["IsEgress"]]
    assert len(https_rule) == 1

    [message] = world.messages()
    assert len(message["subject"]) <= 99
    assert group in message["subject"]
    assert message["attributes"] == {
        "severity": "CRITICAL",
        "outcome": "violation",
        "action": "revoked",
        "mode": "enforce",
        "account": ACCOUNT,
        "region": REGION,
        "person": "dana@example.com",
        "person_source": "role-session-name",
        "controls": json.dumps(sorted(finding["controls"])),
    }
    document = message["document"]
    assert document["event_id"] == event["detail"]["eventID"]
    assert document["findings"][0]["rule_id"] == bad_id
    assert document["actor"]["principal"] == "arn:aws:iam::111122223333:role/DeveloperAccess"
    assert document["actor"]["session"] == "dana@example.com"


def test_email_text_says_what_who_when_and_how_to_undo(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    world.invoke(event)
    text = _published_text(world)
    rule_id = created[0]["SecurityGroupRuleId"]
    for expected in (
        ACCOUNT,
        REGION,
        group,
        "all traffic from 0.0.0.0/0",
        rule_id,
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group-rule/{rule_id}",
        "EC2.19 (CRITICAL)",
        "arn:aws:sts::111122223333:assumed-role/DeveloperAccess/dana@example.com",
        "198.51.100.23",
        event["detail"]["eventID"],
        event["detail"]["eventTime"],
    ):
        assert expected in text, expected
    [command] = [
        line for line in text.splitlines() if line.startswith("aws ec2 authorize-security-group-ingress")
    ]
    argv = shlex.split(command)
    assert argv[argv.index("--group-id") + 1] == group
    assert json.loads(argv[argv.index("--ip-permissions") + 1]) == [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]
    # The command really re-creates the rule.
    world.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=json.loads(argv[-1]))
    assert any(
        r.get("CidrIpv4") == "0.0.0.0/0" and r["IpProtocol"] == "-1" for r in group_rules(world.ec2, group)
    )


def _published_text(world: World) -> str:
    """The e-mail form ("default") of the last message, read back from moto's SNS backend."""
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: F401  (moto is configured through MOTO_ACCOUNT_ID)
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[world.topics["prod"]]
    body = json.loads(topic.sent_notifications[-1][1])
    text: str = body["default"]
    return text


def test_every_rule_of_a_call_is_judged_and_only_violating_ones_revoked(world: World) -> None:
    group = world.group("app")
    permissions = [
        HTTPS_WORLD,
        {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.20.0.0/16"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
        },
    ]
    event, created = authorize_and_record(world.ec2, group, permissions)
    assert len(created) == 5

    decision = world.invoke(event)

    violating = {f["source"] + ":" + str(f["from_port"]) for f in decision["findings"]}
    assert violating == {"0.0.0.0/0:3306", "0.0.0.0/0:22", "::/0:22"}
    assert all(f["action"] == "revoked" for f in decision["findings"])
    left = {
        (r.get("CidrIpv4") or r.get("CidrIpv6"), r.get("FromPort")) for r in group_rules(world.ec2, group)
    }
    assert ("0.0.0.0/0", 443) in left
    assert ("10.20.0.0/16", 22) in left
    assert ("0.0.0.0/0", 3306) not in left
    assert ("::/0", 22) not in left
    assert len(world.messages()) == 1


def test_compliant_event_changes_nothing_and_sends_nothing(world: World) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [SSH_OFFICE, HTTPS_WORLD])
    before = world.rule_ids(group)

    decision = world.invoke(event)

    assert decision["outcome"] == "compliant"
    assert decision["findings"] == []
    assert world.rule_ids(group) == before
    assert world.messages() == []


def test_dry_run_reports_but_revokes_nothing(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])

    decision = world.invoke(event, stage="dev")

    assert decision["mode"] == "dry-run"
    assert decision["findings"][0]["action"] == "would-revoke"
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    [message] = world.messages()
    assert "would revoke" in message["subject"]


def test_event_without_rule_ids_revokes_only_the_exact_rule(world: World) -> None:
    group = world.group("legacy")
    rdp_world = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    rdp_office = {
        "IpProtocol": "tcp",
        "FromPort": 3389,
        "ToPort": 3389,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
    }
    rdp_wider = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3390, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    authorize_and_record(world.ec2, group, [rdp_office, rdp_wider])
    event, created = authorize_and_record(world.ec2, group, [rdp_world], with_rule_ids=False)
    assert "securityGroupRuleSet" not in event["detail"]["responseElements"]

    decision = world.invoke(event)

    [finding] = decision["findings"]
    assert finding["rule_id"] == created[0]["SecurityGroupRuleId"]
    assert finding["action"] == "revoked"
    left = {(r.get("CidrIpv4"), r.get("FromPort"), r.get("ToPort")) for r in group_rules(world.ec2, group)}
    assert ("10.0.0.0/8", 3389, 3389) in left
    assert ("0.0.0.0/0", 3389, 3390) in left  # violating too, but not the rule this event made
    assert ("0.0.0.0/0", 3389, 3389) not in left


def test_legacy_event_whose_rule_is_gone_is_already_absent(world: World) -> None:
    group = world.group("legacy")
    rdp_world = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event, created = authorize_and_record(world.ec2, group, [rdp_world], with_rule_ids=False)
    world.ec2.revoke_security_group_ingress(
        GroupId=group, SecurityGroupRuleIds=[created[0]["SecurityGroupRuleId"]]
    )

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert decision["findings"][0]["action"] == "already-absent"


def test_rule_already_revoked_is_already_absent_not_an_error(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    world.ec2.revoke_security_group_ingress(
        GroupId=group, SecurityGroupRuleIds=[created[0]["SecurityGroupRuleId"]]
    )

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "already-absent"


def test_modified_ingress_rule_is_revoked(world: World) -> None:
    group = world.group("web")
    _, created = authorize_and_record(world.ec2, group, [SSH_OFFICE])
    rule_id = created[0]["SecurityGroupRuleId"]
    new_rule = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": new_rule}]
    )
    event = modify_event(group, {rule_id: new_rule})

    decision = world.invoke(event)

    [finding] = decision["findings"]
    assert finding["rule_id"] == rule_id
    assert finding["direction"] == "ingress"
    assert {"EC2.14", "EC2.19", "EC2.53"} <= set(finding["controls"])
    assert finding["action"] == "revoked"
    assert rule_id not in world.rule_ids(group)


def test_modified_egress_rule_is_asked_about_and_judged_as_egress(world: World) -> None:
    group = world.group("web")
    egress = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    _, created = authorize_and_record(world.ec2, group, [egress], egress=True)
    rule_id = created[0]["SecurityGroupRuleId"]
    new_rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": new_rule}]
    )

    decision = world.invoke(modify_event(group, {rule_id: new_rule}))

    assert decision["outcome"] == "compliant"  # egress is judged by EC2.2 only, and this group is "web"
    assert rule_id in world.rule_ids(group)


def test_any_rule_in_the_default_group_is_revoked_both_directions(world: World) -> None:
    group = world.default_group()
    ingress, created_in = authorize_and_record(world.ec2, group, [SSH_OFFICE])
    egress, created_out = authorize_and_record(
        world.ec2,
        group,
        [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
        egress=True,
    )

    first, second = world.invoke(ingress), world.invoke(egress)

    assert first["findings"][0]["controls"] == ["EC2.2"]
    assert second["findings"][0]["controls"] == ["EC2.2"]
    assert second["findings"][0]["direction"] == "egress"
    remaining = world.rule_ids(group)
    assert created_in[0]["SecurityGroupRuleId"] not in remaining
    assert created_out[0]["SecurityGroupRuleId"] not in remaining


def test_violating_event_costs_revoke_and_publish_only_once_the_name_is_cached(world: World) -> None:
    """The budget: a violating event reads its rules' current state once (never revoke a rule fixed since
    the event), revokes, publishes, puts the EventBridge event (on by default); the idempotency record
    adds two conditional writes (claim, decided; notified is the third) only for violating events."""
    group = world.group("web")
    warm_up, _ = authorize_and_record(world.ec2, group, [SSH_OFFICE])
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    compliant, _ = authorize_and_record(world.ec2, group, [HTTPS_WORLD])
    world.count_calls(with_ledger=True)

    world.invoke(warm_up)
    # once per container: who sgguard itself is; once per group: the group's name
    assert world.calls == ["GetCallerIdentity", "DescribeSecurityGroups"]
    world.calls.clear()
    world.invoke(compliant)
    assert world.calls == []
    world.invoke(event)
    aws_calls = [c for c in world.calls if c != "UpdateItem"]
    assert aws_calls == ["DescribeSecurityGroupRules", "RevokeSecurityGroupIngress", "Publish", "PutEvents"]
    assert world.calls.count("UpdateItem") == 3  # claim, decided, notified


def test_invalid_event_is_reported_with_the_field_and_revokes_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    broken = copy.deepcopy(event)  # a record that names no group cannot be a rule change anywhere
    broken["detail"]["responseElements"]["securityGroupRuleSet"]["items"][0]["groupId"] = 22
    del broken["detail"]["requestParameters"]["groupId"]
    capsys.readouterr()

    decision = world.invoke(broken)

    assert decision["outcome"] == "invalid"
    assert "securityGroupRuleSet.items[0].groupId" in decision["reason"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.messages() == []
    [line] = _decision_lines(capsys.readouterr().out)
    assert line["outcome"] == "invalid"
    assert line["event"] == broken  # logged in full, so nothing is lost


def test_failed_call_sample_is_ignored_without_any_aws_call(world: World) -> None:
    world.count_calls()
    decision = world.invoke(load_sample("authorize-ingress-failed-call.json"))
    assert decision["outcome"] == "ignored"
    assert "Client.UnauthorizedOperation" in decision["reason"]
    assert world.calls == []


def test_decision_is_logged_as_one_json_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    capsys.readouterr()
    returned = world.invoke(event)
    lines = _decision_lines(capsys.readouterr().out)
    assert len(lines) == 1
    logged = lines[0]
    assert logged.pop("sgguard") == "decision"
    assert logged == returned


def _decision_lines(output: str) -> list[dict]:
    """The audit lines (metric lines in embedded metric format sit next to them)."""
    return [json.loads(x) for x in output.splitlines() if x.startswith('{"sgguard":"decision"')]
