"""`sgguard audit` as a user runs it: the installed command in a subprocess, its exit statuses, formats,
usage errors in words (never a traceback or a class name), Ctrl-C, and no AWS at all with --from."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_audit_dump import group, rule, write

SGGUARD = str(Path(sys.executable).with_name("sgguard"))


def no_aws_env() -> dict[str, str]:
    """No credentials anywhere and no instance metadata: any AWS call would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing listens: a call would fail, never reach AWS
    )
    return env


def audit(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SGGUARD, "audit", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env or no_aws_env(),
        timeout=60,
    )


def clean(result: subprocess.CompletedProcess[str]) -> None:
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text
        assert "Error:" not in text.replace("ERROR:", "")  # no exception class names


@pytest.fixture
def dump(tmp_path: Path) -> dict[str, str]:
    """A small region: one exposed group with SSH open to the world, one compliant group."""
    rules = [
        rule(1, group="sg-0000000000000000a", Description="<script>alert('x')</script>"),
        rule(2, group="sg-0000000000000000b", CidrIpv4="10.0.0.0/8"),
        rule(3, group="sg-0000000000000000b", IsEgress=True, IpProtocol="-1", FromPort=-1, ToPort=-1),
    ]
    groups = [group("sg-0000000000000000a", name='web <img src=x onerror="alert(1)">'),
              group("sg-0000000000000000b", name="db")]  # fmt: skip
    return {
        "rules": write(tmp_path / "rules.json", {"SecurityGroupRules": rules}),
        "groups": write(tmp_path / "groups.json", {"SecurityGroups": groups}),
        "clean": write(tmp_path / "clean.json", {"SecurityGroupRules": rules[1:]}),
    }


def test_help_has_examples_and_exit_statuses() -> None:
    result = subprocess.run([SGGUARD, "audit", "--help"], capture_output=True, text=True, check=True)
    assert "sgguard audit --from rules.json groups.json" in result.stdout
    assert "exit status:" in result.stdout
    assert "130" in result.stdout
    for option in ("--region", "--all-regions", "--baseline", "--fix", "--format", "--output", "--from"):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "x.json", "--fix"], "--fix revokes rules in AWS: it cannot be used with --from"),
        (["--region", "eu-west-1", "--from", "x.json"], "the region comes from the files"),
        (["--all-regions", "--from", "x.json"], "the region comes from the files"),
        (["--region", "eu-west-1", "--all-regions"], "give --region or --all-regions, not both"),
        (["--format", "xml", "--from", "x.json"], "invalid choice: 'xml'"),
        (["--baseline", "no-such-preset", "--from", "x.json"], "no-such-preset"),
    ],
)
def test_usage_errors_exit_2_in_words(args: list[str], words: str) -> None:
    result = audit(*args)
    assert result.returncode == 2, result
    assert words in result.stderr
    assert result.stdout == ""
    clean(result)


