"""A recording stand-in for the station and helpers for testing the OCPP dialects alone."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from loadgen.ocpp import Dialect
from loadgen.ocpp.dialect import IdInfo, UnlockOutcome
from loadgen.ocpp.framing import ERROR_CODES_16, ERROR_CODES_201, Call, CallResult
from loadgen.ocpp.schemas import validate
from loadgen.ocpp.settings import SETTINGS
from loadgen.ocpp.v16 import V16
from loadgen.ocpp.v21 import V21
from loadgen.ocpp.v201 import V201

V16_, V201_, V21_ = V16(), V201(), V21()
DIALECTS = [V16_, V201_, V21_]
AT = 1_790_000_000.5
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
COMM = {"name": "OCPPCommCtrlr"}
HEARTBEAT = {"name": "HeartbeatInterval"}
ID_TOKEN = {"idToken": "TAG1", "type": "ISO14443"}
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Voltage")


def every_setting(value: str) -> dict[str, str]:
    """Every setting at ``value``, a connector status at Available (what the station keeps)."""
    return {s.name: "Available" if s.kind == "status" else value for s in SETTINGS}


@dataclass
class Tx:
    """A transaction as a dialect reads it (TransactionLike)."""

    connector_id: int = 1
    local_id: str = "1-CP-1"
    server_id: int | None = 42
    id_tag: str = "TAG"
    remote_start_id: int | None = None
    ended_for: str | None = None  # why its authorization ended while it went on


@dataclass
class Target:
    """A ChargePointTarget that records each call and answers from ``results``."""

    settings: dict[str, str] = field(default_factory=lambda: every_setting("1"))
    results: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    connector_count: int = 2
    #: (EVSE id, setting name) -> value, over ``settings`` for that EVSE
    evse_settings: dict[tuple[int, str], str] = field(default_factory=dict)
    #: setting name -> its maxLimit
    limits: dict[str, str] = field(default_factory=dict)

    def _result(self, name: str, default: Any, *args: Any) -> Any:
        self.calls.append((name, *args))
        return self.results.get(name, default)

    def read_setting(self, name: str) -> str | None:
        return self.settings.get(name)

    def read_evse_setting(self, name: str, evse_id: int) -> str | None:
        if not 1 <= evse_id <= self.connector_count:
            return None
        return self.evse_settings.get((evse_id, name), self.settings.get(name))

    def max_limit(self, name: str, evse_id: int | None) -> str | None:
        return self.limits.get(name)

    def write_setting(self, name: str, value: str) -> str:
        return self._result("write_setting", "Accepted", name, value)

    def remote_start(
        self,
        connector_id: int | None,
        id_tag: str,
        remote_start_id: int | None,
        profile: Any = None,
        group: str | None = None,
    ) -> str:
        extra = () if profile is None and group is None else (profile,)
        extra += () if group is None else (group,)
        return self._result(
            "remote_start", "Accepted", connector_id, id_tag, remote_start_id, *extra
        )

    def remote_stop(self, transaction_id: str) -> str:
        return self._result("remote_stop", "Accepted", transaction_id)

    def reset(self, kind: str, evse_id: int | None) -> str:
        return self._result("reset", "Accepted", kind, evse_id)

    def change_availability(self, connector_id: int, operative: bool) -> str:
        return self._result("change_availability", "Accepted", connector_id, operative)

    def unlock_connector(self, connector_id: int, stop_transaction: bool) -> UnlockOutcome:
        return self._result("unlock_connector", "Unlocked", connector_id, stop_transaction)

    def trigger_message(self, message: str, connector_id: int | None) -> str:
        return self._result("trigger_message", "Accepted", message, connector_id)

    def transaction_status(self, transaction_id: str | None) -> tuple[bool | None, bool]:
        return self._result("transaction_status", (False, False), transaction_id)

    def clear_cache(self) -> str:
        return self._result("clear_cache", "Accepted")

    def base_report(self, request_id: int, report_base: str) -> str:
        return self._result("base_report", "Accepted", request_id, report_base)

    features: frozenset[str] = frozenset(
        "Core FirmwareManagement LocalAuthListManagement Reservation SmartCharging "
        "RemoteTrigger".split()
    )

    firmware_update: str = "both"

    def supports(self, feature: str) -> bool:
        return feature in self.features

    def takes_update(self, signed: bool) -> bool:
        kind = self.firmware_update
        return kind == "both" or kind == ("signed" if signed else "legacy")

    def update_firmware(
        self,
        location: str,
        retrieve_at: float,
        request_id: int | None,
        signed: bool,
        install_at: float | None = None,
    ) -> str:
        extra = () if install_at is None else (install_at,)
        return self._result(
            "update_firmware", "Accepted", location, retrieve_at, request_id, signed, *extra
        )

    def upload_log(self, location: str, request_id: int | None, kind: str) -> Any:
        return self._result("upload_log", ("Accepted", "f.log"), location, request_id, kind)

    def reserve_now(
        self,
        reservation_id: int,
        connector_id: int | None,
        expiry_at: float,
        id_tag: str,
        group_tag: str | None,
    ) -> str:
        return self._result(
            "reserve_now", "Accepted", reservation_id, connector_id, expiry_at, id_tag, group_tag
        )

    def cancel_reservation(self, reservation_id: int) -> str:
        return self._result("cancel_reservation", "Accepted", reservation_id)

    def send_local_list(
        self, version: int, full: bool, entries: list[tuple[str, IdInfo | None]]
    ) -> str:
        return self._result("send_local_list", "Accepted", version, full, entries)

    def local_list_version(self) -> int:
        return self._result("local_list_version", 3)  # type: ignore[no-any-return]

    def set_charging_profile(self, profile: Any) -> str:
        return self._result("set_charging_profile", "Accepted", profile)

    def clear_charging_profiles(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> str:
        return self._result(
            "clear_charging_profiles", "Accepted", profile_id, connector_id, purpose, stack_level
        )

    def composite_schedule(self, connector_id: int, duration_s: int, unit: str | None) -> Any:
        default = (AT, unit or "W", [(0, 11000.0, None), (600, 7400.0, None)])
        return self._result("composite_schedule", default, connector_id, duration_s, unit)

    def report_charging_profiles(
        self,
        request_id: int,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
        profile_ids: Any,
        sources: Any,
    ) -> str:
        return self._result(
            "report_charging_profiles",
            "Accepted",
            request_id,
            connector_id,
            purpose,
            stack_level,
            list(profile_ids),
            list(sources),
        )

    def data_transfer(self, vendor_id: str, message_id: str | None, data: object) -> Any:
        return self._result("data_transfer", ("UnknownVendorId", None), vendor_id, message_id)

    def set_default_tariff(self, evse_id: int, tariff: Any) -> str:
        return self._result("set_default_tariff", "Accepted", evse_id, tariff.tariff_id)

    def tariffs(self, evse_id: int) -> Any:
        return self._result("tariffs", [], evse_id)

    def clear_tariffs(self, tariff_ids: Any, evse_id: int | None) -> Any:
        ids = None if tariff_ids is None else list(tariff_ids)
        return self._result("clear_tariffs", [(None, "NoTariff")], ids, evse_id)

    def change_transaction_tariff(self, transaction_id: str, tariff: Any) -> str:
        return self._result(
            "change_transaction_tariff", "Accepted", transaction_id, tariff.tariff_id
        )

    def allow_energy_transfer(self, transaction_id: str, modes: Any) -> str:
        return self._result("allow_energy_transfer", "Accepted", transaction_id, list(modes))


def valid(dialect: Dialect, request: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Validate a built request against its official schema; return its payload."""
    assert request is not None
    action, payload = request
    validate(dialect.version, action, payload, response=False)
    return payload


