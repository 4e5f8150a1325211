"""A fleet like a real one, by the station alone: models, EV sessions, coherent meters,
faults, security events and DataTransfer answers. Every frame is schema-validated by the
bench (tests/unit/sim_csms.py)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest

from loadgen.config import (
    Arrivals,
    ChargerModel,
    DataTransferAnswer,
    Faults,
    FleetSpec,
    Scenario,
    Session,
)
from loadgen.failures import Failure
from loadgen.sim.actions import Counters
from loadgen.sim.fleet import Fleet
from loadgen.sim.station import Station
from tests.unit.sim_csms import (
    WALL_OFFSET_S,
    Bench,
    booted,
    make,
    remote_start,
    remote_stop,
    status_of,
    tx_id,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
ALL = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
CHARGING = Scenario(idle=0, charging=1)
AC22 = ChargerModel(
    "ac-22", vendor="Acme", model="Wallbox22", firmware_version="fw-1.0", connectors=2,
    max_power_w=22_000, phases=3,
)  # fmt: skip
DC50 = ChargerModel(
    "dc-50", vendor="Volt", model="Fast50", firmware_version="dc-2.3", connectors=1,
    max_power_w=50_000, dc=True, voltage_v=400, soc=True,
)  # fmt: skip
#: One EV type, so the numbers below can be worked out by hand.
EV = Arrivals(
    arrival="uniform",
    mean_pause_s=5,
    duration_s=(600, 600),
    battery_wh=(50_000, 50_000),
    soc_start_percent=(70, 70),
    taper_from_percent=80,
    ev_max_power_w=(50_000, 50_000),
)


@dataclass(frozen=True)
class Row:
    """An ids file row's extras (loadgen.ids.Identity's)."""

    serial_number: str | None = None
    model: str | None = None
    id_tags: tuple[str, ...] = ()


def fleet_bench(version: str, *models: ChargerModel, **kwargs: Any) -> Bench:
    """A booted bench of a fleet of ``models`` whose EVs are :data:`EV`."""
    spec = FleetSpec(models=models or (AC22,), sessions=kwargs.pop("sessions", EV))
    kwargs.setdefault("configuration", (("meter_values_sampled_data", ALL),))
    return booted(version, fleet=spec, **kwargs)


def samples(bench: Bench) -> list[dict[str, Any]]:
    """Every periodic sample's meterValue, in order."""
    out = []
    for call in bench.calls:
        p = call.payload
        if call.action == "MeterValues" and bench.version == "1.6":
            out.extend(p["meterValue"])
        elif call.action == "TransactionEvent" and p["triggerReason"] == "MeterValuePeriodic":
            out.extend(p["meterValue"])
    return out


