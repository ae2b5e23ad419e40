"""The outputs through the handler, in moto: an EventBridge rule on the default bus catching sgguard's
events, a chat topic with a queue behind it, Security Hub's BatchImportFindings and GetFindings; and AWS
failing at each of them without costing the others or the main message."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters import clients
from devtools.eventgen import authorize_and_record
from tests.conftest import ACCOUNT, REGION, ROOT
from tests.moto_env import World
from tests.test_output_renderers import check_asff, check_chat

ALL_TRAFFIC_WORLD = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


class Outputs:
    """Where the outputs land in moto: a queue behind an EventBridge rule, one behind the chat topic."""

    def __init__(self, world: World) -> None:

        self.world = world
        self.sqs = world.sqs
        self.events = boto3.client("events", region_name=REGION)
        self.hub = boto3.client("securityhub", region_name=REGION)
        self.event_queue = self._queue("sgguard-events")
        self.events.put_rule(Name="sgguard-to-ticketing", EventPattern=json.dumps({"source": ["sgguard"]}))
        self.events.put_targets(
            Rule="sgguard-to-ticketing", Targets=[{"Id": "queue", "Arn": self._arn(self.event_queue)}]
        )
        self.chat_topic = world.sns.create_topic(Name="sgguard-chat-prod")["TopicArn"]
        self.chat_queue = self._queue("chat-channel")
        world.sns.subscribe(TopicArn=self.chat_topic, Protocol="sqs", Endpoint=self._arn(self.chat_queue))

    def _queue(self, name: str) -> str:
        return str(self.sqs.create_queue(QueueName=name)["QueueUrl"])

    def _arn(self, url: str) -> str:
        return str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    def _drain(self, url: str) -> list[dict[str, Any]]:
        out = []
        while batch := self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out

    def events_put(self) -> list[dict[str, Any]]:
        return self._drain(self.event_queue)

    def chat_messages(self) -> list[dict[str, Any]]:
        return [json.loads(envelope["Message"]) for envelope in self._drain(self.chat_queue)]

    def findings(self) -> list[dict[str, Any]]:
        return list(self.hub.get_findings()["Findings"])


@pytest.fixture
def outputs(world: World) -> Outputs:
    return Outputs(world)


def project(tmp_path: Path, **settings: str) -> str:
    """The real .chalice/config.json with the prod stage's settings changed."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"]["prod"]["environment_variables"].update(settings)
    (tmp_path / ".chalice").mkdir(parents=True)
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def all_on(tmp_path: Path, outputs: Outputs) -> str:
    return project(tmp_path, SECURITY_HUB="on", CHAT_TOPIC_ARN=outputs.chat_topic)


def errors(captured: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in captured.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("sgguard") == "error"]


def test_by_default_a_violation_goes_to_sns_and_eventbridge_only(world: World, outputs: Outputs) -> None:
    group = world.group("web")
    event, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    decision = world.invoke(event)
    [message] = world.messages()
    [put] = outputs.events_put()
    assert put["source"] == "sgguard"
    assert put["detail-type"] == "Security Group Rule Revoked"
    assert put["detail"] == decision == message["document"]
    assert put["resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"]
    assert outputs.chat_messages() == []
    assert outputs.findings() == []


def test_a_compliant_event_goes_nowhere(world: World, outputs: Outputs) -> None:
    office = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
    event, _ = authorize_and_record(world.ec2, world.group("web"), [office])
    assert world.invoke(event)["outcome"] == "compliant"
    assert outputs.events_put() == []
    assert world.messages() == []


def test_eventbridge_off(world: World, outputs: Outputs, tmp_path: Path) -> None:
    event, _ = authorize_and_record(world.ec2, world.group("web"), [ALL_TRAFFIC_WORLD])
    world.invoke(event, project_dir=project(tmp_path, EVENTBRIDGE="off"))
    assert len(world.messages()) == 1
    assert outputs.events_put() == []


