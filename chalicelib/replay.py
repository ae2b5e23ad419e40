"""Replay's core, shared by the command line and the HTTP routes: which events a JSON value holds,
which of them can be skipped without validating them, and the tally of what was decided.

A trail's log files are mostly other calls (RunInstances, Describe*, AssumeRole...): they are skipped
by looking at three fields, so replaying a month of activity costs a full validation only for the
few security-group rule changes. A record that *claims* to be a rule change is always validated, so
a malformed one becomes an ``invalid`` decision naming the field, never a silent skip.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.baseline import Baseline
from chalicelib.decision import Decision, Mode
from chalicelib.events import EC2_EVENT_SOURCE, RULE_CHANGE_EVENTS
from chalicelib.messages import kind
from chalicelib.pipeline import AwsPort, Connect, process

Skip = Literal["refused call", "not a rule change"]
SHAPES = 'an EventBridge event, a CloudTrail record or a trail log file {"Records": [...]}'


class ShapeError(ValueError):
    """A JSON value that is none of the shapes replay reads."""


def events_in(value: Any) -> Iterator[tuple[int | None, Any]]:
    """The events of one decoded JSON value: a log file's records (with their index), or the value."""
    if not isinstance(value, Mapping):
        raise ShapeError(f"expected {SHAPES}, found {kind(value)}")
    if "Records" in value:
        records = value["Records"]
        if not isinstance(records, list):
            raise ShapeError(f"Records: expected a list of CloudTrail records, found {kind(records)}")
        yield from enumerate(records)
        return
    if "detail" not in value and "eventName" not in value and "eventSource" not in value:
        raise ShapeError(f"expected {SHAPES}; this object has none of detail, eventName, Records")
    yield None, value


def skip_reason(raw: Any) -> Skip | None:
    """Why an event cannot be a rule change, read from three fields; None means validate it fully."""
    if not isinstance(raw, Mapping):
        return None
    detail = raw.get("detail", raw)
    if not isinstance(detail, Mapping):
        return None
    name = detail.get("eventName")
    if not isinstance(name, str):
        return None
    source = detail.get("eventSource")
    if name not in RULE_CHANGE_EVENTS or (isinstance(source, str) and source != EC2_EVENT_SOURCE):
        return "not a rule change"
    if detail.get("errorCode"):
        return "refused call"
    return None


def judge(
    raw: Any,
    baseline: Baseline,
    mode: Mode,
    aws: AwsPort | None,
    member_role: str | None = None,
    connect: Connect | None = None,
) -> Decision | Skip:
    """A decision for a rule change, or why the event was skipped (``member_role``: organization mode;
    ``connect``: the AWS port for an event's region when ``aws`` is None, read-only unless given one
    that may revoke)."""
    return skip_reason(raw) or process(raw, baseline, mode, aws, member_role=member_role, connect=connect)


def tune_garbage_collector() -> None:
    """A replay makes millions of short-lived, acyclic objects (one event's models and decision at a
    time), which reference counting frees; the cyclic collector would otherwise rescan the long-lived
    modules, models and baseline hundreds of times for nothing (measured: about a fifth of the run).
    Freeze what exists now and collect the young generation less often; memory stays bounded because
    nothing from one event outlives it. Called by the replaying process and by each worker."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@dataclass
class Tally:
    """What a replay read and decided, for the summary line and the HTTP answer."""

    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations_by_control: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0

    def add(self, result: Decision | Skip) -> None:
        self.read += 1
        if isinstance(result, str):
            self.skipped[result] += 1
            return
        self.outcomes[result.outcome] += 1
        for finding in result.findings:
            self.violations_by_control.update(finding.controls)

    def merge(self, other: Tally) -> None:
        """Add what another process tallied (a parallel replay's piece of the input)."""
        self.read += other.read
        self.skipped.update(other.skipped)
        self.outcomes.update(other.outcomes)
        self.violations_by_control.update(other.violations_by_control)
        self.unreadable += other.unreadable

    @property
    def invalid(self) -> int:
        return self.outcomes["invalid"] + self.unreadable

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "events_read": self.read,
            "skipped": self.skipped.total(),
            "skipped_by_reason": dict(self.skipped),
            "compliant": self.outcomes["compliant"],
            "violations": self.outcomes["violation"],
            "violations_by_control": dict(sorted(self.violations_by_control.items())),
            "ignored": self.outcomes["ignored"],
            "invalid": self.outcomes["invalid"],
            "unreadable_inputs": self.unreadable,
        }

    def text(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        controls = ", ".join(f"{c} {n}" for c, n in sorted(self.violations_by_control.items()))
        lines = [
            f"events read   {self.read}",
            f"skipped       {self.skipped.total()}" + (f" ({skipped})" if skipped else ""),
            f"compliant     {self.outcomes['compliant']}",
            f"violations    {self.outcomes['violation']}"
            + (f" (rules by control: {controls})" if controls else ""),
            f"invalid       {self.outcomes['invalid']}"
            + (f" (+{self.unreadable} unreadable inputs or records)" if self.unreadable else ""),
        ]
        if self.outcomes["ignored"]:
            lines.append(f"ignored       {self.outcomes['ignored']}")
        return "\n".join(lines)