def values(meter_value: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    """(measurand, phase) -> value of one meterValue."""
    return {
        (v["measurand"], v.get("phase")): float(v["value"]) for v in meter_value["sampledValue"]
    }


# -- models -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_charger_boots_as_its_model(version: str) -> None:
    """BootNotification says the model's vendor, model and firmware, the ids file's serial
    number; the model's connectors report their statuses."""
    bench = fleet_bench(version, AC22, DC50, unit=Row(serial_number="SN-42", model="dc-50"))
    boot = bench.calls[0].payload
    if version == "1.6":
        said = (boot["chargePointVendor"], boot["chargePointModel"], boot["firmwareVersion"])
        assert boot["chargePointSerialNumber"] == "SN-42"
    else:
        station = boot["chargingStation"]
        said = (station["vendorName"], station["model"], station["firmwareVersion"])
        assert station["serialNumber"] == "SN-42"
    assert said == ("Volt", "Fast50", "dc-2.3")
    assert {c for c, _ in bench.statuses()} == ({0, 1} if version == "1.6" else {1})


def test_models_are_mixed_by_weight() -> None:
    """Chargers draw their model by weight (3:1 here); each keeps it for life."""
    fleet = Fleet.build(
        make("1.6").settings,
        "1.6",
        FleetSpec(models=(AC22.__class__("a", weight=3), AC22.__class__("b", weight=1))),
    )
    rng = random.Random(4)
    picked = [Station(f"CP-{i}", fleet, Counters(), rng=rng).fleet for i in range(2000)]
    share = sum(1 for f in picked if f.model is not None and f.model.name == "a") / len(picked)
    assert 0.72 < share < 0.78


@pytest.mark.parametrize("version", VERSIONS)
def test_every_connector_charges_on_its_own(version: str) -> None:
    """Each connector of a charging charger runs its own sessions, with its own register;
    sessions last the drawn duration (10 minutes here) and use the charger's idTags."""
    bench = fleet_bench(
        version, scenario=CHARGING, unit=Row(id_tags=("TAG-A", "TAG-B")), session=Session()
    )
    bench.run(700)
    if version == "1.6":
        starts = [c.payload for c in bench.named("StartTransaction")]
        connectors = {p["connectorId"] for p in starts}
        tags = {p["idTag"] for p in starts}
        stops = bench.named("StopTransaction")
    else:
        starts = [
            c.payload
            for c in bench.named("TransactionEvent")
            if c.payload["eventType"] == "Started"
        ]
        connectors = {p["evse"]["id"] for p in starts}
        tags = {p["idToken"]["idToken"] for p in starts}
        stops = [c for c in bench.named("TransactionEvent") if c.payload["eventType"] == "Ended"]
    assert connectors == {1, 2} and tags <= {"TAG-A", "TAG-B"}
    first_start = min(c.at for c in bench.tx_messages())
    assert stops and min(c.at for c in stops) - first_start >= 599
    assert bench.counters.sessions_started >= 2 and bench.counters.sessions_ended >= 1


def test_arrivals_are_exponential() -> None:
    """With exponential arrivals the pauses between sessions average mean_pause_s."""
    fleet = Fleet.build(make("1.6").settings, "1.6", FleetSpec(sessions=Arrivals(mean_pause_s=100)))
    station = Station("CP-1", fleet, Counters(), rng=random.Random(7))
    connector = station.connectors[0]
    pauses = []
    for _ in range(4000):
        station._schedule_session(connector, 0.0)
        assert connector.next_session_at is not None
        pauses.append(connector.next_session_at)
    mean = sum(pauses) / len(pauses)
    assert 95 < mean < 105
    assert sum(1 for p in pauses if p > 300) / len(pauses) == pytest.approx(0.05, abs=0.015)


# -- metering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_meter_values_are_coherent(version: str) -> None:
    """Per-phase currents and voltages with P = V * I, energy and SoC that never fall, a
    constant power until the taper point, then less and less (50 kWh from 70%, 50 kW)."""
    bench = fleet_bench(version, DC50, session=Session(meter_interval_s=60))
    remote_start(bench, 1)
    bench.run(600)
    seen = [values(mv) for mv in samples(bench)]
    assert len(seen) >= 9
    energy = [v[("Energy.Active.Import.Register", None)] for v in seen]
    soc = [v[("SoC", None)] for v in seen]
    power = [v[("Power.Active.Import", None)] for v in seen]
    assert energy == sorted(energy) and soc == sorted(soc) and soc[-1] < 100
    for v in seen:  # DC: one current at the connector's voltage
        watts = v[("Voltage", None)] * v[("Current.Import", None)]
        assert watts == pytest.approx(v[("Power.Active.Import", None)], abs=1)
    assert power[0] == 50_000 and power[-1] < power[0]  # 80% after 6 min, then the taper
    assert all(b <= a for a, b in pairwise(power))
    # the energy is the integral of the power: 10% of 50 kWh by minute 6
    assert energy[5] - energy[0] == pytest.approx(50_000 * 5 / 60, rel=0.01)


@pytest.mark.parametrize("version", VERSIONS)
def test_three_phase_currents(version: str) -> None:
    """AC three-phase: a current and a voltage for each of L1, L2, L3 summing to the power."""
    bench = fleet_bench(version, AC22, session=Session(meter_interval_s=30))
    remote_start(bench, 1)
    bench.run(40)
    (sample, *_) = [values(mv) for mv in samples(bench)]
    total = sum(
        sample[("Voltage", f"{phase}-N")] * sample[("Current.Import", phase)]
        for phase in ("L1", "L2", "L3")
    )
    assert total == pytest.approx(sample[("Power.Active.Import", None)], abs=1)
    assert sample[("Power.Active.Import", None)] == 22_000
    assert ("SoC", None) not in sample  # this model does not meter the EV


@pytest.mark.parametrize("version", VERSIONS)
def test_the_sample_interval_is_honoured(version: str) -> None:
    """Samples come every MeterValueSampleInterval / TxUpdatedInterval."""
    bench = fleet_bench(version, AC22, session=Session(meter_interval_s=15))
    remote_start(bench, 1)
    bench.run(100)
    times = [c.at for c in bench.tx_messages() if c.action != "StartTransaction"]
    times = [t for t in times if t > bench.tx_messages()[0].at]
    gaps = [round(b - a) for a, b in pairwise(times[:5])]
    assert gaps == [15, 15, 15, 15]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_models_sample_interval_is_its_default(version: str) -> None:
    """A model's configuration sets its MeterValueSampleInterval / TxUpdatedInterval, over
    charge_points' session.meter_interval_s: samples come on it and the setting reads it."""
    tuned = ChargerModel("tuned", connectors=1, configuration=(("meter_interval_s", "20"),))
    bench = fleet_bench(version, tuned, session=Session(meter_interval_s=15))
    remote_start(bench, 1)
    bench.run(100)
    times = [c.at for c in bench.tx_messages() if c.action != "StartTransaction"]
    times = [t for t in times if t > bench.tx_messages()[0].at]
    assert [round(b - a) for a, b in pairwise(times[:4])] == [20, 20, 20]
    assert bench.station.read_setting("meter_interval_s") == "20"


def test_stop_transaction_carries_the_sessions_readings() -> None:
    """1.6 StopTxnSampledData: StopTransaction.transactionData holds the Transaction.Begin
    reading, the periodic ones and the Transaction.End one, with the set measurands."""
    bench = fleet_bench(
        "1.6",
        DC50,
        session=Session(meter_interval_s=60),
        configuration=(("stop_txn_sampled_data", "Energy.Active.Import.Register,SoC"),),
    )
    remote_start(bench, 1)
    bench.run(200)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    (stop,) = [c.payload for c in bench.named("StopTransaction")]
    data = stop["transactionData"]
    contexts = [mv["sampledValue"][0]["context"] for mv in data]
    assert contexts == ["Transaction.Begin"] + ["Sample.Periodic"] * 3 + ["Transaction.End"]
    registers = [float(mv["sampledValue"][0]["value"]) for mv in data]
    assert registers == sorted(registers) and registers[-1] == stop["meterStop"]
    assert {v["measurand"] for mv in data for v in mv["sampledValue"]} == {
        "Energy.Active.Import.Register",
        "SoC",
    }


@pytest.mark.parametrize("updated_s", [0, 10])
def test_tx_ended_interval_keeps_its_own_clock(updated_s: int) -> None:
    """2.x: the readings kept for the Ended event come every TxEndedInterval from the
    transaction's start, whatever TxUpdatedInterval is (off, or one that 15 does not
    divide: 15, 30, 45 s, not 20, 40 s)."""
    bench = booted(
        "2.0.1",
        session=Session(meter_interval_s=updated_s, duration_s=3600),
        configuration=(
            ("stop_txn_sampled_data", "Energy.Active.Import.Register"),
            ("tx_ended_interval_s", "15"),
        ),
    )
    remote_start(bench, 1)
    bench.run(50)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    ended = bench.named("TransactionEvent")[-1].payload
    times = [
        datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00")).timestamp()
        for mv in ended["meterValue"]
    ]
    contexts = [mv["sampledValue"][0]["context"] for mv in ended["meterValue"]]
    assert contexts == ["Transaction.Begin"] + ["Sample.Periodic"] * 3 + ["Transaction.End"]
    assert [round(t - times[0]) for t in times[1:4]] == [15, 30, 45]


def test_ended_event_carries_tx_ended_measurands() -> None:
    """2.0.1: Started carries TxStartedMeasurands (Transaction.Begin); Ended the
    TxEndedMeasurands every TxEndedInterval and at the end (Transaction.End)."""
    bench = fleet_bench(
        "2.0.1",
        DC50,
        session=Session(meter_interval_s=30),
        configuration=(
            ("tx_started_measurands", "Energy.Active.Import.Register,SoC"),
            ("stop_txn_sampled_data", "Energy.Active.Import.Register,Power.Active.Import"),
            ("tx_ended_interval_s", "60"),
        ),
    )
    remote_start(bench, 1)
    bench.run(190)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    events = [c.payload for c in bench.named("TransactionEvent")]
    begin = events[0]["meterValue"][0]["sampledValue"]
    assert {(v["measurand"], v["context"]) for v in begin} == {
        ("Energy.Active.Import.Register", "Transaction.Begin"),
        ("SoC", "Transaction.Begin"),
    }
    ended = events[-1]["meterValue"]
    contexts = [mv["sampledValue"][0]["context"] for mv in ended]
    assert contexts == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Sample.Periodic",
        "Sample.Periodic",
        "Transaction.End",
    ]
    assert {v["measurand"] for v in ended[-1]["sampledValue"]} == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_a_full_ev_suspends(version: str) -> None:
    """An EV that is nearly full draws almost nothing; at a limit of 0 the EVSE suspends
    (1.6 SuspendedEVSE; 2.0.1 chargingState SuspendedEVSE), and charging resumes after."""
    bench = fleet_bench(version, AC22, session=Session(meter_interval_s=30))
    remote_start(bench, 1)
    bench.run(40)
    profile = zero_profile(version)
    action = "SetChargingProfile"
    assert status_of(bench.server_call(action, profile)) == "Accepted"
    bench.run(31)
    if version == "1.6":
        assert (1, "SuspendedEVSE") in bench.statuses()
    else:
        last = samples(bench)[-1]
        assert values(last)[("Power.Active.Import", None)] == 0
        updated = [c.payload for c in bench.named("TransactionEvent")][-1]
        assert updated["transactionInfo"]["chargingState"] == "SuspendedEVSE"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_full_ev_is_suspended_by_the_ev(version: str) -> None:
    """An EV that is full draws nothing: the sample that finds it says SuspendedEV (1.6
    StatusNotification; 2.0.1 chargingState, E01.FR.19), not SuspendedEVSE: no limit
    holds it back."""
    full = replace(EV, soc_start_percent=(99.95, 99.95))
    bench = fleet_bench(version, AC22, sessions=full, session=Session(meter_interval_s=30))
    remote_start(bench, 1)
    bench.run(40)
    if version == "1.6":
        assert bench.statuses()[-1] == (1, "SuspendedEV")
    else:
        assert charging_events(bench, 0) == [("MeterValuePeriodic", "SuspendedEV")]


