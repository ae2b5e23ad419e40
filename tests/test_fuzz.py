"""Hostile and broken input: every shared sample mutated every way (fields dropped, wrong types, nulls,
huge arrays, 256 KB events, unicode, numbers as strings), then random stacked mutations by hypothesis.

Through pipeline.process with a fake AwsPort (no moto: fast). Every case must end in one of the four
outcomes without an exception; an ``invalid`` one names the field at fault, revokes nothing, asks AWS
nothing and can be logged in full; nothing that is revoked is a rule the baseline does not flag.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import audit
from chalicelib.baseline import load_baseline
from chalicelib.evaluate import Facts, evaluate
from chalicelib.events import AuthorizeRecord, InvalidEvent, ModifyRecord, parse_record, rule_change
from chalicelib.pipeline import process
from tests.conftest import SAMPLES, load_sample
from tests.fake_aws import FakeAws

BASELINE = load_baseline()
OUTCOMES = {"ignored", "compliant", "violation", "invalid"}
READS = {"DescribeSecurityGroups", "DescribeSecurityGroupRules", "DescribeManagedPrefixLists"}
Path = tuple[str | int, ...]


def _samples() -> list[dict[str, Any]]:
    out = [
        load_sample(p.name) for p in sorted(SAMPLES.glob("*.json")) if p.name != "cloudtrail-log-file.json"
    ]
    out.extend(load_sample("cloudtrail-log-file.json")["Records"])  # bare records, as a trail stores them
    return out


SAMPLES_ = _samples()


def _paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            yield (*prefix, index)
            yield from _paths(inner, (*prefix, index))


def _get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: Path, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _drop(doc: Any, path: Path) -> None:
    parent = _get(doc, path[:-1])
    del parent[path[-1]]


UNICODE = "\u00fc\u202e\U0001d518\x00\ufeff\u0663\u0664 \u300022\ufffd"


def _variants(value: Any) -> Iterator[Any]:
    """Values to put where ``value`` was: nulls, wrong types, unicode, numbers as strings, huge arrays."""
    yield from (None, True, 0, -1, 2**63, 1.5, "", "x", UNICODE, [], {}, [None], {"items": None})
    if isinstance(value, int) and not isinstance(value, bool):
        yield from (str(value), f" {value} ", f"{value}.0", float(value), -value - 2, 70000)
    if isinstance(value, str):
        yield from (value * 1000, value.upper(), "٢٢", int(value) if value.isdigit() else 99999999999)
    if isinstance(value, list):
        yield [value[0] if value else {}] * 5000
    if isinstance(value, dict):
        yield [value]
        yield {"items": [value] * 3}


def mutations(sample: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field dropped, and every field replaced by each variant; then whole-event cases."""
    for path in list(_paths(sample)):
        dropped = copy.deepcopy(sample)
        _drop(dropped, path)
        yield f"drop {path}", dropped
        for variant in _variants(_get(sample, path)):
            changed = copy.deepcopy(sample)
            _set(changed, path, variant)
            yield f"set {path}", changed
    big = copy.deepcopy(sample)
    big["padding"] = "x" * 256 * 1024
    yield "256 KB", big
    detail = sample.get("detail", sample)
    rules = (detail.get("responseElements") or {}).get("securityGroupRuleSet", {}).get("items")
    if rules:
        many = copy.deepcopy(sample)
        target = many.get("detail", many)["responseElements"]["securityGroupRuleSet"]
        target["items"] = [dict(rules[0], securityGroupRuleId=f"sgr-{i:017x}") for i in range(1200)]
        yield "1200 rules (~256 KB)", many
    for not_a_mapping in (None, [], "event", 42, [sample]):
        yield "not an object", not_a_mapping  # type: ignore[misc]


ALL_MUTATIONS = [(name, case) for sample in SAMPLES_ for name, case in mutations(sample)]

