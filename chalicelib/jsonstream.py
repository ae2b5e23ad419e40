"""Incremental JSON reading in bounded memory, with the standard library only.

A trail's log file is one object, ``{"Records": [...]}``; read whole, a 1 GB file costs several GB of
Python objects. Here the records array is decoded one element at a time with
``json.JSONDecoder.raw_decode`` over a sliding buffer of chunks, so memory holds one chunk and one
record. Any other top-level value (an EventBridge event, a bare record) is decoded whole, and several
top-level values in a row (JSON Lines, concatenated events) are read one after the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

CHUNK_CHARS = 1 << 20
MAX_VALUE_CHARS = 256 << 20
"""One record larger than this is refused instead of growing the buffer without bound."""

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_RECORDS_HEAD = re.compile(r'\{[ \t\n\r]*"Records"[ \t\n\r]*:[ \t\n\r]*\[')
_HEAD_LOOKAHEAD = 4096
_TRUNCATION_MARGIN = 16  # `-Infinity`, a `\uXXXX` escape or a number cut by a chunk boundary
_decoder = json.JSONDecoder()


class JsonStreamError(ValueError):
    """The text is not JSON; the message says where (line, column) and what was expected."""


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded value: ``index`` is its place in ``Records`` (None outside a log file)."""

    index: int | None
    value: Any


class _Buffer:
    def __init__(self, stream: TextIO, chunk_chars: int) -> None:
        self._stream = stream
        self._chunk = chunk_chars
        self.text = ""
        self.pos = 0
        self.eof = False
        self._lines_before = 0  # newlines in the text already dropped from the buffer

    def fill(self) -> bool:
        """Append a chunk, dropping what has been consumed; False at the end of the input."""
        if self.eof:
            return False
        chunk = self._stream.read(self._chunk)
        if not chunk:
            self.eof = True
            return False
        self._lines_before += self.text.count("\n", 0, self.pos)
        self.text = self.text[self.pos :] + chunk
        self.pos = 0
        return True

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
        self.peek()  # raw_decode does not skip leading whitespace
        while True:
            try:
                value, end = _decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                if self._maybe_cut(error) and len(self.text) - self.pos < MAX_VALUE_CHARS and self.fill():
                    continue
                raise self.error(error.msg, error.pos) from None
            self.pos = end
            return value

    def _maybe_cut(self, error: json.JSONDecodeError) -> bool:
        """Did decoding fail only because the value goes on past the buffer's end?"""
        return error.msg.startswith("Unterminated string") or error.pos >= len(self.text) - _TRUNCATION_MARGIN

    def error(self, message: str, pos: int | None = None) -> JsonStreamError:
        at = self.pos if pos is None else pos
        line = self._lines_before + self.text.count("\n", 0, at) + 1
        column = at - self.text.rfind("\n", 0, at)
        return JsonStreamError(f"line {line} column {column}: {message}")


def values(stream: TextIO, chunk_chars: int = CHUNK_CHARS) -> Iterator[Value]:
    """Every value of the text, with a log file's ``Records`` yielded one by one.

    Raises :class:`JsonStreamError` at the first syntax error; what was yielded before stays valid.
    """
    buffer = _Buffer(stream, chunk_chars)
    while buffer.peek():
        if buffer.at_records_head():
            yield from _records(buffer)
        else:
            yield Value(None, buffer.decode())


def _records(buffer: _Buffer) -> Iterator[Value]:
    index = 0
    if buffer.peek() != "]":
        while True:
            yield Value(index, buffer.decode())
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


def records_between_cuts(
    stream: TextIO, first: bool, last: bool, chunk_chars: int = CHUNK_CHARS
) -> Iterator[Any]:
    """The records of one piece of a log file cut just before records (chalicelib/parallel.py): the first
    piece holds the head ``{"Records": [``, the last one the closing ``]}``, every other piece ends with
    the comma after its last record. Anything else raises :class:`JsonStreamError`, which means the cut
    was not where a record of the top-level array starts (or the text is broken): the caller then reads
    the file from its start instead, so a wrong guess costs time, never a different answer."""
    buffer = _Buffer(stream, chunk_chars)
    if first and not (buffer.peek() and buffer.at_records_head()):
        raise buffer.error('expected {"Records": [ at the start of a log file')
    while True:
        yield buffer.decode()
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
