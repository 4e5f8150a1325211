"""Smart charging over time, by the station alone: a charging profile's limit that changes
by itself (the next period, the schedule's end, validFrom / validTo, a recurrence, a
startSchedule) changes the power at that moment, and the charging state is told then
(1.6 StatusNotification; 2.0.1 TransactionEvent Updated), without any meter samples
(MeterValueSampleInterval / TxUpdatedInterval 0). Every frame is schema-validated by the
bench (tests/unit/sim_csms.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import Session
from loadgen.ocpp.dialect import iso
from tests.unit.sim_csms import WALL_OFFSET_S, Bench, booted, remote_start, status_of, tx_id
from tests.unit.sim_csms import profile_request as request

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
_DAY_S = 86_400


def charging(version: str, interval_s: float = 0) -> Bench:
    """A booted bench of one 11 kW connector, a transaction running on it from 1 s, and
    no meter samples (``interval_s`` 0)."""
    session = Session(meter_interval_s=interval_s, duration_s=2 * _DAY_S, power_w=11_000)
    bench = booted(version, connectors=1, session=session)
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    assert started_at(bench) == 1.0
    return bench


def started_at(bench: Bench) -> float:
    tx = bench.station.connectors[0].tx
    assert tx is not None
    return tx.started_at


def wall(events_s: float) -> str:
    """A moment of the bench's clock as the station writes it on the wire."""
    return iso(events_s + WALL_OFFSET_S)


def set_profile(bench: Bench, payload: dict[str, Any]) -> None:
    assert status_of(bench.server_call("SetChargingProfile", payload)) == "Accepted"


def told(bench: Bench, since: int = 0) -> list[tuple[str, str, str]]:
    """(timestamp, how, state) of each charging state the CSMS was told of from
    ``since``: 1.6 StatusNotifications of connector 1; 2.x TransactionEvents Updated."""
    out = []
    for call in bench.calls[since:]:
        p = call.payload
        if call.action == "StatusNotification" and p["connectorId"] == 1:
            out.append((p["timestamp"], "StatusNotification", p["status"]))
        elif call.action == "TransactionEvent" and p["eventType"] == "Updated":
            state = p["transactionInfo"]["chargingState"]
            out.append((p["timestamp"], p["triggerReason"], state))
    return out


def station_limited(version: str, connectors: int, limit_w: int) -> Bench:
    """A station of ``connectors`` whose EVs draw 11 kW, under a station-wide limit of
    ``limit_w`` (ChargePointMaxProfile / ChargingStationMaxProfile) from the start."""
    session = Session(meter_interval_s=0, duration_s=2 * _DAY_S, power_w=11_000)
    bench = booted(version, connectors=connectors, session=session)
    answer = bench.server_call(
        "SetChargingProfile",
        request(
            version, 0, "ChargingStationMaxProfile", [(0, limit_w)], kind="Absolute", start=wall(0)
        ),
    )
    assert status_of(answer) == "Accepted"
    return bench


def state_change(version: str, at_s: float, state: str) -> tuple[str, str, str]:
    """What ``told`` shows of a change of the charging state to ``state`` at ``at_s``."""
    how = "StatusNotification" if version == "1.6" else "ChargingStateChanged"
    return wall(at_s), how, state


@pytest.mark.parametrize("version", VERSIONS)
def test_a_periods_limit_takes_effect_at_its_start(version: str) -> None:
    """K01.FR.12: a TxProfile of 16 A, 0 A from 60 s and 16 A again from 120 s suspends
    the charging at 60 s (1.6 SuspendedEVSE, 2.0.1 ChargingStateChanged) and resumes it
    at 120 s, with no meter samples at all; nothing is told before, and no energy flows
    meanwhile."""
    bench = charging(version)
    start = started_at(bench)
    periods = [(0, 16.0), (60, 0.0), (120, 16.0)]
    set_profile(
        bench, request(version, 1, "TxProfile", periods, unit="A", transaction_id=tx_id(bench))
    )
    mark = len(bench.calls)
    bench.run(start + 59.9 - bench.now)
    assert told(bench, mark) == []
    assert bench.counters.power_w == 11_000
    bench.run(0.2)
    assert told(bench, mark) == [state_change(version, start + 60, "SuspendedEVSE")]
    assert bench.counters.power_w == 0
    register = bench.station.connectors[0].meter_wh
    bench.run(start + 119.9 - bench.now)
    assert bench.station.connectors[0].meter_wh == register
    bench.run(0.2)
    assert told(bench, mark)[1:] == [state_change(version, start + 120, "Charging")]
    assert bench.counters.power_w == 11_000
    seq = [c.payload["seqNo"] for c in bench.tx_messages() if version != "1.6"]
    assert seq == list(range(len(seq)))