_PATH = re.compile(r"^(\(event\)|[A-Za-z_][\w-]*(\.[\w-]+|\[\d+\])*): ")


def _path_parts(text: str) -> list[str | int]:
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", text)]


def _parent_exists(raw: Any, parts: list[str | int]) -> bool:
    """The field at fault may be missing, but the object that should hold it is in the event."""
    for root in (raw, raw.get("detail") if isinstance(raw, dict) else None):
        node = root
        try:
            for part in parts[:-1]:
                if part == 0 and isinstance(node, dict):
                    continue  # ModifySecurityGroupRules writes a single SecurityGroupRule without a list
                node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            continue
        return True
    return False


def check(raw: Any) -> str:
    pristine = copy.deepcopy(raw)
    aws = FakeAws(current={})
    _mirror_current_state(raw, aws)
    decision = process(raw, BASELINE, "enforce", aws)
    assert decision.outcome in OUTCOMES
    assert raw == pristine  # the pipeline never changes the event it was given
    if decision.outcome == "invalid":
        assert aws.revoked == [], "an invalid event never revokes anything"
        if decision.group_id is None:
            assert aws.calls == [], "an invalid event naming no group never reaches AWS"
        else:  # it names its group: sgguard looks at the group's rules (reads only) to tell people
            assert set(aws.calls) <= READS, aws.calls
            assert decision.action_needed
        match = _PATH.match(decision.reason)
        assert match, decision.reason
        if match.group(1) != "(event)":
            assert _parent_exists(raw, _path_parts(match.group(1))), decision.reason
        out = io.StringIO()
        audit.log_decision(decision, raw, out)
        assert json.loads(out.getvalue())["event"] == json.loads(json.dumps(raw))  # logged in full
    if decision.outcome in ("ignored", "compliant"):
        assert aws.revoked == []
    for rule_id in aws.revoked:  # revoked only what the baseline flags, in its current state
        [finding] = evaluate([_revoked_rules[rule_id]], BASELINE, Facts(group_names={}))
        assert finding.must_revoke or _in_default_group(aws, _revoked_rules[rule_id])
    return decision.outcome


_revoked_rules: dict[str, Any] = {}


def _in_default_group(aws: FakeAws, rule: Any) -> bool:
    return aws.names.get(rule.group_id, aws.default_name) == "default"


def _mirror_current_state(raw: Any, aws: FakeAws) -> None:
    """AWS holds what a well-formed event says it created (as validated rules: describe answers are
    typed), so that violating cases really reach the revocation."""
    try:
        record = parse_record(raw)
        change = rule_change(record) if isinstance(record, AuthorizeRecord | ModifyRecord) else None
    except InvalidEvent:
        return
    for rule in change.rules if change else ():
        if rule.rule_id:
            aws.current[rule.rule_id] = rule
            _revoked_rules[rule.rule_id] = rule


def test_every_deterministic_mutation_of_every_sample_is_handled() -> None:
    outcomes: dict[str, int] = {}
    for _name, case in ALL_MUTATIONS:
        outcome = check(case)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert len(ALL_MUTATIONS) >= 5000
    assert set(outcomes) == OUTCOMES  # the mutations reach every outcome, not only "invalid"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    event = copy.deepcopy(draw(st.sampled_from(SAMPLES_)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(_paths(event))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["drop", "replace", "stringify", "wrap"]))
        if action == "drop":
            _drop(event, path)
        elif action == "replace":
            _set(event, path, draw(json_values))
        elif action == "stringify":
            _set(event, path, str(_get(event, path)))
        else:
            _set(event, path, [_get(event, path)])
    return event


RANDOM_CASES = 5500


@settings(max_examples=RANDOM_CASES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutated_events())
def test_random_stacked_mutations_are_handled(event: Any) -> None:
    check(event)


def test_the_suite_runs_at_least_ten_thousand_cases() -> None:
    assert len(ALL_MUTATIONS) + RANDOM_CASES >= 10_000
