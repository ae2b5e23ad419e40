"""Embedded-metric-format lines: parsed back as CloudWatch would read them."""

from __future__ import annotations

import io
import json

import pytest

from chalicelib import metrics
from chalicelib.baseline import load_baseline
from chalicelib.decision import Decision
from chalicelib.pipeline import OfflineAws, process
from devtools.eventgen import authorize_and_record
from tests.conftest import ACCOUNT, load_sample
from tests.moto_env import World
from tests.test_handler import ALL_TRAFFIC_WORLD, HTTPS_WORLD


def _metric_values(line: dict) -> dict[str, float]:
    """What CloudWatch extracts from one EMF line: {metric: value} with its dimensions checked."""
    [directive] = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "sgguard"
    assert isinstance(line["_aws"]["Timestamp"], int)
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(line[dimension], str)
    return {m["Name"]: line[m["Name"]] for m in directive["Metrics"]}


def _parse(decision: Decision) -> dict[str, dict[str, float]]:
    out = io.StringIO()
    metrics.write(decision, 1_700_000_000_000, out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert all(line["account"] for line in lines)
    return {line["control"]: _metric_values(line) for line in lines}


def test_invalid_event_counts_once_under_all() -> None:
    raw = load_sample("authorize-ingress-all-traffic-world.json")
    raw["detail"]["eventTime"] = "yesterday"
    parsed = _parse(process(raw, load_baseline(), "enforce", OfflineAws()))
    assert parsed == {
        "ALL": {
            "Violations": 0,
            "Revocations": 0,
            "Failures": 0,
            "InvalidEvents": 1,
            "SilentInvalidEvents": 0,
        }
    }


def test_an_invalid_event_naming_no_group_is_counted_as_silent() -> None:
    raw = load_sample("authorize-ingress-legacy-without-rule-ids.json")
    del raw["detail"]["requestParameters"]["groupId"]  # told nobody: the alarm must see it
    parsed = _parse(process(raw, load_baseline(), "enforce", OfflineAws()))
    assert parsed["ALL"]["SilentInvalidEvents"] == 1


def test_offline_violation_counts_failures_per_control() -> None:
    raw = load_sample("authorize-ingress-all-traffic-world.json")
    parsed = _parse(process(raw, load_baseline(), "enforce", OfflineAws()))
    assert parsed["ALL"] == {
        "Violations": 1,
        "Revocations": 0,
        "Failures": 1,
        "InvalidEvents": 0,
        "SilentInvalidEvents": 0,
    }
    assert {"EC2.13", "EC2.19"} <= set(parsed)
    assert parsed["EC2.19"]["Failures"] == 1


def test_handler_writes_metrics_next_to_the_audit_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    group = world.group("web")
    bad, _ = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    fine, _ = authorize_and_record(world.ec2, group, [HTTPS_WORLD])
    capsys.readouterr()
    world.invoke(bad)
    world.invoke(fine)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    emf = [line for line in lines if "_aws" in line]
    per_control = {(line["control"], line["Violations"]) for line in emf}
    assert ("ALL", 1) in per_control
    assert ("ALL", 0) in per_control  # the compliant event: zeros, not missing data
    assert ("EC2.13", 1) in per_control
    revoked = [_metric_values(line) for line in emf if line["control"] == "ALL" and line["Violations"] == 1]
    assert revoked == [
        {"Violations": 1, "Revocations": 1, "Failures": 0, "InvalidEvents": 0, "SilentInvalidEvents": 0}
    ]
    assert {line["account"] for line in emf} == {ACCOUNT}
