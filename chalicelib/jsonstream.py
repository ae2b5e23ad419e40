"""Incremental JSON reading in bounded memory and linear time, with the standard library only.

A trail's log file is one object, ``{"Records": [...]}``; read whole, a 1 GB file costs several GB of
Python objects. Here the records array is decoded one element at a time over a sliding buffer of
chunks, so memory holds one chunk and one record. Any other top-level value (an EventBridge event, a
bare record) is decoded whole, and several top-level values in a row (JSON Lines, concatenated
events) are read one after the other.

Each value is decoded once. ``json.JSONDecoder.raw_decode`` is tried on the buffer first (the common
case: the value is in it); when the value runs past the buffer's end, a small scanner finds where it
ends, reading on chunk by chunk and keeping its state (inside a string, after a backslash, how deep)
across chunks, and only then is the value decoded, so a 30 M-character string costs one pass, not one
re-parse per chunk. Files come from people who can write to a bucket, so two more things are refused
per value, with a message naming it, while reading goes on with the next value: nesting deeper than
:data:`MAX_DEPTH` (the decoder and everything after it recurse), and ``NaN``/``Infinity``, which
Python's decoder accepts but JSON does not have.
"""

from __future__ import annotations

import gc
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress
from typing import Any, NoReturn, TextIO

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 256 << 20
"""One record larger than this is refused instead of growing the buffer without bound."""
MAX_DEPTH = 100
"""Arrays and objects inside each other; CloudTrail records and EventBridge events nest about ten."""

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_RECORDS_HEAD = re.compile(r'\{[ \t\n\r]*"Records"[ \t\n\r]*:[ \t\n\r]*\[')
_HEAD_LOOKAHEAD = 4096
_OUTSIDE_STRINGS = re.compile(r'[^"\[\]{}]*')
_STRING_BODY = re.compile(r'[^"\\]*(?:\\[\s\S][^"\\]*)*')  # stops at the closing quote or a lone final "\"
_SCALAR_BODY = re.compile(r'[^ \t\n\r,\]}\[{"]*')


class JsonStreamError(ValueError):
    """The text is not JSON; the message says where (line, column) and what was expected."""


class ValueRefused(JsonStreamError):
    """One value is JSON-shaped but refused (too deep, NaN): reading can go on after it."""


def _refuse_constant(name: str) -> NoReturn:
    raise _Constant(name)


