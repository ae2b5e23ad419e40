"""What Chalice deploys: the least-privilege policies, the EventBridge pattern, the stage settings."""

from __future__ import annotations

import ast
import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from chalicelib.trigger import SECURITY_GROUP_RULE_CHANGES
from tests.conftest import ROOT, SAMPLE_EVENTS, load_sample

CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
STAGES = sorted(CONFIG["stages"])
SERVICES = {
    "ec2": "ec2",
    "sns": "sns",
    "sts": "sts",
    "dynamodb": "dynamodb",
    "s3": "s3",
    "events": "events",
    "securityhub": "securityhub",
    "sqs": "sqs",
    "organizations": "organizations",
}
IAM_ACTIONS = {"sqs:SendMessageBatch": "sqs:SendMessage"}
"""Operations IAM authorises under another action's name."""


def _api_names() -> dict[str, str]:
    """boto3 method name -> IAM action, for the services sgguard may call."""
    session = boto3.session.Session(region_name="eu-west-1")
    names: dict[str, str] = {}
    for service, prefix in SERVICES.items():
        client = session.client(service)
        for method, operation in client.meta.method_to_api_mapping.items():
            action = f"{prefix}:{operation}"
            names.setdefault(method, IAM_ACTIONS.get(action, action))
    return names


def _calls_in(path: Path, api: dict[str, str]) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr in api:
            yield api[node.func.attr]
        if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            yield api[str(node.args[0].value)]
        elif node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            name = node.args[0].value  # an operation handed to a helper: self._pages("describe_x", ...)
            if "_" in name and name in api:
                yield api[name]


def _module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


SWEEP_FUNCTION = "sweep_security_groups"
"""The scheduled sweep has its own role and policy (stages.<stage>.lambda_functions in config.json)."""
UNIT_FUNCTION = "sweep_organization_unit"
"""The organization sweep's consumer, too."""
ESM_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
"""What Lambda's event source mapping does with the consumer's role (not its code)."""


LOCAL_ONLY = "# local-only"
"""Marks the one import the deployed functions never run (http_api's enforce under `chalice local`):
the walk of a function's code does not follow it; tests/test_http_api.py proves it is never reached
where deployed."""


def _imports(path: Path) -> Iterator[str]:
    """Every chalicelib module a file imports, at the top or inside a function (deferred imports),
    except an import marked local-only."""
    lines = path.read_text().splitlines()
    for node in ast.walk(ast.parse(path.read_text())):
        if LOCAL_ONLY in lines[node.lineno - 1] if isinstance(node, ast.Import | ast.ImportFrom) else False:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _reachable(starts: list[Path]) -> set[Path]:
    seen: set[Path] = set()
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            found = _module_path(name) if name.startswith("chalicelib") else None
            if found is not None:
                todo.append(found)
    return seen


API_HANDLER = "api_handler"
"""The one Lambda function Chalice builds for every route."""


def functions() -> dict[str, set[Path]]:
    """Each Lambda function Chalice deploys (the name Chalice gives it, which .chalice/config.json's
    ``lambda_functions`` uses) -> the files its code can run: app.py's handler body (and the app.py
    helpers it calls), then every chalicelib module reached from the names it uses. Event handlers
    are found on the app object (``name=`` of the decorator, or the Python function's name); routes
    all run in ``api_handler``."""
    from app import app

    tree = ast.parse((ROOT / "app.py").read_text())
    defined = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    imported: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chalicelib"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                imported[alias.asname or alias.name] = full if _module_path(full) else node.module

    def entry_files(name: str, seen: set[str]) -> set[Path]:
        seen.add(name)
        files: set[Path] = set()
        for node in ast.walk(defined[name]):
            if isinstance(node, ast.Name) and node.id in imported:
                found = _module_path(imported[node.id])
                files |= {found} if found else set()
            elif isinstance(node, ast.Name) and node.id in defined and node.id not in seen:
                files |= entry_files(node.id, seen)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chalicelib"):
                found = _module_path(node.module)
                files |= {found} if found else set()
        return files

    out: dict[str, set[Path]] = {}
    for source in [*app.event_sources, *app.pure_lambda_functions]:
        out[source.name] = entry_files(source.handler_string.rsplit(".", 1)[1], set())
    for methods in app.routes.values():
        for route in methods.values():
            out.setdefault(API_HANDLER, set()).update(entry_files(route.view_name, set()))
    return {name: _reachable(sorted(starts)) | {ROOT / "app.py"} for name, starts in out.items()}


