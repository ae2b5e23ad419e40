"""The replay routes through Chalice's test client: switched per stage, 400s that say what is wrong,
dry-run without side effects, enforce exactly like the Lambda (revoke, audit line, message)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.baseline import load_baseline
from chalicelib.http_api import MAX_BODY
from devtools.eventgen import authorize_and_record
from tests.conftest import ROOT, SAMPLES, load_sample
from tests.moto_env import World, build_world

JSON = {"Content-Type": "application/json"}
pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


def call(stage: str, method: str, path: str, body: str | bytes | None = None) -> tuple[int, dict[str, Any]]:
    from app import app

    with Client(app, stage_name=stage, project_dir=str(ROOT)) as client:
        response = client.http.request(method, path, headers=JSON, body=body or b"")
    return response.status_code, json.loads(response.body or b"{}")


@pytest.mark.parametrize(("method", "path"), [("GET", "/health"), ("GET", "/baseline"), ("POST", "/replay")])
def test_switched_off_in_prod_every_route_is_404_and_does_nothing(method: str, path: str) -> None:
    body = (SAMPLES / "authorize-ingress-all-traffic-world.json").read_text()
    assert call("prod", method, path, body) == (404, {"message": "Not Found"})


def test_health_and_baseline_in_dev() -> None:
    assert call("dev", "GET", "/health") == (
        200,
        {"status": "ok", "mode": "dry-run", "baseline": "aws-foundational"},
    )
    status, body = call("dev", "GET", "/baseline")
    assert status == 200
    assert body == load_baseline().model_dump(mode="json")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "{not json",
            "the body is not JSON: line 1 column 2: Expecting property name enclosed in double quotes",
        ),
        (
            '{"Records": [' + "[" * 2000 + "]" * 2000 + "]}",
            "the body is not JSON: line 1 column 1: nested deeper than 100",
        ),
        ('{"Records": [NaN]}', "the body is not JSON: line 1 column 1: NaN is not JSON"),
        ('{"detail": {"x": -Infinity}}', "-Infinity is not JSON"),
        ('{"detail": {}} {"detail": {}}', "the body is not JSON: line 1 column 16: expected the end"),
        ("", "the body is empty"),
        ("[1, 2]", "the body: expected an EventBridge event, a CloudTrail record or a trail log file"),
        ('{"hello": 1}', "this object has none of detail, eventName, Records"),
        ('{"Records": {}}', "Records: expected a list of CloudTrail records, found an object"),
        (b"\xff\xfe{}", "the body is not UTF-8 text"),
    ],
)
def test_bad_bodies_get_400_saying_what_is_wrong(body: str | bytes, message: str) -> None:
    status, answer = call("dev", "POST", "/replay", body)
    assert status == 400
    assert message in answer["message"]


def test_body_over_one_mib_is_refused() -> None:
    event = load_sample("authorize-ingress-all-traffic-world.json")
    event["padding"] = "x" * MAX_BODY
    status, answer = call("dev", "POST", "/replay", json.dumps(event))
    assert status == 400
    assert "over the limit of 1 MiB" in answer["message"]


def test_wrong_mode_is_400() -> None:
    status, answer = call("dev", "POST", "/replay?mode=revoke", "{}")
    assert (status, answer["message"]) == (400, "mode: expected one of enforce, dry-run, got 'revoke'")


def test_one_invalid_event_is_400_naming_the_field() -> None:
    event = load_sample("authorize-ingress-legacy-without-rule-ids.json")
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["toPort"] = 70000
    status, answer = call("dev", "POST", "/replay", json.dumps(event))
    assert status == 400
    assert "detail.requestParameters.ipPermissions.items[0].toPort" in answer["message"]
    assert answer["decisions"][0]["outcome"] == "invalid"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield from build_world()


ALL_TRAFFIC_WORLD = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_log_file_body_in_dry_run_has_no_side_effects(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    status, answer = call("dev", "POST", "/replay", (SAMPLES / "cloudtrail-log-file.json").read_text())
    assert status == 200
    assert answer["mode"] == "dry-run"
    assert [d["outcome"] for d in answer["decisions"]] == ["violation", "violation", "violation"]
    assert answer["summary"]["skipped_by_reason"] == {"not a rule change": 1, "refused call": 1}
    assert answer["summary"]["events_read"] == 5
    assert world.messages() == []
    assert '"sgguard": "decision"' not in capsys.readouterr().out


@pytest.fixture
def chalice_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `chalice local` has and a deployed function has not: the Chalice command line's marker."""
    monkeypatch.setenv("AWS_CHALICE_CLI_MODE", "true")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)


