"""The organization's sweep, consumer side (``@app.on_sqs_message``, one message per invocation): one
account and region, in that account through its member role, with the same engine and SWEEP_MODE as
an account's own sweep (chalicelib/sweep); then the unit counts itself, and the unit that completes the
count sends the organization's one summary.

A unit that fails is retried by SQS (the message becomes visible again); on its last receive
(UNIT_RECEIVES, the queue's maxReceiveCount) it is recorded as failed before it moves on to the
dead-letter queue, so the summary still goes out and names it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chalicelib import audit
from chalicelib.adapters.ec2 import AwsBusy
from chalicelib.baseline import Baseline, BaselineError, load_baseline
from chalicelib.org.members import reach
from chalicelib.org.units import InvalidUnit, Unit, UnitResult, digest, failed_unit
from chalicelib.org.units import render_summary as render
from chalicelib.org.units import summary_document as document_of
from chalicelib.settings import ConfigError, Settings

UNIT_RECEIVES = 3
"""The units queue's maxReceiveCount (its redrive policy): the last attempt records the unit as failed."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _store(settings: Settings) -> Any:
    if settings.idempotency_table is None:
        raise ConfigError(
            "the organization sweep needs IDEMPOTENCY_TABLE: it gathers the units' results there"
        )
    from chalicelib.adapters.unit_store import UnitStore

    return UnitStore(settings.idempotency_table)


def consume(event: Mapping[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """Sweep each unit of the SQS batch (the event source sends one)."""
    settings = Settings.from_env()
    try:
        baseline = load_baseline(settings.baseline)
    except BaselineError as error:
        audit.log_error(f"sgguard cannot sweep: {error}", kind=type(error).__name__)
        raise
    done = []
    for record in event.get("Records", []):
        try:
            unit = Unit.from_message(str(record.get("body", "")))
        except InvalidUnit as error:  # it can never succeed: say so, and let it go
            audit.log_error(f"organization sweep: a queue message was dropped: {error}")
            continue
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1") or 1)
        done.append(_unit(unit, receives, settings, baseline, context))
    return {"units": done}


def _unit(
    unit: Unit, receives: int, settings: Settings, baseline: Baseline, context: LambdaContext | None
) -> dict[str, Any]:
    store = _store(settings)
    try:
        result = sweep_unit(unit, settings, baseline, context)
    except Exception as error:
        why = f"unit {unit.account} {unit.region} failed (attempt {receives} of {UNIT_RECEIVES}): {error}"
        audit.log_error(why, sweep_id=unit.sweep_id)
        if receives >= UNIT_RECEIVES:  # the redrive policy takes it next: count it, as failed
            _finish(store, failed_unit(unit, why), settings)
        raise
    _finish(store, result, settings)
    return {"account": unit.account, "region": unit.region, "complete": result.complete, **result.totals}


def sweep_unit(
    unit: Unit,
    settings: Settings,
    baseline: Baseline,
    context: LambdaContext | None,
    port: Any = None,
    own_arn: str | None = None,
) -> UnitResult:
    """One account and region, through the member role (or as itself in its own account)."""
    from chalicelib.adapters import sts
    from chalicelib.sweep.lines import finding_logger, log_report
    from chalicelib.sweep.settings import SweepSettings
    from chalicelib.sweep.shell import sweep_region

    sweep_settings = SweepSettings.from_env()
    if port is None:
        target = reach(unit.account, unit.region, own_arn or sts.own_arn(), settings.member_role)
        if target.why is not None:
            if target.busy:
                raise AwsBusy(target.why)
            return failed_unit(unit, target.why)
        from chalicelib.sweep.aws import LiveSweepAws

        port = LiveSweepAws(unit.region, target.role_arn)
    run_id = f"{unit.sweep_id}-{unit.index}"
    time_left: Callable[[], float] = (
        (lambda: context.get_remaining_time_in_millis() / 1000)
        if context is not None
        else (lambda: float("inf"))
    )
    run = sweep_region(
        port,
        baseline,
        account=unit.account,
        region=unit.region,
        mode=sweep_settings.mode,
        time_left=time_left,
        reserve_seconds=sweep_settings.reserve_seconds,
        sweep_id=run_id,
        on_finding=finding_logger(run_id, unit.account, unit.region),
        keep_findings=False,
    )
    log_report(run.report)
    return digest(run.report, unit)


def _finish(store: Any, result: UnitResult, settings: Settings) -> None:
    """Count the unit; the one that completes the count sends the summary (a retry of it, too, if the
    message could not go out the first time)."""
    counted = store.record(result)
    head = (*counted, False) if counted is not None else store.head(result.sweep_id)
    if head is None:
        audit.log_error(f"organization sweep {result.sweep_id} is unknown (expired?); unit not counted")
        return
    reported, total, summarized = head
    if reported < total or summarized:
        return
    document = document_of(result.sweep_id, total, store.results(result.sweep_id, total))
    publish_summary(document, settings)
    store.summarized(result.sweep_id)


def publish_summary(document: dict[str, Any], settings: Settings) -> str:
    from chalicelib.adapters import sns, sts

    message = render(document)
    topic = settings.notify_topic(
        sts.own_account, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    if topic is None:
        raise ConfigError("NOTIFY_TOPIC is not set: the organization sweep's summary cannot be sent")
    print(
        json.dumps({"sgguard": "organization-sweep-summary", **document}, separators=(",", ":")),
        file=sys.stdout,
    )
    return sns.publish(topic, message.subject, message.body, message.attributes)
