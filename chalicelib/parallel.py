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

Memory stays bounded whatever the input: a piece is streamed from its file, never read whole, and a
piece too big for its output to be held until its turn (a file with few record starts, a big gzip
file) is judged here when its turn comes, its output written as it is decided.

Ctrl-C: the workers are started with SIGINT blocked (as the standard library starts its resource
tracker), so a terminal's Ctrl-C reaches only this process, which stops them (:func:`stop_workers`)
and prints its partial summary; no worker prints a traceback.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from chalicelib import jsonstream, sources
from chalicelib.baseline import Baseline, load_baseline
from chalicelib.decision import Decision, Mode
from chalicelib.pipeline import OfflineAws
from chalicelib.replay import Tally, judge, tune_garbage_collector

MIN_BYTES = 8 << 20
"""Below this much input, starting workers costs more than it saves."""
PIECE_BYTES = 8 << 20
"""A big log file is cut into pieces of about this size: small enough to keep memory and the wait for
the first output low, big enough that each costs a worker far more than sending it."""
SEARCH_BYTES = 1 << 20
"""How far past a planned cut a record start is looked for before that cut is given up."""
GZIP_RATIO = 10
"""About how much a trail's gzip file grows when read, to size a whole gzip piece."""


def hold_bytes() -> int:
    """A piece bigger than this (in the bytes it decodes to) is judged here, streamed, at its turn:
    a worker's output is held whole until it is written, and must stay small."""
    return 2 * PIECE_BYTES + SEARCH_BYTES


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
    """What a piece gave: standard output's text and stderr's notes in order, and their tally.
    ``output`` is a list from a worker; for a piece judged here it is produced as it is read, and
    ``tally`` and ``events`` are complete once it has been consumed."""

    events: int = 0
    tally: Tally = field(default_factory=Tally)
    output: Iterable[str | Note | sources.Nothing] = field(default_factory=list)
    broken: bool = False
    """The piece did not start or end where a record does: nothing else in it counts."""


Planned = Piece | sources.Unreadable | sources.Nothing


