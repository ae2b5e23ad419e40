"""Organization mode in moto with two accounts: the central one sgguard runs in (tests.conftest.ACCOUNT)
and a member. Credentials from AssumeRole into the member's role act in the member account, as in AWS."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import assume, clients
from chalicelib.org.members import Reach, reach, role_arn
from devtools.eventgen import authorize_event, group_rules, new_rules
from tests.conftest import ACCOUNT, REGION, ROOT
from tests.faults import Fault, inject
from tests.moto_env import World, build_world

MEMBER = "444455556666"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/sgguard-member"
OWN = f"arn:aws:sts::{ACCOUNT}:assumed-role/sgguard-prod-on_security_group_change/sgguard-prod"
ALL_TRAFFIC = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield from build_world()


class Account:
    """EC2 in another account of the same moto, reached as AWS would: through an assumed role."""

    def __init__(self, account: str, region: str = REGION) -> None:
        sts = boto3.client("sts", region_name=region)
        credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")[
            "Credentials"
        ]
        self.account, self.region = account, region
        self.ec2 = boto3.client(
            "ec2",
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        self.vpc = self.ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]

    def open_to_the_world(self, name: str = "poc") -> tuple[str, str, dict[str, Any]]:
        """(group, rule id, the event the member's trail delivers to the central bus)."""
        group = self.ec2.create_security_group(GroupName=name, Description=name, VpcId=self.vpc)["GroupId"]
        before = group_rules(self.ec2, group)
        self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ALL_TRAFFIC])
        [created] = new_rules(before, group_rules(self.ec2, group))
        event = authorize_event(group, [ALL_TRAFFIC], [created], account=self.account, region=self.region)
        return group, created["SecurityGroupRuleId"], event

    def rule_ids(self, group: str) -> set[str]:
        return {r["SecurityGroupRuleId"] for r in group_rules(self.ec2, group)}


def _assume_calls(world: World) -> list[str]:
    calls: list[str] = []
    clients.sts(REGION).meta.events.register(
        "before-parameter-build.sts.AssumeRole", lambda params, **_: calls.append(params["RoleArn"])
    )
    return calls


def test_an_event_from_a_member_account_is_revoked_there_and_not_in_the_central_one(world: World) -> None:
    member = Account(MEMBER)
    group, rule_id, event = member.open_to_the_world()
    central_group = world.group("poc")  # the same rule in the central account must stay
    world.ec2.authorize_security_group_ingress(GroupId=central_group, IpPermissions=[ALL_TRAFFIC])
    central_rules = world.rule_ids(central_group)
    assumed = _assume_calls(world)

    decision = world.invoke(event)

    assert decision["account"] == MEMBER
    assert [(f["rule_id"], f["action"]) for f in decision["findings"]] == [(rule_id, "revoked")]
    assert rule_id not in member.rule_ids(group)
    assert world.rule_ids(central_group) == central_rules
    assert assumed == [MEMBER_ROLE]
    [message] = world.messages()
    assert message["attributes"]["account"] == MEMBER
    assert "ACTION NEEDED" not in message["subject"]


def test_a_member_role_that_cannot_be_assumed_is_action_needed_naming_account_and_role(world: World) -> None:
    member = Account(MEMBER)
    group, rule_id, event = member.open_to_the_world()
    denial = "User: arn:aws:sts::111122223333:assumed-role/x/y is not authorized to perform: sts:AssumeRole"
    inject(clients.sts(REGION), Fault("AssumeRole", "AccessDenied", 403, denial))

    decision = world.invoke(event)

    [finding] = decision["findings"]
    assert finding["action"] == "failed"
    assert finding["action"] != "already-absent"
    assert MEMBER in finding["error"]
    assert MEMBER_ROLE in finding["error"]
    assert rule_id in member.rule_ids(group)  # nothing was changed anywhere
    [message] = world.messages()
    assert "ACTION NEEDED" in message["subject"]
    assert MEMBER in message["subject"]
    text = json.dumps(message["document"])
    assert MEMBER_ROLE in text
    assert "deploy the member template" in text


