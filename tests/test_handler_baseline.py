"""A custom baseline through the whole loop on moto: the stage's BASELINE names a file that extends a
preset, overrides a control and exempts a group; prefix lists are read from EC2; a tag or a rule
description never exempts anything.

Chalice's test client applies the stage's environment variables over os.environ, so BASELINE cannot
be set with monkeypatch. Instead each test writes a copy of the real .chalice/config.json into a
temporary project folder with only BASELINE changed, and the client reads that folder
(``Client(project_dir=...)``): the same mechanism a deployment uses, no test-only stage in the real
config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from devtools.eventgen import authorize_and_record
from tests.conftest import ROOT
from tests.moto_env import World, build_world

DEVELOPER_ROLE = "arn:aws:iam::111122223333:role/DeveloperAccess"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield from build_world()


def project_with_baseline(tmp_path: Path, baseline_text: str) -> str:
    """A project folder whose .chalice/config.json is the real one with BASELINE pointing to a file."""
    baseline = tmp_path / "acme-baseline.toml"
    baseline.write_text(baseline_text)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["environment_variables"]["BASELINE"] = str(baseline)
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


def exempting_ssh(tmp_path: Path, exemption_id: str, scope: str, expires: str) -> str:
    """A project whose baseline is aws-foundational with every control an SSH-from-the-world rule
    breaks lifted by one exemption."""
    return project_with_baseline(
        tmp_path,
        f"""
name = "acme"
extends = "aws-foundational"
[[exemptions]]
id = "{exemption_id}"
controls = ["EC2.13", "EC2.53", "EC2.18", "EC2.19"]
scope = {scope}
reason = "bastion"
expires = {expires}
""",
    )


def ssh_from(cidr: str) -> dict:
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": cidr}]}


def test_custom_baseline_with_an_override_and_an_exemption(world: World, tmp_path: Path) -> None:
    bastion, web = world.group("bastion"), world.group("web")
    project = project_with_baseline(
        tmp_path,
        f"""
name = "acme"
extends = "aws-foundational"
disable = ["EC2.19"]

[[controls]]
id = "EC2.18"
action = "notify"           # report other open ports, do not revoke them

