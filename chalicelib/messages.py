"""Validation errors in the words of whoever wrote the file or the event.

pydantic speaks of its own implementation: "Input should be a valid dictionary or instance of
OtherRecord", "Extra inputs are not permitted", "Field required". The person who wrote a baseline
or an event knows fields and values, so each error becomes what was expected and what was found
(``expected a whole number, found a string "x"``), an unknown key is named with the closest known
one, and a Python type name ("NoneType") never appears.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "a date (YYYY-MM-DD) without a time",
    "datetime_type": "a date and time (ISO 8601)",
    "datetime_parsing": "a date and time (ISO 8601)",
    "datetime_from_date_parsing": "a date and time (ISO 8601)",
}


def kind(value: Any, toml: bool = False) -> str:
    """What a value is, as its author wrote it: ``a string "x"``, ``null``, ``an object``."""
    if value is None:
        return "nothing" if toml else "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, Mapping):
        return "a table" if toml else "an object"
    if isinstance(value, list | tuple):
        return "an array" if toml else "a list"
    if isinstance(value, datetime | date):
        return f"the date {value.isoformat()}"
    return "a value of another kind"


def error_words(error: Mapping[str, Any], known: Iterable[str] = (), toml: bool = False) -> str:
    """One pydantic error (``ValidationError.errors()`` item) as a sentence; ``known`` are the keys
    allowed where an unknown one was found, to suggest the nearest."""
    kind_of = error["type"]
    found = error.get("input")
    if kind_of == "missing":
        return "required, but missing"
    if kind_of == "extra_forbidden":
        name = str(error["loc"][-1]) if error.get("loc") else ""
        allowed = sorted(known)
        near = difflib.get_close_matches(name, allowed, n=1)
        if near:
            return f"unknown field (did you mean {near[0]}?)"
        return "unknown field" + (f" (known: {', '.join(allowed)})" if allowed else "")
    expected = _EXPECTED.get(kind_of)
    if expected is not None:
        return f"expected {expected}, found {kind(found, toml)}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return f"expected {message.removeprefix('Input should be ')}, found {kind(found, toml)}"
    if kind_of == "string_pattern_mismatch":
        return f"{kind(found, toml)} is not of the expected form ({message.removeprefix('String should ')})"
    return message
