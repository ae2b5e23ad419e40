"""EventBridge: PutEvents on the default bus, at most 10 entries and 256 KB a call; entries the
response reports as failed are sent once more, and what still fails is returned for the log."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chalicelib.adapters import clients

ENTRIES_PER_CALL = 10
REQUEST_LIMIT = 256 * 1024


def _calls(
    entries: Sequence[dict[str, Any]], size: Callable[[dict[str, Any]], int]
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    used = 0
    for item in entries:
        cost = size(item)
        if batch and (len(batch) == ENTRIES_PER_CALL or used + cost > REQUEST_LIMIT):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += cost
    if batch:
        yield batch


def _put(batch: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    response = clients.events().put_events(Entries=batch)  # type: ignore[arg-type]
    failed = []
    for sent, result in zip(batch, response.get("Entries", []), strict=False):
        if result.get("ErrorCode"):
            failed.append((sent, f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}"))
    return failed


def put(
    entries: Sequence[dict[str, Any]], size: Callable[[dict[str, Any]], int]
) -> list[tuple[dict[str, Any], str]]:
    """Put the entries; the ones that still failed after one more try, with AWS's reason. A call that
    fails as a whole raises (ClientError, BotoCoreError): the caller logs it."""
    failed = [f for batch in _calls(entries, size) for f in _put(batch)]
    if not failed:
        return []
    again = [sent for sent, _ in failed]
    return [f for batch in _calls(again, size) for f in _put(batch)]
