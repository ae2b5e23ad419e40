"""`sgguard replay`: judge recorded events (files, directories, stdin, S3) the way the Lambda would.

Safe by default: dry-run, nothing published. ``--offline`` asks AWS nothing at all (what needs AWS
lands in ``not_judged``); without it, reads use the operator's own credentials. Revoking needs
``--mode enforce``; telling the security team needs ``--notify TOPIC_ARN``, because a replay of last
month's trail must not page anyone unless asked to.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from typing import Any, TextIO

from chalicelib import parallel, sources
from chalicelib.baseline import DEFAULT_PRESET, Baseline, BaselineError, load_baseline
from chalicelib.decision import MODES, Decision
from chalicelib.notify import ACTION_WORDS, rule_words
from chalicelib.pipeline import AwsPort, OfflineAws
from chalicelib.replay import Tally, judge
from chalicelib.settings import ConfigError, Settings

USAGE = 2


def register(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="judge recorded CloudTrail events (dry-run by default)",
        description="Judge EventBridge events, CloudTrail records and trail log files (plain or .gz) "
        "from files, directories (recursively), standard input (-) or s3://bucket/prefix. "
        "Exit 0 when every input was read, 1 when any was invalid, 2 for usage errors.",
    )
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--mode", choices=MODES, default="dry-run", help="enforce revokes (default dry-run)")
    replay.add_argument("--offline", action="store_true", help="ask AWS nothing (dry-run only)")
    replay.add_argument(
        "--baseline", default=DEFAULT_PRESET, metavar="PRESET|FILE", help=f"default {DEFAULT_PRESET}"
    )
    replay.add_argument("--format", choices=("text", "jsonl"), default="text")
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


def _replay(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.offline and args.mode == "enforce":
        parser.error("--mode enforce needs AWS: it cannot be --offline")
    if args.offline and args.notify:
        parser.error("--notify needs AWS: it cannot be --offline")
    if args.notify:
        try:
            Settings.from_env({"NOTIFY_TOPIC_ARN": args.notify})
        except ConfigError as error:
            parser.error(f"--notify: {error}")
    try:
        baseline = load_baseline(args.baseline)
    except BaselineError as error:
        for message in error.errors:
            print(f"sgguard: {error.source}: {message}", file=sys.stderr)
        return USAGE
    tune_garbage_collector()
    aws: AwsPort | None = OfflineAws() if args.offline else None
    out = _Table(sys.stdout) if args.format == "text" else _Jsonl(sys.stdout)
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    tally = Tally()
    jobs = args.jobs or parallel.usable_cpus()
    pieces = parallel.plan(args.paths, jobs) if args.offline and not args.notify else None
    if pieces is not None:
        parallel.set_context(baseline, args.mode, out.render)  # for a piece read on here
        for name, first_event, done in parallel.results(pieces, jobs, args.baseline, args.mode, out.render):
            tally.merge(done.tally)
            for part in done.output:
                if isinstance(part, str):
                    out.stream.write(part)
                else:
                    where = sources.Event(
                        name, None if part.index is None else first_event + part.index, None
                    )
                    _warn(progress, f"sgguard: {where.where}: {part.text}")
            if progress is not None:
                progress.tick(tally, name)
    else:
        _replay_here(args, baseline, aws, out, progress, tally)
    if progress is not None:
        progress.clear()
    out.close(tally)
    return 1 if tally.invalid else 0


def _replay_here(
    args: argparse.Namespace,
    baseline: Baseline,
    aws: AwsPort | None,
    out: _Table | _Jsonl,
    progress: _Progress | None,
    tally: Tally,
) -> None:
    for item in sources.events(args.paths):
        if isinstance(item, sources.Unreadable):
            tally.unreadable += 1
            _warn(progress, f"sgguard: {item.where}: {item.message}")
            continue
        result = judge(item.raw, baseline, args.mode, aws)
        tally.add(result)
        if progress is not None:
            progress.tick(tally, item.source)
        if isinstance(result, str):
            continue
        if result.outcome == "invalid":
            _warn(progress, f"sgguard: {item.where}: invalid: {result.reason}")
        elif result.outcome == "violation" and args.notify:
            from chalicelib.handler import tell

            tell(result, args.notify)
        out.write(result)


def tune_garbage_collector() -> None:
    """A replay makes millions of short-lived, acyclic objects (one event's models and decision at a
    time), which reference counting frees; the cyclic collector would otherwise rescan the long-lived
    modules, models and baseline hundreds of times for nothing (measured: about a fifth of the run).
    Freeze what exists now and collect the young generation less often; memory stays bounded because
    nothing from one event outlives it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _warn(progress: _Progress | None, message: str) -> None:
    if progress is not None:
        progress.clear()
    print(message, file=sys.stderr)


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
    """Fixed columns, so rows print as they are decided instead of after the last one."""

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
        return "\n".join(lines) + "\n"

    def close(self, tally: Tally) -> None:
        self.stream.write("\n" + tally.text() + "\n")
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
        self._stream.write("\r\033[K" + line[:150])
        self._stream.flush()

    def clear(self) -> None:
        self._stream.write("\r\033[K")
        self._stream.flush()