def _project_without_member_role(tmp_path: Path) -> str:
    project = tmp_path / "project"
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=shutil.ignore_patterns("deploy*"))
    config = json.loads((project / ".chalice" / "config.json").read_text())
    del config["environment_variables"]["MEMBER_ROLE_NAME"]
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    return str(project)


def test_no_member_role_configured_is_action_needed_never_already_gone(world: World, tmp_path: Path) -> None:
    member = Account(MEMBER)
    group, rule_id, event = member.open_to_the_world()
    assumed = _assume_calls(world)

    decision = world.invoke(event, project_dir=_project_without_member_role(tmp_path))

    [finding] = decision["findings"]
    assert finding["action"] == "failed"
    assert f"the rule is in account {MEMBER}" in finding["error"]
    assert "MEMBER_ROLE_NAME" in finding["error"]
    assert assumed == []
    assert rule_id in member.rule_ids(group)
    [message] = world.messages()
    assert "ACTION NEEDED" in message["subject"]
    assert "already gone" not in json.dumps(message["document"])


def test_one_session_per_member_reused_across_events_and_regions(world: World) -> None:
    assumed = _assume_calls(world)
    for region in (REGION, "us-east-1"):
        member = Account(MEMBER, region)
        _, _rule_id, event = member.open_to_the_world(f"poc-{region}")
        assert world.invoke(event)["findings"][0]["action"] == "revoked"
    assert assumed == [MEMBER_ROLE]  # one AssumeRole; one EC2 client per region over its credentials
    assert clients.ec2(REGION, MEMBER_ROLE) is not clients.ec2("us-east-1", MEMBER_ROLE)
    assert clients.ec2(REGION, MEMBER_ROLE) is not clients.ec2(REGION)


def test_credentials_are_refreshed_before_they_expire(world: World) -> None:
    assumed = _assume_calls(world)
    member = Account(MEMBER)
    _, _, event = member.open_to_the_world("first")
    world.invoke(event)
    credentials = assume.session(MEMBER_ROLE).get_credentials()
    assert assumed == [MEMBER_ROLE]
    credentials._expiry_time = datetime.now(UTC) + timedelta(minutes=9)  # inside botocore's refresh window
    _, _rule_id, event = member.open_to_the_world("second")
    assert world.invoke(event)["findings"][0]["action"] == "revoked"
    assert assumed == [MEMBER_ROLE, MEMBER_ROLE]
    assert credentials._expiry_time > datetime.now(UTC) + timedelta(minutes=30)


def test_the_replay_command_does_not_look_for_another_accounts_rule_in_the_operators(world: World) -> None:
    """`sgguard replay --mode enforce` runs with the operator's credentials: a member's event is not
    looked up (and found absent) in the operator's account."""
    from chalicelib.baseline import load_baseline
    from chalicelib.pipeline import process

    member = Account(MEMBER)
    group, rule_id, event = member.open_to_the_world()
    decision = process(event, load_baseline("aws-foundational"), "enforce")
    [finding] = decision.findings
    assert finding.action == "failed"
    assert "no member role is configured" in (finding.error or "")
    assert rule_id in member.rule_ids(group)


# --- the pure decision of where to act ------------------------------------------------------------------


def test_reach_own_member_and_refusals() -> None:
    assert reach(ACCOUNT, REGION, OWN, "sgguard-member") == Reach(ACCOUNT)
    assert reach(MEMBER, REGION, OWN, "sgguard-member") == Reach(MEMBER, role_arn=MEMBER_ROLE)
    assert reach(MEMBER, "cn-north-1", OWN, "r").role_arn == f"arn:aws-cn:iam::{MEMBER}:role/r"
    unknown_self = reach(MEMBER, REGION, None, "sgguard-member")
    assert unknown_self.busy
    assert unknown_self.why
    assert "STS GetCallerIdentity failed" in unknown_self.why
    assert reach(ACCOUNT, REGION, None, None).busy  # not even its own account is assumed to be its own
    for odd in (None, "", "12345", "44445555666x", "4" * 13, "../../x"):
        refused = reach(odd, REGION, OWN, "sgguard-member")
        assert refused.why
        assert refused.role_arn is None
        assert not refused.busy
    assert role_arn(MEMBER, "sgguard-member", REGION) == MEMBER_ROLE
