"""What a charge point says in one OCPP version: the interface both versions implement.

A dialect turns the charge point's intentions (boot, report a connector, start, meter
and end a transaction) into ``(action, payload)`` pairs, reads the server's answers,
and answers the server's own calls by asking a :class:`ChargePointTarget` (the station)
what to do. It holds no socket, no clock and no state: times come in as epoch seconds,
and every decision (accept a remote start, schedule an availability change) is the
target's, so behaviour is written once for both versions.
"""

from __future__ import annotations

import string
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from loadgen.ocpp.framing import Call, CallError, CallResult
from loadgen.ocpp.samples import Reading

if TYPE_CHECKING:
    from loadgen.ocpp.profiles import ChargingProfile
    from loadgen.ocpp.tariffs import CostDetails, Tariff

Payload = dict[str, Any]
Request = tuple[str, Payload]
#: A connector's status as the charge point knows it (1.6 names; 2.0.1 maps them).
ConnectorStatus = Literal[
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
]
BootStatus = Literal["Accepted", "Pending", "Rejected"]
#: Why the charge point boots (2.0.1 BootReasonEnumType; 1.6 sends no reason).
BootReason = Literal["PowerUp", "RemoteReset", "Triggered", "FirmwareUpdate", "Unknown"]
#: Why a transaction ends (1.6 names, plus 2.0.1's ImmediateReset).
StopReason = Literal[
    "Local",
    "Remote",
    "HardReset",
    "SoftReset",
    "ImmediateReset",
    "DeAuthorized",
    "UnlockCommand",
    "EVDisconnected",
    "Reboot",
    "PowerLoss",
    "EmergencyStop",
    "MasterPass",
    "Other",
]
#: What began a transaction.
StartTrigger = Literal["Authorized", "RemoteStart"]
#: Neutral answers of :meth:`ChargePointTarget.unlock_connector`.
UnlockOutcome = Literal["Unlocked", "UnlockFailed", "Ongoing", "Unknown"]
#: (when, reading, context) of a sample a transaction's end carries (1.6 transactionData).
Sample = tuple[float, Reading, str]
#: A composite schedule: (start in epoch s, unit, [(startPeriod, limit, numberPhases)]).
Composite = tuple[float, str, list[tuple[int, float, int | None]]]


@dataclass(frozen=True, slots=True)
class BootReply:
    """What the server said to a BootNotification."""

    status: BootStatus
    interval_s: int  # heartbeat interval when Accepted, retry delay when Pending/Rejected


@dataclass(frozen=True, slots=True)
class Identity:
    """How a charge point describes itself in BootNotification."""

    vendor: str
    model: str
    serial_number: str
    firmware_version: str


@dataclass(frozen=True, slots=True)
class IdInfo:
    """What the server says of a tag: 1.6 idTagInfo / 2.0.1 idTokenInfo.

    ``expires_at``: 1.6 expiryDate / 2.0.1 cacheExpiryDateTime in epoch seconds, None
    when it has none. ``group``: 1.6 parentIdTag / 2.0.1 groupIdToken.
    """

    status: str
    expires_at: float | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class StartReply:
    """What the server said to a transaction's start.

    ``transaction_id``: the server's id (1.6), None in 2.0.1 (the station's own).
    ``info``: idTagInfo / idTokenInfo, None when the answer carried none.
    """

    transaction_id: int | None
    info: IdInfo | None

    @property
    def status(self) -> str | None:
        """The idTagInfo / idTokenInfo status, None when the answer carried none."""
        info = self.info
        return None if info is None else info.status


@dataclass(frozen=True, slots=True)
class CertificateId:
    """A certificate as OCPP names it (CertificateHashDataType, 2.0.1 Part 2 2.6; the 1.6
    security whitepaper's is the same): ``algorithm`` SHA256, SHA384 or SHA512; the hex
    hashes of the issuer's name (DER) and of the issuer's public key bits; the serial
    number in hex without leading zeroes."""

    algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """A network connection profile (2.0.1 NetworkConnectionProfileType, B09) as the
    station keeps it in a configuration slot: where it connects and how."""

    url: str | None  # ocppCsmsUrl, the identity not appended; None: the run's own target
    security_profile: int  # 0 none, 1 Basic auth, 2 TLS and Basic auth, 3 TLS client certificates
    message_timeout_s: float  # the timeout of the station's calls over this connection


