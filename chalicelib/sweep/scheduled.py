"""The scheduled sweep (``@app.schedule`` in app.py): the function's own account and region.

Each run: read the settings and the baseline (a wrong one raises before anything is revoked), load
what the previous sweep left (the last complete result, or a split sweep's progress), sweep from the
cursor with the Lambda's remaining time as the deadline, log every violating rule as an audit line,
store the new state, and send one summary when something changed (or always, with a heartbeat).

A split sweep sends its message with its last part, covering all parts. A state that cannot be read
or written never stops the sweep: it runs as a first sweep, and the message says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from chalicelib import audit
from chalicelib.baseline import Baseline, BaselineError, load_baseline
from chalicelib.outputs.after_sweep import after_sweep
from chalicelib.settings import ConfigError, Settings
from chalicelib.sweep import summary
from chalicelib.sweep.engine import merge_parts
from chalicelib.sweep.lines import finding_logger, log_report
from chalicelib.sweep.report import Previous, SweepReport
from chalicelib.sweep.settings import SweepSettings
from chalicelib.sweep.shell import SweepPort, new_sweep_id, sweep_region
from chalicelib.sweep.state import (
    DynamoStateStore,
    StateStore,
    StateUnavailable,
    SweepState,
    memory_store,
    state_key,
)

CARRIED_FINDINGS = 2000
"""Violating rules a split sweep carries from one part to the next (the message shows fewer)."""
STALE_AFTER = timedelta(hours=24)
"""A split sweep not finished within this is started again from the beginning."""


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _configuration() -> tuple[Settings, SweepSettings, Baseline]:
    try:
        settings = Settings.from_env()
        return settings, SweepSettings.from_env(), load_baseline(settings.baseline)
    except (ConfigError, BaselineError) as error:
        audit.log_error(f"sgguard cannot sweep: {error}", kind=type(error).__name__)
        raise


def _store(settings: Settings) -> StateStore:
    if settings.idempotency_table is None:
        return memory_store()
    return DynamoStateStore(settings.idempotency_table)


def _resumable(state: SweepState, now: datetime) -> SweepReport | None:
    partial = state.partial
    if partial is None or partial.cursor is None:
        return None
    started = datetime.fromisoformat(partial.started_at.replace("Z", "+00:00"))
    return partial if now - started < STALE_AFTER else None


def sweep_now(
    context: LambdaContext | None,
    port: SweepPort | None = None,
    clock: Callable[[], float] = time.time,
    region: str | None = None,
) -> dict[str, Any]:
    """One scheduled run; returns a short account of it (the full report is in the log)."""
    settings, sweep_settings, baseline = _configuration()
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    from chalicelib.adapters import sts

    account = sts.own_account()
    if port is None:
        from chalicelib.sweep.aws import LiveSweepAws

        port = LiveSweepAws(region)
    store = _store(settings)
    key = state_key(account, region)
    problems: list[str] = []
    try:
        state = store.load(key) or SweepState()
    except StateUnavailable as error:
        state = SweepState()
        problems.append(
            f"the previous sweep's result could not be read ({error}); every violation counts as new"
        )
    now = datetime.fromtimestamp(clock(), UTC)
    resumed = _resumable(state, now)
    if context is not None:
        time_left: Callable[[], float] = lambda: context.get_remaining_time_in_millis() / 1000  # noqa: E731
    else:
        time_left = lambda: float("inf")  # noqa: E731
    sweep_id = resumed.sweep_id if resumed else new_sweep_id(now)
    run = sweep_region(
        port,
        baseline,
        account=account,
        region=region,
        mode=sweep_settings.mode,
        now=lambda: datetime.fromtimestamp(clock(), UTC),
        time_left=time_left,
        reserve_seconds=sweep_settings.reserve_seconds,
        cursor=resumed.cursor if resumed else None,
        previous=state.last,
        previous_ids=state.last_ids if state.last is not None else None,
        sweep_id=sweep_id,
        on_finding=finding_logger(sweep_id, account, region),
        max_findings=CARRIED_FINDINGS,
    )
    log_report(run.report)  # this part's rules in full, before anything else can fail
    report = merge_parts(resumed, run.report) if resumed else run.report
    ids = run.violating_ids | (set(state.partial_ids) if resumed else set())
    if report.complete and state.last is not None:
        gone = len(set(state.last_ids) - ids)
        report = report.model_copy(update={"totals": report.totals.model_copy(update={"gone": gone})})
    if report.complete:
        last = Previous(
            sweep_id=report.sweep_id,
            finished_at=report.finished_at,
            violating=report.totals.violating,
            not_judged=report.totals.not_judged,
        )
        new_state = SweepState(last=last, last_ids=sorted(ids))
    else:
        carried = summary.trim(report, CARRIED_FINDINGS)
        new_state = SweepState(
            last=state.last, last_ids=state.last_ids, partial=carried, partial_ids=sorted(ids)
        )
    try:
        store.save(key, new_state, clock())
    except StateUnavailable as error:
        problems.append(
            f"this sweep's result could not be stored ({error}); the next sweep counts all as new"
        )
    if problems:
        for problem in problems:
            audit.log_error(problem, sweep_id=report.sweep_id)
        report = report.model_copy(update={"errors": [*report.errors, *problems]})
    published = None
    if sweep_settings.heartbeat or summary.changed(report):
        try:
            published = _publish(settings.notify_topic(sts.own_account, region), report)
        except Exception as error:
            after_sweep(report, settings, ids, summary_sent=True, now=clock)  # chat still hears of it
            _forget_this_sweep(store, key, state, clock())
            audit.log_error(
                f"sweep {report.sweep_id}: the summary could not be sent ({error}); the next sweep "
                "reports its findings as new again",
                sweep_id=report.sweep_id,
            )
            raise
    after_sweep(report, settings, ids, summary_sent=published is not None, now=clock)
    return {
        "sweep_id": report.sweep_id,
        "complete": report.complete,
        "cursor": report.cursor,
        "parts": report.parts,
        "totals": report.totals.model_dump(),
        "message_id": published,
    }


def _forget_this_sweep(store: StateStore, key: str, state: SweepState, now: float) -> None:
    """The message did not go out: put the previous result back, so that what this sweep found is
    still new to the next one (and told then). Revocations already made are in the log lines."""
    try:
        store.save(key, SweepState(last=state.last, last_ids=state.last_ids), now)
    except StateUnavailable as error:
        audit.log_error(f"the previous sweep's result could not be put back: {error}")


def _publish(topic_arn: str | None, report: SweepReport) -> str:
    """A message that cannot be sent raises: the run fails loudly (its state is already stored, so the
    next run does not repeat revocations; its lines are in the log)."""
    if topic_arn is None:
        raise ConfigError("NOTIFY_TOPIC_ARN is not set: a sweep found something and nobody can be told")
    from chalicelib.adapters import sns

    message = summary.render(report)
    return sns.publish(topic_arn, message.subject, message.body, message.attributes)