def ask(dialect: Dialect, action: str, payload: Any, target: Target | None = None) -> Any:
    """Answer a server call; a CallResult is validated and its payload returned, a
    CallError returned as it is."""
    target = target if target is not None else Target()
    frame = dialect.answer(Call("srv-1", action, payload), target)
    assert frame.unique_id == "srv-1"
    if isinstance(frame, CallResult):
        validate(dialect.version, action, frame.payload, response=True)
        return frame.payload
    assert frame.error_code in (ERROR_CODES_16 if dialect.version == "1.6" else ERROR_CODES_201)
    return frame


def timestamps(value: object) -> list[str]:
    """Every timestamp-like field value found anywhere in a payload."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("timestamp", "generatedAt")]
        return found + [t for v in value.values() for t in timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in timestamps(v)]
    return []


def report(
    dialect: Dialect, target: Target, report_base: str = "FullInventory", request_id: int = 1
) -> list[dict[str, Any]]:
    """The schema-valid NotifyReports of a base report, checked to be numbered from seqNo 0
    and continued (tbc) on all but the last."""
    requests = dialect.notify_report(request_id, AT, target, report_base)  # type: ignore[arg-type]
    assert requests, requests
    parts = [valid(dialect, request) for request in requests]
    assert [(p["requestId"], p["seqNo"], p["tbc"]) for p in parts] == [
        (request_id, n, n < len(parts) - 1) for n in range(len(parts))
    ]
    return parts


def report_data(
    dialect: Dialect, target: Target, report_base: str = "FullInventory"
) -> list[dict[str, Any]]:
    """Every reportData entry of a base report, its parts joined."""
    return [d for part in report(dialect, target, report_base) for d in part.get("reportData", [])]


def entry(component: dict[str, Any], variable: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"component": component, "variable": variable, **extra}
