"""README "Deploying": every command it shows is run here, as written (placeholders filled in): the
`make deploy` line with a stand-in for the `aws` command, the bootstrap + `chalice deploy` lines and the
StackSets lines against a moto server."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.servers import Server, fake_aws_environ, moto_server
from tests.conftest import ROOT
from tests.test_deploy_e2e import project  # noqa: F401  (the fixture: a clone of the project)
from tests.test_templates import FAKE_AWS_CLI

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
SECTION = (ROOT / "README.md").read_text().split("\n## Deploying\n")[1].split("\n## ")[0]


def _blocks() -> list[list[str]]:
    """The shell blocks of the section, each as its commands (comments dropped, continuations joined)."""
    found = []
    for body in re.findall(r"```sh\n(.*?)```", SECTION, flags=re.S):
        text = re.sub(r"\\\n\s*", "", "\n".join(line.strip() for line in body.splitlines()))
        commands = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
        found.append([c for c in commands if c and not c.startswith("#")])
    return found


def test_the_section_shows_three_blocks_of_commands() -> None:
    make, bootstrap, stacksets = _blocks()
    assert make == ["make deploy STAGE=prod BUCKET=my-artifacts EMAIL=team@example.com"]
    assert [c.split()[0:2] for c in bootstrap] == [
        [".venv/bin/sgguard", "bootstrap"],
        [".venv/bin/chalice", "deploy"],
        [".venv/bin/sgguard", "bootstrap"],
    ]
    assert [c.split()[0:3] for c in stacksets] == [
        ["aws", "cloudformation", "create-stack-set"],
        ["aws", "cloudformation", "create-stack-instances"],
    ]


def test_the_make_deploy_line_runs(tmp_path: Path) -> None:
    [[line]] = _blocks()[:1]
    fake = tmp_path / "aws"
    fake.write_text(FAKE_AWS_CLI)
    fake.chmod(0o755)
    argv = [*shlex.split(line), f"AWS={fake}", f"PACKAGED={tmp_path / 'build'}"]
    env = {**fake_aws_environ(), "CALLS": str(tmp_path / "calls")}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--s3-bucket my-artifacts" in (tmp_path / "calls").read_text()


@pytest.fixture(scope="module")
def moto() -> Server:
    with moto_server() as server:
        yield server


def _run(line: str, cwd: Path, moto: Server) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    if argv[0].startswith(".venv/bin/"):
        argv[0] = str(BIN / argv[0].removeprefix(".venv/bin/"))
    elif argv[0] == "aws":
        argv[0] = str(BIN / "aws")
    result = subprocess.run(
        argv, cwd=cwd, env=fake_aws_environ(endpoint=moto.url), capture_output=True, text=True
    )
    assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_bootstrap_and_chalice_deploy_lines_run(moto: Server, project: Path) -> None:  # noqa: F811
    lines = _blocks()[1]
    outputs = [_run(line, project, moto).stdout for line in lines]
    assert "pending       on-failure destination" in outputs[0]
    assert "created       e-mail subscription    team@example.com" in outputs[0]
    assert "created       invoke config" in outputs[2]
    assert "pending" not in outputs[2]


def test_the_stacksets_lines_run(moto: Server) -> None:
    central, region = "111122223333", "eu-west-1"
    aws = [str(BIN / "aws"), "--output", "json"]
    env = fake_aws_environ(endpoint=moto.url)

    def call(*args: str) -> dict:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, check=True)
        return json.loads(done.stdout or "{}")

    call("organizations", "create-organization", "--feature-set", "ALL")
    root = call("organizations", "list-roots")["Roots"][0]["Id"]
    filled = {
        "<central account>": central,
        "<home region>": region,
        "<GuardRoleArn>": f"arn:aws:iam::{central}:role/sgguard-prod-OnSecurityGroupChangeRole-ABC",
        "<root or OU id>": root,
        "<every enabled region>": f"{region} us-east-1",
    }
    for line in _blocks()[2]:
        for placeholder, value in filled.items():
            line = line.replace(placeholder, value)
        _run(line, ROOT, moto)
    instances = call("cloudformation", "list-stack-instances", "--stack-set-name", "sgguard-member")[
        "Summaries"
    ]
    assert sorted(i["Region"] for i in instances) == [region, "us-east-1"]
    assert {i["Status"] for i in instances} == {"CURRENT"}