def test_violations_exit_1_with_the_worst_group_first(dump: dict[str, str]) -> None:
    result = audit("--from", dump["rules"], dump["groups"])
    assert result.returncode == 1, result.stderr
    clean(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sgguard audit: account 111122223333, eu-west-1 (saved describe output)")
    assert lines[1].startswith("3 rules in 2 groups judged, 1 violating (1 CRITICAL)")
    assert any(line.startswith("sg-0000000000000000a (web <img") for line in lines)
    assert "tcp 22 from 0.0.0.0/0" in result.stdout
    assert result.stderr == ""  # no progress when standard error is not a terminal


def test_nothing_violating_exits_0(dump: dict[str, str]) -> None:
    result = audit("--from", dump["clean"], dump["groups"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 violating" in result.stdout


def test_rules_that_cannot_be_judged_are_not_a_pass(dump: dict[str, str]) -> None:
    """Without the groups, EC2.2 (a VPC's default group) cannot be told: exit 1, never 0."""
    result = audit("--from", dump["clean"])
    assert result.returncode == 1
    assert "could not be judged" in result.stdout
    assert "not judged (2 rules): the name of sg-0000000000000000b is unknown" in result.stdout


def test_unreadable_input_exits_2_and_the_rest_is_still_reported(
    dump: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    result = audit("--from", dump["rules"], dump["groups"], str(broken), str(tmp_path / "absent.json"))
    assert result.returncode == 2
    clean(result)
    assert f"sgguard: {broken}: broken gzip" in result.stderr
    assert f"sgguard: {tmp_path / 'absent.json'}: no such file or directory" in result.stderr
    assert "1 violating" in result.stdout


def test_no_rules_at_all_is_unreadable_input(dump: dict[str, str]) -> None:
    result = audit("--from", dump["groups"])
    assert result.returncode == 2
    assert "no security-group rules in the files given" in result.stderr


def test_json_is_an_array_of_sweep_reports_and_jsonl_streams_findings_then_the_report(
    dump: dict[str, str],
) -> None:
    as_json = audit("--from", dump["rules"], dump["groups"], "--format", "json")
    as_jsonl = audit("--from", dump["rules"], dump["groups"], "--format", "jsonl")
    [report] = json.loads(as_json.stdout)
    assert report["version"] == "sgguard.sweep/1"
    assert report["origin"] == "dump"
    assert (report["account"], report["region"]) == ("111122223333", "eu-west-1")
    assert report["totals"]["violating"] == 1
    assert report["totals"]["rules"] == 3
    [worst] = [g for g in report["groups"] if g["findings"]]
    assert worst["group_id"] == "sg-0000000000000000a"
    assert worst["findings"][0]["action"] == "would-revoke"

    finding_line, report_line = (json.loads(line) for line in as_jsonl.stdout.splitlines())
    assert finding_line.pop("type") == "finding"
    assert (finding_line.pop("account"), finding_line.pop("region")) == ("111122223333", "eu-west-1")
    assert finding_line == worst["findings"][0]
    assert report_line.pop("type") == "report"
    for moving in ("sweep_id", "started_at", "finished_at"):
        report_line.pop(moving), report.pop(moving)
    for entry in report["groups"]:  # streamed above, not repeated in the report line
        entry["findings"] = []
    assert report_line == report


def test_output_file_and_html_escapes_every_value(dump: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = audit("--from", dump["rules"], dump["groups"], "--format", "html", "--output", str(out))
    assert result.returncode == 1
    assert result.stdout == ""
    page = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable as any file the user makes, not 0600
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "web &lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    assert "https://" not in page


def test_output_to_a_directory_that_does_not_exist_is_an_error_in_words(
    dump: dict[str, str], tmp_path: Path
) -> None:
    result = audit("--from", dump["rules"], "--output", str(tmp_path / "no" / "such" / "dir" / "r.txt"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr
    clean(result)


def test_standard_input(dump: dict[str, str]) -> None:
    data = Path(dump["rules"]).read_bytes()
    result = audit("--from", "-", dump["groups"], stdin=data)
    assert result.returncode == 1
    assert "1 violating" in result.stdout


def test_live_without_credentials_says_what_to_do() -> None:
    result = audit("--region", "eu-west-1")
    assert result.returncode == 2
    assert "no AWS credentials found" in result.stderr
    assert "--from" in result.stderr
    clean(result)


def test_a_device_is_written_to_never_replaced(dump: dict[str, str]) -> None:
    result = audit("--from", dump["rules"], dump["groups"], "--format", "jsonl", "--output", os.devnull)
    assert result.returncode == 1
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_ctrl_c_exits_130_cleanly_and_leaves_no_half_report(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [SGGUARD, "audit", "--from", "-", "--output", str(tmp_path / "report.txt")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=no_aws_env(),
    )
    assert process.stdin is not None
    process.stdin.write(b'{"SecurityGroupRules": [')
    process.stdin.flush()
    time.sleep(2.0)  # started, reading standard input
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.decode().strip() == "sgguard: interrupted"
    assert out == b""
    assert list(tmp_path.iterdir()) == []


def _run_json(*args: str) -> Any:
    return json.loads(audit(*args, "--format", "json").stdout)


def test_text_output_escapes_control_characters_from_the_dump(tmp_path: Path) -> None:
    hostile = "web\x1b[2J\nsg-fake (ok): 0 violating rules\u202e"
    rules = write(tmp_path / "r.json", {"SecurityGroupRules": [rule(1, Description="\x1b]0;pwned\x07")]})
    groups = write(tmp_path / "g.json", {"SecurityGroups": [group(name=hostile)]})
    result = audit("--from", rules, groups)
    assert result.returncode == 1
    assert "\x1b" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "web\\x1b[2J\\x0asg-fake" in result.stdout  # visible, on its own line, not a forged one
    assert not any(line.startswith("sg-fake") for line in result.stdout.splitlines())


def test_progress_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    path = write(tmp_path / "rules.json", {"SecurityGroupRules": [rule(n) for n in range(3000)]})
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [SGGUARD, "audit", "--from", path],
            stdout=subprocess.PIPE,
            stderr=follower,
            env=no_aws_env(),
            timeout=60,
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other side is closed: all read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert result.returncode == 1
    assert b"rules judged (" in drawn  # the progress line, on the terminal's standard error
    assert drawn.endswith(b"\r\x1b[K")  # and wiped before the report
    assert b"rules judged (" not in result.stdout
