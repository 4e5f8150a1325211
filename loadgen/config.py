"""What a loadgen config is: frozen dataclasses, shared by every layer.

:mod:`loadgen.run.configfile` loads and validates YAML into them; everything else only
reads them. Also here: :class:`ConfigError` (the message names the field and the fix),
durations, and where a run is among its stages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

OCPP_VERSIONS = ("1.6", "2.0.1")
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
    ``max_s``). The random part spreads a fleet: with 10 s, a gateway restart with 10,000
    charge points sees about 1,000 connects a second, not 10,000 at once.
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
