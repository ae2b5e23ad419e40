"""The sweep's imperative shell: one account and region, page by page, through a small port.

Order of work: DescribeSecurityGroups (all pages: names, VPCs, default groups), sorted by group id;
then, per batch of ``group_batch`` groups, DescribeSecurityGroupRules filtered by those groups at
1,000 rules a page; the prefix lists the page names that were not read yet (one call per page, never
per rule); evaluate; revoke (one call per group and direction); DescribeNetworkInterfaces filtered by
the batch's violating groups (paged). Nothing per rule costs an AWS call, and memory holds one page
of rules plus what the report shows.

Before each batch the shell asks ``time_left()``; when less than ``reserve_seconds`` remain it stops
cleanly and returns a ``cursor`` (the last group finished): the next run resumes after it. Groups are
finished whole, so a stop never leaves a group half judged. A read that fails stops the sweep the
same way, with the error in the report: an unread page is never a pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.adapters.ec2 import AwsBusy, AwsUnavailable, RevokeResult
from chalicelib.baseline import Baseline
from chalicelib.decision import ActionResult
from chalicelib.evaluate import Facts
from chalicelib.rules import Direction, PrefixList
from chalicelib.sweep.describe import (
    GroupFacts,
    group_from_describe,
    interface_from_describe,
    rule_from_describe,
)
from chalicelib.sweep.engine import (
    ReportBuilder,
    exposures,
    judge_rules,
    plan_sweep,
    sweep_facts,
    unknown_exposure,
)
from chalicelib.sweep.report import Previous, SweepFinding, SweepMode, SweepReport

RULES_PER_PAGE = 1000
"""DescribeSecurityGroupRules' largest page."""
GROUP_BATCH = 100
"""Groups per DescribeSecurityGroupRules ``group-id`` filter: few enough values for one request (the
API documents no limit for this filter; EC2 caps others at 200), many enough that a region of
5,000 groups takes 50 batches."""
RESERVE_SECONDS = 15.0
"""Time kept free before the Lambda timeout: one batch (its pages, revokes and interfaces) and the
summary (state write, SNS publish) must fit in it."""


class SweepPort(Protocol):
    """What a sweep needs from AWS for one account and region. Reads raise AwsUnavailable (refused:
    AccessDenied, no credentials) or AwsBusy (throttled or failing after botocore's retries)."""

    def security_groups(self) -> Iterator[Mapping[str, Any]]:
        """Every DescribeSecurityGroups entry of the region, all pages."""
        ...

    def rule_pages(self, group_ids: Sequence[str]) -> Iterator[Sequence[Mapping[str, Any]]]:
        """DescribeSecurityGroupRules pages (``RULES_PER_PAGE`` each) of the given groups."""
        ...

    def prefix_lists(self, list_ids: Iterable[str]) -> dict[str, PrefixList | str]: ...

    def network_interfaces(self, group_ids: Sequence[str]) -> Iterator[Mapping[str, Any]]:
        """DescribeNetworkInterfaces entries attached to any of the given groups, all pages."""
        ...

    def revoke(self, group_id: str, direction: Direction, rule_ids: list[str]) -> dict[str, RevokeResult]: ...


@dataclass(frozen=True)
class SweepRun:
    """One invocation's part of a sweep: its report (``complete`` False and a ``cursor`` when it
    stopped early) and the ids of the violating rules it saw (for the next sweep's "new")."""

    report: SweepReport
    violating_ids: frozenset[str]

    @property
    def cursor(self) -> str | None:
        return self.report.cursor


def _no_deadline() -> float:
    return float("inf")


