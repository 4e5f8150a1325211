"""OCPP-J framing: build and parse CALL, CALLRESULT and CALLERROR frames, without I/O.

A frame is a JSON array: ``[2, id, action, payload]`` (CALL), ``[3, id, payload]``
(CALLRESULT) or ``[4, id, code, description, details]`` (CALLERROR). :func:`parse`
turns text into one of the three dataclasses or raises :class:`FrameError`; it never
lets an ``IndexError``, ``KeyError`` or ``ValueError`` escape.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

CALL = 2
CALLRESULT = 3
CALLERROR = 4

#: Unique ids are at most 36 characters (OCPP-J 1.6 section 4.1.4, 2.0.1 section 4.2.1).
MAX_UNIQUE_ID_LEN = 36

#: CALLERROR codes of OCPP-J 1.6 (with the spec's own spellings) and 2.0.1.
ERROR_CODES_16 = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
ERROR_CODES_201 = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)


class FrameError(Exception):
    """A frame that is not valid OCPP-J.

    ``code`` is the CALLERROR code to answer with (``FormatViolation`` for bad JSON or
    shape, ``MessageTypeNotSupported`` for an unknown type id), ``unique_id`` the id
    when it could be read, ``details`` a small dict for the CALLERROR's details.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "FormatViolation",
        unique_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.unique_id = unique_id
        self.details = details or {}


@dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, unique_id, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return _dumps([CALL, self.unique_id, self.action, self.payload])


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: ``[3, unique_id, payload]``."""

    unique_id: str
    payload: dict[str, Any]

    def to_json(self) -> str:
        return _dumps([CALLRESULT, self.unique_id, self.payload])

    def to_bytes(self) -> bytes:
        return _encode([CALLRESULT, self.unique_id, self.payload])


@dataclass(frozen=True, slots=True)
class CallError:
    """A failed answer: ``[4, unique_id, error_code, error_description, error_details]``."""

    unique_id: str
    error_code: str
    error_description: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return self.to_bytes().decode("utf-8")

    def to_bytes(self) -> bytes:
        return _encode(
            [CALLERROR, self.unique_id, self.error_code, self.error_description, self.error_details]
        )


Frame = Call | CallResult | CallError


def _dumps(value: object) -> str:
    return _encode(value).decode("utf-8")


def _encode(value: object) -> bytes:
    """Compact JSON as UTF-8 bytes: orjson, or the standard library for what it refuses.

    orjson (several times faster) refuses integers beyond 64 bits and non-string keys;
    no OCPP payload has them, but nothing built here may fail to encode.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> bytes:
    """A CALL frame as UTF-8 bytes, ready to send (what ``Call(...).to_json()`` encodes)."""
    return _encode([CALL, unique_id, action, payload])


def parse(text: str | bytes) -> Frame:
    """Parse one OCPP-J frame.

    Raises :class:`FrameError` for anything that is not a well-formed CALL, CALLRESULT
    or CALLERROR; payloads are checked for shape (a JSON object), not against schemas.
    JSON is read by orjson: strict RFC 8259 (no NaN or Infinity), and a number beyond
    64-bit integers comes back as a float (OCPP's integers are 32-bit).
    """
    try:
        value = orjson.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(value, list) or not value:
        raise FrameError("a frame must be a non-empty JSON array")
    type_id = value[0]
    unique_id = value[1] if len(value) > 1 and isinstance(value[1], str) else None
    if type(type_id) is not int:
        raise FrameError("message type id must be an integer", unique_id=unique_id)
    if unique_id is None or not unique_id or len(unique_id) > MAX_UNIQUE_ID_LEN:
        raise FrameError("unique id must be a string of 1 to 36 characters")
    if type_id == CALL:
        if len(value) != 4 or not isinstance(value[2], str) or not isinstance(value[3], dict):
            raise FrameError("CALL must be [2, id, action, {payload}]", unique_id=unique_id)
        return Call(unique_id, value[2], value[3])
    if type_id == CALLRESULT:
        if len(value) != 3 or not isinstance(value[2], dict):
            raise FrameError("CALLRESULT must be [3, id, {payload}]", unique_id=unique_id)
        return CallResult(unique_id, value[2])
    if type_id == CALLERROR:
        if (
            len(value) != 5
            or not isinstance(value[2], str)
            or not isinstance(value[3], str)
            or not isinstance(value[4], dict)
        ):
            raise FrameError(
                "CALLERROR must be [4, id, code, description, {details}]", unique_id=unique_id
            )
        return CallError(unique_id, value[2], value[3], value[4])
    raise FrameError(
        f"unknown message type id {type_id}",
        code="MessageTypeNotSupported",
        unique_id=unique_id,
    )


def counter_ids(prefix: str = "") -> Callable[[], str]:
    """Return a generator of unique ids: ``prefix`` followed by 1, 2, 3, ...

    Unique ids only need to be unique among one connection's outstanding calls, so a
    counter is enough and far cheaper than ``uuid4``.
    """
    counter: Iterator[int] = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"
