"""The EventBridge custom event: the decision document as ``detail`` on the account's default bus.

Ticketing and SOAR tools route it with an ordinary rule, e.g. ``{"source": ["sgguard"],
"detail-type": ["Security Group Rule Revocation Failed"]}``. An entry is at most 256 KB (Time, Source,
DetailType, Detail and Resources counted in UTF-8 bytes, as AWS documents), so a decision with a
thousand findings keeps its most severe ones and says in ``findings_omitted`` how many it left out.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.decision import Decision
from chalicelib.notify import headline_action
from chalicelib.outputs.fit import fit

SOURCE = "sgguard"
ENTRY_LIMIT = 256 * 1024
ENTRY_BUDGET = ENTRY_LIMIT - 2048
"""Bytes for an entry, with room to spare for the Time field and rounding."""

DETAIL_TYPES = {
    "failed": "Security Group Rule Revocation Failed",
    "revoked": "Security Group Rule Revoked",
    "already-absent": "Security Group Rule Revoked",
    "would-revoke": "Security Group Rule Would Be Revoked",
    "reported": "Security Group Rule Violation Reported",
    "already-fixed": "Security Group Rule Violation Reported",
}
"""One detail-type per outcome of a violation, named by what matters most in it (a failure first)."""


def detail_type(decision: Decision) -> str:
    return DETAIL_TYPES.get(headline_action(decision), "Security Group Rule Violation Reported")


def group_arn(decision: Decision) -> str | None:
    if not (decision.group_id and decision.account and decision.region):
        return None
    return f"arn:aws:ec2:{decision.region}:{decision.account}:security-group/{decision.group_id}"


def _entry(decision: Decision) -> dict[str, Any]:
    arn = group_arn(decision)
    return {
        "Source": SOURCE,
        "DetailType": detail_type(decision),
        "Detail": json.dumps(decision.to_json_dict(), separators=(",", ":"), ensure_ascii=False),
        "Resources": [arn] if arn else [],
    }


def entry_size(entry: dict[str, Any]) -> int:
    """The entry's size as EventBridge counts it."""
    size = 14 if "Time" in entry else 0
    size += sum(len(str(entry[key]).encode()) for key in ("Source", "DetailType", "Detail"))
    return size + sum(len(r.encode()) for r in entry.get("Resources", []))


def entry(decision: Decision) -> dict[str, Any]:
    """The PutEvents entry for a violating decision, within EventBridge's 256 KB."""
    fitted = fit(decision, lambda d: entry_size(_entry(d)), ENTRY_BUDGET)
    return _entry(fitted)