@pytest.mark.parametrize("interval_s", [0.0, 30.0])
def test_a_limit_change_reports_the_charging_state_at_once(interval_s: float) -> None:
    """1.6 errata 3.19: a limit of 0 set by SetChargingProfile makes the connector
    SuspendedEVSE at once, and ClearChargingProfile makes it Charging again at once, not
    at the next meter sample, also with MeterValueSampleInterval 0 (no samples at all)."""
    bench = booted("1.6", session=Session(meter_interval_s=interval_s, duration_s=600))
    remote_start(bench, 1)
    bench.run(5)
    mark = len(bench.calls)
    assert status_of(bench.server_call("SetChargingProfile", zero_profile("1.6"))) == "Accepted"
    bench.run(0.5)
    assert bench.statuses(mark) == [(1, "SuspendedEVSE")]
    register = bench.station.connectors[0].meter_wh
    bench.run(20)
    assert bench.station.connectors[0].meter_wh == register  # no energy at 0 W
    mark = len(bench.calls)
    clear = {"id": zero_profile("1.6")["csChargingProfiles"]["chargingProfileId"]}
    assert status_of(bench.server_call("ClearChargingProfile", clear)) == "Accepted"
    bench.run(0.5)
    assert bench.statuses(mark) == [(1, "Charging")]
    assert bench.counters.power_w > 0


