"""Readers of payload fields that both versions share; they raise FrameError, never KeyError.

Codes are spelled as OCPP 2.0.1 spells them; the 1.6 dialect respells them
(``FormationViolation``, ``OccurenceConstraintViolation``) on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from loadgen.ocpp.dialect import BootReply, CertificateId, ChargePointTarget, IdInfo, Payload
from loadgen.ocpp.framing import FrameError

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")
HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
_TYPE_NAMES = {int: "an integer", str: "a string", dict: "an object", list: "an array"}
#: 2.0.1 spellings (used by the readers) -> 1.6 spellings.
SPELLING_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}


def get_field(
    payload: object,
    key: str,
    kind: type,
    *,
    required: bool = True,
    choices: Collection[str] | None = None,
    max_len: int | None = None,
) -> Any:
    """``payload[key]`` checked to be exactly of type ``kind`` (so ``True`` is no int).

    Returns ``None`` for an absent optional field. Raises :class:`FrameError` with code
    ``FormatViolation`` (not an object, or a required field missing),
    ``TypeConstraintViolation`` (wrong JSON type) or ``PropertyConstraintViolation``
    (not one of ``choices``, longer than ``max_len``).
    """
    payload = as_object(payload)
    if key not in payload:
        if required:
            raise FrameError(f"required field {key!r} is missing")
        return None
    value = payload[key]
    if type(value) is not kind:
        raise FrameError(
            f"{key!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}",
            code="TypeConstraintViolation",
        )
    if choices is not None and value not in choices:
        shown = sorted(choices)[:12]
        raise FrameError(f"{key!r} is not one of {shown}", code="PropertyConstraintViolation")
    if max_len is not None and len(payload[key]) > max_len:
        raise FrameError(f"{key!r} is longer than {max_len}", code="PropertyConstraintViolation")
    return value


def as_object(payload: object) -> Payload:
    """``payload`` itself if it is a JSON object, else :class:`FrameError` FormatViolation."""
    if not isinstance(payload, dict):
        raise FrameError("payload must be a JSON object")
    return payload


def read_boot_reply(payload: Payload) -> BootReply:
    """Status and interval of a BootNotification response (same shape in 1.6 and 2.0.1).

    Raises :class:`FrameError` (2.0.1 spellings) when either is missing, of the wrong
    type, not a known status or a negative interval.
    """
    status = get_field(payload, "status", str, choices=BOOT_STATUSES)
    interval = get_field(payload, "interval", int)
    if interval < 0:
        raise FrameError("'interval' must not be negative", code="PropertyConstraintViolation")
    return BootReply(status=status, interval_s=interval)


def read_id_info(
    payload: Payload,
    key: str,
    *,
    required: bool,
    choices: Collection[str] | None = None,
    group_token: Callable[[Payload], str] | None = None,
) -> IdInfo | None:
    """``payload[key]`` as an :class:`IdInfo`, None if absent: 1.6 idTagInfo (status,
    expiryDate, parentIdTag), or with ``group_token`` (the reader of an IdTokenType)
    2.0.1 idTokenInfo (status, cacheExpiryDateTime, groupIdToken). FrameError when a
    field is malformed, or the status not one of ``choices``."""
    info = get_field(payload, key, dict, required=required)
    if info is None:
        return None
    status = str(get_field(info, "status", str, choices=choices))
    if group_token is None:
        expiry_key = "expiryDate"
        group = get_field(info, "parentIdTag", str, required=False, max_len=20)
    else:
        expiry_key = "cacheExpiryDateTime"
        token = get_field(info, "groupIdToken", dict, required=False)
        group = None if token is None else group_token(token)
    expiry = info.get(expiry_key)
    if expiry is None:
        return IdInfo(status, None, group)
    from loadgen.ocpp.profiles import parse_time  # not at the top: profiles imports us

    return IdInfo(status, parse_time(expiry, expiry_key), group)


def get_log_answer(p: Payload, target: ChargePointTarget) -> Payload:
    """GetLog, the same payload in 1.6's security extension and in 2.x (N01): read the
    request, start the upload, answer with its status and file name."""
    kind = get_field(p, "logType", str, choices=("DiagnosticsLog", "SecurityLog"))
    request_id = get_field(p, "requestId", int)
    log = get_field(p, "log", dict)
    location = get_field(log, "remoteLocation", str, max_len=512)
    status, name = target.upload_log(location, request_id, kind)
    reply: Payload = {"status": status}
    if name:
        reply["filename"] = name[:255]
    return reply


def read_certificate_id(payload: Payload, key: str) -> CertificateId:
    """``payload[key]``, a CertificateHashDataType (the same in 1.6's security whitepaper
    and in 2.x); FrameError when it or a field is missing or malformed."""
    data = get_field(payload, key, dict)
    return CertificateId(
        get_field(data, "hashAlgorithm", str, choices=HASH_ALGORITHMS),
        get_field(data, "issuerNameHash", str, max_len=128),
        get_field(data, "issuerKeyHash", str, max_len=128),
        get_field(data, "serialNumber", str, max_len=40),
    )


def certificate_id_payload(certificate: CertificateId) -> Payload:
    """A CertificateHashDataType."""
    return {
        "hashAlgorithm": certificate.algorithm,
        "issuerNameHash": certificate.issuer_name_hash,
        "issuerKeyHash": certificate.issuer_key_hash,
        "serialNumber": certificate.serial_number,
    }
