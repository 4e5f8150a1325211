"""What a charge point says in one OCPP version: the interface both versions implement.

A dialect turns the charge point's intentions (boot, report a connector, start a
session) into ``(action, payload)`` pairs and answers the server's calls. It holds no
socket and no clock: times are passed in, state lives in :class:`StationState`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from loadgen.ocpp.framing import Call, CallError, CallResult

Payload = dict[str, Any]
Request = tuple[str, Payload]
#: A connector as the charge point sees it; each dialect maps it to its own enum.
ConnectorStatus = Literal["Available", "Charging", "Unavailable"]
BootStatus = Literal["Accepted", "Pending", "Rejected"]


@dataclass(frozen=True, slots=True)
class BootReply:
    """What the server said to a BootNotification."""

    status: BootStatus
    interval_s: int  # heartbeat interval when Accepted, retry delay when Pending/Rejected


@dataclass(slots=True)
class StationState:
    """The charge point's own state that the server's calls can read or change."""

    charge_point_id: str
    connectors: int = 1
    heartbeat_interval_s: float = 60.0
    #: connector id -> transaction id of the session running there
    transactions: dict[int, str] = field(default_factory=dict)
    #: configuration keys (1.6) / variables (2.0.1) as strings
    configuration: dict[str, str] = field(default_factory=dict)
    #: connector ids the server asked to start a session on (RemoteStart / RequestStart)
    start_requests: list[int] = field(default_factory=list)
    #: transaction ids the server asked to stop
    stop_requests: list[str] = field(default_factory=list)
    #: requestIds of GetBaseReport calls whose NotifyReport is still to be sent
    report_requests: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to a server call, and what the charge point should send after it."""

    frame: CallResult | CallError
    #: actions to send after the answer, e.g. ("Heartbeat",) after TriggerMessage
    then: tuple[str, ...] = ()


class Dialect(ABC):
    """One OCPP version as the charge point speaks it."""

    version: str  # "1.6" or "2.0.1"
    subprotocol: str  # "ocpp1.6" or "ocpp2.0.1"

    @abstractmethod
    def boot_notification(self, charge_point_id: str, vendor: str, model: str) -> Request:
        """The BootNotification request."""

    @abstractmethod
    def parse_boot_reply(self, payload: Payload) -> BootReply:
        """Read status and interval from a BootNotification response."""

    @abstractmethod
    def heartbeat(self) -> Request:
        """The Heartbeat request."""

    @abstractmethod
    def status_notification(
        self, connector_id: int, status: ConnectorStatus, now: datetime
    ) -> Request:
        """A StatusNotification for connector ``connector_id`` (1-based)."""

    @abstractmethod
    def authorize(self, id_tag: str) -> Request:
        """The Authorize request for an RFID tag."""

    @abstractmethod
    def start_transaction(
        self, connector_id: int, id_tag: str, meter_wh: int, now: datetime, local_id: str
    ) -> Request:
        """Begin a session: StartTransaction (1.6) or TransactionEvent Started (2.0.1)."""

    @abstractmethod
    def transaction_id(self, start_reply: Payload, local_id: str) -> str:
        """The session's transaction id after the start request was answered."""

    @abstractmethod
    def meter_values(
        self, connector_id: int, transaction_id: str, meter_wh: int, now: datetime, seq_no: int
    ) -> Request:
        """A meter reading during a session."""

    @abstractmethod
    def stop_transaction(
        self,
        connector_id: int,
        transaction_id: str,
        id_tag: str,
        meter_wh: int,
        now: datetime,
        seq_no: int,
    ) -> Request:
        """End a session: StopTransaction (1.6) or TransactionEvent Ended (2.0.1)."""

    @abstractmethod
    def answer(self, call: Call, state: StationState) -> Answer:
        """Answer a call the server sent; unknown actions get CALLERROR NotImplemented."""


def iso(now: datetime) -> str:
    """A UTC timestamp as OCPP writes it: ``2026-01-02T03:04:05.678Z``.

    A naive ``now`` is taken to be UTC already; an aware one is converted to UTC.
    """
    if now.tzinfo is not None:
        now = now.astimezone(UTC)
    return (
        f"{now.year:04d}-{now.month:02d}-{now.day:02d}T"
        f"{now.hour:02d}:{now.minute:02d}:{now.second:02d}.{now.microsecond // 1000:03d}Z"
    )
