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
import stat
import zlib
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
    """An input (or one record of it, ``index``) that could not be read: an error for that path only."""

    source: str
    message: str
    index: int | None = None

    @property
    def where(self) -> str:
        return self.source if self.index is None else f"{self.source}: Records[{self.index}]"


@dataclass(frozen=True, slots=True)
class Nothing:
    """An input that gave no event and no error: an empty file, a directory without log files, or
    a path that is not a regular file (``skipped``: a FIFO would block the run, a device never end)."""

    source: str
    message: str
    skipped: bool = False

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


def inputs(paths: Iterable[str], stdin: IO[bytes] | None = None) -> Iterator[Input | Unreadable | Nothing]:
    """Each PATH as the inputs it holds: itself, a directory's log files, an S3 prefix's objects.

    Only regular files are opened. A PATH named on the command line may also be a pipe or a character
    device (``<(zcat old.json.gz)``, ``/dev/stdin``): the operator asked for it. Inside a directory,
    which other people may have filled, anything but a regular file is skipped with a note.
    """
    for path in paths:
        if path == STDIN:
            yield Input("<stdin>", None, partial(_stdin, stdin), owned=False)
        elif path.startswith("s3://"):
            yield from _s3_inputs(path)
        else:
            found = _stat(path)
            if isinstance(found, Unreadable):
                yield found
            elif stat.S_ISDIR(found.st_mode):
                yield from _directory(path)
            elif stat.S_ISREG(found.st_mode) or stat.S_ISFIFO(found.st_mode) or stat.S_ISCHR(found.st_mode):
                yield Input(path, found.st_size or None, partial(_open_binary, path))
            else:
                yield Nothing(path, f"skipped: {_kind(found.st_mode)}, not a regular file", skipped=True)


def _stdin(given: IO[bytes] | None) -> IO[bytes]:
    import sys

    return given or sys.stdin.buffer


def _stat(path: str) -> os.stat_result | Unreadable:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return Unreadable(path, f"a broken symbolic link (to {os.readlink(path)}, which does not exist)")
        return Unreadable(path, "no such file or directory")
    except OSError as error:
        return Unreadable(path, _describe(error))


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "a special file"


def _open_binary(path: str) -> IO[bytes]:
    return open(path, "rb")  # the caller closes it once its events are read


def _is_log_file(name: str) -> bool:
    return name.endswith(LOG_SUFFIXES)


def _directory(root: str) -> Iterator[Input | Unreadable | Nothing]:
    found = False
    unlisted: list[OSError] = []  # os.walk passes over a folder it cannot list unless told to say so
    for directory, subdirs, files in os.walk(root, onerror=unlisted.append):
        while unlisted:
            error = unlisted.pop(0)
            yield Unreadable(str(error.filename or directory), f"cannot be listed: {os_error_words(error)}")
        subdirs[:] = sorted(d for d in subdirs if d != DIGEST_DIR)
        for name in sorted(files):
            if not _is_log_file(name):
                continue
            found = True
            path = os.path.join(directory, name)
            info = _stat(path)
            if isinstance(info, Unreadable):
                yield info
            elif stat.S_ISREG(info.st_mode):
                yield Input(path, info.st_size, partial(_open_binary, path))
            else:
                yield Nothing(path, f"skipped: {_kind(info.st_mode)}, not a regular file", skipped=True)
    for error in unlisted:
        yield Unreadable(str(error.filename or root), f"cannot be listed: {os_error_words(error)}")
    if not found:
        yield Nothing(root, f"no log files in this directory ({', '.join('*' + s for s in LOG_SUFFIXES)})")


def _s3_inputs(url: str) -> Iterator[Input | Unreadable | Nothing]:
    from chalicelib.adapters import s3

    found = False
    try:
        bucket, prefix = s3.split_url(url)
        for obj in s3.objects(bucket, prefix):
            if _is_log_file(obj.key) and f"/{DIGEST_DIR}/" not in f"/{obj.key}":
                found = True
                yield Input(obj.url, obj.size, partial(_s3_stream, obj), remote=True)
    except (ValueError, s3.S3Unavailable) as error:
        yield Unreadable(url, str(error))
        return
    if not found:
        yield Nothing(url, f"no log files under this prefix ({', '.join('*' + s for s in LOG_SUFFIXES)})")


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
) -> Iterator[Event | Unreadable | Nothing]:
    """Every event of every input, in input order, with unreadable inputs reported in their place.

    ``prefetch`` inputs are fetched ahead on threads: remote ones always, local files only with
    ``local_prefetch`` (reading a local file is not what replay waits for; see the README).
    """
    pending: deque[tuple[Input | Unreadable | Nothing, Future[IO[bytes] | None] | None]] = deque()
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
            if isinstance(item, Unreadable | Nothing):
                yield item
                continue
            yield from _events_of(item, future)


def _events_of(
    item: Input, future: Future[IO[bytes] | None] | None
) -> Iterator[Event | Unreadable | Nothing]:
    try:
        fetched = future.result() if future is not None else None
        stream = fetched if fetched is not None else item.open()
    except Exception as error:  # an unreadable input must never stop the others
        yield Unreadable(item.name, _describe(error))
        return
    try:
        given = False
        for found in _decode(item.name, stream):
            given = True
            yield found
        if not given:
            yield Nothing(item.name, "held no events (empty)")
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
            if value.refused is not None:
                yield Unreadable(name, f"not read: {value.refused}", value.index)
                continue
            if value.index is not None:
                yield Event(name, value.index, value.value)
                continue
            try:
                for index, raw in events_in(value.value):
                    yield Event(name, index, raw)
            except ShapeError as error:
                yield Unreadable(name, str(error))
    except (jsonstream.JsonStreamError, OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        yield Unreadable(name, _describe(error))
    finally:
        if text is not None:
            text.detach()  # closing is the owner's business (standard input stays open)


def _describe(error: Exception) -> str:
    """An input's failure in the operator's words: no exception class, no ``[Errno N]``."""
    if isinstance(error, jsonstream.JsonStreamError):
        return f"not JSON: {error}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (it holds the byte 0x{error.object[error.start]:02x})"
    if isinstance(error, gzip.BadGzipFile | EOFError):
        return f"broken gzip: {error or 'truncated'}"
    if isinstance(error, zlib.error):  # "Error -3 while decompressing data: invalid stored block lengths"
        return f"broken gzip: {str(error).rpartition(': ')[2] or 'corrupt data'}"
    return os_error_words(error)


def os_error_words(error: Exception) -> str:
    """``[Errno 13] Permission denied: 'x'`` -> ``permission denied``."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    return str(error) or "could not be read"
