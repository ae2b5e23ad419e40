"""`sgguard audit`: what is open right now, from a laptop with your own credentials or from saved output.

Live (``--region``, ``--all-regions``): the scheduled sweep's engine, run region by region with the
caller's credentials; strictly read-only unless ``--fix`` is given. ``--from FILE...``: saved describe
output judged with no AWS access at all (for auditors who are handed exports); ``--fix`` and regions
make no sense there and are usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from chalicelib.baseline import DEFAULT_PRESET, Baseline, BaselineError, load_baseline
from chalicelib.rules import Rule
from chalicelib.sweep.render import FORMATS, as_json, as_jsonl, as_text
from chalicelib.sweep.report import SweepReport

OK, VIOLATIONS, USAGE, INTERRUPTED = 0, 1, 2, 130

EXAMPLES = """\
examples:
  sgguard audit --region eu-west-1                      what breaks the baseline now (read-only)
  sgguard audit --all-regions --format html --output audit.html
  sgguard audit --region eu-west-1 --baseline strict --fix   revoke what breaks it (prints restore commands)
  aws ec2 describe-security-group-rules > rules.json
  aws ec2 describe-security-groups > groups.json
  sgguard audit --from rules.json groups.json           the same findings, no AWS access at all

exit status:
  0  nothing violates the baseline (and everything could be judged)
  1  violating rules found, or rules that could not be judged
  2  usage error, unreadable baseline or input, or AWS could not be read
  130 interrupted (Ctrl-C)
"""


def register(commands: Any) -> None:
    audit = commands.add_parser(
        "audit",
        help="judge every rule of a region (or of saved describe output) against the baseline",
        description="Judge every security-group rule of the given regions, or of saved output of "
        "`aws ec2 describe-security-group-rules` / `describe-security-groups` / "
        "`describe-network-interfaces` / `describe-managed-prefix-lists` (plain or gzip), against the "
        "baseline. Read-only unless --fix.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument(
        "--region", action="append", metavar="REGION", help="a region to audit (repeatable; default: yours)"
    )
    audit.add_argument("--all-regions", action="store_true", help="every region enabled in the account")
    audit.add_argument(
        "--from",
        dest="dumps",
        nargs="+",
        metavar="FILE",
        help="saved describe output (files, directories or - for standard input); asks AWS nothing",
    )
    audit.add_argument(
        "--baseline", default=DEFAULT_PRESET, metavar="PRESET|FILE", help=f"default {DEFAULT_PRESET}"
    )
    audit.add_argument(
        "--fix",
        action="store_true",
        help="revoke the violating rules, with your credentials (default: read-only)",
    )
    audit.add_argument("--format", choices=FORMATS, default="text", help="default text")
    audit.add_argument("--output", metavar="FILE", help="write the report there instead of standard output")
    audit.set_defaults(run=run, parser=audit)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.dumps is not None:
        if args.fix:
            parser.error("--fix revokes rules in AWS: it cannot be used with --from (saved output)")
        if args.region or args.all_regions:
            parser.error("--from judges saved output: the region comes from the files, not --region")
    elif args.region and args.all_regions:
        parser.error("give --region or --all-regions, not both")
    try:
        baseline = load_baseline(args.baseline)
    except BaselineError as error:
        for message in error.errors:
            print(f"sgguard: {error.source}: {message}", file=sys.stderr)
        return USAGE
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        if args.dumps is not None:
            reports, problems = _audit_dumps(args.dumps, baseline, progress)
        else:
            reports, problems = _audit_live(args, baseline, progress)
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        done = " (rules already revoked stay revoked)" if args.fix else ""
        print(f"sgguard: interrupted{done}", file=sys.stderr)
        return INTERRUPTED
    if progress is not None:
        progress.clear()
    for problem in problems:
        print(f"sgguard: {problem}", file=sys.stderr)
    try:
        _write(reports, args.format, args.output)
    except OSError as error:
        print(f"sgguard: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return USAGE
    return exit_status(reports, problems)


def exit_status(reports: Sequence[SweepReport], problems: Sequence[object]) -> int:
    if problems or any(r.errors or not r.complete for r in reports):
        return USAGE
    if any(r.totals.violating or r.totals.not_judged or r.not_judged for r in reports):
        return VIOLATIONS
    return OK


def _write(reports: Sequence[SweepReport], fmt: str, output: str | None) -> None:
    if fmt == "html":
        from chalicelib.sweep.html import render_html

        text = render_html(reports)
    else:
        text = {"text": as_text, "json": as_json, "jsonl": as_jsonl}[fmt](reports)
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(output))
    handle, temporary = tempfile.mkstemp(prefix=".sgguard-", dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, output)  # a reader never sees half a report
    except BaseException:
        os.unlink(temporary)
        raise


# --- saved output ---------------------------------------------------------------------------------


def _audit_dumps(
    paths: Sequence[str], baseline: Baseline, progress: Progress | None
) -> tuple[list[SweepReport], list[str]]:
    from chalicelib.sweep.dump import Dump
    from chalicelib.sweep.engine import sweep_dump

    with Dump(paths) as dump:
        dump.context()
        rules: Iterator[Rule] = dump.rules()
        if progress is not None:
            rules = progress.counting(rules, "rules judged")
        report = sweep_dump(
            rules,
            dump.groups.values(),
            baseline,
            datetime.now(UTC),
            account=dump.account,
            region=dump.region,
            prefix_lists=dump.prefix_lists,
            interfaces=dump.interfaces if dump.interfaces else None,
        )
        problems = [str(p) for p in [*dump.problems, *dump.missing_pages()]]
        if not dump.rules_read and not problems:
            problems.append(
                "--from: no security-group rules in the files given (expected the output of "
                "aws ec2 describe-security-group-rules)"
            )
    return [report], problems


# --- live -----------------------------------------------------------------------------------------


def _audit_live(
    args: argparse.Namespace, baseline: Baseline, progress: Progress | None
) -> tuple[list[SweepReport], list[str]]:
    from chalicelib.sweep import caller

    problems: list[str] = []
    try:
        regions = args.region or ([] if args.all_regions else [caller.region()])
        account = caller.account(regions[0] if regions else caller.any_region())
        if args.all_regions:
            regions = caller.enabled_regions()
    except caller.NotAsked as error:
        return [], [str(error)]
    reports = []
    for region in regions:
        if progress is not None:
            progress.show(f"{region}: sweeping")
        reports.append(_sweep_live(region, account, baseline, "enforce" if args.fix else "report"))
    return reports, problems


def _sweep_live(region: str, account: str | None, baseline: Baseline, mode: Any) -> SweepReport:
    from chalicelib.sweep.aws import LiveSweepAws
    from chalicelib.sweep.shell import sweep_region

    return sweep_region(LiveSweepAws(region), baseline, account=account, region=region, mode=mode).report


# --- progress -------------------------------------------------------------------------------------


class Progress:
    """One line on a terminal's standard error, redrawn at most five times a second."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._drawn = 0.0

    def show(self, line: str) -> None:
        self._stream.write("\r\033[K" + line[:150])
        self._stream.flush()

    def counting(self, items: Iterator[Rule], what: str) -> Iterator[Rule]:
        started = self._clock()
        for n, item in enumerate(items, 1):
            if not n & 1023 and self._clock() - self._drawn >= 0.2:
                self._drawn = self._clock()
                rate = n / max(self._drawn - started, 1e-9)
                self.show(f"{n:,} {what} ({rate:,.0f}/s)")
            yield item

    def clear(self) -> None:
        self._stream.write("\r\033[K")
        self._stream.flush()
