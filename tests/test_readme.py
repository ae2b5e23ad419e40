"""Every example in README.md is run by a test, so the README cannot drift from what happens.

How the README marks its examples (new sections follow the same rules; `make test` fails otherwise):

- a ```` ```console ```` block is run here: each ``$ `` line is a command (a line ending in ``\\`` goes
  on), run with bash in a copy of the project (``.venv``, ``examples/``, ``tests/`` ... are there);
  the lines after it, up to the next ``$ ``, are what it prints (standard output and error as a
  terminal shows them); a line ``...`` stands for any number of lines. A command ending in
  ``# exit N`` must exit with N, any other with 0. ```` ```console servers=dev ```` (or ``prod``) runs
  its commands with a moto server and ``chalice local --stage dev`` started on free loopback ports,
  the API's address in ``$API``.
- a ```` ```LANG file=PATH ```` block must be exactly the content of that file of the repository;
- any other shell block (```` ```sh ````, ``bash``, ``shell``) needs, on the line before it, either
  ``<!-- run by: tests/test_x.py::test_name[, ...] -->`` (a test that runs what it shows: checked to
  exist; a file alone, ``tests/test_x.py``, when that file's tests find the block themselves, e.g.
  ``<!-- audit-examples: run by tests/test_audit_readme.py -->``) or ``<!-- not run: why -->`` (it
  needs a real AWS account, say so).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_run import ROOT, user_env

README = ROOT / "README.md"
SHELLS = {"sh", "bash", "shell", "zsh", "console"}
FENCE = re.compile(r"^```(?P<info>[^`]*)$")
MARK = re.compile(r"^<!-- (?:[\w-]+: )?(?P<kind>run by|not run):? (?P<what>.+?) -->$")
EXIT = re.compile(r"\s+# exit (?P<code>\d+)\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    attrs: dict[str, str]
    body: list[str]
    mark: tuple[str, str] | None

    @property
    def where(self) -> str:
        return f"README.md line {self.line}"


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        info = fence["info"].split()
        lang, attrs = (info[0] if info else ""), dict(a.split("=", 1) for a in info[1:] if "=" in a)
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marked = MARK.match(before.strip())
        mark = (marked["kind"], marked["what"]) if marked else None
        found.append(Block(index + 1, lang, attrs, lines[index + 1 : end], mark))
        index = end + 1
    return found


ALL = blocks(README.read_text())
CONSOLE = [b for b in ALL if b.lang == "console"]


@dataclass(frozen=True)
class Step:
    command: str
    expected: list[str]
    code: int


def steps(block: Block) -> list[Step]:
    found: list[Step] = []
    lines = list(block.body)
    while lines:
        line = lines.pop(0)
        assert line.startswith("$ "), f"{block.where}: output before the first command: {line!r}"
        command = line[2:]
        while command.endswith("\\") and lines:
            command = command + "\n" + lines.pop(0)
        expected: list[str] = []
        while lines and not lines[0].startswith("$ "):
            expected.append(lines.pop(0))
        code = EXIT.search(command)
        found.append(Step(command, expected, int(code["code"]) if code else 0))
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; ``...`` stands for any number of lines (none included)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[skip:]) for skip in range(len(actual) + 1))
    return bool(actual) and expected[0].rstrip() == actual[0].rstrip() and matches(expected[1:], actual[1:])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project where examples may write (``> baseline.schema.json``) without touching it."""
    where = tmp_path_factory.mktemp("readme")
    (where / ".venv").symlink_to(Path(sys.executable).parent.parent)
    for name in (
        "app.py",
        "chalicelib",
        "devtools",
        "examples",
        "tests",
        "pyproject.toml",
        "requirements.txt",
    ):
        (where / name).symlink_to(ROOT / name)
    shutil.copytree(
        ROOT / ".chalice", where / ".chalice", ignore=shutil.ignore_patterns("deployments", "deployed")
    )
    return where


