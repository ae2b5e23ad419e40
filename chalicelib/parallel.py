"""`sgguard replay --offline` on several cores, with exactly the output of the sequential replay.

Judging holds the GIL, so the work goes to processes: a directory's files whole, one big log file
``{"Records": [...]}`` in byte pieces cut just before a record. Inside JSON text ``{"eventVersion"``
cannot be part of a string (its quote would be escaped), so ``,{"eventVersion"`` is where a
CloudTrail record starts; the cut is only a guess until the piece before it has decoded up to it and
ended with a comma (``jsonstream.records_between_cuts``). A piece that does not is thrown away and the
file is read from that point on in this process, the sequential way: a wrong guess costs time, never
a different answer. Results come back per piece and are written in input order, with at most
``2 x jobs`` pieces in flight, so memory stays bounded.

Workers are spawned, not forked: a fork would copy whatever threads and locks the parent holds (S3
prefetch threads, a test's moto server) into a child that can never release them. Spawning costs one
import of chalicelib per worker (0.2 s), and each worker loads the baseline from the same
``--baseline`` argument and tunes its garbage collector as the sequential replay does. The price of
spawning: a script calling ``chalicelib.cli.main`` must guard it with ``if __name__ == "__main__"``,
as multiprocessing asks (the ``sgguard`` command and pytest do); a worker that dies anyway only costs
time, because its piece is then judged in this process.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib import jsonstream, sources
from chalicelib.baseline import Baseline, load_baseline
from chalicelib.decision import Decision, Mode
from chalicelib.pipeline import OfflineAws
from chalicelib.replay import Tally, judge

MIN_BYTES = 8 << 20
"""Below this much input, starting workers costs more than it saves."""
PIECE_BYTES = 8 << 20
"""A big log file is cut into pieces of about this size: small enough to keep memory and the wait for
the first output low, big enough that each costs a worker far more than sending it."""
SEARCH_BYTES = 1 << 20
"""How far past a planned cut a record start is looked for before that cut is given up."""

_LOG_HEAD = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\n\r]*\{[ \t\n\r]*"Records"[ \t\n\r]*:[ \t\n\r]*\[')
_RECORD_START = re.compile(rb',[ \t\n\r]*(\{)[ \t\n\r]*"eventVersion"')


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class Piece:
    """A local file whole (``end`` None, ``start`` 0, ``first`` and ``last``) or bytes [start, end)."""

    name: str
    start: int = 0
    end: int | None = None
    first: bool = True
    last: bool = True

    @property
    def whole(self) -> bool:
        return self.first and self.last


@dataclass(frozen=True, slots=True)
class Note:
    """A line for standard error; ``index`` is relative to the piece's first record."""

    index: int | None
    text: str


@dataclass
class Done:
    """What a piece gave: standard output's text and stderr's notes in order, and their tally."""

    events: int = 0
    tally: Tally = field(default_factory=Tally)
    output: list[str | Note] = field(default_factory=list)
    broken: bool = False
    """The piece did not start or end where a record does: nothing else in it counts."""