def lambda_files(start: Path | None = None, skip_functions: tuple[str, ...] = ()) -> set[Path]:
    """The files the deployed functions can run (``start``: what one module reaches), leaving out the
    functions named in ``skip_functions`` (each function has a role of its own: :func:`functions`)."""
    if start is not None:
        return _reachable([start])
    return set().union(*(files for name, files in functions().items() if name not in skip_functions))


def actions_used_by_code(files: set[Path] | None = None) -> set[str]:
    """The AWS actions the given files call (by default: what the Lambda functions can run)."""
    api = _api_names()
    paths = lambda_files() if files is None else files
    return {action for path in paths for action in _calls_in(path, api)}


def _policy(stage: str, function: str | None = None) -> dict:
    """The policy file of a function in a stage (``lambda_functions`` first, then the stage's)."""
    settings = CONFIG["stages"][stage]
    per_function = settings.get("lambda_functions", {}).get(function or "", {})
    name = per_function.get("iam_policy_file") or settings["iam_policy_file"]
    return json.loads((ROOT / ".chalice" / name).read_text())


def test_policy_generation_is_off_and_every_stage_has_its_own_policy() -> None:
    assert CONFIG["autogen_policy"] is False
    assert CONFIG["app_name"] == "sgguard"
    assert set(STAGES) == {"dev", "prod"}
    for stage in STAGES:
        assert (ROOT / ".chalice" / f"policy-{stage}.json").exists()


def test_scan_finds_the_calls_we_know_about() -> None:
    used = actions_used_by_code()
    assert {"ec2:RevokeSecurityGroupIngress", "ec2:DescribeSecurityGroupRules", "sns:Publish"} <= used
    assert ROOT / "chalicelib" / "http_api.py" in lambda_files()


def test_only_the_command_line_reads_s3() -> None:
    """`sgguard replay s3://...` reads a trail with the operator's credentials. The Lambda never reads
    S3, so its policy must not grant it: no module the Lambda runs may reach the S3 adapter."""
    everything = set((ROOT / "chalicelib").rglob("*.py"))
    assert {"s3:ListObjectsV2", "s3:GetObject"} <= actions_used_by_code(everything)
    assert not any(a.startswith("s3:") for a in actions_used_by_code())
    assert ROOT / "chalicelib" / "adapters" / "s3.py" not in lambda_files()
    assert ROOT / "chalicelib" / "sources.py" not in lambda_files()


def stage_environment(stage: str) -> dict[str, str]:
    """The variables a stage's functions see: the top-level ones, then the stage's own."""
    return {**CONFIG.get("environment_variables", {}), **CONFIG["stages"][stage]["environment_variables"]}


def switched_off(stage: str) -> set[str]:
    """Actions of outputs the stage does not switch on, read by the code's own settings parser: the
    policy must not grant them (README "Where security teams look" says how to switch each on)."""
    from chalicelib.settings import output_settings

    wanted = output_settings(stage_environment(stage))
    off = set()
    if not wanted["security_hub"]:
        off |= {"securityhub:BatchImportFindings", "securityhub:GetFindings"}
    if not wanted["eventbridge"]:
        off.add("events:PutEvents")
    return off


def _granted(policy: dict) -> set[str]:
    granted = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, f"wildcard action {action}"
            if not action.startswith("logs:"):
                granted.add(action)
    return granted


def test_functions_are_found_with_their_own_code() -> None:
    found = functions()
    assert set(found) >= {"on_security_group_change", API_HANDLER}
    assert ROOT / "chalicelib" / "handler.py" in found["on_security_group_change"]
    assert ROOT / "chalicelib" / "http_api.py" in found[API_HANDLER]
    api = found[API_HANDLER]
    for never in (
        "handler.py",
        "local_replay.py",
        "adapters/revoke.py",
        "adapters/sns.py",
        "adapters/ledger.py",
    ):
        assert ROOT / "chalicelib" / never not in api, never


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("function", sorted(functions()))
def test_policy_grants_exactly_the_calls_the_code_makes(stage: str, function: str) -> None:
    """Each function's policy against its own code, less the outputs the stage leaves off."""
    granted = _granted(_policy(stage, function))
    if function == UNIT_FUNCTION:
        granted -= ESM_ACTIONS  # Lambda reads the queue with the function's role
    assert granted == actions_used_by_code(functions()[function]) - switched_off(stage)


