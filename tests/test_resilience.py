"""The real world, through the handler (Chalice's test client) against moto: late events that race a
fix, duplicate deliveries, retries after a failure, and every fault sgguard must survive, each injected."""

from __future__ import annotations

import json
import time
from pathlib import Path

import botocore.endpoint
import pytest
from botocore.retries.bucket import TokenBucket

from chalicelib import handler
from chalicelib.adapters import clients
from chalicelib.adapters.clients import MAX_ATTEMPTS
from chalicelib.adapters.ledger import DynamoLedger
from devtools.eventgen import authorize_and_record, modify_event
from tests.conftest import ACCOUNT, REGION
from tests.faults import Fault, inject
from tests.moto_env import World
from tests.test_handler import ALL_TRAFFIC_WORLD, HTTPS_WORLD, SSH_OFFICE

SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
RDP_WORLD = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore sleeps between retries, and adaptive mode's client-side token bucket waits after a
    throttle; record the sleeps and grant every token instead of waiting (the attempts are unchanged)."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", slept.append)
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    return slept


def _lines(output: str, kind: str) -> list[dict]:
    records = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    return [r for r in records if r.get("sgguard") == kind]


def _text(world: World) -> str:
    [message] = world.messages()
    return str(message["subject"])


def _email(world: World, index: int = -1) -> str:
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[world.topics["prod"]]
    return str(json.loads(topic.sent_notifications[index][1])["default"])


def _sent(world: World) -> int:
    from moto.sns.models import sns_backends

    return len(sns_backends[ACCOUNT][REGION].topics[world.topics["prod"]].sent_notifications)


# --- races: the rule changed between the event and sgguard ------------------------------------------


def test_rule_fixed_before_sgguard_acts_is_left_in_place_as_already_fixed(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]
    fixed = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "10.20.0.0/16"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": fixed}]
    )

    decision = world.invoke(event)  # the late Authorize event still shows 22 open to the world

    [finding] = decision["findings"]
    assert finding["action"] == "already-fixed"
    assert "10.20.0.0/16" in finding["note"]
    assert rule_id in world.rule_ids(group)  # never removed: compliant at the moment of removal
    text = _email(world)
    assert "already fixed" in text
    assert "10.20.0.0/16" in text


def test_only_the_rules_still_violating_are_revoked(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [SSH_WORLD, RDP_WORLD])
    ssh_id, rdp_id = (r["SecurityGroupRuleId"] for r in sorted(created, key=lambda r: r["FromPort"]))
    to_https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv4": "0.0.0.0/0"}
    world.ec2.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": ssh_id, "SecurityGroupRule": to_https}]
    )

    decision = world.invoke(event)

    actions = {f["rule_id"]: f["action"] for f in decision["findings"]}
    assert actions == {ssh_id: "already-fixed", rdp_id: "revoked"}
    assert world.rule_ids(group) >= {ssh_id}
    assert rdp_id not in world.rule_ids(group)


def test_modified_rule_made_worse_again_is_judged_on_its_current_state(world: World) -> None:
    """Modify to RDP-from-the-world, then (before sgguard acts) to something that complies."""
    group = world.group("web")
    _, created = authorize_and_record(world.ec2, group, [SSH_OFFICE])
    rule_id = created[0]["SecurityGroupRuleId"]
    bad = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0"}
    good = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "10.0.0.0/8"}
    for rule in (bad, good):
        world.ec2.modify_security_group_rules(
            GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id, "SecurityGroupRule": rule}]
        )
    world.count_calls()

    decision = world.invoke(modify_event(group, {rule_id: bad}))

    assert decision["findings"][0]["action"] == "already-fixed"
    assert rule_id in world.rule_ids(group)
    assert world.calls.count("DescribeSecurityGroupRules") == 1


# --- duplicates and retries ---------------------------------------------------------------------------


def test_same_event_three_times_revokes_once_and_notifies_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]
    world.count_calls()

    first, second, third = (world.invoke(event) for _ in range(3))

    assert first["findings"][0]["action"] == "revoked"
    assert first["delivery"] == "first"
    for later in (second, third):
        assert later["findings"][0]["action"] == "already-absent"
        assert later["delivery"] == "duplicate"
    assert world.calls.count("RevokeSecurityGroupIngress") == 1
    assert world.calls.count("Publish") == 1
    assert len(world.messages()) == 1
    assert rule_id not in world.rule_ids(group)
    item = world.ledger_item(event["detail"]["eventID"])
    assert item is not None
    assert item["state"] == {"S": "notified"}
    assert int(item["expires_at"]["N"]) > time.time() + 24 * 3600  # TTL: kept a week, then gone
    assert len(_lines(capsys.readouterr().out, "decision")) == 3  # every delivery is logged