def plan(paths: list[str], jobs: int) -> list[Planned] | None:
    """The pieces of the input, or None when it is not worth (or not safe) going parallel."""
    if jobs < 2 or any(p == sources.STDIN or p.startswith("s3://") for p in paths):
        return None
    items = list(sources.inputs(paths))
    total = sum(i.size or 0 for i in items if isinstance(i, sources.Input))
    if total < MIN_BYTES:
        return None
    pieces: list[Planned] = []
    for item in items:
        if isinstance(item, sources.Input):
            pieces.extend(split(item.name, item.size or 0, -(-(item.size or 0) // PIECE_BYTES)))
        else:
            pieces.append(item)
    return pieces if sum(isinstance(p, Piece) for p in pieces) > 1 else None


def _decoded_size(piece: Piece) -> int:
    if piece.end is not None:
        return piece.end - piece.start
    try:
        size = os.path.getsize(piece.name)
    except OSError:
        return 0
    return size * GZIP_RATIO if piece.name.endswith(".gz") else size


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


class _Slice(io.RawIOBase):
    """Bytes [start, end) of a file, read as they are consumed (a piece is never held whole)."""

    def __init__(self, name: str, start: int, end: int | None) -> None:
        self._file = open(name, "rb")  # noqa: SIM115  closed with the slice
        self._file.seek(start)
        self._left = None if end is None else end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer) if self._left is None else min(len(buffer), self._left)
        data = self._file.read(want)
        buffer[: len(data)] = data
        if self._left is not None:
            self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


# --- in the workers -------------------------------------------------------------------------------

_context: tuple[Baseline, Mode, Callable[[Decision], str]] | None = None


def start_worker(baseline: str, mode: Mode, render: Callable[[Decision], str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # blocked already; the parent stops the workers
    set_context(load_baseline(baseline), mode, render)
    tune_garbage_collector()


def set_context(baseline: Baseline, mode: Mode, render: Callable[[Decision], str]) -> None:
    global _context
    _context = (baseline, mode, render)


def run_piece(piece: Piece, skip: int = 0) -> Done:
    """Judge a piece's events (after the first ``skip`` of a whole file) the way the replay does."""
    done = Done()
    try:
        done.output = list(_judged(piece, skip, done))
    except (jsonstream.JsonStreamError, UnicodeDecodeError, OSError):
        return Done(broken=True)
    return done


def stream_piece(piece: Piece, skip: int = 0) -> Done:
    """A whole piece (or the rest of a file) judged here, its output produced as it is consumed."""
    done = Done()
    done.output = _judged(piece, skip, done)
    return done


def _judged(piece: Piece, skip: int, done: Done) -> Iterator[str | Note | sources.Nothing]:
    assert _context is not None, "start_worker or set_context first"
    baseline, mode, render = _context
    aws = OfflineAws()
    text: list[str] = []
    for index, item in _items(piece, skip):
        if isinstance(item, sources.Unreadable | sources.Nothing):
            if text:
                yield "".join(text)
                text.clear()
            if isinstance(item, sources.Nothing):
                yield item
                continue
            done.tally.unreadable += 1
            yield Note(index if item.index is not None else None, item.message)
            if item.index is not None:
                done.events += 1
            continue
        done.events += 1
        result = judge(item, baseline, mode, aws)
        done.tally.add(result)
        if isinstance(result, str):
            continue
        if result.outcome == "invalid":
            if text:
                yield "".join(text)
                text.clear()
            yield Note(index, f"invalid: {result.reason}")
        text.append(render(result))
        if len(text) >= 256:  # streamed output leaves as it is made; a worker's is joined anyway
            yield "".join(text)
            text.clear()
    if text:
        yield "".join(text)


def _items(piece: Piece, skip: int) -> Iterator[tuple[int | None, Any]]:
    if piece.whole:
        seen = 0
        for item in sources.events([piece.name], prefetch=0):
            if isinstance(item, sources.Event) or (
                isinstance(item, sources.Unreadable) and item.index is not None
            ):
                seen += 1
                if seen <= skip:
                    continue
            if isinstance(item, sources.Event):
                yield item.index, item.raw
            else:
                yield (item.index if isinstance(item, sources.Unreadable) else None), item
        return
    raw: IO[bytes] = io.BufferedReader(_Slice(piece.name, piece.start, piece.end), 1 << 20)
    with raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if piece.first else "utf-8")
        for value in jsonstream.records_between_cuts(text, piece.first, piece.last):
            if value.refused is not None:
                yield value.index, sources.Unreadable(piece.name, f"not read: {value.refused}", value.index)
            else:
                yield value.index, value.value
        text.detach()


# --- in the replaying process ---------------------------------------------------------------------


def results(
    pieces: list[Planned],
    jobs: int,
    baseline: str,
    mode: Mode,
    render: Callable[[Decision], str],
) -> Iterator[tuple[str, int, Done]]:
    """Each piece's name, the index in its file of its first record, and what it gave, in input order.

    A broken piece is replaced by the rest of its file read here, from the first event not yet given.
    A piece too big to hold (:func:`hold_bytes`) is judged here too, streamed. Consume each Done's
    output before asking for the next: its tally is complete only then.
    """
    workers = min(jobs, sum(isinstance(p, Piece) for p in pieces))
    context = multiprocessing.get_context("spawn")
    queue = iter(pieces)
    pending: deque[tuple[Planned, Future[Done] | None]] = deque()
    first_event = 0  # index in its file of the next piece's first record (a file's pieces are adjacent)
    read_on_here = False  # a piece of this file was broken, and the file was read on here
    limit = hold_bytes()
    with _sigint_blocked():
        pool = ProcessPoolExecutor(
            workers, context, initializer=start_worker, initargs=(baseline, mode, render)
        )

    def top_up() -> None:
        while len(pending) < 2 * workers:
            piece = next(queue, None)
            if piece is None:
                return
            held = isinstance(piece, Piece) and _decoded_size(piece) <= limit
            pending.append((piece, _submit(pool, piece) if held else None))

    try:
        top_up()
        while pending:
            piece, future = pending.popleft()
            top_up()
            if isinstance(piece, sources.Nothing):
                yield piece.source, 0, Done(output=[piece])
                continue
            if isinstance(piece, sources.Unreadable):
                yield piece.source, 0, Done(tally=Tally(unreadable=1), output=[Note(None, piece.message)])
                continue
            if piece.first:
                first_event, read_on_here = 0, False
            elif read_on_here:
                if future is not None:
                    future.cancel()
                continue
            done = _result(piece, future) if future is not None else stream_piece(piece)
            if done.broken:
                read_on_here = True
                yield piece.name, 0, stream_piece(Piece(piece.name), skip=first_event)
                continue
            yield piece.name, first_event, done
            first_event += done.events
    except BaseException:  # Ctrl-C, a closed output, an error here: the workers' pieces are of no use
        stop_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Processes started in here inherit SIGINT blocked, across exec: a terminal's Ctrl-C stays ours."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's workers now rather than after their current piece. The executor has no public
    way to do it; its ``_processes`` map (pid -> process) has been there since Python 3.2."""
    processes = list(getattr(pool, "_processes", None) or {})
    found = {p.pid: p for p in multiprocessing.active_children()}
    for pid in processes:
        if pid in found:
            found[pid].terminate()
    for pid in processes:
        if pid in found:
            found[pid].join(1)


def _submit(pool: ProcessPoolExecutor, piece: Planned) -> Future[Done] | None:
    if not isinstance(piece, Piece):
        return None
    try:
        with _sigint_blocked():  # the pool starts its workers as work arrives
            return pool.submit(run_piece, piece)
    except RuntimeError:  # a broken pool (a worker died): this piece is judged here instead
        return None


def _result(piece: Piece, future: Future[Done]) -> Done:
    try:
        return future.result()
    except Exception:  # a worker that died must not lose events: judge the piece here
        return stream_piece(piece)