def test_every_output_on_renders_the_same_decision(world: World, outputs: Outputs, tmp_path: Path) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    decision = world.invoke(event, project_dir=all_on(tmp_path, outputs))
    [message] = world.messages()
    [put] = outputs.events_put()
    [chat] = outputs.chat_messages()
    assert message["document"] == put["detail"] == decision
    parsed = check_chat(chat)
    assert parsed.content.title == (
        f":rotating_light: dana@example.com opened all traffic from 0.0.0.0/0 in {group}: revoked"
    )
    assert parsed.content.description.startswith("*Who:*")
    findings = outputs.findings()
    pairs = {(f["rule_id"], w["control"]) for f in decision["findings"] for w in f["why"]}
    assert len(findings) == len(pairs)
    for finding in findings:
        check_asff(finding)
        assert finding["Compliance"]["Status"] == "PASSED"  # revoked: imported as found, then as passed
        assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert finding["ProductFields"]["sgguard/Person"] == decision["actor"]["person"]
    assert {f["Id"].split("/")[-2] for f in findings} == {created[0]["SecurityGroupRuleId"]}


def test_security_hub_is_called_twice_for_a_revoked_rule_and_once_for_a_dry_run(
    world: World, outputs: Outputs, tmp_path: Path
) -> None:
    calls: list[list[str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append([f["Compliance"]["Status"] for f in params["Findings"]])

    clients.securityhub().meta.events.register(
        "provide-client-params.securityhub.BatchImportFindings", record
    )
    event, _ = authorize_and_record(world.ec2, world.group("web"), [SSH_WORLD])
    world.invoke(event, project_dir=all_on(tmp_path, outputs))
    assert [set(c) for c in calls] == [{"FAILED"}, {"PASSED"}]
    calls.clear()
    event, _ = authorize_and_record(world.ec2, world.group("dry"), [SSH_WORLD])
    world.invoke(event, project_dir=project(tmp_path / "dry", SECURITY_HUB="on", REMEDIATION_MODE="dry-run"))
    assert [set(c) for c in calls] == [{"FAILED"}]
    dry = [f for f in outputs.findings() if f["Compliance"]["Status"] == "FAILED"]
    assert dry
    assert (
        "Revoke it: aws ec2 revoke-security-group-ingress" in dry[0]["Remediation"]["Recommendation"]["Text"]
    )


def test_redelivery_updates_the_same_findings(world: World, outputs: Outputs, tmp_path: Path) -> None:
    event, _ = authorize_and_record(world.ec2, world.group("web"), [SSH_WORLD])
    config = project(tmp_path, SECURITY_HUB="on", REMEDIATION_MODE="dry-run")
    world.invoke(event, project_dir=config)
    first = {f["Id"] for f in outputs.findings()}
    world.invoke(event, project_dir=config)  # EventBridge delivers at least once
    assert {f["Id"] for f in outputs.findings()} == first
    assert len(outputs.findings()) == len(first)


def _refuse(operation: str, code: str = "AccessDeniedException") -> Any:
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": f"{operation} refused"}}, operation)

    return refuse


def test_eventbridge_failing_costs_nothing_else(
    world: World, outputs: Outputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clients.events().meta.events.register("before-call.events.PutEvents", _refuse("PutEvents"))
    event, _ = authorize_and_record(world.ec2, world.group("web"), [ALL_TRAFFIC_WORLD])
    decision = world.invoke(event, project_dir=all_on(tmp_path, outputs))
    assert decision["outcome"] == "violation"
    assert len(world.messages()) == 1
    assert len(outputs.chat_messages()) == 1
    assert outputs.findings()
    logged = errors(capsys.readouterr().out)
    assert any(e["output"] == "eventbridge" and "PutEvents refused" in e["message"] for e in logged)


def test_output_failures_are_counted_in_a_metric(
    world: World, outputs: Outputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clients.securityhub().meta.events.register(
        "before-call.securityhub.BatchImportFindings",
        _refuse("BatchImportFindings", "InvalidAccessException"),
    )
    event, _ = authorize_and_record(world.ec2, world.group("web"), [ALL_TRAFFIC_WORLD])
    world.invoke(event, project_dir=all_on(tmp_path, outputs))
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    metrics = [x for x in lines if "OutputFailures" in x]
    assert [(m["output"], m["OutputFailures"]) for m in metrics] == [("securityhub", 1)]
    assert len(outputs.events_put()) == 1
    assert len(outputs.chat_messages()) == 1


def test_failed_findings_are_retried_once_then_logged(
    world: World, outputs: Outputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts: list[list[str]] = []

    def partly(params: dict[str, Any], **_: Any) -> None:
        attempts.append([f["Id"] for f in params["Findings"]])

    def refuse_first(**_: Any) -> Any:
        """AWS's answer when one finding of the batch is refused (the first one, every time)."""
        ids = attempts[-1]
        failed = [{"Id": ids[0], "ErrorCode": "InvalidInput", "ErrorMessage": "refused by the test"}]
        answer = {"FailedCount": 1, "SuccessCount": len(ids) - 1, "FailedFindings": failed}
        return SimpleNamespace(status_code=200), answer

    hub = clients.securityhub()
    hub.meta.events.register("provide-client-params.securityhub.BatchImportFindings", partly)
    hub.meta.events.register("before-call.securityhub.BatchImportFindings", refuse_first)
    event, _ = authorize_and_record(world.ec2, world.group("web"), [SSH_WORLD])
    world.invoke(event, project_dir=project(tmp_path, SECURITY_HUB="on", REMEDIATION_MODE="dry-run"))
    first, retry = attempts
    assert retry == [first[0]]  # only the refused finding, once
    logged = [e for e in errors(capsys.readouterr().out) if e.get("output") == "securityhub"]
    assert len(logged) == 1
    assert first[0] in logged[0]["message"]
    assert "refused by the test" in logged[0]["message"]


def test_the_main_message_failing_still_tells_chat_and_then_raises(
    world: World, outputs: Outputs, tmp_path: Path
) -> None:
    main_topic = world.topics["prod"]

    def refuse_main(params: dict[str, Any], **_: Any) -> None:
        if params.get("TopicArn") == main_topic:
            raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "Publish")

    clients.sns(REGION).meta.events.register("provide-client-params.sns.Publish", refuse_main)
    event, _ = authorize_and_record(world.ec2, world.group("web"), [ALL_TRAFFIC_WORLD])
    with pytest.raises(Exception, match="AuthorizationError"):
        world.invoke(event, project_dir=all_on(tmp_path, outputs))
    assert world.messages() == []
    assert len(outputs.chat_messages()) == 1
    assert len(outputs.events_put()) == 1


def test_findings_for_another_account_are_not_imported_but_logged(
    world: World, outputs: Outputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event, _ = authorize_and_record(world.ec2, world.group("web"), [SSH_WORLD])
    event["detail"]["recipientAccountId"] = "444455556666"
    event["account"] = "444455556666"
    config = project(tmp_path, SECURITY_HUB="on", REMEDIATION_MODE="dry-run", MEMBER_ROLE_NAME="")
    world.invoke(event, project_dir=config)  # no member role: the member account cannot be reached
    assert outputs.findings() == []
    logged = [e for e in errors(capsys.readouterr().out) if e.get("output") == "securityhub"]
    assert "444455556666" in logged[0]["message"]


def test_chat_topic_by_name_in_the_functions_own_account(
    world: World, outputs: Outputs, tmp_path: Path
) -> None:
    """CHAT_TOPIC, like NOTIFY_TOPIC, is a name: no account id in the repository."""
    event, _ = authorize_and_record(world.ec2, world.group("web"), [SSH_WORLD])
    world.invoke(event, project_dir=project(tmp_path, CHAT_TOPIC="sgguard-chat-prod"))
    [chat] = outputs.chat_messages()
    check_chat(chat)


def test_organization_mode_imports_a_members_finding_in_the_member_account(
    world: World, outputs: Outputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's rule: its finding is imported by the member (through the remediation role), with the
    member's default product, never by the central account with its own."""
    from tests.test_organization import MEMBER, MEMBER_ROLE, Account

    member = Account(MEMBER)
    _, _, event = member.open_to_the_world()
    roles: list[str | None] = []
    original = clients.securityhub

    def spy(region: str | None = None, role_arn: str | None = None) -> Any:
        roles.append(role_arn)
        return original(region, role_arn)

    monkeypatch.setattr(clients, "securityhub", spy)
    decision = world.invoke(event, project_dir=project(tmp_path, SECURITY_HUB="on"))
    assert decision["account"] == MEMBER
    assert set(roles) == {MEMBER_ROLE}
    # moto answers these assumed-role sessions as the default account (checked: GetCallerIdentity and
    # EC2's OwnerId through them say 111122223333), so the hub cannot tell the accounts apart here:
    # what is checked is that the import went through the member's role, for the member's product
    in_member = outputs.findings()
    assert in_member
    for finding in in_member:
        check_asff(finding)
        assert finding["AwsAccountId"] == MEMBER
        assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{MEMBER}:product/{MEMBER}/default"