def test_publish_failure_keeps_the_rule_revoked_and_the_retry_sends_the_message(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]
    fault = inject(clients.sns(REGION), Fault("Publish", "AuthorizationError", 403, times=1))
    capsys.readouterr()

    with pytest.raises(Exception, match="AuthorizationError"):
        world.invoke(event)

    assert (fault.failed, fault.sends) == (1, 1)
    assert rule_id not in world.rule_ids(group)  # stays revoked
    assert world.messages() == []
    out = capsys.readouterr().out
    [logged] = _lines(out, "decision")  # the decision is logged in full before the failure
    assert logged["findings"][0]["action"] == "revoked"
    assert logged["findings"][0]["rule_id"] == rule_id
    [error] = _lines(out, "error")
    assert "Lambda will retry" in error["message"]
    assert world.ledger_item(event["detail"]["eventID"])["state"] == {"S": "decided"}  # type: ignore[index]

    retried = world.invoke(event)  # Lambda's retry

    [finding] = retried["findings"]
    assert retried["delivery"] == "retry"
    assert finding["action"] == "revoked"
    assert "revoked on the first attempt" in finding["note"]
    [message] = world.messages()
    assert message["document"]["findings"][0]["note"] == finding["note"]
    assert "revoked on the first attempt" in _email(world)
    assert world.ledger_item(event["detail"]["eventID"])["state"] == {"S": "notified"}  # type: ignore[index]

    world.invoke(event)  # and a duplicate after that sends nothing
    assert world.messages() == []


def test_concurrent_delivery_of_an_event_held_elsewhere_raises_and_changes_nothing(world: World) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    holder = DynamoLedger("sgguard-idempotency-prod", REGION).claim(event["detail"]["eventID"], time.time())
    assert holder.kind == "fresh"

    with pytest.raises(Exception, match="being handled by another invocation"):
        world.invoke(event)

    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.messages() == []


def test_retry_after_a_holder_died_takes_over_once_its_lease_expired(world: World) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    DynamoLedger("sgguard-idempotency-prod", REGION).claim(event["detail"]["eventID"], time.time() - 3600)

    decision = world.invoke(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert decision["delivery"] == "retry"
    assert len(world.messages()) == 1


def test_without_a_table_duplicates_are_caught_in_the_containers_memory(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    _direct_env(monkeypatch, IDEMPOTENCY_TABLE="")

    decisions = [handler.handle_event(event) for _ in range(3)]

    assert [d["findings"][0]["action"] for d in decisions] == ["revoked", "already-absent", "already-absent"]
    assert len(world.messages()) == 1
    assert world.ledger_item(event["detail"]["eventID"]) is None


def test_a_missing_table_falls_back_to_memory_loudly_and_still_guards(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    _direct_env(monkeypatch, IDEMPOTENCY_TABLE="no-such-table")
    capsys.readouterr()

    decision = handler.handle_event(event)

    assert decision["findings"][0]["action"] == "revoked"
    assert len(world.messages()) == 1
    [error] = _lines(capsys.readouterr().out, "error")
    assert "no-such-table" in error["message"]
    assert "memory" in error["message"]


# --- own changes -----------------------------------------------------------------------------------


def test_a_change_made_by_sgguards_own_identity_is_ignored(world: World) -> None:
    own = world_caller(world)
    group = world.group("web")
    identity = {"type": "AssumedRole", "arn": own, "accountId": ACCOUNT}
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD], identity=identity)
    world.count_calls()

    first = world.invoke(event)
    second = world.invoke(event)

    assert first["outcome"] == second["outcome"] == "ignored"
    assert "sgguard's own identity" in first["reason"]
    assert own in first["reason"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.calls == ["GetCallerIdentity"]  # once per container, never per event


def world_caller(world: World) -> str:
    import boto3

    return str(boto3.client("sts", region_name=REGION).get_caller_identity()["Arn"])


def test_someone_else_in_sgguards_role_is_still_judged(world: World) -> None:
    own = world_caller(world)
    group = world.group("web")
    identity = {"type": "AssumedRole", "arn": own + "-not", "accountId": ACCOUNT}
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD], identity=identity)
    assert world.invoke(event)["outcome"] == "violation"


# --- faults ---------------------------------------------------------------------------------------


