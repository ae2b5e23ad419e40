"""Validation errors in the author's words: what was expected, what was found, the nearest known key;
never a class or type name of the implementation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.messages import error_words, kind


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int
    name: str = "x"
    tags: list[str] = []
    inner: _Rule | None = None


_Rule.model_rebuild()


def _words(data: dict[str, Any], toml: bool = False) -> list[str]:
    with pytest.raises(ValidationError) as error:
        _Rule.model_validate(data)
    return [error_words(e, _Rule.model_fields, toml=toml) for e in error.value.errors()]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, ["required, but missing"]),
        ({"port": None}, ["expected a whole number, found null"]),
        ({"port": "22x"}, ["expected a whole number, found the string '22x'"]),
        ({"port": 1, "name": 3}, ["expected a string, found the number 3"]),
        ({"port": 1, "tags": {}}, ["expected a list, found an object"]),
        ({"port": 1, "inner": 5}, ["expected an object, found the number 5"]),
        ({"port": 1, "prot": 2}, ["unknown field (did you mean port?)"]),
        ({"port": 1, "zzz": 2}, ["unknown field (known: inner, name, port, tags)"]),
    ],
)
def test_errors_say_what_was_expected_and_found(data: dict[str, Any], words: list[str]) -> None:
    assert _words(data) == words
    for internal in ("Input should", "NoneType", "instance of", "_Rule", "Extra inputs", "Field required"):
        assert all(internal not in w for w in _words(data))


def test_toml_words_and_long_values() -> None:
    assert _words({"port": 1, "inner": {"port": 1, "tags": {}}}, toml=True) == [
        "expected a list, found a table"
    ]
    assert kind("y" * 100) == "the string '" + "y" * 37 + "...'"
    assert kind(None, toml=True) == "nothing"
    assert kind(True) == "true"
