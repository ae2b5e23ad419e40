"""The Lambda entry for CloudTrail events: settings, pipeline, audit log, notification.

Error policy (what Lambda's retry and on-failure destination see):
- a malformed event is decided ``invalid`` and logged in full; retrying cannot fix it, so it returns;
- a wrong setting or an unusable baseline raises before anything is revoked, so every event fails
  loudly and reaches the on-failure destination instead of being judged against the wrong rules;
- a notification that cannot be sent raises *after* the decision is logged, so Lambda retries it.
"""

from __future__ import annotations

from typing import Any

from chalicelib import audit, notify
from chalicelib.adapters import sns
from chalicelib.baseline import load_baseline
from chalicelib.decision import Decision
from chalicelib.pipeline import process
from chalicelib.settings import ConfigError, Settings


def handle_event(raw: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    baseline = load_baseline(settings.baseline)
    decision = process(raw, baseline, settings.mode)
    report(decision, raw, settings.topic_arn)
    return decision.to_json_dict()


def report(decision: Decision, raw: Any, topic_arn: str | None) -> None:
    """What the Lambda does after deciding: the audit line, then the message for a violation. The
    replay route in enforce mode does the same, so a revocation is never made without both."""
    audit.log_decision(decision, raw if decision.outcome == "invalid" else None)
    if decision.outcome == "violation":
        if topic_arn is None:
            raise ConfigError("NOTIFY_TOPIC_ARN is not set: a violation was found and nobody can be told")
        tell(decision, topic_arn)


def tell(decision: Decision, topic_arn: str) -> str:
    """Publish the decision's message; the MessageId."""
    message = notify.render(decision)
    return sns.publish(topic_arn, message.subject, message.body, message.attributes)