@contextlib.contextmanager
def servers(stage: str | None) -> Iterator[dict[str, str]]:
    if stage is None:
        yield {}
        return
    from devtools.servers import local_aws_and_sgguard

    with local_aws_and_sgguard(stage, timeout=90) as (_, api):
        yield {"API": api.url}


def test_every_shell_example_is_run_or_says_why_not() -> None:
    unmarked = [b.where for b in ALL if b.lang in SHELLS - {"console"} and b.mark is None]
    assert not unmarked, (
        f"shell examples that no test runs: {', '.join(unmarked)}. Make each a ```console block (run and "
        "checked by tests/test_readme.py) or put <!-- run by: tests/...::test_... --> or "
        "<!-- not run: why --> on the line before it"
    )


@pytest.mark.parametrize("block", [b for b in ALL if b.mark and b.mark[0] == "run by"], ids=lambda b: b.where)
def test_the_tests_that_run_an_example_exist(block: Block) -> None:
    assert block.mark is not None
    for named in block.mark[1].split(","):
        path, _, test = named.strip().partition("::")
        source = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
        wanted = re.escape(test) if test else r"test_\w*"
        assert re.search(rf"^def {wanted}\(", source, re.M), f"{block.where}: {named.strip()} not found"


@pytest.mark.parametrize("block", [b for b in ALL if "file" in b.attrs], ids=lambda b: b.where)
def test_a_file_shown_is_the_file_shipped(block: Block) -> None:
    shipped = (ROOT / block.attrs["file"]).read_text()
    assert "\n".join(block.body) + "\n" == shipped, f"{block.where} differs from {block.attrs['file']}"


@pytest.mark.parametrize("block", CONSOLE, ids=lambda b: b.where)
def test_each_console_example_prints_what_the_readme_shows(block: Block, project: Path) -> None:
    env = user_env(HOME=str(project), PYTHONUNBUFFERED="1", COLUMNS="110", PATH=os.environ["PATH"])
    with servers(block.attrs.get("servers")) as extra:
        for step in steps(block):
            done = subprocess.run(
                ["bash", "-c", step.command],
                cwd=project,
                env=env | extra,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
            shown = done.stdout.decode().replace(extra.get("API", "\0"), "$API").split("\n")
            if shown and shown[-1] == "":
                shown.pop()
            assert "Traceback" not in done.stdout.decode()
            assert done.returncode == step.code, f"{block.where}: `{step.command}` exited {done.returncode}"
            assert matches(step.expected, shown), (
                f"{block.where}: `{step.command}` printed:\n"
                + "\n".join(shown)
                + "\n\nthe README shows:\n"
                + "\n".join(step.expected)
            )


def test_the_readme_has_console_examples_for_the_commands() -> None:
    commands = " ".join(s.command for b in CONSOLE for s in steps(b))
    for wanted in ("sgguard baseline validate", "sgguard baseline show", "sgguard replay", "curl -s $API"):
        assert wanted in commands


def test_the_checks_see_drift() -> None:
    """The mechanism itself: an unmarked shell block is found, a changed output does not match."""
    text = "intro\n\n```sh\nrm -rf /\n```\n\n<!-- not run: needs AWS -->\n```sh\naws s3 ls\n```\n"
    found = blocks(text)
    assert [(b.lang, b.mark) for b in found] == [("sh", None), ("sh", ("not run", "needs AWS"))]
    console = blocks("```console servers=prod\n$ a \\\n  b  # exit 3\nx\n...\nz\n$ c\n```\n")[0]
    assert console.attrs == {"servers": "prod"}
    assert steps(console) == [Step("a \\\n  b  # exit 3", ["x", "...", "z"], 3), Step("c", [], 0)]
    assert matches(["x", "...", "z"], ["x", "z"])
    assert matches(["x", "...", "z"], ["x", "1", "2", "z"])
    assert not matches(["x", "...", "z"], ["x", "1", "z", "2"])
    assert not matches(["x"], ["x", "y"])
    assert not matches(["x y"], ["x  y"])
