"""Validation of payloads against the official OCPP JSON schemas shipped by ``ocpp``.

The ``ocpp`` package carries the schemas (``ocpp/v16/schemas``, ``ocpp/v201/schemas``)
and caches one compiled Draft 4 validator per message in ``get_validator``; this module
only picks the right one and turns a mismatch into :class:`SchemaViolation`.
"""

from __future__ import annotations

import decimal
from typing import Any

from ocpp.messages import get_validator

from loadgen.ocpp.framing import CALL, CALLRESULT


class SchemaViolation(Exception):
    """A payload that its official schema rejects; the message names the field."""


def validate(version: str, action: str, payload: dict[str, Any], *, response: bool) -> None:
    """Check ``payload`` of ``action`` (a request, or its response) for OCPP ``version``.

    Raises :class:`SchemaViolation` naming the offending field, or ``LookupError`` when
    the version has no schema for the action.
    """
    message_type = CALLRESULT if response else CALL
    try:
        # decimal.Decimal as the ocpp package does, so "multipleOf" checks are exact.
        validator = get_validator(message_type, action, version, parse_float=decimal.Decimal)
    except (OSError, ValueError) as exc:
        raise LookupError(f"no OCPP {version} schema for {action}") from exc
    error = next(iter(validator.iter_errors(_decimals(payload))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
        kind = "response" if response else "request"
        raise SchemaViolation(f"OCPP {version} {action} {kind}: {where}: {error.message}")


def _decimals(value: Any) -> Any:
    """Floats as Decimal, matching schemas that were loaded with parse_float=Decimal."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value