class TransactionLike(Protocol):
    """What a dialect reads of a transaction to build its messages."""

    connector_id: int  # 1.6 connector / 2.0.1 EVSE (connector 1 on it)
    local_id: str  # the station's own id (2.0.1 transactionId)
    server_id: int | None  # the server's id (1.6), once the start was answered
    id_tag: str
    remote_start_id: int | None
    #: why its authorization ended while it went on (2.x TxStopPoint), else None
    ended_for: StopReason | None


class ChargePointTarget(Protocol):
    """What the server's calls ask of a charge point; the station implements it.

    Each method decides, changes state and queues what follows (a StatusNotification,
    a transaction's start), and returns the answer's status in neutral words.
    """

    @property
    def connector_count(self) -> int: ...

    @property
    def charge_point_id(self) -> str:
        """The station's identity (the end of its URL, its Basic-auth user)."""

    def read_setting(self, name: str) -> str | None:
        """The value of a setting (see :mod:`loadgen.ocpp.settings`), None if unset."""

    def read_evse_setting(self, name: str, evse_id: int) -> str | None:
        """The value of a setting of EVSE ``evse_id`` or of its connector (2.0.1
        components on an EVSE's tier), None if the station has no such EVSE."""

    def max_limit(self, name: str, evse_id: int | None) -> str | None:
        """The 2.0.1 maxLimit characteristic of a setting (of EVSE ``evse_id``'s), None
        if it has none."""

    def write_setting(self, name: str, value: str) -> str:
        """Accepted, Rejected or RebootRequired."""

    def remote_start(
        self,
        connector_id: int | None,
        id_tag: str,
        remote_start_id: int | None,
        profile: ChargingProfile | None = None,
        group: str | None = None,
    ) -> str:
        """Accepted or Rejected; ``profile``: a TxProfile for the transaction; ``group``:
        the tag's group (2.0.1 groupIdToken), which a group reservation admits."""

    def remote_stop(self, transaction_id: str) -> str:
        """Accepted or Rejected."""

    def reset(self, kind: str, evse_id: int | None) -> str:
        """Accepted, Rejected or Scheduled; ``kind``: Hard, Soft, Immediate or OnIdle."""

    def change_availability(self, connector_id: int, operative: bool) -> str:
        """Accepted, Rejected or Scheduled; connector 0 is the whole station."""

    def unlock_connector(self, connector_id: int, stop_transaction: bool) -> UnlockOutcome:
        """What happened at the connector; ``stop_transaction``: end a transaction there
        first (1.6), else answer Ongoing while one runs (2.0.1)."""

    def trigger_message(self, message: str, connector_id: int | None) -> str:
        """Accepted, Rejected or NotImplemented (the dialect has checked the name)."""

    def transaction_status(self, transaction_id: str | None) -> tuple[bool | None, bool]:
        """(whether that transaction is ongoing, whether transaction messages about it wait
        to be delivered); with no id, (None, whether any wait) (2.0.1 E14)."""

    def clear_cache(self) -> str:
        """Accepted or Rejected."""

    def base_report(self, request_id: int, report_base: str) -> str:
        """Accepted, Rejected or NotSupported (2.0.1 GetBaseReport)."""

    def supports(self, feature: str) -> bool:
        """Whether the charger has a feature profile (1.6 names: SmartCharging ...)."""

    def takes_update(self, signed: bool) -> bool:
        """1.6: whether the charger takes a SignedUpdateFirmware (``signed``) or a legacy
        UpdateFirmware."""

    def update_firmware(
        self,
        location: str,
        retrieve_at: float,
        request_id: int | None,
        signed: bool,
        install_at: float | None = None,
    ) -> str:
        """Accepted, Rejected or AcceptedCanceled (an update under way was cancelled);
        ``install_at``: not before then (2.0.1 installDateTime)."""

    def upload_log(
        self, location: str, request_id: int | None, kind: str
    ) -> tuple[str, str | None]:
        """(Accepted / Rejected / AcceptedCanceled, the file name); ``kind``: Diagnostics
        (1.6 GetDiagnostics), DiagnosticsLog or SecurityLog (GetLog)."""

    def reserve_now(
        self,
        reservation_id: int,
        connector_id: int | None,
        expiry_at: float,
        id_tag: str,
        group_tag: str | None,
    ) -> str:
        """Accepted, Faulted, Occupied, Rejected or Unavailable; connector None: any."""

    def cancel_reservation(self, reservation_id: int) -> str:
        """Accepted or Rejected."""

    def send_local_list(
        self, version: int, full: bool, entries: list[tuple[str, IdInfo | None]]
    ) -> str:
        """Accepted, Failed or VersionMismatch; an entry without info removes the tag."""

    def local_list_version(self) -> int:
        """The local authorization list's version (0: none)."""

    def set_charging_profile(self, profile: ChargingProfile) -> str:
        """Accepted or Rejected."""

    def clear_charging_profiles(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> str:
        """Accepted (some cleared) or Unknown."""

    def composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None
    ) -> Composite | None:
        """The composite schedule from now, or None (Rejected)."""

    def report_charging_profiles(
        self,
        request_id: int,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
        profile_ids: Sequence[int],
        sources: Sequence[str],
    ) -> str:
        """Accepted (ReportChargingProfiles follow) or NoProfiles (2.0.1)."""

    def data_transfer(
        self, vendor_id: str, message_id: str | None, data: object
    ) -> tuple[str, str | None]:
        """(status, data) of the answer to the server's DataTransfer."""

    def install_certificate(self, use: str, pem: str) -> str:
        """Accepted, Rejected (invalid, or the store is full) or Failed; ``use``: the 2.0.1
        InstallCertificateUseEnumType name (1.6's CentralSystemRootCertificate is
        CSMSRootCertificate)."""

    def installed_certificates(self, uses: Sequence[str] | None) -> list[tuple[str, CertificateId]]:
        """(use, hash data) of each installed certificate of ``uses`` (None: all)."""

    def delete_certificate(self, certificate: CertificateId) -> str:
        """Accepted, Failed or NotFound."""

    def customer_information(
        self, request_id: int, report: bool, clear: bool, id_tag: str | None
    ) -> str:
        """Accepted or Rejected (2.0.1 N09 / N10): report and / or clear what the station
        stores of the customer with ``id_tag`` (None: one named by a certificate or an
        identifier of the CSMS's own); NotifyCustomerInformation follows."""

    def set_network_profile(self, slot: int, profile: NetworkProfile) -> tuple[str, str | None]:
        """(Accepted / Rejected, the reasonCode of a rejection) of a SetNetworkProfile whose
        content the dialect has checked (2.0.1 B09): the station stores it in ``slot``."""

    # -- OCPP 2.1 ------------------------------------------------------------------------

    def set_default_tariff(self, evse_id: int, tariff: Tariff) -> str:
        """Accepted, Rejected or DuplicateTariffId; EVSE 0: every EVSE (SetDefaultTariff)."""

    def tariffs(self, evse_id: int) -> list[tuple[Tariff, list[int]]]:
        """The default tariffs that apply at ``evse_id`` (0: all), each with its EVSEs."""

    def clear_tariffs(
        self, tariff_ids: Sequence[str] | None, evse_id: int | None
    ) -> list[tuple[str | None, str]]:
        """(tariffId, Accepted) per tariff removed, or [(None, NoTariff)] (ClearTariffs)."""

    def change_transaction_tariff(self, transaction_id: str, tariff: Tariff) -> str:
        """Accepted, Rejected, TxNotFound or NoCurrencyChange (ChangeTransactionTariff)."""

    def allow_energy_transfer(self, transaction_id: str, modes: Sequence[str]) -> str:
        """Accepted or Rejected (NotifyAllowedEnergyTransfer: the modes now allowed)."""


