"""The idempotency record in DynamoDB: conditional writes, one item per event id, expired by TTL.

Direct conditional writes rather than AWS Lambda Powertools' idempotency utility: sgguard needs four
states (in-progress, decided, notified, and a released lease) and the earlier attempt's actions inside
the record, where Powertools stores one function result per key and replays it, which would skip the
message a retry must still send. Four small calls are less to package and audit than a framework.

Table: partition key ``event_id`` (S), TTL attribute ``expires_at`` (.chalice/deploy/*.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import error_code
from chalicelib.idempotency import (
    LEASE_SECONDS,
    RETENTION_SECONDS,
    Claim,
    LedgerUnavailable,
    claim_from_previous,
    iso,
    new_token,
    refusal,
)

_REFUSED = "ConditionalCheckFailedException"


def _plain(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A DynamoDB item (typed attribute values) as plain values; only the types the ledger writes."""
    if not item:
        return None
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            out[name] = float(value["N"])
        elif "M" in value:
            out[name] = {k: v.get("S") for k, v in value["M"].items()}
    return out


@dataclass(frozen=True)
class DynamoLedger:
    table: str
    region: str | None = None

    @property
    def description(self) -> str:
        return f"DynamoDB table {self.table}"

    def _update(
        self, event_id: str, expression: str, condition: str, values: dict[str, Any], **extra: Any
    ) -> Any:
        try:
            return clients.dynamodb(self.region).update_item(
                TableName=self.table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    name: name[1:] for name in ("#state", "#token") if name in expression + condition
                },
                ExpressionAttributeValues=values,
                **extra,
            )
        except ClientError as error:
            if error_code(error) == _REFUSED:
                raise
            raise LedgerUnavailable(f"{self.description}: {error}") from error
        except BotoCoreError as error:
            raise LedgerUnavailable(f"{self.description}: {error}") from error

    def claim(self, event_id: str, now: float) -> Claim:
        token = new_token()
        try:
            response = self._update(
                event_id,
                "SET #token = :token, lease_until = :lease, expires_at = :ttl, claimed_at = :at, "
                "#state = if_not_exists(#state, :in_progress) ADD attempts :one",
                "attribute_not_exists(event_id) OR (#state <> :notified AND lease_until < :now)",
                {
                    ":token": {"S": token},
                    ":lease": {"N": str(int(now) + LEASE_SECONDS)},
                    ":ttl": {"N": str(int(now) + RETENTION_SECONDS)},
                    ":at": {"S": iso(now)},
                    ":in_progress": {"S": "in-progress"},
                    ":one": {"N": "1"},
                    ":notified": {"S": "notified"},
                    ":now": {"N": str(int(now))},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            return refusal(event_id, _plain(error.response.get("Item")))  # type: ignore[arg-type]
        return claim_from_previous(event_id, token, _plain(response.get("Attributes")))

    def _as_holder(self, claim: Claim, expression: str, values: dict[str, Any]) -> None:
        """An update only the claim's holder may make; a holder that lost its lease changes nothing."""
        try:
            self._update(
                claim.event_id, expression, "#token = :token", {":token": {"S": claim.token}, **values}
            )
        except ClientError:
            return  # ConditionalCheckFailed: a successor took over the event

    def decided(self, claim: Claim, actions: Mapping[str, str], now: float) -> None:
        self._as_holder(
            claim,
            "SET #state = :decided, actions = :actions, decided_at = :at, decided_attempt = :attempt",
            {
                ":decided": {"S": "decided"},
                ":actions": {"M": {rule_id: {"S": action} for rule_id, action in actions.items()}},
                ":at": {"S": iso(now)},
                ":attempt": {"N": str(claim.attempt)},
            },
        )

    def notified(self, claim: Claim, now: float) -> None:
        self._as_holder(
            claim,
            "SET #state = :notified, lease_until = :zero, notified_at = :at",
            {":notified": {"S": "notified"}, ":zero": {"N": "0"}, ":at": {"S": iso(now)}},
        )

    def release(self, claim: Claim) -> None:
        self._as_holder(claim, "SET lease_until = :zero", {":zero": {"N": "0"}})