class _Constant(ValueError):
    pass


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded value: ``index`` is its place in ``Records`` (None outside a log file).
    ``refused`` says why a value was skipped (``value`` is then None)."""

    index: int | None
    value: Any
    refused: str | None = None


class _Scan:
    """Where a value ends, found across chunks: the state survives from one piece of text to the next."""

    __slots__ = ("deepest", "depth", "done", "in_string", "scalar", "started")

    def __init__(self) -> None:
        self.depth = self.deepest = 0
        self.in_string = self.scalar = self.started = self.done = False

    def run(self, text: str, i: int) -> int:
        """Scan ``text`` from ``i``; the end of the value (``done``) or where more text is needed."""
        n = len(text)
        while i < n:
            if not self.started:
                self.started = True
                if text[i] not in '{["':
                    self.scalar = True
                    continue
            if self.in_string:
                i = _STRING_BODY.match(text, i).end()  # type: ignore[union-attr]
                if i >= n or text[i] == "\\":  # a backslash at the very end: wait for what it escapes
                    return i
                i += 1
                self.in_string = False
                if self.depth == 0:
                    self.done = True
                    return i
            elif self.scalar:
                i = _SCALAR_BODY.match(text, i).end()  # type: ignore[union-attr]
                self.done = i < n
                return i
            else:
                i = _OUTSIDE_STRINGS.match(text, i).end()  # type: ignore[union-attr]
                if i >= n:
                    return i
                char = text[i]
                i += 1
                if char == '"':
                    self.in_string = True
                elif char in "[{":
                    self.depth += 1
                    self.deepest = max(self.deepest, self.depth)
                else:
                    self.depth -= 1
                    if self.depth <= 0:
                        self.done = True
                        return i
        return i


def _deeper_than(value: Any, limit: int) -> bool:
    """Level by level, with the iteration in C (``gc.get_referents`` lists a dict's values and a
    list's items): a record costs a few C calls per level, not a Python step per element."""
    level = [value]
    for _ in range(limit):
        children = gc.get_referents(*level)
        level = list(compress(children, map(_IS_CONTAINER, map(type, children))))
        if not level:
            return False
    return True


_IS_CONTAINER = frozenset({dict, list}).__contains__


def _too_deep(value: Any, text: str, start: int, end: int) -> bool:
    if type(value) not in (dict, list):
        return False
    if text.count("[", start, end) + text.count("{", start, end) <= MAX_DEPTH:
        return False  # cannot nest deeper than it has brackets: the common case costs two counts
    return _deeper_than(value, MAX_DEPTH)


class _Buffer:
    def __init__(self, stream: TextIO, chunk_chars: int) -> None:
        self._stream = stream
        self._chunk = chunk_chars
        self.text = ""
        self.pos = 0
        self.eof = False
        self._lines_before = 0  # newlines in the text already dropped from the buffer
        self._columns_before = 0  # characters of the current line already dropped

    def _read(self) -> str:
        chunk = self._stream.read(self._chunk)
        if not chunk:
            self.eof = True
        return chunk

    def fill(self) -> bool:
        """Append a chunk, dropping what has been consumed; False at the end of the input."""
        if self.eof:
            return False
        chunk = self._read()
        if not chunk:
            return False
        self._drop()
        self.text += chunk
        return True

    def _drop(self) -> None:
        """Forget the consumed text, remembering its lines and columns for error messages."""
        if not self.pos:
            return
        newlines = self.text.count("\n", 0, self.pos)
        if newlines:
            self._lines_before += newlines
            self._columns_before = self.pos - self.text.rfind("\n", 0, self.pos) - 1
        else:
            self._columns_before += self.pos
        self.text, self.pos = self.text[self.pos :], 0

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), without consuming it."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.fill():
                return ""

    def take(self, expected: str, what: str) -> None:
        found = self.peek()
        if found != expected:
            raise self.error(
                f"expected {what}, found {found!r}" if found else f"expected {what}, found the end"
            )
        self.pos += 1

    def at_records_head(self) -> bool:
        while len(self.text) - self.pos < _HEAD_LOOKAHEAD and self.fill():
            pass
        match = _RECORDS_HEAD.match(self.text, self.pos)
        if match is None:
            return False
        self.pos = match.end()
        return True

    def decode(self) -> Any:
        """The next value. Raises :class:`ValueRefused` (the buffer is then past the value) or
        :class:`JsonStreamError` (the text is broken: nothing after it can be trusted)."""
        if not self.peek():
            raise self.error("expected a value, found the end")
        start = self.pos
        try:
            value, end = _decoder.raw_decode(self.text, start)
        except (json.JSONDecodeError, RecursionError, _Constant):
            pass  # cut by the buffer's end, or refused: the scan below tells which
        else:
            if end < len(self.text) or self.eof or self.text[start] in '{["':
                self.pos = end
                if _too_deep(value, self.text, start, end):
                    raise self._refused(start, f"nested deeper than {MAX_DEPTH} levels")
                return value
        scan = _Scan()
        end = self._scan_to_end(scan)
        start = 0
        if scan.deepest > MAX_DEPTH:
            self.pos = end
            raise self._refused(start, f"nested deeper than {MAX_DEPTH} levels")
        try:
            value, end = _decoder.raw_decode(self.text, start)
        except json.JSONDecodeError as error:
            raise self.error(error.msg, error.pos) from None
        except _Constant as constant:
            self.pos = end
            raise self._refused(start, f"{constant} is not JSON (JSON has no NaN or Infinity)") from None
        self.pos = end
        return value

    def _scan_to_end(self, scan: _Scan) -> int:
        """The end (in ``self.text``) of the value starting at ``self.pos``, reading on as needed.
        Chunks are collected and joined once, so a value of n characters costs O(n)."""
        self._drop()  # what is consumed, as fill does, before the value grows the buffer
        parts = [self.text]
        text, i, offset = self.text, self.pos, 0  # text == "".join(parts)[offset:]
        while True:
            i = scan.run(text, i)
            if scan.done:
                end = offset + i
                break
            if offset + len(text) - self.pos > MAX_VALUE_CHARS:
                self.text = "".join(parts)
                raise self.error(f"one value is longer than {MAX_VALUE_CHARS:,} characters")
            chunk = "" if self.eof else self._read()
            if not chunk:
                end = offset + len(text)  # a scalar ends with the text; anything else is reported below
                break
            parts.append(chunk)
            offset += i
            text, i = text[i:] + chunk, 0
        if len(parts) > 1:
            self.text = "".join(parts)
        return end

    def _refused(self, start: int, why: str) -> ValueRefused:
        return ValueRefused(f"{self._where(start)}: {why}")

    def _where(self, at: int) -> str:
        newlines = self.text.count("\n", 0, at)
        line = self._lines_before + newlines + 1
        column = at - self.text.rfind("\n", 0, at) + (0 if newlines else self._columns_before)
        return f"line {line} column {column}"

    def error(self, message: str, pos: int | None = None) -> JsonStreamError:
        return JsonStreamError(f"{self._where(self.pos if pos is None else pos)}: {message}")


