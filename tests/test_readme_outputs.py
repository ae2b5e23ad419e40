"""README "Where security teams look" shows what the renderers really make of the sample event: each
example block is rendered again here and compared, so an example cannot drift from the code."""

from __future__ import annotations

import json
import re

import pytest

from devtools.output_examples import examples
from tests.conftest import ROOT
from tests.test_output_renderers import check_asff, check_chat

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"<!-- output-example: (?P<name>\w+) -->\n```json\n(?P<body>.*?)\n```", re.DOTALL)


def shown() -> dict[str, object]:
    return {m["name"]: json.loads(m["body"]) for m in BLOCK.finditer(README)}


def test_the_readme_shows_one_example_of_each_output() -> None:
    assert set(shown()) == {"finding", "chat", "event"}


@pytest.mark.parametrize("name", ["finding", "chat", "event"])
def test_each_example_is_what_the_renderer_makes(name: str) -> None:
    assert shown()[name] == examples()[name]


def test_the_examples_are_valid_for_their_schemas() -> None:
    check_asff(examples()["finding"])  # type: ignore[arg-type]
    check_chat(examples()["chat"])  # type: ignore[arg-type]


@pytest.mark.parametrize("setting", ["SECURITY_HUB", "CHAT_TOPIC", "CHAT_TOPIC_ARN", "EVENTBRIDGE"])
def test_the_readme_says_how_to_switch_each_output(setting: str) -> None:
    settings_table = README.split("## Modes and settings")[1].split("\n## ")[0]
    assert f"`{setting}`" in settings_table
    section = README.split("## Where security teams look")[1].split("\n## ")[0]
    assert f"`{setting}`" in section
