"""`sgguard bootstrap` and `chalice deploy` for real, against a moto server: a fresh account gets the
role, function, rule, topic, table, queue, alarms and invoke config, with no file edited; a second run
of both changes nothing. (Stage prod: it has no routes, and moto cannot import Chalice's swagger.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.servers import Server, fake_aws_environ, moto_server
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
STAGE = "prod"
FUNCTION = f"sgguard-{STAGE}-on_security_group_change"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def moto() -> Iterator[Server]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the project as a new user has it (chalice deploy writes its records beside it)."""
    target = tmp_path_factory.mktemp("clone")
    for name in ("app.py", "chalicelib", "requirements.txt"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    shutil.copytree(ROOT / ".chalice", target / ".chalice", ignore=shutil.ignore_patterns("deployed"))
    return target


def _run(argv: list[str], project: Path, moto: Server) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        cwd=project,
        env=fake_aws_environ(endpoint=moto.url),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def _bootstrap(project: Path, moto: Server) -> dict[str, Any]:
    result = _run([str(BIN / "sgguard"), "bootstrap", "--stage", STAGE, "--format", "json"], project, moto)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _deploy(project: Path, moto: Server) -> None:
    _run([str(BIN / "chalice"), "deploy", "--stage", STAGE], project, moto)


def _state(moto: Server) -> dict[str, Any]:
    """What exists in the account, with whatever AWS changes by itself left out."""
    session = boto3.session.Session(region_name="eu-west-1")
    lambda_, iam, events, sqs, dynamodb, sns, cloudwatch = (
        session.client(s, endpoint_url=moto.url)
        for s in ("lambda", "iam", "events", "sqs", "dynamodb", "sns", "cloudwatch")
    )
    function = lambda_.get_function_configuration(FunctionName=FUNCTION)
    role = function["Role"].rsplit("/", 1)[-1]
    rules = [r for r in events.list_rules()["Rules"] if r["Name"].startswith(f"sgguard-{STAGE}")]
    queue = sqs.get_queue_url(QueueName=f"sgguard-failed-events-{STAGE}")["QueueUrl"]
    table = dynamodb.describe_table(TableName=f"sgguard-idempotency-{STAGE}")["Table"]
    return {
        "role": iam.get_role(RoleName=role)["Role"]["Arn"],
        "role_policies": {
            name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        },
        "function": {
            k: function.get(k) for k in ("FunctionArn", "Role", "Handler", "Runtime", "Environment")
        },
        "rules": [
            {
                "arn": r["Arn"],
                "pattern": json.loads(r["EventPattern"]) if "EventPattern" in r else None,
                "schedule": r.get("ScheduleExpression"),
                "targets": [t["Arn"] for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]],
            }
            for r in rules
        ],
        "table": (table["TableArn"], table["KeySchema"]),
        "ttl": dynamodb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"],
        "queue": sqs.get_queue_attributes(
            QueueUrl=queue, AttributeNames=["QueueArn", "MessageRetentionPeriod"]
        )["Attributes"],
        "invoke_config": {
            k: v
            for k, v in lambda_.get_function_event_invoke_config(FunctionName=FUNCTION).items()
            if k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        },
        "topics": sorted(t["TopicArn"] for t in sns.list_topics()["Topics"]),
        "units": _units_queue(sqs, lambda_),
        "alarms": sorted(
            (a["AlarmName"], a["MetricName"], tuple(a["AlarmActions"]))
            for a in cloudwatch.describe_alarms()["MetricAlarms"]
        ),
    }


