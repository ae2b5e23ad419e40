"""The templates as CloudFormation receives them: `chalice package` with the merge template, once per
stage per test session, then cfn-lint and the reading of what was built."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.trigger import SECURITY_GROUP_RULE_CHANGES
from devtools.check_package import PackageProblem, check
from tests.conftest import ROOT
from tests.test_deployment import (
    API_HANDLER,
    STAGES,
    actions_used_by_code,
    functions,
    switched_off,
)

CHALICE = str(Path(sys.executable).parent / "chalice")
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
FUNCTION = "AWS::Serverless::Function"


def _package(stage: str, out: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # chalice wants one to start; the template must not show it
    subprocess.run(
        [CHALICE, "package", "--stage", stage, "--merge-template", f".chalice/deploy/{stage}.json", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """build/<stage> as `make package STAGE=<stage>` makes it, for every stage."""
    root = tmp_path_factory.mktemp("packaged")
    return {stage: _package(stage, root / stage) for stage in STAGES}


def _template(packaged: dict[str, Path], stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((packaged[stage] / "sam.json").read_text())
    return loaded


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def test_cfn_lint_finds_nothing_in_any_template(packaged: dict[str, Path]) -> None:
    templates = [str(packaged[stage] / "sam.json") for stage in STAGES]
    result = subprocess.run([CFN_LINT, "--format", "parseable", *templates], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("stage", STAGES)
def test_no_account_id_or_region_in_the_packaged_template(packaged: dict[str, Path], stage: str) -> None:
    text = (packaged[stage] / "sam.json").read_text()
    assert not re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    assert not re.findall(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]\b", text)


@pytest.mark.parametrize("stage", STAGES)
def test_the_guard_listens_for_the_rule_changes(packaged: dict[str, Path], stage: str) -> None:
    guard = _template(packaged, stage)["Resources"]["OnSecurityGroupChange"]
    [event] = guard["Properties"]["Events"].values()
    assert event == {"Type": "CloudWatchEvent", "Properties": {"Pattern": SECURITY_GROUP_RULE_CHANGES}}


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement that applies to the role: its inline policies and the policies attached to it."""
    resources = template["Resources"]
    found = [
        s for p in resources[role]["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]
    for resource in _of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in resource["Properties"]["Roles"]:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# What the Lambda service (not sgguard's code) does with a function's role: write its logs, deliver a
# failed event to the on-failure queue, use the topic's key when SNS encrypts a message.
_SERVICE_ACTIONS = {
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_is_granted_what_its_code_calls_and_no_wildcard(
    packaged: dict[str, Path], stage: str
) -> None:
    from chalice.utils import to_cfn_resource_name

    template = _template(packaged, stage)
    code = {  # each function's own code (tests/test_deployment.py): the API function only reads
        "APIHandler" if name == API_HANDLER else to_cfn_resource_name(name): files
        for name, files in functions().items()
    }
    for name, function in _of_type(template, FUNCTION).items():
        used = actions_used_by_code(code[name]) - switched_off(stage)  # outputs the stage leaves off
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = _statements(template, role)
        granted = {a for s in statements for a in _actions(s)}
        assert not [a for a in granted if "*" in a], f"{name}: wildcard action"
        assert all(s["Effect"] == "Allow" for s in statements)
        assert used <= granted, name
        assert granted - used <= _SERVICE_ACTIONS, name  # beyond the code's calls: only what Lambda does


@pytest.mark.parametrize("stage", STAGES)
def test_logs_policy_works_whatever_the_stack_is_called(packaged: dict[str, Path], stage: str) -> None:
    """Each function is named (not after the stack), and its role may write that name's log group."""
    template = _template(packaged, stage)
    for name, function in _of_type(template, FUNCTION).items():
        function_name = function["Properties"]["FunctionName"]
        assert isinstance(function_name, str), f"{name}: its name must not depend on the stack"
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        [logs] = [s for s in _statements(template, role) if "logs:PutLogEvents" in _actions(s)]
        for account, region in (("111122223333", "eu-west-1"), ("999988887777", "ap-southeast-2")):
            group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}"
            assert fnmatch.fnmatch(group, logs["Resource"]), (name, group, logs["Resource"])
            assert fnmatch.fnmatch(f"{group}:log-stream:2026/12/01/[$LATEST]abc", logs["Resource"])


def test_the_replay_routes_exist_only_where_the_stage_wants_them(packaged: dict[str, Path]) -> None:
    prod, dev = _template(packaged, "prod"), _template(packaged, "dev")
    assert not _of_type(prod, "AWS::Serverless::Api")
    assert "APIHandler" not in prod["Resources"]
    assert set(_of_type(prod, FUNCTION)) == {
        "OnSecurityGroupChange",
        "SweepSecurityGroups",
        "SweepOrganizationUnit",
    }
    [api] = _of_type(dev, "AWS::Serverless::Api").values()
    paths = api["Properties"]["DefinitionBody"]["paths"]
    assert set(paths) == {"/replay", "/baseline", "/health"}
    for methods in paths.values():
        for method in methods.values():
            assert method["security"] == [{"sigv4": []}]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_publishes_to_the_stack_topic(packaged: dict[str, Path], stage: str) -> None:
    template = _template(packaged, stage)
    for function in _of_type(template, FUNCTION).values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["NOTIFY_TOPIC_ARN"] == {"Ref": "NotificationTopic"}
        assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    topic = template["Resources"]["NotificationTopic"]["Properties"]
    from chalicelib.settings import topic_arn

    [publish] = [
        s for s in _statements(template, "OnSecurityGroupChangeRole") if "sns:Publish" in _actions(s)
    ]
    assert fnmatch.fnmatch(topic_arn(topic["TopicName"], "999988887777", "sa-east-1"), publish["Resource"])
    assert topic["KmsMasterKeyId"] == {
        "Fn::If": ["HasKmsKey", {"Ref": "NotificationKmsKeyArn"}, {"Ref": "AWS::NoValue"}]
    }
    subscription = template["Resources"]["NotificationEmailSubscription"]
    assert subscription["Condition"] == "HasEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    key_use = template["Resources"]["NotificationKeyUsePolicy"]
    assert key_use["Condition"] == "HasKmsKey"
    roles = {f["Properties"]["Role"]["Fn::GetAtt"][0] for f in _of_type(template, FUNCTION).values()}
    assert {r["Ref"] for r in key_use["Properties"]["Roles"]} == roles
    [statement] = key_use["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == {"Ref": "NotificationKmsKeyArn"}


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_watch_errors_throttles_the_queue_and_bad_events(
    packaged: dict[str, Path], stage: str
) -> None:
    template = _template(packaged, stage)
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    watched = set()
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "NotificationTopic"}]
        if "MetricName" in props:
            watched.add((props["Namespace"], props["MetricName"]))
        else:
            [query] = props["Metrics"]
            match = re.fullmatch(
                r"SELECT SUM\((\w+)\) FROM SCHEMA\((\w+), account, control\) WHERE control = 'ALL'",
                query["Expression"],
            )
            assert match, query["Expression"]
            watched.add((match.group(2), match.group(1)))
    from chalicelib import metrics

    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        (metrics.NAMESPACE, "InvalidEvents"),
        (metrics.NAMESPACE, "Failures"),
    } <= watched
    assert {name for _, name in watched if _ == metrics.NAMESPACE} <= set(metrics.METRICS)