class Dialect(ABC):
    """One OCPP version as the charge point speaks it."""

    version: str  # "1.6", "2.0.1" or "2.1"
    subprotocol: str  # "ocpp1.6", "ocpp2.0.1" or "ocpp2.1"
    #: actions whose delivery survives a lost connection, in order
    transaction_actions: frozenset[str]
    #: every action the server may send in this version (others are counted as unknown)
    server_actions: frozenset[str]
    #: whether the connectors left for reservations of no connector (1.6 connector 0, 2.x
    #: no evseId) are reported Reserved once no more are free than such reservations held
    marks_reserved_for_any: bool

    # -- the charge point's own calls ---------------------------------------------------

    @abstractmethod
    def boot_notification(self, identity: Identity, reason: BootReason) -> Request:
        """The BootNotification request."""

    @abstractmethod
    def parse_boot_reply(self, payload: Payload) -> BootReply:
        """Read status and interval; :class:`~loadgen.ocpp.framing.FrameError` if malformed."""

    def heartbeat(self) -> Request:
        """The Heartbeat request."""
        return "Heartbeat", {}

    @abstractmethod
    def status_notification(
        self, connector_id: int, status: ConnectorStatus, error_code: str, at: float
    ) -> Request:
        """A StatusNotification; ``at`` in epoch seconds."""

    def wire_status(self, status: ConnectorStatus) -> str:
        """A connector status as this version's StatusNotification names it."""
        return status

    @abstractmethod
    def authorize(self, id_tag: str) -> Request:
        """The Authorize request for an RFID tag."""

    @abstractmethod
    def authorize_info(self, payload: Payload) -> IdInfo:
        """The idTagInfo / idTokenInfo of an Authorize answer; FrameError if absent."""

    @abstractmethod
    def tx_start(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        trigger: StartTrigger,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...] = (),
        reservation_id: int | None = None,
        state: ConnectorStatus = "Charging",
    ) -> Request:
        """Begin a transaction: StartTransaction (1.6) or TransactionEvent Started (with
        ``measurands`` in context Transaction.Begin)."""

    @abstractmethod
    def start_reply(self, payload: Payload) -> StartReply:
        """Read the answer to :meth:`tx_start`; FrameError if malformed."""

    @abstractmethod
    def end_reply(self, request: Payload, payload: Payload) -> tuple[str | None, IdInfo | None]:
        """The tag :meth:`tx_end`'s ``request`` named (None: none) and what the answer
        says of it (1.6 StopTransaction.conf idTagInfo, 2.0.1 TransactionEventResponse
        idTokenInfo; None: nothing); FrameError if malformed."""

    @abstractmethod
    def tx_meter(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...],
        context: str = "Sample.Periodic",
        *,
        state: ConnectorStatus,
    ) -> Request:
        """A periodic (or, ``context`` Sample.Clock, clock-aligned) sample during a
        transaction: MeterValues / TransactionEvent Updated, which tells the connector's
        charging ``state`` (2.0.1 chargingState, E02.FR.13)."""

    @abstractmethod
    def tx_end(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        reason: StopReason,
        seq_no: int,
        offline: bool,
        measurands: tuple[str, ...] = (),
        samples: Sequence[Sample] = (),
        aligned_measurands: tuple[str, ...] = (),
        stopped_by: str | None = None,
    ) -> Request:
        """End a transaction: StopTransaction (1.6) or TransactionEvent Ended (2.0.1),
        carrying ``samples`` and the end's reading (StopTxnSampledData / TxEndedMeasurands),
        the clock-aligned ones (Sample.Clock) with ``aligned_measurands``
        (StopTxnAlignedData / AlignedDataCtrlr.TxEndedMeasurands); ``stopped_by``: the
        tag that stopped it, when another than its own (a Master Pass, E07.FR.02)."""

    def bind(self, action: str, payload: Payload, tx: TransactionLike | None) -> None:
        """Complete a queued payload just before it is sent.

        1.6 numbers transactions on the server: a MeterValues or StopTransaction made
        before its StartTransaction was answered gets the id now. 2.0.1 needs nothing.
        """
        return None

    @abstractmethod
    def meter_values(
        self,
        connector_id: int,
        reading: Reading,
        at: float,
        tx: TransactionLike | None,
        measurands: tuple[str, ...] = (),
        context: str = "Trigger",
    ) -> Request:
        """MeterValues asked for by TriggerMessage (context Trigger), or clock-aligned
        outside a transaction (Sample.Clock)."""

    def tx_triggered(
        self,
        tx: TransactionLike,
        reading: Reading,
        at: float,
        seq_no: int,
        measurands: tuple[str, ...] = (),
        *,
        state: ConnectorStatus,
    ) -> Request | None:
        """A TransactionEvent asked for by TriggerMessage (2.0.1), with the connector's
        charging ``state`` now (F06.FR.07/09); None in 1.6."""
        return None

    def tx_charging(
        self,
        tx: TransactionLike,
        at: float,
        seq_no: int,
        offline: bool,
        state: ConnectorStatus,
        *,
        rate_changed: bool = False,
        deauthorized: str | None = None,
    ) -> Request | None:
        """A TransactionEvent Updated for a change no meter sample carries: the charging
        ``state`` changed (ChargingStateChanged, E02.FR.13, E05.FR.02), or only the rate,
        by more than LimitChangeSignificance (``rate_changed``: ChargingRateChanged,
        K11.FR.04), or the authorization ended and the transaction goes on
        (``deauthorized``, its triggerReason: Deauthorized when the server refused the
        tag, E05.FR.09, C15.FR.03; StopAuthorized when the driver stopped, E07.FR.01
        with a TxStopPoint without Authorized); None in 1.6 (its StatusNotification
        tells the state)."""
        return None

    @abstractmethod
    def firmware_status(
        self, status: str, request_id: int | None = None, *, signed: bool = False
    ) -> Request:
        """FirmwareStatusNotification (1.6: SignedFirmwareStatusNotification when
        ``signed`` or the update came with a ``request_id``, from SignedUpdateFirmware)."""

    def diagnostics_status(self, status: str) -> Request | None:
        """DiagnosticsStatusNotification (1.6) / LogStatusNotification (2.0.1)."""
        return None

    def log_status(self, status: str, request_id: int | None) -> Request:
        """LogStatusNotification (GetLog: 2.0.1, and 1.6's security extension)."""
        payload: Payload = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        return "LogStatusNotification", payload

    def security_event(self, kind: str, at: float, info: str | None = None) -> Request:
        """SecurityEventNotification (2.0.1 A04; 1.6's security extension)."""
        payload: Payload = {"type": kind[:50], "timestamp": iso(at)}
        if info:
            payload["techInfo"] = info[:255]
        return "SecurityEventNotification", payload

    def reservation_status(self, reservation_id: int, status: str) -> Request | None:
        """ReservationStatusUpdate (2.0.1 H01: Expired, Removed); None in 1.6."""
        return None

    def connector_event(
        self, connector_id: int, status: ConnectorStatus, at: float, event_id: int
    ) -> Request | None:
        """NotifyEvent of a connector's AvailabilityState (2.0.1 G01); None in 1.6."""
        return None

    def charging_limit(self, connector_id: int, limit_w: float, at: float) -> Request | None:
        """NotifyChargingLimit for a limit an energy manager set (2.0.1 K12); None in 1.6."""
        return None

    def charging_profiles_report(
        self, request_id: int, source: str, connector_id: int, profiles: list[Payload], tbc: bool
    ) -> Request | None:
        """ReportChargingProfiles (2.0.1 K09); None in 1.6."""
        return None

    def tx_details(
        self,
        payload: Payload,
        cost: CostDetails | None,
        tariff_id: str | None,
    ) -> None:
        """Add 2.1's cost details and tariff to a TransactionEvent
        ``payload`` the dialect built (local cost calculation, V2X); nothing before 2.1."""
        return None

    def charging_needs(
        self, connector_id: int, phases: int, max_power_w: float, battery_wh: float, soc: float
    ) -> Request | None:
        """NotifyEVChargingNeeds of a V2X-capable EV (2.1 Q01), on a charger of ``phases``
        AC phases (0: DC); None before 2.1."""
        return None

    def customer_report(self, request_id: int, at: float, data: str) -> Request | None:
        """The one NotifyCustomerInformation of CustomerInformation ``request_id`` (2.0.1
        N09 / N10; ``data`` up to 512 characters); None in 1.6."""
        return None

    def notify_report(
        self,
        request_id: int,
        at: float,
        target: ChargePointTarget,
        report_base: str = "FullInventory",
    ) -> list[Request] | None:
        """The NotifyReports (in order) for GetBaseReport ``request_id`` of ``report_base``
        (2.0.1); None in 1.6 and for a reportBase the dialect does not support."""
        return None

    # -- the server's calls --------------------------------------------------------------

    def token_value(self, id_tag: str) -> str:
        """A tag as the server wrote its value (2.x keeps a non-ISO14443 type with it)."""
        return id_tag

    def password(self, value: str) -> bytes | None:
        """The HTTP Basic password a written BasicAuthPassword means, None if invalid:
        a passwordString of 16 to 40 characters, sent as UTF-8 (2.0.1 A00.FR.205)."""
        if 16 <= len(value) <= 40 and all(c in _PASSWORD_CHARS for c in value):
            return value.encode()
        return None

    def password_taken(self, payload: Payload) -> bool:
        """Whether an answer to a SetVariables that set a new password tells the CSMS
        it was taken: its BasicAuthPassword result is Accepted (A01.FR.04: otherwise
        the old credentials stay in use). For an answer a driver wrote itself."""
        results = payload.get("setVariableResult")
        return isinstance(results, list) and any(
            isinstance(result, dict)
            and result.get("attributeStatus") == "Accepted"
            and isinstance(result.get("component"), dict)
            and result["component"].get("name") == "SecurityCtrlr"
            and isinstance(result.get("variable"), dict)
            and result["variable"].get("name") == "BasicAuthPassword"
            for result in results
        )

    @abstractmethod
    def answer(self, call: Call, target: ChargePointTarget) -> CallResult | CallError:
        """Answer a server call by asking ``target``; never raises.

        Actions it has no handler for get :meth:`unhandled`'s CALLERROR, unreadable
        payloads the matching format or type CALLERROR.
        """

    def recognises(self, action: str, target: ChargePointTarget) -> bool:
        """Whether the charge point knows ``action``: a server call of this version."""
        return action in self.server_actions

    def unhandled(self, call: Call, target: ChargePointTarget) -> CallError:
        """The CALLERROR for a call no handler answers: NotSupported for an action the
        charge point recognises but does not support, NotImplemented for one it does not
        know (OCPP-J 1.6 section 4.2.3, 2.0.1 Part 4 section 4.3)."""
        action = call.action[:50]
        if self.recognises(call.action, target):
            return CallError(call.unique_id, "NotSupported", f"{action} not supported")
        return CallError(call.unique_id, "NotImplemented", f"{action} unknown")


#: a passwordString's characters (2.0.1 Part 2 2.1.4)
_PASSWORD_CHARS = frozenset(string.ascii_letters + string.digits + "*-_=:+|@.")

_second = -1
_second_text = ""


def iso(epoch_s: float) -> str:
    """A UTC time as OCPP writes it: ``2026-01-02T03:04:05.678Z`` (seconds part cached)."""
    global _second, _second_text
    second = int(epoch_s)
    if second != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_second_text}.{int((epoch_s - second) * 1000):03d}Z"
