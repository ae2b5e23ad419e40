"""The scheduled sweep through Chalice and moto: its own mode, one summary per sweep, silence when
nothing changed (unless a heartbeat), the previous result in the idempotency table, a split by the
Lambda's deadline resumed from the cursor, and AWS failing at each call it makes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.adapters import clients
from chalicelib.sweep import scheduled, summary
from chalicelib.sweep.report import SweepReport
from chalicelib.sweep.state import DynamoStateStore, SweepState, state_key
from tests.conftest import ACCOUNT, REGION
from tests.faults import Fault, inject
from tests.moto_env import World

TABLE = "sgguard-idempotency-prod"


@pytest.fixture
def env(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The prod stage's settings in the environment, as Lambda sets them."""
    for name, value in {
        "NOTIFY_TOPIC_ARN": world.topics["prod"],
        "IDEMPOTENCY_TABLE": TABLE,
        "REMEDIATION_MODE": "enforce",
        "SWEEP_MODE": "report",
        "BASELINE": "aws-foundational",
    }.items():
        monkeypatch.setenv(name, value)
    return world


@dataclass
class Context:
    """A Lambda context whose remaining time is scripted (seconds, one value per question)."""

    left: list[float]

    def get_remaining_time_in_millis(self) -> int:
        return int((self.left.pop(0) if len(self.left) > 1 else self.left[0]) * 1000)


PLENTY = Context([900.0])


def _open(world: World, group: str, port: int, cidr: str = "0.0.0.0/0") -> None:
    world.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}
        ],
    )


def _summaries(world: World) -> list[dict[str, Any]]:
    return [m for m in world.messages() if m["attributes"].get("kind") == "sweep"]


def _world_rules(world: World, group: str, port: int | None = None) -> set[str]:
    """The group's ingress rules from 0.0.0.0/0 (on ``port``)."""
    from devtools.eventgen import group_rules

    return {
        r["SecurityGroupRuleId"]
        for r in group_rules(world.ec2, group)
        if r.get("CidrIpv4") == "0.0.0.0/0" and not r["IsEgress"] and port in (None, r["FromPort"])
    }


def test_report_mode_tells_once_and_then_stays_quiet(env: World) -> None:
    web = env.group("web")
    _open(env, web, 22)
    before = env.rule_ids(web)
    first = scheduled.sweep_now(PLENTY)
    assert first["complete"]
    assert first["message_id"]
    assert env.rule_ids(web) == before  # report mode: nothing revoked
    [message] = _summaries(env)
    document = message["document"]
    assert document["mode"] == "report"
    assert document["totals"]["would_revoke"] >= 1
    assert message["subject"].startswith("sgguard sweep HIGH") or message["subject"].startswith(
        "sgguard sweep CRITICAL"
    )
    assert f"{ACCOUNT} {REGION}" in message["subject"]
    # nothing changed: no message, and the stored state says what the next sweep compares with
    second = scheduled.sweep_now(PLENTY)
    assert second["message_id"] is None
    assert second["totals"]["new"] == 0
    assert _summaries(env) == []
    state = DynamoStateStore(TABLE).load(state_key(ACCOUNT, REGION))
    assert state is not None
    assert state.last is not None
    assert set(state.last_ids) >= _world_rules(env, web, 22)
    # a new violation: a message that puts it first
    _open(env, web, 3389)
    third = scheduled.sweep_now(PLENTY)
    assert third["totals"]["new"] == 1
    [message] = _summaries(env)
    text = json.loads(json.dumps(message["document"]))
    assert text["totals"]["new"] == 1
    new = [f for g in text["groups"] for f in g["findings"] if f["new"]]
    assert [f["from_port"] for f in new] == [3389]


