"""`sgguard audit --from` on several cores: a big saved rules file judged in byte pieces by workers.

Converting and judging hold the GIL, so a file of a million rules goes to processes, as replay's big
log files do (chalicelib/parallel.py, whose file slices, SIGINT handling and worker stop are reused).
Only the shape the AWS CLI prints is cut: one object whose only member is ``SecurityGroupRules``
(``{"SecurityGroupRules": [ ... ]}``, plain, not gzip). A cut is planned at a comma between two
objects (``}, {``); it is only a guess until the piece before it has been decoded, as a whole array
``[`` + piece + ``]``, right up to it. A piece that is not exactly a run of whole elements is broken,
and then the file's pieces are thrown away and the file is read here, the sequential way: a wrong
guess costs time, never a different answer. Each worker judges its piece with the same engine
(:class:`~chalicelib.sweep.engine.DumpSweep`) and sends back its builder; the builders are merged in
file order, so the report is the one a single process makes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib import jsonstream, parallel
from chalicelib.baseline import load_baseline
from chalicelib.rules import PrefixList
from chalicelib.sweep.describe import GroupFacts
from chalicelib.sweep.dump import RuleCheck
from chalicelib.sweep.engine import DumpSweep, ReportBuilder
from chalicelib.sweep.report import SweepFinding

MIN_BYTES = 64 << 20
"""Below this, starting workers (each imports chalicelib and receives the groups) costs more than it saves."""
PIECE_BYTES = 128 << 20
SEARCH_BYTES = 1 << 20
_HEAD = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\n\r]*\{[ \t\n\r]*"SecurityGroupRules"[ \t\n\r]*:[ \t\n\r]*\[')
_TAIL = re.compile(rb"\][ \t\n\r]*\}[ \t\n\r]*\Z")
_BETWEEN = re.compile(rb'\}[ \t\n\r]*(,)[ \t\n\r]*\{[ \t\n\r]*"')
"""A comma between two objects: the end of one rule and the start of the next, or (rarely) inside one."""


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes [start, end) of a rules file: elements of its array, without the commas around them."""

    path: str
    start: int
    end: int


