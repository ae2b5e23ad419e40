"""What an earlier attempt at the same event did, carried into the retry's decision.

A retry after a failed notification finds the rules it revoked already absent; without this, the
message that finally goes out would say "already gone" and hide that sgguard itself revoked them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.decision import ActionResult


@dataclass(frozen=True, slots=True)
class Earlier:
    actions: Mapping[str, str] = field(default_factory=dict)
    """rule id -> the action the earlier attempt decided."""
    attempt: int = 1
    at: str = ""


def merge(results: Mapping[str, ActionResult], earlier: Earlier | None) -> dict[str, ActionResult]:
    """A rule this attempt finds absent that the earlier attempt revoked was revoked, by sgguard."""
    merged = dict(results)
    if earlier is None:
        return merged
    which = "the first attempt" if earlier.attempt == 1 else f"attempt {earlier.attempt}"
    for rule_id, action in earlier.actions.items():
        now = merged.get(rule_id)
        if action == "revoked" and now is not None and now.action == "already-absent":
            note = f"revoked on {which} at this event ({earlier.at}); its message is sent by this retry"
            merged[rule_id] = ActionResult("revoked", note=note)
    return merged
