"""`sgguard audit --from` on several processes: a big rules file cut into pieces judged by workers gives
the very report (and jsonl lines, and problems) of one process, and a wrong cut only costs time."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.cli import main
from chalicelib.sweep import pieces
from tests.test_audit_dump import group, rule

MOVING = ("sweep_id", "started_at", "finished_at")


def write_rules(path: Path, count: int, tags: int = 0, bad: dict[int, dict[str, Any]] | None = None) -> str:
    """A rules file as the AWS CLI prints it (indent 4), some rules violating, some bad on purpose."""
    entries = []
    for n in range(count):
        port = 22 if n % 7 == 0 else 443
        entry = rule(n, group=f"sg-{n % 40:017x}", FromPort=port, ToPort=port)
        entry["Tags"] = [{"Key": f"k{t}", "Value": "}, {"} for t in range(tags)]
        entry.update((bad or {}).get(n, {}))
        entries.append(entry)
    path.write_text(json.dumps({"SecurityGroupRules": entries}, indent=4) + "\n")
    return str(path)


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pieces, "MIN_BYTES", 1)
    monkeypatch.setattr(pieces, "PIECE_BYTES", 40_000)


def audit(tmp_path: Path, files: list[str], jobs: int, fmt: str = "json") -> tuple[int, str]:
    out = tmp_path / f"out-{jobs}.{fmt}"
    status = main(["audit", "--from", *files, "--format", fmt, "--output", str(out), "--jobs", str(jobs)])
    return status, out.read_text()


def same(a: str, b: str) -> bool:
    left, right = json.loads(a), json.loads(b)
    for report in (*left, *right):
        for key in MOVING:
            report.pop(key)
    return bool(left == right)


def test_the_plan_cuts_only_the_aws_cli_shape(tmp_path: Path, small_pieces: None) -> None:
    plain = write_rules(tmp_path / "rules.json", 600)
    planned = pieces.plan(plain, 2)
    assert planned is not None
    assert len(planned) > 2
    text = Path(plain).read_bytes()
    assert text[planned[0].start - 1 : planned[0].start] == b"["
    for before, after in itertools.pairwise(planned):
        assert text[before.end : after.start] == b","
    assert text[planned[-1].end :].lstrip().startswith(b"]")
    zipped = tmp_path / "rules.json.gz"
    zipped.write_bytes(gzip.compress(text))
    paged = tmp_path / "paged.json"
    paged.write_text(json.dumps({"SecurityGroupRules": [rule(1)] * 2000, "NextToken": "x"}))
    assert pieces.plan(str(zipped), 2) is None
    assert pieces.plan(str(paged), 2) is None
    assert pieces.plan(plain, 1) is None


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_pieces_give_the_report_of_one_process(tmp_path: Path, small_pieces: None, fmt: str) -> None:
    bad = {250: {"FromPort": "22"}, 1100: {"CidrIpv4": "0.0.0.0/99"}}
    files = [write_rules(tmp_path / "rules.json", 1500, bad=bad), str(tmp_path / "groups.json")]
    Path(files[1]).write_text(
        json.dumps({"SecurityGroups": [group(f"sg-{n:017x}", "web") for n in range(40)]})
    )
    assert len(pieces.plan(files[0], 2) or []) > 4
    one, one_out = audit(tmp_path, files, 1, fmt)
    many, many_out = audit(tmp_path, files, 2, fmt)
    assert one == many == 2  # two bad entries: unreadable input, the rest judged
    if fmt == "json":
        assert same(one_out, many_out)
    else:
        assert one_out.splitlines()[:-1] == many_out.splitlines()[:-1]  # every finding line, in order
        assert same(f"[{one_out.splitlines()[-1]}]", f"[{many_out.splitlines()[-1]}]")


def test_problems_in_pieces_name_their_index_in_the_file(
    tmp_path: Path, small_pieces: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path / "rules.json", 1200, bad={1000: {"FromPort": "22"}})
    audit(tmp_path, [path], 2)
    assert (
        f"sgguard: {path}: SecurityGroupRules[1000]: FromPort: '22' is not a port number"
        in capsys.readouterr().err
    )


def test_a_wrong_cut_inside_a_rule_costs_time_not_a_different_answer(
    tmp_path: Path, small_pieces: None
) -> None:
    """Every rule has tags: most planned cuts fall between two tags of one rule (``}, {"Key"``)."""
    path = write_rules(tmp_path / "rules.json", 800, tags=6)
    planned = pieces.plan(path, 2)
    assert planned is not None
    text = Path(path).read_bytes()
    assert any(b'"Key"' in text[p.start : p.start + 80] for p in planned[1:])  # some cuts are wrong
    one, one_out = audit(tmp_path, [path], 1)
    many, many_out = audit(tmp_path, [path], 2)
    assert one == many == 1
    assert same(one_out, many_out)