@pytest.mark.parametrize("boundary", ["validity", "startSchedule and duration"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_profiles_validity_and_schedule_change_the_limit_in_time(
    version: str, boundary: str
) -> None:
    """A profile of 0 W in force from 30 s to 90 s suspends the charging at 30 s and
    resumes it at 90 s under the limit that held before (7 kW): by validFrom / validTo
    (K01.FR.36/37) or by an Absolute schedule's startSchedule and duration (K01.FR.30/12)."""
    bench = charging(version)
    start = started_at(bench)
    set_profile(bench, request(version, 1, "TxDefaultProfile", [(0, 7000)], profile_id=1))
    assert bench.counters.power_w == 7000
    if boundary == "validity":
        zero = request(
            version,
            1,
            "TxDefaultProfile",
            [(0, 0)],
            profile_id=2,
            stack_level=1,
            valid=(wall(start + 30), wall(start + 90)),
        )
    else:
        zero = request(
            version,
            0,
            "ChargingStationMaxProfile",
            [(0, 0)],
            profile_id=2,
            kind="Absolute",
            start=wall(start + 30),
            duration_s=60,
        )
    mark = len(bench.calls)
    set_profile(bench, zero)
    bench.run(start + 100 - bench.now)
    assert told(bench, mark) == [
        state_change(version, start + 30, "SuspendedEVSE"),
        state_change(version, start + 90, "Charging"),
    ]
    assert bench.counters.power_w == 7000


@pytest.mark.parametrize("version", VERSIONS)
def test_a_daily_profile_suspends_from_evening_across_midnight_to_morning(
    version: str,
) -> None:
    """A Recurring Daily TxDefaultProfile of 0 W from 18:00 and 11 kW from 06:00 (its
    first day yesterday) suspends the charging at 18:00 today, stays suspended across
    midnight and resumes at 06:00 tomorrow, each at the moment itself."""
    bench = charging(version)
    wall_now = bench.now + WALL_OFFSET_S
    midnight = wall_now - wall_now % _DAY_S - WALL_OFFSET_S  # today's, on the events' clock
    evening = midnight + 18 * 3600
    assert bench.now < evening - 3600  # the bench's clock stands at 14:13 UTC
    daily = request(
        version,
        1,
        "TxDefaultProfile",
        [(0, 0), (12 * 3600, 11_000)],
        kind="Recurring",
        recurrency="Daily",
        start=wall(evening - _DAY_S),
    )
    set_profile(bench, daily)
    mark = len(bench.calls)
    bench.run(midnight + _DAY_S + 7 * 3600 - bench.now)
    assert told(bench, mark) == [
        state_change(version, evening, "SuspendedEVSE"),
        state_change(version, evening + 12 * 3600, "Charging"),
    ]


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_periods_new_rate_is_told_only_when_significant(version: str) -> None:
    """K11.FR.04 at a period's start: 11 kW, then 10.5 kW from 30 s (4.5 % less than
    LimitChangeSignificance 10: not told), then 5 kW from 60 s (ChargingRateChanged at
    60 s), then 5 kW again from 90 s (no change: nothing)."""
    bench = charging(version)
    start = started_at(bench)
    periods = [(0, 11_000), (30, 10_500), (60, 5000), (90, 5000)]
    set_profile(bench, request(version, 1, "TxProfile", periods, transaction_id=tx_id(bench)))
    mark = len(bench.calls)
    bench.run(start + 120 - bench.now)
    assert told(bench, mark) == [(wall(start + 60), "ChargingRateChanged", "Charging")]
    assert bench.counters.power_w == 5000


@pytest.mark.parametrize("version", VERSIONS)
def test_without_a_profile_no_timer_waits_for_a_limit(version: str) -> None:
    """Only a transaction under a profile waits for its limit's next change: a charger
    without profiles sets no such timer (nor does a profile with no transaction to
    limit), and the timer goes with the profile that set it."""
    bench = booted(version, connectors=1, session=Session(meter_interval_s=0, duration_s=600))
    station = bench.station
    connector = station.connectors[0]
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    assert station.ext is None  # the idle path: no extras at all
    assert connector.limit_change_at is None
    assert station.connector_due == connector.ends_at
    periods = [(0, 7000), (60, 3000)]
    set_profile(bench, request(version, 1, "TxDefaultProfile", periods, profile_id=4))
    assert connector.limit_change_at == started_at(bench) + 60
    assert station.connector_due == connector.limit_change_at
    by_id = {"id": 4} if version == "1.6" else {"chargingProfileId": 4}
    assert status_of(bench.server_call("ClearChargingProfile", by_id)) == "Accepted"
    assert connector.limit_change_at is None
    assert station.connector_due == connector.ends_at
    bench.run(700)  # the transaction is over
    assert connector.tx is None
    set_profile(bench, request(version, 1, "TxDefaultProfile", periods, profile_id=4))
    assert connector.limit_change_at is None


@pytest.mark.parametrize("version", VERSIONS)
def test_a_sample_on_a_limit_change_tells_it_once(version: str) -> None:
    """A period that begins on a meter sample (every 30 s, from the transaction's start)
    is told once: by the sample's state (2.0.1 MeterValuePeriodic), not again by the
    change of the limit."""
    bench = charging(version, interval_s=30)
    start = started_at(bench)
    periods = [(0, 11_000), (30, 0)]
    set_profile(bench, request(version, 1, "TxProfile", periods, transaction_id=tx_id(bench)))
    mark = len(bench.calls)
    bench.run(start + 40 - bench.now)
    how = "StatusNotification" if version == "1.6" else "MeterValuePeriodic"
    assert told(bench, mark) == [(wall(start + 30), how, "SuspendedEVSE")]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_station_limit_is_shared_anew_when_a_transaction_begins_or_ends(version: str) -> None:
    """Under a station-wide limit (ChargePointMaxProfile / ChargingStationMaxProfile) the
    connectors that charge share it: when a second transaction begins, the first one's
    power halves at once, and when it ends the first one gets the whole limit back at
    once (2.x: ChargingRateChanged then, not at a later sample)."""
    bench = station_limited(version, 2, 8_000)
    assert remote_start(bench, 1, remote_start_id=1) == "Accepted"
    bench.run(2)
    first = bench.station.connectors[0]
    assert first.tx is not None and first.tx.power_w == 8_000
    mark = len(bench.calls)
    assert remote_start(bench, 2, remote_start_id=2) == "Accepted"
    bench.run(2)
    assert first.tx.power_w == 4_000
    second = bench.station.connectors[1]
    assert second.tx is not None and second.tx.power_w == 4_000
    if version != "1.6":
        rates = [
            c
            for c in bench.calls[mark:]
            if c.action == "TransactionEvent"
            and c.payload["triggerReason"] == "ChargingRateChanged"
            and c.payload["transactionInfo"]["transactionId"] == tx_id(bench, 0)
        ]
        assert len(rates) == 1, [c.payload for c in bench.calls[mark:]]
    mark = len(bench.calls)
    action = "RemoteStopTransaction" if version == "1.6" else "RequestStopTransaction"
    assert status_of(bench.server_call(action, {"transactionId": tx_id(bench)})) == "Accepted"
    bench.run(2)
    assert second.tx is None
    assert first.tx.power_w == 8_000
    if version != "1.6":
        rates = [
            c
            for c in bench.calls[mark:]
            if c.action == "TransactionEvent"
            and c.payload["triggerReason"] == "ChargingRateChanged"
        ]
        assert [c.payload["transactionInfo"]["transactionId"] for c in rates] == [
            tx_id(bench, 0)
        ], [c.payload for c in bench.calls[mark:]]


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_transactions_ending_together_tell_no_rate_change(version: str) -> None:
    """A reset ends every transaction at once: none of them is told of the others' end
    as a ChargingRateChanged (the share is taken once the event is over)."""
    bench = station_limited(version, 3, 9_000)
    for connector in (1, 2, 3):
        assert remote_start(bench, connector, remote_start_id=connector) == "Accepted"
    bench.run(3)
    mark = len(bench.calls)
    assert status_of(bench.server_call("Reset", {"type": "Immediate"})) == "Accepted"
    bench.run(3)
    rates = [
        c.payload
        for c in bench.calls[mark:]
        if c.action == "TransactionEvent" and c.payload["triggerReason"] == "ChargingRateChanged"
    ]
    assert rates == []
    assert len([c for c in bench.calls[mark:] if c.action == "TransactionEvent"]) == 3
