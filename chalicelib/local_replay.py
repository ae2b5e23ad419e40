"""`POST /replay?mode=enforce` under `chalice local` only: revoke and tell, as the Lambda would, with the
developer's own credentials (as the command line does).

The deployed API function never reaches this module: http_api refuses enforce unless it runs under
`chalice local`, and its import is the one marked ``local-only`` that the per-function policy test
leaves out of the API function's code; the API's own policy grants no revoke, publish or write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.revoke import LiveAws
from chalicelib.adapters.topics import topic_problem
from chalicelib.baseline import Baseline
from chalicelib.handler import notify_topic, report
from chalicelib.replay import Tally, judge
from chalicelib.settings import Settings


def enforce(
    events: Iterable[Any], baseline: Baseline, settings: Settings
) -> tuple[Tally, list[dict[str, Any]], list[str]] | str:
    """The tally, decisions and unsent messages ("event ...: why") of enforcing every event; or, when
    the stage's topic cannot be used, why (and nothing is revoked)."""
    topic = notify_topic(settings)
    if topic is None:
        return "neither NOTIFY_TOPIC nor NOTIFY_TOPIC_ARN is set: nobody could be told; nothing was revoked"
    problem = topic_problem(topic)
    if problem is not None:
        return f"the topic {topic} cannot be used ({problem}); nothing was revoked"
    tally, decisions, unsent = Tally(), [], []
    for raw in events:
        result = judge(raw, baseline, "enforce", None, settings.member_role, connect=LiveAws)
        tally.add(result)
        if isinstance(result, str):
            continue
        decisions.append(result.to_json_dict())
        try:
            report(result, raw, settings)
        except Exception as error:  # the rule stays revoked; the answer says the message is missing
            unsent.append(f"event {result.event_id}: not published to {topic}: {error}")
    return tally, decisions, unsent
