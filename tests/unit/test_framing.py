"""Tests of OCPP-J framing: round trips, rejection of malformed frames, unique ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.ocpp.framing import (
    ERROR_CODES_16,
    ERROR_CODES_201,
    MAX_UNIQUE_ID_LEN,
    Call,
    CallError,
    CallResult,
    FrameError,
    counter_ids,
    encode_call,
    parse,
)

unique_ids = st.text(min_size=1, max_size=MAX_UNIQUE_ID_LEN)
#: integers JSON readers agree on: 64-bit (beyond that orjson reads a float)
json_ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
json_scalars = st.none() | st.booleans() | json_ints | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@pytest.mark.parametrize(
    "frame",
    [
        Call("1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        CallResult("abc-2", {"status": "Accepted", "interval": 300}),
        CallError("x" * MAX_UNIQUE_ID_LEN, "NotImplemented", "no such action", {"a": [1]}),
        CallError("4", "GenericError"),
    ],
)
def test_round_trip_examples(frame: Call | CallResult | CallError) -> None:
    """Each frame type survives to_json followed by parse unchanged."""
    assert parse(frame.to_json()) == frame
    assert parse(frame.to_json().encode()) == frame


@given(unique_ids, st.text(min_size=1, max_size=30), payloads)
def test_round_trip_call(unique_id: str, action: str, payload: dict[str, Any]) -> None:
    """Any CALL with a valid id and JSON payload round-trips."""
    frame = Call(unique_id, action, payload)
    assert parse(frame.to_json()) == frame


@given(unique_ids, payloads)
def test_round_trip_call_result(unique_id: str, payload: dict[str, Any]) -> None:
    """Any CALLRESULT with a valid id and JSON payload round-trips."""
    frame = CallResult(unique_id, payload)
    assert parse(frame.to_json()) == frame


@given(unique_ids, st.sampled_from(sorted(ERROR_CODES_201)), st.text(), payloads)
def test_round_trip_call_error(unique_id: str, code: str, text: str, details: dict) -> None:
    """Any CALLERROR with a valid id round-trips, description and details included."""
    frame = CallError(unique_id, code, text, details)
    assert parse(frame.to_json()) == frame


def test_encoding_beyond_orjson() -> None:
    """What orjson refuses (a 70-bit integer) still encodes, through the standard library."""
    big = 2**70
    assert CallResult("7", {"n": big}).to_json() == f'[3,"7",{{"n":{big}}}]'
    assert json.loads(encode_call("8", "DataTransfer", {"n": big})) == [
        2,
        "8",
        "DataTransfer",
        {"n": big},
    ]


def test_to_json_shape() -> None:
    """Frames serialize as compact JSON arrays in the OCPP-J element order."""
    assert Call("7", "Heartbeat", {}).to_json() == '[2,"7","Heartbeat",{}]'
    assert CallResult("7", {}).to_json() == '[3,"7",{}]'
    assert CallError("7", "NotImplemented").to_json() == '[4,"7","NotImplemented","",{}]'
    assert json.loads(CallResult("7", {"v": "é"}).to_json()) == [3, "7", {"v": "é"}]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[2, 'single quotes', 'A', {}]",
        '[2, "1", "Heartbeat", {}',
        b"\xff\xfe\x00garbage",
        "[" * 100_000,
    ],
)
def test_parse_rejects_non_json(text: str | bytes) -> None:
    """Text that is not JSON (or too deeply nested to decode) is a FormatViolation."""
    with pytest.raises(FrameError) as info:
        parse(text)
    assert info.value.code == "FormatViolation"


@pytest.mark.parametrize("text", ["{}", "2", '"frame"', "null", "[]", '{"0": 2}'])
def test_parse_rejects_non_arrays(text: str) -> None:
    """A frame must be a non-empty JSON array."""
    with pytest.raises(FrameError) as info:
        parse(text)
    assert info.value.code == "FormatViolation"


@pytest.mark.parametrize("type_id", [0, 1, 5, 42, -2])
def test_parse_unknown_type_id(type_id: int) -> None:
    """An integer type id other than 2, 3, 4 is MessageTypeNotSupported, id kept."""
    with pytest.raises(FrameError) as info:
        parse(json.dumps([type_id, "u1", "Heartbeat", {}]))
    assert info.value.code == "MessageTypeNotSupported"
    assert info.value.unique_id == "u1"


@pytest.mark.parametrize("type_id", ['"2"', "2.0", "true", "null", "[2]"])
def test_parse_non_integer_type_id(type_id: str) -> None:
    """A type id that is not an integer (bools and floats included) is a FormatViolation."""
    with pytest.raises(FrameError) as info:
        parse(f'[{type_id}, "u1", "Heartbeat", {{}}]')
    assert info.value.code == "FormatViolation"
    assert info.value.unique_id == "u1"


@pytest.mark.parametrize("unique_id", [1, None, "", "x" * (MAX_UNIQUE_ID_LEN + 1), ["1"], {}])
def test_parse_bad_unique_id(unique_id: object) -> None:
    """A unique id that is not a string of 1 to 36 characters is rejected, and not kept."""
    with pytest.raises(FrameError) as info:
        parse(json.dumps([2, unique_id, "Heartbeat", {}]))
    assert info.value.code == "FormatViolation"
    assert info.value.unique_id is None


def test_parse_missing_unique_id() -> None:
    """A frame holding only its type id is rejected."""
    with pytest.raises(FrameError):
        parse("[2]")


@pytest.mark.parametrize(
    "frame",
    [
        [2, "1", "Heartbeat"],
        [2, "1", "Heartbeat", {}, {}],
        [2, "1", 7, {}],
        [2, "1", "Heartbeat", []],
        [2, "1", "Heartbeat", None],
        [3, "1"],
        [3, "1", {}, {}],
        [3, "1", "ok"],
        [4, "1", "GenericError", ""],
        [4, "1", "GenericError", "", {}, {}],
        [4, "1", 500, "", {}],
        [4, "1", "GenericError", None, {}],
        [4, "1", "GenericError", "", []],
    ],
)
def test_parse_wrong_arity_or_element_types(frame: list[Any]) -> None:
    """A frame with the wrong number or types of elements is a FormatViolation, id kept."""
    with pytest.raises(FrameError) as info:
        parse(json.dumps(frame))
    assert info.value.code == "FormatViolation"
    assert info.value.unique_id == "1"


def test_frame_error_defaults() -> None:
    """FrameError defaults to FormatViolation with no id and empty details."""
    exc = FrameError("bad")
    assert (str(exc), exc.code, exc.unique_id, exc.details) == ("bad", "FormatViolation", None, {})


def _check_parse(data: str | bytes) -> None:
    try:
        frame = parse(data)
    except FrameError as exc:
        assert exc.code in ERROR_CODES_201
    else:
        assert isinstance(frame, Call | CallResult | CallError)


@given(st.text())
def test_parse_arbitrary_text(text: str) -> None:
    """parse of any text returns a frame or raises FrameError, nothing else."""
    _check_parse(text)


@given(st.binary())
def test_parse_arbitrary_bytes(data: bytes) -> None:
    """parse of any bytes returns a frame or raises FrameError, nothing else."""
    _check_parse(data)


frame_like = st.lists(
    st.one_of(st.sampled_from([2, 3, 4, 2.0, True]), unique_ids, json_values), max_size=6
)


@given(frame_like | st.lists(json_values, max_size=6))
def test_parse_arbitrary_json_arrays(value: list[Any]) -> None:
    """parse of any JSON array (frame-like or not) returns a frame or raises FrameError."""
    _check_parse(json.dumps(value))


@given(st.sampled_from([2, 3, 4]), unique_ids, payloads)
def test_parse_keeps_unique_id_of_valid_frames(type_id: int, unique_id: str, payload: dict) -> None:
    """A well-formed frame of each type parses to the matching class with its id."""
    elements: list[Any] = {
        2: [2, unique_id, "DataTransfer", payload],
        3: [3, unique_id, payload],
        4: [4, unique_id, "GenericError", "", payload],
    }[type_id]
    frame = parse(json.dumps(elements))
    assert type(frame) is {2: Call, 3: CallResult, 4: CallError}[type_id]
    assert frame.unique_id == unique_id


def test_counter_ids_are_unique_and_prefixed() -> None:
    """counter_ids yields prefix + 1, 2, 3 ... and separate generators count separately."""
    next_id = counter_ids("cp7-")
    assert [next_id() for _ in range(3)] == ["cp7-1", "cp7-2", "cp7-3"]
    assert counter_ids()() == "1"
    ids = [next_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) <= MAX_UNIQUE_ID_LEN for i in ids)


def test_error_code_sets_use_each_versions_spelling() -> None:
    """1.6 spells FormationViolation and OccurenceConstraintViolation, 2.0.1 does not."""
    assert {"FormationViolation", "OccurenceConstraintViolation"} <= ERROR_CODES_16
    assert {"FormatViolation", "OccurrenceConstraintViolation"} <= ERROR_CODES_201
    assert "FormatViolation" not in ERROR_CODES_16
    assert "MessageTypeNotSupported" not in ERROR_CODES_16
    assert "FormationViolation" not in ERROR_CODES_201
