"""`make demo`: the whole loop on an embedded AWS (moto), nothing real touched.

A developer opens all traffic to the internet on a security group that also holds harmless rules;
CloudTrail's event reaches sgguard (invoked through Chalice's own test client, as Lambda would); the
bad rule is gone, the others stay, and the security team's queue holds the message.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
ACCOUNT = "111122223333"

# Fake credentials and moto's account before boto3 is imported: nothing can reach a real account.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_SESSION_TOKEN": "demo",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_ACCOUNT_ID": ACCOUNT,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from devtools.eventgen import authorize_and_record, group_rules  # noqa: E402

BOLD, DIM, RED, GREEN, RESET = (
    ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m") if sys.stdout.isatty() else ("",) * 5
)


def heading(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}")


def show_rules(ec2: Any, group_id: str, highlight: str | None = None) -> None:
    for rule in group_rules(ec2, group_id):
        direction = "egress " if rule["IsEgress"] else "ingress"
        proto = "all" if rule["IpProtocol"] == "-1" else rule["IpProtocol"]
        ports = "" if rule["IpProtocol"] == "-1" else f" {rule['FromPort']}-{rule['ToPort']}"
        source = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or "group"
        mark = f"  {RED}<- the seed's mistake{RESET}" if rule["SecurityGroupRuleId"] == highlight else ""
        print(f"  {rule['SecurityGroupRuleId']}  {direction}  {proto}{ports:<12} {source}{mark}")


def main() -> int:
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)

        heading("1. An AWS account (moto, in this process) with a VPC, a group and a security team's queue")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="poc-web", Description="proof of concept", VpcId=vpc)[
            "GroupId"
        ]
        topic = sns.create_topic(Name="sgguard-notifications-prod")["TopicArn"]
        queue = sqs.create_queue(QueueName="security-team")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        print(f"  VPC {vpc}, group {group} (poc-web), topic {topic}")

        heading("2. A developer adds a harmless rule, then opens ALL traffic to 0.0.0.0/0")
        https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        seed = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "just for the PoC"}]}
        harmless_event, _ = authorize_and_record(ec2, group, [https])
        event, created = authorize_and_record(ec2, group, [seed])
        bad_rule = created[0]["SecurityGroupRuleId"]
        show_rules(ec2, group, highlight=bad_rule)

        heading("3. CloudTrail's events reach sgguard through EventBridge (stage prod: enforce)")
        from app import app

        with Client(app, stage_name="prod", project_dir=str(ROOT)) as client:
            for label, each in (("harmless HTTPS rule", harmless_event), ("all-traffic rule", event)):
                print(f"  {each['detail']['eventName']} ({label}), event {each['detail']['eventID']}")
                log = io.StringIO()
                with contextlib.redirect_stdout(log):
                    decision = client.lambda_.invoke("on_security_group_change", each).payload
                line = log.getvalue().strip()
                print(f"    {DIM}CloudWatch audit line: {line[:110]}... ({len(line)} bytes){RESET}")
                colour = GREEN if decision["outcome"] == "compliant" else RED
                print(f"    -> {colour}{decision['outcome']}{RESET}: {decision['reason']}")
                for finding in decision["findings"]:
                    controls = ", ".join(finding["controls"])
                    print(f"       {finding['rule_id']} {finding['action']}  controls {controls}")

        heading("4. The group afterwards: the mistake is gone, the harmless rules stay")
        show_rules(ec2, group)
        still_there = bad_rule in {r["SecurityGroupRuleId"] for r in group_rules(ec2, group)}

        heading("5. What the security team received (SNS -> SQS)")
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            envelope = json.loads(message["Body"])
            attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            print(f"  Subject: {envelope['Subject']}")
            print(f"  Attributes: {attributes}")
            print(f"  {DIM}(subscribers over sqs/lambda/https get the decision document as JSON){RESET}")
        from moto.sns.models import sns_backends

        sent = sns_backends[ACCOUNT][REGION].topics[topic].sent_notifications
        if sent:
            print(textwrap.indent(json.loads(sent[-1][1])["default"], "  | ", lambda _: True))

        ok = not still_there and len(messages) == 1
        heading("Result")
        print(
            f"  {GREEN if ok else RED}{'rule revoked and team told' if ok else 'SOMETHING WENT WRONG'}{RESET}"
        )
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