def test_enforce_revokes_logs_and_publishes_like_the_lambda(
    world: World, capsys: pytest.CaptureFixture[str], chalice_local: None
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    rule_id = created[0]["SecurityGroupRuleId"]

    status, answer = call("dev", "POST", "/replay", json.dumps(event))
    assert status == 200
    assert answer["decisions"][0]["findings"][0]["action"] == "would-revoke"
    assert rule_id in world.rule_ids(group)

    status, answer = call("dev", "POST", "/replay?mode=enforce", json.dumps(event))
    assert status == 200
    [decision] = answer["decisions"]
    assert decision["findings"][0]["action"] == "revoked"
    assert rule_id not in world.rule_ids(group)
    [message] = world.messages()
    assert message["document"] == decision
    assert '"sgguard":"decision"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setting", "routes"),
    [("off", []), ("on", ["/baseline", "/health", "/replay"]), ("", ["/baseline", "/health", "/replay"])],
)
def test_a_stage_that_switches_the_api_off_is_loaded_without_routes(setting: str, routes: list[str]) -> None:
    """Chalice applies the stage's variables before it loads app.py for `local`, `deploy` and
    `package`: with REPLAY_API=off the app has no routes, so prod gets no API Gateway at all."""
    code = "import json, app; print(json.dumps(sorted(app.app.routes)))"
    env = {"REPLAY_API": setting, "PATH": "", "AWS_DEFAULT_REGION": "eu-west-1"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == routes


def test_every_route_requires_iam_when_deployed() -> None:
    from app import app

    for path, methods in app.routes.items():
        for method, entry in methods.items():
            assert type(entry.authorizer).__name__ == "IAMAuthorizer", f"{method} {path}"


@pytest.mark.parametrize(
    "environ",
    [
        {"AWS_LAMBDA_FUNCTION_NAME": "sgguard-dev", "AWS_CHALICE_CLI_MODE": "true"},
        {"AWS_LAMBDA_FUNCTION_NAME": "sgguard-dev"},
        {},
    ],
    ids=["lambda-with-a-forged-marker", "lambda", "no-marker"],
)
def test_deployed_enforce_is_400_and_acts_on_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    """A forged event with a forged identity (bypassing an actor-scoped exemption) must not make the
    deployed API revoke with sgguard's role, nor send a forged alert."""
    import chalicelib.local_replay

    monkeypatch.delenv("AWS_CHALICE_CLI_MODE", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(chalicelib.local_replay, "enforce", _must_not_run)
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    event["detail"]["userIdentity"]["arn"] = "arn:aws:sts::111122223333:assumed-role/BreakGlass/forged"

    status, answer = call("dev", "POST", "/replay?mode=enforce", json.dumps(event))

    assert status == 400
    assert "sgguard replay --mode enforce" in answer["message"]
    assert "chalice local" in answer["message"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.messages() == []


def _must_not_run(*_: Any, **__: Any) -> Any:
    raise AssertionError("the deployed API reached the local-only enforce path")


def test_deployed_dry_run_decides_and_publishes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "sgguard-dev")
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])

    status, answer = call("dev", "POST", "/replay", json.dumps(event))

    assert status == 200
    assert answer["decisions"][0]["findings"][0]["action"] == "would-revoke"
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
    assert world.messages() == []


def test_local_enforce_with_a_missing_topic_revokes_nothing_and_says_why(
    world: World, chalice_local: None
) -> None:
    world.sns.delete_topic(TopicArn=world.topics["dev"])
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])

    status, answer = call("dev", "POST", "/replay?mode=enforce", json.dumps(event))

    assert status == 503
    assert world.topics["dev"] in answer["message"]
    assert "nothing was revoked" in answer["message"]
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)
