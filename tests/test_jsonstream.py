"""The incremental decoder: the same values as json.load whatever the chunk boundaries, errors that
say where, and memory bounded by a chunk and a record rather than by the file."""

from __future__ import annotations

import io
import itertools
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.jsonstream import JsonStreamError, values
from tests.conftest import SAMPLES, load_sample

LOG = (SAMPLES / "cloudtrail-log-file.json").read_text()


def _read(text: str, chunk: int = 1 << 20) -> list[tuple[int | None, object]]:
    return [(v.index, v.value) for v in values(io.StringIO(text), chunk_chars=chunk)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 17, 64, 1000, 1 << 20])
def test_log_file_records_come_one_by_one_whatever_the_chunk_size(chunk: int) -> None:
    expected = json.loads(LOG)["Records"]
    assert _read(LOG, chunk) == list(enumerate(expected))


def test_compact_and_spaced_log_files_read_alike() -> None:
    records = json.loads(LOG)["Records"]
    compact = json.dumps({"Records": records}, separators=(",", ":"))
    spaced = '\n {  "Records" :\n [ ' + " ,\n".join(json.dumps(r) for r in records) + " ] \n}\n"
    assert _read(compact, 5) == _read(spaced, 5) == list(enumerate(records))


def test_empty_records_and_members_after_records() -> None:
    assert _read('{"Records": []}') == []
    assert _read('{"Records": [{"a": 1}], "more": {"x": [1, 2]}, "n": 3}', 4) == [(0, {"a": 1})]


def test_other_values_are_decoded_whole_and_several_may_follow_each_other() -> None:
    event = load_sample("authorize-ingress-all-traffic-world.json")
    text = json.dumps(event) + "\n" + json.dumps(event["detail"]) + "\n"
    assert _read(text, 9) == [(None, event), (None, event["detail"])]
    assert _read('{"detail": 1, "Records": [1]}') == [(None, {"detail": 1, "Records": [1]})]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"Records": [{"a": 1},\n {"a": }]}', "line 2 column 8"),
        ('{"Records": [{"a": 1}\n {"a": 2}]}', "line 2 column 2: expected ',' or ']'"),
        ('{"Records": [{"a": 1}]', "expected '}' after the Records array, found the end"),
        ('{"Records": [{"a": "unterminated', "line 1 column 20: Unterminated string"),
        ("[1, 2", "line 1 column 6"),
        ('{"a": tru}', "line 1 column 7: Expecting value"),
    ],
)
def test_syntax_errors_say_where(text: str, where: str) -> None:
    with pytest.raises(JsonStreamError, match=where):
        _read(text, 3)


def test_values_before_an_error_are_still_delivered() -> None:
    stream = values(io.StringIO('{"Records": [{"a": 1}, {"b": 2}, {"c": ]}'), chunk_chars=4)
    assert next(stream).value == {"a": 1}
    assert next(stream).value == {"b": 2}
    with pytest.raises(JsonStreamError, match="line 1 column 40"):
        next(stream)


class _Generated(io.TextIOBase):
    """A log file of ``count`` records produced as it is read, never held whole."""

    def __init__(self, record: str, count: int) -> None:
        self._parts: Iterator[str] = itertools.chain(
            ['{"Records": ['], ((("," if i else "") + record) for i in range(count)), ["]}"]
        )
        self._pending = ""

    def read(self, size: int | None = -1) -> str:
        want = size if size is not None and size >= 0 else 1 << 30
        while len(self._pending) < want:
            part = next(self._parts, None)
            if part is None:
                break
            self._pending += part
        out, self._pending = self._pending[:want], self._pending[want:]
        return out


def test_memory_is_bounded_by_a_chunk_not_by_the_file() -> None:
    record = json.dumps(load_sample("authorize-ingress-ssh-mixed-sources.json")["detail"])
    count = 4000  # ~10 MB of text
    tracemalloc.start()
    try:
        seen = sum(1 for _ in values(_Generated(record, count), chunk_chars=64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    assert count * len(record) > 8_000_000
    assert peak < 2_000_000, f"peak {peak:,} bytes"


# --- members: saved AWS responses (sgguard audit --from) -------------------------------------------

RULES = frozenset({"SecurityGroupRules", "SecurityGroups"})


def _members(text: str, chunk: int = 1 << 20) -> list[tuple[int, str | None, int | None, object]]:
    from chalicelib.jsonstream import members

    return [(m.document, m.name, m.index, m.value) for m in members(io.StringIO(text), RULES, chunk)]


@pytest.mark.parametrize("chunk", [1, 2, 5, 64, 1 << 20])
def test_members_stream_named_arrays_and_yield_other_members_whole(chunk: int) -> None:
    page = {"SecurityGroupRules": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}], "NextToken": "abc"}
    text = json.dumps(page, indent=4) + "\n" + json.dumps({"SecurityGroups": [{"GroupId": "sg-1"}]})
    assert _members(text, chunk) == [
        (0, "SecurityGroupRules", 0, {"GroupId": "sg-1"}),
        (0, "SecurityGroupRules", 1, {"GroupId": "sg-2"}),
        (0, "NextToken", None, "abc"),
        (1, "SecurityGroups", 0, {"GroupId": "sg-1"}),
    ]