def values(stream: TextIO, chunk_chars: int = CHUNK_CHARS) -> Iterator[Value]:
    """Every value of the text, with a log file's ``Records`` yielded one by one.

    A refused value is yielded with ``refused`` set, and reading goes on; raises
    :class:`JsonStreamError` at the first syntax error; what was yielded before stays valid.
    """
    buffer = _Buffer(stream, chunk_chars)
    while buffer.peek():
        if buffer.at_records_head():
            yield from _records(buffer)
        else:
            yield _value(buffer, None)


def _value(buffer: _Buffer, index: int | None) -> Value:
    try:
        return Value(index, buffer.decode())
    except ValueRefused as refused:
        return Value(index, None, str(refused))


def _records(buffer: _Buffer) -> Iterator[Value]:
    index = 0
    if buffer.peek() != "]":
        while True:
            yield _value(buffer, index)
            index += 1
            if buffer.peek() != ",":
                break
            buffer.pos += 1
    buffer.take("]", "',' or ']' after a record")
    while buffer.peek() == ",":  # other members after Records: read and ignore them
        buffer.pos += 1
        if not isinstance(buffer.decode(), str):
            raise buffer.error("expected a member name")
        buffer.take(":", "':'")
        buffer.decode()
    buffer.take("}", "'}' after the Records array")


def loads(text: str) -> Any:
    """One JSON value, whole (an HTTP body), with the same refusals as the stream: too deep, NaN.
    Raises :class:`JsonStreamError` saying where and why."""
    buffer = _Buffer(io.StringIO(text), max(len(text), 1))
    value = buffer.decode()
    if buffer.peek():
        raise buffer.error("expected the end of the text after one value")
    return value


def records_between_cuts(
    stream: TextIO, first: bool, last: bool, chunk_chars: int = CHUNK_CHARS
) -> Iterator[Value]:
    """The records of one piece of a log file cut just before records (chalicelib/parallel.py): the first
    piece holds the head ``{"Records": [``, the last one the closing ``]}``, every other piece ends with
    the comma after its last record. Anything else raises :class:`JsonStreamError`, which means the cut
    was not where a record of the top-level array starts (or the text is broken): the caller then reads
    the file from its start instead, so a wrong guess costs time, never a different answer. ``index``
    counts from the piece's first record."""
    buffer = _Buffer(stream, chunk_chars)
    if first and not (buffer.peek() and buffer.at_records_head()):
        raise buffer.error('expected {"Records": [ at the start of a log file')
    index = 0
    while True:
        yield _value(buffer, index)
        index += 1
        if buffer.peek() != ",":
            break
        buffer.pos += 1
        if not last and not buffer.peek():
            return
    if not last:
        raise buffer.error("expected ',' and the end of the piece after a record")
    buffer.take("]", "',' or ']' after a record")
    buffer.take("}", "'}' after the Records array")
    if buffer.peek():
        raise buffer.error("expected the end of the file")


@dataclass(frozen=True, slots=True)
class Member:
    """One value of a saved API response: ``name`` is the member of the top-level object it came from
    (None for a top-level array's elements or a bare value), ``index`` its place in that member's array
    (None when the member is not a streamed array), ``document`` which top-level value (0, 1, ...)
    holds it."""

    document: int
    name: str | None
    index: int | None
    value: Any
    refused: str | None = None
    """Why the element was skipped (too deep, NaN; ``value`` is then None): reading went on after it."""