@pytest.mark.parametrize("stage", STAGES)
def test_stateful_resources_say_what_happens_on_delete_and_replace(
    packaged: dict[str, Path], stage: str
) -> None:
    resources = _template(packaged, stage)["Resources"]
    for name in ("IdempotencyTable", "FailedEventsQueue", "NotificationTopic", "TrailBucket"):
        assert resources[name]["DeletionPolicy"] == resources[name]["UpdateReplacePolicy"], name
    assert resources["FailedEventsQueue"]["DeletionPolicy"] == "Retain"  # unfinished events are kept
    assert "QueueName" not in resources["FailedEventsQueue"]["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_optional_trail_is_private_encrypted_and_expires(packaged: dict[str, Path], stage: str) -> None:
    template = _template(packaged, stage)
    resources = template["Resources"]
    assert template["Parameters"]["CreateTrail"]["Default"] == "false"
    assert template["Conditions"]["WantTrail"] == {"Fn::Equals": [{"Ref": "CreateTrail"}, "true"]}
    for name in ("TrailBucket", "TrailBucketPolicy", "Trail"):
        assert resources[name]["Condition"] == "WantTrail"
    bucket = resources["TrailBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    [lifecycle] = bucket["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == {"Ref": "TrailRetentionDays"}
    statements = {
        s["Sid"]: s for s in resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    }
    trail_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:cloudtrail:${AWS::Region}:${AWS::AccountId}:trail/${AWS::StackName}"
    }
    acl, write = statements["AWSCloudTrailAclCheck"], statements["AWSCloudTrailWrite"]
    for statement in (acl, write):
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert (acl["Action"], acl["Resource"]) == ("s3:GetBucketAcl", {"Fn::GetAtt": ["TrailBucket", "Arn"]})
    assert (write["Action"], write["Resource"]) == (
        "s3:PutObject",
        {"Fn::Sub": "${TrailBucket.Arn}/AWSLogs/${AWS::AccountId}/*"},
    )
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    trail = resources["Trail"]
    assert trail["DependsOn"] == ["TrailBucketPolicy"]
    assert trail["Properties"]["TrailName"] == {"Ref": "AWS::StackName"}
    assert trail["Properties"]["S3BucketName"] == {"Ref": "TrailBucket"}


def test_merge_templates_differ_only_by_stage_and_the_api() -> None:
    """Two stages, one design: what one stage gets, the other gets too (dev adds the API's function)."""
    prod = (ROOT / ".chalice" / "deploy" / "prod.json").read_text()
    dev = json.loads((ROOT / ".chalice" / "deploy" / "dev.json").read_text())
    del dev["Resources"]["APIHandler"]
    dev["Resources"]["NotificationKeyUsePolicy"]["Properties"]["Roles"].remove({"Ref": "ApiHandlerRole"})
    assert dev == json.loads(prod.replace("prod", "dev"))


# --- the zip ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_zip_has_pydantic_core_for_the_lambda_platform(packaged: dict[str, Path], stage: str) -> None:
    assert check(packaged[stage]) == "pydantic_core/_pydantic_core.cpython-311-x86_64-linux-gnu.so"


def _copy_without(source: Path, target: Path, drop: str) -> Path:
    target.mkdir()
    (target / "sam.json").write_text((source / "sam.json").read_text())
    with (
        zipfile.ZipFile(source / "deployment.zip") as src,
        zipfile.ZipFile(target / "deployment.zip", "w") as dst,
    ):
        for item in src.infolist():
            if not item.filename.startswith(drop):
                dst.writestr(item, src.read(item.filename))
    return target


def test_a_zip_without_the_lambda_build_of_pydantic_core_is_refused(
    packaged: dict[str, Path], tmp_path: Path
) -> None:
    broken = _copy_without(packaged["prod"], tmp_path / "broken", "pydantic_core/_pydantic_core.cpython")
    with pytest.raises(
        PackageProblem, match=r"lacks pydantic_core/_pydantic_core\.cpython-311-x86_64-linux-gnu\.so"
    ):
        check(broken)
    result = subprocess.run(
        [sys.executable, "-m", "devtools.check_package", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "no pydantic_core at all" in result.stderr
    assert "Traceback" not in result.stderr
    arm = json.loads((broken / "sam.json").read_text())
    arm["Resources"]["OnSecurityGroupChange"]["Properties"]["Architectures"] = ["arm64"]
    (broken / "sam.json").write_text(json.dumps(arm))
    with pytest.raises(PackageProblem, match="aarch64"):
        check(broken)  # an x86_64 build does not run on Graviton


# --- make deploy ---------------------------------------------------------------------------------------

FAKE_AWS_CLI = """#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
if [ "$2" = package ]; then
  while [ $# -gt 0 ]; do [ "$1" = --output-template-file ] && echo '{}' > "$2"; shift; done
fi
"""


def test_make_deploy_packages_then_deploys_with_the_parameters(tmp_path: Path) -> None:
    """The real Makefile recipe, with a stand-in for the `aws` command that records what it is asked."""
    fake = tmp_path / "aws"
    fake.write_text(FAKE_AWS_CLI)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    build = tmp_path / "build"
    arguments = [
        f"AWS={fake}",
        f"PACKAGED={build}",
        "STAGE=prod",
        "BUCKET=acme-artifacts",
        "EMAIL=team@example.com",
    ]
    env = {**os.environ, "CALLS": str(calls)}
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "merge-template .chalice/deploy/prod.json" in result.stdout
    package, deploy = calls.read_text().splitlines()
    assert package == (
        f"cloudformation package --template-file {build}/sam.json --s3-bucket acme-artifacts "
        f"--s3-prefix sgguard-prod --output-template-file {build}/packaged.yaml"
    )
    assert deploy == (
        f"cloudformation deploy --template-file {build}/packaged.yaml --stack-name sgguard-prod "
        "--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset "
        "--parameter-overrides NotificationEmail=team@example.com NotificationKmsKeyArn= CreateTrail=false "
        "OrganizationId="
    )
    check(build)


def test_make_deploy_without_a_bucket_says_so_before_building(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "deploy", f"PACKAGED={tmp_path / 'build'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "BUCKET=<an S3 bucket of yours, for the code> is required" in result.stderr
    assert not (tmp_path / "build").exists()


# --- organization mode: the member template and the central bus -----------------------------------------

MEMBER_TEMPLATE = ROOT / ".chalice" / "deploy" / "member.json"


def _member() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(MEMBER_TEMPLATE.read_text())
    return loaded


def test_the_member_template_lints_clean_and_names_no_account_or_region() -> None:
    result = subprocess.run(
        [CFN_LINT, "--format", "parseable", str(MEMBER_TEMPLATE)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    text = MEMBER_TEMPLATE.read_text()
    assert not re.findall(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    assert not re.findall(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]\b", text)


def test_members_forward_exactly_the_guards_events_to_the_central_bus() -> None:
    member = _member()
    rule = member["Resources"]["ForwardRuleChanges"]["Properties"]
    assert rule["EventPattern"] == SECURITY_GROUP_RULE_CHANGES
    [target] = rule["Targets"]
    bus = {"Fn::Sub": "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default"}
    assert target["Arn"] == bus
    forwarding = member["Resources"]["ForwardingRole"]["Properties"]
    [statement] = forwarding["Policies"][0]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("events:PutEvents", bus)
    # the central account's own region needs no forwarding to itself
    assert member["Resources"]["ForwardRuleChanges"]["Condition"] == "IsNotCentralBus"


def test_the_remediation_role_trusts_only_the_central_roles_and_does_only_what_sgguard_does() -> None:
    member = _member()
    role = member["Resources"]["RemediationRole"]
    assert role["Condition"] == "IsRoleRegion"  # IAM is global: one stack instance per account makes it
    props = role["Properties"]
    assert props["RoleName"] == {"Ref": "MemberRoleName"}
    [trust] = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}}
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": {"Ref": "CentralRoleArns"}}}
    statements = props["Policies"][0]["PolicyDocument"]["Statement"]
    granted = {a for s in statements for a in _actions(s)}

    # what runs in a member account: the guard for its events, the organization sweep's consumer for its units
    there = functions()["on_security_group_change"] | functions()["sweep_organization_unit"]
    in_member_accounts = {a for a in actions_used_by_code(there) if a.startswith("ec2:")}
    # a member imports its own Security Hub findings (the default product takes them from no one else);
    # granted always, as the member template knows no stage: the central SECURITY_HUB decides the calls
    in_member_accounts.add("securityhub:BatchImportFindings")
    assert granted == in_member_accounts
    [hub] = [s for s in statements if "securityhub:BatchImportFindings" in _actions(s)]
    assert hub["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:securityhub:*:${AWS::AccountId}:product/${AWS::AccountId}/default"
    }
    revoke = [s for s in statements if "ec2:RevokeSecurityGroupIngress" in _actions(s)]
    assert [s["Resource"] for s in revoke] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:security-group/*"}
    ]


def test_the_member_role_name_is_the_one_the_functions_assume() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    name = config["environment_variables"]["MEMBER_ROLE_NAME"]
    assert _member()["Parameters"]["MemberRoleName"]["Default"] == name
    for stage in STAGES:
        policy = json.loads((ROOT / ".chalice" / config["stages"][stage]["iam_policy_file"]).read_text())
        [assume] = [s for s in policy["Statement"] if "sts:AssumeRole" in s["Action"]]
        assert assume["Resource"] == f"arn:aws:iam::*:role/{name}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_central_bus_admits_the_organization_only(packaged: dict[str, Path], stage: str) -> None:
    template = _template(packaged, stage)
    policy = template["Resources"]["OrganizationBusPolicy"]
    assert policy["Condition"] == "HasOrganization"
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    assert template["Parameters"]["OrganizationId"]["Default"] == ""
    assert template["Outputs"]["GuardRoleArn"]["Value"] == {
        "Fn::GetAtt": ["OnSecurityGroupChangeRole", "Arn"]
    }


@pytest.mark.parametrize("stage", STAGES)
def test_the_organization_sweep_runs_on_sqs_lambda_and_a_redrive_policy(
    packaged: dict[str, Path], stage: str
) -> None:
    resources = _template(packaged, stage)["Resources"]
    consumer = resources["SweepOrganizationUnit"]
    [source] = consumer["Properties"]["Events"].values()
    assert source["Type"] == "SQS"
    arn = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:"
    assert source["Properties"]["Queue"] == {"Fn::Sub": f"{arn}sgguard-sweep-units-{stage}"}
    assert source["Properties"]["BatchSize"] == 1  # one unit per invocation
    maximum = source["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert consumer["Properties"]["ReservedConcurrentExecutions"] >= maximum
    assert consumer["DependsOn"] == ["SweepUnitsQueue"]  # the mapping needs the queue first
    queue = resources["SweepUnitsQueue"]["Properties"]
    assert queue["QueueName"] == f"sgguard-sweep-units-{stage}"
    assert queue["VisibilityTimeout"] >= 6 * consumer["Properties"]["Timeout"]  # AWS's advice for a mapping
    from chalicelib.org.unit_sweep import UNIT_RECEIVES

    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SweepUnitsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": UNIT_RECEIVES,
    }
    dead = resources["SweepUnitsDeadLetterAlarm"]["Properties"]
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["SweepUnitsDeadLetterQueue", "QueueName"]}}
    ]
