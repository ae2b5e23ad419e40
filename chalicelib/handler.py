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
from chalicelib.pipeline import process
from chalicelib.settings import ConfigError, Settings


def handle_event(raw: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    baseline = load_baseline(settings.baseline)
    decision = process(raw, baseline, settings.mode)
    audit.log_decision(decision, raw if decision.outcome == "invalid" else None)
    if decision.outcome == "violation":
        if settings.topic_arn is None:
            raise ConfigError("NOTIFY_TOPIC_ARN is not set: a violation was found and nobody can be told")
        message = notify.render(decision)
        sns.publish(settings.topic_arn, message.subject, message.body, message.attributes)
    return decision.to_json_dict()
