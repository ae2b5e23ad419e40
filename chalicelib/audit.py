"""The audit record: one JSON line per decision on standard output, which Lambda sends to CloudWatch.

A plain line (no logging prefix) so that CloudWatch Logs Insights and metric filters read its fields
directly. Invalid events are logged in full next to the decision, so nothing sent to sgguard is lost.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from chalicelib.decision import Decision

_NO_EVENT: Any = object()


def log_decision(decision: Decision, raw_event: Any = _NO_EVENT, stream: TextIO | None = None) -> None:
    """``raw_event``, when given (even ``None``: what was delivered), is logged in full under ``event``."""
    record: dict[str, Any] = {"sgguard": "decision", **decision.to_json_dict()}
    if raw_event is not _NO_EVENT:
        record["event"] = raw_event
    out = stream or sys.stdout
    out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    out.flush()


def log_error(message: str, stream: TextIO | None = None, **fields: Any) -> None:
    out = stream or sys.stdout
    out.write(json.dumps({"sgguard": "error", "message": message, **fields}, default=str) + "\n")
    out.flush()
