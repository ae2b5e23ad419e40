"""`make demo`: the whole loop through the real pieces, on loopback, nothing real touched.

A moto server plays AWS; `chalice local --stage dev` runs sgguard's HTTP routes against it. A developer
adds a harmless rule and opens all traffic to the internet with boto3; for each call the demo builds
the CloudTrail event AWS would deliver and POSTs it to /replay?mode=enforce. The bad rule is revoked,
the harmless one stays, and the security team's queue (subscribed to the dev stage's topic) holds the
message. Both servers stop however the demo ends, Ctrl-C included.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.servers import ACCOUNT, FAKE_AWS, REGION, local_aws_and_sgguard, sigterm_as_interrupt  # noqa: E402

# Fake credentials before boto3 is imported; every client below is also given a loopback endpoint.
os.environ.update(FAKE_AWS)
for leaked in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(leaked, None)

import boto3  # noqa: E402

from devtools.eventgen import authorize_and_record, group_rules  # noqa: E402

STAGE = "dev"
BOLD, DIM, RED, GREEN, RESET = (
    ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m") if sys.stdout.isatty() else ("",) * 5
)


def heading(text: str) -> None:
    print(f"\n{BOLD}== {text}{RESET}")


def stage_topic() -> str:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    name = str(config["stages"][STAGE]["environment_variables"]["NOTIFY_TOPIC"])
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"  # moto's account: sgguard resolves the name in its own


def show_rules(ec2: Any, group_id: str, highlight: str | None = None) -> None:
    for rule in group_rules(ec2, group_id):
        direction = "egress " if rule["IsEgress"] else "ingress"
        proto = "all" if rule["IpProtocol"] == "-1" else rule["IpProtocol"]
        ports = "" if rule["IpProtocol"] == "-1" else f" {rule['FromPort']}-{rule['ToPort']}"
        source = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId") or "group"
        mark = f"  {RED}<- the seed's mistake{RESET}" if rule["SecurityGroupRuleId"] == highlight else ""
        print(f"  {rule['SecurityGroupRuleId']}  {direction}  {proto}{ports:<12} {source}{mark}")


def post(url: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def run(moto_url: str, api_url: str) -> bool:
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_url)

    ec2, sns, sqs = client("ec2"), client("sns"), client("sqs")

    heading(
        f"1. AWS is a moto server at {moto_url}; sgguard runs in `chalice local --stage dev` at {api_url}"
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="poc-web", Description="proof of concept", VpcId=vpc)[
        "GroupId"
    ]
    topic = sns.create_topic(Name=stage_topic().rsplit(":", 1)[1])["TopicArn"]
    assert topic == stage_topic(), f"moto made {topic}, the dev stage publishes to {stage_topic()}"
    queue = sqs.create_queue(QueueName="security-team")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    print(f"  VPC {vpc}, group {group} (poc-web), topic {topic} -> queue security-team")

    heading("2. A developer adds a harmless rule, then opens ALL traffic to 0.0.0.0/0 (boto3)")
    https = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    seed = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "just for the PoC"}]}
    harmless_event, _ = authorize_and_record(ec2, group, [https])
    event, created = authorize_and_record(ec2, group, [seed])
    bad_rule = created[0]["SecurityGroupRuleId"]
    show_rules(ec2, group, highlight=bad_rule)

    heading("3. The CloudTrail event of each call, POSTed to /replay?mode=enforce")
    for label, each in (("harmless HTTPS rule", harmless_event), ("all-traffic rule", event)):
        print(f"  {each['detail']['eventName']} ({label}), event {each['detail']['eventID']}")
        status, answer = post(f"{api_url}/replay?mode=enforce", each)
        if status != 200:
            print(f"    {RED}HTTP {status}: {answer.get('message')}{RESET}")
            return False
        for decision in answer["decisions"]:
            colour = GREEN if decision["outcome"] == "compliant" else RED
            print(f"    HTTP {status} -> {colour}{decision['outcome']}{RESET}: {decision['reason']}")
            for finding in decision["findings"]:
                controls = ", ".join(finding["controls"])
                print(f"       {finding['rule_id']} {finding['action']}  controls {controls}")

    heading("4. The group afterwards: the mistake is gone, the harmless rules stay")
    show_rules(ec2, group)
    still_there = bad_rule in {r["SecurityGroupRuleId"] for r in group_rules(ec2, group)}

    heading("5. What the security team received (SNS -> SQS)")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    for message in messages:
        envelope = json.loads(message["Body"])
        attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
        document = json.loads(envelope["Message"])
        print(f"  Subject: {envelope['Subject']}")
        print(f"  Attributes: {attributes}")
        print(f"  Body (the decision document): {DIM}{json.dumps(document)[:200]}...{RESET}")
        from chalicelib.decision import Decision
        from chalicelib.notify import render

        text = json.loads(render(Decision.model_validate(document)).body)["default"]
        print(f"  {DIM}What an e-mail subscriber reads:{RESET}")
        print(textwrap.indent(text, "  | ", lambda _: True))

    ok = not still_there and len(messages) == 1
    heading("Result")
    print(f"  {GREEN if ok else RED}{'rule revoked and team told' if ok else 'SOMETHING WENT WRONG'}{RESET}")
    return ok


def main() -> int:
    print("Starting a moto server and `chalice local --stage dev` on loopback (a few seconds)...")
    try:
        with sigterm_as_interrupt(), local_aws_and_sgguard(STAGE) as (moto, api):
            ok = run(moto.url, api.url)
    except KeyboardInterrupt:
        print("\ninterrupted: both servers stopped", file=sys.stderr)
        return 130
    print(f"{DIM}Both servers stopped. To run them by hand: README, 'Try it before you trust it'.{RESET}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
