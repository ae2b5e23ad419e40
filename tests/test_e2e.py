"""End to end through real processes on loopback: a moto server, `chalice local --stage dev` pointed at
it, rules made with boto3, each call's CloudTrail event POSTed to /replay?mode=enforce, the bad rule
gone and the message on the security team's queue. The same path as `make demo`."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devtools.eventgen import authorize_and_record, group_rules
from devtools.servers import Server, local_aws_and_sgguard
from tests.conftest import ACCOUNT, REGION

pytestmark = pytest.mark.e2e
DEV_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:sgguard-notifications-dev"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    with local_aws_and_sgguard("dev", timeout=60) as running:
        yield running
    for server in running:
        assert server.process.poll() is not None, f"{server.name} still running"


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_loop_through_chalice_local(servers: tuple[Server, Server]) -> None:
    moto, api = servers
    ec2, sns, sqs = (
        boto3.client(s, region_name=REGION, endpoint_url=moto.url) for s in ("ec2", "sns", "sqs")
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="poc", Description="poc", VpcId=vpc)["GroupId"]
    assert sns.create_topic(Name="sgguard-notifications-dev")["TopicArn"] == DEV_TOPIC
    queue = sqs.create_queue(QueueName="security-team")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=DEV_TOPIC, Protocol="sqs", Endpoint=queue_arn)

    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    seed = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    harmless, kept = authorize_and_record(ec2, group, [https])
    bad, created = authorize_and_record(ec2, group, [seed])

    status, answer = post(f"{api.url}/replay?mode=enforce", json.dumps(harmless).encode())
    assert (status, answer["decisions"][0]["outcome"]) == (200, "compliant")
    status, answer = post(f"{api.url}/replay?mode=enforce", json.dumps(bad).encode())
    assert status == 200
    [decision] = answer["decisions"]
    assert decision["outcome"] == "violation"
    assert [(f["rule_id"], f["action"]) for f in decision["findings"]] == [
        (created[0]["SecurityGroupRuleId"], "revoked")
    ]

    remaining = {r["SecurityGroupRuleId"] for r in group_rules(ec2, group)}
    assert created[0]["SecurityGroupRuleId"] not in remaining
    assert kept[0]["SecurityGroupRuleId"] in remaining

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
    [envelope] = [json.loads(m["Body"]) for m in messages]
    assert json.loads(envelope["Message"]) == decision
    assert envelope["MessageAttributes"]["severity"]["Value"] == "CRITICAL"


def test_bad_json_through_the_real_server_is_400(servers: tuple[Server, Server]) -> None:
    _, api = servers
    status, answer = post(f"{api.url}/replay", b'{"detail": ')
    assert status == 400
    assert answer["message"] == "the body is not JSON: line 1 column 12: Expecting value"


def _fail_while_running(seen: list[Server]) -> None:
    with local_aws_and_sgguard("dev", timeout=60) as running:
        seen.extend(running)
        raise RuntimeError("boom")


def test_servers_stop_when_the_block_fails() -> None:
    running: list[Server] = []
    with pytest.raises(RuntimeError, match="boom"):
        _fail_while_running(running)
    pids = [server.process.pid for server in running]
    assert len(pids) == 2
    for server, pid in zip(running, pids, strict=True):
        assert server.process.poll() is not None
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # the whole process group is gone, children included
