"""The organization's sweep, producer side: the scheduled function (``SWEEP_SCOPE=organization``) lists
the organization's accounts and the regions in scope, records the sweep, and sends one SQS message per
account and region (chalicelib/org/unit_sweep.py sweeps each). With ``SWEEP_SCOPE=account`` (the
default) the scheduled function sweeps its own account and region (chalicelib/sweep/scheduled.py).

Nothing here loops over the accounts' security groups: AWS's machinery does the work in parallel (one
Lambda invocation per message, up to SWEEP_CONCURRENCY at once), and the queue's redrive policy catches a
unit that keeps failing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib import audit
from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable
from chalicelib.org.scope import OrgSweepSettings
from chalicelib.org.units import Unit, plan_units
from chalicelib.settings import ConfigError, Settings

_SEND_BATCH = 10  # SendMessageBatch's limit
RETENTION_SECONDS = 14 * 24 * 3600


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def scheduled(context: LambdaContext | None) -> dict[str, Any]:
    """The scheduled sweep: this account and region, or (SWEEP_SCOPE=organization) the organization's."""
    if OrgSweepSettings.from_env().scope == "organization":
        return start(context)
    from chalicelib.sweep.scheduled import sweep_now

    return sweep_now(context)


def start(context: LambdaContext | None, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """List the accounts and regions, record the sweep, send its units. Raises (so the function's
    Errors alarm fires) when the accounts cannot be listed or the units cannot be sent."""
    from chalicelib.adapters import caller, clients, organization
    from chalicelib.sweep.shell import new_sweep_id

    settings, scope = Settings.from_env(), OrgSweepSettings.from_env()
    if scope.queue is None:
        raise ConfigError("SWEEP_SCOPE=organization needs SWEEP_UNITS_QUEUE (the queue of units)")
    if settings.idempotency_table is None:
        raise ConfigError(
            "the organization sweep needs IDEMPOTENCY_TABLE: it gathers the units' results there"
        )
    try:
        accounts = list(scope.accounts or organization.active_accounts())
        if scope.regions:
            regions = list(scope.regions)
        elif scope.all_enabled_regions:
            regions = caller.enabled_regions()
        else:
            regions = [r for r in (_region(),) if r]
    except (AwsUnavailable, AwsBusy, caller.NotAsked) as error:
        audit.log_error(f"organization sweep not started: could not list accounts or regions: {error}")
        raise
    if not accounts or not regions:
        raise ConfigError("the organization sweep found no account or no region to sweep")
    now = clock()
    sweep_id = new_sweep_id(datetime.fromtimestamp(now, UTC))
    units = plan_units(sweep_id, accounts, regions)
    clients.dynamodb().put_item(  # the head the units count themselves into (adapters/unit_store.py)
        TableName=settings.idempotency_table,
        Item={
            "event_id": {"S": f"orgsweep#{sweep_id}"},
            "total": {"N": str(len(units))},
            "reported": {"N": "0"},
            "expires_at": {"N": str(int(now + RETENTION_SECONDS))},
        },
    )
    sqs = clients.sqs()
    url = sqs.get_queue_url(QueueName=scope.queue)["QueueUrl"]
    for first in range(0, len(units), _SEND_BATCH):
        _send(sqs, url, units[first : first + _SEND_BATCH])
    started = {"sweep_id": sweep_id, "units": len(units), "accounts": len(accounts), "regions": regions}
    print(json.dumps({"sgguard": "organization-sweep", **started}, separators=(",", ":")), flush=True)
    return started


def _send(sqs: Any, url: str, units: list[Unit]) -> None:
    entries = [{"Id": str(u.index), "MessageBody": u.to_message()} for u in units]
    for _attempt in range(3):
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        failed = {f["Id"] for f in answer.get("Failed", [])}
        entries = [e for e in entries if e["Id"] in failed]
        if not entries:
            return
    raise AwsBusy(f"SQS refused {len(entries)} units of the organization sweep after 3 tries")