def test_members_of_a_bare_array_empty_object_and_scalars() -> None:
    assert _members('[{"a": 1}, {"b": 2}] {} [] 7') == [
        (0, None, 0, {"a": 1}),
        (0, None, 1, {"b": 2}),
        (3, None, None, 7),
    ]
    assert _members('{"Other": [1, 2]}') == [(0, "Other", None, [1, 2])]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"SecurityGroupRules": [{"a": 1} {"b": 2}]}', "column 34: expected ',' or ']' after an element"),
        ('{"SecurityGroupRules": [{"a": 1}', "column 33: expected ',' or ']' after an element, found the"),
        ("{SecurityGroupRules: []}", "column 2: expected a member name"),
        ('{"SecurityGroupRules" []}', "column 23: expected ':' after a member name"),
    ],
)
def test_members_errors_say_where(text: str, where: str) -> None:
    with pytest.raises(JsonStreamError, match=where):
        _members(text)


@pytest.mark.parametrize("chunk", [70_000, 1 << 20])
@pytest.mark.parametrize("indent", [None, 4])
def test_members_in_batches_are_exactly_the_elements_whatever_they_hold(
    chunk: int, indent: int | None
) -> None:
    """Big arrays are decoded many elements at a time; text that looks like an element boundary inside
    strings and nested values (``}, {``) must never cut an element."""
    import random

    rng = random.Random(7)
    tricky = ['}, {"GroupId": "sg-1"}', '\\"}, {\\"', "}, {", "}\n,\n{", "a\\\\", "\u00e9\u202e", "{", "]"]
    elements = [
        {
            "GroupId": f"sg-{n}",
            "Description": rng.choice(tricky) * rng.randint(0, 3),
            "Tags": [{"Key": "k", "Value": rng.choice(tricky)} for _ in range(rng.randint(0, 2))],
            "ReferencedGroupInfo": {"GroupId": "sg-2"} if n % 3 else None,
        }
        for n in range(3000)
    ]
    text = json.dumps({"SecurityGroupRules": elements, "NextToken": "t"}, indent=indent)
    got = _members(text, chunk)
    assert [v for _, name, _, v in got if name == "SecurityGroupRules"] == elements
    assert [i for _, name, i, _ in got if name == "SecurityGroupRules"] == list(range(3000))
    assert got[-1] == (0, "NextToken", None, "t")


def test_a_syntax_error_inside_a_batch_is_reported_where_it_is() -> None:
    good = ",\n".join(json.dumps({"GroupId": f"sg-{n}", "Description": "x" * 40}) for n in range(5000))
    text = '{"SecurityGroupRules": [' + good + ', {"GroupId": "sg-x" "oops": 1}]}'
    with pytest.raises(JsonStreamError, match="Expecting ',' delimiter"):
        _members(text)


def test_hostile_elements_in_a_batch_are_refused_one_by_one_and_reading_goes_on() -> None:
    """Deep nesting or NaN inside a big array neither crash the batch decoder nor pass: the element is
    refused (with where), and the elements after it are read."""
    from chalicelib.jsonstream import members

    good = ",\n".join(json.dumps({"GroupId": f"sg-{n}", "Description": "x" * 40}) for n in range(3000))
    deep = "[" * 50_000 + "]" * 50_000
    for bad, why in ((f'{{"Deep": {deep}}}', "nested deeper than"), ('{"Port": NaN}', "NaN is not JSON")):
        text = '{"SecurityGroupRules": [' + good + ", " + bad + ", " + good + "]}"
        got = list(members(io.StringIO(text), RULES))
        assert len(got) == 6001
        [refused] = [m for m in got if m.refused]
        assert refused.index == 3000
        assert why in refused.refused
        assert refused.value is None


