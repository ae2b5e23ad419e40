"""The sweep shell against moto: a region of 200 groups and 2,000 mixed rules (tests/sweep_world.py).

Report mode changes nothing and reports exactly the violating rules; a second sweep says nothing is
new; enforce revokes exactly those rules; a sweep after it revokes nothing. A deadline splits a sweep
and the next run resumes from its cursor. A saved describe dump judged offline gives the same findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import clients, ec2
from chalicelib.sweep.aws import LiveSweepAws
from chalicelib.sweep.engine import sweep_dump
from chalicelib.sweep.report import Previous, SweepReport
from chalicelib.sweep.shell import SweepRun, sweep_region
from tests.conftest import ACCOUNT, REGION
from tests.sweep_world import GROUPS, RULES, Region, build_region

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def region() -> Iterator[Region]:
    clients.reset()
    ec2.forget_cache()
    with mock_aws():
        yield build_region(boto3.client("ec2", region_name=REGION), NOW.date())
    clients.reset()
    ec2.forget_cache()


def _sweep(region: Region, mode: str, previous: SweepRun | None = None, **kwargs: object) -> SweepRun:
    prior = None if previous is None else previous.report
    return sweep_region(
        LiveSweepAws(REGION),
        region.baseline(),
        account=ACCOUNT,
        region=REGION,
        mode=mode,  # type: ignore[arg-type]
        now=lambda: NOW,
        previous=None
        if prior is None
        else Previous(
            sweep_id=prior.sweep_id, finished_at=prior.finished_at, violating=prior.totals.violating
        ),
        previous_ids=None if previous is None else previous.violating_ids,
        **{"group_batch": 200, **kwargs},  # type: ignore[arg-type]
    )


def _ids(report: SweepReport) -> set[str]:
    return {f.rule_id for f in report.findings() if f.rule_id}


def test_the_region_is_what_the_issue_asks_for(region: Region) -> None:
    rules = region.all_rules()
    assert len(rules) == RULES
    assert len({r["GroupId"] for r in rules}) == GROUPS
    assert any(r.get("CidrIpv6") for r in rules)
    assert any(r.get("PrefixListId") for r in rules)
    assert any(r.get("ReferencedGroupInfo") for r in rules)
    assert sum(1 for r in rules if r["GroupId"] in region.default_groups) >= 8
    assert 300 < len(region.violating()) < 700


def test_a_deadline_splits_the_sweep_and_the_next_run_resumes_from_the_cursor(region: Region) -> None:
    answers = iter([600.0, 600.0, 5.0])  # seconds left before each batch: the third finds too little
    part = _sweep(region, "report", time_left=lambda: next(answers), group_batch=50)
    report = part.report
    assert not report.complete
    assert report.cursor
    assert report.totals.groups == 100
    assert report.totals.rules < RULES
    assert not report.errors
    assert "time ran short" in (report.stopped or "")
    ordered = sorted(region.groups)
    assert report.cursor == ordered[99]  # two batches of 50 groups, finished whole
    rest = _sweep(region, "report", cursor=report.cursor, group_batch=50)
    assert rest.report.complete
    assert rest.report.totals.groups == GROUPS - 100
    assert report.totals.rules + rest.report.totals.rules == RULES
    assert _ids(report) | _ids(rest.report) == region.violating()
    assert not _ids(report) & _ids(rest.report)


def test_a_saved_describe_dump_gives_the_same_findings_as_the_live_sweep(region: Region) -> None:
    import json

    ec2_client = boto3.client("ec2", region_name=REGION)
    dump = json.loads(json.dumps({"SecurityGroupRules": region.all_rules()}))  # as `aws ec2 ...` prints it
    groups = json.loads(json.dumps(ec2_client.describe_security_groups(), default=str))
    lists = ec2.prefix_lists([region.world_list, region.private_list], REGION)
    live = _sweep(region, "report").report
    offline = sweep_dump(
        iter(dump["SecurityGroupRules"]),
        groups["SecurityGroups"],
        region.baseline(),
        NOW,
        account=ACCOUNT,
        region=REGION,
        prefix_lists=lists,
    )

    def key(report: SweepReport) -> list[tuple[object, ...]]:
        return sorted(
            (f.rule_id, f.group_id, tuple(f.controls), tuple(w.reason for w in f.why))
            for f in report.findings()
        )

    assert key(offline) == key(live)
    assert offline.totals.violating == live.totals.violating
    assert offline.origin == "dump"
    without_lists = sweep_dump(
        iter(dump["SecurityGroupRules"]), groups["SecurityGroups"], region.baseline(), NOW
    )
    unjudged = {nj.rule_id for g in without_lists.groups for nj in g.not_judged}
    assert unjudged == {r["SecurityGroupRuleId"] for r in dump["SecurityGroupRules"] if r.get("PrefixListId")}
    assert not without_lists.judged_everything


def test_report_enforce_and_again(region: Region) -> None:
    before = {r["SecurityGroupRuleId"] for r in region.all_rules()}

    first = _sweep(region, "report")
    report = first.report
    assert report.complete
    assert not report.errors
    assert report.judged_everything
    assert {r["SecurityGroupRuleId"] for r in region.all_rules()} == before  # nothing revoked
    assert _ids(report) == region.violating()
    assert report.totals.violating == len(region.violating())
    assert report.totals.would_revoke == len(region.violating())
    assert report.totals.revoked == 0
    assert {f.action for f in report.findings()} == {"would-revoke"}
    assert report.totals.groups == GROUPS
    assert report.totals.rules == RULES
    # default groups, the exemptions in force and the one that expired
    defaults = {g.group_id for g in report.groups if g.is_default}
    assert defaults == set(region.default_groups)
    exempted = {x.rule_id for g in report.groups for x in g.exempted}
    assert exempted == {r for r, want in region.expected.items() if want == "exempt"}
    expired = {x.rule_id for g in report.groups for x in g.exemptions_expired}
    [expired_rule] = expired
    assert expired_rule in region.violating()
    status = {e.id: e for e in report.exemptions}
    assert status["JIT-SSH"].rules_lifted == 2
    assert not status["JIT-SSH"].expired
    assert status["OLD-SSH"].rules_expired == 1
    assert status["OLD-SSH"].expired
    # exposure: the group with interfaces (one public) first; groups without interfaces after it
    top = report.groups[0]
    assert top.group_id == region.public_group
    assert top.exposure is not None
    assert top.exposure.attached == 3
    assert top.exposure.public == 1
    assert "1 with a public IP" in top.headline()
    assert all(g.exposure is not None and g.exposure.attached == 0 for g in report.groups[1:] if g.violating)
    assert report.totals.new == report.totals.violating  # a first sweep: everything is new

    again = _sweep(region, "report", previous=first)
    assert _ids(again.report) == region.violating()
    assert again.report.totals.new == 0
    assert again.report.totals.gone == 0
    assert not any(f.new for f in again.report.findings())

    enforced = _sweep(region, "enforce", previous=again)
    after = {r["SecurityGroupRuleId"] for r in region.all_rules()}
    assert before - after == region.violating()  # exactly the violating rules, nothing else
    assert enforced.report.totals.revoked == len(region.violating())
    assert {f.action for f in enforced.report.findings()} == {"revoked"}
    assert all(
        f.restore and f.restore.startswith("aws ec2 authorize-security-group-")
        for f in enforced.report.findings()
    )
    assert enforced.report.totals.new == 0

    last = _sweep(region, "enforce", previous=enforced)
    assert {r["SecurityGroupRuleId"] for r in region.all_rules()} == after  # revokes nothing
    assert last.report.totals.violating == 0
    assert last.report.totals.revoked == 0
    assert last.report.totals.new == 0
    assert last.report.totals.gone == len(region.violating())
    assert last.report.totals.exempted == 2  # the exemption in force still holds
