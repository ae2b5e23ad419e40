"""What a sweep sends besides its SNS summary (chalicelib/sweep/scheduled.py calls :func:`after_sweep`).

Kept apart from ``deliver`` so that the event function, which never archives, is not granted the
Security Hub read (GetFindings) that archiving needs: each function's policy grants what its code calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime

from chalicelib.outputs.deliver import own_account_and_region, own_region, try_each
from chalicelib.settings import Settings
from chalicelib.sweep.report import SweepReport


def _sweep_chat(settings: Settings, report: SweepReport) -> Callable[[], list[str]]:
    def send() -> list[str]:
        from chalicelib.adapters import sns, sts
        from chalicelib.outputs.sweep import sweep_notification

        topic = settings.chat_topic(sts.own_account, own_region())
        if topic is not None:
            sns.publish_plain(topic, json.dumps(sweep_notification(report), ensure_ascii=False))
        return []

    return send


def _sweep_event(report: SweepReport) -> Callable[[], list[str]]:
    def send() -> list[str]:
        from chalicelib.adapters import eventbridge
        from chalicelib.outputs.eventbus import entry_size
        from chalicelib.outputs.sweep import sweep_entry

        failed = eventbridge.put([sweep_entry(report)], entry_size)
        return [f"event not put: {reason}" for _, reason in failed]

    return send


def _sweep_archive(
    report: SweepReport, still_violating: AbstractSet[str], now: Callable[[], float]
) -> Callable[[], list[str]]:
    def send() -> list[str]:
        from chalicelib.adapters import securityhub as hub
        from chalicelib.adapters import securityhub_read
        from chalicelib.outputs import securityhub
        from chalicelib.outputs.sweep import to_archive, to_create

        own = own_account_and_region()
        if own is None:
            return ["findings not archived: sgguard could not learn its own account (STS) or region"]
        account, region = own
        if report.account != account or report.region != region:
            return []  # another account's or region's findings are not this product's to archive
        product = securityhub.product_arn(region, account)
        moment = datetime.fromtimestamp(now(), UTC)
        active = list(securityhub_read.active_findings(product, account, region))
        new = to_create(active, report, product, moment)
        gone = to_archive(active, report, still_violating, product, moment)
        failed = hub.import_findings(new) + hub.import_findings(gone)
        return [f"finding {sent.get('Id')} not imported: {reason}" for sent, reason in failed]

    return send


def after_sweep(
    report: SweepReport,
    settings: Settings,
    still_violating: AbstractSet[str],
    summary_sent: bool,
    now: Callable[[], float] = time.time,
) -> dict[str, list[str]]:
    """What a sweep sends besides its SNS summary: the same summary to chat and EventBridge (only when
    the SNS summary went out: something changed, or a heartbeat); to Security Hub, a finding for each
    violating rule of the report that has none yet, and, after a complete sweep, the archiving of the
    findings whose rules it no longer sees violating. Never raises."""
    wanted: list[tuple[str, Callable[[], Sequence[str]]]] = []
    if summary_sent and (settings.chat_topic_arn or settings.chat_topic_name):
        wanted.append(("chat", _sweep_chat(settings, report)))
    if summary_sent and settings.eventbridge:
        wanted.append(("eventbridge", _sweep_event(report)))
    if settings.security_hub:
        wanted.append(("securityhub", _sweep_archive(report, still_violating, now)))
    return try_each(wanted, now, sweep_id=report.sweep_id)
