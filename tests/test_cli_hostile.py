"""The installed `sgguard` under hostile files and careless hands (issue 10, items 1-4 and 6): each
test runs the command as a subprocess and checks its exit status, standard output and standard
error; none may print a traceback."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_run import SGGUARD, Ran, no_traceback, run, user_env
from tests.conftest import SAMPLES, load_sample

LOG_FILE = SAMPLES / "cloudtrail-log-file.json"
WORLD = "authorize-ingress-all-traffic-world.json"


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --- item 1: every input error is one record's or one file's problem --------------------------------


def test_deep_nesting_is_one_records_error_and_the_run_goes_on(tmp_path: Path) -> None:
    record = json.dumps(load_sample(WORLD)["detail"])
    hostile = write(tmp_path / "a-hostile.json", '{"Records": [' + deep(2000) + ", " + record + "]}")
    ran = run("replay", "--offline", str(hostile), str(LOG_FILE))
    assert ran.code == 1
    assert (
        ran.err
        == f"sgguard: {hostile}: Records[0]: not read: line 1 column 14: nested deeper than 100 levels\n"
    )
    assert "events read   6" in ran.out  # the hostile file's second record and the whole log file
    assert "violations    4" in ran.out
    assert "(+1 unreadable inputs or records)" in ran.out


def test_deep_nesting_as_a_whole_event_and_in_parallel(tmp_path: Path) -> None:
    write(tmp_path / "deep.json", '{"detail": ' + deep(5000) + "}")
    write(tmp_path / "ok.json", LOG_FILE.read_text())
    for jobs in ("1", "2"):
        ran = run("replay", "--offline", "--jobs", jobs, "--format", "jsonl", str(tmp_path))
        assert ran.code == 1
        assert (
            f"{tmp_path / 'deep.json'}: not read: line 1 column 1: nested deeper than 100 levels" in ran.err
        )
        assert len(ran.out.splitlines()) == 3  # the log file's three rule changes


def test_nan_and_infinity_are_not_json(tmp_path: Path) -> None:
    record = json.dumps(load_sample(WORLD)["detail"])
    path = write(tmp_path / "nan.json", '{"Records": [NaN, {"eventName": -Infinity}, ' + record + "]}")
    ran = run("replay", "--offline", "--format", "jsonl", str(path))
    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"sgguard: {path}: Records[0]: not read: line 1 column 14: NaN is not JSON "
        "(JSON has no NaN or Infinity)",
        f"sgguard: {path}: Records[1]: not read: line 1 column 19: -Infinity is not JSON "
        "(JSON has no NaN or Infinity)",
    ]
    assert [json.loads(line)["outcome"] for line in ran.out.splitlines()] == ["violation"]


def test_a_huge_string_is_decoded_once(tmp_path: Path) -> None:
    """30 M characters in a 30 KB gzip file: read (and judged invalid) in one pass; `make bench`
    measures the time (seconds, where re-parsing after every 1 MiB refill took a minute)."""
    event = load_sample(WORLD)
    event["detail"]["eventTime"] = "x" * 30_000_000
    path = write(tmp_path / "huge.json.gz", gzip.compress(json.dumps(event).encode(), 9))
    assert path.stat().st_size < 100_000
    ran = run("replay", "--offline", "--format", "jsonl", str(path), timeout=300)
    assert ran.code == 1
    [decision] = [json.loads(line) for line in ran.out.splitlines()]
    assert decision["outcome"] == "invalid"
    assert "detail.eventTime" in decision["reason"]


def test_a_fifo_a_socket_and_a_broken_link_in_a_directory(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    write(trail / "a.json", LOG_FILE.read_text())
    os.mkfifo(trail / "pipe.json")  # opened, it would block the run forever
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(trail / "sock.json"))
    os.symlink(tmp_path / "gone.json", trail / "z-broken.json")
    try:
        ran = run("replay", "--offline", str(trail), timeout=60)
    finally:
        listener.close()
    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"sgguard: {trail / 'pipe.json'}: skipped: a named pipe (FIFO), not a regular file",
        f"sgguard: {trail / 'sock.json'}: skipped: a socket, not a regular file",
        f"sgguard: {trail / 'z-broken.json'}: a broken symbolic link (to {tmp_path / 'gone.json'}, "
        "which does not exist)",
    ]
    assert "events read   5" in ran.out


def test_a_named_pipe_on_the_command_line_is_read(tmp_path: Path) -> None:
    """`sgguard replay --offline <(zcat old.json.gz)`: the operator named it, so it is read."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [SGGUARD, "replay", "--offline", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=user_env(),
    )
    with open(fifo, "wb") as writer:
        writer.write(LOG_FILE.read_bytes())
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err.decode()) == (0, "")
    assert "events read   5" in out.decode()


