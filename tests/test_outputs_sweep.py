"""The sweep report to chat and EventBridge, and the Security Hub findings a sweep no longer sees
archived (moto: BatchImportFindings then GetFindings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib.adapters import clients
from chalicelib.baseline import load_baseline
from chalicelib.outputs import eventbus, securityhub
from chalicelib.outputs.after_sweep import after_sweep
from chalicelib.outputs.sweep import SWEEP_DETAIL_TYPE, rule_of, sweep_entry, sweep_notification, to_archive
from chalicelib.settings import Settings
from chalicelib.sweep.engine import sweep_dump
from chalicelib.sweep.report import SweepReport
from tests.conftest import ACCOUNT, REGION
from tests.moto_env import World
from tests.test_output_renderers import check_asff, check_chat, decision_of

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
WEB = "sg-0000000000000000a"
GROUPS = [{"GroupId": WEB, "GroupName": "web", "VpcId": "vpc-0000000000000000a"}]
PRODUCT = securityhub.product_arn(REGION, ACCOUNT)


def rule(n: int, group: str = WEB, port: int = 22) -> dict[str, Any]:
    return {
        "SecurityGroupRuleId": f"sgr-{n:017x}",
        "GroupId": group,
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "CidrIpv4": "0.0.0.0/0",
    }


def report_of(rules: list[dict[str, Any]], groups: list[dict[str, Any]] = GROUPS) -> SweepReport:
    dumped = sweep_dump(
        iter(rules), groups, load_baseline(), NOW, account=ACCOUNT, region=REGION, sweep_id="s-1"
    )
    return dumped.model_copy(update={"origin": "live"})


def test_sweep_chat_summary_follows_the_schema() -> None:
    parsed = check_chat(sweep_notification(report_of([rule(1), rule(2, port=3389)])))
    assert parsed.content.title
    assert parsed.content.title.startswith(f":mag: Sweep of {ACCOUNT} {REGION}: 2 violating rule(s)")
    assert parsed.metadata is not None
    assert parsed.metadata.thread_id == f"sgguard-sweep-{ACCOUNT}-{REGION}"
    assert "EC2.19" in (parsed.content.keywords or [])


def test_sweep_chat_summary_of_many_groups_is_bounded_and_hostile_names_stay_inert() -> None:
    groups = [{"GroupId": f"sg-{i:017x}", "GroupName": f"<!channel> `x` {i}" * 20} for i in range(300)]
    rules = [rule(i, group=f"sg-{i:017x}") for i in range(300)]
    message = sweep_notification(report_of(rules, groups))
    parsed = check_chat(message)
    assert "<!channel>" not in json.dumps(message)
    assert "more group(s)" in parsed.content.description
    for line in parsed.content.description.splitlines():
        assert line.count("`") % 2 == 0


def test_sweep_event_carries_the_report_within_256_kb() -> None:
    groups = [{"GroupId": f"sg-{i:017x}", "GroupName": "g" * 200} for i in range(2000)]
    rules = [rule(i, group=f"sg-{i:017x}") for i in range(2000)]
    report = report_of(rules, groups)
    entry = sweep_entry(report)
    assert entry["Source"] == "sgguard"
    assert entry["DetailType"] == SWEEP_DETAIL_TYPE
    assert eventbus.entry_size(entry) <= eventbus.ENTRY_LIMIT
    detail = json.loads(entry["Detail"])
    assert detail["sweep_id"] == "s-1"
    assert detail["groups_omitted"] > 0
    assert len(detail["groups"]) + detail["groups_omitted"] == len(report.groups)


def test_a_small_report_goes_whole() -> None:
    report = report_of([rule(1)])
    assert json.loads(sweep_entry(report)["Detail"]) == report.to_json_dict()


# --- archiving ------------------------------------------------------------------------------------


def _imported(world: World) -> list[dict[str, Any]]:
    """Findings of two rules (the SSH sample event in dry-run), imported as the event path does."""
    decision = decision_of("authorize-ingress-ssh-mixed-sources.json", "would-revoke", "dry-run")
    found = securityhub.imports(decision, PRODUCT, NOW).found
    hub = boto3.client("securityhub", region_name=REGION)
    hub.batch_import_findings(Findings=found)
    return found


def _hub_findings() -> dict[str, dict[str, Any]]:
    hub = boto3.client("securityhub", region_name=REGION)
    return {f["Id"]: f for f in hub.get_findings()["Findings"]}


def test_rule_of_reads_the_id() -> None:
    assert rule_of(f"sgguard/{ACCOUNT}/{REGION}/{WEB}/sgr-1/EC2.19") == "sgr-1"
    assert rule_of("something-else") is None


def test_to_archive_needs_a_complete_live_sweep_that_read_everything() -> None:
    active = [{"Id": f"sgguard/{ACCOUNT}/{REGION}/{WEB}/sgr-9/EC2.19", "ProductArn": PRODUCT}]
    report = report_of([rule(1)])
    assert len(to_archive(active, report, set(), PRODUCT, NOW)) == 1
    assert to_archive(active, report.model_copy(update={"complete": False}), set(), PRODUCT, NOW) == []
    assert (
        to_archive(active, report.model_copy(update={"errors": ["AccessDenied"]}), set(), PRODUCT, NOW) == []
    )
    assert to_archive(active, report.model_copy(update={"origin": "dump"}), set(), PRODUCT, NOW) == []
    assert to_archive(active, report, {"sgr-9"}, PRODUCT, NOW) == []
    other = [{**active[0], "ProductArn": "arn:aws:securityhub:eu-west-1::product/prowler/prowler"}]
    assert to_archive(other, report, set(), PRODUCT, NOW) == []
    elsewhere = [{**active[0], "Id": f"sgguard/{ACCOUNT}/us-east-1/{WEB}/sgr-9/EC2.19"}]
    assert to_archive(elsewhere, report, set(), PRODUCT, NOW) == []


def test_a_sweep_archives_the_findings_of_rules_it_no_longer_sees(world: World) -> None:
    found = _imported(world)
    rules = sorted({f["Id"].split("/")[-2] for f in found})
    assert len(rules) == 2
    kept, gone = rules
    settings = Settings.from_env({"SECURITY_HUB": "on", "EVENTBRIDGE": "off"})
    empty = report_of([])
    problems = after_sweep(empty, settings, {kept}, summary_sent=False)
    assert problems == {"securityhub": []}
    after = _hub_findings()
    assert len(after) == len(found)  # archived in place: the same ids, no new findings
    for finding_id, finding in after.items():
        expected = "ARCHIVED" if rule_of(finding_id) == gone else "ACTIVE"
        assert finding["RecordState"] == expected
        check_asff(finding)


def test_a_sweep_makes_findings_for_violations_whose_event_was_missed_and_keeps_the_others(
    world: World,
) -> None:
    found = _imported(world)
    event_group = found[0]["Resources"][0]["Details"]["AwsEc2SecurityGroup"]["GroupId"]
    event_rule = found[0]["Id"].split("/")[-2]
    groups = [*GROUPS, {"GroupId": event_group, "GroupName": "web-from-the-event"}]
    seen_by_event = {**rule(1, group=event_group), "SecurityGroupRuleId": event_rule}
    missed = rule(7)
    report = report_of([seen_by_event, missed], groups)
    settings = Settings.from_env({"SECURITY_HUB": "on", "EVENTBRIDGE": "off"})
    assert after_sweep(report, settings, {event_rule, missed["SecurityGroupRuleId"]}, False) == {
        "securityhub": []
    }
    after = _hub_findings()
    made = {i: f for i, f in after.items() if rule_of(i) == missed["SecurityGroupRuleId"]}
    assert made
    for finding in made.values():
        check_asff(finding)
        assert finding["Title"].startswith(
            "sgguard's sweep found tcp 22 from 0.0.0.0/0 in sg-0000000000000000a"
        )
        assert finding["Compliance"]["Status"] == "FAILED"  # report mode: left in place
    event_findings = [f for i, f in after.items() if rule_of(i) == event_rule]
    assert {f["Title"].split(" opened ")[0] for f in event_findings} == {"ci-deployer"}  # not overwritten


def test_an_incomplete_sweep_archives_nothing(world: World) -> None:
    found = _imported(world)
    settings = Settings.from_env({"SECURITY_HUB": "on", "EVENTBRIDGE": "off"})
    incomplete = report_of([]).model_copy(update={"complete": False, "cursor": "sg-1"})
    after_sweep(incomplete, settings, set(), summary_sent=False)
    assert {f["RecordState"] for f in _hub_findings().values()} == {"ACTIVE"}
    assert len(_hub_findings()) == len(found)


def test_archived_copies_leave_out_security_hubs_own_fields() -> None:
    read_back = {
        **securityhub.imports(decision_of("authorize-ingress-ssh-mixed-sources.json"), PRODUCT, NOW).found[0],
        "Workflow": {"Status": "NOTIFIED"},
        "WorkflowState": "NEW",
        "ProcessedAt": "2026-12-01T18:00:01.000Z",
        "ProductFields": {"aws/securityhub/FindingId": "x", "sgguard/Person": "ci-deployer"},
    }
    gone = securityhub.archived(read_back, NOW)
    assert "Workflow" not in gone
    assert "WorkflowState" not in gone
    assert "ProcessedAt" not in gone
    assert gone["ProductFields"] == {"sgguard/Person": "ci-deployer"}
    assert gone["RecordState"] == "ARCHIVED"


def test_after_sweep_sends_the_summary_to_chat_and_eventbridge_only_with_the_sns_summary(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    sent: list[str] = []
    clients.sns(REGION).meta.events.register(
        "provide-client-params.sns.Publish", lambda params, **_: sent.append(params["TopicArn"])
    )
    clients.events(REGION).meta.events.register(
        "provide-client-params.events.PutEvents",
        lambda params, **_: sent.extend(e["DetailType"] for e in params["Entries"]),
    )
    chat = world.sns.create_topic(Name="sgguard-chat-prod")["TopicArn"]
    settings = Settings.from_env({"CHAT_TOPIC": "sgguard-chat-prod"})
    report = report_of([rule(1)])
    assert after_sweep(report, settings, {"sgr-1"}, summary_sent=False) == {}
    assert sent == []
    problems = after_sweep(report, settings, {"sgr-1"}, summary_sent=True)
    assert problems == {"chat": [], "eventbridge": []}
    assert sent == [chat, SWEEP_DETAIL_TYPE]


# --- through the scheduled sweep ------------------------------------------------------------------


def test_the_scheduled_sweep_tells_chat_and_eventbridge_and_tidies_security_hub(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule opened with no event (missed delivery) gets a finding from the sweep; once it is gone, the
    next complete sweep archives it. The summary reaches chat and EventBridge with the SNS one."""
    from chalicelib.sweep import scheduled
    from tests.test_outputs import Outputs
    from tests.test_sweep_scheduled import PLENTY, _open

    outputs = Outputs(world)
    for name, value in {
        "NOTIFY_TOPIC_ARN": world.topics["prod"],
        "IDEMPOTENCY_TABLE": "sgguard-idempotency-prod",
        "SWEEP_MODE": "report",
        "SECURITY_HUB": "on",
        "CHAT_TOPIC_ARN": outputs.chat_topic,
    }.items():
        monkeypatch.setenv(name, value)
    web = world.group("web")
    _open(world, web, 22)
    scheduled.sweep_now(PLENTY)
    [chat] = outputs.chat_messages()
    parsed = check_chat(chat)
    assert (parsed.content.title or "").startswith(":mag: Sweep of")
    [event] = outputs.events_put()
    assert event["detail-type"] == SWEEP_DETAIL_TYPE
    assert event["detail"]["totals"]["violating"] >= 1
    made = [f for f in outputs.findings() if f["RecordState"] == "ACTIVE"]
    assert made
    assert all(f["Title"].startswith("sgguard's sweep found") for f in made)
    for finding in made:
        check_asff(finding)

    from devtools.eventgen import group_rules

    [ssh] = [
        r["SecurityGroupRuleId"]
        for r in group_rules(world.ec2, web)
        if r.get("CidrIpv4") == "0.0.0.0/0" and not r["IsEgress"] and r["FromPort"] == 22
    ]
    assert any(rule_of(f["Id"]) == ssh for f in made)
    world.ec2.revoke_security_group_ingress(GroupId=web, SecurityGroupRuleIds=[ssh])
    scheduled.sweep_now(PLENTY)  # the rule is gone: its findings are archived, none added
    after = {f["Id"]: f for f in outputs.findings()}
    assert set(after) == {f["Id"] for f in made}
    for finding_id, finding in after.items():  # other rules (e.g. egress to anywhere) still violate
        assert finding["RecordState"] == ("ARCHIVED" if rule_of(finding_id) == ssh else "ACTIVE")
