"""`sgguard replay`: judge recorded events (files, directories, stdin, S3) the way the Lambda would.

Safe by default: dry-run, nothing published. ``--offline`` asks AWS nothing at all (what needs AWS
lands in ``not_judged``); without it, reads use the operator's own credentials, checked once before
any event is read. Revoking needs ``--mode enforce``; telling the security team needs ``--notify
TOPIC_ARN``, because a replay of last month's trail must not page anyone unless asked to.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from typing import Any, TextIO

from chalicelib import parallel, sources
from chalicelib.baseline import DEFAULT_PRESET, Baseline, BaselineError, load_baseline
from chalicelib.decision import MODES, Decision
from chalicelib.notify import ACTION_WORDS, rule_words
from chalicelib.pipeline import AwsPort, OfflineAws
from chalicelib.replay import Tally, judge, tune_garbage_collector
from chalicelib.settings import is_topic_arn
from chalicelib.terminal import printable, printable_lines

USAGE = 2
INCOMPLETE = 3
"""A message could not be published after its decision was made (and its rules perhaps revoked)."""
INTERRUPTED = 130
FORMATS = ("text", "jsonl")

EPILOG = """\
examples:
  sgguard replay --offline tests/fixtures/cloudtrail/        judge recorded events; ask AWS nothing
  sgguard replay --offline --baseline my.toml ./trail/       a baseline change against real activity
  zcat old.json.gz | sgguard replay --offline -              standard input
  sgguard replay s3://my-trail/AWSLogs/ --format jsonl       read S3 and AWS with your credentials
  sgguard replay --mode enforce --notify TOPIC_ARN e.json    revoke and tell the team, as the Lambda does

options that do not go together (exit 2): --offline with --mode enforce or --notify (both need
AWS); --jobs without --offline (a live replay asks AWS event by event, in order).

exit status: 0 every input read (a run that read no event warns on stderr); 1 an input or a
record could not be read, or an event is invalid (the rest is still judged); 2 a usage error, a
baseline that does not load, no usable AWS credentials for a live replay, or a --notify topic
that does not exist or cannot be used (checked before any event is judged: nothing is revoked);
3 incomplete: a message could not be published (each decision is on standard output before its
message is sent; standard error names the topic and the event); 130 interrupted.
"""


def register(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="judge recorded CloudTrail events (dry-run by default)",
        description="Judge EventBridge events, CloudTrail records and trail log files (plain or .gz) "
        "from files, directories (recursively), standard input (-) or s3://bucket/prefix.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--mode", choices=MODES, default="dry-run", help="enforce revokes (default dry-run)")
    replay.add_argument("--offline", action="store_true", help="ask AWS nothing (dry-run only)")
    replay.add_argument(
        "--baseline", default=DEFAULT_PRESET, metavar="PRESET|FILE", help=f"default {DEFAULT_PRESET}"
    )
    replay.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: a table and a summary (default); jsonl: one decision document per line",
    )
    replay.add_argument(
        "--notify", metavar="TOPIC_ARN", help="publish each violation to this SNS topic (off by default)"
    )
    replay.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="with --offline, judge big local inputs on N processes (default: one per usable CPU; 1: one)",
    )
    replay.set_defaults(run=_replay, parser=replay)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.offline and args.mode == "enforce":
        return "--mode enforce needs AWS: it cannot be --offline"
    if args.offline and args.notify:
        return "--notify needs AWS: it cannot be --offline"
    if args.jobs is not None and not args.offline:
        return "--jobs works with --offline only: a live replay asks AWS event by event, in order"
    if args.notify and not is_topic_arn(args.notify):
        return f"--notify: {args.notify!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
    return None


def _replay(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    problem = _usage_problem(args)
    if problem is not None:
        parser.error(problem)
    try:
        baseline = load_baseline(args.baseline)
    except BaselineError as error:
        for message in error.errors:
            print(printable(f"sgguard: {error.source}: {message}"), file=sys.stderr)
        return USAGE
    if not args.offline:
        from chalicelib.adapters import sts

        try:
            sts.operator_arn()
        except sts.NoFooting as error:
            print(
                f"sgguard: a replay without --offline reads AWS with your credentials: {error}; "
                "use --offline to judge without AWS",
                file=sys.stderr,
            )
            return USAGE
        if args.notify:
            from chalicelib.adapters.topics import topic_problem

            topic = topic_problem(args.notify)
            if topic is not None:
                print(
                    printable(f"sgguard: --notify {args.notify}: cannot publish there ({topic}); ")
                    + "nothing was judged or revoked",
                    file=sys.stderr,
                )
                return USAGE
    tune_garbage_collector()
    run = _Run(args, baseline)
    try:
        run.go()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the summary short
        return run.interrupted()
    return run.finish()


class _Run:
    """One replay: where its output goes, what it has counted, which inputs held nothing."""

    def __init__(self, args: argparse.Namespace, baseline: Baseline) -> None:
        self.args = args
        self.baseline = baseline
        self.out = _Table(sys.stdout) if args.format == "text" else _Jsonl(sys.stdout)
        self.progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
        self.tally = Tally()
        self.empty: list[sources.Nothing] = []
        self.unsent = 0
        """Messages that could not be published: the run is incomplete (exit 3)."""

    def go(self) -> None:
        args = self.args
        jobs = args.jobs or parallel.usable_cpus()
        pieces = parallel.plan(args.paths, jobs) if args.offline else None
        if pieces is None:
            self._here(OfflineAws() if args.offline else None)
            return
        parallel.set_context(self.baseline, args.mode, self.out.render)  # for a piece read on here
        for name, first_event, done in parallel.results(
            pieces, jobs, args.baseline, args.mode, self.out.render
        ):
            for part in done.output:
                if isinstance(part, str):
                    self.out.stream.write(part)
                elif isinstance(part, sources.Nothing):
                    self._nothing(part)
                else:
                    where = sources.Event(
                        name, None if part.index is None else first_event + part.index, None
                    )
                    self._warn(f"sgguard: {where.where}: {part.text}")
            self.tally.merge(done.tally)
            if self.progress is not None:
                self.progress.tick(self.tally, name)

    def _here(self, aws: AwsPort | None) -> None:
        connect = None
        if self.args.mode == "enforce" and aws is None:
            from chalicelib.adapters.revoke import LiveAws

            connect = LiveAws
        for item in sources.events(self.args.paths):
            if isinstance(item, sources.Nothing):
                self._nothing(item)
                continue
            if isinstance(item, sources.Unreadable):
                self.tally.unreadable += 1
                self._warn(f"sgguard: {item.where}: {item.message}")
                continue
            result = judge(item.raw, self.baseline, self.args.mode, aws, connect=connect)
            self.tally.add(result)
            if self.progress is not None:
                self.progress.tick(self.tally, item.source)
            if isinstance(result, str):
                continue
            if result.outcome == "invalid":
                self._warn(f"sgguard: {item.where}: invalid: {result.reason}")
            self.out.write(result)  # what was decided (and revoked) is on record before the message
            if result.needs_message and self.args.notify:
                self.out.stream.flush()
                self._notify(item, result)

    def _notify(self, item: sources.Event, decision: Decision) -> None:
        from chalicelib.handler import tell

        try:
            tell(decision, self.args.notify)
        except Exception as error:  # reported, and the run goes on: the next event may need revoking
            self.unsent += 1
            topic = self.args.notify
            self._warn(f"sgguard: {item.where}: event {decision.event_id}: not published to {topic}: {error}")

    def _nothing(self, item: sources.Nothing) -> None:
        self.empty.append(item)
        self._warn(f"sgguard: {item.where}: {item.message}")

    def _warn(self, message: str) -> None:
        if self.progress is not None:
            self.progress.clear()
        print(printable(message), file=sys.stderr)

    def finish(self) -> int:
        if self.progress is not None:
            self.progress.clear()
        self.out.close(self.tally)
        if self.tally.read == 0:
            held = ", ".join(printable(n.where) for n in self.empty)
            unreadable = f"{self.tally.unreadable} could not be read" if self.tally.unreadable else ""
            why = "; ".join(part for part in (f"nothing in {held}" if held else "", unreadable) if part)
            print(f"sgguard: warning: no events were read ({why or 'no input'})", file=sys.stderr)
        if self.unsent:
            print(
                printable(
                    f"sgguard: incomplete: {self.unsent} message(s) not published to {self.args.notify}"
                ),
                file=sys.stderr,
            )
            return INCOMPLETE
        return 1 if self.tally.invalid else 0

    def interrupted(self) -> int:
        if self.progress is not None:
            self.progress.clear()
        sys.stderr.write(
            f"\nsgguard: interrupted after {self.tally.read:,} events; the summary covers only those\n"
        )
        if isinstance(self.out, _Table):
            self.out.close(self.tally)
        else:
            self.out.stream.flush()
            sys.stderr.write(self.tally.text() + "\n")
        return INTERRUPTED


class _Jsonl:
    """One decision document per line, exactly as the handler returns it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, decision: Decision) -> None:
        self.stream.write(self.render(decision))

    @staticmethod
    def render(decision: Decision) -> str:
        return decision.model_dump_json() + "\n"

    def close(self, tally: Tally) -> None:
        self.stream.flush()


