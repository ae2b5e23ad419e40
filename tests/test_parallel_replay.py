"""`sgguard replay --offline` on several processes says exactly what the sequential replay says: the same
bytes on stdout in the same order, the same stderr messages naming file, record and field, the same
exit status; and a big log file is only ever cut where one of its records starts."""

from __future__ import annotations

import gzip
import io
import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import jsonstream, parallel
from chalicelib.cli import main
from chalicelib.events import RULE_CHANGE_EVENTS
from devtools.eventgen import synthetic_records
from tests.conftest import SAMPLES

Run = tuple[int, str, str]


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few MB cut into many pieces, so that the tests are fast and every piece boundary is exercised."""
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "PIECE_BYTES", 256 << 10)


@pytest.fixture
def went_parallel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many pieces each replay gave to worker processes (a replay that stayed sequential: none)."""
    counts: list[int] = []
    results = parallel.results

    def counting(pieces: list[Any], *args: Any) -> Iterator[Any]:
        counts.append(sum(isinstance(p, parallel.Piece) for p in pieces))
        return results(pieces, *args)

    monkeypatch.setattr(parallel, "results", counting)
    return counts


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(["replay", "--offline", *args])
    out, err = capsys.readouterr()
    return code, out, err


def both_ways(capsys: pytest.CaptureFixture[str], went_parallel: list[int], *args: str) -> Run:
    """The run on two processes, after checking it equals the sequential one in every byte."""
    sequential = replay(capsys, "--jobs", "1", *args)
    assert went_parallel == []
    in_parallel = replay(capsys, "--jobs", "2", *args)
    assert went_parallel, "the parallel path was not taken"
    assert went_parallel[0] > 1, "nothing was given to a second process"
    assert in_parallel == sequential
    return in_parallel


def log_file(
    records: list[dict[str, Any]], indent: int | None = None, comma: str = ", "
) -> tuple[bytes, list[int]]:
    """A trail's log file and the byte offset where each of its records starts."""
    parts, starts, at = [b'{"Records": ['], [], len('{"Records": [')
    for index, record in enumerate(records):
        separator = comma.encode() if index else b""
        body = json.dumps(record, indent=indent, ensure_ascii=False).encode()
        starts.append(at + len(separator))
        parts += [separator, body]
        at += len(separator) + len(body)
    return b"".join([*parts, b"]}\n"]), starts


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return synthetic_records(500, max_rules=25)


