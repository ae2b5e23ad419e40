"""`sgguard baseline ...`: inspect and check baselines before they ship."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chalicelib.baseline import (
    DEFAULT_PRESET,
    Baseline,
    BaselineError,
    file_schema,
    load_baseline,
    preset_names,
)


def register(commands: Any) -> None:
    group = commands.add_parser("baseline", help="validate, show and describe baselines")
    sub = group.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)

    validate = sub.add_parser("validate", help="check baseline files; exit 1 listing every error")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=_validate)

    show = sub.add_parser("show", help="the effective controls of a preset or a file")
    source = show.add_mutually_exclusive_group()
    source.add_argument(
        "--preset", choices=preset_names(), help=f"a bundled preset (default {DEFAULT_PRESET})"
    )
    source.add_argument("file", nargs="?", metavar="FILE", help="a baseline file")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(run=_show)

    schema = sub.add_parser("schema", help="JSON Schema of the baseline file, for editors")
    schema.set_defaults(run=_schema)


def _validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            baseline = load_baseline(path)
        except BaselineError as error:
            failed = True
            for message in error.errors:
                print(f"{error.source}: {message}", file=sys.stderr)
            continue
        print(f"{path}: ok ({len(baseline.controls)} controls)")
    return 1 if failed else 0


def _show(args: argparse.Namespace) -> int:
    try:
        baseline = load_baseline(args.file or args.preset or DEFAULT_PRESET)
    except BaselineError as error:
        for message in error.errors:
            print(f"{error.source}: {message}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(baseline.model_dump(mode="json"), indent=2))
    else:
        print(_table(baseline))
    return 0


def _table(baseline: Baseline) -> str:
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
            text += f"\n  {e.id}: lifts {','.join(e.controls)} for {scope} until {e.expires}: {e.reason}"
    return text


def _range(port_range: tuple[int, int]) -> str:
    low, high = port_range
    return str(low) if low == high else f"{low}-{high}"


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(file_schema(), indent=2))
    return 0
