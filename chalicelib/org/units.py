"""The organization's sweep cut into units (one account and one region each), and the one summary made
of the units' results. Pure: the messages on the queue, the result each unit records, the summary.

The fan-out runs on AWS's own machinery: one SQS message per unit, one Lambda invocation per message,
Lambda's concurrency (capped by the consumer's reserved concurrency) doing them in parallel, the queue's
redrive policy catching a unit that keeps failing. Nothing here loops over accounts itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.notify import MESSAGE_BUDGET, SUBJECT_LIMIT, Message
from chalicelib.org.members import ACCOUNT_ID

UNIT_VERSION = "sgguard.sweep-unit/1"
WORST_PER_UNIT = 5
WORST_SHOWN = 20


class InvalidUnit(ValueError):
    """A queue message that is not a sweep unit; the message says which field is wrong."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Unit(_Frozen):
    """One account and region of one organization sweep (the body of one SQS message)."""

    version: str = UNIT_VERSION
    sweep_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9T:._-]+$")
    index: int = Field(ge=0)
    total: int = Field(ge=1)
    account: str = Field(pattern=ACCOUNT_ID.pattern)
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")

    def to_message(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_message(cls, body: str) -> Unit:
        try:
            unit = cls.model_validate_json(body)
        except ValidationError as error:
            where = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
            )
            raise InvalidUnit(f"not a sweep unit ({where})") from None
        if unit.version != UNIT_VERSION or unit.index >= unit.total:
            raise InvalidUnit(
                f"not a sweep unit (version {unit.version!r}, unit {unit.index} of {unit.total})"
            )
        return unit


def plan_units(sweep_id: str, accounts: Sequence[str], regions: Sequence[str]) -> list[Unit]:
    """Every account x region, in a stable order (accounts and regions deduplicated)."""
    pairs = [(a, r) for a in dict.fromkeys(accounts) for r in dict.fromkeys(regions)]
    return [
        Unit(sweep_id=sweep_id, index=i, total=len(pairs), account=a, region=r)
        for i, (a, r) in enumerate(pairs)
    ]


class Exposed(_Frozen):
    """One violating group, as the organization summary shows it."""

    account: str
    region: str
    group_id: str
    group_name: str | None = None
    severity: str
    violating: int
    public: int | None = None
    """Network interfaces with a public address using the group (None: exposure unknown)."""
    exposure: str = ""


class UnitResult(_Frozen):
    """What one unit found, small enough for one DynamoDB item whatever the account holds."""

    sweep_id: str
    index: int
    account: str
    region: str
    complete: bool
    totals: dict[str, int] = Field(default_factory=dict)
    worst: list[Exposed] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


_SEVERITY = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "INFORMATIONAL": 4}


def exposure_key(item: Exposed) -> tuple[int, int, int, str]:
    """Worst first: public interfaces, then severity, then how many rules break the baseline."""
    return (-(item.public or 0), _SEVERITY.get(item.severity, 5), -item.violating, item.group_id)


def digest(report: Any, unit: Unit) -> UnitResult:
    """A unit's sweep report (chalicelib.sweep.report.SweepReport) reduced to what the summary needs."""
    worst = []
    for group in report.groups:
        if not group.violating:
            continue
        exposure = group.exposure
        worst.append(
            Exposed(
                account=unit.account,
                region=unit.region,
                group_id=group.group_id,
                group_name=group.group_name,
                severity=group.severity or "INFORMATIONAL",
                violating=group.violating,
                public=exposure.public if exposure is not None and exposure.known else None,
                exposure=exposure.in_words() if exposure is not None else "",
            )
        )
    worst.sort(key=exposure_key)
    stopped = getattr(report, "stopped", None)
    return UnitResult(
        sweep_id=unit.sweep_id,
        index=unit.index,
        account=unit.account,
        region=unit.region,
        complete=bool(report.complete),
        totals={k: int(v) for k, v in report.totals.model_dump().items() if isinstance(v, int)},
        worst=worst[:WORST_PER_UNIT],
        errors=[*report.errors, *([stopped] if stopped else [])][:5],
    )


def failed_unit(unit: Unit, why: str) -> UnitResult:
    """The result of a unit that failed on its last attempt (it goes on to the dead-letter queue)."""
    return UnitResult(
        sweep_id=unit.sweep_id, index=unit.index, account=unit.account, region=unit.region,
        complete=False, errors=[why[:1000]],
    )  # fmt: skip


# --- the organization's summary ------------------------------------------------------------------------


