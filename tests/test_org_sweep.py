"""The organization's sweep in moto: the organization's accounts (Organizations in moto), the producer
sends one unit per account and region, the consumer (through Chalice's test client, as Lambda calls it)
sweeps one unit in its own account through the member role, and the last unit sends one summary."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.org.units import Unit
from tests.conftest import ACCOUNT, REGION, ROOT
from tests.moto_env import World, build_world
from tests.test_organization import ALL_TRAFFIC, Account

REGIONS = ("eu-west-1", "us-east-1")
SCHEDULED = {
    "version": "0",
    "id": "5d1f3a43-0000-4000-8000-000000000000",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-12-01T18:00:00Z",
    "region": REGION,
    "resources": [],
    "detail": {},
}
QUEUE = "sgguard-sweep-units-prod"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        for name, value in {
            "SWEEP_SCOPE": "organization",
            "SWEEP_REGIONS": ",".join(REGIONS),
            "SWEEP_MODE": "enforce",
        }.items():
            monkeypatch.setenv(name, value)
        yield from build_world()


def _organization() -> list[str]:
    """An organization whose management account is sgguard's, with two member accounts."""
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    members = []
    for name in ("workloads", "sandbox"):
        status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
        members.append(status["CreateAccountStatus"]["AccountId"])
    return members


def _units(world: World) -> tuple[str, list[dict[str, Any]]]:
    url = world.sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    got: list[dict[str, Any]] = []
    while True:
        batch = world.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not batch.get("Messages"):
            return url, got
        got.extend(batch["Messages"])


def _as_lambda_gets_it(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}",
                "awsRegion": REGION,
            }
        ]
    }


def _invoke(name: str, event: dict[str, Any]) -> Any:
    """As Lambda calls the function, with the prod stage's settings. The consumer is called as its
    handler is, with the stage's variables where the test has not set its own (SWEEP_MODE=enforce), and
    no deadline: Chalice's test context gives a unit no time (test_templates checks its event source)."""
    from app import app

    if name == "sweep_organization_unit":
        from chalicelib.org.unit_sweep import consume

        with _stage_environment("prod"):
            return consume(event, None)
    with Client(app, stage_name="prod") as client:
        return client.lambda_.invoke(name, event).payload


@contextlib.contextmanager
def _stage_environment(stage: str) -> Iterator[None]:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    wanted = {**config["environment_variables"], **config["stages"][stage]["environment_variables"]}
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in wanted.items() if k not in saved})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_producer_sends_one_unit_per_account_and_region(world: World) -> None:
    members = _organization()
    world.sqs.create_queue(QueueName=QUEUE)

    started = _invoke("sweep_security_groups", SCHEDULED)

    assert started["units"] == 3 * len(REGIONS)
    _, messages = _units(world)
    units = [Unit.from_message(m["Body"]) for m in messages]
    assert sorted((u.account, u.region) for u in units) == sorted(
        (a, r) for a in [ACCOUNT, *members] for r in REGIONS
    )
    assert {u.sweep_id for u in units} == {started["sweep_id"]}
    assert sorted(u.index for u in units) == list(range(len(units)))


def test_the_consumer_sweeps_one_unit_in_its_account_and_the_last_sends_the_summary(world: World) -> None:
    [workloads, sandbox] = _organization()
    world.sqs.create_queue(QueueName=QUEUE)
    member = Account(workloads, "us-east-1")
    group, rule_id, _ = member.open_to_the_world("legacy")
    central_group = world.group("legacy")
    world.ec2.authorize_security_group_ingress(GroupId=central_group, IpPermissions=[ALL_TRAFFIC])
    started = _invoke("sweep_security_groups", SCHEDULED)
    _, messages = _units(world)
    by_unit = {(u.account, u.region): m for m in messages for u in [Unit.from_message(m["Body"])]}

    answer = _invoke("sweep_organization_unit", _as_lambda_gets_it(by_unit[(workloads, "us-east-1")]))

    [unit] = answer["units"]
    assert (unit["account"], unit["region"], unit["complete"]) == (workloads, "us-east-1", True)
    assert rule_id not in member.rule_ids(group)  # revoked in the member account (SWEEP_MODE=enforce) ...
    central_rules = world.rule_ids(central_group)
    assert len(central_rules) >= 2  # ... while the central account's unit has not run: its rule is there
    assert world.messages() == []  # one unit of six: no summary yet

    for key, message in by_unit.items():
        if key != (workloads, "us-east-1"):
            _invoke("sweep_organization_unit", _as_lambda_gets_it(message))
    [summary] = [m for m in world.messages() if m["attributes"].get("kind") == "organization-sweep"]
    document = summary["document"]
    assert document["sweep_id"] == started["sweep_id"]
    assert (document["units"], document["reported"], document["complete"]) == (6, 6, True)
    assert {a["account"] for a in document["accounts"]} == {ACCOUNT, workloads, sandbox}
    assert document["totals"]["revoked"] >= 2
    assert {(e["account"], e["region"]) for e in document["worst"]} >= {(workloads, "us-east-1")}


def test_a_unit_that_fails_its_last_receive_is_counted_failed_and_reported(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.sqs.create_queue(QueueName=QUEUE)
    monkeypatch.setenv("SWEEP_ACCOUNTS", ACCOUNT)
    monkeypatch.setenv("SWEEP_REGIONS", REGION)
    _invoke("sweep_security_groups", SCHEDULED)
    _, [message] = _units(world)
    from chalicelib.org import unit_sweep as sweep

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the region's EC2 endpoint kept failing")

    monkeypatch.setattr(sweep, "sweep_unit", broken)
    event = _as_lambda_gets_it(message)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "1"
    with pytest.raises(RuntimeError), _stage_environment("prod"):
        sweep.consume(event, None)
    assert world.messages() == []  # not the last attempt: Lambda and SQS try again
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(sweep.UNIT_RECEIVES)
    with pytest.raises(RuntimeError), _stage_environment("prod"):
        sweep.consume(event, None)  # raised: the redrive policy moves it to the dead-letter queue
    [summary] = world.messages()
    assert "ACTION NEEDED" in summary["subject"]
    [incomplete] = summary["document"]["incomplete"]
    assert "the region's EC2 endpoint kept failing" in json.dumps(incomplete)


def test_a_message_that_is_not_a_unit_is_dropped_and_logged(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib.org import unit_sweep as sweep

    with _stage_environment("prod"):
        answer = sweep.consume({"Records": [{"body": '{"sweep_id": 1}', "attributes": {}}]}, None)
    assert answer == {"units": []}
    assert "a queue message was dropped: not a sweep unit" in capsys.readouterr().out