def test_persistent_ec2_throttling_raises_after_max_attempts_then_the_retry_finishes(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]
    fault = inject(clients.ec2(REGION), Fault("RevokeSecurityGroupIngress", "RequestLimitExceeded", 503))

    with pytest.raises(Exception, match="throttled or failed"):
        world.invoke(event)

    assert fault.sends == MAX_ATTEMPTS  # bounded: botocore's adaptive retries, then Lambda's
    assert len(no_backoff) == MAX_ATTEMPTS - 1
    assert rule_id in world.rule_ids(group)
    assert world.messages() == []

    fault.times = fault.failed  # AWS calms down; Lambda retries the event
    retried = world.invoke(event)

    assert retried["findings"][0]["action"] == "revoked"
    assert rule_id not in world.rule_ids(group)
    assert len(world.messages()) == 1


def test_transient_ec2_throttling_is_absorbed_by_botocores_retries(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    fault = inject(
        clients.ec2(REGION), Fault("RevokeSecurityGroupIngress", "RequestLimitExceeded", 503, times=2)
    )

    decision = world.invoke(event)

    assert fault.sends == 3
    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)


def test_throttled_current_state_read_raises_for_a_retry_and_revokes_nothing(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    inject(clients.ec2(REGION), Fault("DescribeSecurityGroupRules", "RequestLimitExceeded", 503))

    with pytest.raises(Exception, match="RequestLimitExceeded"):
        world.invoke(event)

    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.ledger_item(event["detail"]["eventID"])["lease_until"] == {"N": "0"}  # type: ignore[index]


def test_throttling_on_the_last_attempt_tells_people_and_still_fails(
    world: World, no_backoff: list[float]
) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    inject(clients.ec2(REGION), Fault("RevokeSecurityGroupIngress", "RequestLimitExceeded", 503))

    for _ in range(3):  # Lambda: the first attempt and two retries
        with pytest.raises(Exception, match="throttled or failed"):
            world.invoke(event)

    [message] = world.messages()  # only the last attempt speaks; the event lands in the on-failure queue
    assert message["document"]["findings"][0]["action"] == "failed"
    assert "RequestLimitExceeded" in message["document"]["findings"][0]["error"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("UnauthorizedOperation", "You are not authorized to perform this operation."),
        (
            "UnauthorizedOperation",
            "You are not authorized to perform this operation. User: arn:aws:sts::111122223333:assumed-role/"
            "sgguard-prod/x is not authorized to perform: ec2:RevokeSecurityGroupIngress with an explicit "
            "deny in a service control policy",
        ),
    ],
    ids=["access-denied", "scp"],
)
def test_refused_revocation_is_failed_tells_humans_and_does_not_retry(
    world: World, no_backoff: list[float], code: str, message: str
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    fault = inject(clients.ec2(REGION), Fault("RevokeSecurityGroupIngress", code, 403, message=message))

    decision = world.invoke(event)  # returns: a retry would only be refused again

    [finding] = decision["findings"]
    assert finding["action"] == "failed"
    assert finding["error"] == f"{code}: {message}"
    assert fault.sends == 1  # not retried by botocore either
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    [sent] = world.messages()
    assert "ACTION NEEDED" in sent["subject"]
    text = _email(world)
    assert "could NOT be revoked" in text
    assert message in text


def _direct_env(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    """The prod stage's settings for calling the handler directly (outside Chalice's client)."""
    config = json.loads((Path(__file__).parent.parent / ".chalice" / "config.json").read_text())
    env = {
        **config["environment_variables"],
        **config["stages"]["prod"]["environment_variables"],
        **overrides,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("baseline_text", "expected"),
    [
        (None, "neither a preset"),
        (
            "name = 'broken'\n[[controls]]\nid = 'A'\nseverity = 'HIGH'\nports = [70000]\n",
            "70000 is not a port",
        ),
        ("this is not toml ===", "not valid TOML"),
    ],
    ids=["missing", "invalid-control", "not-toml"],
)
def test_unloadable_baseline_revokes_nothing_and_fails_every_event_loudly(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    baseline_text: str | None,
    expected: str,
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    compliant, _ = authorize_and_record(world.ec2, group, [HTTPS_WORLD])
    path = tmp_path / "baseline.toml"
    if baseline_text is not None:
        path.write_text(baseline_text)
    _direct_env(monkeypatch, BASELINE=str(path))
    world.count_calls(with_ledger=True)
    capsys.readouterr()

    for each in (event, compliant):
        with pytest.raises(Exception, match=expected):
            handler.handle_event(each)

    assert world.calls == []  # nothing asked, nothing revoked
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    errors = _lines(capsys.readouterr().out, "error")
    assert len(errors) == 2
    assert all(str(path) in e["message"] and expected in e["message"] for e in errors)
