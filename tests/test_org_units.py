"""The organization sweep's pure parts: the unit messages, the unit results, the one summary."""

from __future__ import annotations

import json

import pytest

from chalicelib.notify import MESSAGE_BUDGET, SUBJECT_LIMIT
from chalicelib.org.units import (
    Exposed,
    InvalidUnit,
    Unit,
    UnitResult,
    failed_unit,
    plan_units,
    render_summary,
    summary_document,
)

A, B = "444455556666", "777788889999"


def test_one_unit_per_account_and_region_in_a_stable_order() -> None:
    units = plan_units("20261201T180000Z-abcd", [A, B, A], ["eu-west-1", "us-east-1"])
    assert [(u.account, u.region, u.index, u.total) for u in units] == [
        (A, "eu-west-1", 0, 4),
        (A, "us-east-1", 1, 4),
        (B, "eu-west-1", 2, 4),
        (B, "us-east-1", 3, 4),
    ]
    assert [Unit.from_message(u.to_message()) for u in units] == units


@pytest.mark.parametrize(
    "body",
    [
        "",
        "null",
        "[]",
        '{"sweep_id": "x", "index": 0, "total": 1, "account": "1", "region": "eu-west-1"}',
        '{"sweep_id": "x", "index": 3, "total": 1, "account": "444455556666", "region": "eu-west-1"}',
        '{"sweep_id": "x", "index": 0, "total": 1, "account": "444455556666", "region": "../etc"}',
        '{"sweep_id": "x\\u0000", "index": 0, "total": 1, "account": "444455556666", "region": "eu-west-1"}',
        '{"sweep_id": "x", "index": 0, "total": 1, "account": "444455556666", "region": "eu-west-1", "x": 1}',
        '{"version": "other/9", "sweep_id": "x", "index": 0, "total": 1, "account": "444455556666", '
        '"region": "eu-west-1"}',
        "{" * 10_000,
    ],
)
def test_a_message_that_is_not_a_unit_is_refused_with_the_field(body: str) -> None:
    with pytest.raises(InvalidUnit, match="not a sweep unit"):
        Unit.from_message(body)


def _result(index: int, account: str, region: str, violating: int, public: int | None = 0) -> UnitResult:
    worst = [
        Exposed(account=account, region=region, group_id=f"sg-{index:017x}", severity="HIGH",
                violating=violating, public=public, exposure=f"{public} public interfaces")
    ] if violating else []  # fmt: skip
    return UnitResult(
        sweep_id="s", index=index, account=account, region=region, complete=True,
        totals={"groups": 3, "violating": violating, "revoked": 0, "failed": 0}, worst=worst,
    )  # fmt: skip


def test_the_summary_counts_per_account_and_shows_the_worst_exposures_first() -> None:
    results = [_result(0, A, "eu-west-1", 2, public=0), _result(1, B, "eu-west-1", 5, public=3),
               _result(2, B, "us-east-1", 1, public=None)]  # fmt: skip
    document = summary_document("s", 3, results)
    assert document["complete"]
    assert document["totals"]["violating"] == 8
    assert [a["account"] for a in document["accounts"]] == [B, A]
    assert document["accounts"][0]["regions"] == 2
    assert [e["public"] for e in document["worst"]] == [3, 0, None]
    message = render_summary(document)
    assert "ACTION NEEDED" not in message.subject
    text = json.loads(message.body)["default"]
    assert text.index(B) < text.index(f"{A}: ")


def test_units_that_failed_or_never_reported_are_action_needed() -> None:
    unit = plan_units("s", [A, B], ["eu-west-1"])[1]
    results = [_result(0, A, "eu-west-1", 0), failed_unit(unit, "could not assume the role")]
    document = summary_document("s", 3, results)
    assert not document["complete"]
    message = render_summary(document)
    assert message.subject.startswith("sgguard organization sweep: ACTION NEEDED")
    assert len(message.subject) <= SUBJECT_LIMIT
    text = json.loads(message.body)["default"]
    assert f"{B} eu-west-1: could not assume the role" in text
    assert "1 units did not report" in text


def test_a_thousand_accounts_fit_one_message() -> None:
    results = [_result(i, f"{100000000000 + i}", "eu-west-1", i % 7) for i in range(3000)]
    message = render_summary(summary_document("s", 3000, results))
    assert len(message.body.encode()) <= MESSAGE_BUDGET
    document = json.loads(json.loads(message.body)["sqs"])
    assert document["totals"]["violating"] == sum(i % 7 for i in range(3000))
    assert len(document["worst"]) == 20