def _units_queue(sqs: Any, lambda_: Any) -> dict[str, Any]:
    """The organization sweep's queue, its dead-letter queue and the consumer's event source mapping."""
    url = sqs.get_queue_url(QueueName=f"sgguard-sweep-units-{STAGE}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    consumer = f":function:sgguard-{STAGE}-sweep_organization_unit"
    mappings = lambda_.list_event_source_mappings()  # moto filters by name poorly: filter here
    return {
        "arn": attributes["QueueArn"],
        "visibility": attributes["VisibilityTimeout"],
        "redrive": json.loads(attributes["RedrivePolicy"]),
        "mappings": [
            (m["EventSourceArn"], m["BatchSize"])
            for m in mappings["EventSourceMappings"]
            if m["FunctionArn"].endswith(consumer)
        ],
    }


def test_bootstrap_then_chalice_deploy_makes_everything_and_a_second_run_changes_nothing(
    moto: Server, project: Path
) -> None:
    first = _bootstrap(project, moto)
    assert not first["complete"]
    actions = {(s["resource"], s["name"]): s["action"] for s in first["steps"]}
    assert actions[("sns topic", f"sgguard-notifications-{STAGE}")] == "created"
    assert actions[("dynamodb table", f"sgguard-idempotency-{STAGE}")] == "created"
    assert actions[("sqs queue", f"sgguard-failed-events-{STAGE}")] == "created"
    assert actions[("on-failure destination", FUNCTION)] == "pending"

    _deploy(project, moto)
    second = _bootstrap(project, moto)
    assert second["complete"]
    done = {(s["resource"], s["name"]): s["action"] for s in second["steps"]}
    assert done[("invoke config", FUNCTION)] == "created"
    assert done[("role policy", f"{FUNCTION}/sgguard-send-failed-events")] == "created"
    assert {a for k, a in done.items() if k[0] not in ("invoke config", "role policy")} == {"found"}

    state = _state(moto)
    account = state["role"].split(":")[4]
    from chalicelib.trigger import SECURITY_GROUP_RULE_CHANGES

    [rule] = [r for r in state["rules"] if r["pattern"] is not None]
    assert rule["pattern"] == SECURITY_GROUP_RULE_CHANGES
    [sweep] = [r for r in state["rules"] if r["schedule"] is not None]  # the scheduled sweep
    assert sweep["schedule"] == "rate(1 hour)"
    assert rule["targets"] == [state["function"]["FunctionArn"]]
    variables = state["function"]["Environment"]["Variables"]
    assert variables["NOTIFY_TOPIC"] == f"sgguard-notifications-{STAGE}"  # resolved at run time
    assert f"arn:aws:sns:eu-west-1:{account}:sgguard-notifications-{STAGE}" in state["topics"]
    assert state["ttl"]["AttributeName"] == "expires_at"
    assert state["invoke_config"] == {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 21600,
        "DestinationConfig": {"OnFailure": {"Destination": state["queue"]["QueueArn"]}},
    }
    [send] = state["role_policies"]["sgguard-send-failed-events"]["Statement"]
    assert (send["Action"], send["Resource"]) == ("sqs:SendMessage", state["queue"]["QueueArn"])
    assert {name for name, _, _ in state["alarms"]} >= {
        f"sgguard-{STAGE}-failed-events",
        f"{FUNCTION}-errors",
        f"{FUNCTION}-throttles",
        f"sgguard-sweep-units-{STAGE}-dead",  # the organization sweep's units that kept failing
    }

    units = state["units"]
    assert units["mappings"] == [(units["arn"], 1)]  # one unit per invocation
    assert units["visibility"] == str(6 * 900)
    assert units["redrive"]["maxReceiveCount"] == 3
    assert units["redrive"]["deadLetterTargetArn"].endswith(f":sgguard-sweep-units-{STAGE}-dead")

    again = _bootstrap(project, moto)
    assert again["complete"]
    assert {s["action"] for s in again["steps"]} == {"found"}
    _deploy(project, moto)
    assert _state(moto) == state


def test_bootstrap_dry_run_changes_nothing(moto: Server, project: Path) -> None:
    result = _run(
        [str(BIN / "sgguard"), "bootstrap", "--stage", "dev", "--dry-run", "--format", "jsonl"], project, moto
    )
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    assert ("would create", "dynamodb table", "sgguard-idempotency-dev") in {
        (s["action"], s["resource"], s["name"]) for s in steps
    }
    client = boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=moto.url)
    assert "sgguard-idempotency-dev" not in client.list_tables()["TableNames"]


def test_bootstrap_errors_in_the_users_words(moto: Server, project: Path, tmp_path: Path) -> None:
    env = fake_aws_environ(endpoint=moto.url)
    sgguard = str(BIN / "sgguard")
    unknown = subprocess.run(
        [sgguard, "bootstrap", "--stage", "qa"], cwd=project, env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 2
    assert "stage 'qa' is not in .chalice/config.json (stages: dev, prod)" in unknown.stderr
    elsewhere = subprocess.run(
        [sgguard, "bootstrap", "--stage", "prod", "--project-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert elsewhere.returncode == 2
    assert "is not a Chalice project" in elsewhere.stderr
    denied = subprocess.run(
        [sgguard, "bootstrap", "--stage", "prod"],
        cwd=project,
        env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # nothing listens: AWS cannot be reached
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert denied.returncode == 1
    assert denied.stderr.startswith("sgguard bootstrap: AWS could not be reached")
    for result in (unknown, elsewhere, denied):
        assert "Traceback" not in result.stderr
    helped = subprocess.run([sgguard, "bootstrap", "--help"], capture_output=True, text=True)
    assert "chalice deploy --stage prod" in helped.stdout
    assert "exit status" in helped.stdout


def test_the_functions_never_reach_bootstrap() -> None:
    """bootstrap runs with the operator's credentials; the functions' policies must not grant its calls."""
    from tests.test_deployment import lambda_files

    assert not [p for p in lambda_files() if "deploy" in p.relative_to(ROOT).parts[:2]]
