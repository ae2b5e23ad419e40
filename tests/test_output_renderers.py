"""The pure renderers of chalicelib/outputs, checked against the documented schemas and limits.

- ASFF: the required top-level attributes and their limits, as AWS's Security Hub user guide
  ("Required top-level ASFF attributes") and API reference (AwsSecurityFinding) list them, written
  here as a small pydantic schema; plus the optional objects sgguard fills.
- The chat custom notification: the event schema of "Custom notifications using Amazon Q Developer in
  chat applications" (version "1.0" and source "custom" required, content, metadata), unknown keys
  refused, within sgguard's bounds (chalicelib.outputs.chat.LIMITS) and SNS's 256 KiB.
- EventBridge: source, detail-type per outcome, the decision document as detail, within 256 KB.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.baseline import load_baseline
from chalicelib.decision import ActionResult, Decision, FindingDoc, decide
from chalicelib.evaluate import Facts, evaluate
from chalicelib.events import parse_record, rule_change
from chalicelib.outputs import chat, eventbus, securityhub
from chalicelib.outputs.fit import fit
from tests.conftest import load_sample

NOW = datetime(2026, 12, 1, 18, 0, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
REGION = "eu-west-1"
PRODUCT = securityhub.product_arn(REGION, ACCOUNT)
SSH = "authorize-ingress-ssh-mixed-sources.json"
ALL_TRAFFIC = "authorize-ingress-all-traffic-world.json"
LEGACY = "authorize-ingress-legacy-without-rule-ids.json"


def decision_of(name: str, action: str = "revoked", mode: str = "enforce", event: Any = None) -> Decision:
    change = rule_change(parse_record(event or load_sample(name)))  # type: ignore[arg-type]
    findings = evaluate(
        change.rules, load_baseline("aws-foundational"), Facts(group_names={change.group_id: "web"})
    )
    results = {r.rule_id: ActionResult(action) for r in change.rules if r.rule_id}  # type: ignore[arg-type]
    return decide(change, findings, mode, "aws-foundational", results)  # type: ignore[arg-type]


# --- ASFF ------------------------------------------------------------------------------------------

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Iso8601 = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
]
TypeName = Annotated[str, StringConstraints(pattern=r"^[^/]+(/[^/]+){0,2}$", max_length=128)]
TYPE_NAMESPACES = {
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
}


class Severity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    Label: Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    Original: str | None = None


class Resource(BaseModel):
    model_config = ConfigDict(extra="allow")
    Type: NonEmpty
    Id: NonEmpty
    Partition: Literal["aws", "aws-cn", "aws-us-gov"] | None = None
    Region: str | None = None
    Details: dict[str, Any] | None = None


class RequiredAsff(BaseModel):
    """The required top-level attributes (AWS: SchemaVersion, Id, ProductArn, GeneratorId, AwsAccountId,
    Types, CreatedAt, UpdatedAt, Severity, Title, Description, Resources) with their documented limits."""

    model_config = ConfigDict(extra="allow")
    SchemaVersion: Literal["2018-10-08"]
    Id: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    ProductArn: Annotated[
        str, StringConstraints(pattern=r"^arn:aws[a-z-]*:securityhub:[a-z0-9-]+:\d{12}:product/")
    ]
    GeneratorId: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    AwsAccountId: Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
    Types: Annotated[list[TypeName], Field(min_length=1, max_length=50)]
    CreatedAt: Iso8601
    UpdatedAt: Iso8601
    Severity: Severity
    Title: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    Description: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    Resources: Annotated[list[Resource], Field(min_length=1, max_length=32)]


REQUIRED = set(RequiredAsff.model_fields)


def check_asff(finding: dict[str, Any]) -> None:
    assert set(finding) >= REQUIRED
    RequiredAsff.model_validate(finding)
    for name in finding["Types"]:
        assert name.split("/")[0] in TYPE_NAMESPACES
    assert "Workflow" not in finding  # the customer's field: BatchImportFindings cannot change it
    assert len(finding["Remediation"]["Recommendation"]["Text"]) <= 512
    fields = finding["ProductFields"]
    assert len(fields) <= 50
    assert all(len(k) <= 128 and 0 < len(v) <= 2048 for k, v in fields.items())
    for resource in finding["Resources"]:
        for value in (resource.get("Details", {}).get("Other") or {}).values():
            assert len(value) <= 1024
    assert finding["Compliance"]["Status"] in {"PASSED", "FAILED", "WARNING", "NOT_AVAILABLE"}
    assert finding["RecordState"] in {"ACTIVE", "ARCHIVED"}
    assert len(json.dumps(finding).encode()) <= securityhub.FINDING_LIMIT


def test_the_schema_names_exactly_the_documented_required_fields() -> None:
    documented = {
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    }
    assert documented == REQUIRED


@pytest.mark.parametrize("name", [SSH, ALL_TRAFFIC, LEGACY])
@pytest.mark.parametrize("action", ["revoked", "would-revoke", "failed"])
def test_every_finding_has_asffs_required_fields(name: str, action: str) -> None:
    decision = decision_of(name, action)
    imports = securityhub.imports(decision, PRODUCT, NOW)
    assert imports.found
    for finding in imports.found + imports.resolved:
        check_asff(finding)
        assert finding["ProductArn"] == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
        assert finding["AwsAccountId"] == ACCOUNT


def test_one_finding_per_rule_and_control_with_a_generator_per_control() -> None:
    decision = decision_of(ALL_TRAFFIC)
    found = securityhub.imports(decision, PRODUCT, NOW).found
    pairs = [(f.rule_id, w.control) for f in decision.findings for w in f.why]
    assert len(found) == len(pairs)
    assert len({f["Id"] for f in found}) == len(pairs)
    assert {f["GeneratorId"] for f in found} == {f"sgguard/{c}" for _, c in pairs}
    for finding in found:
        rule_id, control = finding["Id"].split("/")[-2:]
        assert (rule_id, control) in pairs
        assert finding["Severity"] == finding["FindingProviderFields"]["Severity"]


def test_ids_are_stable_across_deliveries_and_times() -> None:
    first = securityhub.imports(decision_of(SSH), PRODUCT, NOW).found
    later = securityhub.imports(
        decision_of(SSH).model_copy(update={"delivery": "retry"}), PRODUCT, NOW.replace(hour=23)
    ).found
    assert [f["Id"] for f in first] == [f["Id"] for f in later]
    assert first[0]["CreatedAt"] == later[0]["CreatedAt"]  # the event's time, not the import's


def test_rules_without_ids_get_a_stable_id_from_what_they_allow() -> None:
    decision = decision_of(LEGACY, "already-absent")
    ids = [f["Id"] for f in securityhub.imports(decision, PRODUCT, NOW).found]
    assert all("/rule-" in i for i in ids)
    assert ids == [
        f["Id"] for f in securityhub.imports(decision_of(LEGACY, "already-absent"), PRODUCT, NOW).found
    ]


def test_a_revoked_rule_is_imported_as_found_then_as_passed() -> None:
    decision = decision_of(SSH, "revoked")
    imports = securityhub.imports(decision, PRODUCT, NOW)
    assert [f["Id"] for f in imports.found] == [f["Id"] for f in imports.resolved]
    assert {f["Compliance"]["Status"] for f in imports.found} == {"FAILED"}
    assert {f["Compliance"]["Status"] for f in imports.resolved} == {"PASSED"}
    assert all(f["UpdatedAt"] < r["UpdatedAt"] for f, r in zip(imports.found, imports.resolved, strict=True))
    assert "restore it" in imports.resolved[0]["Remediation"]["Recommendation"]["Text"]
    assert imports.resolved[0]["ProductFields"]["sgguard/Command"].startswith(
        "aws ec2 authorize-security-group"
    )


@pytest.mark.parametrize("action", ["would-revoke", "failed", "reported"])
def test_a_rule_left_in_place_stays_failed_and_says_how_to_revoke_it(action: str) -> None:
    imports = securityhub.imports(decision_of(SSH, action), PRODUCT, NOW)
    assert imports.resolved == []
    assert {f["Compliance"]["Status"] for f in imports.found} == {"FAILED"}
    command = imports.found[0]["ProductFields"]["sgguard/Command"]
    assert command.startswith("aws ec2 revoke-security-group-ingress")


def test_the_finding_leads_with_the_person_and_carries_the_actor() -> None:
    finding = securityhub.imports(decision_of(ALL_TRAFFIC), PRODUCT, NOW).found[0]
    assert finding["Title"].startswith(
        "dana@example.com (via arn:aws:iam::111122223333:role/DeveloperAccess)"
    )
    fields = finding["ProductFields"]
    assert fields["sgguard/Person"] == "dana@example.com"
    assert fields["sgguard/PersonSource"] == "role-session-name"
    assert fields["sgguard/Principal"] == "arn:aws:iam::111122223333:role/DeveloperAccess"
    types = {r["Type"] for r in finding["Resources"]}
    assert types == {"AwsEc2SecurityGroup", "Other"}


def test_product_arns_follow_the_partition() -> None:
    assert securityhub.product_arn("cn-north-1", "1" * 12).startswith("arn:aws-cn:securityhub:cn-north-1:")
    assert securityhub.product_arn("us-gov-west-1", "1" * 12).startswith("arn:aws-us-gov:")


def test_archived_keeps_the_id_and_archives_the_record() -> None:
    finding = securityhub.imports(decision_of(SSH, "would-revoke"), PRODUCT, NOW).found[0]
    gone = securityhub.archived(finding, NOW.replace(hour=20))
    assert gone["Id"] == finding["Id"]
    assert gone["RecordState"] == "ARCHIVED"
    check_asff(gone)


# --- hostile values in every field an outsider can set ---------------------------------------------

HOSTILE = ["x" * 70_000, "<!channel> `tick` *b* _i_ ~s~ [l](http://e)", "zoë\u202e\u200b\n\r\x00\x1b", "{}"]


def hostile_event(value: str) -> dict[str, Any]:
    event = copy.deepcopy(load_sample(ALL_TRAFFIC))
    detail = event["detail"]
    detail["userIdentity"]["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/DeveloperAccess/{value}"
    detail["userAgent"] = value
    detail["sourceIPAddress"] = value
    detail["eventID"] = value
    for item in detail["responseElements"]["securityGroupRuleSet"]["items"]:
        item["description"] = value
    return event


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_keep_findings_within_asff(value: str) -> None:
    decision = decision_of(ALL_TRAFFIC, event=hostile_event(value))
    imports = securityhub.imports(decision, PRODUCT, NOW)
    for finding in imports.found + imports.resolved:
        check_asff(finding)
        assert "\n" not in finding["Title"]
        assert "\u202e" not in json.dumps(finding, ensure_ascii=False)


# --- chat ------------------------------------------------------------------------------------------


class ChatContent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_type: Literal["client-markdown"] | None = Field(None, alias="textType")
    title: Annotated[str, StringConstraints(max_length=chat.LIMITS["title"])] | None = None
    description: Annotated[str, StringConstraints(min_length=1, max_length=chat.LIMITS["description"])]
    next_steps: Annotated[list[str], Field(max_length=chat.LIMITS["next_steps"])] | None = Field(
        None, alias="nextSteps"
    )
    keywords: Annotated[list[str], Field(max_length=chat.LIMITS["keywords"])] | None = None


class ChatMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    thread_id: str | None = Field(None, alias="threadId")
    summary: Annotated[str, StringConstraints(max_length=chat.LIMITS["summary"])] | None = None
    event_type: str | None = Field(None, alias="eventType")
    related_resources: list[str] | None = Field(None, alias="relatedResources")
    additional_context: dict[str, str] | None = Field(None, alias="additionalContext")


class ChatNotification(BaseModel):
    """The documented event schema: version and source required, nothing else at the top level."""

    model_config = ConfigDict(extra="forbid")
    version: Literal["1.0"]
    source: Literal["custom"]
    id: str | None = None
    content: ChatContent
    metadata: ChatMetadata | None = None


def check_chat(message: dict[str, Any]) -> ChatNotification:
    parsed = ChatNotification.model_validate(message)
    assert len(json.dumps(message, ensure_ascii=False).encode()) <= 256 * 1024  # SNS's limit
    for step in parsed.content.next_steps or []:
        assert len(step) <= chat.LIMITS["next_step"]
    for keyword in parsed.content.keywords or []:
        assert 0 < len(keyword) <= chat.LIMITS["keyword"]
    return parsed


@pytest.mark.parametrize("name", [SSH, ALL_TRAFFIC, LEGACY])
@pytest.mark.parametrize("action", ["revoked", "would-revoke", "failed"])
def test_chat_message_follows_the_documented_schema(name: str, action: str) -> None:
    check_chat(chat.notification(decision_of(name, action)))


def test_chat_leads_with_the_person_and_gives_the_restore_command_and_the_controls() -> None:
    decision = decision_of(ALL_TRAFFIC)
    parsed = check_chat(chat.notification(decision))
    assert "dana@example.com" in (parsed.content.title or "")
    assert parsed.content.description.startswith("*Who:* `dana@example.com` via")
    assert parsed.content.next_steps
    assert "aws ec2 authorize-security-group-ingress" in parsed.content.next_steps[0]
    controls = {c for f in decision.findings for c in f.controls}
    assert controls <= set(parsed.content.keywords or [])
    assert parsed.metadata is not None
    assert parsed.metadata.thread_id == f"sgguard-{ACCOUNT}-{REGION}-{decision.group_id}"


def test_chat_failure_says_rules_are_still_open() -> None:
    parsed = check_chat(chat.notification(decision_of(SSH, "failed")))
    assert "could NOT be revoked" in parsed.content.description
    assert parsed.content.next_steps
    assert parsed.content.next_steps[0].startswith("Revoke it by hand")


@pytest.mark.parametrize("value", HOSTILE)
def test_chat_hostile_values_cannot_mention_link_or_break_out_of_code(value: str) -> None:
    decision = decision_of(ALL_TRAFFIC, event=hostile_event(value))
    message = chat.notification(decision)
    parsed = check_chat(message)
    text = json.dumps(message, ensure_ascii=False)
    assert "<!channel>" not in text
    assert "\u202e" not in text
    assert "\n" not in (parsed.content.title or "")
    # every backtick pairs up: no outsider's value closes a code span early
    for line in parsed.content.description.splitlines():
        assert line.count("`") % 2 == 0, line
    for step in parsed.content.next_steps or []:
        assert step.count("`") % 2 == 0


def test_a_thousand_findings_fit_the_chat_limits_most_severe_first() -> None:
    decision = decision_of(ALL_TRAFFIC)
    base = decision.findings[0]
    many = [
        base.model_copy(update={"rule_id": f"sgr-{i:017x}", "severity": "LOW" if i else "CRITICAL"})
        for i in range(1000)
    ]
    parsed = check_chat(chat.notification(decision.model_copy(update={"findings": many})))
    assert "more; the e-mail and the log have them all" in parsed.content.description


# --- EventBridge -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "detail_type"),
    [
        ("revoked", "Security Group Rule Revoked"),
        ("would-revoke", "Security Group Rule Would Be Revoked"),
        ("failed", "Security Group Rule Revocation Failed"),
        ("reported", "Security Group Rule Violation Reported"),
    ],
)
def test_event_entry_has_source_detail_type_per_outcome_and_the_document(
    action: str, detail_type: str
) -> None:
    decision = decision_of(SSH, action)
    entry = eventbus.entry(decision)
    assert entry["Source"] == "sgguard"
    assert entry["DetailType"] == detail_type
    assert json.loads(entry["Detail"]) == decision.to_json_dict()
    assert entry["Resources"] == [f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{decision.group_id}"]


def test_a_huge_decision_is_bounded_to_256_kb_keeping_the_most_severe() -> None:
    decision = decision_of(ALL_TRAFFIC)
    base = decision.findings[0]
    many = [
        base.model_copy(
            update={
                "rule_id": f"sgr-{i:017x}",
                "severity": "CRITICAL" if i == 999 else "LOW",
                "description": "d" * 200,
            }
        )
        for i in range(3000)
    ]
    entry = eventbus.entry(decision.model_copy(update={"findings": many}))
    assert eventbus.entry_size(entry) <= eventbus.ENTRY_LIMIT
    detail = json.loads(entry["Detail"])
    assert detail["findings_omitted"] > 0
    assert detail["findings_omitted"] + len(detail["findings"]) == 3000
    assert detail["findings"][0]["severity"] == "CRITICAL"
    assert detail["findings"][0]["rule_id"] == f"sgr-{999:017x}"


def test_entry_size_counts_utf8_bytes() -> None:
    entry = {"Source": "s", "DetailType": "d", "Detail": "é", "Resources": ["r"]}
    assert eventbus.entry_size(entry) == 1 + 1 + 2 + 1
    assert eventbus.entry_size({**entry, "Time": "x"}) == 5 + 14


def test_fit_drops_the_side_lists_when_no_finding_fits() -> None:
    decision = decision_of(SSH)
    trimmed = fit(decision, lambda d: len(d.findings) * 1000 + len(d.not_judged) + 10, 5)
    assert trimmed.findings == []
    assert trimmed.findings_omitted == len(decision.findings)


def test_findings_sort_stably_by_severity() -> None:
    doc = FindingDoc.model_validate(
        {**decision_of(SSH).findings[0].model_dump(), "severity": "LOW", "rule_id": "sgr-low"}
    )
    decision = decision_of(SSH)
    mixed = decision.model_copy(update={"findings": [doc, *decision.findings]})
    assert eventbus.detail_type(mixed) == "Security Group Rule Revoked"
    assert re.match(r"^[A-Z]", eventbus.detail_type(mixed))