def new_sweep_id(now: datetime) -> str:
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def sweep_region(
    port: SweepPort,
    baseline: Baseline,
    *,
    account: str | None,
    region: str | None,
    mode: SweepMode = "report",
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    time_left: Callable[[], float] = _no_deadline,
    reserve_seconds: float = RESERVE_SECONDS,
    cursor: str | None = None,
    previous: Previous | None = None,
    previous_ids: Iterable[str] | None = None,
    sweep_id: str | None = None,
    group_batch: int = GROUP_BATCH,
    on_finding: Callable[[SweepFinding], None] | None = None,
    keep_findings: bool = True,
    max_findings: int | None = None,
) -> SweepRun:
    """Sweep one account and region (or, from ``cursor``, the rest of it).

    ``time_left`` returns the seconds left before the Lambda's timeout (context.get_remaining_time_in_millis
    / 1000); ``previous``/``previous_ids`` describe the previous complete sweep, against which
    "new" is told. In ``report`` mode nothing is changed.
    """
    started = now()
    builder = ReportBuilder(
        baseline,
        sweep_id or new_sweep_id(started),
        mode,
        started,
        account,
        region,
        previous=previous,
        previous_ids=frozenset(previous_ids) if previous_ids is not None else None,
        on_finding=on_finding,
        keep_findings=keep_findings,
        max_findings=max_findings,
    )
    try:
        groups = {g.group_id: g for g in map(group_from_describe, port.security_groups())}
    except (AwsUnavailable, AwsBusy) as error:
        builder.errors.append(f"could not list the security groups (DescribeSecurityGroups): {error}")
        return SweepRun(builder.build(now(), complete=False, cursor=cursor), frozenset())
    order = sorted(g for g in groups if cursor is None or g > cursor)
    prefix_lists: dict[str, PrefixList | str] = {}  # filled page by page; facts see it grow
    facts = sweep_facts(groups, account=account, region=region, now=started, prefix_lists=prefix_lists)
    done = cursor
    for start in range(0, len(order), max(1, group_batch)):
        if time_left() < reserve_seconds:
            return _stopped(builder, now, done, "the function's time ran short")
        batch = order[start : start + group_batch]
        try:
            _sweep_batch(port, baseline, builder, groups, batch, facts, prefix_lists, mode)
        except (AwsUnavailable, AwsBusy) as error:
            builder.errors.append(f"could not read the rules of {batch[0]}..{batch[-1]}: {error}")
            return _stopped(builder, now, done, None)
        done = batch[-1]
        builder.count_groups(len(batch))
    return SweepRun(builder.build(now()), frozenset(builder.violating_ids))


def _stopped(
    builder: ReportBuilder, now: Callable[[], datetime], done: str | None, why: str | None
) -> SweepRun:
    where = f"after {done}" if done else "at the start"
    report = builder.build(now(), complete=False, cursor=done or "")
    stopped = f"stopped {where}: {why or 'a read failed'}; the next run resumes there"
    return SweepRun(report.model_copy(update={"stopped": stopped}), frozenset(builder.violating_ids))


def _sweep_batch(
    port: SweepPort,
    baseline: Baseline,
    builder: ReportBuilder,
    groups: Mapping[str, GroupFacts],
    batch: Sequence[str],
    facts: Facts,
    prefix_lists: dict[str, PrefixList | str],
    mode: SweepMode,
) -> None:
    """One batch of groups: page by page, judge, revoke; then the exposure of its violating groups."""
    for page in port.rule_pages(batch):
        rules = [rule_from_describe(item) for item in page]
        wanted = {r.source.value for r in rules if r.source.kind == "prefix_list"} - set(prefix_lists)
        if wanted:
            try:
                prefix_lists.update(port.prefix_lists(wanted))
            except (AwsUnavailable, AwsBusy) as error:
                prefix_lists.update(dict.fromkeys(wanted, str(error)))
        findings = list(judge_rules(rules, baseline, facts))
        results: dict[str, ActionResult] = {}
        for revocation in plan_sweep(findings, mode):
            try:
                outcome = port.revoke(revocation.group_id, revocation.direction, list(revocation.rule_ids))
            except (AwsUnavailable, AwsBusy) as error:
                outcome = {r: RevokeResult("failed", str(error)) for r in revocation.rule_ids}
            results.update(
                (rule_id, ActionResult(r.outcome, r.error, retryable=r.retryable))
                for rule_id, r in outcome.items()
            )
        builder.add(findings, groups, results)
    violating = builder.violating_groups(batch)
    if violating:
        try:
            found = exposures(map(interface_from_describe, port.network_interfaces(violating)), violating)
        except (AwsUnavailable, AwsBusy) as error:
            found = {g: unknown_exposure(f"DescribeNetworkInterfaces failed: {error}") for g in violating}
        builder.set_exposure(found)
