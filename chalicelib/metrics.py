"""CloudWatch embedded metric format: metrics as log lines, so alarms need no log parsing and no
PutMetricData call (and no permission for one).

Per decision: one line per control the decision names (dimensions ``control`` and ``account``) and
one line with ``control`` = ``ALL`` counting the decision as a whole, written even for compliant events
so that an alarm on ``Failures`` or ``InvalidEvents`` sees zeros rather than missing data.

``SilentInvalidEvents`` counts the events that claimed to be a rule change but named no group, and so
told nobody (the deploy templates alarm on it, over every account).
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from chalicelib.decision import Decision

NAMESPACE = "sgguard"
METRICS = ("Violations", "Revocations", "Failures", "InvalidEvents", "SilentInvalidEvents")
ALL_CONTROLS = "ALL"


def _line(control: str, account: str, counts: dict[str, int], now_ms: int) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["control", "account"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRICS],
                }
            ],
        },
        "control": control,
        "account": account,
        **{name: counts.get(name, 0) for name in METRICS},
    }


def lines(decision: Decision, now_ms: int) -> list[dict[str, Any]]:
    account = decision.account or "unknown"
    total = {
        "Violations": len(decision.findings),
        "Revocations": sum(f.action == "revoked" and f.note is None for f in decision.findings),
        "Failures": sum(f.action == "failed" for f in decision.findings),
        "InvalidEvents": int(decision.outcome == "invalid"),
        "SilentInvalidEvents": int(decision.outcome == "invalid" and not decision.needs_message),
    }
    out = [_line(ALL_CONTROLS, account, total, now_ms)]
    for control in sorted({c for f in decision.findings for c in f.controls}):
        hit = [f for f in decision.findings if control in f.controls]
        counts = {
            "Violations": len(hit),
            "Revocations": sum(f.action == "revoked" and f.note is None for f in hit),
            "Failures": sum(f.action == "failed" for f in hit),
        }
        out.append(_line(control, account, counts, now_ms))
    return out


def write(decision: Decision, now_ms: int, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    for line in lines(decision, now_ms):
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
    out.flush()
