"""The idempotency record's states and conditional writes, the same for DynamoDB (moto) and memory."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import clients
from chalicelib.adapters.ledger import DynamoLedger
from chalicelib.decision import ActionResult
from chalicelib.idempotency import LEASE_SECONDS, Ledger, LedgerUnavailable, MemoryLedger
from chalicelib.redelivery import Earlier, merge
from tests.conftest import REGION

NOW = 1_800_000_000.0


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    with mock_aws():
        clients.reset()
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="events",
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoLedger("events", REGION)
        clients.reset()


def test_first_claim_is_fresh_and_a_concurrent_one_is_busy(ledger: Ledger) -> None:
    first = ledger.claim("e1", NOW)
    second = ledger.claim("e1", NOW + 1)
    assert first.kind == "fresh"
    assert first.attempt == 1
    assert second.kind == "busy"
    assert second.holder_since == "2027-01-15T08:00:00Z"
    assert ledger.claim("e2", NOW).kind == "fresh"  # another event is independent


def test_decided_then_released_is_a_retry_that_knows_what_was_revoked(ledger: Ledger) -> None:
    first = ledger.claim("e1", NOW)
    ledger.decided(first, {"sgr-1": "revoked", "sgr-2": "failed"}, NOW + 2)
    ledger.release(first)

    retry = ledger.claim("e1", NOW + 60)

    assert retry.kind == "retry"
    assert retry.attempt == 2
    assert retry.earlier == Earlier({"sgr-1": "revoked", "sgr-2": "failed"}, 1, "2027-01-15T08:00:02Z")


def test_notified_events_are_duplicates_for_ever(ledger: Ledger) -> None:
    first = ledger.claim("e1", NOW)
    ledger.decided(first, {"sgr-1": "revoked"}, NOW)
    ledger.notified(first, NOW)
    for later in (NOW + 1, NOW + 10 * LEASE_SECONDS):
        claim = ledger.claim("e1", later)
        assert claim.kind == "duplicate"
        assert claim.earlier is not None
        assert claim.earlier.actions == {"sgr-1": "revoked"}


def test_a_dead_holders_lease_expires_and_its_late_writes_change_nothing(ledger: Ledger) -> None:
    dead = ledger.claim("e1", NOW)
    assert ledger.claim("e1", NOW + LEASE_SECONDS - 1).kind == "busy"
    successor = ledger.claim("e1", NOW + LEASE_SECONDS + 1)
    assert successor.kind == "retry"
    assert successor.earlier is None  # the dead one decided nothing

    ledger.notified(dead, NOW + LEASE_SECONDS + 2)  # too late: the token is no longer its own
    assert ledger.claim("e1", NOW + LEASE_SECONDS + 3).kind == "busy"  # the successor still holds it
    ledger.notified(successor, NOW + LEASE_SECONDS + 4)
    assert ledger.claim("e1", NOW + LEASE_SECONDS + 5).kind == "duplicate"


def test_only_one_of_many_racing_claims_wins(ledger: Ledger) -> None:
    kinds = [ledger.claim("race", NOW).kind for _ in range(5)]
    assert kinds == ["fresh", "busy", "busy", "busy", "busy"]


def test_a_missing_table_is_reported_as_unavailable() -> None:
    with mock_aws():
        clients.reset()
        with pytest.raises(LedgerUnavailable, match="DynamoDB table nowhere"):
            DynamoLedger("nowhere", REGION).claim("e1", NOW)
        clients.reset()


def test_merge_restores_only_what_the_earlier_attempt_revoked() -> None:
    now = {
        "sgr-1": ActionResult("already-absent"),
        "sgr-2": ActionResult("already-absent"),
        "sgr-3": ActionResult("revoked"),
    }
    earlier = Earlier({"sgr-1": "revoked", "sgr-2": "already-absent"}, 1, "T")
    merged = merge(now, earlier)
    assert merged["sgr-1"].action == "revoked"
    assert merged["sgr-1"].note is not None
    assert "revoked on the first attempt" in merged["sgr-1"].note
    assert merged["sgr-2"] == ActionResult("already-absent")
    assert merged["sgr-3"] == ActionResult("revoked")
    assert merge(now, None) == now
    assert "attempt 2" in str(merge(now, Earlier({"sgr-1": "revoked"}, 2, "T"))["sgr-1"].note)
