"""What a station asks its driver to do: the actions its events return, and the counters.

A :class:`~loadgen.sim.station.Station` never does I/O. Each event it is given
(connected, text received, timer fired, connection lost, stop) returns a list of these
actions, in order, for the engine (or a test) to carry out. They are plain slotted
dataclasses, not frozen ones: a frozen dataclass sets each field through
``object.__setattr__`` (580 against 160 ns per Report here), and a charge point makes
about fifteen of them on its way to its first Heartbeat.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.failures import Failure


@dataclass(slots=True)
class Send:
    """Send one OCPP-J frame (UTF-8 JSON) as a WebSocket text message."""

    data: bytes


@dataclass(slots=True)
class Connect:
    """Open a connection now; answer with ``connected`` or ``connect_failed``."""


@dataclass(slots=True)
class Close:
    """Close the connection on purpose (a reset, a stop, a link found dead); no ``lost``
    event follows. ``code``: the status code of our Close frame."""

    reason: str
    code: int = 1000


@dataclass(slots=True)
class Credentials:
    """From now on, open connections with this HTTP Basic password (the server set a new
    one: 2.0.1 A01, the 1.6 whitepaper's AuthorizationKey). Never logged."""

    password: bytes

    def __repr__(self) -> str:
        return "Credentials(password=<hidden>)"


@dataclass(slots=True)
class Retarget:
    """From the next connection on, connect to ``url`` (the charge point id appended, as
    to the run's target) with the run's TLS settings and source addresses; None: the
    run's own target. The station moved to another network connection profile (2.0.1
    B10, A05); it is offline when it says so."""

    url: str | None


@dataclass(slots=True)
class SetTimer:
    """Call ``timer`` at ``at`` (the events' clock, seconds); None cancels the timer."""

    at: float | None


@dataclass(slots=True)
class Report:
    """One exchange to count, as Locust's ``events.request`` takes it."""

    request_type: str  # "WS", "OCPP" (our calls) or "server" (the server's calls)
    name: str
    response_time_ms: float
    response_length: int
    failure: Failure | None


@dataclass(slots=True)
class Upload:
    """Upload a file of ``size`` bytes to ``url`` (HTTP(S) PUT) for a GetDiagnostics /
    GetLog; answer with ``uploaded(now, token, ok)``. The one piece of I/O a station asks
    for besides its connection (the engine does it in a greenlet it borrows)."""

    url: str
    name: str  # the file's name
    size: int
    timeout_s: float
    token: int


@dataclass(slots=True)
class Booted:
    """The server accepted a BootNotification (observers such as the Redis probe wait for it)."""


@dataclass(slots=True)
class Stopped:
    """The station has stopped for good: its connection is closed, nothing follows."""


@dataclass(slots=True)
class Ping:
    """Send a WebSocket Ping (WebSocketPingInterval: the client's keepalive)."""


@dataclass(slots=True)
class ScenarioDue:
    """A scenario is due: a driver arrives at ``connector_id`` (``kind`` "session") or the
    fleet's fault plan faults it ("fault"). The driver runs one and then tells the station
    with ``scenario_ended(now, token)``; until then the connector is the scenario's."""

    kind: str  # "session" or "fault"
    connector_id: int
    id_tag: str  # the driver's tag (the reserved one, the ids file's, the fleet's)
    stay_s: float  # a fault's time to recover; 0 for a session (its EV has its own)
    token: int  # names this scenario in scenario_ended


@dataclass(slots=True)
class Answered:
    """A step's CALL (``token``) was answered: ``value`` (the payload, or for Authorize
    the status), or ``error`` (call_timeout, a CALLERROR's code, connection lost ...)."""

    token: int
    value: object
    error: str | None


@dataclass(slots=True)
class Notice:
    """A change a scenario or a hook may wait for: ``event`` is "status" (``detail`` the
    new status), "transaction_started", "transaction_ended" (``detail`` the reason),
    "ev_leaving" (a scenario's EV has stayed its time) or "rebooted" (connector 0)."""

    event: str
    connector_id: int
    detail: str


@dataclass(slots=True)
class ServerCall:
    """A server call the driver answers itself (an ``on_call`` override): answer it with
    ``answer_server_call(now, unique_id, payload)``."""

    unique_id: str
    action: str
    payload: dict[str, object]


Action = (
    Send
    | Connect
    | Close
    | Credentials
    | Retarget
    | SetTimer
    | Report
    | Booted
    | Stopped
    | Ping
    | Upload
    | ScenarioDue
    | Answered
    | Notice
    | ServerCall
)
#: what a scenario driver (the Locust face) hears of; a plain engine passes them on
NEWS = (ScenarioDue, Answered, Notice, ServerCall)

CONNECT = Connect()
BOOTED = Booted()
STOPPED = Stopped()
PING = Ping()


@dataclass(slots=True)
class Counters:
    """Connection counts of one process, summed over its stations (the engine's)."""

    attempted: int = 0
    established: int = 0
    failed: int = 0  # connect attempts that failed
    connected: int = 0
    peak_connected: int = 0
    booted: int = 0
    reconnects: int = 0
    lost: int = 0
    reboots: int = 0  # resets carried out (the station closed, rebooted and connects again)
    offline_dropped: int = 0  # transaction messages dropped because the offline queue was full
    # the fleet's flows (summary.json's "fleet"; see docs/fleets.md)
    sessions_started: int = 0  # transactions begun
    sessions_ended: int = 0
    ended_local: int = 0  # ... by reason: Local (the EV left, a local stop)
    ended_remote: int = 0  # Remote
    ended_reset: int = 0  # HardReset, SoftReset, ImmediateReset, Reboot
    ended_deauthorized: int = 0  # DeAuthorized
    ended_other: int = 0  # any other reason (UnlockCommand, a fault ...)
    charging: int = 0  # connectors with a transaction now (a gauge)
    power_w: int = 0  # the power they draw, at their last sample (a gauge)
    energy_wh: int = 0  # energy delivered, summed over every register
    energy_exported_wh: int = 0  # energy discharging EVs gave back (2.1 V2X)
    v2x_sessions: int = 0  # sessions of a bidirectional EV (NotifyEVChargingNeeds sent)
    tariffs_set: int = 0  # default tariffs accepted (2.1 SetDefaultTariff)
    authorized_locally: int = 0  # starts without Authorize (local list or cache)
    firmware_updates: int = 0  # UpdateFirmware accepted
    firmware_installed: int = 0
    firmware_failed: int = 0  # DownloadFailed, InstallationFailed, InvalidSignature
    uploads_ok: int = 0  # diagnostics / logs uploaded
    uploads_failed: int = 0
    reservations: int = 0  # ReserveNow accepted
    reservations_used: int = 0  # ended by a transaction of the reserved tag
    reservations_expired: int = 0
    reservations_cancelled: int = 0
    profiles_set: int = 0  # charging profiles installed
    faults: int = 0  # connectors that went Faulted
    faults_recovered: int = 0
    security_events: int = 0  # SecurityEventNotifications queued

    def snapshot(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}
