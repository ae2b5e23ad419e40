"""Where replay's events come from: files (plain or gzip), directories, standard input and S3 prefixes,
read as streams so that neither 10,000 files nor one 1 GB log file has to fit in memory.

An input that cannot be read (no such file, broken gzip, not JSON, a shape replay does not know) is
reported as :class:`Unreadable` with its name and where it broke, and reading goes on with the next.
Small objects are fetched a few at a time on threads (S3 answers in tens of milliseconds each);
the decoding itself stays on one thread, in input order.
"""

from __future__ import annotations

import gzip
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

from chalicelib import jsonstream
from chalicelib.replay import ShapeError, events_in

STDIN = "-"
LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz")
DIGEST_DIR = "CloudTrail-Digest"  # a trail's signed digests: not events
WHOLE_FETCH_LIMIT = 32 << 20
"""Objects up to this size are fetched whole by the prefetch threads; bigger ones are streamed."""


@dataclass(frozen=True, slots=True)
class Event:
    source: str
    index: int | None
    raw: Any

    @property
    def where(self) -> str:
        return self.source if self.index is None else f"{self.source}: Records[{self.index}]"


@dataclass(frozen=True, slots=True)
class Unreadable:
    source: str
    message: str

    @property
    def where(self) -> str:
        return self.source


@dataclass(frozen=True, slots=True)
class Input:
    """One file-like input, opened only when its turn (or its prefetch) comes."""

    name: str
    size: int | None
    open: Callable[[], IO[bytes]]
    remote: bool = False
    owned: bool = True
    """False for standard input: read it, never close it."""


def inputs(paths: Iterable[str], stdin: IO[bytes] | None = None) -> Iterator[Input | Unreadable]:
    """Each PATH as the inputs it holds: itself, a directory's log files, an S3 prefix's objects."""
    for path in paths:
        if path == STDIN:
            yield Input("<stdin>", None, partial(_stdin, stdin), owned=False)
        elif path.startswith("s3://"):
            yield from _s3_inputs(path)
        elif os.path.isdir(path):
            yield from _directory(path)
        elif os.path.exists(path):
            yield _local(path)
        else:
            yield Unreadable(path, "no such file or directory")


def _stdin(given: IO[bytes] | None) -> IO[bytes]:
    import sys

    return given or sys.stdin.buffer


def _local(path: str) -> Input:
    return Input(path, os.path.getsize(path), partial(_open_binary, path))


def _open_binary(path: str) -> IO[bytes]:
    return open(path, "rb")  # the caller closes it once its events are read


def _is_log_file(name: str) -> bool:
    return name.endswith(LOG_SUFFIXES)


def _directory(root: str) -> Iterator[Input]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != DIGEST_DIR)
        for name in sorted(files):
            if _is_log_file(name):
                yield _local(os.path.join(directory, name))


def _s3_inputs(url: str) -> Iterator[Input | Unreadable]:
    from chalicelib.adapters import s3

    try:
        bucket, prefix = s3.split_url(url)
        for obj in s3.objects(bucket, prefix):
            if _is_log_file(obj.key) and f"/{DIGEST_DIR}/" not in f"/{obj.key}":
                yield Input(obj.url, obj.size, partial(_s3_stream, obj), remote=True)
    except (ValueError, s3.S3Unavailable) as error:
        yield Unreadable(url, str(error))


def _s3_stream(obj: Any) -> IO[bytes]:
    from chalicelib.adapters import s3

    return io.BufferedReader(_Reads(s3.open_object(obj).read))


class _Reads(io.RawIOBase):
    """A ``read(n)`` callable (an S3 body) as a raw stream, so it can be buffered and peeked at."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _fetch(item: Input) -> IO[bytes] | None:
    """On a prefetch thread: a small input's bytes in memory, or None to stream it when its turn comes."""
    if item.size is None or item.size > WHOLE_FETCH_LIMIT:
        return None
    with item.open() as stream:
        return io.BytesIO(stream.read())


def events(
    paths: Iterable[str], stdin: IO[bytes] | None = None, prefetch: int = 8, local_prefetch: bool = False
) -> Iterator[Event | Unreadable]:
    """Every event of every input, in input order, with unreadable inputs reported in their place.

    ``prefetch`` inputs are fetched ahead on threads: remote ones always, local files only with
    ``local_prefetch`` (reading a local file is not what replay waits for; see the README).
    """
    pending: deque[tuple[Input | Unreadable, Future[IO[bytes] | None] | None]] = deque()
    source = iter(inputs(paths, stdin))
    with ThreadPoolExecutor(max_workers=max(prefetch, 1), thread_name_prefix="sgguard-fetch") as pool:

        def top_up() -> None:
            while len(pending) < max(prefetch, 1):
                item = next(source, None)
                if item is None:
                    return
                ahead = isinstance(item, Input) and prefetch > 0 and (item.remote or local_prefetch)
                pending.append((item, pool.submit(_fetch, item) if ahead else None))  # type: ignore[arg-type]

        top_up()
        while pending:
            item, future = pending.popleft()
            top_up()
            if isinstance(item, Unreadable):
                yield item
                continue
            yield from _events_of(item, future)


def _events_of(item: Input, future: Future[IO[bytes] | None] | None) -> Iterator[Event | Unreadable]:
    try:
        fetched = future.result() if future is not None else None
        stream = fetched if fetched is not None else item.open()
    except Exception as error:  # an unreadable input must never stop the others
        yield Unreadable(item.name, _describe(error))
        return
    try:
        yield from _decode(item.name, stream)
    finally:
        if item.owned:
            stream.close()


def _decode(name: str, stream: IO[bytes]) -> Iterator[Event | Unreadable]:
    binary: IO[bytes] = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[type-var]
    text: io.TextIOWrapper | None = None
    try:
        if binary.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
            binary = gzip.GzipFile(fileobj=binary, mode="rb")  # type: ignore[assignment]
        text = io.TextIOWrapper(binary, encoding="utf-8-sig")
        for value in jsonstream.values(text):
            if value.index is not None:
                yield Event(name, value.index, value.value)
                continue
            try:
                for index, raw in events_in(value.value):
                    yield Event(name, index, raw)
            except ShapeError as error:
                yield Unreadable(name, str(error))
    except (jsonstream.JsonStreamError, OSError, EOFError, UnicodeDecodeError) as error:
        yield Unreadable(name, _describe(error))
    finally:
        if text is not None:
            text.detach()  # closing is the owner's business (standard input stays open)


def _describe(error: Exception) -> str:
    if isinstance(error, jsonstream.JsonStreamError):
        return f"not JSON: {error}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text: {error}"
    if isinstance(error, gzip.BadGzipFile | EOFError):
        return f"broken gzip: {error or 'truncated'}"
    if isinstance(error, FileNotFoundError):
        return "no such file or directory"
    return str(error) or type(error).__name__
