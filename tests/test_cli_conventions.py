"""Conventions of the installed `sgguard` (issue 10, items 5 and 7): `baseline validate` lists every
error in one run, reads standard input, speaks JSON and warns about exemptions; `--version`, one set
of `--format` names, an example in every `--help`, and a real command line for the event generator.
Each test runs the command as a subprocess and checks exit status, stdout and stderr."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_run import ROOT, run, run_command
from tests.conftest import SAMPLES

EXEMPTION = """
[[exemptions]]
id = "{id}"
controls = ["EC2.13"]
scope = {{ groups = ["sg-0a1b2c3d4e5f60718"] }}
reason = "the bastion"
expires = {expires}
"""


def _today() -> datetime:
    return datetime.now(UTC)


def baseline(tmp_path: Path, text: str, name: str = "b.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def with_exemptions(*exemptions: tuple[str, str]) -> str:
    head = 'name = "acme"\nextends = "aws-foundational"\n'
    return head + "".join(EXEMPTION.format(id=i, expires=e) for i, e in exemptions)


# --- item 5: baseline validate and show ---------------------------------------------------------------


def test_validate_lists_every_error_in_one_run(tmp_path: Path) -> None:
    text = (
        'name = "acme"\nextends = "aws-foundational"\ndisabel = ["EC2.19"]\nacton = "notify"\n'
        '[[controls]]\nid = "EC2.18"\nacton = "notify"\nseverity = 3\n'
        '[[controls]]\nid = "ACME.1"\ntitle = "x"\nseverity = "LOW"\nprotocols = ["tcp"]\nports = [70000]\n'
        'sources = ["world"]\n'
    )
    path = baseline(tmp_path, text)
    ran = run("baseline", "validate", str(path))
    assert ran.code == 1
    assert ran.out == ""
    assert ran.err.splitlines() == [
        f"{path}: disabel: unknown field (did you mean disable?)",
        f"{path}: acton: unknown field (known: controls, description, disable, exemptions, extends, name)",
        f"{path}: controls[0](EC2.18).severity: expected 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW' or "
        "'INFORMATIONAL', found the number 3",
        f"{path}: controls[0](EC2.18).acton: unknown field (did you mean action?)",
        f"{path}: controls[1](ACME.1).ports[0]: 70000 is not a port (0-65535)",
    ]


def test_validate_reads_standard_input_and_speaks_json(tmp_path: Path) -> None:
    good = baseline(tmp_path, 'name = "good"\nextends = "cis"\n', "good.toml")
    ran = run("baseline", "validate", "--format", "json", "-", str(good), stdin='name = "x"\ncolour = 1\n')
    assert ran.code == 1
    assert ran.err == ""
    assert json.loads(ran.out) == {
        "valid": False,
        "strict": False,
        "files": [
            {
                "file": "<stdin>",
                "valid": False,
                "errors": [
                    "colour: unknown field (known: controls, description, disable, exemptions, extends, name)"
                ],
                "warnings": [],
            },
            {"file": str(good), "valid": True, "controls": 3, "exemptions": 0, "errors": [], "warnings": []},
        ],
    }
    ran = run("baseline", "validate", "-", stdin='name = "x"\nextends = "strict"\n')
    assert (ran.code, ran.out, ran.err) == (0, "<stdin>: ok (15 controls)\n", "")


def test_validate_warns_about_expired_and_expiring_exemptions(tmp_path: Path) -> None:
    soon = (_today() + timedelta(days=5)).date().isoformat()
    later = (_today() + timedelta(days=90)).date().isoformat()
    path = baseline(tmp_path, with_exemptions(("OLD", "2024-01-31"), ("SOON", soon), ("LATER", later)))
    ran = run("baseline", "validate", str(path))
    assert ran.code == 0
    assert ran.out == f"{path}: ok (8 controls, 3 exemptions)\n"
    assert ran.err.splitlines() == [
        f"{path}: warning: exemption OLD: expired on 2024-01-31; it no longer lifts EC2.13: "
        "renew it or remove it",
        f"{path}: warning: exemption SOON: expires on {soon} (in 5 days)",
    ]
    strict = run("baseline", "validate", "--strict", str(path))
    assert strict.code == 1
    assert strict.out == f"{path}: fails (--strict: warnings count) (8 controls, 3 exemptions)\n"
    assert strict.err == ran.err
    document = json.loads(run("baseline", "validate", "--strict", "--format", "json", str(path)).out)
    assert document["valid"] is False
    assert len(document["files"][0]["warnings"]) == 2


def test_show_marks_expired_exemptions(tmp_path: Path) -> None:
    later = (_today() + timedelta(days=90)).date().isoformat()
    path = baseline(tmp_path, with_exemptions(("OLD", "2024-01-31"), ("LATER", later)))
    ran = run("baseline", "show", str(path))
    assert ran.code == 0
    assert (
        "  OLD: lifts EC2.13 for groups sg-0a1b2c3d4e5f60718 until 2024-01-31 (EXPIRED: no longer applies)"
        in ran.out
    )
    assert f"  LATER: lifts EC2.13 for groups sg-0a1b2c3d4e5f60718 until {later}: the bastion" in ran.out
    shown = json.loads(run("baseline", "show", str(path), "--format", "json").out)
    assert [(e["id"], e["expired"]) for e in shown["exemptions"]] == [("OLD", True), ("LATER", False)]


def test_a_baseline_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = baseline(tmp_path, "")
    path.write_bytes(b'name = "x"\ndescription = "\xff\xfe"\n')
    for command in (["validate"], ["show"]):
        ran = run("baseline", *command, str(path))
        assert ran.code == 1
        assert ran.out == ""
        assert ran.err == f"{path}: not UTF-8 text: byte 0xff on line 2 (TOML files are UTF-8)\n"


def test_text_output_of_show_escapes_control_characters(tmp_path: Path) -> None:
    path = baseline(tmp_path, 'name = "x"\ndescription = "a\\u001b[2Jb"\nextends = "cis"\n')
    ran = run("baseline", "show", str(path))
    assert ran.code == 0
    assert "x: a\\x1b[2Jb" in ran.out
    assert "\x1b" not in ran.out


# --- item 7: conventions ---------------------------------------------------------------------------------


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    ran = run("--version")
    assert (ran.code, ran.out, ran.err) == (0, f"sgguard {version('sgguard')}\n", "")
    assert version("sgguard") in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["replay"],
        ["baseline"],
        ["baseline", "validate"],
        ["baseline", "show"],
        ["baseline", "schema"],
        ["bootstrap"],
        ["audit"],
    ],
)
def test_every_help_shows_an_example(command: list[str]) -> None:
    ran = run(*command, "--help")
    assert ran.code == 0
    assert ran.err == ""
    assert "example" in ran.out
    assert "sgguard " in ran.out.split("example", 1)[1]


@pytest.mark.parametrize(
    ("command", "formats"),
    [
        (["replay", str(SAMPLES)], ["text", "jsonl"]),
        (["baseline", "validate", str(ROOT / "examples" / "acme-baseline.toml")], ["text", "json"]),
        (["baseline", "show"], ["text", "json"]),
    ],
)
def test_one_set_of_format_names(command: list[str], formats: list[str]) -> None:
    offline = ["--offline"] if command[0] == "replay" else []
    for name in formats:
        ran = run(*command, *offline, "--format", name)
        assert ran.code == 0, ran.err
        if name in ("json", "jsonl"):
            for line in ran.out.splitlines() if name == "jsonl" else [ran.out]:
                json.loads(line)
    wrong = run(*command, *offline, "--format", "yaml")
    assert wrong.code == 2
    assert "invalid choice: 'yaml'" in wrong.err


def test_format_table_is_text_with_a_deprecation_notice() -> None:
    old, new = run("baseline", "show", "--format", "table"), run("baseline", "show", "--format", "text")
    assert (old.code, old.out) == (0, new.out)
    assert old.err == "sgguard: --format table is now --format text (table will be removed)\n"


def eventgen(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    ran = run_command([sys.executable, "-m", "devtools.eventgen", *args], stdin=stdin)
    return ran.code, ran.out, ran.err


def test_eventgen_has_a_documented_command_line(tmp_path: Path) -> None:
    code, out, err = eventgen("--help")
    assert (code, err) == (0, "")
    assert "examples:" in out
    assert "python -m devtools.eventgen --count 1000 -o trail.json" in out
    for wrong in (["--count", "many"], ["--format", "xml"], ["--max-rules", "0"], ["stray"]):
        code, out, err = eventgen(*wrong)
        assert code == 2
        assert out == ""
        assert err.startswith("usage: python -m devtools.eventgen")
    code, out, err = eventgen("-o", str(tmp_path / "no-such-dir" / "x.json"))
    assert (code, out) == (1, "")
    assert err == f"eventgen: cannot write {tmp_path / 'no-such-dir' / 'x.json'}: no such file or directory\n"


@pytest.mark.parametrize("form", ["log", "jsonl", "events"])
def test_eventgen_output_replays(tmp_path: Path, form: str) -> None:
    path = tmp_path / f"trail.{'json' if form == 'log' else 'jsonl'}.gz"
    assert eventgen("--count", "40", "--format", form, "--gzip", "-o", str(path))[0] == 0
    ran = run("replay", "--offline", str(path))
    assert (ran.code, ran.err) == (0, "")
    assert "events read   40" in ran.out


def test_eventgen_hostile_records_are_reported_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "hostile.json"
    assert eventgen("--hostile", "--count", "30", "-o", str(path))[0] == 0
    ran = run("replay", "--offline", str(path))
    assert ran.code == 1
    assert "nested deeper than 100 levels" in ran.err
    assert "\x1b" not in ran.out + ran.err
    assert "events read   29" in ran.out  # and one record not read: too deep


def test_ctrl_c_anywhere_is_one_line_and_exit_130(tmp_path: Path) -> None:
    """`baseline validate -` waiting on standard input, interrupted as a terminal does it."""
    import os
    import signal
    import subprocess
    import time

    from tests.cli_run import SGGUARD, user_env

    process = subprocess.Popen(
        [SGGUARD, "baseline", "validate", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=user_env(),
        start_new_session=True,
    )
    time.sleep(2)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert out == b""
    assert err.decode().strip() == "sgguard: interrupted"
