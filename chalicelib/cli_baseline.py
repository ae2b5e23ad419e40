"""`sgguard baseline ...`: inspect and check baselines before they ship.

``validate`` is what a reviewer and a CI job run on a baseline change: every error of every file in
one run (no fix-and-rerun loop), and warnings for exemptions that have expired (they no longer lift
anything, so the rule they covered is revoked again) or expire within :data:`EXPIRY_WARNING_DAYS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from chalicelib.baseline import (
    DEFAULT_PRESET,
    Baseline,
    BaselineError,
    file_schema,
    load_baseline,
    not_utf8,
    parse_baseline,
    preset_names,
)
from chalicelib.exemptions import Exemption
from chalicelib.terminal import printable, printable_lines

STDIN = "-"
EXPIRY_WARNING_DAYS = 14

VALIDATE_EPILOG = """\
examples:
  sgguard baseline validate examples/acme-baseline.toml      every error, file by file
  sgguard baseline validate --strict --format json a.toml    for CI: warnings fail too, JSON out
  git show HEAD:baseline.toml | sgguard baseline validate -  standard input

exit status: 0 every file is valid (warnings on stderr); 1 a file is invalid, or has warnings
with --strict; 2 a usage error.
"""
SHOW_EPILOG = """\
examples:
  sgguard baseline show                                     the default preset (aws-foundational)
  sgguard baseline show --preset strict
  sgguard baseline show examples/acme-baseline.toml --format json
"""
SCHEMA_EPILOG = """\
example:
  sgguard baseline schema > baseline.schema.json            for editors (e.g. Even Better TOML)
"""
GROUP_EPILOG = """\
examples:
  sgguard baseline validate examples/acme-baseline.toml
  sgguard baseline show --preset cis
  sgguard baseline schema > baseline.schema.json
