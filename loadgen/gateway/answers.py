"""CSMS-side answers of the reference gateway: one table per OCPP version, action -> reply.

Every action a charge point may initiate gets a reply that its official response schema
accepts. The functions here are on the gateway's hot path: they read the request with
``dict.get`` (never raise on an odd payload), build a small dict and return it; the
schemas are checked by the tests, not at run time.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Payload = dict[str, Any]
Handler = Callable[[Payload], Payload]
BootStatus = Literal["Accepted", "Pending", "Rejected"]

#: The OCPP versions the gateway speaks, keyed by WebSocket subprotocol.
SUBPROTOCOLS: dict[str, str] = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}

_second = -1
_second_text = ""


def utc_now() -> str:
    """The current UTC time as ``2026-01-02T03:04:05.678Z`` (the seconds part is cached)."""
    global _second, _second_text
    now = time.time()
    second = int(now)
    if second != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_second_text}.{int((now - second) * 1000):03d}Z"


@dataclass(frozen=True, slots=True)
class AnswerConfig:
    """What the gateway tells charge points, from the command line."""

    heartbeat_interval_s: int = 60
    boot_status: BootStatus = "Accepted"
    boot_retry_interval_s: int = 10


class Answers:
    """The answer tables of one gateway process (transaction ids are unique per process)."""

    def __init__(self, config: AnswerConfig) -> None:
        self.config = config
        self._transaction_ids = itertools.count(1)
        self.tables: dict[str, dict[str, Handler]] = {
            "1.6": self._table_16(),
            "2.0.1": self._table_201(),
            "2.1": self._table_21(),
        }

    # -- shared pieces ------------------------------------------------------------------

    def _boot(self, _request: Payload) -> Payload:
        config = self.config
        accepted = config.boot_status == "Accepted"
        return {
            "status": config.boot_status,
            "currentTime": utc_now(),
            "interval": config.heartbeat_interval_s if accepted else config.boot_retry_interval_s,
        }

    @staticmethod
    def _heartbeat(_request: Payload) -> Payload:
        return {"currentTime": utc_now()}

    @staticmethod
    def _empty(_request: Payload) -> Payload:
        return {}

    @staticmethod
    def _accepted(_request: Payload) -> Payload:
        return {"status": "Accepted"}

    # -- OCPP 1.6 -----------------------------------------------------------------------

    @staticmethod
    def _authorize_16(_request: Payload) -> Payload:
        return {"idTagInfo": {"status": "Accepted"}}

    def _start_transaction_16(self, _request: Payload) -> Payload:
        return {"idTagInfo": {"status": "Accepted"}, "transactionId": next(self._transaction_ids)}

    @staticmethod
    def _stop_transaction_16(request: Payload) -> Payload:
        return {"idTagInfo": {"status": "Accepted"}} if request.get("idTag") else {}

    def _table_16(self) -> dict[str, Handler]:
        empty = self._empty
        return {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": empty,
            "Authorize": self._authorize_16,
            "StartTransaction": self._start_transaction_16,
            "MeterValues": empty,
            "StopTransaction": self._stop_transaction_16,
            "DataTransfer": self._accepted,
            "DiagnosticsStatusNotification": empty,
            "FirmwareStatusNotification": empty,
            # Security extension (OCPP 1.6 Security Whitepaper edition 2)
            "SecurityEventNotification": empty,
            "SignCertificate": self._accepted,
            "LogStatusNotification": empty,
            "SignedFirmwareStatusNotification": empty,
        }

    # -- OCPP 2.0.1 ---------------------------------------------------------------------

    @staticmethod
    def _authorize_201(_request: Payload) -> Payload:
        return {"idTokenInfo": {"status": "Accepted"}}

    @staticmethod
    def _transaction_event_201(request: Payload) -> Payload:
        return {"idTokenInfo": {"status": "Accepted"}} if request.get("idToken") else {}

    @staticmethod
    def _failed(_request: Payload) -> Payload:
        return {"status": "Failed"}

    @staticmethod
    def _ev_certificate_201(_request: Payload) -> Payload:
        # A stand-in CSMS has no contract certificate pool: say so, as the spec allows.
        return {"status": "Failed", "exiResponse": ""}

    def _table_201(self) -> dict[str, Handler]:
        empty = self._empty
        return {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": empty,
            "Authorize": self._authorize_201,
            "TransactionEvent": self._transaction_event_201,
            "MeterValues": empty,
            "NotifyReport": empty,
            "NotifyEvent": empty,
            "NotifyMonitoringReport": empty,
            "NotifyChargingLimit": empty,
            "ClearedChargingLimit": empty,
            "NotifyCustomerInformation": empty,
            "NotifyDisplayMessages": empty,
            "NotifyEVChargingNeeds": self._accepted,
            "NotifyEVChargingSchedule": self._accepted,
            "ReportChargingProfiles": empty,
            "ReservationStatusUpdate": empty,
            "SecurityEventNotification": empty,
            "SignCertificate": self._accepted,
            "LogStatusNotification": empty,
            "FirmwareStatusNotification": empty,
            "PublishFirmwareStatusNotification": empty,
            "DataTransfer": self._accepted,
            "GetCertificateStatus": self._failed,
            "Get15118EVCertificate": self._ev_certificate_201,
        }

    # -- OCPP 2.1 -----------------------------------------------------------------------

    @staticmethod
    def _open_stream_21(_request: Payload) -> Payload:
        return {"status": "Accepted"}

    @staticmethod
    def _pull_schedule_21(_request: Payload) -> Payload:
        # No dynamic schedule here: nothing to update it with.
        return {"status": "Rejected"}

    @staticmethod
    def _vat_number_21(request: Payload) -> Payload:
        return {"vatNumber": str(request.get("vatNumber", ""))[:20], "status": "Rejected"}

    def _table_21(self) -> dict[str, Handler]:
        """2.0.1's answers (2.1 accepts them all) and those of 2.1's new station calls."""
        empty = self._empty
        return {
            **self._table_201(),
            "NotifyDERAlarm": empty,
            "NotifyDERStartStop": empty,
            "NotifyPriorityCharging": empty,
            "NotifySettlement": empty,
            "ReportDERControl": empty,
            "BatterySwap": empty,
            "OpenPeriodicEventStream": self._open_stream_21,
            "PullDynamicScheduleUpdate": self._pull_schedule_21,
            "VatNumberValidation": self._vat_number_21,
        }


def format_error_code(version: str, code: str) -> str:
    """The CALLERROR code for a malformed frame in ``version`` (1.6 spells it differently).

    ``code`` is a :class:`loadgen.ocpp.framing.FrameError` code; OCPP 1.6 has neither
    ``FormatViolation`` nor ``MessageTypeNotSupported`` and answers both with
    ``FormationViolation``.
    """
    return "FormationViolation" if version == "1.6" else code