# --- item 2: text output is safe on a terminal --------------------------------------------------------


def _unsafe(char: str) -> bool:
    code = ord(char)
    return (code < 0x20 and char != "\n") or 0x7F <= code < 0xA0 or char == "\u202e"


def test_control_characters_are_escaped_in_the_table(tmp_path: Path) -> None:
    event = load_sample(WORLD)
    detail = event["detail"]
    detail["requestParameters"]["groupId"] = "sg-0a1b2c3d4e5f60718\x1b[2J"
    item = detail["responseElements"]["securityGroupRuleSet"]["items"][0]
    item["groupId"] = "sg-0a1b2c3d4e5f60718\x1b[2J"
    item["securityGroupRuleId"] = "sgr-035a8e56b1e097d50\x1b]0;title\x07\r\u202e\x9b"
    path = write(tmp_path / "escapes\x1b[31m.json", json.dumps(event))
    ran = run("replay", "--offline", str(path), str(tmp_path / "missing\x1b[2J"))
    for text in (ran.out, ran.err):
        assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in text)
    assert "sg-0a1b2c3d4e5f60718\\x1b[2J" in ran.out
    assert "sgr-035a8e56b1e097d50\\x1b]0;title\\x07\\x0d\\u202e\\x9b" in ran.out
    assert "missing\\x1b[2J: no such file or directory" in ran.err
    jsonl = run("replay", "--offline", "--format", "jsonl", str(path))  # JSON escapes them itself
    assert json.loads(jsonl.out)["group_id"] == "sg-0a1b2c3d4e5f60718\x1b[2J"


# --- item 3: interrupts and empty runs ------------------------------------------------------------------


