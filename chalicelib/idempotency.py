"""One record per event id, so that duplicates and retries are told apart.

EventBridge delivers at least once, and Lambda retries a failed invocation. The record's state says
what happened to an event before:

- none: a ``fresh`` event; act and notify;
- ``in-progress`` with a live lease: another invocation holds it (``busy``); raise, so Lambda tries
  again after it finished (a lease outlives the function's timeout, so a crashed holder expires);
- ``decided`` (rules revoked, the message not sent) or an expired ``in-progress``: a ``retry``; act
  again (the revoked rules are now absent) and send the message, saying what the earlier attempt did;
- ``notified``: a ``duplicate``; act again (finding everything absent) and send nothing.

Claims and updates are conditional writes carrying a token, so that of two concurrent deliveries only
one holds the event, and a holder whose lease expired cannot overwrite its successor's record.
The DynamoDB ledger lives in adapters/ledger.py; without a table, :class:`MemoryLedger` keeps the
same record in the container's memory (duplicates that reach other containers are not recognised).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from chalicelib.redelivery import Earlier

ClaimKind = Literal["fresh", "retry", "duplicate", "busy"]
State = Literal["in-progress", "decided", "notified"]

LEASE_SECONDS = 90
"""Longer than the function's timeout (60 s in .chalice/config.json): only a dead holder's lease expires."""
RETENTION_SECONDS = 7 * 24 * 3600
"""Records expire (DynamoDB TTL) long after EventBridge stops retrying (24 hours at most)."""
DELIVERY_ATTEMPTS = 3
"""Lambda's first attempt plus MaximumRetryAttempts=2 (the deploy template's EventInvokeConfig)."""


@dataclass(frozen=True, slots=True)
class Claim:
    kind: ClaimKind
    event_id: str
    token: str
    attempt: int = 1
    earlier: Earlier | None = None
    holder_since: str | None = None


class LedgerUnavailable(RuntimeError):
    """The table could not be read or written (missing, access denied, throttled)."""


class Ledger(Protocol):
    @property
    def description(self) -> str: ...

    def claim(self, event_id: str, now: float) -> Claim: ...
    def decided(self, claim: Claim, actions: Mapping[str, str], now: float) -> None: ...
    def notified(self, claim: Claim, now: float) -> None: ...
    def release(self, claim: Claim) -> None: ...


def iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_token() -> str:
    return uuid.uuid4().hex


def claim_from_previous(event_id: str, token: str, previous: Mapping[str, Any] | None) -> Claim:
    """What a successful claim means, given the record as it was before it (None: there was none)."""
    if not previous:
        return Claim("fresh", event_id, token)
    attempt = int(previous.get("attempts", 0)) + 1
    if previous.get("state") == "decided":
        return Claim("retry", event_id, token, attempt, earlier_of(previous))
    return Claim("retry", event_id, token, attempt)  # an in-progress holder that died


def refusal(event_id: str, current: Mapping[str, Any] | None) -> Claim:
    """What a refused claim means, given the record that refused it."""
    current = current or {}
    if current.get("state") == "notified":
        return Claim("duplicate", event_id, "", int(current.get("attempts", 1)), earlier_of(current))
    return Claim(
        "busy", event_id, "", int(current.get("attempts", 1)), holder_since=current.get("claimed_at")
    )


def earlier_of(record: Mapping[str, Any]) -> Earlier:
    return Earlier(
        actions=dict(record.get("actions") or {}),
        attempt=int(record.get("decided_attempt", 1)),
        at=str(record.get("decided_at", "")),
    )


@dataclass
class MemoryLedger:
    """The same records in this container's memory: enough for retries that land on the same warm
    container, blind to duplicates delivered to another one. Bounded, oldest forgotten first."""

    description: str = "this container's memory (IDEMPOTENCY_TABLE is not set)"
    limit: int = 10_000
    records: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    def claim(self, event_id: str, now: float) -> Claim:
        previous = self.records.get(event_id)
        if previous is not None and (previous["state"] == "notified" or previous["lease_until"] >= now):
            return refusal(event_id, previous)
        token = new_token()
        record = dict(previous or {"state": "in-progress", "attempts": 0})
        record.update(token=token, lease_until=now + LEASE_SECONDS, claimed_at=iso(now))
        record["attempts"] += 1
        self.records[event_id] = record
        self.records.move_to_end(event_id)
        while len(self.records) > self.limit:
            self.records.popitem(last=False)
        return claim_from_previous(event_id, token, previous)

    def _mine(self, claim: Claim) -> dict[str, Any] | None:
        record = self.records.get(claim.event_id)
        return record if record is not None and record["token"] == claim.token else None

    def decided(self, claim: Claim, actions: Mapping[str, str], now: float) -> None:
        record = self._mine(claim)
        if record is not None:
            record.update(
                state="decided", actions=dict(actions), decided_at=iso(now), decided_attempt=claim.attempt
            )

    def notified(self, claim: Claim, now: float) -> None:
        record = self._mine(claim)
        if record is not None:
            record.update(state="notified", lease_until=0, notified_at=iso(now))

    def release(self, claim: Claim) -> None:
        record = self._mine(claim)
        if record is not None:
            record["lease_until"] = 0


_memory = MemoryLedger()


def memory_ledger() -> MemoryLedger:
    """The container's one memory ledger (it lives as long as the warm container)."""
    return _memory