"""


def register(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    group = commands.add_parser(
        "baseline", help="validate, show and describe baselines", epilog=GROUP_EPILOG, formatter_class=raw
    )
    sub = group.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)

    validate = sub.add_parser(
        "validate",
        help="check baseline files; exit 1 listing every error",
        description="Check baseline files (or - for standard input): every error of every file, and "
        f"warnings for exemptions expired or expiring within {EXPIRY_WARNING_DAYS} days.",
        epilog=VALIDATE_EPILOG,
        formatter_class=raw,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="a baseline file, or - for standard input")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument("--strict", action="store_true", help="warnings fail the check too (exit 1)")
    validate.set_defaults(run=_validate)

    show = sub.add_parser(
        "show",
        help="the effective controls of a preset or a file",
        description="The effective controls (after extends, disable and overrides) and exemptions.",
        epilog=SHOW_EPILOG,
        formatter_class=raw,
    )
    source = show.add_mutually_exclusive_group()
    source.add_argument(
        "--preset", choices=preset_names(), help=f"a bundled preset (default {DEFAULT_PRESET})"
    )
    source.add_argument("file", nargs="?", metavar="FILE", help="a baseline file, or - for standard input")
    show.add_argument(
        "--format", choices=("text", "json", "table"), default="text", help="text (default) or json"
    )
    show.set_defaults(run=_show)

    schema = sub.add_parser(
        "schema",
        help="JSON Schema of the baseline file, for editors",
        epilog=SCHEMA_EPILOG,
        formatter_class=raw,
    )
    schema.set_defaults(run=_schema)


def _today() -> date:
    return datetime.now(UTC).date()


def _load(path: str) -> Baseline:
    """A file, a preset name, or ``-``: standard input (``extends`` is then relative to here)."""
    if path != STDIN:
        return load_baseline(path)
    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BaselineError("<stdin>", [not_utf8(error)]) from None
    return parse_baseline(text, "<stdin>", Path.cwd())


def expiry_warnings(baseline: Baseline, today: date) -> list[str]:
    """Exemptions that no longer lift anything, or soon will not."""
    warnings = []
    for e in baseline.exemptions:
        days = (e.expires - today).days
        if days < 0:
            warnings.append(
                f"exemption {e.id}: expired on {e.expires}; it no longer lifts "
                f"{', '.join(e.controls)}: renew it or remove it"
            )
        elif days <= EXPIRY_WARNING_DAYS:
            when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
            warnings.append(f"exemption {e.id}: expires on {e.expires} ({when})")
    return warnings


def _validate(args: argparse.Namespace) -> int:
    today = _today()
    reports: list[dict[str, Any]] = []
    for path in args.files:
        name = "<stdin>" if path == STDIN else path
        try:
            baseline = _load(path)
        except BaselineError as error:
            reports.append({"file": name, "valid": False, "errors": error.errors, "warnings": []})
            continue
        reports.append(
            {
                "file": name,
                "valid": True,
                "controls": len(baseline.controls),
                "exemptions": len(baseline.exemptions),
                "errors": [],
                "warnings": expiry_warnings(baseline, today),
            }
        )
    failed = any(not r["valid"] or (args.strict and r["warnings"]) for r in reports)
    if args.format == "json":
        print(json.dumps({"valid": not failed, "strict": args.strict, "files": reports}, indent=2))
        return 1 if failed else 0
    for r in reports:
        for message in r["errors"]:
            print(printable(f"{r['file']}: {message}"), file=sys.stderr)
        for message in r["warnings"]:
            print(printable(f"{r['file']}: warning: {message}"), file=sys.stderr)
        if r["valid"]:
            exemptions = f", {r['exemptions']} exemption{'s' if r['exemptions'] != 1 else ''}"
            counted = f"{r['controls']} controls{exemptions if r['exemptions'] else ''}"
            verdict = "fails (--strict: warnings count)" if args.strict and r["warnings"] else "ok"
            print(printable(f"{r['file']}: {verdict} ({counted})"))
    return 1 if failed else 0


def _show(args: argparse.Namespace) -> int:
    if args.format == "table":
        print("sgguard: --format table is now --format text (table will be removed)", file=sys.stderr)
    try:
        baseline = _load(args.file or args.preset or DEFAULT_PRESET)
    except BaselineError as error:
        for message in error.errors:
            print(printable(f"{error.source}: {message}"), file=sys.stderr)
        return 1
    today = _today()
    if args.format == "json":
        document = baseline.model_dump(mode="json")
        for shown, exemption in zip(document["exemptions"], baseline.exemptions, strict=True):
            shown["expired"] = exemption.expired(today)
        print(json.dumps(document, indent=2))
    else:
        print(printable_lines(_table(baseline, today)))
    return 0


def _table(baseline: Baseline, today: date) -> str:
    rows = [("ID", "SEVERITY", "ACTION", "DIRECTION", "PROTOCOLS", "PORTS", "SOURCES", "GROUP")]
    for c in baseline.controls:
        if c.allowed_ports is not None:
            ports = "all but " + "; ".join(
                f"{p} {','.join(_range(r) for r in rs) or 'none'}" for p, rs in c.allowed_ports.items()
            )
        else:
            ports = ",".join(_range(r) for r in c.ports) if c.ports is not None else "all"
        rows.append(
            (
                c.id,
                c.severity,
                c.action,
                "+".join(c.directions),
                ",".join(c.protocols),
                ports,
                ",".join(c.sources),
                c.group_name or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    heading = f"{baseline.name}: {baseline.description or ''}"
    if baseline.extends:
        heading += f"\n(extends {baseline.extends}; effective controls after inheritance)"
    text = heading + "\n" + "\n".join(lines)
    if baseline.exemptions:
        text += "\n\nexemptions:"
        for e in baseline.exemptions:
            scope = "; ".join(f"{k} {','.join(v)}" for k, v in e.scope.model_dump(exclude_none=True).items())
            text += (
                f"\n  {e.id}: lifts {','.join(e.controls)} for {scope} until {e.expires}{_status(e, today)}"
            )
            text += f": {e.reason}"
    return text


def _status(exemption: Exemption, today: date) -> str:
    days = (exemption.expires - today).days
    if days < 0:
        return " (EXPIRED: no longer applies)"
    if days <= EXPIRY_WARNING_DAYS:
        return f" (expires in {days} day{'s' if days != 1 else ''})"
    return ""


def _range(port_range: tuple[int, int]) -> str:
    low, high = port_range
    return str(low) if low == high else f"{low}-{high}"


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(file_schema(), indent=2))
    return 0