def charging_events(bench: Bench, since: int) -> list[tuple[str, str]]:
    """(triggerReason, chargingState) of the TransactionEvents Updated from ``since``."""
    return [
        (c.payload["triggerReason"], c.payload["transactionInfo"]["chargingState"])
        for c in bench.tx_messages(since)
        if c.payload["eventType"] == "Updated"
    ]


@pytest.mark.parametrize("interval_s", [0.0, 30.0])
@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_limit_change_sends_charging_state_changed(version: str, interval_s: float) -> None:
    """E02.FR.13: a limit of 0 set by SetChargingProfile is told at once by a
    TransactionEvent Updated ChargingStateChanged / SuspendedEVSE, and ClearChargingProfile
    by ChargingStateChanged / Charging, also with no periodic samples at all; seqNo goes
    on without a gap."""
    bench = booted(version, session=Session(meter_interval_s=interval_s, duration_s=600))
    remote_start(bench, 1)
    bench.run(5)
    mark = len(bench.calls)
    assert status_of(bench.server_call("SetChargingProfile", zero_profile(version))) == "Accepted"
    bench.run(0.5)
    assert charging_events(bench, mark) == [("ChargingStateChanged", "SuspendedEVSE")]
    mark = len(bench.calls)
    assert status_of(bench.server_call("ClearChargingProfile", {"chargingProfileId": 9})) == (
        "Accepted"
    )
    bench.run(0.5)
    assert charging_events(bench, mark) == [("ChargingStateChanged", "Charging")]
    seq = [c.payload["seqNo"] for c in bench.tx_messages()]
    assert seq == list(range(len(seq)))


