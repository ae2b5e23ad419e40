"""Fitting a decision into a size limit: keep the most severe findings, say how many were left out.

Every output has a limit (EventBridge 256 KB an entry, Security Hub 240 KB a finding, a chat message a
few thousand characters), and an event may carry a thousand rules. The audit log always has them all.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.baseline import SEVERITY_ORDER
from chalicelib.decision import Decision


def most_severe_first(decision: Decision) -> Decision:
    ordered = sorted(decision.findings, key=lambda f: -SEVERITY_ORDER[f.severity])
    return decision.model_copy(update={"findings": ordered})


def keep(decision: Decision, count: int) -> Decision:
    """The decision with only its first ``count`` findings (most severe first), the rest counted."""
    ordered = most_severe_first(decision).findings
    omitted = decision.findings_omitted + len(ordered) - count
    return decision.model_copy(update={"findings": ordered[:count], "findings_omitted": omitted})


def fit(decision: Decision, size: Callable[[Decision], int], budget: int) -> Decision:
    """The largest copy of ``decision`` whose ``size`` is within ``budget``: the least severe findings
    go first; if even none fits, the lists beside them (not judged, exempted) go too."""
    if size(decision) <= budget:
        return decision
    low, high = 0, len(decision.findings)
    while low < high:  # the size grows with each finding kept: binary search for the largest count
        middle = (low + high + 1) // 2
        if size(keep(decision, middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    trimmed = keep(decision, low)
    if size(trimmed) > budget:
        trimmed = trimmed.model_copy(update={"not_judged": [], "exempted": [], "exemptions_expired": []})
    return trimmed
