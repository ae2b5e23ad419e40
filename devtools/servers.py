"""A local AWS and a local sgguard on loopback, for the demo and the end-to-end test: a moto server and
`chalice local --stage <stage>` pointed at it, each a subprocess in its own process group.

Both stop however the caller ends (normal exit, exception, Ctrl-C, SIGTERM): the context manager kills
each process group in ``finally``. Every client involved gets fake credentials and a loopback
endpoint, so nothing can reach a real AWS account.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "111122223333"
REGION = "eu-west-1"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "MOTO_ACCOUNT_ID": ACCOUNT,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_LEAKS = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE", "AWS_CA_BUNDLE")


def fake_aws_environ(endpoint: str | None = None) -> dict[str, str]:
    """This process's environment with every AWS setting replaced by fake, loopback ones."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKS}
    env.update(FAKE_AWS)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


class ServerFailed(RuntimeError):
    pass


def _start(
    name: str, argv: list[str], env: dict[str, str], url: str, logs: Path, started: list[Server]
) -> Server:
    """Start a server in its own process group and record it in ``started`` at once, so the caller's
    ``finally`` stops it even when an interrupt arrives right after."""
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        started.append(
            Server(
                name,
                url,
                subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                ),
                log,
            )
        )
    return started[-1]


def _wait_until_answering(server: Server, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.name} exited ({server.process.returncode}):\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; the status does not matter here
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise ServerFailed(f"{server.name} did not answer within the time limit:\n{server.log_tail()}")


def _start_moto(logs: Path, started: list[Server], deadline: float) -> Server:
    port = free_port()
    moto = _start(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        fake_aws_environ(),
        f"http://127.0.0.1:{port}",
        logs,
        started,
    )
    _wait_until_answering(moto, "/moto-api/", deadline)
    return moto


@contextlib.contextmanager
def moto_server(timeout: float = 60.0) -> Iterator[Server]:
    """A moto server alone on loopback (every account it is asked for: credentials from an
    AssumeRole act in the role's account), stopped on the way out."""
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="sgguard-moto-") as logs:
        try:
            yield _start_moto(Path(logs), servers, time.monotonic() + timeout)
        finally:
            for server in servers:
                server.stop()


@contextlib.contextmanager
def local_aws_and_sgguard(stage: str = "dev", timeout: float = 60.0) -> Iterator[tuple[Server, Server]]:
    """(moto server, chalice local), both answering on loopback; both stopped on the way out."""
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="sgguard-servers-") as logs:
        try:
            deadline = time.monotonic() + timeout
            moto = _start_moto(Path(logs), servers, deadline)
            api_port = free_port()
            chalice = str(Path(sys.executable).parent / "chalice")
            where = ["--host", "127.0.0.1", "--port", str(api_port)]
            api = _start(
                "chalice-local",
                [chalice, "local", "--stage", stage, "--no-autoreload", *where],
                fake_aws_environ(endpoint=moto.url) | {"PYTHONUNBUFFERED": "1"},
                f"http://127.0.0.1:{api_port}",
                Path(logs),
                servers,
            )
            _wait_until_answering(api, "/health", deadline)
            yield moto, api
        finally:
            for server in reversed(servers):
                server.stop()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` blocks (stopping the servers) run for both."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
