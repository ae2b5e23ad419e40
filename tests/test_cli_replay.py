"""`sgguard replay` on every shared sample and on every kind of input: a gzip log file, a directory,
standard input, an S3 prefix (moto); broken inputs reported by name and field while the rest is read."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.baseline import load_baseline
from chalicelib.cli import main
from chalicelib.pipeline import OfflineAws, process
from devtools.eventgen import authorize_and_record
from tests.conftest import REGION, SAMPLE_EVENTS, SAMPLES, load_sample
from tests.moto_env import World, build_world

# What each shared sample must give offline: (outcome, the violating rules' (id, source)); None = skipped.
EXPECTED: dict[str, tuple[str, list[tuple[str | None, str]]] | None] = {
    "authorize-egress-all-traffic.json": ("compliant", []),
    "authorize-ingress-all-traffic-world.json": ("violation", [("sgr-035a8e56b1e097d50", "0.0.0.0/0")]),
    "authorize-ingress-cloudformation-group-reference.json": ("compliant", []),
    "authorize-ingress-failed-call.json": None,
    "authorize-ingress-legacy-without-rule-ids.json": ("violation", [(None, "0.0.0.0/0")]),
    "authorize-ingress-several-permissions.json": ("violation", [("sgr-0b1b2b3b4b5b6b7b2", "0.0.0.0/0")]),
    "authorize-ingress-ssh-mixed-sources.json": (
        "violation",
        [("sgr-0aa11bb22cc33dd41", "0.0.0.0/0"), ("sgr-0aa11bb22cc33dd43", "::/0")],
    ),
    "modify-security-group-rules.json": ("violation", [("sgr-0aa11bb22cc33dd42", "0.0.0.0/0")]),
}
LOG_FILE = SAMPLES / "cloudtrail-log-file.json"


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["replay", "--offline", "--format", "jsonl", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_every_sample_is_covered() -> None:
    assert sorted(EXPECTED) == SAMPLE_EVENTS


@pytest.mark.parametrize("name", SAMPLE_EVENTS)
def test_each_sample_gets_the_right_decision(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, decisions, err = replay(capsys, str(SAMPLES / name))
    assert code == 0, err
    expected = EXPECTED[name]
    if expected is None:
        assert decisions == []
        return
    [decision] = decisions
    outcome, rules = expected
    assert decision["outcome"] == outcome
    assert [(f["rule_id"], f["source"]) for f in decision["findings"]] == rules
    assert all(f["action"] == "would-revoke" for f in decision["findings"])
    assert decision["mode"] == "dry-run"
    assert any("offline" in n["reason"] for n in decision["not_judged"])


@pytest.mark.parametrize("name", [n for n in SAMPLE_EVENTS if EXPECTED[n]])
def test_jsonl_is_exactly_the_handlers_document(capsys: pytest.CaptureFixture[str], name: str) -> None:
    _, [decision], _ = replay(capsys, str(SAMPLES / name))
    expected = process(load_sample(name), load_baseline(), "dry-run", OfflineAws()).to_json_dict()
    assert decision == expected


def test_log_file_skips_other_calls_and_refused_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", "--offline", str(LOG_FILE)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "events read   5" in out
    assert "skipped       2 (1 not a rule change, 1 refused call)" in out
    assert "violations    3" in out
    assert "sgr-035a8e56b1e097d50  all traffic from 0.0.0.0/0" in out
    assert "RunInstances" not in out


def test_gzip_log_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gz = tmp_path / "111122223333_CloudTrail_eu-west-1_20261120T0915Z_abc.json.gz"
    gz.write_bytes(gzip.compress(LOG_FILE.read_bytes()))
    code, decisions, _ = replay(capsys, str(gz))
    _, plain, _ = replay(capsys, str(LOG_FILE))
    assert code == 0
    assert len(decisions) == 3
    assert decisions == plain


def test_directory_is_read_recursively_in_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    nested = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1" / "2026" / "11" / "20"
    nested.mkdir(parents=True)
    (nested / "b.json.gz").write_bytes(gzip.compress(LOG_FILE.read_bytes()))
    shutil.copy(SAMPLES / "modify-security-group-rules.json", nested / "a.json")
    (nested / "notes.txt").write_text("not an input")
    digest = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail-Digest"
    digest.mkdir()
    (digest / "d.json.gz").write_bytes(gzip.compress(b'{"digestStartTime": "2026-11-20T09:00:00Z"}'))
    code, decisions, err = replay(capsys, str(tmp_path))
    assert code == 0, err
    assert [d["event_name"] for d in decisions] == [
        "ModifySecurityGroupRules",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
        "ModifySecurityGroupRules",
    ]


def test_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    events = "\n".join(json.dumps(load_sample(n)) for n in ("authorize-ingress-all-traffic-world.json",) * 2)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(events.encode())))
    code, decisions, _ = replay(capsys, "-")
    assert code == 0
    assert [d["outcome"] for d in decisions] == ["violation", "violation"]


def test_bad_inputs_exit_1_naming_file_and_field_while_the_rest_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Records": [\n  {"eventName": "RunInstances"},\n  {"eventName": ]}')
    wrong = tmp_path / "wrong-field.json"
    event = load_sample("authorize-ingress-legacy-without-rule-ids.json")
    event["detail"]["requestParameters"]["ipPermissions"]["items"][0]["fromPort"] = "ssh"
    wrong.write_text(json.dumps(event))
    shape = tmp_path / "shape.json"
    shape.write_text("[1, 2]")
    good = SAMPLES / "authorize-ingress-all-traffic-world.json"

    code, decisions, err = replay(
        capsys, str(broken), str(wrong), str(shape), str(tmp_path / "absent"), str(good)
    )

    assert code == 1
    assert [d["outcome"] for d in decisions] == ["invalid", "violation"]
    assert f"{broken}: not JSON: line 3 column 17: Expecting value" in err
    assert f"{wrong}: invalid: detail.requestParameters.ipPermissions.items[0].fromPort:" in err
    assert f"{shape}: expected an EventBridge event" in err
    assert f"{tmp_path / 'absent'}: no such file or directory" in err


def test_a_malformed_record_in_a_log_file_is_invalid_not_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = json.loads(LOG_FILE.read_text())
    del log["Records"][0]["eventTime"]
    log["Records"][1]["eventTime"] = "garbage"  # RunInstances: skipped without validation
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    code, decisions, err = replay(capsys, str(path))
    assert code == 1
    assert [d["outcome"] for d in decisions] == ["invalid", "violation", "violation"]
    assert f"{path}: Records[0]: invalid: eventTime: required, but missing" in err


def test_broken_gzip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(LOG_FILE.read_bytes())[:200])
    code, _, err = replay(capsys, str(path))
    assert code == 1
    assert f"{path}: broken gzip" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["--mode", "enforce"],
        ["--notify", "arn:aws:sns:eu-west-1:111122223333:t"],
        ["--mode", "x"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["replay", "--offline", *args, str(LOG_FILE)])
        assert exit_info.value.code == 2
    assert "--mode enforce needs AWS" in capsys.readouterr().err
    assert main(["replay", "--baseline", "no-such-preset", str(LOG_FILE)]) == 2


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield from build_world()


def test_s3_prefix(capsys: pytest.CaptureFixture[str], world: World) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="trail", CreateBucketConfiguration={"LocationConstraint": REGION})
    prefix = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/20/"
    for i in range(3):
        s3.put_object(Bucket="trail", Key=f"{prefix}f{i}.json.gz", Body=gzip.compress(LOG_FILE.read_bytes()))
    s3.put_object(Bucket="trail", Key="AWSLogs/111122223333/CloudTrail-Digest/x.json.gz", Body=b"{}")
    s3.put_object(Bucket="trail", Key=f"{prefix}broken.json", Body=b"{")
    code, decisions, err = replay(capsys, "s3://trail/AWSLogs/")
    assert code == 1
    assert len(decisions) == 9
    assert f"s3://trail/{prefix}broken.json: not JSON" in err
    code, _, err = replay(capsys, "s3://no-such-bucket/x")
    assert code == 1
    assert "NoSuchBucket" in err


HTTPS_WORLD = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ALL_TRAFFIC_WORLD = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def test_enforce_revokes_and_publishes_only_with_notify(
    capsys: pytest.CaptureFixture[str], world: World, tmp_path: Path
) -> None:
    group = world.group("web")
    first, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    path = tmp_path / "e.json"
    path.write_text(json.dumps(first))
    assert main(["replay", "--format", "jsonl", str(path)]) == 0  # dry-run, live reads
    [dry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert dry["findings"][0]["action"] == "would-revoke"
    assert dry["not_judged"] == []  # the group's name was read from (moto's) AWS
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)

    assert main(["replay", "--mode", "enforce", "--format", "jsonl", str(path)]) == 0
    assert created[0]["SecurityGroupRuleId"] not in world.rule_ids(group)
    assert world.messages() == []

    second, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    path.write_text(json.dumps(second))
    assert main(["replay", "--mode", "enforce", "--notify", world.topics["dev"], str(path)]) == 0
    [message] = world.messages()
    assert message["document"]["findings"][0]["rule_id"] == created[0]["SecurityGroupRuleId"]


def test_enforce_with_a_topic_that_does_not_exist_revokes_nothing_and_exits_2(
    capsys: pytest.CaptureFixture[str], world: World, tmp_path: Path
) -> None:
    group = world.group("web")
    event, created = authorize_and_record(world.ec2, group, [ALL_TRAFFIC_WORLD])
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event))
    missing = "arn:aws:sns:eu-west-1:111122223333:no-such-topic"

    code = main(["replay", "--mode", "enforce", "--notify", missing, str(path)])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    [line] = err.splitlines()  # one clear line, no traceback
    assert line.startswith(f"sgguard: --notify {missing}: cannot publish there (NotFound")
    assert "nothing was judged or revoked" in line
    assert created[0]["SecurityGroupRuleId"] in world.rule_ids(group)


def test_a_publish_that_fails_after_revoking_is_reported_and_the_run_is_incomplete(
    capsys: pytest.CaptureFixture[str], world: World, tmp_path: Path
) -> None:
    from chalicelib.adapters import clients
    from tests.faults import Fault, inject

    group = world.group("web")
    events = [authorize_and_record(world.ec2, group, [rule])[0] for rule in (ALL_TRAFFIC_WORLD, HTTPS_WORLD)]
    path = tmp_path / "log.json"
    path.write_text(json.dumps({"Records": [e["detail"] for e in events]}))
    topic = world.topics["dev"]
    inject(clients.sns(REGION), Fault("Publish", "AuthorizationError", 403))

    code = main(["replay", "--mode", "enforce", "--format", "jsonl", "--notify", topic, str(path)])

    out, err = capsys.readouterr()
    assert code == 3
    decisions = [json.loads(line) for line in out.splitlines()]
    assert decisions[0]["findings"][0]["action"] == "revoked"  # on stdout although the message failed
    event_id = events[0]["detail"]["eventID"]
    [failed] = [line for line in err.splitlines() if ": not published to" in line]
    for named in (event_id, topic, "AuthorizationError"):
        assert named in failed
    assert "incomplete" in err
    assert world.messages() == []
