"""Security Hub findings in ASFF: one per violating rule and control, beside Config's and Prowler's.

- **Id** is stable per account, region, group, rule and control, so that a re-delivered event or a
  later sweep re-imports (updates) the same finding instead of adding one; a rule without an id (old
  events) is named by a hash of what it allows.
- **ProductArn** is the account's default product, ``arn:<partition>:securityhub:<region>:<account>:
  product/<account>/default``, built at run time from the function's own identity; Security Hub then
  requires that account to import the finding (``AwsAccountId``).
- **Workflow is the customer's** (BatchImportFindings cannot change it after creation). What AWS
  documents instead: a provider moves ``Compliance.Status`` from FAILED to PASSED (or ``RecordState`` to
  ARCHIVED) and Security Hub resolves the workflow itself. So a revoked rule is imported twice: as it was
  found (FAILED, at the event's time), then as it is (PASSED, now): the change is what resolves it.
- **Severity and Types** go in ``FindingProviderFields`` too: that is where a provider updates them.
- Field limits are AWS's (Title 256, Description 1,024, Remediation text 512, ProductFields 50 pairs of
  128/2,048, a finding 240 KB); every value that an event can shape is made plain and bounded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.decision import Decision, FindingDoc, Why
from chalicelib.identity import plain
from chalicelib.notify import ACTION_WORDS, person_words, restore_command, rule_words
from chalicelib.outputs.eventbus import group_arn
from chalicelib.outputs.words import revoke_command

SCHEMA_VERSION = "2018-10-08"
TYPES = ["Software and Configuration Checks/AWS Security Best Practices/Network Reachability"]
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
REMEDIATION_LIMIT = 512
ID_LIMIT = 512
PRODUCT_FIELD_KEY_LIMIT = 128
PRODUCT_FIELD_VALUE_LIMIT = 2048
PRODUCT_FIELDS_LIMIT = 50
OTHER_VALUE_LIMIT = 1024
FINDING_LIMIT = 240 * 1024
RESOLVED_ACTIONS = frozenset({"revoked", "already-absent", "already-fixed"})
"""The rule is no longer there: the finding's compliance is PASSED."""


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def product_arn(region: str, account: str) -> str:
    """The default product of the account that imports (the function's own account and region)."""
    return f"arn:{partition(region)}:securityhub:{region}:{account}:product/{account}/default"


def rule_key(finding: FindingDoc) -> str:
    """The rule's id, or for an old event without ids, a hash of what the rule allows."""
    if finding.rule_id:
        return finding.rule_id
    allowed = "|".join(
        str(part)
        for part in (finding.direction, finding.protocol, finding.from_port, finding.to_port, finding.source)
    )
    return "rule-" + hashlib.sha256(allowed.encode()).hexdigest()[:20]


def finding_id(decision: Decision, finding: FindingDoc, control: str) -> str:
    parts = [decision.account, decision.region, decision.group_id, rule_key(finding), control]
    text = "sgguard/" + "/".join(str(p) for p in parts)
    if len(text) <= ID_LIMIT and plain(text, ID_LIMIT) == text:
        return text
    return "sgguard/" + hashlib.sha256(text.encode()).hexdigest()  # hostile ids: still stable


def _cut(text: str | None, limit: int) -> str:
    return plain(text, limit) or ""


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_time(decision: Decision, now: datetime) -> str:
    """The event's time as ASFF writes it; the import time when the event's time is unreadable."""
    try:
        return _iso(datetime.fromisoformat(str(decision.event_time).replace("Z", "+00:00")))
    except ValueError:
        return _iso(now)


def _rule_arn(decision: Decision, finding: FindingDoc) -> str:
    if finding.rule_arn:
        return finding.rule_arn
    region, account = decision.region or "", decision.account or ""
    return f"arn:{partition(region)}:ec2:{region}:{account}:security-group-rule/{rule_key(finding)}"


