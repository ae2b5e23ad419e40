"""The Lambda entry for CloudTrail events: settings, pipeline, idempotency, audit log, metrics, message.

Error policy (what Lambda's retry and on-failure destination see):
- a malformed event is decided ``invalid`` and logged in full; retrying cannot fix it, so it returns;
- a wrong setting or an unusable baseline raises before anything is revoked, so every event fails
  loudly and reaches the on-failure destination instead of being judged against the wrong rules;
- a refusal that will not go away (AccessDenied, an SCP) is a ``failed`` finding and a message telling
  people to act; the invocation returns, as a retry would only be refused again; so is anything that
  could not be judged or read for a lasting reason (``action_needed``: a message marked ACTION NEEDED);
- an event that names its group but cannot be read is ``invalid`` and still sends ACTION NEEDED with
  the group's rules that break the baseline now; only a record naming no group stays quiet;
- throttling or an AWS-side error that outlasted botocore's retries (on a revocation, or on a read
  that left something unjudged), and a message that could not be sent, raise *after* the decision is
  logged and recorded, so Lambda retries the event; the retry revokes what is left and sends the
  message, saying what the first attempt revoked; the last attempt sends the message and still
  raises, so that the event also lands in the on-failure queue;
- the same event delivered again after its message went out is decided (``delivery: duplicate``,
  its rules already absent) and logged, and sends nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from chalicelib import audit, metrics, notify, pipeline
from chalicelib.adapters import sns, sts
from chalicelib.adapters.ec2 import AwsBusy
from chalicelib.adapters.revoke import LiveAws
from chalicelib.baseline import Baseline, BaselineError, load_baseline
from chalicelib.decision import Decision, Delivery
from chalicelib.idempotency import DELIVERY_ATTEMPTS, Claim, Ledger, LedgerUnavailable, memory_ledger
from chalicelib.outputs import deliver
from chalicelib.settings import ConfigError, Settings


class EventInProgress(RuntimeError):
    """Another invocation holds this event; raising makes Lambda try again once it has finished."""


def _configuration() -> tuple[Settings, Baseline]:
    try:
        settings = Settings.from_env()
        return settings, load_baseline(settings.baseline)
    except (ConfigError, BaselineError) as error:
        audit.log_error(f"sgguard cannot judge any event: {error}", kind=type(error).__name__)
        raise


def _ledger(settings: Settings) -> Ledger:
    if settings.idempotency_table is None:
        return memory_ledger()
    from chalicelib.adapters.ledger import DynamoLedger

    return DynamoLedger(settings.idempotency_table)


def _claim(ledger: Ledger, event_id: str, now: float) -> tuple[Ledger, Claim]:
    """Claim the event; a table that cannot be used must not stop the guard: fall back to memory, loudly."""
    try:
        return ledger, ledger.claim(event_id, now)
    except LedgerUnavailable as error:
        fallback = memory_ledger()
        audit.log_error(
            f"idempotency record unavailable ({error}); this event is deduplicated in {fallback.description}",
            event_id=event_id,
        )
        return fallback, fallback.claim(event_id, now)


def _log(decision: Decision, raw: Any) -> None:
    """The audit line; an invalid event is logged in full beside its decision, so nothing is lost."""
    if decision.outcome == "invalid":
        audit.log_decision(decision, raw)  # even a null event: it is what was delivered
    else:
        audit.log_decision(decision)


def _record(decision: Decision, raw: Any, clock: Callable[[], float]) -> None:
    _log(decision, raw)
    metrics.write(decision, int(clock() * 1000))


def handle_event(raw: Any, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    settings, baseline = _configuration()
    judged = pipeline.judge(
        raw, baseline, settings.mode, own=sts.own_arn, member_role=settings.member_role, connect=LiveAws
    )
    if isinstance(judged, Decision):
        if judged.needs_message:  # an event that names its group but cannot be read: people are told
            return _tell_once(judged, raw, settings, clock)
        _record(judged, raw, clock)
        return judged.to_json_dict()
    if not judged.needs_attention:
        decision = pipeline.act(judged, baseline, settings.mode).decision
        _record(decision, raw, clock)
        return decision.to_json_dict()

    ledger, claim = _claim(_ledger(settings), judged.event_id, clock())
    if claim.kind == "busy":
        _busy(claim)
    try:
        decision, retry_later = _act_and_notify(judged, baseline, settings, ledger, claim, raw, clock)
    except Exception as error:
        audit.log_error(
            f"event {claim.event_id} not finished, Lambda will retry it: {error}", event_id=claim.event_id
        )
        _release(ledger, claim)
        raise
    if retry_later is not None:  # the last attempt: people were told; the event goes to the on-failure queue
        raise AwsBusy(
            f"AWS throttled or failed for event {claim.event_id} on the last attempt ({retry_later})"
        )
    return decision.to_json_dict()


def _busy(claim: Claim) -> None:
    message = f"event {claim.event_id} is being handled by another invocation (since {claim.holder_since})"
    audit.log_error(message + "; raising so that Lambda retries it later", event_id=claim.event_id)
    raise EventInProgress(message)


def _tell_once(
    decision: Decision, raw: Any, settings: Settings, clock: Callable[[], float]
) -> dict[str, Any]:
    """The message for a decision that needs no action, once per event (when it has an id)."""
    if decision.event_id is None:
        _record(decision, raw, clock)
        _publish(notify_topic(settings), decision, settings, clock)
        return decision.to_json_dict()
    ledger, claim = _claim(_ledger(settings), decision.event_id, clock())
    if claim.kind == "busy":
        _busy(claim)
    if claim.kind == "duplicate":
        decision = decision.model_copy(update={"delivery": "duplicate"})
    _record(decision, raw, clock)
    if claim.kind == "duplicate":
        return decision.to_json_dict()
    try:
        _publish(notify_topic(settings), decision, settings, clock)
    except Exception as error:
        audit.log_error(f"event {claim.event_id}: message not sent, Lambda will retry it: {error}")
        _release(ledger, claim)
        raise
    _keep_record(lambda: ledger.notified(claim, clock()))
    return decision.to_json_dict()


def _act_and_notify(
    judged: pipeline.Judgement,
    baseline: Baseline,
    settings: Settings,
    ledger: Ledger,
    claim: Claim,
    raw: Any,
    clock: Callable[[], float],
) -> tuple[Decision, str | None]:
    """Act, log, record, and send the message; raise for Lambda's retry while AWS throttles and this
    is not the last attempt. Returns the decision and, on the last attempt, why it is still unfinished."""
    earlier = claim.earlier if claim.kind == "retry" else None
    delivery: Delivery = (
        "duplicate" if claim.kind == "duplicate" else "retry" if claim.attempt > 1 else "first"
    )
    acted = pipeline.act(judged, baseline, settings.mode, earlier, delivery)
    decision = acted.decision
    _record(decision, raw, clock)
    if claim.kind == "duplicate" and not acted.revoked_now:
        return decision, None  # its message went out with the first delivery
    if claim.kind != "duplicate":
        _keep_record(lambda: ledger.decided(claim, {r: a.action for r, a in acted.results.items()}, clock()))
    if acted.retryable and claim.attempt < DELIVERY_ATTEMPTS:
        raise AwsBusy(
            f"AWS throttled or failed for event {claim.event_id} ({acted.why_retry()}): retrying later"
        )
    if decision.needs_message:
        _publish(notify_topic(settings), decision, settings, clock)
    if claim.kind != "duplicate":
        _keep_record(lambda: ledger.notified(claim, clock()))
    return decision, acted.why_retry() if acted.retryable else None


def _publish(
    topic_arn: str | None,
    decision: Decision,
    settings: Settings | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """The main message, then the outputs the stage switched on (chat, EventBridge, Security Hub):
    only the main message's failure raises (chalicelib.outputs.deliver)."""
    if topic_arn is None:
        raise ConfigError(
            "neither NOTIFY_TOPIC nor NOTIFY_TOPIC_ARN is set: a violation was found and nobody can be told"
        )
    wanted = deliver.outputs(settings, clock) if settings is not None else []
    deliver.everywhere(decision, lambda: tell(decision, topic_arn), wanted, clock)


def notify_topic(settings: Settings) -> str | None:
    """The security team's topic, as an ARN (a topic name is resolved in the function's own account)."""
    return settings.notify_topic(
        sts.own_account, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )


def report(decision: Decision, raw: Any, settings: Settings) -> None:
    """What the replay route does after deciding: the audit line, then the message for a violation, so
    that a revocation is never made without both. (It bypasses the idempotency record: a replay is a
    deliberate second look, not a delivery.)"""
    _log(decision, raw)
    if decision.needs_message:
        _publish(notify_topic(settings), decision, settings)


def tell(decision: Decision, topic_arn: str) -> str:
    """Publish the decision's message; the MessageId."""
    message = notify.render(decision)
    return sns.publish(topic_arn, message.subject, message.body, message.attributes, message.array_attributes)


def _keep_record(update: Callable[[], None]) -> None:
    """A record that cannot be updated must not stop the message: at worst a retry repeats it."""
    try:
        update()
    except LedgerUnavailable as error:
        audit.log_error(f"idempotency record not updated: {error}")


def _release(ledger: Ledger, claim: Claim) -> None:
    _keep_record(lambda: ledger.release(claim))  # else the lease expires by itself
