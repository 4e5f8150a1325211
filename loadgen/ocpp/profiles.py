"""Charging profiles (smart charging) in neutral terms: read, stacked, and the limit they set.

Both versions' ``SetChargingProfile`` payloads are read into :class:`ChargingProfile`
(purposes in 2.0.1's words: ``ChargingStationMaxProfile`` is 1.6's
``ChargePointMaxProfile``). :func:`limit_at` finds the limit a set of profiles puts on one
connector at one moment, and when it next changes, by the rules both versions share (1.6
section 3.13, 2.0.1 K01 / K08): per purpose, the valid profile with the highest
stackLevel prevails (K01.FR.17); a TxProfile of the running transaction replaces the
TxDefaultProfiles (of the connector, else of connector 0); the station's
ChargingStationMaxProfile and ChargingStationExternalConstraints cap the result.
:func:`composite` turns that into the periods of a composite schedule (K08.FR.02). Times
are epoch seconds; limits are watts inside, amperes per phase on the wire when a schedule
says ``A`` (K01.FR.50/51: ``W = A * line voltage * phases``).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from loadgen.ocpp.dialect import Payload
from loadgen.ocpp.fields import get_field
from loadgen.ocpp.framing import FrameError

MAX_PROFILE = "ChargingStationMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
EXTERNAL = "ChargingStationExternalConstraints"
PURPOSES_201 = (EXTERNAL, MAX_PROFILE, TX_DEFAULT, TX)
#: 2.1 adds purposes the station reads but does not install (Rejected).
PURPOSES_21 = (*PURPOSES_201, "PriorityCharging", "LocalGeneration")
#: 1.6 names -> the neutral (2.0.1) ones
PURPOSES_16 = {"ChargePointMaxProfile": MAX_PROFILE, TX_DEFAULT: TX_DEFAULT, TX: TX}
KINDS = ("Absolute", "Recurring", "Relative")
KINDS_21 = (*KINDS, "Dynamic")
#: 2.1 operation modes in which a period's setpoint (not its limit) sets the power (Q03).
SETPOINT_MODES = ("CentralSetpoint", "ExternalSetpoint")
#: 2.1 operation modes the station follows; others make the profile Rejected.
MODES_21 = ("ChargingOnly", "Idle", *SETPOINT_MODES)
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}
#: At most this many steps are followed when a composite schedule is built.
MAX_STEPS = 200


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int  # from the schedule's start
    limit: float  # in the schedule's unit; 2.1: the setpoint (negative: discharge)
    phases: int | None  # numberPhases (None: 3, K01.FR.49)
    mode: str | None = None  # 2.1 operationMode (None: ChargingOnly, or 1.6 / 2.0.1)


@dataclass(frozen=True, slots=True)
class Schedule:
    unit: str  # "W" or "A"
    periods: tuple[Period, ...]
    start_at: float | None  # startSchedule (epoch s)
    duration_s: int | None
    min_rate: float | None
    schedule_id: int | None = None  # 2.0.1 ChargingScheduleType.id


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    """One installed charging profile (what both versions' SetChargingProfile carry)."""

    profile_id: int
    stack_level: int
    purpose: str  # neutral purpose (2.0.1 names)
    kind: str  # Absolute, Recurring or Relative
    recurrency: str | None  # Daily or Weekly
    valid_from: float | None
    valid_to: float | None
    transaction_id: str | None  # the transaction a TxProfile belongs to (1.6 ids as text)
    schedule: Schedule
    connector_id: int = 0  # 0: the whole station
    payload: Payload | None = None  # as received, for ReportChargingProfiles (2.0.1)
    source: str = "CSO"  # chargingLimitSource: CSO (the CSMS) or EMS (an energy manager)


@dataclass(frozen=True, slots=True)
class Electrical:
    """What converts amperes to watts at a connector: line voltage and phases (0: DC)."""

    voltage_v: float = 230.0
    phases: int = 3

    def watts(self, limit: float, unit: str, phases: int | None) -> float:
        if unit == "W":
            return limit
        if self.phases == 0:  # DC: the current at the connector
            return limit * self.voltage_v
        used = min(phases or 3, self.phases)
        return limit * self.voltage_v * used

    def amperes(self, watts: float, phases: int | None) -> float:
        if self.phases == 0:
            return watts / self.voltage_v
        return watts / (self.voltage_v * min(phases or 3, self.phases))


# -- reading ---------------------------------------------------------------------------


def parse_time(text: object, key: str) -> float:
    """An OCPP dateTime (RFC 3339, ``Z`` or an offset; no offset means UTC) as epoch
    seconds; :class:`FrameError` PropertyConstraintViolation if it is not one."""
    if not isinstance(text, str) or not 16 <= len(text) <= 40 or "T" not in text.upper():
        raise FrameError(f"{key!r} is not a date-time", code="PropertyConstraintViolation")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FrameError(
            f"{key!r} is not a date-time", code="PropertyConstraintViolation"
        ) from None
    if when.tzinfo is None:
        return float(calendar.timegm(when.timetuple())) + when.microsecond / 1e6
    return when.astimezone(UTC).timestamp()


def _optional_time(payload: Payload, key: str) -> float | None:
    text = get_field(payload, key, str, required=False)
    return None if text is None else parse_time(text, key)


def _number(payload: Payload, key: str, *, required: bool = True) -> float | None:
    value = payload.get(key) if isinstance(payload, dict) else None
    if value is None:
        if required:
            get_field(payload, key, float)  # raises the missing-field FrameError
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise FrameError(f"{key!r} must be a number", code="TypeConstraintViolation")
    return float(value)


def _schedule(raw: Payload, v21: bool = False) -> Schedule:
    unit = get_field(raw, "chargingRateUnit", str, choices=("A", "W"))
    periods_raw = get_field(raw, "chargingSchedulePeriod", list)
    if not periods_raw or len(periods_raw) > 1024:
        raise FrameError(
            "'chargingSchedulePeriod' must hold 1 to 1024 periods",
            code="OccurrenceConstraintViolation",
        )
    periods = []
    for item in periods_raw:
        start = get_field(item, "startPeriod", int)
        phases = get_field(item, "numberPhases", int, required=False)
        if v21:
            periods.append(_period_21(item, start, phases))
            continue
        limit = _number(item, "limit")
        assert limit is not None
        periods.append(Period(start, limit, phases))
    return Schedule(
        unit,
        tuple(periods),
        _optional_time(raw, "startSchedule"),
        get_field(raw, "duration", int, required=False),
        _number(raw, "minChargingRate", required=False),
        get_field(raw, "id", int, required=False),
    )


def parse_16(connector_id: int, raw: Payload) -> ChargingProfile:
    """1.6 ``csChargingProfiles``; :class:`FrameError` (2.0.1 spellings) if malformed.

    An Absolute schedule without startSchedule runs from the start of charging (7.13:
    "If absent the schedule will be relative to start of charging"): a Relative one."""
    purpose = get_field(raw, "chargingProfilePurpose", str, choices=tuple(PURPOSES_16))
    transaction_id = get_field(raw, "transactionId", int, required=False)
    kind = get_field(raw, "chargingProfileKind", str, choices=KINDS)
    schedule = _schedule(get_field(raw, "chargingSchedule", dict))
    if kind == "Absolute" and schedule.start_at is None:
        kind = "Relative"
    return ChargingProfile(
        profile_id=get_field(raw, "chargingProfileId", int),
        stack_level=get_field(raw, "stackLevel", int),
        purpose=PURPOSES_16[purpose],
        kind=kind,
        recurrency=get_field(
            raw, "recurrencyKind", str, required=False, choices=("Daily", "Weekly")
        ),
        valid_from=_optional_time(raw, "validFrom"),
        valid_to=_optional_time(raw, "validTo"),
        transaction_id=None if transaction_id is None else str(transaction_id),
        schedule=schedule,
        connector_id=connector_id,
        payload=raw,
    )


def parse_201(evse_id: int, raw: Payload) -> ChargingProfile:
    """2.0.1 ``chargingProfile``; :class:`FrameError` if malformed. Only the first
    schedule counts (K01.FR.34: one without ISO 15118)."""
    return _parse_2x(evse_id, raw, PURPOSES_201, KINDS, v21=False)


def parse_21(evse_id: int, raw: Payload) -> ChargingProfile:
    """2.1 ``chargingProfile``: 2.0.1's, with 2.1's purposes and kinds, and periods that
    may carry an operationMode, a setpoint and a dischargeLimit (:func:`_period_21`)."""
    return _parse_2x(evse_id, raw, PURPOSES_21, KINDS_21, v21=True)


def _parse_2x(
    evse_id: int,
    raw: Payload,
    purposes: tuple[str, ...],
    kinds: tuple[str, ...],
    *,
    v21: bool,
) -> ChargingProfile:
    schedules = get_field(raw, "chargingSchedule", list)
    if not schedules or len(schedules) > 3:
        raise FrameError(
            "'chargingSchedule' must hold 1 to 3 schedules", code="OccurrenceConstraintViolation"
        )
    return ChargingProfile(
        profile_id=get_field(raw, "id", int),
        stack_level=get_field(raw, "stackLevel", int),
        purpose=get_field(raw, "chargingProfilePurpose", str, choices=purposes),
        kind=get_field(raw, "chargingProfileKind", str, choices=kinds),
        recurrency=get_field(
            raw, "recurrencyKind", str, required=False, choices=("Daily", "Weekly")
        ),
        valid_from=_optional_time(raw, "validFrom"),
        valid_to=_optional_time(raw, "validTo"),
        transaction_id=get_field(raw, "transactionId", str, required=False, max_len=36),
        schedule=_schedule(schedules[0] if isinstance(schedules[0], dict) else {}, v21=v21),
        connector_id=evse_id,
        payload=raw,
    )


def _period_21(item: Payload, start: int, phases: int | None) -> Period:
    """A 2.1 period as the power it asks for: in CentralSetpoint / ExternalSetpoint the
    setpoint (negative: discharge), bounded by limit and dischargeLimit; Idle 0; else
    the limit (none given: no limit in this period)."""
    mode = get_field(item, "operationMode", str, required=False)
    limit = _number(item, "limit", required=False)
    discharge = _number(item, "dischargeLimit", required=False)
    setpoint = _number(item, "setpoint", required=False)
    if discharge is not None and discharge > 0:
        raise FrameError(
            "'dischargeLimit' must not be positive", code="PropertyConstraintViolation"
        )
    if mode in SETPOINT_MODES and setpoint is not None:
        value = setpoint if limit is None else min(setpoint, limit)
        value = value if discharge is None else max(value, discharge)
    elif mode == "Idle":
        value = 0.0
    else:
        value = math.inf if limit is None else limit
    return Period(start, value, phases, mode)


def problem(profile: ChargingProfile, max_stack_level: int, max_periods: int) -> str | None:
    """Why a well-formed profile cannot be installed (the answer is Rejected), or None."""
    schedule = profile.schedule
    if not 0 <= profile.stack_level <= max_stack_level:
        return "stackLevel out of range"
    if len(schedule.periods) > max_periods:
        return "too many periods"
    starts = [p.start_s for p in schedule.periods]
    if starts[0] != 0 or starts != sorted(set(starts)):  # K01.FR.31, K01.FR.35
        return "periods must start at 0 and increase"
    if any(p.limit < 0 and p.mode not in SETPOINT_MODES for p in schedule.periods):
        return "negative limit"
    if profile.purpose not in PURPOSES_201 or profile.kind not in KINDS:
        return "a purpose or kind the station does not support"  # 2.1's new ones
    if any(p.mode is not None and p.mode not in MODES_21 for p in schedule.periods):
        return "an operation mode the station does not support"
    if profile.kind in ("Absolute", "Recurring") and schedule.start_at is None:  # K01.FR.40
        return "startSchedule missing"
    if profile.kind == "Recurring" and profile.recurrency is None:
        return "recurrencyKind missing"
    if profile.purpose == MAX_PROFILE and (profile.kind == "Relative" or profile.connector_id):
        return "a station maximum is absolute, for the whole station"  # K01.FR.38
    if profile.purpose == TX and not profile.connector_id:
        return "a TxProfile needs a connector"  # K01.FR.16
    return None


# -- the limit at a moment -------------------------------------------------------------


def _start(profile: ChargingProfile, at: float, tx_started_at: float | None) -> float | None:
    """When the profile's schedule began (the latest recurrence for Recurring)."""
    schedule = profile.schedule
    if profile.kind == "Relative":
        return tx_started_at if tx_started_at is not None else at
    start = schedule.start_at
    if start is None:
        return None
    if profile.kind == "Recurring" and profile.recurrency in _RECURRENCE_S and at > start:
        period = _RECURRENCE_S[profile.recurrency]
        start += ((at - start) // period) * period
    return start


def _profile_limit(
    profile: ChargingProfile, at: float, tx_started_at: float | None, grid: Electrical
) -> tuple[float | None, float | None]:
    """(watts this profile allows at ``at`` or None, when that next changes or None)."""
    if profile.valid_to is not None and at >= profile.valid_to:  # K01.FR.37
        return None, None
    if profile.valid_from is not None and at < profile.valid_from:  # K01.FR.36
        return None, profile.valid_from
    start = _start(profile, at, tx_started_at)
    if start is None:
        return None, None
    schedule = profile.schedule
    changes: list[float] = []
    if profile.valid_to is not None:
        changes.append(profile.valid_to)
    if at < start:
        changes.append(start)
        return None, min(changes)
    offset = at - start
    end = schedule.duration_s
    if profile.kind == "Recurring" and profile.recurrency in _RECURRENCE_S:
        changes.append(start + _RECURRENCE_S[profile.recurrency])
    if end is not None and offset >= end:  # K01.FR.11: past the schedule's end
        return None, min(changes) if changes else None
    if end is not None:
        changes.append(start + end)
    current = None
    for period in schedule.periods:
        if period.start_s <= offset:
            current = period
        else:
            changes.append(start + period.start_s)
            break
    if current is None:
        return None, min(changes) if changes else None
    watts = grid.watts(current.limit, schedule.unit, current.phases)
    return watts, min(changes) if changes else None


def _prevailing(
    profiles: Iterable[ChargingProfile], at: float, tx_started_at: float | None, grid: Electrical
) -> tuple[float | None, float | None]:
    """The limit of the highest stackLevel profile valid at ``at``, and the next change."""
    best_level = -1
    best: float | None = None
    change: float | None = None
    for profile in profiles:
        watts, next_at = _profile_limit(profile, at, tx_started_at, grid)
        if next_at is not None and (change is None or next_at < change):
            change = next_at
        if watts is not None and profile.stack_level > best_level:
            best_level, best = profile.stack_level, watts
    return best, change


def limit_at(
    profiles: Iterable[ChargingProfile],
    connector_id: int,
    at: float,
    *,
    transaction_id: str | None,
    tx_started_at: float | None,
    grid: Electrical,
    station_share: float = 1.0,
) -> tuple[float | None, float | None]:
    """(watts the profiles allow connector ``connector_id`` at ``at``, None for no limit;
    when that may change, None for never). Connector 0 is the whole station; a connector
    gets ``station_share`` of the station's limits (it shares them with the others)."""
    installed = list(profiles)
    station_caps = [p for p in installed if p.purpose in (MAX_PROFILE, EXTERNAL)]
    limits: list[float] = []
    change: float | None = None

    def take(found: tuple[float | None, float | None]) -> float | None:
        nonlocal change
        watts, next_at = found
        if next_at is not None and (change is None or next_at < change):
            change = next_at
        if watts is not None:
            limits.append(watts)
        return watts

    for purpose in (MAX_PROFILE, EXTERNAL):
        watts, next_at = _prevailing(
            (p for p in station_caps if p.purpose == purpose), at, None, grid
        )
        take((None if watts is None else watts * station_share, next_at))
    if connector_id:
        own = [
            p
            for p in installed
            if p.purpose == TX
            and p.connector_id == connector_id
            and transaction_id is not None
            and p.transaction_id == transaction_id
        ]
        tx_limit = take(_prevailing(own, at, tx_started_at, grid)) if own else None
        if tx_limit is None:
            defaults = [p for p in installed if p.purpose == TX_DEFAULT]
            here = [p for p in defaults if p.connector_id == connector_id]
            found = _prevailing(here, at, tx_started_at, grid) if here else (None, None)
            if found[0] is None:  # connector 0's, until the connector's own one begins
                own_change = found[1]
                everywhere = [p for p in defaults if p.connector_id == 0]
                found = _prevailing(everywhere, at, tx_started_at, grid)
                if own_change is not None and (found[1] is None or own_change < found[1]):
                    found = (found[0], own_change)
            take(found)
    return (min(limits) if limits else None), change


def composite(
    profiles: Iterable[ChargingProfile],
    connector_id: int,
    start: float,
    duration_s: int,
    *,
    transaction_id: str | None,
    tx_started_at: float | None,
    grid: Electrical,
    hardware_w: float,
) -> list[tuple[int, float]]:
    """The composite schedule from ``start`` for ``duration_s``: (startPeriod, watts) in
    order, a period for each change; where no profile limits, ``hardware_w`` applies."""
    installed = list(profiles)
    periods: list[tuple[int, float]] = []
    at = start
    end = start + duration_s
    for _ in range(MAX_STEPS):
        watts, change = limit_at(
            installed,
            connector_id,
            at,
            transaction_id=transaction_id,
            tx_started_at=tx_started_at if tx_started_at is not None else start,
            grid=grid,
        )
        value = hardware_w if watts is None else min(watts, hardware_w)
        offset = int(at - start)
        if not periods or periods[-1][1] != value:
            periods.append((offset, value))
        if change is None or change >= end or change <= at:
            break
        at = change
    return periods


def rounded(value: float) -> float:
    """A limit as the schemas take it: at most one decimal (1.6 multipleOf 0.1)."""
    tenths = math.floor(value * 10 + 1e-9) / 10  # down: a limit never rounds up
    return float(int(tenths)) if tenths == int(tenths) else tenths