@pytest.mark.parametrize("stage", STAGES)
def test_the_organization_sweep_grants_what_its_two_functions_need_on_its_queue(stage: str) -> None:
    config = CONFIG["stages"][stage]
    queue = config["environment_variables"]["SWEEP_UNITS_QUEUE"]
    assert queue == f"sgguard-sweep-units-{stage}"
    unit = config["lambda_functions"][UNIT_FUNCTION]
    statements = {a: s for s in _policy(stage, UNIT_FUNCTION)["Statement"] for a in s["Action"]}
    for action in ESM_ACTIONS:
        assert statements[action]["Resource"] == f"arn:aws:sqs:*:*:{queue}"
    sends = {a: s for s in _policy(stage, SWEEP_FUNCTION)["Statement"] for a in s["Action"]}
    assert sends["sqs:SendMessage"]["Resource"] == f"arn:aws:sqs:*:*:{queue}"
    assert {"organizations:ListAccounts", "sqs:SendMessage"} <= actions_used_by_code(
        functions()[SWEEP_FUNCTION]
    )
    # reserved concurrency at least the event source's maximum: Lambda never throttles the mapping, whose
    # throttled receives would count towards the redrive policy and send healthy units to the DLQ
    from chalicelib.org.scope import DEFAULT_CONCURRENCY

    assert unit["reserved_concurrency"] >= DEFAULT_CONCURRENCY
    assert unit["lambda_timeout"] >= 300


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_function_only_reads(stage: str) -> None:
    """Revoke, publish and DynamoDB writes belong to the guard; the replay route previews only."""
    granted = _granted(_policy(stage, API_HANDLER))
    assert granted
    reads = {a for a in granted if a.split(":")[1].startswith(("Describe", "Get"))}
    # organization mode: a member account's rules are read through its member role
    assert granted - reads == {"sts:AssumeRole"}, granted
    assert _policy(stage, API_HANDLER) != _policy(stage)


def test_the_topic_check_is_the_command_lines_alone() -> None:
    """sns:GetTopicAttributes (checking --notify's topic first) runs with the operator's credentials."""
    everything = set((ROOT / "chalicelib").rglob("*.py"))
    assert "sns:GetTopicAttributes" in actions_used_by_code(everything)
    assert "sns:GetTopicAttributes" not in actions_used_by_code()


def test_the_outputs_calls_are_seen_by_the_scan() -> None:
    event_functions = lambda_files(skip_functions=(SWEEP_FUNCTION, UNIT_FUNCTION))
    assert {"events:PutEvents", "securityhub:BatchImportFindings"} <= actions_used_by_code(event_functions)
    assert "securityhub:GetFindings" not in actions_used_by_code(event_functions)  # only the sweep archives


def test_security_hub_is_granted_in_dev_only_where_it_is_switched_on() -> None:
    """Both branches of the rule above: dev switches Security Hub on (and grants it), prod leaves the
    default (off) and does not; EventBridge is on (the default) in both."""
    assert "securityhub:BatchImportFindings" not in switched_off("dev")
    assert "securityhub:BatchImportFindings" in switched_off("prod")
    assert "events:PutEvents" not in switched_off("prod")


@pytest.mark.parametrize("stage", STAGES)
def test_outputs_are_scoped_to_the_default_bus_and_the_default_product(stage: str) -> None:
    statements = {a: s for s in _policy(stage)["Statement"] for a in s["Action"]}
    if "events:PutEvents" in statements:
        assert statements["events:PutEvents"]["Resource"] == "arn:aws:events:*:*:event-bus/default"
    if "securityhub:BatchImportFindings" in statements:
        resource = statements["securityhub:BatchImportFindings"]["Resource"]
        assert resource == "arn:aws:securityhub:*:*:product/*/default"
    if "securityhub:GetFindings" in statements:  # a sweep reads its own findings back to archive them
        assert statements["securityhub:GetFindings"]["Resource"] == "arn:aws:securityhub:*:*:hub/default"


