"""Baseline files: every bundled preset validates, inheritance (extends, disable, override), exemptions
as data, and errors that name the file, the control or exemption, and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.baseline import (
    Baseline,
    BaselineError,
    load_baseline,
    parse_baseline,
    preset_names,
)
from chalicelib.cli import main
from tests.conftest import ROOT

BUNDLED = sorted((ROOT / "chalicelib" / "baselines").glob("*.toml"))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_baseline_validates(path: Path) -> None:
    """A broken file in the bundle fails `make test`, loaded both as a file and as a preset."""
    from_file = load_baseline(str(path))
    from_preset = load_baseline(path.stem)
    assert from_file == from_preset
    assert from_file.name == path.stem
    assert from_file.controls
    assert from_file.exemptions == []  # exemptions belong to a deployment's own file, never a preset
    assert main(["baseline", "validate", str(path)]) == 0


def test_the_three_presets_ship() -> None:
    assert {"aws-foundational", "cis", "strict"} <= set(preset_names())
    assert len(BUNDLED) == len(preset_names())


def test_strict_is_aws_foundational_plus_its_own_controls() -> None:
    foundational, strict = load_baseline("aws-foundational"), load_baseline("strict")
    assert strict.extends == "aws-foundational"
    assert strict.controls[: len(foundational.controls)] == foundational.controls
    assert [c.id for c in strict.controls[len(foundational.controls) :]] == [f"SGG.{n}" for n in range(2, 9)]


def write(tmp_path: Path, text: str, name: str = "baseline.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, name: str = "baseline.toml") -> Baseline:
    return load_baseline(str(write(tmp_path, text, name)))


def errors_of(tmp_path: Path, text: str, name: str = "baseline.toml") -> list[str]:
    with pytest.raises(BaselineError) as caught:
        load_text(tmp_path, text, name)
    assert caught.value.source.endswith(name)
    return caught.value.errors


# --- inheritance -------------------------------------------------------------------------------------


CUSTOM = """
name = "acme"
extends = "aws-foundational"
disable = ["EC2.19"]

[[controls]]
id = "EC2.18"
action = "notify"

[[controls]]
id = "SGG.1"
severity = "CRITICAL"
allowed_ports = { tcp = [443] }

[[controls]]
id = "EC2.13"
ports = ["22-23"]