@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        ("periodic", "MeterValuePeriodic"),
        ("aligned", "MeterValueClock"),
        ("aligned, no measurands", "ChargingStateChanged"),
    ],
)
@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_sample_that_finds_the_state_changed_carries_it(
    version: str, sampling: str, expected: str
) -> None:
    """E02.FR.13: a charging state a meter sample finds changed (the profile's next period,
    0 W, begins on the sample) goes in that sample's TransactionEvent (MeterValuePeriodic
    or MeterValueClock), not in a second one; a clock-aligned reading of no measurands
    sends none, so then the change is told by ChargingStateChanged."""
    configuration = [("clock_aligned_interval_s", "0" if sampling == "periodic" else "10")]
    if sampling == "aligned":
        configuration.append(("meter_values_aligned_data", "Energy.Active.Import.Register"))
    interval_s = 30 if sampling == "periodic" else 0
    bench = booted(
        version,
        session=Session(meter_interval_s=interval_s, duration_s=600),
        configuration=tuple(configuration),
    )
    profile = zero_profile(version, 5000)
    periods = profile["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"]
    # the transaction starts at 1 s: its periodic samples come at 31 s, 61 s ..., the
    # clock-aligned readings at 10 s, 20 s, 30 s ...
    periods.append({"startPeriod": 30 if sampling == "periodic" else 29, "limit": 0})
    assert status_of(bench.server_call("SetChargingProfile", profile)) == "Accepted"
    remote_start(bench, 1)
    bench.run(35)
    changes = [e for e in charging_events(bench, 0) if e[1] != "Charging"]
    assert changes == [(expected, "SuspendedEVSE")]
    seq = [c.payload["seqNo"] for c in bench.tx_messages()]
    assert seq == list(range(len(seq)))


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_limit_change_beyond_the_significance_sends_charging_rate_changed(
    version: str,
) -> None:
    """K11.FR.04 / TriggerReasonEnumType: a new limit that changes the charging power by
    more than LimitChangeSignificance percent (10) is told at once by a TransactionEvent
    Updated ChargingRateChanged; a smaller change is not."""
    bench = booted(version, session=Session(meter_interval_s=0, duration_s=600))
    remote_start(bench, 1)
    bench.run(5)
    mark = len(bench.calls)
    profile = zero_profile(version, 10_500)  # 11,000 W before: 4.5% less
    assert status_of(bench.server_call("SetChargingProfile", profile)) == "Accepted"
    bench.run(0.5)
    assert charging_events(bench, mark) == []
    profile = zero_profile(version, 5_000)
    assert status_of(bench.server_call("SetChargingProfile", profile)) == "Accepted"
    bench.run(0.5)
    assert charging_events(bench, mark) == [("ChargingRateChanged", "Charging")]
    assert bench.counters.power_w == 5_000


