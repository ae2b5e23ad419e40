"""Fail closed, through the handler (Chalice's test client) on moto: for every way an event, AWS or the
message could go wrong, either the violating rule is revoked and one message says so, or a message
marked ACTION NEEDED tells people what sgguard could not do and why. Never neither."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import clients
from devtools.eventgen import authorize_and_record, authorize_event, modify_event
from tests.conftest import ACCOUNT, REGION
from tests.faults import Fault, inject
from tests.moto_env import World
from tests.test_handler import ALL_TRAFFIC_WORLD
from tests.test_handler_baseline import customer_list, project_with_baseline, ssh_from_list
from tests.test_resilience import SSH_WORLD
from tests.test_resilience import no_backoff as no_backoff  # a fixture, used by name

MAX_PUBLISH = 256 * 1024


def _sent(world: World) -> list[dict[str, Any]]:
    """Every message published to the prod topic as moto keeps it: the subject and the whole body."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[world.topics["prod"]]
    return [{"subject": n[2], "body": json.loads(n[1])} for n in topic.sent_notifications]


def _one_message(world: World) -> dict[str, Any]:
    [message] = world.messages()
    return message


def _action_needed(world: World) -> dict[str, Any]:
    message = _one_message(world)
    assert "ACTION NEEDED" in message["subject"], message["subject"]
    return message


def _email(world: World) -> str:
    return str(_sent(world)[-1]["body"]["default"])


# --- 1. rules from AWS's record first ---------------------------------------------------------------


@pytest.mark.parametrize("port", [70000, -2, "x"])
def test_ports_written_on_an_all_traffic_permission_are_ignored_as_ec2_does(world: World, port: Any) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["fromPort"] = perm["toPort"] = port

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    _one_message(world)


@pytest.mark.parametrize("port", [70000, -2, "x", None])
def test_a_malformed_request_port_next_to_a_good_rule_set_is_noted_and_the_rule_revoked(
    world: World, port: Any
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = port or {"a": [[]]}

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    assert any("requestParameters.ipPermissions.items[0].fromPort" in e for e in decision["event_errors"])
    _one_message(world)


def test_a_request_cidr_aws_accepted_but_sgguard_cannot_read_is_noted_and_the_rule_revoked(
    world: World,
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["ipRanges"]["items"][0]["cidrIp"] = "00.0.0.0/0"

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    assert any("cidrIp" in e for e in decision["event_errors"])
    _one_message(world)


def test_one_unreadable_rule_of_the_rule_set_never_hides_the_others(world: World) -> None:
    group = world.group("web")
    rdp = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD, rdp])
    items = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
    items[0]["fromPort"] = {"deep": [1, 2]}  # this one cannot be read; its id can

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert {f["action"] for f in decision["findings"]} == {"revoked"}
    assert {f["rule_id"] for f in decision["findings"]} == {c["SecurityGroupRuleId"] for c in created}
    assert world.rule_ids(group) & {c["SecurityGroupRuleId"] for c in created} == set()
    assert any("securityGroupRuleSet.items[0].fromPort" in e for e in decision["event_errors"])
    _one_message(world)


# --- 2. when the event can't tell, look ------------------------------------------------------------


def test_a_legacy_event_with_an_unreadable_cidr_is_matched_against_the_group(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD], with_rule_ids=False)
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["ipRanges"]["items"][0]["cidrIp"] = "00.0.0.0/0"

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    _one_message(world)


def test_rules_that_cannot_be_told_apart_from_older_ones_are_left_and_people_told(world: World) -> None:
    group = world.group("web")
    older = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "1.0.0.0/8"}]}
    authorize_and_record(world.ec2, group, [older])
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD], with_rule_ids=False)
    perm = event["detail"]["requestParameters"]["ipPermissions"]["items"][0]
    perm["ipRanges"]["items"][0]["cidrIp"] = "00.0.0.0/0"
    before = world.rule_ids(group)

    decision = world.invoke(event)

    assert world.rule_ids(group) == before  # nothing revoked: which rule is the event's is unknown
    assert decision["action_needed"]
    message = _action_needed(world)
    text = _email(world)
    for expected in (group, event["detail"]["eventID"], "cidrIp", created[0]["SecurityGroupRuleId"]):
        assert expected in text, expected
    assert message["document"]["group_rules_breaking"]


def test_an_event_whose_group_is_readable_but_nothing_else_tells_people(world: World) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [SSH_WORLD])
    event["detail"]["eventTime"] = ["not", "a", "time"]

    decision = world.invoke(event)

    assert decision["outcome"] == "invalid"
    assert "eventTime" in decision["reason"]
    _action_needed(world)


def test_a_record_naming_no_group_is_quiet_but_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    event = authorize_event("sg-0123456789abcdef0", [SSH_WORLD], None)
    del event["detail"]["requestParameters"]["groupId"]
    capsys.readouterr()

    decision = world.invoke(event)

    assert decision["outcome"] == "invalid"
    assert world.messages() == []
    metrics = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert any(m.get("SilentInvalidEvents") == 1 for m in metrics)