[[controls]]
id = "ACME.1"
title = "No Postgres from the partner network"
severity = "MEDIUM"
protocols = ["tcp"]
ports = [5432]
sources = ["198.18.0.0/15"]
"""


def test_extends_disable_override_and_add(tmp_path: Path) -> None:
    base = load_baseline("aws-foundational")
    custom = load_text(tmp_path, CUSTOM)
    ids = [c.id for c in custom.controls]
    assert ids == ["EC2.13", "EC2.14", "EC2.53", "EC2.54", "EC2.18", "EC2.2", "SGG.1", "ACME.1"]
    by_id = {c.id: c for c in custom.controls}
    inherited = {c.id: c for c in base.controls}
    # a partial patch changes only what it names
    assert by_id["EC2.18"].action == "notify"
    assert by_id["EC2.18"].model_copy(update={"action": "revoke"}) == inherited["EC2.18"]
    assert by_id["SGG.1"].severity == "CRITICAL"
    assert by_id["SGG.1"].allowed_ports == {"tcp": [(443, 443)]}
    assert by_id["SGG.1"].sources == inherited["SGG.1"].sources
    assert by_id["EC2.13"].ports == [(22, 23)]
    assert by_id["EC2.13"].title == inherited["EC2.13"].title
    assert by_id["EC2.14"] == inherited["EC2.14"]
    assert by_id["ACME.1"].sources == ["198.18.0.0/15"]


def test_giving_one_port_form_replaces_the_inherited_other(tmp_path: Path) -> None:
    text = 'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "EC2.18"\nports = [8080]\n'
    (ec2_18,) = [c for c in load_text(tmp_path, text).controls if c.id == "EC2.18"]
    assert ec2_18.ports == [(8080, 8080)]
    assert ec2_18.allowed_ports is None


def test_show_prints_the_effective_controls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CUSTOM)
    assert main(["baseline", "show", str(path), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in shown["controls"]][-1] == "ACME.1"
    assert "EC2.19" not in [c["id"] for c in shown["controls"]]
    assert main(["baseline", "show", str(path)]) == 0
    table = capsys.readouterr().out
    assert "extends aws-foundational" in table
    assert "EC2.19" not in table
    assert "notify" in table


def test_show_presets(capsys: pytest.CaptureFixture[str]) -> None:
    for preset in ("cis", "strict"):
        assert main(["baseline", "show", "--preset", preset]) == 0
    out = capsys.readouterr().out
    assert "CIS.5.5" in out
    assert "SGG.8" in out


def test_extends_a_file_relative_to_the_extending_one(tmp_path: Path) -> None:
    (tmp_path / "teams").mkdir()
    write(tmp_path, 'name = "org"\nextends = "cis"\ndisable = ["CIS.5.4"]\n', "org.toml")
    team = load_text(tmp_path, 'name = "team"\nextends = "../org.toml"\n', "teams/team.toml")
    assert [c.id for c in team.controls] == ["CIS.5.3", "CIS.5.5"]


def test_a_cycle_is_an_error_naming_the_chain(tmp_path: Path) -> None:
    write(tmp_path, 'name = "a"\nextends = "b.toml"\n', "a.toml")
    write(tmp_path, 'name = "b"\nextends = "a.toml"\n', "b.toml")
    [message] = errors_of(tmp_path, 'name = "a"\nextends = "b.toml"\n', "a.toml")
    assert message.startswith("extends: ")
    assert "extends itself" in message
    assert "a.toml -> " in message
    assert "b.toml" in message


def test_an_unknown_preset_is_an_error_listing_the_presets(tmp_path: Path) -> None:
    [message] = errors_of(tmp_path, 'name = "x"\nextends = "aws-foundation"\n')
    assert message.startswith("extends: ")
    assert "aws-foundational, cis, strict" in message


def test_disabling_an_unknown_control_names_it(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, 'name = "x"\nextends = "aws-foundational"\ndisable = ["EC2.19", "EC2.99"]\n')
    assert len(errors) == 1
    assert errors[0].startswith("disable[1]: EC2.99 is not an inherited control")


def test_disable_without_extends_is_an_error(tmp_path: Path) -> None:
    [message] = errors_of(tmp_path, 'name = "x"\ndisable = ["EC2.19"]\ncontrols = []\n')
    assert "disable[0]: EC2.19" in message
    assert "extends nothing" in message


def test_a_broken_parent_is_reported_through_extends(tmp_path: Path) -> None:
    write(tmp_path, 'name = "p"\n[[controls]]\nid = "A"\n', "parent.toml")
    errors = errors_of(tmp_path, 'name = "c"\nextends = "parent.toml"\n', "child.toml")
    assert errors
    assert all(e.startswith("extends: ") for e in errors)
    assert any("controls[0](A).title" in e for e in errors)


# --- errors that name the field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'name = "x"\n[[controls]]\nid = "A"\ntitle = "t"\nseverity = "HIGH"\nprotocols = ["tcp"]\n'
            'sources = ["world"]\nports = [22, 70000]\n',
            "controls[0](A).ports[1]: 70000 is not a port (0-65535)",
        ),
        (
            'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "EC2.13"\nseverity = "SEVERE"\n',
            "controls[0](EC2.13).severity: expected 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW' or",
        ),
        (
            'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "EC2.13"\nsources = ["everyone"]\n',
            "controls[0](EC2.13).sources[0]: 'everyone' is not a source",
        ),
        (
            'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "NEW.1"\naction = "notify"\n',
            "controls[0](NEW.1).title: required, but missing",
        ),
        (
            'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "EC2.13"\nprotocols = ["tcpp"]\n',
            "controls[0](EC2.13).protocols[0]: 'tcpp' is not an IP protocol",
        ),
        (
            'name = "x"\nextends = "aws-foundational"\n[[controls]]\nid = "EC2.13"\ncolour = "red"\n',
            "controls[0](EC2.13).colour: unknown field (known: action, allowed_ports, directions,",
        ),
        (
            'name = "x"\nextends = "cis"\nenable = ["CIS.5.3"]\n',
            "enable: unknown field (did you mean disable?)",
        ),
        (
            'name = "x"\nextends = "cis"\ncontrols = "CIS.5.3"\n',
            "controls: expected a list, found the string 'CIS.5.3'",
        ),
        ("name = x\n", "not valid TOML"),
    ],
)
def test_invalid_baselines_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    text = """
name = "x"
extends = "aws-foundational"
disable = ["NOPE"]
[[controls]]
id = "EC2.13"
ports = [99999]
[[controls]]
id = "EC2.14"
severity = "BAD"
"""
    errors = errors_of(tmp_path, text)
    assert [e.split(":")[0] for e in errors] == [
        "disable[0]",
        "controls[0](EC2.13).ports[0]",
        "controls[1](EC2.14).severity",
    ]


def test_a_control_defined_twice_in_a_file(tmp_path: Path) -> None:
    text = 'name = "x"\nextends = "cis"\n[[controls]]\nid = "CIS.5.3"\n[[controls]]\nid = "CIS.5.3"\n'
    assert errors_of(tmp_path, text) == ["controls[1](CIS.5.3).id: CIS.5.3 appears twice in this file"]


def test_validate_command_lists_errors_with_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, 'name = "x"\nextends = "cis"\ndisable = ["EC2.19"]\n')
    good = write(tmp_path, 'name = "y"\nextends = "cis"\n', "good.toml")
    assert main(["baseline", "validate", str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    assert f"{bad}: disable[0]: EC2.19 is not an inherited control" in captured.err
    assert f"{good}: ok (3 controls)" in captured.out


def test_schema_is_the_file_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"name", "extends", "disable", "controls", "exemptions"} <= set(schema["properties"])
    assert schema["properties"]["controls"]["items"]["required"] == ["id"]
    assert "expires" in schema["$defs"]["Exemption"]["required"]


# --- exemptions as data ------------------------------------------------------------------------------

EXEMPTION = """
name = "x"
extends = "aws-foundational"

