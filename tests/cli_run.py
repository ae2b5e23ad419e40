"""Run the installed `sgguard` (and `python -m devtools.eventgen`) as a user would: a subprocess with
its exit status, standard output and standard error, and no traceback ever."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SGGUARD = str(BIN / "sgguard")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def user_env(**overrides: str | None) -> dict[str, str]:
    """The test's fake credentials and region (tests/conftest.py), nothing from the developer's own
    configuration; ``None`` removes a variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata service
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def no_traceback(ran: Ran) -> Ran:
    assert "Traceback" not in ran.err, ran.err
    assert "Traceback" not in ran.out, ran.out
    return ran


def run(
    *args: str,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str = ROOT,
    timeout: float = 120,
) -> Ran:
    """``sgguard ARGS...``; stdin is empty unless given."""
    return run_command([SGGUARD, *args], stdin=stdin, env=env, cwd=cwd, timeout=timeout)


def run_command(
    command: list[str],
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | str = ROOT,
    timeout: float = 120,
) -> Ran:
    data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
    done = subprocess.run(
        command, input=data, capture_output=True, env=env or user_env(), cwd=cwd, timeout=timeout, check=False
    )
    return no_traceback(Ran(done.returncode, done.stdout.decode(), done.stderr.decode()))
