"""Charging profiles without a station: reading both versions, validity, recurrence,
durations, stacking and composite schedules (loadgen.ocpp.profiles)."""

from __future__ import annotations

import pytest

from loadgen.ocpp import profiles
from loadgen.ocpp.framing import FrameError
from loadgen.ocpp.profiles import ChargingProfile, Electrical, Period, Schedule

T0 = 1_790_000_000.0  # a moment on the station's wall clock
GRID = Electrical(230.0, 3)


def made(
    purpose: str = profiles.TX_DEFAULT,
    periods: tuple[tuple[int, float], ...] = ((0, 7000),),
    *,
    stack: int = 0,
    kind: str = "Absolute",
    start: float | None = T0,
    duration: int | None = None,
    recurrency: str | None = None,
    valid: tuple[float | None, float | None] = (None, None),
    connector: int = 0,
    unit: str = "W",
) -> ChargingProfile:
    schedule = Schedule(
        unit, tuple(Period(s, lim, None) for s, lim in periods), start, duration, None
    )
    return ChargingProfile(
        stack, stack, purpose, kind, recurrency, valid[0], valid[1], None, schedule, connector
    )


def limit(
    installed: list[ChargingProfile], at: float, connector: int = 1
) -> tuple[float | None, float | None]:
    return profiles.limit_at(
        installed, connector, at, transaction_id=None, tx_started_at=None, grid=GRID
    )


def test_both_versions_read_into_the_same_profile() -> None:
    """1.6 csChargingProfiles and 2.0.1 chargingProfile give the same neutral profile."""
    schedule = {
        "chargingRateUnit": "A",
        "startSchedule": "2026-09-21T00:00:00Z",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}],
    }
    old = profiles.parse_16(
        0,
        {
            "chargingProfileId": 4,
            "stackLevel": 2,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": schedule,
        },
    )
    new = profiles.parse_201(
        0,
        {
            "id": 4,
            "stackLevel": 2,
            "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": 1, **schedule}],
        },
    )
    assert (old.purpose, old.schedule.periods) == (new.purpose, new.schedule.periods)
    assert old.schedule.start_at == new.schedule.start_at == 1_789_948_800.0
    assert GRID.watts(16, "A", 1) == 16 * 230


@pytest.mark.parametrize("text", ["2026-09-21", "yesterday", "2026-13-01T00:00:00Z", 17, ""])
def test_bad_times_are_property_violations(text: object) -> None:
    """A dateTime that is not one raises FrameError PropertyConstraintViolation."""
    with pytest.raises(FrameError) as info:
        profiles.parse_time(text, "startSchedule")
    assert info.value.code == "PropertyConstraintViolation"


def test_periods_duration_and_validity() -> None:
    """Periods follow each other; past the duration or outside validFrom / validTo the
    profile sets nothing, and each boundary is the next change (K01.FR.11/36/37)."""
    p = made(periods=((0, 7000), (60, 3000)), duration=120, valid=(T0 + 10, T0 + 1000))
    assert limit([p], T0) == (None, T0 + 10)
    assert limit([p], T0 + 10) == (7000, T0 + 60)
    assert limit([p], T0 + 70) == (3000, T0 + 120)
    assert limit([p], T0 + 130) == (None, T0 + 1000)
    assert limit([p], T0 + 1000) == (None, None)


def test_a_daily_profile_recurs() -> None:
    """A Recurring Daily profile starts again each day at its startSchedule's time."""
    p = made(periods=((0, 5000), (3600, 11000)), kind="Recurring", recurrency="Daily")
    day = 86_400
    assert limit([p], T0 + day + 10)[0] == 5000
    assert limit([p], T0 + 2 * day + 3700)[0] == 11000
    assert limit([p], T0 + day + 3700)[1] == T0 + 2 * day


def test_stacking_and_defaults_per_connector() -> None:
    """The highest stack level prevails; a connector's own TxDefaultProfile goes before
    connector 0's; the station maximum, shared by the charging connectors, caps all."""
    everywhere = made(periods=((0, 9000),), connector=0)
    own_low = made(periods=((0, 8000),), connector=1, stack=1)
    own_high = made(periods=((0, 6000),), connector=1, stack=3)
    cap = made(profiles.MAX_PROFILE, ((0, 10_000),), stack=2)
    assert limit([everywhere], T0)[0] == 9000
    assert limit([everywhere, own_low, own_high], T0)[0] == 6000
    assert limit([everywhere, own_low], T0, connector=2)[0] == 9000
    found = profiles.limit_at(
        [cap, everywhere],
        2,
        T0,
        transaction_id=None,
        tx_started_at=None,
        grid=GRID,
        station_share=0.5,
    )
    assert found[0] == 5000


def test_a_connectors_own_default_to_come_is_the_next_change() -> None:
    """Under connector 0's TxDefaultProfile, the next change is the earliest of its own
    and of the connector's own one still to come (K01.FR.36: its validFrom), whichever
    is first."""
    everywhere = made(periods=((0, 9000),), kind="Recurring", recurrency="Daily")
    own = made(periods=((0, 4000),), connector=1, valid=(T0 + 600, None))
    assert limit([everywhere, own], T0 + 10) == (9000, T0 + 600)
    assert limit([everywhere, own], T0 + 600) == (4000, None)
    later = made(periods=((0, 4000),), connector=1, valid=(T0 + 2 * 86_400, None))
    assert limit([everywhere, later], T0 + 10) == (9000, T0 + 86_400)


def test_composite_schedule_merges_the_changes() -> None:
    """The composite schedule has a period per change of the limit, capped by the
    hardware, and no period where nothing changes."""
    p = made(periods=((0, 30_000), (100, 7000), (200, 7000), (300, 3000)))
    periods = profiles.composite(
        [p], 1, T0, 400, transaction_id=None, tx_started_at=None, grid=GRID, hardware_w=22_000
    )
    assert periods == [(0, 22_000), (100, 7000), (300, 3000)]


def test_problems_reject_a_profile() -> None:
    """problem() names why a well-formed profile cannot be installed."""
    assert profiles.problem(made(), 8, 24) is None
    assert profiles.problem(made(periods=((5, 100),)), 8, 24) is not None
    assert profiles.problem(made(start=None), 8, 24) is not None
    assert profiles.problem(made(stack=9), 8, 24) is not None
    assert profiles.problem(made(profiles.MAX_PROFILE, kind="Relative"), 8, 24) is not None
    assert profiles.problem(made(profiles.TX, connector=0), 8, 24) is not None