def _resources(decision: Decision, finding: FindingDoc) -> list[dict[str, Any]]:
    region = decision.region or ""
    common = {"Partition": partition(region), "Region": region}
    group = group_arn(decision) or f"security-group/{decision.group_id}"
    rule: dict[str, str] = {
        "GroupId": str(decision.group_id),
        "RuleId": finding.rule_id or "(none in the event)",
        "Direction": finding.direction,
        "Traffic": rule_words(finding),
        "Action": finding.action,
    }
    if finding.description:
        rule["Description"] = finding.description
    return [
        {
            "Type": "AwsEc2SecurityGroup",
            "Id": group,
            **common,
            "Details": {"AwsEc2SecurityGroup": {"GroupId": str(decision.group_id)}},
        },
        {
            "Type": "Other",
            "Id": _rule_arn(decision, finding),
            **common,
            "Details": {"Other": {k: _cut(v, OTHER_VALUE_LIMIT) for k, v in rule.items()}},
        },
    ]


def _remediation(decision: Decision, finding: FindingDoc) -> tuple[str, str | None]:
    """(Recommendation text, the command it names, for ProductFields)."""
    if finding.action in ("revoked", "already-absent"):
        command = restore_command(finding, decision.group_id, decision.region)
        text = (
            "sgguard revoked this rule. If it was legitimate, add an exemption to the baseline first, "
            "then restore it: "
        )
    elif finding.action == "already-fixed":
        return "The rule was changed to comply before sgguard acted; nothing to do.", None
    else:
        command = revoke_command(finding, decision.group_id, decision.region)
        reason = "sgguard could NOT revoke it" if finding.action == "failed" else "sgguard left it in place"
        text = f"{reason} ({ACTION_WORDS[finding.action]}). Revoke it: "
    if len(text) + len(command) <= REMEDIATION_LIMIT and plain(command, REMEDIATION_LIMIT) == command:
        return text + command, command
    return text + "the command is in ProductFields sgguard/Command.", command


def _product_fields(decision: Decision, finding: FindingDoc, why: Why, command: str | None) -> dict[str, str]:
    actor = decision.actor
    fields = {
        "sgguard/Person": actor.person,
        "sgguard/PersonSource": actor.person_source,
        "sgguard/Via": actor.via,
        "sgguard/Principal": actor.principal,
        "sgguard/ActorArn": actor.arn,
        "sgguard/ActorType": actor.type,
        "sgguard/InvokedBy": actor.invoked_by,
        "sgguard/SourceIp": actor.source_ip,
        "sgguard/Action": finding.action,
        "sgguard/Command": command,
        "sgguard/Reason": why.reason,
        "sgguard/Mode": decision.mode,
        "sgguard/Baseline": decision.baseline,
        "sgguard/EventId": decision.event_id,
        "sgguard/EventName": decision.event_name,
        "sgguard/Delivery": decision.delivery,
        "sgguard/Error": finding.error,
        "sgguard/Note": finding.note,
    }
    kept = {k: _cut(v, PRODUCT_FIELD_VALUE_LIMIT) for k, v in fields.items() if v}
    return dict(list({k: v for k, v in kept.items() if v}.items())[:PRODUCT_FIELDS_LIMIT])


SWEEP_EVENT = "sweep"
"""``event_name`` of a decision made from a sweep's findings: nobody's call, so no actor."""


def _title(decision: Decision, finding: FindingDoc, why: Why) -> str:
    traffic = f"{rule_words(finding)} in {decision.group_id}: {why.control} {why.title}"
    if decision.event_name == SWEEP_EVENT:
        return _cut(f"sgguard's sweep found {traffic}", TITLE_LIMIT)
    return _cut(f"{person_words(decision.actor)} opened {traffic}", TITLE_LIMIT)


def _description(decision: Decision, finding: FindingDoc, why: Why) -> str:
    actor = decision.actor
    done = (
        f"{why.title}: {why.reason}. sgguard {ACTION_WORDS[finding.action]} "
        f"({decision.mode}, baseline {decision.baseline}). "
    )
    if decision.event_name == SWEEP_EVENT:
        who = (
            f"Found by sweep {decision.event_id} at {decision.event_time}; who made the rule is not known "
            "(a sweep reads the rules, not CloudTrail; its event was missed or older than sgguard)."
        )
    else:
        who = (
            f"Made by {person_words(actor)} ({actor.person_source or actor.type}) from {actor.source_ip} "
            f"with {decision.event_name} at {decision.event_time} (CloudTrail event {decision.event_id})."
        )
    text = done + who
    if finding.error:
        text += f" Error: {finding.error}."
    return _cut(text, DESCRIPTION_LIMIT)