def _nested(depth: int) -> str:
    return (
        '{"a": ' * (depth // 2) + "[" * (depth - depth // 2) + "]" * (depth - depth // 2) + "}" * (depth // 2)
    )


@pytest.mark.parametrize("chunk", [1, 5, 64, 1000, 1 << 20])
def test_the_depth_limit_is_the_same_whatever_the_chunk_size(chunk: int) -> None:
    """100 levels are read, 101 are refused with the record's place, and reading goes on, whether the
    record was decoded straight from the buffer or scanned across chunks first."""
    text = '{"Records": [' + ", ".join([_nested(100), _nested(101), '"]]]]]"', _nested(5000), "7"]) + "]}"
    got = list(values(io.StringIO(text), chunk_chars=chunk))
    assert [v.index for v in got] == [0, 1, 2, 3, 4]
    assert got[0].value == json.loads(_nested(100))
    assert got[1].refused is not None
    assert got[1].refused.endswith("nested deeper than 100 levels")
    assert (got[2].value, got[3].value, got[4].value) == ("]]]]]", None, 7)
    assert got[3].refused is not None
    assert got[3].refused.endswith("nested deeper than 100 levels")


@pytest.mark.parametrize("chunk", [3, 1000, 1 << 20])
def test_nan_and_infinity_are_refused_per_value(chunk: int) -> None:
    got = list(
        values(io.StringIO('{"Records": [NaN, [Infinity], {"a": -Infinity}, 1.5]}'), chunk_chars=chunk)
    )
    assert [v.refused is not None for v in got] == [True, True, True, False]
    assert got[3].value == 1.5
    assert "NaN is not JSON" in str(got[0].refused)


def test_a_value_longer_than_many_chunks_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear in the value's size: one try on the first buffer, one decode once its end is found;
    the decoder used to start again from the value's first character after every chunk."""
    from chalicelib import jsonstream

    calls: list[int] = []
    real = jsonstream._decoder.raw_decode

    def counting(text: str, at: int = 0) -> tuple[object, int]:
        calls.append(len(text))
        return real(text, at)

    monkeypatch.setattr(jsonstream._decoder, "raw_decode", counting)
    big = {"detail": {"x": "y" * 200_000, "z": ["\\\\", '"'] * 20_000}}
    [value] = values(io.StringIO(json.dumps(big)), chunk_chars=1000)
    assert value.value == big
    assert len(calls) == 2


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON_VALUES, max_size=6), st.integers(1, 64), st.booleans())
def test_any_json_reads_as_json_load_whatever_the_chunks(values_: list[Any], chunk: int, log: bool) -> None:
    text = json.dumps({"Records": values_}) if log else "\n".join(json.dumps(v) for v in values_)
    got = list(values(io.StringIO(text), chunk_chars=chunk))
    assert [v.value for v in got] == values_
    assert all(v.refused is None for v in got)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}",:\\ 0123456789.-eEtrufalsnNIy\n', max_size=200), st.integers(1, 32))
def test_hostile_text_is_read_or_refused_never_a_crash(text: str, chunk: int) -> None:
    try:
        for _ in values(io.StringIO(text), chunk_chars=chunk):
            pass
    except JsonStreamError:
        pass


def _outcome(text: str, chunk: int) -> list[object]:
    seen: list[object] = []
    try:
        for v in values(io.StringIO(text), chunk_chars=chunk):
            seen.append((v.index, v.value, v.refused))
    except JsonStreamError as error:
        seen.append(str(error))
    return seen


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}",:\\ 0123456789.-eEtrufalsnNIy\n', max_size=200), st.integers(1, 32))
def test_what_is_read_does_not_depend_on_the_chunks(text: str, chunk: int) -> None:
    """The same values, refusals and error (with its line and column) with any chunk size: the
    parallel replay's pieces and the sequential replay must say the same."""
    assert _outcome(text, chunk) == _outcome(text, 1 << 20)


def test_big_pretty_printed_arrays_are_decoded_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the AWS CLI prints (indent 4): a few json decodes for thousands of elements, not one each."""
    from chalicelib import jsonstream

    calls = {"batch": 0, "one": 0}
    batch, one = jsonstream._strict.decode, jsonstream._decoder.raw_decode

    def counted_batch(text: str) -> Any:
        calls["batch"] += 1
        return batch(text)

    def counted_one(text: str, pos: int) -> Any:
        calls["one"] += 1
        return one(text, pos)

    monkeypatch.setattr(jsonstream._strict, "decode", counted_batch)
    monkeypatch.setattr(jsonstream._decoder, "raw_decode", counted_one)
    elements = [{"GroupId": f"sg-{n}", "Tags": [], "Description": "x" * 60} for n in range(20_000)]
    got = _members(json.dumps({"SecurityGroupRules": elements}, indent=4))
    assert [v for _, _, _, v in got] == elements
    assert calls["one"] < 200
    assert 1 < calls["batch"] < 200


def test_the_depth_limit_holds_inside_batches_too() -> None:
    from chalicelib.jsonstream import members

    good = ",\n".join(json.dumps({"GroupId": f"sg-{n}", "Description": "x" * 40}) for n in range(3000))
    text = '{"SecurityGroupRules": [' + good + ", " + _nested(150) + ", " + good + "]}"
    got = list(members(io.StringIO(text), RULES))
    assert len(got) == 6001
    [refused] = [m for m in got if m.refused]
    assert refused.index == 3000
    assert refused.refused is not None
    assert refused.refused.endswith("nested deeper than 100 levels")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["GroupId", "Tags", "D", "}, {"]), _JSON_VALUES, max_size=4),
        max_size=60,
    ),
    st.sampled_from([None, 4]),
)
def test_members_read_any_array_of_objects_as_json_load(elements: list[Any], indent: int | None) -> None:
    """Batches or one by one, exactly the elements json.load sees (batches start at 64 KiB: pad)."""
    from chalicelib import jsonstream

    padded = [*elements, *({"pad": "x" * 1000, "n": n} for n in range(80))]
    text = json.dumps({"SecurityGroupRules": padded, "NextToken": None}, indent=indent)
    got = list(jsonstream.members(io.StringIO(text), RULES, chunk_chars=1 << 16))
    assert [m.value for m in got if m.name == "SecurityGroupRules"] == padded
