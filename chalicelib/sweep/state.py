"""What a sweep remembers between runs: the previous complete sweep (to tell what is new) and, while a
sweep is split across invocations, its progress (the cursor and the report so far).

Kept in the idempotency table that the event path already uses (no second store to deploy or grant):
one head item ``sweep#<account>#<region>`` and the state itself, zlib-compressed JSON, cut into
chunk items of at most 350 KB (DynamoDB's item limit is 400 KB), keyed by a generation so that a
reader never mixes two writes: chunks are written first, the head that names them last. Old
generations expire by the table's TTL. 100,000 violating rule ids take about 1.2 MB compressed:
four chunks. The report carried between parts is trimmed to what a summary can show (see
summary.trim), so a split sweep's state stays small too.

A state that cannot be read is not a reason to skip the sweep: the sweep runs as a first one (every
violation "new") and the summary says why.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.sweep.report import Previous, SweepReport

CHUNK_BYTES = 350_000
RETENTION_SECONDS = 90 * 24 * 3600
"""The head and its chunks expire when no sweep has run for 90 days."""


class StateUnavailable(RuntimeError):
    """The state could not be read or written (table missing, access denied, throttled, corrupt)."""


class SweepState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    last: Previous | None = None
    last_ids: list[str] = []
    """The rule ids that violated at the last complete sweep."""
    partial: SweepReport | None = None
    """A sweep split across invocations: its report so far (``cursor`` says where to resume)."""
    partial_ids: list[str] = []


def encode(state: SweepState) -> bytes:
    return zlib.compress(state.model_dump_json().encode(), 6)


def decode(blob: bytes) -> SweepState:
    try:
        return SweepState.model_validate_json(zlib.decompress(blob))
    except (zlib.error, ValidationError, ValueError) as error:
        raise StateUnavailable(f"the stored sweep state is unreadable ({type(error).__name__})") from None


def chunks(blob: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob), size)] or [b""]


class StateStore(Protocol):
    @property
    def description(self) -> str: ...

    def load(self, key: str) -> SweepState | None: ...
    def save(self, key: str, state: SweepState, now: float) -> None: ...


def state_key(account: str | None, region: str | None) -> str:
    return f"sweep#{account or 'unknown'}#{region or 'unknown'}"


@dataclass
class MemoryStateStore:
    """The same state in the container's memory (no IDEMPOTENCY_TABLE): every cold start is a first sweep."""

    description: str = "this container's memory (IDEMPOTENCY_TABLE is not set)"
    blobs: dict[str, bytes] = field(default_factory=dict)

    def load(self, key: str) -> SweepState | None:
        blob = self.blobs.get(key)
        return None if blob is None else decode(blob)

    def save(self, key: str, state: SweepState, now: float) -> None:
        self.blobs[key] = encode(state)


_memory = MemoryStateStore()


def memory_store() -> MemoryStateStore:
    return _memory


@dataclass(frozen=True)
class DynamoStateStore:
    """Head item ``key`` {generation, chunks}, chunk items ``key#<generation>#<n>`` {blob}; the
    table's partition key is ``event_id`` (S) and its TTL attribute ``expires_at``."""

    table: str
    region: str | None = None

    @property
    def description(self) -> str:
        return f"DynamoDB table {self.table}"

    def _client(self) -> Any:
        from chalicelib.adapters import clients

        return clients.dynamodb(self.region)

    def _get(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            item = self._client().get_item(
                TableName=self.table, Key={"event_id": {"S": key}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise StateUnavailable(f"{self.description}: {error}") from error
        found: dict[str, Any] | None = item.get("Item")
        return found

    def _put(self, item: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client().put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as error:
            raise StateUnavailable(f"{self.description}: {error}") from error

    def _delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client().delete_item(TableName=self.table, Key={"event_id": {"S": key}})
        except (ClientError, BotoCoreError) as error:
            raise StateUnavailable(f"{self.description}: {error}") from error

    def load(self, key: str) -> SweepState | None:
        head = self._get(key)
        if not head:
            return None
        generation, count = head["generation"]["S"], int(head["chunks"]["N"])
        parts = []
        for n in range(count):
            item = self._get(f"{key}#{generation}#{n}")
            if not item:
                raise StateUnavailable(
                    f"{self.description}: chunk {n} of sweep state {generation} is missing"
                )
            parts.append(bytes(item["blob"]["B"]))
        return decode(b"".join(parts))

    def save(self, key: str, state: SweepState, now: float) -> None:
        """Chunks of a new generation first, then the head naming them, then the old chunks go
        (best effort: the TTL removes any left behind)."""
        from datetime import UTC, datetime

        from chalicelib.sweep.shell import new_sweep_id  # a time-ordered unique id

        old = self._get(key)
        generation = new_sweep_id(datetime.fromtimestamp(now, UTC))
        parts = chunks(encode(state))
        expires = {"N": str(int(now) + RETENTION_SECONDS)}
        for n, part in enumerate(parts):
            self._put(
                {"event_id": {"S": f"{key}#{generation}#{n}"}, "blob": {"B": part}, "expires_at": expires}
            )
        self._put(
            {
                "event_id": {"S": key},
                "generation": {"S": generation},
                "chunks": {"N": str(len(parts))},
                "expires_at": expires,
            }
        )
        if old:
            for n in range(int(old["chunks"]["N"])):
                try:
                    self._delete(f"{key}#{old['generation']['S']}#{n}")
                except StateUnavailable:
                    break
