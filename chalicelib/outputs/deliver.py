"""Sending one decision everywhere it is wanted, so that no output's failure costs another.

The main SNS message is sent first and is the one that fails the invocation (Lambda retries it, and
the retry sends everything again). Each other output is tried whatever happened before it; its
failure is logged as an ``sgguard: error`` line naming the output and counted in the
``OutputFailures`` metric, never raised: the people were told by the main message, and a retry
after it went out is a duplicate delivery, which sends nothing. Findings and entries that AWS
refused one by one were tried once more by the adapters before they are logged.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from chalicelib import audit
from chalicelib.decision import Decision
from chalicelib.settings import Settings

OUTPUT_FAILURES = "OutputFailures"

Send = Callable[[Decision], Sequence[str]]
"""An output: sends a decision, returns what could not be sent (one line each), raises when nothing
could be."""


def _eventbridge(decision: Decision) -> list[str]:
    from chalicelib.adapters import eventbridge
    from chalicelib.outputs import eventbus

    failed = eventbridge.put([eventbus.entry(decision)], eventbus.entry_size)
    return [f"event not put: {reason}" for _, reason in failed]


def own_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _chat(settings: Settings) -> Send:
    def send(decision: Decision) -> list[str]:
        from chalicelib.adapters import sns, sts
        from chalicelib.outputs import chat

        topic = settings.chat_topic(sts.own_account, own_region())
        if topic is None:
            return []
        sns.publish_plain(topic, json.dumps(chat.notification(decision), ensure_ascii=False))
        return []

    return send


def own_account_and_region() -> tuple[str, str] | None:
    """The function's own account (from its identity) and region: the default product's."""
    from chalicelib.adapters import sts

    account, region = sts.own_account(), own_region()
    return (account, region) if account and region else None


def _securityhub(settings: Settings, now: Callable[[], float]) -> Send:
    def send(decision: Decision) -> list[str]:
        from chalicelib.adapters import securityhub as hub
        from chalicelib.adapters import sts
        from chalicelib.org.members import reach
        from chalicelib.outputs import securityhub

        own = own_account_and_region()
        if own is None:
            return ["findings not imported: sgguard could not learn its own account (STS) or region"]
        account, region = own
        role_arn = None
        if decision.account != account:  # organization mode: the member account imports its own
            target = reach(decision.account, decision.region, sts.own_arn(), settings.member_role)
            if target.role_arn is None or not decision.region:
                return [
                    f"findings not imported: they are for account {decision.account}, and Security Hub takes "
                    f"findings of the default product only from that account ({target.why or 'no region'})"
                ]
            account, region, role_arn = str(decision.account), decision.region, target.role_arn
        moment = datetime.fromtimestamp(now(), UTC)
        imports = securityhub.imports(decision, securityhub.product_arn(region, account), moment)
        failed = hub.import_findings(imports.found, region, role_arn)
        failed += hub.import_findings(imports.resolved, region, role_arn)
        return [f"finding {sent.get('Id')} not imported: {reason}" for sent, reason in failed]

    return send


def outputs(settings: Settings, now: Callable[[], float] = time.time) -> list[tuple[str, Send]]:
    """The outputs a stage switched on, in the order they are tried."""
    wanted: list[tuple[str, Send]] = []
    if settings.chat_topic_arn or settings.chat_topic_name:
        wanted.append(("chat", _chat(settings)))
    if settings.eventbridge:
        wanted.append(("eventbridge", _eventbridge))
    if settings.security_hub:
        wanted.append(("securityhub", _securityhub(settings, now)))
    return wanted


def failure_metric(output: str, count: int, now_ms: int, stream: TextIO | None = None) -> None:
    """One embedded-metric line: ``OutputFailures`` by ``output`` (alarm on it: a copy went missing)."""
    line: dict[str, Any] = {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": "sgguard",
                    "Dimensions": [["output"]],
                    "Metrics": [{"Name": OUTPUT_FAILURES, "Unit": "Count"}],
                }
            ],
        },
        "output": output,
        OUTPUT_FAILURES: count,
    }
    out = stream or sys.stdout
    out.write(json.dumps(line, separators=(",", ":")) + "\n")
    out.flush()


def try_each(
    wanted: Sequence[tuple[str, Callable[[], Sequence[str]]]], now: Callable[[], float], **about: Any
) -> dict[str, list[str]]:
    """Try every output; what each could not send (empty lists for the ones that sent everything)."""
    problems: dict[str, list[str]] = {}
    for name, send in wanted:
        try:
            problems[name] = list(send())
        except Exception as error:  # an output's failure, even a bug, must not cost the others
            problems[name] = [f"{type(error).__name__}: {error}"]
        for problem in problems[name]:
            audit.log_error(f"{name}: {problem}", output=name, **about)
        if problems[name]:
            failure_metric(name, len(problems[name]), int(now() * 1000))
    return problems


def to_outputs(
    decision: Decision, wanted: Sequence[tuple[str, Send]], now: Callable[[], float] = time.time
) -> dict[str, list[str]]:
    """Send the decision to every output wanted; what each could not send."""
    bound = [(name, _bind(send, decision)) for name, send in wanted]
    return try_each(bound, now, event_id=decision.event_id)


def _bind(send: Send, decision: Decision) -> Callable[[], Sequence[str]]:
    return lambda: send(decision)


def everywhere(
    decision: Decision,
    main: Callable[[], object],
    wanted: Sequence[tuple[str, Send]],
    now: Callable[[], float] = time.time,
) -> dict[str, list[str]]:
    """The main message, then every other output; the main message's error is raised after the others
    were tried (so that chat and Security Hub still hear of a violation when SNS e-mail is broken)."""
    try:
        main()
    except Exception:
        to_outputs(decision, wanted, now)
        raise
    return to_outputs(decision, wanted, now)
