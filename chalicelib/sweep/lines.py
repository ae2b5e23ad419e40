"""A sweep's audit lines in CloudWatch Logs: one ``sweep-finding`` line per violating rule as it is judged,
then ``sweep-group`` and ``sweep`` lines. Shared by the scheduled sweep and the organization sweep's units
(chalicelib/org/unit_sweep.py), which must not reach what only the scheduled sweep calls.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TextIO

from chalicelib.sweep.report import SweepFinding, SweepReport


def finding_logger(
    sweep_id: str, account: str | None, region: str | None, stream: TextIO | None = None
) -> Callable[[SweepFinding], None]:
    """The audit line of each violating rule, written as it is judged (and revoked): every rule is
    in the log in full, whatever the report and the message keep."""
    head = {"sweep_id": sweep_id, "account": account, "region": region}

    def log(finding: SweepFinding) -> None:
        out = stream or sys.stdout
        record = {"sgguard": "sweep-finding", **head, **finding.model_dump(mode="json")}
        out.write(json.dumps(record, separators=(",", ":")) + "\n")

    return log


def log_report(report: SweepReport, stream: TextIO | None = None) -> None:
    """The rest of the audit lines (the findings were logged as they were judged): one
    ``sweep-group`` per group worth reporting (exposure, exempted, not judged) and one ``sweep``
    line with the counts. CloudWatch caps a line at 256 KB: no line holds a list that grows with
    the rules."""
    out = stream or sys.stdout
    head = {"sweep_id": report.sweep_id, "account": report.account, "region": report.region}
    for group in report.groups:
        described = group.model_dump(mode="json", exclude={"findings"})
        out.write(json.dumps({"sgguard": "sweep-group", **head, **described}, separators=(",", ":")) + "\n")
    counts = report.model_dump(mode="json", exclude={"groups"})
    out.write(json.dumps({"sgguard": "sweep", **counts}, separators=(",", ":")) + "\n")
    out.flush()
