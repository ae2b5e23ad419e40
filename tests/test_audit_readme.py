"""Every line of the README's `sgguard audit` example, run: the live commands in-process against moto
(with a region holding SSH open to the world), the `aws ec2 describe-*` lines done with boto3 against
the same moto and saved as the AWS CLI would, and the `--from` command as the installed `sgguard`
with no AWS at all."""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters import clients, ec2
from chalicelib.cli import main
from tests.conftest import REGION, ROOT
from tests.test_audit_cli import no_aws_env

SGGUARD = str(Path(sys.executable).with_name("sgguard"))
DESCRIBE = {
    "describe-security-group-rules": ("describe_security_group_rules", "SecurityGroupRules"),
    "describe-security-groups": ("describe_security_groups", "SecurityGroups"),
    "describe-network-interfaces": ("describe_network_interfaces", "NetworkInterfaces"),
    "describe-managed-prefix-lists": ("describe_managed_prefix_lists", "PrefixLists"),
}


def readme_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- audit-examples[^>]*-->\n```sh\n(.*?)```", text, re.S)
    assert block, "the README's audit example block is gone"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture
def region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    clients.reset()
    ec2.forget_cache()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-baseline.toml").write_text('name = "mine"\nextends = "aws-foundational"\n')
    with mock_aws():
        client = boto3.client("ec2", region_name=REGION)
        vpc = client.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        group = client.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        client.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
            ],
        )
        yield client
    clients.reset()
    ec2.forget_cache()


def _aws(client: Any, line: str) -> None:
    """`aws ec2 describe-X [| gzip] > FILE`, as the AWS CLI prints it (all pages merged, indent 4)."""
    found = re.fullmatch(r"aws ec2 (\S+)( \| gzip)? > (\S+)", line)
    assert found, line
    operation, key = DESCRIBE[found.group(1)]
    items = [i for page in client.get_paginator(operation).paginate() for i in page[key]]
    text = json.dumps({key: items}, indent=4, default=str) + "\n"
    Path(found.group(3)).write_bytes(gzip.compress(text.encode()) if found.group(2) else text.encode())


def test_every_line_of_the_audit_example_runs(
    region: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import caller

    # moto enables ~30 regions; two keep this test short (tests/test_audit_live.py sweeps them all)
    monkeypatch.setattr(caller, "enabled_regions", lambda: [REGION, "us-east-1"])
    lines = readme_lines()
    assert any("--from" in line for line in lines)
    assert any("--fix" in line for line in lines)
    ran = 0
    for line in lines:
        if line.startswith("aws "):
            _aws(region, line)
            continue
        argv = shlex.split(line)
        assert argv[0] == ".venv/bin/sgguard", line
        if "--from" in argv:
            result = subprocess.run(
                [SGGUARD, *argv[1:]], capture_output=True, text=True, env=no_aws_env(), timeout=60
            )
            assert result.returncode == 1, (line, result.stderr)  # SSH open to the world was found
            assert "Traceback" not in result.stderr
        else:
            assert main(argv[1:]) == 1, line
        ran += 1
    assert ran == 4
    page = (tmp_path / "audit.html").read_text()
    assert "tcp 22 from 0.0.0.0/0" in page
    # after --fix, the rule is gone from the region
    rules = region.describe_security_group_rules()["SecurityGroupRules"]
    assert not [r for r in rules if r.get("CidrIpv4") == "0.0.0.0/0" and r.get("FromPort") == 22]
    assert os.path.exists(tmp_path / "groups.json.gz")