@dataclass(frozen=True, slots=True)
class Imports:
    """What to import, in order: ``found`` (every finding as sgguard found it at the event: FAILED),
    then ``resolved`` (those whose rule is gone now: PASSED). A finding in both is the same Id twice."""

    found: list[dict[str, Any]]
    resolved: list[dict[str, Any]]


def _pairs(decision: Decision) -> Iterator[tuple[FindingDoc, Why]]:
    for finding in decision.findings:
        for why in finding.why:
            yield finding, why


def _finding(
    decision: Decision, finding: FindingDoc, why: Why, product: str, updated: str, passed: bool, now: datetime
) -> dict[str, Any]:
    text, command = _remediation(decision, finding)
    created = _event_time(decision, now)
    updated = max(updated, created)  # an event "from the future" (a skewed or forged time)
    severity = {"Label": why.severity, "Original": why.severity}
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(decision, finding, why.control),
        "ProductArn": product,
        "ProductName": "sgguard",
        "CompanyName": "sgguard",
        "GeneratorId": _cut(f"sgguard/{why.control}", 512),
        "AwsAccountId": str(decision.account),
        "Types": TYPES,
        "CreatedAt": created,
        "UpdatedAt": updated,
        "FirstObservedAt": created,
        "LastObservedAt": updated,
        "Severity": severity,
        "FindingProviderFields": {"Severity": severity, "Types": TYPES},
        "Title": _title(decision, finding, why),
        "Description": _description(decision, finding, why),
        "Remediation": {"Recommendation": {"Text": text}},
        "Resources": _resources(decision, finding),
        "Compliance": {
            "Status": "PASSED" if passed else "FAILED",
            "RelatedRequirements": [_cut(f"sgguard {decision.baseline} {why.control}", 256)],
        },
        "RecordState": "ACTIVE",
        "ProductFields": _product_fields(decision, finding, why, command),
    }


def imports(decision: Decision, product: str, now: datetime) -> Imports:
    """The findings for a violating decision. ``now`` is the import time (UpdatedAt)."""
    found, resolved = [], []
    for finding, why in _pairs(decision):
        gone = finding.action in RESOLVED_ACTIONS
        at_event = _event_time(decision, now) if gone else _iso(now)
        found.append(_finding(decision, finding, why, product, at_event, False, now))
        if gone:
            resolved.append(_finding(decision, finding, why, product, _iso(now), True, now))
    return Imports(found, resolved)


PROVIDER_KEYS = frozenset(
    {
        "SchemaVersion",
        "Id",
        "ProductArn",
        "ProductName",
        "CompanyName",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "FirstObservedAt",
        "LastObservedAt",
        "Severity",
        "FindingProviderFields",
        "Title",
        "Description",
        "Remediation",
        "Resources",
        "Compliance",
        "RecordState",
        "ProductFields",
    }
)
"""What sgguard writes in a finding; a finding read back (GetFindings) also holds Security Hub's own
fields (Workflow, ProcessedAt, ``aws/securityhub/*`` product fields), which a provider must not send."""


def archived(finding: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A finding a sweep no longer sees: the same Id, RecordState ARCHIVED (Security Hub resolves it)."""
    kept = {k: v for k, v in finding.items() if k in PROVIDER_KEYS}
    fields = {k: v for k, v in kept.get("ProductFields", {}).items() if not k.startswith("aws/")}
    when = max(_iso(now), str(kept.get("CreatedAt", "")))
    return {
        **kept,
        "ProductFields": fields,
        "RecordState": "ARCHIVED",
        "UpdatedAt": when,
        "LastObservedAt": when,
    }
