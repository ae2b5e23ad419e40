"""Text for a terminal: what a hostile value must not be able to do to the operator's screen.

Group ids, rule ids, descriptions, file names and baseline texts come from people the operator does
not control. Printed raw, ``ESC[2J`` clears the screen, ``ESC]0;...BEL`` retitles the window, a
carriage return overwrites a line, and a right-to-left override reverses what follows. Every value
a text output shows goes through :func:`printable`: control characters (C0, DEL, C1), the Unicode
line separators and the bidirectional controls become visible escapes (``\\x1b``, ``\\u202e``).
JSON output needs none of this: its encoder escapes control characters itself.
"""

from __future__ import annotations

_C0_C1 = [*range(0x20), 0x7F, *range(0x80, 0xA0)]
_UNICODE = [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES: dict[int, str] = {
    **{code: f"\\x{code:02x}" for code in _C0_C1},
    **{code: f"\\u{code:04x}" for code in _UNICODE},
}


def printable(text: str) -> str:
    """``text`` with every control character as a visible escape (one C-level pass)."""
    return text.translate(_ESCAPES)


def printable_lines(text: str) -> str:
    """Each line of ``text`` made printable, keeping the line breaks the program itself wrote."""
    return "\n".join(printable(line) for line in text.split("\n"))