def summary_document(sweep_id: str, total: int, results: Iterable[UnitResult]) -> dict[str, Any]:
    got = sorted(results, key=lambda r: r.index)
    per_account: dict[str, dict[str, int]] = {}
    for result in got:
        counts = per_account.setdefault(result.account, {"regions": 0, "incomplete": 0})
        counts["regions"] += 1
        counts["incomplete"] += 0 if result.complete else 1
        for name, value in result.totals.items():
            counts[name] = counts.get(name, 0) + value
    worst = sorted((e for r in got for e in r.worst), key=exposure_key)[:WORST_SHOWN]
    accounts = sorted(
        per_account.items(),
        key=lambda item: (-item[1].get("violating", 0), -item[1].get("failed", 0), item[0]),
    )
    incomplete = [r for r in got if not r.complete]
    return {
        "version": "sgguard.organization-sweep/1",
        "sweep_id": sweep_id,
        "units": total,
        "reported": len(got),
        "complete": len(got) == total and not incomplete,
        "totals": _sum(r.totals for r in got),
        "accounts": [{"account": a, **c} for a, c in accounts],
        "worst": [e.model_dump(mode="json") for e in worst],
        "incomplete": [{"account": r.account, "region": r.region, "errors": r.errors} for r in incomplete],
    }


def _sum(totals: Iterable[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in totals:
        for name, value in counts.items():
            out[name] = out.get(name, 0) + value
    return out


def summary_text(document: dict[str, Any]) -> str:
    t = document["totals"]
    lines = [
        f"sgguard organization sweep {document['sweep_id']}: {document['reported']} of {document['units']} "
        f"units (account x region) reported.",
        f"{t.get('violating', 0)} violating rules, {t.get('revoked', 0)} revoked, "
        f"{t.get('would_revoke', 0)} would be revoked, {t.get('failed', 0)} failed, "
        f"{t.get('not_judged', 0)} not judged, in {t.get('groups', 0)} groups.",
    ]
    if document["worst"]:
        lines += ["", "Worst exposures first:"]
        for e in document["worst"]:
            name = f" ({e['group_name']})" if e.get("group_name") else ""
            where = f"{e['account']} {e['region']}"
            lines.append(
                f"  {e['severity']:<8} {where} {e['group_id']}{name}: {e['violating']} violating rules"
                + (f"; {e['exposure']}" if e.get("exposure") else "")
            )
    lines += ["", "Per account (most violations first):"]
    for a in document["accounts"]:
        incomplete = f", {a['incomplete']} regions incomplete" if a["incomplete"] else ""
        lines.append(
            f"  {a['account']}: {a.get('violating', 0)} violating, {a.get('revoked', 0)} revoked, "
            f"{a.get('failed', 0)} failed in {a['regions']} regions{incomplete}"
        )
    missing = document["units"] - document["reported"]
    if document["incomplete"] or missing:
        lines += ["", "ACTION NEEDED: not every unit was swept completely:"]
        for item in document["incomplete"][:50]:
            lines.append(f"  {item['account']} {item['region']}: {'; '.join(item['errors']) or 'incomplete'}")
        if missing:
            lines.append(f"  {missing} units did not report (see the units' dead-letter queue)")
    return "\n".join(lines)


def render_summary(document: dict[str, Any]) -> Message:
    """The organization's one message, JSON-structured like every sgguard message."""
    t = document["totals"]
    action = "ACTION NEEDED, " if document["incomplete"] or document["reported"] < document["units"] else ""
    subject = (
        f"sgguard organization sweep: {action}{t.get('violating', 0)} violating rules in "
        f"{len(document['accounts'])} accounts"
    )[:SUBJECT_LIMIT]
    doc = dict(document)
    while True:
        doc_json = json.dumps(doc, separators=(",", ":"))
        body = json.dumps(
            {"default": summary_text(doc), "sqs": doc_json, "lambda": doc_json, "https": doc_json}
        )
        if len(body.encode()) <= MESSAGE_BUDGET or not (doc["accounts"] or doc["incomplete"]):
            break
        doc = {  # thousands of accounts: keep the worst, count the rest
            **doc,
            "accounts": doc["accounts"][: len(doc["accounts"]) // 2],
            "incomplete": doc["incomplete"][: len(doc["incomplete"]) // 2],
            "omitted": True,
        }
    attributes = {
        "severity": "CRITICAL" if action else ("HIGH" if t.get("violating") else "INFORMATIONAL"),
        "outcome": "violation" if t.get("violating") else "compliant",
        "kind": "organization-sweep",
    }
    return Message(subject=subject, body=body, attributes=attributes)
