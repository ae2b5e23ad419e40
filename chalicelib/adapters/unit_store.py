"""The organization sweep's progress in the idempotency table (no second store to deploy or grant).

One head item ``orgsweep#<id>`` (how many units, how many have reported) and one item per unit
``orgsweep#<id>#<index>`` holding its :class:`UnitResult`. A unit is counted once: its item is written
only if absent, and only that write adds one to the head. The unit whose report makes the count
reach the total is the one that sends the organization's summary. Everything expires by the TTL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters import clients
from chalicelib.adapters.ec2 import error_code, error_text
from chalicelib.org.units import UnitResult

RETENTION_SECONDS = 14 * 24 * 3600
_BATCH = 100  # BatchGetItem's limit


class StoreUnavailable(RuntimeError):
    pass


def _head(sweep_id: str) -> str:
    return f"orgsweep#{sweep_id}"


def _unit(sweep_id: str, index: int) -> str:
    return f"orgsweep#{sweep_id}#{index}"


@dataclass(frozen=True)
class UnitStore:
    table: str
    region: str | None = None

    def record(self, result: UnitResult, now: float | None = None) -> tuple[int, int] | None:
        """(reported, total) after counting this unit, or None when it had been counted already."""
        client = clients.dynamodb(self.region)
        expires = str(int((now or time.time()) + RETENTION_SECONDS))
        try:
            client.put_item(
                TableName=self.table,
                Item={
                    "event_id": {"S": _unit(result.sweep_id, result.index)},
                    "result": {"S": result.model_dump_json()},
                    "expires_at": {"N": expires},
                },
                ConditionExpression="attribute_not_exists(event_id)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return None
            raise StoreUnavailable(
                f"unit {result.index} could not be recorded: {error_text(error)}"
            ) from error
        except BotoCoreError as error:
            raise StoreUnavailable(
                f"unit {result.index} could not be recorded: {error_text(error)}"
            ) from error
        try:
            answer = client.update_item(
                TableName=self.table,
                Key={"event_id": {"S": _head(result.sweep_id)}},
                UpdateExpression="ADD reported :one",
                ConditionExpression="attribute_exists(event_id)",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"organization sweep {result.sweep_id}: {error_text(error)}") from error
        item = answer["Attributes"]
        return int(item["reported"]["N"]), int(item["total"]["N"])

    def head(self, sweep_id: str) -> tuple[int, int, bool] | None:
        """(reported, total, summary sent) of an organization sweep, None when unknown."""
        try:
            item = (
                clients.dynamodb(self.region)
                .get_item(TableName=self.table, Key={"event_id": {"S": _head(sweep_id)}}, ConsistentRead=True)
                .get("Item")
            )
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"organization sweep {sweep_id}: {error_text(error)}") from error
        if not item:
            return None
        return int(item["reported"]["N"]), int(item["total"]["N"]), "summarized" in item

    def summarized(self, sweep_id: str) -> bool:
        """Mark the summary sent; False when another invocation had marked it already."""
        try:
            clients.dynamodb(self.region).update_item(
                TableName=self.table,
                Key={"event_id": {"S": _head(sweep_id)}},
                UpdateExpression="SET summarized = :yes",
                ConditionExpression="attribute_exists(event_id) AND attribute_not_exists(summarized)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable(f"organization sweep {sweep_id}: {error_text(error)}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"organization sweep {sweep_id}: {error_text(error)}") from error
        return True

    def results(self, sweep_id: str, total: int) -> list[UnitResult]:
        """Every unit result recorded so far (a unit that never reported is absent)."""
        client = clients.dynamodb(self.region)
        found: list[UnitResult] = []
        keys = [{"event_id": {"S": _unit(sweep_id, i)}} for i in range(total)]
        try:
            for start in range(0, len(keys), _BATCH):
                pending: Any = {self.table: {"Keys": keys[start : start + _BATCH], "ConsistentRead": True}}
                while pending:
                    answer = client.batch_get_item(RequestItems=pending)
                    for item in answer.get("Responses", {}).get(self.table, []):
                        found.append(UnitResult.model_validate_json(item["result"]["S"]))
                    pending = answer.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"organization sweep {sweep_id}: {error_text(error)}") from error
        return sorted(found, key=lambda r: r.index)