@pytest.mark.parametrize("stage", STAGES)
def test_a_chat_topic_is_granted_exactly_when_the_stage_names_one(stage: str) -> None:
    """sns:Publish is granted per topic: the notification topic's always, the chat topic's (CHAT_TOPIC
    or CHAT_TOPIC_ARN) only when the stage names one."""
    from chalicelib.settings import Settings

    settings = Settings.from_env(stage_environment(stage))
    chat = settings.chat_topic(lambda: "444455556666", "ap-southeast-2")
    resources = []
    for statement in _policy(stage)["Statement"]:
        if "sns:Publish" in statement["Action"]:
            found = statement["Resource"]
            resources += found if isinstance(found, list) else [found]
    assert any(fnmatch.fnmatch(_topic(stage), r) for r in resources)
    if chat:
        assert any(fnmatch.fnmatch(chat, r) for r in resources), f"{chat} is set but not granted"
    else:
        assert all(r.endswith(f"sgguard-notifications-{stage}") for r in resources)


def _topic(stage: str, account: str = "444455556666", region: str = "ap-southeast-2") -> str:
    """The ARN the stage's NOTIFY_TOPIC becomes in whatever account and region the function runs."""
    from chalicelib.settings import topic_arn

    return topic_arn(CONFIG["stages"][stage]["environment_variables"]["NOTIFY_TOPIC"], account, region)


def test_nothing_in_the_chalice_folder_names_an_account_or_a_region() -> None:
    """A new user deploys into their own account without editing a file: no account id, no region."""
    import re

    from botocore.session import get_session

    regions = set(get_session().get_available_regions("ec2"))
    for path in sorted((ROOT / ".chalice").rglob("*.json")):
        if "deployed" in path.parts or "deployments" in path.parts:
            continue  # chalice deploy's own records of a deployment (git-ignored)
        text = path.read_text()
        assert not re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text), f"{path}: an account id"
        assert not [r for r in regions if r in text], f"{path}: a region"


def function_files(name: str) -> set[Path]:
    """What one Lambda function runs (its Chalice name; :func:`functions`)."""
    return functions()[name]


@pytest.mark.parametrize("stage", STAGES)
def test_the_sweep_has_its_own_policy_granting_exactly_what_its_code_calls(stage: str) -> None:
    functions = CONFIG["stages"][stage]["lambda_functions"]
    policy_file = functions[SWEEP_FUNCTION]["iam_policy_file"]
    assert policy_file == f"policy-sweep-{stage}.json"
    policy = json.loads((ROOT / ".chalice" / policy_file).read_text())
    granted = {a for s in policy["Statement"] for a in s["Action"] if not a.startswith("logs:")}
    assert all(s["Effect"] == "Allow" and all("*" not in a for a in s["Action"]) for s in policy["Statement"])
    used = actions_used_by_code(function_files(SWEEP_FUNCTION))
    assert ROOT / "chalicelib" / "sweep" / "aws.py" in function_files(SWEEP_FUNCTION)
    assert {"ec2:DescribeNetworkInterfaces", "dynamodb:PutItem", "sns:Publish"} <= used
    assert "dynamodb:UpdateItem" not in used  # the event ledger is not the sweep's
    assert {"events:PutEvents", "securityhub:GetFindings", "securityhub:BatchImportFindings"} <= used
    assert granted == used - switched_off(stage)
    statements = {a: s for s in policy["Statement"] for a in s["Action"]}
    assert fnmatch.fnmatch(_topic(stage), statements["sns:Publish"]["Resource"])
    table = CONFIG["stages"][stage]["environment_variables"]["IDEMPOTENCY_TABLE"]
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert statements[action]["Resource"] == f"arn:aws:dynamodb:*:*:table/{table}"
    for action in ("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"):
        assert statements[action]["Resource"] == "arn:aws:ec2:*:*:security-group/*"
    assert functions[SWEEP_FUNCTION]["lambda_timeout"] >= 300  # a region's sweep needs minutes, not 60 s


@pytest.mark.parametrize("stage", STAGES)
def test_publish_is_scoped_to_the_stage_topic_and_revoke_to_security_groups(stage: str) -> None:
    statements = {a: s for s in _policy(stage)["Statement"] for a in s["Action"]}
    topic = _topic(stage)
    publish = statements["sns:Publish"]["Resource"]
    assert publish != "*"
    assert fnmatch.fnmatch(topic, publish)
    for other_stage in STAGES:
        if other_stage != stage:
            other = _topic(other_stage)
            assert not fnmatch.fnmatch(other, publish)
    for action in ("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"):
        assert statements[action]["Resource"] == "arn:aws:ec2:*:*:security-group/*"


def test_stage_settings() -> None:
    assert CONFIG["stages"]["prod"]["environment_variables"]["REMEDIATION_MODE"] == "enforce"
    assert CONFIG["stages"]["dev"]["environment_variables"]["REMEDIATION_MODE"] == "dry-run"


