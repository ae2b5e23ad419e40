"""The fuzz run through the Lambda handler on moto: at least 20,000 mutated events (every deterministic
mutation of tests/test_fuzz.py, then random stacked ones: dropped keys, nulls, wrong types in every field,
strings up to 300,000 characters, lists of thousands of rules, deep nesting, unicode with unpaired
surrogates, numbers as strings, bogus regions and event names). No exception may escape the handler,
every message SNS is asked to take must fit its 256 KiB (moto checks only the body's characters, so the
whole publish is measured here too) and be accepted, and nothing may be revoked that the baseline does
not flag. The handler is called directly (Chalice's test client would cost more per event than the
handler itself); tests/test_fail_closed.py goes through the client for each way of failing.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import handler
from chalicelib.adapters import clients
from chalicelib.baseline import load_baseline
from chalicelib.evaluate import evaluate
from devtools.eventgen import authorize_and_record
from tests.conftest import REGION, ROOT
from tests.moto_env import World
from tests.test_fuzz import ALL_MUTATIONS, SAMPLES_, _drop, _get, _paths, _set

TOTAL = 20_000
SNS_LIMIT = 256 * 1024
BASELINE = load_baseline()
HOSTILE_STRINGS = (
    "\ud800",
    "a\udfffb\ud83d",
    "x" * 300_000,
    "\u202e\u2066evil\u2069\n\rWHAT SGGUARD DID\nnothing",
    "\x00\x1b[2J\x85\u2028",
    "eu-west-1\n",
    "us-east-99",
    "../../etc/passwd",
    "٣٣",
    "22",
    " 443 ",
    "-1",
    "AuthorizeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "RevokeSecurityGroupIngress",
    "ec2.amazonaws.com",
)
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    True,
    0,
    -2,
    70000,
    2**64,
    1e308,
    [],
    {},
    {"items": None},
    {"items": [None, 1, "x", {"a": {"b": {"c": [[[[[]]]]]}}}]},
    *HOSTILE_STRINGS,
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for index in range(depth):
        value = {"items": [value]} if index % 2 else [value]
    return value


def _random_event(rng: random.Random) -> Any:
    event = copy.deepcopy(rng.choice(SAMPLES_))
    for _ in range(rng.randint(1, 4)):
        paths = list(_paths(event))
        if not paths:
            break
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.25:
            _drop(event, path)
        elif action < 0.75:
            _set(event, path, copy.deepcopy(rng.choice(HOSTILE_VALUES)))
        elif action < 0.85:
            _set(event, path, str(_get(event, path)))
        elif action < 0.95:
            _set(event, path, _deep(rng.randint(10, 60)))
        else:
            _set(event, path, [_get(event, path)] * rng.randint(2, 3000))
    return event


def _real_events(world: World) -> list[Any]:
    """Rule changes really made in moto (so that revocations really happen), also with a request that
    cannot be read next to AWS's rule set."""
    group = world.group("fuzz")
    events = []
    for port in (22, 3389, 5432):
        rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        event, _ = authorize_and_record(world.ec2, group, [rule])
        broken = copy.deepcopy(event)
        broken["detail"]["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "x" * 300_000
        events += [broken, event]
    return events


def _events(real: list[Any]) -> Iterator[Any]:
    """The real ones, every deterministic mutation, then random ones up to TOTAL."""
    yield from real
    yield from (case for _, case in ALL_MUTATIONS)
    rng = random.Random(20_000)
    for _ in range(TOTAL - len(real) - len(ALL_MUTATIONS)):
        yield _random_event(rng)


def _prod_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config["environment_variables"], **config["stages"]["prod"]["environment_variables"]}
    env["IDEMPOTENCY_TABLE"] = ""  # the container's memory: the table is tested elsewhere, and costs a call
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_twenty_thousand_hostile_events_through_the_handler(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prod_environment(monkeypatch)
    published: list[int] = []
    revoked: list[dict[str, Any]] = []

    def measure(params: dict[str, Any], **_: Any) -> None:
        size = len(params["Message"].encode()) + len(params.get("Subject", "").encode())
        for name, value in params.get("MessageAttributes", {}).items():
            size += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        assert size <= SNS_LIMIT, size
        published.append(size)

    def remember(params: dict[str, Any], **_: Any) -> None:
        revoked.append(params)

    sns = clients.sns(REGION)
    sns.meta.events.register("provide-client-params.sns.Publish", measure)
    ec2 = clients.ec2(REGION)
    for operation in ("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"):
        ec2.meta.events.register(f"provide-client-params.ec2.{operation}", remember)
    real = _real_events(world)
    rules_before = {r["SecurityGroupRuleId"]: r for r in _all_rules(world)}
    outcomes: dict[str, int] = {}
    seen = 0
    with contextlib.redirect_stdout(io.StringIO()) as log:
        for event in _events(real):
            decision = handler.handle_event(event)  # any exception escaping fails the run
            outcomes[decision["outcome"]] = outcomes.get(decision["outcome"], 0) + 1
            seen += 1
            if seen % 500 == 0:
                log.seek(0)
                log.truncate()
    assert seen >= TOTAL
    assert set(outcomes) == {"ignored", "compliant", "violation", "invalid"}, outcomes
    assert published, "violations were published"
    for call in revoked:  # only rules the baseline flags, as they were
        for rule_id in call["SecurityGroupRuleIds"]:
            from chalicelib.adapters.ec2 import rule_from_describe

            [finding] = evaluate([rule_from_describe(rules_before[rule_id])], BASELINE)
            assert finding.must_revoke, rule_id
    assert revoked, "the real violations were revoked"


def _all_rules(world: World) -> list[dict[str, Any]]:
    pages = world.ec2.get_paginator("describe_security_group_rules").paginate()
    return [rule for page in pages for rule in page["SecurityGroupRules"]]