def plan(path: str, jobs: int) -> list[Piece] | None:
    """The pieces of one rules file, or None to read it here (small, gzip, another shape)."""
    try:
        size = os.path.getsize(path)
        if jobs < 2 or size < MIN_BYTES:
            return None
        with open(path, "rb") as stream:
            head = _HEAD.match(stream.read(4096))
            stream.seek(max(0, size - 4096))
            tail_text = stream.read()
            tail = _TAIL.search(tail_text)
            if head is None or tail is None:
                return None
            start, end = head.end(), size - len(tail_text) + tail.start()
            count = max(jobs, -(-(end - start) // PIECE_BYTES))
            commas: list[int] = []
            for k in range(1, count):
                target = max(start + (end - start) * k // count, commas[-1] + 1 if commas else start)
                stream.seek(target)
                found = _BETWEEN.search(stream.read(SEARCH_BYTES))
                if found is not None and target + found.start(1) < end:
                    commas.append(target + found.start(1))
    except OSError:
        return None  # reading it here reports the error the sequential way
    if not commas:
        return None
    bounds = [start, *(c + 1 for c in commas)], [*commas, end]
    return [Piece(path, a, b) for a, b in zip(*bounds, strict=True)]


class _Bracketed(io.RawIOBase):
    """A piece read as one JSON array: ``[`` + its bytes + ``]``."""

    def __init__(self, piece: Piece) -> None:
        self._parts: list[io.RawIOBase | bytes] = [
            b"[",
            parallel._Slice(piece.path, piece.start, piece.end),
            b"]",
        ]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._parts:
            part = self._parts[0]
            data = part[: len(buffer)] if isinstance(part, bytes) else part.read(len(buffer))
            if isinstance(part, bytes):
                self._parts[0] = part[len(data) :]
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._parts.pop(0)
            if not isinstance(part, bytes):
                part.close()
        return 0

    def close(self) -> None:
        for part in self._parts:
            if not isinstance(part, bytes):
                part.close()
        self._parts = []
        super().close()


# --- in the workers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every piece is judged with (sent once to each worker)."""

    baseline: str
    groups: tuple[tuple[str, str, str | None, str | None, str | None], ...]
    """(id, name, VPC, owner, description) per group: plain strings pickle ten times faster than objects."""
    prefix_lists: Mapping[str, PrefixList | str] | None
    account: str | None
    region: str | None
    now: datetime
    stream_findings: bool


@dataclass
class Judged:
    """A piece's part of the report: its builder, its jsonl finding lines (when streaming), the
    problems of its entries (index within the piece, message) and how many elements it held."""

    builder: ReportBuilder | None = None
    lines: list[str] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    elements: int = 0
    rules: int = 0
    broken: bool = False


_context: tuple[Context, DumpSweep] | None = None


def compact(
    groups: Mapping[str, GroupFacts],
) -> tuple[tuple[str, str, str | None, str | None, str | None], ...]:
    return tuple((g.group_id, g.name, g.vpc_id, g.owner, g.description) for g in groups.values())


def start_worker(context: Context) -> None:
    """Once per worker: the baseline, the groups and the facts every piece is judged with."""
    global _context
    from chalicelib.replay import tune_garbage_collector

    part = DumpSweep.start(
        [GroupFacts(*g) for g in context.groups],
        load_baseline(context.baseline),
        context.now,
        account=context.account,
        region=context.region,
        prefix_lists=context.prefix_lists,
    )
    _context = (context, part)
    tune_garbage_collector()


def judge_piece(piece: Piece) -> Judged:
    assert _context is not None, "start_worker first"
    context, template = _context
    judged = Judged()
    writer: Callable[[SweepFinding], None] | None = None
    if context.stream_findings:
        head = finding_head(context.account, context.region)

        def writer(finding: SweepFinding) -> None:
            judged.lines.append(head + finding.model_dump_json()[1:] + "\n")

    part = template.fresh(on_finding=writer, keep_findings=not context.stream_findings)
    try:
        part.judge(_rules(piece, context, judged))
    except (jsonstream.JsonStreamError, UnicodeDecodeError, OSError, RecursionError):
        return Judged(broken=True)
    if judged.broken:
        return Judged(broken=True)
    part.builder.on_finding = None  # a closure: not sent back
    judged.builder = part.builder
    return judged


def _rules(piece: Piece, context: Context, judged: Judged) -> Iterator[Any]:
    check = RuleCheck(context.account, context.region)
    text = io.TextIOWrapper(io.BufferedReader(_Bracketed(piece)), encoding="utf-8")
    try:
        for member in jsonstream.members(text, frozenset()):
            if member.document != 0 or member.index is None:
                judged.broken = True  # not exactly one array of elements: the cut was wrong
                return
            judged.elements += 1
            got = check(member.value) if member.refused is None else f"refused: {member.refused}"
            if isinstance(got, str):
                judged.problems.append((member.index, got))
                continue
            judged.rules += 1
            yield got
    finally:
        text.close()


def finding_head(account: str | None, region: str | None) -> str:
    """The start of a jsonl finding line, up to the finding's own fields."""
    import json

    return json.dumps({"type": "finding", "account": account, "region": region})[:-1] + ", "


# --- here -----------------------------------------------------------------------------------------


class Workers:
    """The pieces of every planned file, submitted at once to ``jobs`` spawned workers; their results
    asked for file by file, in order, while this process judges the other files."""

    def __init__(self, context: Context, jobs: int, pieces: Sequence[Piece]) -> None:
        with parallel._sigint_blocked():  # a terminal's Ctrl-C reaches only this process
            self._pool = ProcessPoolExecutor(
                min(jobs, len(pieces)),
                multiprocessing.get_context("spawn"),
                initializer=start_worker,
                initargs=(context,),
            )
            self._futures = {p: self._pool.submit(judge_piece, p) for p in pieces}

    def results(self, planned: Sequence[Piece]) -> list[Judged] | None:
        """A file's pieces, judged; None when one was broken or its worker died: read it here."""
        done = []
        for piece in planned:
            try:
                judged = self._futures[piece].result()
            except Exception:  # a worker that died must not lose rules: the file is read here
                return None
            if judged.broken or judged.builder is None:
                return None
            done.append(judged)
        return done

    def close(self) -> None:
        """Stop at once (Ctrl-C, an error) or after the work is done."""
        if any(not f.done() for f in self._futures.values()):
            parallel.stop_workers(self._pool)
            self._pool.shutdown(wait=False, cancel_futures=True)
        else:
            self._pool.shutdown()