def test_app_registers_one_event_handler_with_the_pattern() -> None:
    from chalice.app import CloudWatchEventConfig

    from app import app

    [source] = [s for s in app.event_sources if isinstance(s, CloudWatchEventConfig)]
    assert source.name == "on_security_group_change"
    assert source.event_pattern == SECURITY_GROUP_RULE_CHANGES


@pytest.fixture
def events_client():
    """moto's EventBridge pattern matcher (its TestEventPattern API answers without a result)."""
    from moto.events.models import EventPattern

    return EventPattern.load(json.dumps(SECURITY_GROUP_RULE_CHANGES))


def _matches(matcher, event: dict) -> bool:
    return bool(matcher.matches_event(event))


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_pattern_lets_through_rule_changes_and_stops_refused_calls(events_client, name: str) -> None:
    event = load_sample(name)
    expected = "errorCode" not in event["detail"]
    assert _matches(events_client, event) is expected


def test_pattern_stops_other_ec2_calls(events_client) -> None:
    event = load_sample("authorize-ingress-all-traffic-world.json")
    for name in ("RunInstances", "RevokeSecurityGroupIngress", "CreateSecurityGroup"):
        event["detail"]["eventName"] = name
        assert not _matches(events_client, event)
    event["detail"]["eventName"] = "AuthorizeSecurityGroupIngress"
    event["source"] = "aws.s3"
    assert not _matches(events_client, event)


# --- what Chalice cannot declare: the idempotency table, the on-failure queue, Lambda's retries ------

DEPLOY = ROOT / ".chalice" / "deploy"


@pytest.mark.parametrize("stage", STAGES)
def test_merge_template_provides_table_queue_and_bounded_retries(stage: str) -> None:
    from chalice.utils import to_cfn_resource_name

    from chalicelib.idempotency import DELIVERY_ATTEMPTS

    template = json.loads((DEPLOY / f"{stage}.json").read_text())
    resources = template["Resources"]
    table = resources["IdempotencyTable"]["Properties"]
    assert table["TableName"] == CONFIG["stages"][stage]["environment_variables"]["IDEMPOTENCY_TABLE"]
    assert table["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    queue = resources["FailedEventsQueue"]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert "QueueName" not in queue["Properties"]  # generated: a retained queue never blocks a new stack
    assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain"
    invoke = resources["OnSecurityGroupChangeInvokeConfig"]
    assert invoke["Type"] == "AWS::Lambda::EventInvokeConfig"
    props = invoke["Properties"]
    function = to_cfn_resource_name("on_security_group_change")  # the name chalice package gives it
    assert props["FunctionName"] == {"Ref": function}
    assert props["MaximumRetryAttempts"] == DELIVERY_ATTEMPTS - 1  # the handler knows its last attempt
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailedEventsQueue", "Arn"]
    }
    send = resources["FailedEventsSendPolicy"]["Properties"]
    assert send["Roles"] == [{"Ref": f"{function}Role"}]
    assert invoke["DependsOn"] == ["FailedEventsSendPolicy"]  # Lambda checks the permission on creation


@pytest.mark.parametrize("stage", STAGES)
def test_ledger_writes_are_scoped_to_the_stage_table(stage: str) -> None:
    statements = {a: s for s in _policy(stage)["Statement"] for a in s["Action"]}
    table = CONFIG["stages"][stage]["environment_variables"]["IDEMPOTENCY_TABLE"]
    assert statements["dynamodb:UpdateItem"]["Resource"] == f"arn:aws:dynamodb:*:*:table/{table}"


@pytest.mark.parametrize("stage", STAGES)
def test_silent_invalid_events_are_alarmed(stage: str) -> None:
    """A rule-change record naming no group tells nobody; the metric for it (control ALL, over every
    account) must page someone."""
    from chalicelib.metrics import ALL_CONTROLS, METRICS, NAMESPACE

    alarm = json.loads((DEPLOY / f"{stage}.json").read_text())["Resources"]["SilentInvalidEventsAlarm"]
    props = alarm["Properties"]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    assert "SilentInvalidEvents" in METRICS
    [query] = props["Metrics"]
    assert query["Expression"] == (
        f"SELECT SUM(SilentInvalidEvents) FROM SCHEMA({NAMESPACE}, account, control) "
        f"WHERE control = '{ALL_CONTROLS}'"
    )
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["AlarmActions"] == [{"Ref": "NotificationTopic"}]
