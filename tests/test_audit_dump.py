"""Saved describe output (`sgguard audit --from`): told apart by content, plain or gzip, paged or not, read
in bounded memory, and every unreadable file or entry reported with the file, the entry and the field."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from chalicelib.rules import PrefixList
from chalicelib.sweep.dump import CUSTOMER_LIST, Dump

ARN = "arn:aws:ec2:eu-west-1:111122223333:security-group-rule/"


def rule(n: int, group: str = "sg-0000000000000000a", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SecurityGroupRuleId": f"sgr-{n:017x}",
        "GroupId": group,
        "GroupOwnerId": "111122223333",
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "CidrIpv4": "0.0.0.0/0",
        "SecurityGroupRuleArn": f"{ARN}sgr-{n:017x}",
        "Tags": [],
    }
    entry.update(fields)
    return {k: v for k, v in entry.items() if v is not None}


def group(
    group_id: str = "sg-0000000000000000a", name: str = "web", vpc: str = "vpc-0000000a"
) -> dict[str, Any]:
    return {"GroupId": group_id, "GroupName": name, "VpcId": vpc, "OwnerId": "111122223333",
            "Description": "d", "IpPermissions": [], "IpPermissionsEgress": []}  # fmt: skip


def write(path: Path, *documents: Any, gz: bool = False, indent: int | None = 4) -> str:
    text = "\n".join(json.dumps(d, indent=indent) for d in documents)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return str(path)


def read(*paths: str, stdin: bytes | None = None) -> tuple[Dump, list[Any]]:
    dump = Dump(paths, io.BytesIO(stdin) if stdin is not None else None)
    dump.context()
    rules = list(dump.rules())
    dump.close()
    return dump, rules


def messages(dump: Dump) -> list[str]:
    return [str(p) for p in [*dump.problems, *dump.missing_pages()]]


def test_kinds_are_told_by_content_not_by_name(tmp_path: Path) -> None:
    rules = write(tmp_path / "groups.json", {"SecurityGroupRules": [rule(1), rule(2, IsEgress=True)]})
    groups = write(tmp_path / "rules.json.gz", {"SecurityGroups": [group()]}, gz=True)
    dump, found = read(rules, groups)
    assert messages(dump) == []
    assert [(r.rule_id, r.direction) for r in found] == [("sgr-" + "1".zfill(17), "ingress"),
                                                         ("sgr-" + "2".zfill(17), "egress")]  # fmt: skip
    assert dump.groups["sg-0000000000000000a"].name == "web"
    assert (dump.account, dump.region) == ("111122223333", "eu-west-1")


def test_pages_in_a_row_bare_arrays_and_json_lines(tmp_path: Path) -> None:
    paged = write(
        tmp_path / "a",
        {"SecurityGroupRules": [rule(1)], "NextToken": "t1"},
        {"SecurityGroupRules": [rule(2)], "NextToken": "t2"},
        {"SecurityGroupRules": [rule(3)]},
    )
    bare = write(tmp_path / "b", [rule(4), rule(5)])  # --query SecurityGroupRules
    lines = write(tmp_path / "c", [group()], {"SecurityGroupRules": [rule(6)]}, indent=None)
    dump, found = read(paged, bare, lines)
    assert messages(dump) == []
    assert [int((r.rule_id or "")[4:], 16) for r in found] == [
        1, 2, 3, 4, 5, 6
    ]  # fmt: skip
    assert "sg-0000000000000000a" in dump.groups


def test_groups_after_rules_in_one_file_are_refused_with_what_to_do(tmp_path: Path) -> None:
    """The rules are judged as they stream, so group names that come after them would come too late."""
    late = write(tmp_path / "late", {"SecurityGroupRules": [rule(6)]}, [group()])
    dump, found = read(late)
    assert len(found) == 1
    assert messages(dump) == [
        f"{late}: [0]: give the output of aws ec2 describe-security-groups in a file of its own"
    ]


def test_a_missing_last_page_is_reported(tmp_path: Path) -> None:
    page = write(tmp_path / "page1.json", {"SecurityGroupRules": [rule(1)], "NextToken": "more"})
    dump, found = read(page)
    assert len(found) == 1
    [problem] = messages(dump)
    assert "describe-security-group-rules" in problem
    assert "the last page is missing" in problem


def test_groups_before_rules_in_one_file_are_read_once(tmp_path: Path) -> None:
    both = write(tmp_path / "both", {"SecurityGroups": [group()]}, {"SecurityGroupRules": [rule(1)]})
    dump, found = read(both)
    assert messages(dump) == []
    assert len(found) == 1
    assert dump.groups


@pytest.mark.parametrize(
    ("entry", "where", "field"),
    [
        (rule(7, FromPort="22"), "SecurityGroupRules[1]", "FromPort"),
        (rule(7, GroupId=None), "SecurityGroupRules[1]", "GroupId"),
        (rule(7, IpProtocol="tcpx"), "SecurityGroupRules[1]", "tcpx"),
        (rule(7, CidrIpv4="0.0.0.0/99"), "SecurityGroupRules[1]", "0.0.0.0/99"),
        (rule(7, CidrIpv4=["0.0.0.0/0"]), "SecurityGroupRules[1]", "CidrIpv4"),
        ("sgr-1", "SecurityGroupRules[1]", "object"),
    ],
)
def test_a_bad_entry_is_named_by_file_index_and_field_and_the_rest_is_read(
    tmp_path: Path, entry: Any, where: str, field: str
) -> None:
    path = write(tmp_path / "rules.json", {"SecurityGroupRules": [rule(1), entry, rule(3)]})
    dump, found = read(path)
    assert [r.rule_id for r in found] == [rule(1)["SecurityGroupRuleId"], rule(3)["SecurityGroupRuleId"]]
    [problem] = messages(dump)
    assert problem.startswith(f"{path}: {where}: ")
    assert field in problem


def test_unreadable_files_are_reported_and_the_others_read(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", {"SecurityGroupRules": [rule(1)]})
    (tmp_path / "broken.json").write_text('{"SecurityGroupRules": [{"GroupId": ')
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "latin1.json").write_bytes(b'{"SecurityGroups": [{"GroupName": "caf\xe9"}]}')
    paths = [str(tmp_path / n) for n in ("broken.json", "bad.gz", "latin1.json", "absent.json")]
    dump, found = read(good, *paths)
    assert len(found) == 1
    problems = messages(dump)
    assert problems[0].startswith(f"{paths[3]}: no such file")
    assert any(p.startswith(f"{paths[0]}: not JSON: line 1") for p in problems)
    assert any(p.startswith(f"{paths[1]}: broken gzip") for p in problems)
    assert any(p.startswith(f"{paths[2]}: not UTF-8") for p in problems)


def test_foreign_json_and_other_regions_are_refused_not_judged(tmp_path: Path) -> None:
    foreign = write(tmp_path / "trail.json", {"Records": [{"eventName": "x"}]}, [{"a": 1}], 7)
    other = rule(2, SecurityGroupRuleArn=f"{ARN.replace('eu-west-1', 'us-east-1')}sgr-2")
    rules = write(tmp_path / "rules.json", {"SecurityGroupRules": [rule(1), other]})
    dump, found = read(foreign, rules)
    assert len(found) == 1
    problems = messages(dump)
    assert any("[0]: not a security group, rule" in p for p in problems)
    assert any("trail.json: value: expected a JSON value that is not" in p for p in problems) or any(
        "trail.json" in p for p in problems
    )
    assert any("SecurityGroupRules[1]: a rule of 111122223333 in us-east-1" in p for p in problems)


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path / "rules.json", {"SecurityGroupRules": [rule(1)]})
    dump, found = read(path, str(tmp_path / "." / "rules.json"))
    assert len(found) == 1
    assert messages(dump) == [f"{tmp_path / '.' / 'rules.json'}: given twice: read once"]


def test_standard_input_is_read_like_a_file(tmp_path: Path) -> None:
    groups = write(tmp_path / "g", {"SecurityGroups": [group()]})
    data = gzip.compress(json.dumps({"SecurityGroupRules": [rule(1)]}).encode())
    dump, found = read("-", groups, stdin=data)
    assert messages(dump) == []
    assert len(found) == 1
    assert dump.groups


def test_prefix_lists_aws_managed_judged_customer_needs_its_entries(tmp_path: Path) -> None:
    lists = {"PrefixLists": [
        {"PrefixListId": "pl-0000000a", "PrefixListName": "com.amazonaws.eu-west-1.s3", "OwnerId": "AWS"},
        {"PrefixListId": "pl-0000000b", "PrefixListName": "office", "OwnerId": "111122223333", "Version": 3},
        {"PrefixListId": "pl-0000000c", "PrefixListName": "partners", "OwnerId": "111122223333"},
    ]}  # fmt: skip
    entries = {"Entries": [{"Cidr": "0.0.0.0/0"}, {"Cidr": "10.0.0.0/8"}], "PrefixListId": "pl-0000000b"}
    nameless = {"Entries": [{"Cidr": "10.0.0.0/8"}]}
    paths = [write(tmp_path / n, d) for n, d in (("l", lists), ("e", entries), ("n", nameless))]
    dump, _ = read(*paths, write(tmp_path / "r", {"SecurityGroupRules": [rule(1)]}))
    known = dump.prefix_lists
    assert known is not None
    assert isinstance(known.get("pl-0000000a"), PrefixList)
    office = known.get("pl-0000000b")
    assert isinstance(office, PrefixList)
    assert office.entries == ("0.0.0.0/0", "10.0.0.0/8")
    assert office.version == 3
    assert not office.aws_managed
    assert known.get("pl-0000000c") == CUSTOMER_LIST
    assert "not in the dump" in str(known.get("pl-0000000d"))
    [problem] = messages(dump)
    assert problem.startswith(f"{paths[2]}: prefix-list entries without a PrefixListId")


def test_hostile_values_are_problems_not_crashes(tmp_path: Path) -> None:
    nested: Any = {}
    for _ in range(50):
        nested = {"x": nested}
    hostile = [
        rule(1, GroupId="sg-\u202e\x00<script>" + "x" * 10_000),  # read as it is: renderers escape it
        rule(2, FromPort=-1, ToPort=10**30),  # every port, as AWS's -1 means
        rule(3, ReferencedGroupInfo=nested, CidrIpv4=None),
        rule(4, IsEgress="false"),
        rule(5, CidrIpv4=None),
        {"SecurityGroupRuleId": None},
        rule(7, IpProtocol=True),
    ]
    groups = {"SecurityGroups": [{"GroupId": 5}, {"GroupId": "sg-1"}]}
    path = write(tmp_path / "r", groups, {"SecurityGroupRules": hostile})
    dump, found = read(path)
    assert [r.rule_id for r in found] == [rule(1)["SecurityGroupRuleId"], rule(2)["SecurityGroupRuleId"]]
    assert found[1].port_range == (0, 65535)
    assert [p.split(": ", 2)[1] for p in messages(dump)] == [
        "SecurityGroups[0]",
        "SecurityGroups[1]",
        "SecurityGroupRules[2]",
        "SecurityGroupRules[3]",
        "SecurityGroupRules[4]",
        "SecurityGroupRules[5]",
        "SecurityGroupRules[6]",
    ]


def _streaming_peak(path: Path, rules: int) -> int:
    with path.open("w") as out:
        out.write('{"SecurityGroupRules": [')
        out.write(",\n".join(json.dumps(rule(n, group=f"sg-{n % 500:017x}")) for n in range(rules)))
        out.write("]}")
    dump = Dump([str(path)])
    dump.context()
    tracemalloc.start()
    count = sum(1 for _ in dump.rules())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == rules
    return peak


def test_memory_stays_bounded_while_rules_stream(tmp_path: Path) -> None:
    """Four times the rules, about the same memory: one chunk of text and one entry at a time."""
    small = _streaming_peak(tmp_path / "small.json", 10_000)
    big = _streaming_peak(tmp_path / "big.json", 40_000)
    assert big < small * 1.5 + (1 << 20), (small, big)


def test_a_hostile_nesting_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(
        '{"SecurityGroupRules": [' + json.dumps(rule(1)) + ', {"x": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    )
    dump, found = read(str(path))
    assert len(found) == 1
    [problem] = messages(dump)
    assert problem.startswith(str(path))
