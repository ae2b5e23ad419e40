"""`sgguard audit` live against moto (the command's main() in-process: in-process moto cannot serve a
subprocess), and the same region saved with describe calls and judged with --from: the same findings.

The region is the sweep's test region (tests/sweep_world.py): 200 groups, 2,000 mixed rules, default
groups, exempted and expired-exemption rules, prefix-list and group sources, IPv6, interfaces.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import clients, ec2
from chalicelib.cli import main
from tests.conftest import ACCOUNT, REGION
from tests.sweep_world import Region, build_region

MOVING = ("sweep_id", "origin", "started_at", "finished_at")
"""What differs between two judgements of the same rules: when and how they were read."""


@pytest.fixture(scope="module")
def region() -> Iterator[Region]:
    clients.reset()
    ec2.forget_cache()
    with mock_aws():
        yield build_region(boto3.client("ec2", region_name=REGION), datetime.now(UTC).date())
    clients.reset()
    ec2.forget_cache()


@pytest.fixture(scope="module")
def baseline_file(region: Region, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("baseline") / "sweep-test.toml"
    path.write_text(region.baseline_text())
    return str(path)


def save_dump(client: Any, directory: Path) -> list[str]:
    """The region as an auditor is handed it: every describe call's pages as the AWS CLI prints them
    (several pages in a row, NextToken on all but the last), the groups gzipped, each customer prefix
    list's entries with its id added."""
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / "rules.json"
    pages = client.get_paginator("describe_security_group_rules").paginate(PaginationConfig={"PageSize": 700})
    with rules.open("w") as out:
        for page in pages:
            document = {"SecurityGroupRules": page["SecurityGroupRules"]}
            if page.get("NextToken"):
                document["NextToken"] = page["NextToken"]
            out.write(json.dumps(document, indent=4, default=str) + "\n")
    groups = directory / "groups.json.gz"
    described = [
        g for p in client.get_paginator("describe_security_groups").paginate() for g in p["SecurityGroups"]
    ]
    groups.write_bytes(gzip.compress(json.dumps({"SecurityGroups": described}, default=str).encode()))
    interfaces = directory / "enis.json"
    found = client.describe_network_interfaces()["NetworkInterfaces"]
    interfaces.write_text(json.dumps({"NetworkInterfaces": found}, indent=4, default=str))
    lists = client.describe_managed_prefix_lists()["PrefixLists"]
    prefix_lists = directory / "prefix-lists.json"
    prefix_lists.write_text(json.dumps({"PrefixLists": lists}, default=str))
    files = [str(rules), str(groups), str(interfaces), str(prefix_lists)]
    for listed in lists:
        if listed.get("OwnerId") == "AWS":
            continue
        entries = client.get_managed_prefix_list_entries(PrefixListId=listed["PrefixListId"])
        path = directory / f"{listed['PrefixListId']}.json"
        path.write_text(json.dumps({"Entries": entries["Entries"], "PrefixListId": listed["PrefixListId"]}))
        files.append(str(path))
    return files


def run(*args: str) -> tuple[int, Any]:
    """`sgguard audit ... --format json` in-process; its report(s), read back from --output."""
    out = Path(args[args.index("--output") + 1])
    status = main(["audit", *args, "--format", "json"])
    return status, json.loads(out.read_text())


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in MOVING}


def test_from_a_saved_dump_gives_the_same_findings_as_the_live_sweep(
    region: Region, baseline_file: str, tmp_path: Path
) -> None:
    status, [live] = run(
        "--region", REGION, "--baseline", baseline_file, "--output", str(tmp_path / "live.json")
    )
    assert status == 1
    assert live["origin"] == "live"
    assert live["mode"] == "report"
    assert (live["account"], live["region"]) == (ACCOUNT, REGION)
    assert {f["rule_id"] for g in live["groups"] for f in g["findings"]} == region.violating()
    assert all(f["action"] in ("would-revoke", "reported") for g in live["groups"] for f in g["findings"])
    assert live["totals"]["rules"] == 2000
    assert live["totals"]["groups"] == 200

    files = save_dump(region.ec2, tmp_path / "dump")
    with mock_aws():  # a different, empty AWS: --from must not ask it anything
        status, [saved] = run(
            "--from", *files, "--baseline", baseline_file, "--output", str(tmp_path / "d.json")
        )
    assert status == 1
    assert saved["origin"] == "dump"
    assert comparable(saved) == comparable(live)


def test_fix_revokes_exactly_what_the_audit_reported_and_then_nothing_is_left(
    region: Region, baseline_file: str, tmp_path: Path
) -> None:
    before = {r["SecurityGroupRuleId"] for r in region.all_rules()}
    _, [reported] = run("--region", REGION, "--baseline", baseline_file, "--output", str(tmp_path / "a.json"))
    revocable = {
        f["rule_id"] for g in reported["groups"] for f in g["findings"] if f["action"] == "would-revoke"
    }
    assert revocable

    status, [fixed] = run(
        "--region", REGION, "--baseline", baseline_file, "--fix", "--output", str(tmp_path / "b.json")
    )
    assert status == 1  # violations were found (and revoked)
    assert fixed["mode"] == "enforce"
    revoked = {f["rule_id"] for g in fixed["groups"] for f in g["findings"] if f["action"] == "revoked"}
    assert revoked == revocable
    assert all(f["restore"].startswith("aws ec2 authorize-security-group-") for g in fixed["groups"]
               for f in g["findings"] if f["action"] == "revoked")  # fmt: skip
    after = {r["SecurityGroupRuleId"] for r in region.all_rules()}
    assert after == before - revoked

    _, [again] = run("--region", REGION, "--baseline", baseline_file, "--output", str(tmp_path / "c.json"))
    assert not [f for g in again["groups"] for f in g["findings"] if f["action"] == "would-revoke"]


def test_all_regions_audits_every_enabled_region(region: Region, baseline_file: str, tmp_path: Path) -> None:
    status, reports = run(
        "--all-regions", "--baseline", baseline_file, "--output", str(tmp_path / "all.json")
    )
    names = [r["region"] for r in reports]
    assert REGION in names
    assert "us-east-1" in names
    assert names == sorted(names)
    assert all(r["account"] == ACCOUNT for r in reports)
    assert status == 1
