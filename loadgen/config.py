"""What a loadgen config is: frozen dataclasses, shared by every layer.

:mod:`loadgen.run.configfile` loads and validates YAML into them; everything else only
reads them. Also here: :class:`ConfigError` (the message names the field and the fix),
durations, and where a run is among its stages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")
_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$"
)


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Backoff between connection attempts, as OCPP 2.0.1's RetryBackOff* variables say.

    The n-th attempt after a loss waits ``min(max_s, initial_s * factor**min(n,
    repeat_times)) + uniform(0, random_range_s)``: RetryBackOffWaitMinimum is
    ``initial_s``, RetryBackOffRandomRange ``random_range_s`` (default: ``initial_s``),
    RetryBackOffRepeatTimes ``repeat_times`` (default: as many doublings as fit under
    ``max_s``). Once the server (SetVariables) or ``configuration`` set one of those
    variables, the waits follow them without the ``max_s`` cap. The random part spreads
    a fleet: with 10 s, a gateway restart with 10,000 charge points sees about 1,000
    connects a second, not 10,000 at once.
    """

    initial_s: float = 10.0
    max_s: float = 120.0
    factor: float = 2.0
    random_range_s: float | None = None
    repeat_times: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """Share of charge points that stay idle or run charging sessions (weights)."""

    idle: float = 1.0
    charging: float = 0.0


@dataclass(frozen=True, slots=True)
class Session:
    """One charging session: Authorize, start, meter values, stop, then a pause."""

    duration_s: float = 120.0
    meter_interval_s: float = 30.0
    pause_s: float = 60.0
    id_tag: str = "LOADGEN-TAG"
    power_w: float = 11_000.0  # charging power while a session runs


#: the most ``charge_points.io_batch_ms`` may be: it delays every charger's reaction
MAX_IO_BATCH_MS = 50.0


@dataclass(frozen=True, slots=True)
class ChargePoints:
    """How each simulated charge point identifies itself and behaves."""

    id_prefix: str = "CP-"
    ids_file: str | None = None
    connectors: int = 1
    vendor: str = "loadgen"
    model: str = "SimulatedCP"
    firmware_version: str = "loadgen-0.2.0"
    heartbeat_interval_s: float | None = None  # None: the BootNotification interval
    boot_retry_s: float = 10.0  # Pending/Rejected with interval 0
    connect_timeout_s: float = 10.0
    call_timeout_s: float = 30.0
    #: a reconnect boots again only when the charger was never Accepted, unless this is set
    boot_on_reconnect: bool = False
    reboot_s: float = 5.0  # a reset's reboot: from closing the connection to reconnecting
    #: transaction messages kept while offline; beyond it the oldest meter values go first
    offline_queue_max: int = 1000
    #: after a read, a process polls its sockets again this much later (0: at once), so
    #: one wake-up serves many connections; response times end at the kernel's stamp
    io_batch_ms: float = 5.0
    #: setting (1.6 key, 2.0.1 Component.Variable or loadgen name) -> value, as strings
    configuration: tuple[tuple[str, str], ...] = ()
    scenario: Scenario = field(default_factory=Scenario)
    session: Session = field(default_factory=Session)
    reconnect: Reconnect = field(default_factory=Reconnect)


@dataclass(frozen=True, slots=True)
class Stage:
    """Hold ``users`` charge points; ``duration_s`` counts from the stage's start."""

    users: int
    spawn_rate: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Tls:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class RedisProbe:
    url: str = "redis://127.0.0.1:6379/0"
    key: str = "ocpp:cp:{id}"
    sample: float = 0.05
    within_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits that decide the run's verdict; ``None`` switches a check off."""

    min_success_rate: float | None = 0.99  # established / attempted connections
    min_boot_rate: float | None = 0.99  # Accepted boots / established connections
    max_connect_p95_ms: float | None = 2000.0
    max_connect_p99_ms: float | None = None
    #: action -> p95 limit in ms; the key "*" applies to every action without its own
    max_call_p95_ms: dict[str, float] = field(default_factory=dict)
    #: failure category -> most occurrences allowed
    max_failures: dict[str, int] = field(default_factory=dict)
    #: checks that pass when they have no samples ("*": all); others fail as "no data"
    allow_no_data: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    """A validated loadgen config."""

    name: str = "config"
    path: str | None = None
    target: str = "embedded"
    ocpp_version: str = "1.6"
    charge_points: ChargePoints = field(default_factory=ChargePoints)
    stages: tuple[Stage, ...] = (Stage(users=10, spawn_rate=10, duration_s=10),)
    source_addresses: tuple[str, ...] | None = None
    tls: Tls = field(default_factory=Tls)
    redis: RedisProbe | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    fleet: FleetSpec = field(default_factory=lambda: FleetSpec())
    gateway: GatewayPlan = field(default_factory=lambda: GatewayPlan())

    @property
    def total_duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    @property
    def max_users(self) -> int:
        return max(stage.users for stage in self.stages)


@dataclass(frozen=True, slots=True)
class StagePosition:
    """Where a run is: stage ``index`` (0-based) of ``count``, and its time left."""

    index: int
    count: int
    stage: Stage
    started_s: float  # run time at which this stage began
    left_s: float


def position(stages: tuple[Stage, ...], run_time_s: float) -> StagePosition | None:
    """The stage at ``run_time_s`` seconds into the run, or ``None`` after the last."""
    started = 0.0
    for index, stage in enumerate(stages):
        ends = started + stage.duration_s
        if run_time_s < ends:
            return StagePosition(index, len(stages), stage, started, ends - run_time_s)
        started = ends
    return None