def _start(command: list[str], tmp_path: Path, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """In a session of its own, as a terminal's foreground job; output to files, never a full pipe."""
    return subprocess.Popen(
        command,
        stdin=stdin,
        stdout=(tmp_path / "out").open("wb"),
        stderr=(tmp_path / "err").open("wb"),
        env=user_env(),
        start_new_session=True,
    )


def _interrupt(process: subprocess.Popen[bytes], tmp_path: Path) -> tuple[Ran, float]:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    took = time.monotonic() - started
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    return no_traceback(Ran(process.returncode, out, err)), took


def _group_is_gone(group: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        members = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                if fields[0] != "Z" and int(fields[2]) == group:
                    members.append(entry)
        if not members:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_prints_one_line_and_the_partial_summary(tmp_path: Path) -> None:
    records = "\n".join(json.dumps(load_sample(WORLD)) for _ in range(600))  # > 1 MiB: a chunk is judged
    process = _start([SGGUARD, "replay", "--offline", "-"], tmp_path, stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(records.encode() + b"\n")
    process.stdin.flush()  # and left open: the replay waits for more
    time.sleep(3)
    ran, took = _interrupt(process, tmp_path)
    process.stdin.close()
    assert ran.code == 130
    [line] = [line for line in ran.err.splitlines() if line]
    assert line.startswith("sgguard: interrupted after ")
    assert line.endswith("the summary covers only those")
    assert "events read   " in ran.out
    read = int(ran.out.split("events read")[1].split()[0])
    assert 0 < read <= 600
    assert took < 5


def test_ctrl_c_with_jobs_stops_the_workers(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    detail = load_sample(WORLD)["detail"]
    big.write_text('{"Records": [' + ",\n".join(json.dumps(detail) for _ in range(5000)) + "]}")
    assert big.stat().st_size > 8 << 20  # big enough to go parallel
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)  # named on the command line, so read: its worker waits for a writer forever
    process = _start([SGGUARD, "replay", "--offline", "--jobs", "2", str(big), str(fifo)], tmp_path)
    time.sleep(8)  # the big file judged, the pipe's worker waiting
    assert process.poll() is None, (tmp_path / "err").read_text()
    ran, took = _interrupt(process, tmp_path)
    assert ran.code == 130
    assert [line for line in ran.err.splitlines() if line] == [
        "sgguard: interrupted after 5,000 events; the summary covers only those"
    ]
    assert "events read   5000" in ran.out
    assert took < 5
    assert _group_is_gone(process.pid), "a worker outlived the replay"


def test_no_events_read_is_a_warning_naming_the_inputs(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.json", "")
    notes = write(tmp_path / "notes" / "readme.txt", "not a log file")
    ran = run("replay", "--offline", str(empty), str(notes.parent))
    assert ran.code == 0
    assert ran.err.splitlines() == [
        f"sgguard: {empty}: held no events (empty)",
        f"sgguard: {notes.parent}: no log files in this directory (*.json, *.json.gz, *.jsonl, *.jsonl.gz)",
        f"sgguard: warning: no events were read (nothing in {empty}, {notes.parent})",
    ]
    assert "events read   0" in ran.out


# --- item 4: live replay checks its footing first --------------------------------------------------------


def test_live_replay_without_credentials_is_one_line_and_exit_2() -> None:
    env = user_env(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    ran = run("replay", str(LOG_FILE), env=env)
    assert ran.code == 2
    assert ran.out == ""  # not even the table's heading: no event was read
    assert ran.err == (
        "sgguard: a replay without --offline reads AWS with your credentials: no AWS credentials were "
        "found; use --offline to judge without AWS\n"
    )


def test_live_replay_that_cannot_reach_aws_is_one_line_and_exit_2() -> None:
    ran = run("replay", str(LOG_FILE), env=user_env(AWS_ENDPOINT_URL="http://127.0.0.1:9"))
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.startswith(
        "sgguard: a replay without --offline reads AWS with your credentials: AWS could"
    )
    assert len(ran.err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "2"], "--jobs works with --offline only"),
        (["--offline", "--mode", "enforce"], "--mode enforce needs AWS: it cannot be --offline"),
        (["--offline", "--notify", "arn:aws:sns:eu-west-1:111122223333:t"], "--notify needs AWS"),
        (
            ["--notify", "my-topic"],
            "--notify: 'my-topic' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        ),
        (["--format", "table"], "argument --format: invalid choice: 'table' (choose from 'text', 'jsonl')"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(args: list[str], message: str) -> None:
    ran = run("replay", *args, str(LOG_FILE))
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.startswith("usage: sgguard replay")
    assert message in ran.err
    assert "NOTIFY_TOPIC_ARN" not in ran.err  # the flag's name, not the setting behind it


# --- item 6: errors speak the user's words -----------------------------------------------------------------


def test_input_errors_name_the_path_once_and_never_errno(tmp_path: Path) -> None:
    unreadable = write(tmp_path / "secret.json", "{}")
    unreadable.chmod(0)
    ran = run("replay", "--offline", "s3://", str(tmp_path / "nope.json"), str(unreadable))
    assert ran.code == 1
    lines = ran.err.splitlines()
    assert lines[0] == "sgguard: s3://: expected s3://bucket/prefix"
    assert lines[1] == f"sgguard: {tmp_path / 'nope.json'}: no such file or directory"
    if os.geteuid() != 0:  # root reads it anyway
        assert lines[2] == f"sgguard: {unreadable}: permission denied"
    assert "Errno" not in ran.err


def test_record_errors_name_the_field_and_what_was_expected(tmp_path: Path) -> None:
    detail = load_sample(WORLD)["detail"]
    broken = [
        None,
        {**detail, "eventTime": None},
        {**detail, "requestParameters": {**detail["requestParameters"], "ipPermissions": [1]}},
    ]
    path = write(tmp_path / "log.json", json.dumps({"Records": broken}))
    ran = run("replay", "--offline", "--format", "jsonl", str(path))
    assert ran.code == 1
    assert ran.err.splitlines() == [
        f"sgguard: {path}: Records[0]: invalid: (event): expected a JSON object, found null",
        f"sgguard: {path}: Records[1]: invalid: eventTime: expected a date and time (ISO 8601), found null",
    ]
    # AWS's own rule set says what was created: the malformed request is noted, never a reason to drop it
    judged = json.loads(ran.out.splitlines()[-1])
    assert judged["outcome"] == "violation"
    assert judged["event_errors"] == ["requestParameters.ipPermissions: expected an object, found a list"]
    for internal in ("NoneType", "instance of", "OtherRecord", "AuthorizeRecord", "Input should"):
        assert internal not in ran.err + ran.out


def test_baseline_errors_of_replay_are_usage_errors_in_words(tmp_path: Path) -> None:
    latin1 = write(tmp_path / "latin1.toml", 'name = "caf\xe9"\n'.encode("latin-1"))
    ran = run("replay", "--offline", "--baseline", str(latin1), str(LOG_FILE))
    assert ran.code == 2
    assert ran.err == f"sgguard: {latin1}: not UTF-8 text: byte 0xe9 on line 1 (TOML files are UTF-8)\n"
    ran = run("replay", "--offline", "--baseline", str(tmp_path / "nope.toml"), str(LOG_FILE))
    assert ran.code == 2
    assert ran.err == (
        f"sgguard: {tmp_path / 'nope.toml'}: "
        "neither a preset (aws-foundational, cis, strict) nor an existing file\n"
    )


def test_the_route_answers_400_for_what_the_command_refuses() -> None:
    from tests.test_http_api import call

    for body, words in [
        ('{"Records": [' + deep(2000) + "]}", "nested deeper than 100 levels"),
        ('{"Records": [NaN]}', "NaN is not JSON"),
        ('{"detail": {"x": Infinity}}', "Infinity is not JSON"),
    ]:
        status, answer = call("dev", "POST", "/replay", body)
        assert (status, answer["message"]) == (
            400,
            f"the body is not JSON: line 1 column 1: {words}"
            + (" (JSON has no NaN or Infinity)" if "JSON" in words else ""),
        )


def test_broken_gzip_files_are_one_line_each(tmp_path: Path) -> None:
    packed = gzip.compress(LOG_FILE.read_bytes())
    corrupt = bytearray(packed)
    corrupt[30] ^= 0xFF
    corrupt[31] ^= 0xFF
    files = {
        "not-gzip.json.gz": b"\x1f\x8b\x08\x00not really gzip",
        "truncated.json.gz": packed[: len(packed) // 2],
        "corrupt.json.gz": bytes(corrupt),
    }
    for name, data in files.items():
        write(tmp_path / name, data)
    ran = run("replay", "--offline", *(str(tmp_path / name) for name in files))
    assert ran.code == 1
    lines = ran.err.splitlines()
    assert len(lines) == 4
    for line, name in zip(lines, files, strict=False):
        assert line.startswith(f"sgguard: {tmp_path / name}: broken gzip: ")
    assert lines[3] == "sgguard: warning: no events were read (3 could not be read)"
    assert "Error -3" not in ran.err


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=300),
    st.sampled_from([b"", b"\x1f\x8b", b"\x1f\x8b\x08\x00", b'{"Records": [', b"\xef\xbb\xbf"]),
)
def test_any_bytes_are_events_or_one_error_never_a_crash(data: bytes, head: bytes) -> None:
    """In process, for speed: whatever a file holds, reading it yields events, an unreadable note or
    nothing, and never raises."""
    import io

    from chalicelib import sources

    for item in sources._decode("f.json", io.BufferedReader(io.BytesIO(head + data))):  # type: ignore[arg-type]
        assert isinstance(item, sources.Event | sources.Unreadable)


def test_a_folder_that_cannot_be_listed_is_an_error_for_that_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.walk passes over a folder it cannot list; the replay says so (in process: as root, which
    the tests may run as, every folder can be listed)."""
    from chalicelib import sources

    write(tmp_path / "trail" / "a.json", LOG_FILE.read_text())
    walk = os.walk

    def refusing(top: str, onerror: Any = None, **kwargs: Any) -> Any:
        error = PermissionError(13, "Permission denied")
        error.filename = str(tmp_path / "trail" / "locked")
        onerror(error)
        return walk(top, onerror=onerror, **kwargs)

    monkeypatch.setattr(sources.os, "walk", refusing)
    found = list(sources.inputs([str(tmp_path / "trail")]))
    assert found[0] == sources.Unreadable(
        str(tmp_path / "trail" / "locked"), "cannot be listed: permission denied"
    )
    assert [i.name for i in found[1:] if isinstance(i, sources.Input)] == [str(tmp_path / "trail" / "a.json")]