def plan(paths: list[str], jobs: int) -> list[Piece | sources.Unreadable] | None:
    """The pieces of the input, or None when it is not worth (or not safe) going parallel."""
    if jobs < 2 or any(p == sources.STDIN or p.startswith("s3://") for p in paths):
        return None
    items = list(sources.inputs(paths))
    total = sum(i.size or 0 for i in items if isinstance(i, sources.Input))
    if total < MIN_BYTES:
        return None
    pieces: list[Piece | sources.Unreadable] = []
    for item in items:
        if isinstance(item, sources.Unreadable):
            pieces.append(item)
        else:
            pieces.extend(split(item.name, item.size or 0, -(-(item.size or 0) // PIECE_BYTES)))
    return pieces if sum(isinstance(p, Piece) for p in pieces) > 1 else None


def split(name: str, size: int, count: int) -> list[Piece]:
    """``count`` pieces of about equal size, cut just before records; the file whole if it is not a
    plain log file or no record start is found."""
    cuts = find_cuts(name, size, count) if count > 1 else []
    if not cuts:
        return [Piece(name)]
    starts, ends = [0, *cuts], [*cuts, None]
    return [
        Piece(name, start, end, first=start == 0, last=end is None)
        for start, end in zip(starts, ends, strict=True)
    ]


def find_cuts(name: str, size: int, count: int) -> list[int]:
    cuts: list[int] = []
    try:
        with open(name, "rb") as stream:
            if _LOG_HEAD.match(stream.read(4096)) is None:  # gzip, JSON Lines, an event: read it whole
                return []
            for k in range(1, count):
                target = max(size * k // count, cuts[-1] + 1 if cuts else 0)
                stream.seek(target)
                found = _RECORD_START.search(stream.read(SEARCH_BYTES))
                if found is not None:
                    cuts.append(target + found.start(1))
    except OSError:
        return []  # reading it whole reports the error the sequential way
    return cuts


# --- in the workers -------------------------------------------------------------------------------

_context: tuple[Baseline, Mode, Callable[[Decision], str]] | None = None


def start_worker(baseline: str, mode: Mode, render: Callable[[Decision], str]) -> None:
    from chalicelib.cli_replay import tune_garbage_collector

    set_context(load_baseline(baseline), mode, render)
    tune_garbage_collector()


def set_context(baseline: Baseline, mode: Mode, render: Callable[[Decision], str]) -> None:
    global _context
    _context = (baseline, mode, render)


def run_piece(piece: Piece, skip: int = 0) -> Done:
    """Judge a piece's events (after the first ``skip`` of a whole file) the way the replay does."""
    assert _context is not None, "start_worker or set_context first"
    baseline, mode, render = _context
    aws = OfflineAws()
    done = Done()
    text: list[str] = []

    def note(index: int | None, message: str) -> None:
        if text:
            done.output.append("".join(text))
            text.clear()
        done.output.append(Note(index, message))

    try:
        for index, item in _items(piece, skip):
            if isinstance(item, sources.Unreadable):
                done.tally.unreadable += 1
                note(None, item.message)
                continue
            done.events += 1
            result = judge(item, baseline, mode, aws)
            done.tally.add(result)
            if isinstance(result, str):
                continue
            if result.outcome == "invalid":
                note(index, f"invalid: {result.reason}")
            text.append(render(result))
    except (jsonstream.JsonStreamError, UnicodeDecodeError, OSError):
        return Done(broken=True)
    if text:
        done.output.append("".join(text))
    return done


def _items(piece: Piece, skip: int) -> Iterator[tuple[int | None, Any]]:
    if piece.whole:
        seen = 0
        for item in sources.events([piece.name], prefetch=0):
            if isinstance(item, sources.Event):
                seen += 1
                if seen <= skip:
                    continue
                yield item.index, item.raw
            else:
                yield None, item
        return
    with open(piece.name, "rb") as stream:
        stream.seek(piece.start)
        data = stream.read(-1 if piece.end is None else piece.end - piece.start)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig" if piece.first else "utf-8")
    yield from enumerate(jsonstream.records_between_cuts(text, piece.first, piece.last))


# --- in the replaying process ---------------------------------------------------------------------


def results(
    pieces: list[Piece | sources.Unreadable],
    jobs: int,
    baseline: str,
    mode: Mode,
    render: Callable[[Decision], str],
) -> Iterator[tuple[str, int, Done]]:
    """Each piece's name, the index in its file of its first record, and what it gave, in input order.

    A broken piece is replaced by the rest of its file read here, from the first event not yet given.
    """
    workers = min(jobs, sum(isinstance(p, Piece) for p in pieces))
    context = multiprocessing.get_context("spawn")
    queue = iter(pieces)
    pending: deque[tuple[Piece | sources.Unreadable, Future[Done] | None]] = deque()
    first_event = 0  # index in its file of the next piece's first record (a file's pieces are adjacent)
    read_on_here = False  # a piece of this file was broken, and the file was read on here
    with ProcessPoolExecutor(
        workers, context, initializer=start_worker, initargs=(baseline, mode, render)
    ) as pool:

        def top_up() -> None:
            while len(pending) < 2 * workers:
                piece = next(queue, None)
                if piece is None:
                    return
                pending.append((piece, _submit(pool, piece)))

        try:
            top_up()
            while pending:
                piece, future = pending.popleft()
                top_up()
                if isinstance(piece, sources.Unreadable):
                    yield piece.source, 0, Done(tally=Tally(unreadable=1), output=[Note(None, piece.message)])
                    continue
                if piece.first:
                    first_event, read_on_here = 0, False
                elif read_on_here:
                    if future is not None:
                        future.cancel()
                    continue
                done = _result(piece, future)
                if done.broken:
                    read_on_here = True
                    yield piece.name, 0, run_piece(Piece(piece.name), skip=first_event)
                    continue
                yield piece.name, first_event, done
                first_event += done.events
        finally:
            pool.shutdown(cancel_futures=True)


def _submit(pool: ProcessPoolExecutor, piece: Piece | sources.Unreadable) -> Future[Done] | None:
    if isinstance(piece, sources.Unreadable):
        return None
    try:
        return pool.submit(run_piece, piece)
    except RuntimeError:  # a broken pool (a worker died): this piece is judged here instead
        return None


def _result(piece: Piece, future: Future[Done] | None) -> Done:
    if future is not None:
        try:
            return future.result()
        except Exception:  # a worker that died must not lose events: judge the piece here
            pass
    return run_piece(piece)