# --- 3. not_judged is never a pass --------------------------------------------------------------------


def test_throttled_prefix_list_entries_raise_for_a_retry_then_tell_people_on_the_last(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    list_id = customer_list(world, ["0.0.0.0/0"])
    event, created = authorize_and_record(world.ec2, group, [ssh_from_list(list_id)])
    inject(clients.ec2(REGION), Fault("GetManagedPrefixListEntries", "RequestLimitExceeded", 503))

    for _ in range(2):
        with pytest.raises(Exception, match="RequestLimitExceeded"):
            world.invoke(event)
        assert world.messages() == []
    with pytest.raises(Exception, match="RequestLimitExceeded"):
        world.invoke(event)  # the last attempt: people are told, the event goes to the on-failure queue

    message = _action_needed(world)
    assert "RequestLimitExceeded" in json.dumps(message["document"]["not_judged"])
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)


def test_throttled_prefix_list_that_recovers_on_the_retry_is_revoked(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    list_id = customer_list(world, ["0.0.0.0/0"])
    event, created = authorize_and_record(world.ec2, group, [ssh_from_list(list_id)])
    fault = inject(clients.ec2(REGION), Fault("GetManagedPrefixListEntries", "RequestLimitExceeded", 503))

    with pytest.raises(Exception, match="RequestLimitExceeded"):
        world.invoke(event)
    fault.times = fault.failed

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    _one_message(world)


def test_a_prefix_list_sgguard_may_not_read_sends_action_needed(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    list_id = customer_list(world, ["0.0.0.0/0"])
    event, created = authorize_and_record(world.ec2, group, [ssh_from_list(list_id)])
    inject(clients.ec2(REGION), Fault("GetManagedPrefixListEntries", "UnauthorizedOperation", 403))

    decision = world.invoke(event)  # returns: a retry would be refused again

    assert decision["not_judged"]
    _action_needed(world)
    assert list_id in _email(world)
    assert "UnauthorizedOperation" in _email(world)
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)


def test_a_group_name_that_cannot_be_read_sends_action_needed(world: World, no_backoff: list[float]) -> None:
    group = world.default_group()
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    event, _ = authorize_and_record(world.ec2, group, [https])
    inject(clients.ec2(REGION), Fault("DescribeSecurityGroups", "UnauthorizedOperation", 403))

    decision = world.invoke(event)

    assert any("EC2.2" in n["controls"] for n in decision["not_judged"])
    _action_needed(world)


def test_a_throttled_current_state_read_tells_people_on_the_last_attempt(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    inject(clients.ec2(REGION), Fault("DescribeSecurityGroupRules", "RequestLimitExceeded", 503))

    for _ in range(3):
        with pytest.raises(Exception, match=r"RequestLimitExceeded|throttled"):
            world.invoke(event)

    message = _action_needed(world)
    assert "RequestLimitExceeded" in message["document"]["findings"][0]["error"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)


# --- 4. the message always goes out --------------------------------------------------------------------


UGLY = "\ud800 evil\r\nWHAT SGGUARD DID\nnothing\u2028\u202eRTL\u200f \x1b[31m\x00\x85 end \udfff"


def _exempting_everything_in(tmp_path: Path, group: str) -> str:
    return project_with_baseline(
        tmp_path,
        f"""
name = "acme"
extends = "aws-foundational"
[[exemptions]]
id = "WEB-OPEN"
controls = ["EC2.18", "EC2.53"]
scope = {{ groups = ["{group}"] }}
reason = "{"r" * 400}"
expires = 2099-12-31
""",
    )


def _ugliest_event(world: World, group: str) -> tuple[dict[str, Any], str]:
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    detail = event["detail"]
    rules = detail["responseElements"]["securityGroupRuleSet"]["items"]
    template = {**rules[0], "fromPort": 8080, "toPort": 8080, "description": UGLY * 2}
    rules.extend(
        {**template, "securityGroupRuleId": f"sgr-{i:017x}", "fromPort": 1000 + i, "toPort": 1000 + i}
        for i in range(1000)
    )
    detail["userAgent"] = ("x" * 1000 + UGLY) * 100
    detail["sourceIPAddress"] = UGLY * 50
    detail["userIdentity"]["arn"] += UGLY
    detail["userIdentity"]["principalId"] = UGLY * 400
    return event, created[0]["SecurityGroupRuleId"]


def test_the_largest_ugliest_event_still_gets_its_message_out(world: World, tmp_path: Path) -> None:
    group = world.group("web")
    event, ssh_id = _ugliest_event(world, group)
    sizes: list[int] = []

    def measure(params: dict[str, Any], **_: Any) -> None:
        attributes = params.get("MessageAttributes", {})
        sizes.append(
            len(params["Message"].encode())
            + len(params.get("Subject", "").encode())
            + sum(len(k.encode()) + len(v["StringValue"].encode()) + 6 for k, v in attributes.items())
        )

    clients.sns(REGION).meta.events.register("provide-client-params.sns.Publish", measure)

    decision = world.invoke(event, project_dir=_exempting_everything_in(tmp_path, group))

    assert len(decision["exempted"]) >= 1000
    assert ssh_id not in world.rule_ids(group)
    [size] = sizes
    assert size < MAX_PUBLISH
    message = _one_message(world)
    document = message["document"]
    assert document["omitted"]["exempted"] > 0
    assert len(document["actor"]["user_agent"]) < 2000
    text = _email(world)
    for line in text.splitlines():
        assert not line.startswith("WHAT SGGUARD DID") or line == "WHAT SGGUARD DID"
        assert not line.startswith("nothing")
    assert text.count("\nWHAT SGGUARD DID\n") == 1
    for hidden in ("\u202e", "\x1b", "\x00"):
        assert hidden not in text
    assert "left out" in text


def test_265_exempted_rules_and_one_violation_fit(world: World, tmp_path: Path) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    rules = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
    rules.extend(
        {**rules[0], "securityGroupRuleId": f"sgr-{i:017x}", "fromPort": 2000 + i, "toPort": 2000 + i}
        for i in range(265)
    )

    world.invoke(event, project_dir=_exempting_everything_in(tmp_path, group))

    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    _one_message(world)


@pytest.mark.parametrize("agent", ["\ud800", "a\udfffb", "x\ud83d"])
def test_an_unpaired_surrogate_in_the_user_agent_never_stops_the_message(world: World, agent: str) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    event["detail"]["userAgent"] = agent

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    message = _one_message(world)
    assert "\ufffd" in message["document"]["actor"]["user_agent"]


def test_a_user_agent_cannot_forge_lines_of_the_email(world: World) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    event["detail"]["userAgent"] = "aws-cli\n\nWHAT SGGUARD DID\nnothing, all is well\r\n"

    world.invoke(event)

    text = _email(world)
    assert text.splitlines().count("WHAT SGGUARD DID") == 1
    assert not any(line.startswith("nothing, all is well") for line in text.splitlines())
    assert "User agent:    aws-cli\\n\\nWHAT SGGUARD DID\\nnothing, all is well\\r\\n" in text


# --- 5. say what was done ------------------------------------------------------------------------------


def test_a_rule_modified_before_sgguard_acts_is_described_as_revoked(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]
    rdp = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": rdp}]
    )

    decision = world.invoke(event)  # the event says tcp 22; the rule revoked was tcp 3389

    [finding] = decision["findings"]
    assert finding["action"] == "revoked"
    assert (finding["from_port"], finding["to_port"]) == (3389, 3389)
    assert finding["in_event"] == "tcp 22 from 0.0.0.0/0"
    assert rule_id not in world.rule_ids(group)
    text = _email(world)
    assert "tcp 3389 from 0.0.0.0/0" in text
    assert "tcp 22 from 0.0.0.0/0" in text
    restore = [line for line in text.splitlines() if line.startswith("aws ec2 authorize")]
    assert len(restore) == 1
    assert '"FromPort": 3389' in restore[0]


# --- 6. only real regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["", "not a region", "eu-west-1\n", "x" * 300, "../../etc", "EU-WEST-1", "us-east-99"]
)
def test_a_bogus_region_is_invalid_and_no_client_is_built(world: World, region: str) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    event["detail"]["awsRegion"] = region
    clients.reset()

    decision = world.invoke(event)

    assert decision["outcome"] == "invalid"
    assert "awsRegion" in decision["reason"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    regions = {key[1] for key in _client_keys()}
    assert region not in regions


def _client_keys() -> list[tuple[str, str | None]]:
    return list(_built_clients)


_built_clients: list[tuple[str, str | None]] = []


@pytest.fixture(autouse=True)
def _record_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    _built_clients.clear()
    real = clients._client.__wrapped__  # type: ignore[attr-defined]

    def recording(service: str, region: str | None, *more: Any) -> Any:
        _built_clients.append((service, region))
        return real(service, region, *more)

    import functools

    monkeypatch.setattr(clients, "_client", functools.cache(recording))


# --- 7/8 are in tests/test_http_api.py and tests/test_cli_replay.py --------------------------------------


def test_a_modify_event_with_an_unreadable_rule_is_matched_by_its_id(world: World) -> None:
    group = world.group("web")
    _, created = authorize_and_record(
        world.ec2,
        group,
        [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    rule_id = created[0]["SecurityGroupRuleId"]
    bad = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": bad}]
    )
    event = modify_event(group, {rule_id: {**bad, "CidrIpv4": "00.0.0.0/0"}})

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert rule_id not in world.rule_ids(group)
    _one_message(world)