def test_enforce_revokes_and_the_message_says_how_to_put_it_back(
    env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEP_MODE", "enforce")
    web = env.group("web")
    _open(env, web, 22)
    _open(env, web, 443)  # allowed: stays
    ssh, https = _world_rules(env, web, 22), _world_rules(env, web, 443)
    result = scheduled.sweep_now(PLENTY)
    assert result["totals"]["revoked"] >= 1
    remaining = env.rule_ids(web)
    assert not ssh & remaining
    assert https <= remaining
    [message] = _summaries(env)
    body = message["document"]
    revoked = [f for g in body["groups"] for f in g["findings"] if f["action"] == "revoked"]
    assert revoked
    assert all(
        f["restore"].startswith("aws ec2 authorize-security-group-") and f"--region {REGION}" in f["restore"]
        for f in revoked
    )
    again = scheduled.sweep_now(PLENTY)
    assert again["totals"]["revoked"] == 0
    assert again["totals"]["new"] == 0


def test_a_heartbeat_stage_sends_every_time(env: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_HEARTBEAT", "on")
    scheduled.sweep_now(PLENTY)
    scheduled.sweep_now(PLENTY)
    assert len(_summaries(env)) == 2


def test_the_deadline_splits_the_sweep_and_the_next_run_resumes(
    env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = [env.group(f"app-{n:03d}") for n in range(150)]
    for group in groups[::10]:
        _open(env, group, 22)
    # before the first batch: plenty; before the second: less than SWEEP_RESERVE_SECONDS (15)
    part = scheduled.sweep_now(Context([900.0, 5.0]))
    assert not part["complete"]
    assert part["cursor"]
    assert part["message_id"] is None  # the message comes with the last part
    state = DynamoStateStore(TABLE).load(state_key(ACCOUNT, REGION))
    assert state is not None
    assert state.partial is not None
    assert state.partial.cursor == part["cursor"]
    rest = scheduled.sweep_now(PLENTY)
    assert rest["complete"]
    assert rest["parts"] == 2
    assert rest["sweep_id"] == part["sweep_id"]
    [message] = _summaries(env)
    totals = message["document"]["totals"]
    all_groups = len(env.ec2.describe_security_groups()["SecurityGroups"])
    assert totals["groups"] == all_groups
    assert totals["rules"] == len(env.ec2.describe_security_group_rules()["SecurityGroupRules"])
    flagged = {
        f["group_id"]
        for g in message["document"]["groups"]
        for f in g["findings"]
        if "EC2.13" in f["controls"]
    }
    assert flagged == set(groups[::10])
    assert message["document"]["parts"] == 2
    assert "in 2 runs" in summary.text(SweepReport.model_validate(message["document"]))


def test_through_chalice_the_schedule_is_wired_with_the_stage_settings(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalice import test as chalice_test
    from chalice.app import ScheduledEventConfig
    from chalice.local import LambdaContext

    from app import app

    [schedule] = [s for s in app.event_sources if isinstance(s, ScheduledEventConfig)]
    assert schedule.name == "sweep_security_groups"
    assert schedule.schedule_expression == "rate(1 hour)"

    class LongContext(LambdaContext):  # chalice.test's context allows 3 s; a sweep function gets 900
        def __init__(self, function_name: str, memory_size: int) -> None:
            super().__init__(function_name, memory_size, max_runtime_ms=900_000)

    monkeypatch.setattr(chalice_test, "LambdaContext", LongContext)
    web = world.group("web")
    _open(world, web, 22)
    before = world.rule_ids(web)
    with chalice_test.Client(app, stage_name="prod") as client:
        payload = client.lambda_.invoke(
            "sweep_security_groups", client.events.generate_cw_event("Scheduled Event", "aws.events", {}, [])
        ).payload
    assert payload["complete"]
    assert (
        world.rule_ids(web) == before
    )  # prod's SWEEP_MODE is report: REMEDIATION_MODE=enforce does not apply
    [message] = _summaries(world)
    assert message["document"]["mode"] == "report"


@pytest.mark.parametrize(
    ("operation", "code", "status", "says"),
    [
        ("DescribeSecurityGroupRules", "UnauthorizedOperation", 403, "could not read the rules"),
        ("DescribeSecurityGroups", "UnauthorizedOperation", 403, "could not list the security groups"),
        ("DescribeSecurityGroupRules", "RequestLimitExceeded", 503, "could not read the rules"),
    ],
)
def test_a_failed_read_is_never_a_pass(env: World, operation: str, code: str, status: int, says: str) -> None:
    web = env.group("web")
    _open(env, web, 22)
    inject(clients.ec2(REGION), Fault(operation, code, status))
    result = scheduled.sweep_now(PLENTY)
    assert not result["complete"]
    [message] = _summaries(env)
    assert says in " ".join(message["document"]["errors"])
    assert "INCOMPLETE" in message["subject"]
    text = summary.text(SweepReport.model_validate(message["document"]))
    assert "COULD NOT JUDGE" in text


def test_unknown_exposure_and_unread_prefix_lists_are_said(env: World) -> None:
    web = env.group("web")
    _open(env, web, 22)
    listed = env.ec2.create_managed_prefix_list(
        PrefixListName="partners", MaxEntries=2, AddressFamily="IPv4", Entries=[{"Cidr": "0.0.0.0/0"}]
    )["PrefixList"]["PrefixListId"]
    env.ec2.authorize_security_group_ingress(
        GroupId=web,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 23, "ToPort": 23, "PrefixListIds": [{"PrefixListId": listed}]}
        ],
    )
    inject(clients.ec2(REGION), Fault("DescribeNetworkInterfaces", "UnauthorizedOperation", 403))
    inject(clients.ec2(REGION), Fault("GetManagedPrefixListEntries", "AccessDenied", 403))
    scheduled.sweep_now(PLENTY)
    [message] = _summaries(env)
    group = next(g for g in message["document"]["groups"] if g["group_id"] == web)
    assert group["exposure"]["known"] is False
    assert "UnauthorizedOperation" in group["exposure"]["why_unknown"]
    assert any(listed in nj["reason"] for nj in group["not_judged"])
    assert message["document"]["totals"]["not_judged"] == 1
    assert "not all judged" in message["subject"]


def test_an_unreadable_state_does_not_stop_the_sweep(env: World) -> None:
    inject(clients.dynamodb(REGION), Fault("GetItem", "AccessDeniedException", 400))
    result = scheduled.sweep_now(PLENTY)
    assert result["complete"]
    [message] = _summaries(env)
    assert any("could not be read" in e for e in message["document"]["errors"])


def test_a_message_that_cannot_be_sent_fails_the_run_and_the_next_sweep_tells_again(env: World) -> None:
    web = env.group("web")
    _open(env, web, 22)
    fault = inject(clients.sns(REGION), Fault("Publish", "AuthorizationError", 403, times=1))
    with pytest.raises(Exception, match="AuthorizationError"):
        scheduled.sweep_now(PLENTY)
    assert fault.failed == 1
    result = scheduled.sweep_now(PLENTY)
    assert result["totals"]["new"] >= 1  # still new: the first sweep's message never went out
    assert len(_summaries(env)) == 1


def test_a_wrong_sweep_setting_stops_before_anything_is_read(
    env: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.settings import ConfigError

    monkeypatch.setenv("SWEEP_MODE", "dry-run")
    with pytest.raises(ConfigError, match="SWEEP_MODE='dry-run'"):
        scheduled.sweep_now(PLENTY)


def test_the_state_survives_the_item_size_limit(env: World) -> None:
    """100,000 violating rule ids and a carried report: chunks under DynamoDB's 400 KB each."""
    import random

    rng = random.Random(5)
    ids = sorted(f"sgr-{rng.getrandbits(68):017x}" for _ in range(100_000))  # AWS's ids are random hex
    store = DynamoStateStore(TABLE)
    store.save("sweep#test", SweepState(last_ids=ids), 1_700_000_000)
    assert store.load("sweep#test") == SweepState(last_ids=ids)
    items = env.dynamodb.scan(TableName=TABLE)["Items"]
    chunks = [i for i in items if i["event_id"]["S"].startswith("sweep#test#")]
    assert len(chunks) >= 2
    assert all(len(i["blob"]["B"]) <= 350_000 for i in chunks)
    store.save("sweep#test", SweepState(last_ids=ids[:10]), 1_700_000_100)
    items = env.dynamodb.scan(TableName=TABLE)["Items"]
    assert len([i for i in items if i["event_id"]["S"].startswith("sweep#test#")]) == 1  # old chunks gone
