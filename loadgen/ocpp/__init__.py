"""Pure OCPP: framing, payloads and answers for 1.6J, 2.0.1 and 2.1; no sockets, no gevent."""

from __future__ import annotations

from loadgen.ocpp.dialect import Dialect
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v21 import V21
from loadgen.ocpp.v201 import V201

#: The OCPP versions a charge point can speak, as ``dialect_for`` accepts them.
VERSIONS = ("1.6", "2.0.1", "2.1")

_DIALECTS: dict[str, type[Dialect]] = {"1.6": V16, "2.0.1": V201, "2.1": V21}


def dialect_for(version: str) -> Dialect:
    """The dialect for OCPP ``version`` ("1.6", "2.0.1" or "2.1"); ValueError for any other."""
    try:
        return _DIALECTS[version]()
    except (KeyError, TypeError):
        raise ValueError(
            f"unsupported OCPP version {version!r}; expected one of {VERSIONS}"
        ) from None


__all__ = ["VERSIONS", "Dialect", "dialect_for"]
