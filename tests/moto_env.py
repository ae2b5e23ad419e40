"""A small AWS world in moto for handler tests: a VPC, an SNS topic named as the stage config expects,
and an SQS queue subscribed to it, so that tests read the message a security team would receive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from chalice.test import Client

from chalicelib import idempotency
from chalicelib.adapters import clients, ec2, sts
from tests.conftest import ACCOUNT, REGION


@dataclass
class World:
    ec2: Any
    sns: Any
    sqs: Any
    vpc_id: str
    queue_url: str
    topics: dict[str, str]
    dynamodb: Any
    calls: list[str] = field(default_factory=list)

    def group(self, name: str = "web") -> str:
        response = self.ec2.create_security_group(
            GroupName=name, Description=f"{name} tier", VpcId=self.vpc_id
        )
        return str(response["GroupId"])

    def default_group(self) -> str:
        groups = self.ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [self.vpc_id]},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
        return str(groups[0]["GroupId"])

    def rule_ids(self, group_id: str) -> set[str]:
        from devtools.eventgen import group_rules

        return {r["SecurityGroupRuleId"] for r in group_rules(self.ec2, group_id)}

    def messages(self) -> list[dict[str, Any]]:
        """Every SNS notification delivered to the queue: subject, attributes and the sqs document."""
        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            batch = got.get("Messages", [])
            if not batch:
                return out
            for message in batch:
                envelope = json.loads(message["Body"])
                out.append(
                    {
                        "subject": envelope.get("Subject"),
                        "attributes": {
                            k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                        },
                        "document": json.loads(envelope["Message"]),
                    }
                )
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def invoke(self, event: dict[str, Any], stage: str = "prod", project_dir: str = ".") -> dict[str, Any]:
        """Invoke the handler as Chalice would, with the stage settings of ``project_dir``'s
        .chalice/config.json (tests point it at a copy with another BASELINE)."""
        from app import app

        with Client(app, stage_name=stage, project_dir=project_dir) as client:
            payload: dict[str, Any] = client.lambda_.invoke("on_security_group_change", event).payload
            return payload

    def count_calls(self, *, with_ledger: bool = False) -> None:
        """Record every AWS API call sgguard's own clients make from now on (EC2, SNS, STS, EventBridge,
        Security Hub; DynamoDB too when ``with_ledger``)."""
        watched = [
            clients.ec2(REGION),
            clients.sns(REGION),
            clients.sts(REGION),
            clients.events(REGION),
            clients.securityhub(REGION),
        ]
        if with_ledger:
            watched.append(clients.dynamodb(REGION))
        for client in watched:
            client.meta.events.register("before-call", self._record)

    def ledger_item(self, event_id: str, stage: str = "prod") -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=f"sgguard-idempotency-{stage}", Key={"event_id": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


def _forget_container() -> None:
    """A new container: no clients, no cached names or identity, an empty memory ledger."""
    clients.reset()
    ec2.forget_cache()
    sts.forget()
    idempotency.memory_ledger().records.clear()


def build_world() -> Iterator[World]:
    _forget_container()
    ec2_client = boto3.client("ec2", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    vpc_id = ec2_client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    queue_url = sqs.create_queue(QueueName="security-team")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    topics = {}
    for stage in ("dev", "prod"):
        topic = sns.create_topic(Name=f"sgguard-notifications-{stage}")["TopicArn"]
        assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:sgguard-notifications-{stage}"
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        topics[stage] = topic
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for stage in ("dev", "prod"):
        dynamodb.create_table(
            TableName=f"sgguard-idempotency-{stage}",
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    yield World(ec2_client, sns, sqs, vpc_id, queue_url, topics, dynamodb)
    _forget_container()