[[exemptions]]
id = "{id}"
controls = {controls}
scope = {scope}
reason = "{reason}"
{expires}
"""


def exemption_text(
    id: str = "PARTNER-SFTP",
    controls: str = '["EC2.13", "EC2.19"]',
    scope: str = '{ groups = ["sg-0123456789abcdef0"] }',
    reason: str = "SFTP for a partner; ticket SEC-123",
    expires: str = "expires = 2026-12-31",
) -> str:
    return EXEMPTION.format(id=id, controls=controls, scope=scope, reason=reason, expires=expires)


def test_an_exemption_loads(tmp_path: Path) -> None:
    [exemption] = load_text(tmp_path, exemption_text()).exemptions
    assert exemption.controls == ["EC2.13", "EC2.19"]
    assert str(exemption.expires) == "2026-12-31"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"expires": ""}, "exemptions[0](PARTNER-SFTP).expires: required, but missing"),
        ({"expires": "expires = 2026-12-31T10:00:00"}, "exemptions[0](PARTNER-SFTP).expires: "),
        ({"reason": ""}, "exemptions[0](PARTNER-SFTP).reason: String should have at least 1 character"),
        ({"scope": "{}"}, "exemptions[0](PARTNER-SFTP).scope: give at least one of groups, vpcs"),
        ({"scope": '{ vpcs = ["subnet-0123456789abcdef0"] }'}, "exemptions[0](PARTNER-SFTP).scope.vpcs[0]"),
        ({"scope": '{ accounts = ["1234"] }'}, "exemptions[0](PARTNER-SFTP).scope.accounts[0]"),
        (
            {"scope": '{ principals = ["DeveloperAccess"] }'},
            "exemptions[0](PARTNER-SFTP).scope.principals[0]",
        ),
        (
            {"scope": "{ groups = [] }"},
            "exemptions[0](PARTNER-SFTP).scope.groups: List should have at least 1",
        ),
        (
            {"scope": '{ tags = ["sgguard:exempt"] }'},
            "exemptions[0](PARTNER-SFTP).scope.tags: unknown field (known: accounts, groups,",
        ),
        ({"controls": '["EC2.99"]'}, "exemptions[0](PARTNER-SFTP).controls[0]: EC2.99 is not a control"),
        ({"controls": "[]"}, "exemptions[0](PARTNER-SFTP).controls: List should have at least 1"),
    ],
)
def test_invalid_exemptions_name_the_field(tmp_path: Path, kwargs: dict[str, str], expected: str) -> None:
    errors = errors_of(tmp_path, exemption_text(**kwargs))
    assert any(e.startswith(expected) for e in errors), errors


def test_an_exemption_cannot_name_a_disabled_control(tmp_path: Path) -> None:
    text = exemption_text().replace(
        'extends = "aws-foundational"', 'extends = "aws-foundational"\ndisable = ["EC2.19"]'
    )
    assert errors_of(tmp_path, text) == [
        "exemptions[0](PARTNER-SFTP).controls[1]: EC2.19 is not a control of this baseline"
    ]


def test_parse_without_a_file_still_works() -> None:
    baseline = parse_baseline('name = "inline"\nextends = "cis"\n', "inline")
    assert [c.id for c in baseline.controls] == ["CIS.5.3", "CIS.5.4", "CIS.5.5"]