def middle_rule_change(records: list[dict[str, Any]]) -> int:
    return next(
        i
        for i in range(len(records) // 2, len(records))
        if records[i]["eventName"] in RULE_CHANGE_EVENTS and not records[i].get("errorCode")
    )


def test_a_directory_of_small_files(capsys: pytest.CaptureFixture[str], went_parallel: list[int]) -> None:
    for output in ("text", "jsonl"):
        code, out, err = both_ways(capsys, went_parallel, "--format", output, str(SAMPLES), "missing.json")
        went_parallel.clear()
        assert code == 1
        assert err == "sgguard: missing.json: no such file or directory\n"
        assert "violation" in out


@pytest.mark.parametrize("indent", [None, 2])
def test_one_big_log_file_is_cut_and_reads_alike(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
    indent: int | None,
) -> None:
    path = tmp_path / "trail.json"
    path.write_bytes(log_file(records, indent, ",\n  ")[0])
    assert path.stat().st_size > 2 << 20  # about 9 pieces
    for output in ("jsonl", "text"):
        code, out, err = both_ways(capsys, went_parallel, "--format", output, str(path))
        went_parallel.clear()
        assert (code, err) == (0, "")
        assert out.count("\n") > len(records) // 2


def test_a_malformed_record_in_the_middle_is_named_and_the_rest_is_read(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    broken = [dict(r) for r in records]
    middle = middle_rule_change(broken)
    del broken[middle]["eventTime"]
    path = tmp_path / "trail.json"
    path.write_bytes(log_file(broken)[0])
    code, out, err = both_ways(capsys, went_parallel, "--format", "text", str(path))
    assert code == 1
    assert err == f"sgguard: {path}: Records[{middle}]: invalid: eventTime: required, but missing\n"
    assert f"events read   {len(records)}" in out


def test_a_syntax_error_in_the_middle_stops_that_file_where_the_sequential_replay_stops(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    text, starts = log_file(records, indent=1)
    at = starts[len(records) // 2]
    path = tmp_path / "trail.json"
    path.write_bytes(text[:at] + b"{" + text[at:])  # `{{"eventVersion"...`
    code, out, err = both_ways(capsys, went_parallel, "--format", "jsonl", str(path), str(SAMPLES))
    assert code == 1
    assert err.startswith(f"sgguard: {path}: not JSON: line ")
    assert out.count("\n") > len(records) // 3


def test_a_file_without_record_markers_is_read_whole(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    sorted_keys = tmp_path / "sorted.json"  # "awsRegion" comes first: no `{"eventVersion"` anywhere
    sorted_keys.write_text(json.dumps({"Records": records}, sort_keys=True))
    lines = tmp_path / "events.jsonl"  # several top-level values
    lines.write_text("\n".join(json.dumps(r) for r in records[:50]))
    size = sorted_keys.stat().st_size
    assert parallel.split(str(sorted_keys), size, 8) == [parallel.Piece(str(sorted_keys))]
    assert parallel.split(str(lines), lines.stat().st_size, 8) == [parallel.Piece(str(lines))]
    code, _, err = both_ways(capsys, went_parallel, "--format", "jsonl", str(tmp_path))
    assert (code, err) == (0, "")


def test_gzip_files_are_read_whole(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    text = log_file(records)[0]
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(text))
    (tmp_path / "b.json").write_bytes(text)
    gz = str(tmp_path / "a.json.gz")
    assert parallel.split(gz, os.path.getsize(gz), 8) == [parallel.Piece(gz)]
    code, out, err = both_ways(capsys, went_parallel, "--format", "text", str(tmp_path))
    assert (code, err) == (0, "")
    assert f"events read   {2 * len(records)}" in out


def test_a_cut_inside_a_record_costs_time_not_a_different_answer(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    nested = [{**r, "additionalEventData": [{"eventVersion": str(i)} for i in range(30)]} for r in records]
    text, starts = log_file(nested)
    path = tmp_path / "trail.json"
    path.write_bytes(text)
    cuts = parallel.find_cuts(str(path), len(text), 16)
    assert set(cuts) - set(starts), "no cut fell inside a record: the test proves nothing"
    assert both_ways(capsys, went_parallel, "--format", "jsonl", str(path))[::2] == (0, "")


def test_jobs_1_and_small_inputs_take_the_sequential_path(
    capsys: pytest.CaptureFixture[str], went_parallel: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert replay(capsys, "--jobs", "1", str(SAMPLES))[0] == 0
    monkeypatch.setattr(parallel, "MIN_BYTES", 8 << 20)
    assert replay(capsys, "--jobs", "2", str(SAMPLES))[0] == 0
    assert went_parallel == []
    assert parallel.plan([str(SAMPLES)], 1) is None
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    assert parallel.plan([str(SAMPLES)], 2) is not None
    assert parallel.plan([str(SAMPLES), "-"], 2) is None  # standard input and S3: never in parallel
    assert parallel.plan([str(SAMPLES), "s3://bucket/trail/"], 2) is None


def test_jobs_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    for wrong in ("0", "-2", "many"):
        with pytest.raises(SystemExit) as exit_:
            main(["replay", "--offline", "--jobs", wrong, str(SAMPLES)])
        assert exit_.value.code == 2
    assert "--jobs: expected a whole number of at least 1" in capsys.readouterr().err


_NOT_EVENT_VERSION = st.text(max_size=12).filter(lambda k: k != "eventVersion")
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([',{"eventVersion": "1"}', '"}, {"eventVersion"', "{", "]}", "ü ,{"])
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NOT_EVENT_VERSION, inner, max_size=4),
    max_leaves=12,
)
_RECORD = st.builds(
    lambda v, rest: {"eventVersion": v, **rest},
    st.text(max_size=5),
    st.dictionaries(_NOT_EVENT_VERSION, _JSON, max_size=4),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(_RECORD, min_size=1, max_size=25),
    st.sampled_from([None, 0, 1, 4]),
    st.sampled_from([",", ", ", " ,\n", ",\n\t\t", "\r\n,\r\n  "]),
    st.integers(2, 40),
    st.integers(8, 4096),
)
def test_cuts_fall_only_where_records_start(
    records: list[dict[str, Any]], indent: int | None, comma: str, count: int, search: int
) -> None:
    text, starts = log_file(records, indent, comma)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "trail.json")
        with open(path, "wb") as stream:
            stream.write(text)
        old, parallel.SEARCH_BYTES = parallel.SEARCH_BYTES, search
        try:
            cuts = parallel.find_cuts(path, len(text), count)
        finally:
            parallel.SEARCH_BYTES = old
    assert cuts == sorted(set(cuts))
    assert set(cuts) <= set(starts[1:])
    pieces = [0, *cuts, len(text)]
    decoded = []
    for start, end in itertools.pairwise(pieces):
        piece = io.StringIO(text[start:end].decode())
        decoded += [
            v.value
            for v in jsonstream.records_between_cuts(piece, start == 0, end == len(text), chunk_chars=7)
        ]
    assert decoded == records


def test_a_piece_is_streamed_from_its_file_not_read_whole(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    """A piece of a log file is decoded as it is read: memory holds a buffer and a record, whatever
    the size of the piece (it used to be read whole: a 200 MB file cut once cost a 100 MB read)."""
    import tracemalloc

    text, starts = log_file(records * 6)
    path = tmp_path / "trail.json"
    path.write_bytes(text)
    assert len(text) - starts[1] > 8_000_000
    tracemalloc.start()
    try:
        seen = sum(1 for _ in parallel._items(parallel.Piece(str(path), starts[1], None, False, True), 0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == len(records) * 6 - 1
    assert peak < 6_000_000, f"peak {peak:,} bytes"


def test_a_piece_too_big_to_hold_is_judged_here_as_it_is_read(
    capsys: pytest.CaptureFixture[str],
    went_parallel: list[int],
    tmp_path: Path,
    records: list[dict[str, Any]],
) -> None:
    """Pieces bigger than hold_bytes() (a file with few record starts) are not given to workers, whose
    output is held until its turn: they are judged here, streamed, and say the same."""
    text = log_file(records)[0]
    (tmp_path / "a.json").write_bytes(text)
    (tmp_path / "b.json").write_bytes(text)
    sequential = replay(capsys, "--jobs", "1", "--format", "jsonl", str(tmp_path))
    held: list[parallel.Piece] = []
    submit = parallel._submit

    def recording(pool: Any, piece: Any) -> Any:
        future = submit(pool, piece)
        if future is not None:
            held.append(piece)
        return future

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parallel, "_submit", recording)
        patch.setattr(parallel, "hold_bytes", lambda: 0)  # nothing is small enough to hold
        assert replay(capsys, "--jobs", "2", "--format", "jsonl", str(tmp_path)) == sequential
    assert went_parallel
    assert held == []