class _Table:
    """Fixed columns, so rows print as they are decided instead of after the last one. Every value
    is made printable: ids and reasons come from the events, which anyone may have written."""

    _ROW = "{:<20}  {:<29}  {:<21}  {:<9}  {}"

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stream.write(self._ROW.format("TIME", "EVENT", "GROUP", "OUTCOME", "WHAT") + "\n")

    def write(self, decision: Decision) -> None:
        self.stream.write(self.render(decision))

    @classmethod
    def render(cls, d: Decision) -> str:
        summary = d.reason if d.outcome != "violation" else f"{len(d.findings)} rule(s) break {d.baseline}"
        lines = [
            cls._ROW.format(d.event_time or "?", d.event_name or "?", d.group_id or "-", d.outcome, summary)
        ]
        for f in d.findings:
            controls = ", ".join(f.controls)
            lines.append(
                f"    {f.rule_id or '(no id)'}  {rule_words(f)}  {controls}  [{ACTION_WORDS[f.action]}]"
            )
        notes = Counter(n.reason for n in d.not_judged)
        lines.extend(f"    not judged{f' (x{n})' if n > 1 else ''}: {reason}" for reason, n in notes.items())
        return "\n".join(printable(line) for line in lines) + "\n"

    def close(self, tally: Tally) -> None:
        self.stream.write("\n" + printable_lines(tally.text()) + "\n")
        self.stream.flush()


class _Progress:
    """One line on a terminal's standard error, redrawn at most five times a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._started = self._drawn = time.monotonic()

    def tick(self, tally: Tally, source: str) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.2:
            return
        self._drawn = now
        rate = tally.read / max(now - self._started, 1e-9)
        line = (
            f"{tally.read:,} events ({rate:,.0f}/s), {tally.skipped.total():,} skipped, "
            f"{tally.outcomes['violation']:,} violations, {tally.invalid:,} invalid  {source}"
        )
        self._stream.write("\r\033[K" + printable(line[:150]))
        self._stream.flush()

    def clear(self) -> None:
        self._stream.write("\r\033[K")
        self._stream.flush()