def zero_profile(version: str, limit_w: float = 0) -> dict[str, Any]:
    """A TxDefaultProfile of 0 W (or ``limit_w``) for connector / EVSE 1."""
    period = {"startPeriod": 0, "limit": limit_w}
    schedule = {"chargingRateUnit": "W", "chargingSchedulePeriod": [period]}
    if version == "1.6":
        return {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 9,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": schedule,
            },
        }
    return {
        "evseId": 1,
        "chargingProfile": {
            "id": 9,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, **schedule}],
        },
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_fleet_counters(version: str) -> None:
    """The fleet's counters follow the sessions: started, ended by reason, energy,
    connectors charging and their power."""
    bench = fleet_bench(version, AC22, session=Session(meter_interval_s=60))
    remote_start(bench, 1)
    bench.run(120)
    counters = bench.counters
    assert (counters.sessions_started, counters.charging, counters.power_w) == (1, 1, 22_000)
    assert counters.energy_wh == pytest.approx(22_000 * 120 / 3600, abs=1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert (counters.sessions_ended, counters.ended_remote, counters.charging) == (1, 1, 0)
    assert counters.power_w == 0


# -- faults, security events, DataTransfer ----------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_faulty_charger_faults_and_recovers(version: str) -> None:
    """A charger of the faulty share reports a connector Faulted (1.6 with the error code),
    ends the session there, refuses remote starts, and is Available after recover_s."""
    faults = Faults(share=1.0, mean_interval_s=50, recover_s=30, error_code="HighTemperature")
    bench = booted(version, fleet=FleetSpec(faults=faults))
    remote_start(bench, 1)
    bench.run(400)
    faulted = [c for c in bench.named("StatusNotification") if "Faulted" in c.payload.values()]
    assert faulted and bench.counters.faults >= 1 and bench.counters.faults_recovered >= 1
    if version == "1.6":
        assert faulted[0].payload["errorCode"] == "HighTemperature"
    assert bench.counters.ended_other == 1
    i = bench.calls.index(faulted[0])
    after = [s for s in bench.statuses(i + 1)]
    assert after[0] == (1, "Available")
    assert bench.calls[i + 1].at - faulted[0].at == pytest.approx(30, abs=0.1)


@pytest.mark.parametrize("version", VERSIONS)
def test_security_events(version: str) -> None:
    """With security_events: after refused credentials (HTTP 401) the failed
    authentication once connected, StartupOfTheDevice after each boot, and ResetOrReboot
    before it after a reset's boot (1.6 security whitepaper names, 2.0.1 A04)."""
    bench = make(version, fleet=FleetSpec(security_events=True), reboot_s=1)
    bench.refuse = [Failure("handshake_rejected", "HTTP 401 Unauthorized")]
    bench.run(30)
    kind = "Soft" if version == "1.6" else "Immediate"
    assert status_of(bench.server_call("Reset", {"type": kind})) == "Accepted"
    bench.run(30)
    events = [c.payload["type"] for c in bench.named("SecurityEventNotification")]
    refused = (
        "FailedToAuthenticateAtCentralSystem" if version == "1.6" else "FailedToAuthenticateAtCsms"
    )
    assert events == [refused, "StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]
    assert bench.counters.security_events == 4
    # stamped when it happened (the refused upgrade), not when it could be sent
    first = bench.named("SecurityEventNotification")[0]
    happened = datetime.fromisoformat(first.payload["timestamp"]).timestamp() - WALL_OFFSET_S
    boot = bench.named("BootNotification")[0]
    assert happened < boot.at < first.at


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("security_events", [False, True])
def test_critical_security_events_of_an_idle_station(version: str, security_events: bool) -> None:
    """A boot after power-up reports StartupOfTheDevice, a reset's boot ResetOrReboot
    first: critical events, which 2.x sends always (A04.FR.01) and 1.6 with
    security_events (its security whitepaper is optional). An idle station sends them
    without making its extras."""
    bench = booted(version, fleet=FleetSpec(security_events=security_events), reboot_s=1)
    assert bench.station.ext is None
    kind = "Soft" if version == "1.6" else "Immediate"
    assert status_of(bench.server_call("Reset", {"type": kind})) == "Accepted"
    bench.run(30)
    assert bench.booted == 2
    events = [c.payload["type"] for c in bench.named("SecurityEventNotification")]
    expected = ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]
    if version == "1.6" and not security_events:
        expected = []
    assert events == expected
    assert bench.counters.security_events == len(expected)
    assert bench.station.ext is None


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_security_events_outlive_a_lost_connection(version: str) -> None:
    """Security events queued or in flight when the connection is lost are sent after
    the reconnect (A04.FR.02: guaranteed delivery), each counted once."""
    bench = booted(version, reboot_s=1)
    bench.silent.add("SecurityEventNotification")
    assert status_of(bench.server_call("Reset", {"type": "Immediate"})) == "Accepted"
    bench.run(5)
    assert bench.booted == 2 and bench.in_flight is not None
    mark = len(bench.calls)
    bench.drop()
    bench.silent.clear()
    bench.run(60)
    first = [c.payload for c in bench.calls[:mark] if c.action == "SecurityEventNotification"]
    again = [c.payload for c in bench.named("SecurityEventNotification")[-2:]]
    assert [p["type"] for p in again] == ["ResetOrReboot", "StartupOfTheDevice"]
    assert again[0] == first[-1]  # the one in flight again, with the time it happened
    assert again[1]["timestamp"] == again[0]["timestamp"]  # queued at the same boot
    assert all(c.delivered for c in bench.calls[mark:] if c.action == "SecurityEventNotification")
    assert bench.counters.security_events == 3  # the first boot's and the reset's two


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_full_offline_queue_keeps_a_security_event(version: str) -> None:
    """Security events caught by a lost connection outlive the offline queue's bound:
    the sessions started offline fill it, transaction messages go instead (A04.FR.02:
    guaranteed delivery)."""
    bench = booted(version, connectors=3, offline_queue_max=3, reboot_s=1)
    bench.silent.add("SecurityEventNotification")
    assert status_of(bench.server_call("Reset", {"type": "Immediate"})) == "Accepted"
    bench.run(5)
    assert bench.in_flight is not None  # a security event, unanswered
    bench.drop()
    bench.silent.clear()
    for n in (1, 2, 3):  # offline sessions: three Started events for a queue of three
        bench.driver.step(lambda st, now, n=n: st.plug_in(now, n, "TAG"))
        bench.driver.step(lambda st, now, n=n: st.start_transaction(now, n, "TAG"))
    queued = [item.action for item in bench.station.queue]
    assert len(queued) == 3 and bench.counters.offline_dropped == 2
    assert queued.count("SecurityEventNotification") == 2  # the reset's two, kept
    bench.run(300)
    types = [c.payload["type"] for c in bench.named("SecurityEventNotification") if c.delivered]
    assert types.count("ResetOrReboot") == 1 and types.count("StartupOfTheDevice") == 2, types


@pytest.mark.parametrize("version", VERSIONS)
def test_data_transfer_answers_by_vendor_and_message(version: str) -> None:
    """DataTransfer gets the configured answer for its vendorId and messageId;
    UnknownMessageId for a known vendor's other messages, else UnknownVendorId."""
    answers = (
        DataTransferAnswer("com.example", "Ping", "Accepted", "pong"),
        DataTransferAnswer("com.example", None, "Rejected"),
        DataTransferAnswer("org.other", "Only", "Accepted"),
    )
    bench = booted(version, fleet=FleetSpec(data_transfer=answers))

    def ask(vendor: str, message: str | None) -> Any:
        payload = {"vendorId": vendor, **({"messageId": message} if message else {})}
        return bench.server_call("DataTransfer", payload)[2]

    assert ask("com.example", "Ping") == {"status": "Accepted", "data": "pong"}
    assert ask("com.example", "Other") == {"status": "Rejected"}
    assert ask("org.other", "Else") == {"status": "UnknownMessageId"}
    assert ask("net.nobody", None) == {"status": "UnknownVendorId"}


def test_connector_states_as_notify_event() -> None:
    """2.0.1 with notify_event: connector states go as NotifyEvent of the Connector's
    AvailabilityState (trigger Delta, G01.FR.03/04); a triggered status is still a
    StatusNotification."""
    bench = booted("2.0.1", fleet=FleetSpec(notify_event=True))
    remote_start(bench, 1)
    bench.run(1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    events = [c.payload["eventData"][0] for c in bench.named("NotifyEvent")]
    assert [(e["component"]["evse"]["id"], e["actualValue"]) for e in events] == [
        (1, "Available"),
        (1, "Occupied"),
        (1, "Available"),
    ]
    assert all(e["variable"] == {"name": "AvailabilityState"} for e in events)
    assert len({e["eventId"] for e in events}) == 3 and bench.named("StatusNotification") == []
    trigger = {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}
    assert status_of(bench.server_call("TriggerMessage", trigger)) == "Accepted"
    bench.run(1)
    assert len(bench.named("StatusNotification")) == 1


def test_notify_event_names_a_variable_of_the_device_model() -> None:
    """2.0.1 with notify_event: the component and variable each NotifyEvent reports is one
    GetVariables reads (Part 2 2.13.2), and it reads the value the latest event gave."""
    bench = booted("2.0.1", connectors=2, fleet=FleetSpec(notify_event=True))
    remote_start(bench, 2)
    bench.run(1)
    latest = {}
    for call in bench.named("NotifyEvent"):
        for event in call.payload["eventData"]:
            latest[json.dumps([event["component"], event["variable"]])] = event
    assert len(latest) == 2
    data = [{"component": e["component"], "variable": e["variable"]} for e in latest.values()]
    answer = bench.server_call("GetVariables", {"getVariableData": data})
    assert answer is not None and answer[0] == 3, answer
    results = answer[2]["getVariableResult"]
    assert [(r["attributeStatus"], r["attributeValue"]) for r in results] == [
        ("Accepted", e["actualValue"]) for e in latest.values()
    ]
    assert [e["actualValue"] for e in latest.values()] == ["Available", "Occupied"]


def test_idle_chargers_allocate_nothing_new() -> None:
    """An idle charger of a plain config keeps no extras through boot and heartbeats."""
    bench = booted("1.6")
    bench.run(300)
    assert bench.station.ext is None


def test_a_full_ev_stops_drawing() -> None:
    """The taper approaches 100% without reaching it: at 99.9% the EV draws nothing, and
    its register holds exactly the energy that filled it."""
    from loadgen.sim.metering import Ev

    ev = Ev(battery_wh=50_000, soc=95.0, max_power_w=50_000, taper=80)
    ev.advance(50_000, 10 * 3600)
    assert ev.soc == pytest.approx(99.9) and ev.power_w(50_000) == 0
    assert ev.register_wh == pytest.approx(50_000 * 4.9 / 100)
