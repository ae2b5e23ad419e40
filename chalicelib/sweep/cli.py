"""`sgguard audit`: what is open right now, from a laptop with your own credentials or from saved output.

Live (``--region``, ``--all-regions``): the scheduled sweep's engine, run region by region with the
caller's credentials; strictly read-only unless ``--fix`` is given. ``--from FILE...``: saved describe
output judged with no AWS access at all (for auditors who are handed exports); ``--fix`` and regions
make no sense there and are usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from chalicelib.baseline import DEFAULT_PRESET, Baseline, BaselineError, load_baseline
from chalicelib.replay import tune_garbage_collector
from chalicelib.rules import Rule
from chalicelib.sweep.render import FORMATS, as_json, as_text
from chalicelib.sweep.report import SweepFinding, SweepMode, SweepReport

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
    audit.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="with --from, judge big rules files on N processes (default: one per usable CPU; 1: one)",
    )
    audit.set_defaults(run=run, parser=audit)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


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
    try:
        out = Output(args.output)
    except OSError as error:
        print(f"sgguard: cannot write {args.output}: {error.strerror or error}", file=sys.stderr)
        return USAGE
    tune_garbage_collector()  # millions of short-lived acyclic objects: a third of the CPU otherwise
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    sink = Sink(out.stream, args.format)
    try:
        if args.dumps is not None:
            reports, problems = _audit_dumps(args, baseline, progress, sink)
        else:
            reports, problems = _audit_live(args, baseline, progress, sink)
        if progress is not None:
            progress.clear()
        for problem in problems:
            print(f"sgguard: {problem}", file=sys.stderr)
        sink.finish(reports)
        out.commit()
    except KeyboardInterrupt:
        out.discard()
        if progress is not None:
            progress.clear()
        done = " (rules already revoked stay revoked)" if args.fix else ""
        print(f"sgguard: interrupted{done}", file=sys.stderr)
        return INTERRUPTED
    except OSError as error:
        out.discard()
        print(
            f"sgguard: cannot write {args.output or 'the output'}: {error.strerror or error}", file=sys.stderr
        )
        return USAGE
    return exit_status(reports, problems)


def exit_status(reports: Sequence[SweepReport], problems: Sequence[object]) -> int:
    if problems or any(r.errors or not r.complete for r in reports):
        return USAGE
    if any(r.totals.violating or r.totals.not_judged or r.not_judged for r in reports):
        return VIOLATIONS
    return OK


class Output:
    """Where the report goes: standard output, or FILE. A regular file is written beside it and renamed
    into place at the end, so that a reader never sees half a report and an interrupted audit leaves
    the old one; anything else (a terminal, a pipe, /dev/null) is written to directly."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._temporary: str | None = None
        if path is None or path == "-":
            self.stream: TextIO = sys.stdout
            return
        if os.path.exists(path) and not os.path.isfile(path):
            self.stream = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by commit/discard)
            return
        handle, self._temporary = tempfile.mkstemp(
            prefix=".sgguard-", dir=os.path.dirname(os.path.abspath(path))
        )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._temporary, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        self.stream = os.fdopen(handle, "w", encoding="utf-8")

    def commit(self) -> None:
        self.stream.flush()
        if self.stream is sys.stdout:
            return
        self.stream.close()
        if self._temporary is not None and self._path is not None:
            os.replace(self._temporary, self._path)
            self._temporary = None

    def discard(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()
        if self._temporary is not None:
            os.unlink(self._temporary)
            self._temporary = None


class Sink:
    """Writes the chosen format. ``jsonl`` streams: each violating rule is a line as soon as it is
    judged (``"type": "finding"``), then one ``"type": "report"`` line per region whose groups list
    no findings, so memory stays flat whatever the size of the dump. The other formats are one whole
    document, written at the end."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self.stream = stream
        self.format = fmt

    @property
    def streams(self) -> bool:
        return self.format == "jsonl"

    def finding_writer(
        self, account: str | None, region: str | None
    ) -> Callable[[SweepFinding], None] | None:
        if not self.streams:
            return None
        head = json.dumps({"type": "finding", "account": account, "region": region})[:-1]

        def write(finding: SweepFinding) -> None:
            self.stream.write(head + ", " + finding.model_dump_json()[1:] + "\n")

        return write

    def finish(self, reports: Sequence[SweepReport]) -> None:
        if self.format == "jsonl":
            for report in reports:
                self.stream.write('{"type": "report", ' + report.model_dump_json()[1:] + "\n")
        elif self.format == "html":
            from chalicelib.sweep.html import render_html

            self.stream.write(render_html(reports))
        else:
            self.stream.write(as_json(reports) if self.format == "json" else as_text(reports))


# --- saved output ---------------------------------------------------------------------------------


def _audit_dumps(
    args: argparse.Namespace, baseline: Baseline, progress: Progress | None, sink: Sink
) -> tuple[list[SweepReport], list[str]]:
    """Saved output: big plain rules files judged in pieces on worker processes (chalicelib/sweep/
    pieces.py), the rest here; files are folded into the report in the order given, so the report
    and the jsonl lines are those of one process."""
    from chalicelib import parallel
    from chalicelib.sweep import pieces
    from chalicelib.sweep.dump import Dump
    from chalicelib.sweep.engine import DumpSweep

    jobs = args.jobs or parallel.usable_cpus()
    with Dump(args.dumps) as dump:
        dump.context()
        part = DumpSweep.start(
            dump.groups.values(),
            baseline,
            datetime.now(UTC),
            account=dump.account,
            region=dump.region,
            prefix_lists=dump.prefix_lists,
            on_finding=sink.finding_writer(dump.account, dump.region),
            keep_findings=not sink.streams,
        )
        part.builder.count_groups(len(part.groups))
        files = dump.rules_files()
        planned = {path: p for _, path in files if (p := pieces.plan(path, jobs))}
        workers = None
        if planned:
            context = pieces.Context(
                args.baseline,
                pieces.compact(part.groups),
                dump.prefix_lists,
                dump.account,
                dump.region,
                part.builder.started_at,
                sink.streams,
            )
            workers = pieces.Workers(context, jobs, [p for ps in planned.values() for p in ps])
        try:
            for name, path in files:
                done = workers.results(planned[path]) if workers is not None and path in planned else None
                if done is None:
                    rules: Iterator[Rule] = dump.rules(only=path)
                    if progress is not None:
                        rules = progress.counting(rules, f"rules judged ({name})")
                    part.judge(rules)
                    continue
                offset = 0
                for judged in done:
                    assert judged.builder is not None
                    part.builder.merge(judged.builder)
                    sink.stream.writelines(judged.lines)
                    dump.judged_elsewhere(
                        name, path, judged.rules, ((offset + i, m) for i, m in judged.problems)
                    )
                    offset += judged.elements
        finally:
            if workers is not None:
                workers.close()
        report = part.finish(dump.interfaces if dump.interfaces else None)
        problems = [str(p) for p in [*dump.problems, *dump.missing_pages()]]
        if not dump.rules_read and not problems:
            problems.append(
                "--from: no security-group rules in the files given (expected the output of "
                "aws ec2 describe-security-group-rules)"
            )
    return [report], problems


# --- live -----------------------------------------------------------------------------------------


def _audit_live(
    args: argparse.Namespace, baseline: Baseline, progress: Progress | None, sink: Sink
) -> tuple[list[SweepReport], list[str]]:
    from chalicelib.adapters import caller

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
        reports.append(_sweep_live(region, account, baseline, "enforce" if args.fix else "report", sink))
    return reports, problems


def _sweep_live(
    region: str, account: str | None, baseline: Baseline, mode: SweepMode, sink: Sink
) -> SweepReport:
    from chalicelib.sweep.aws import LiveSweepAws
    from chalicelib.sweep.shell import sweep_region

    run = sweep_region(
        LiveSweepAws(region),
        baseline,
        account=account,
        region=region,
        mode=mode,
        on_finding=sink.finding_writer(account, region),
        keep_findings=not sink.streams,
    )
    return run.report


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