def parse_duration(value: object, where: str) -> float:
    """Seconds from a number or a string like ``90s``, ``5m``, ``1m30s``, ``1h``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like 60, '90s' or '5m', got {value!r}.")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (match := _DURATION.match(value)):
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    else:
        raise ConfigError(f"{where}: expected a duration like 60, '90s' or '5m', got {value!r}.")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: must be a positive duration, got {value!r}.")
    return seconds


# -- a fleet like a real one: charger models, sessions, firmware, faults (``fleet``) ------

#: OCPP 1.6 feature profiles; a model that lacks one answers its calls NotSupported.
FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)

#: 1.6: the firmware updates a model takes. ``signed``: a charger of the security
#: whitepaper, which answers a legacy UpdateFirmware with CALLERROR NotSupported (its
#: L01 rule); ``legacy``: a charger without the whitepaper's SignedUpdateFirmware (CALLERROR
#: NotImplemented); ``both``: either, for back ends that test both.
FIRMWARE_UPDATES = ("both", "signed", "legacy")


@dataclass(frozen=True, slots=True)
class ChargerModel:
    """One model of a mixed fleet: what it says it is, what it has and what it can do."""

    name: str
    weight: float = 1.0  # share of the fleet, relative to the other models' weights
    vendor: str = "loadgen"
    model: str = "SimulatedCP"
    firmware_version: str = "loadgen-0.2.0"
    connectors: int = 1  # 1.6 connectors / 2.0.1 EVSEs, each charging on its own
    max_power_w: float = 11_000.0  # per connector
    phases: int = 3  # AC phases (1 or 3); ignored when dc
    dc: bool = False
    voltage_v: float = 230.0  # AC: line to neutral; DC: at the connector
    soc: bool = False  # meters the EV's state of charge (DC chargers can)
    feature_profiles: tuple[str, ...] = FEATURE_PROFILES
    #: 1.6: which firmware update the model takes (FIRMWARE_UPDATES)
    firmware_update: str = "both"
    #: setting defaults of this model (as charge_points.configuration), over the fleet's
    configuration: tuple[tuple[str, str], ...] = ()
    #: 2.0.1: a limit set by an energy manager at power-up (NotifyChargingLimit, source EMS)
    external_limit_w: float | None = None


@dataclass(frozen=True, slots=True)
class Arrivals:
    """How EVs arrive at a connector of a charging charger, and what they need."""

    arrival: str = "exponential"  # or "uniform": pauses between sessions
    mean_pause_s: float = 300.0  # between an unplug and the next plug-in
    duration_s: tuple[float, float] = (600.0, 3600.0)  # how long an EV stays (uniform)
    battery_wh: tuple[float, float] = (40_000.0, 80_000.0)
    soc_start_percent: tuple[float, float] = (10.0, 60.0)
    taper_from_percent: float = 80.0  # constant power until then, then tapering to 100%
    ev_max_power_w: tuple[float, float] = (7_400.0, 150_000.0)  # what the EV accepts
    id_tags: tuple[str, ...] = ()  # drawn at random; else the ids file's or session.id_tag
    v2x_share: float = 0.0  # OCPP 2.1: share of EVs that can discharge (bidirectional)


@dataclass(frozen=True, slots=True)
class FirmwareUpdates:
    """How an UpdateFirmware goes: how long each step takes and how often it fails."""

    download_s: float = 10.0
    install_s: float = 10.0
    failure_share: float = 0.0
    failure_step: str = "download"  # download, install or signature (signed updates)


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """GetDiagnostics / GetLog: the size of the uploaded file and the upload's timeout."""

    upload_bytes: int = 4096
    timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class Faults:
    """A share of chargers reports a fault now and then and recovers after a while."""

    share: float = 0.0
    mean_interval_s: float = 600.0  # from power-up or recovery to the next fault (exponential)
    recover_s: float = 60.0
    error_code: str = "GroundFailure"  # 1.6 ChargePointErrorCode


@dataclass(frozen=True, slots=True)
class DataTransferAnswer:
    """The answer to a server's DataTransfer for a vendorId (and messageId, if given)."""

    vendor_id: str
    message_id: str | None = None
    status: str = "Accepted"
    data: str | None = None


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """The ``fleet`` section: models mixed by weight and how the chargers behave."""

    models: tuple[ChargerModel, ...] = ()  # none: every charger is charge_points' one model
    sessions: Arrivals | None = None  # None: charge_points.session's fixed sessions
    firmware: FirmwareUpdates = field(default_factory=FirmwareUpdates)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    faults: Faults = field(default_factory=Faults)
    data_transfer: tuple[DataTransferAnswer, ...] = ()
    #: SecurityEventNotification in 1.6 (boot, reset, firmware update, refused credentials);
    #: 2.x sends the critical ones always (A04.FR.01) and this adds refused credentials
    security_events: bool = False
    #: 2.0.1: report connector states with NotifyEvent (AvailabilityState), not StatusNotification
    notify_event: bool = False


@dataclass(frozen=True, slots=True)
class OperatorStep:
    """One step of the embedded gateway's operator script."""

    at_s: float  # seconds after the gateway started
    call: str  # the OCPP action to send
    share: float = 1.0  # of the chargers connected then (picked by their id)
    #: parameters of the call (limit_w, location, tags ...); see docs/fleets.md
    params: tuple[tuple[str, str | int | float | bool], ...] = ()
    #: steps with the same pick name reach the same chargers (a smaller share, a subset)
    pick: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayPlan:
    """The ``gateway`` section: what the embedded gateway does beyond answering."""

    script: tuple[OperatorStep, ...] = ()
    validate: bool = False  # check every charger frame against the official schemas