def members(stream: TextIO, arrays: frozenset[str], chunk_chars: int = CHUNK_CHARS) -> Iterator[Member]:
    """Every member of every top-level object, with the arrays named in ``arrays`` yielded element by
    element: the saved output of an AWS call (``{"SecurityGroupRules": [...], "NextToken": "..."}``),
    several pages in a row or one per line. A top-level array is streamed element by element too (what
    ``--query SecurityGroupRules`` prints); any other top-level value is yielded whole.

    Raises :class:`JsonStreamError` at the first syntax error; what was yielded before stays valid.
    """
    buffer = _Buffer(stream, chunk_chars)
    document = 0
    while buffer.peek():
        head = buffer.peek()
        if head == "[":
            buffer.pos += 1
            yield from _elements(buffer, document, None)
        elif head == "{":
            buffer.pos += 1
            yield from _object_members(buffer, document, arrays)
        else:
            yield Member(document, None, None, buffer.decode())
        document += 1


def _object_members(buffer: _Buffer, document: int, arrays: frozenset[str]) -> Iterator[Member]:
    if buffer.peek() == "}":
        buffer.pos += 1
        return
    while True:
        if buffer.peek() != '"':
            raise buffer.error("expected a member name")
        name = buffer.decode()
        buffer.take(":", "':' after a member name")
        if name in arrays and buffer.peek() == "[":
            buffer.pos += 1
            yield from _elements(buffer, document, name)
        else:
            yield Member(document, name, None, buffer.decode())
        if buffer.peek() != ",":
            break
        buffer.pos += 1
    buffer.take("}", "',' or '}' after a member")


def _elements(buffer: _Buffer, document: int, name: str | None) -> Iterator[Member]:
    index = 0
    if buffer.peek() != "]":
        checked_until = -1  # buffer offset up to which a batch failed: decode one by one until there
        while True:
            batch = _batch(buffer) if buffer.pos > checked_until else None
            if batch is not None:
                values, next_pos = batch
                if values is None:  # not a run of whole elements: one by one past the failed cut
                    checked_until = next_pos
                else:
                    for value in values:
                        yield Member(document, name, index, value)
                        index += 1
                    buffer.pos = next_pos
                    continue
            try:
                yield Member(document, name, index, buffer.decode())
            except ValueRefused as refused:  # the buffer is past the value
                yield Member(document, name, index, None, str(refused))
            index += 1
            if buffer.peek() != ",":
                break
            buffer.pos += 1
    buffer.take("]", "',' or ']' after an element")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_strict = json.JSONDecoder(parse_constant=_no_constants)
"""For batches: NaN/Infinity (Python's decoder takes them, JSON has none) fail the batch."""
_BATCH_MIN_CHARS = 64 << 10
_CUT_TRIES = 16
_FAILED_TRIES = 2


def _batch(buffer: _Buffer) -> tuple[list[Any] | None, int] | None:
    """Many object elements decoded by one ``json.loads``: the buffer up to a ``}`` followed by ``,``
    and ``{`` (the likely end of an element and start of the next), wrapped in brackets. Sound whatever
    the text: if the cut fell inside a string or a nested value, the wrapped text is not JSON (an
    unclosed string, an unbalanced bracket) and an earlier cut is tried, then one by one; if it
    parses, it is exactly the elements before the cut. None: nothing worth a batch here;
    ``(None, cut)``: the batch failed (decode one by one up to ``cut``)."""
    if len(buffer.text) - buffer.pos < _BATCH_MIN_CHARS and not buffer.eof:
        buffer.fill()
    text = buffer.text
    start = buffer.pos = _WHITESPACE.match(text, buffer.pos).end()  # type: ignore[union-attr]
    if len(text) - start < _BATCH_MIN_CHARS or text[start] != "{":
        return None
    end, failed = len(text), 0
    for _ in range(_CUT_TRIES):
        cut = text.rfind("}", start, end)
        if cut <= start:
            break
        end = cut
        comma = _WHITESPACE.match(text, cut + 1).end()  # type: ignore[union-attr]
        if comma >= len(text) or text[comma] != ",":
            continue
        after = _WHITESPACE.match(text, comma + 1).end()  # type: ignore[union-attr]
        if after >= len(text) or text[after] != "{":
            continue
        try:
            values = _strict.decode("[" + text[start : cut + 1] + "]")
        except (ValueError, RecursionError):  # not whole elements, or hostile: one by one decides
            failed += 1
            if failed >= _FAILED_TRIES:
                return None, cut
            continue
        if _deeper_than(values, MAX_DEPTH + 1):  # one by one refuses the element that is, with where
            return None, cut
        return values, comma + 1
    return None