[[exemptions]]
id = "BASTION-SSH"
controls = ["EC2.13", "EC2.53"]
scope = {{ groups = ["{bastion}"], vpcs = ["{world.vpc_id}"], principals = ["{DEVELOPER_ROLE}"] }}
reason = "the bastion, until the move to SSM; ticket SEC-7"
expires = 2999-12-31
""",
    )
    exempted_event, exempted_rule = authorize_and_record(world.ec2, bastion, [ssh_from("0.0.0.0/0")])
    elsewhere_event, elsewhere_rule = authorize_and_record(world.ec2, web, [ssh_from("0.0.0.0/0")])
    notify_event, notify_rule = authorize_and_record(
        world.ec2,
        web,
        [{"IpProtocol": "tcp", "FromPort": 8443, "ToPort": 8443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )

    first = world.invoke(exempted_event, project_dir=project)
    second = world.invoke(elsewhere_event, project_dir=project)
    third = world.invoke(notify_event, project_dir=project)

    # the bastion's SSH: EC2.13 and EC2.53 lifted, EC2.18 only reported (override), EC2.19 disabled
    assert first["baseline"] == "acme"
    assert first["outcome"] == "violation"
    assert [(f["controls"], f["action"]) for f in first["findings"]] == [(["EC2.18"], "reported")]
    assert first["exempted"] == [
        {
            "rule_id": exempted_rule[0]["SecurityGroupRuleId"],
            "controls": ["EC2.13", "EC2.53"],
            "exemption": "BASTION-SSH",
            "reason": "the bastion, until the move to SSM; ticket SEC-7",
            "expires": "2999-12-31",
        }
    ]
    assert exempted_rule[0]["SecurityGroupRuleId"] in world.rule_ids(bastion)
    # the same rule in another group is revoked
    assert second["exempted"] == []
    assert set(second["findings"][0]["controls"]) == {"EC2.13", "EC2.53", "EC2.18"}
    assert second["findings"][0]["action"] == "revoked"
    assert elsewhere_rule[0]["SecurityGroupRuleId"] not in world.rule_ids(web)
    # tcp 8443 from the world: only EC2.18, now notify: reported, left in place
    assert [(f["controls"], f["action"]) for f in third["findings"]] == [(["EC2.18"], "reported")]
    assert notify_rule[0]["SecurityGroupRuleId"] in world.rule_ids(web)
    messages = world.messages()
    assert len(messages) == 3
    assert messages[0]["document"]["exempted"][0]["exemption"] == "BASTION-SSH"


def test_an_exemption_fully_covering_the_rule_makes_the_event_compliant(world: World, tmp_path: Path) -> None:
    bastion = world.group("bastion")
    scope = f'{{ vpcs = ["{world.vpc_id}"], regions = ["eu-west-1"] }}'
    project = exempting_ssh(tmp_path, "BASTION-SSH", scope, "2999-12-31")
    event, created = authorize_and_record(world.ec2, bastion, [ssh_from("0.0.0.0/0")])
    decision = world.invoke(event, project_dir=project)
    assert decision["outcome"] == "compliant"
    assert decision["exempted"][0]["exemption"] == "BASTION-SSH"
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(bastion)
    assert world.messages() == []


def test_an_expired_exemption_revokes_and_says_when_it_expired(world: World, tmp_path: Path) -> None:
    bastion = world.group("bastion")
    project = exempting_ssh(tmp_path, "OLD-SSH", f'{{ groups = ["{bastion}"] }}', "2024-03-31")
    event, created = authorize_and_record(world.ec2, bastion, [ssh_from("0.0.0.0/0")])
    decision = world.invoke(event, project_dir=project)
    assert decision["outcome"] == "violation"
    assert decision["findings"][0]["action"] == "revoked"
    assert decision["exemptions_expired"][0]["expired_on"] == "2024-03-31"
    assert "exemption OLD-SSH expired on 2024-03-31" in decision["reason"]
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(bastion)
    [message] = world.messages()
    assert message["document"]["exemptions_expired"][0]["exemption"] == "OLD-SSH"


def test_a_tag_and_a_description_saying_exempt_change_nothing(world: World) -> None:
    group = world.group("tagged")
    world.ec2.create_tags(
        Resources=[group],
        Tags=[{"Key": "sgguard:exempt", "Value": "true"}, {"Key": "exempt", "Value": "yes"}],
    )
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "sgguard:exempt - approved, exempt"}],
    }
    event, created = authorize_and_record(world.ec2, group, [permission])
    assert created[0]["Description"] == "sgguard:exempt - approved, exempt"

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert decision["exempted"] == []
    assert decision["findings"][0]["description"] == "sgguard:exempt - approved, exempt"
    assert decision["findings"][0]["action"] == "revoked"
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)


# --- prefix lists on moto (DescribeManagedPrefixLists + GetManagedPrefixListEntries) ---------------


def customer_list(world: World, cidrs: list[str], name: str = "partners") -> str:
    response = world.ec2.create_managed_prefix_list(
        PrefixListName=name, AddressFamily="IPv4", MaxEntries=10, Entries=[{"Cidr": c} for c in cidrs]
    )
    return str(response["PrefixList"]["PrefixListId"])


def aws_managed_list(world: World) -> str:
    lists = world.ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": ["com.amazonaws.eu-west-1.s3"]}]
    )["PrefixLists"]
    return str(lists[0]["PrefixListId"])


def ssh_from_list(list_id: str, port: int = 22) -> dict:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "PrefixListIds": [{"PrefixListId": list_id}],
    }


def test_a_customer_list_with_the_world_in_it_is_revoked(world: World) -> None:
    group = world.group("web")
    list_id = customer_list(world, ["203.0.113.0/24", "0.0.0.0/0"])
    event, created = authorize_and_record(world.ec2, group, [ssh_from_list(list_id)])
    assert created[0]["PrefixListId"] == list_id

    decision = world.invoke(event)

    assert decision["outcome"] == "violation"
    assert {"EC2.13", "EC2.19"} <= set(decision["findings"][0]["controls"])
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)


def test_a_customer_list_of_private_networks_and_an_aws_managed_list_comply(world: World) -> None:
    group = world.group("web")
    private = customer_list(world, ["10.0.0.0/8", "172.16.0.0/12"], "offices")
    s3 = aws_managed_list(world)
    event, created = authorize_and_record(world.ec2, group, [ssh_from_list(private), ssh_from_list(s3, 443)])

    decision = world.invoke(event)

    assert decision["outcome"] == "compliant"
    assert decision["not_judged"] == []
    assert {c["SecurityGroupRuleId"] for c in created} <= world.rule_ids(group)


def test_prefix_list_calls_entries_cached_per_version(world: World) -> None:
    group = world.group("web")
    list_id = customer_list(world, ["10.0.0.0/8"])
    first, _ = authorize_and_record(world.ec2, group, [ssh_from_list(list_id)])
    second, _ = authorize_and_record(world.ec2, group, [ssh_from_list(list_id, 23)])
    plain, _ = authorize_and_record(world.ec2, group, [ssh_from("10.1.0.0/16")])
    world.count_calls()

    world.invoke(first)
    assert world.calls == [
        "GetCallerIdentity",  # once per container: sgguard's own identity
        "DescribeSecurityGroups",
        "DescribeManagedPrefixLists",
        "GetManagedPrefixListEntries",
    ]
    world.calls.clear()
    world.invoke(second)
    assert world.calls == ["DescribeManagedPrefixLists"]  # same version: entries from the cache
    world.calls.clear()
    world.invoke(plain)
    assert world.calls == []  # no prefix-list source, group cached: no call at all

    world.ec2.modify_managed_prefix_list(
        PrefixListId=list_id, CurrentVersion=1, AddEntries=[{"Cidr": "0.0.0.0/0"}]
    )
    third, created = authorize_and_record(world.ec2, group, [ssh_from_list(list_id, 3389)])
    world.calls.clear()
    decision = world.invoke(third)
    assert world.calls[:2] == ["DescribeManagedPrefixLists", "GetManagedPrefixListEntries"]  # new version
    assert "EC2.14" in decision["findings"][0]["controls"]
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
