"""OCPP 2.1 bidirectional sessions: registers that never fall from one session to the
next, and a discharge bounded by the charger's own rating. Every frame is validated
against the 2.1 schemas by the bench (tests/unit/sim_csms.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loadgen.config import FleetSpec
from tests.unit.sim_csms import booted, remote_start, remote_stop, status_of, tx_id
from tests.unit.test_station_v21 import (
    DC,
    MEASURED,
    V2X_EV,
    discharge_profile,
    events,
    sampled,
    v2x_bench,
)

pytestmark = pytest.mark.timeout(30)

EXPORT = "Energy.Active.Export.Register"


def test_the_export_register_carries_over_to_the_next_v2x_session() -> None:
    """The second V2X session on a connector starts at the export register the first one
    ended with: its Started event does not show 0 (a meter register never falls)."""
    bench = v2x_bench()
    remote_start(bench)
    bench.run(31)
    tx = tx_id(bench)
    bench.server_call("SetChargingProfile", discharge_profile(tx, -10_000))
    bench.run(120)
    remote_stop(bench, tx)
    bench.run(5)
    remote_start(bench)
    bench.run(65)
    first_end = sampled(events(bench, "Ended")[0])[EXPORT]
    second_start = sampled(events(bench, "Started")[1])[EXPORT]
    assert first_end > 0
    assert second_start == first_end
    registers = [
        sampled(c.payload)[EXPORT]
        for c in bench.named("TransactionEvent")
        if "meterValue" in c.payload
    ]
    assert registers == sorted(registers)
    assert bench.failures() == []


def test_a_discharge_is_capped_by_the_chargers_rating() -> None:
    """A 5 kW charger with an 11 kW EV gives back at most 5 kW under a -10 kW setpoint, and
    NotifyEVChargingNeeds reports maxChargePower / maxDischargePower as min(EV, EVSE)."""
    small = replace(DC, max_power_w=5000)
    bench = booted(
        "2.1",
        fleet=FleetSpec(models=(small,), sessions=V2X_EV),
        configuration=(("meter_values_sampled_data", MEASURED),),
    )
    remote_start(bench)
    bench.run(31)
    profile = discharge_profile(tx_id(bench), -10_000)
    del profile["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
        "dischargeLimit"
    ]
    assert status_of(bench.server_call("SetChargingProfile", profile)) == "Accepted"
    bench.run(61)
    assert sampled(events(bench, "Updated")[-1])["Power.Active.Export"] == 5000
    v2x = bench.named("NotifyEVChargingNeeds")[0].payload["chargingNeeds"]["v2xChargingParameters"]
    assert (v2x["maxChargePower"], v2x["maxDischargePower"]) == (5000, 5000)
    assert bench.failures() == []


def test_an_ac_ev_offers_the_phases_its_charger_has() -> None:
    """NotifyEVChargingNeeds' availableEnergyTransfer names the AC mode of the charger's
    phases (AC_single_phase on a single-phase model), DC on a DC one."""
    single = replace(DC, dc=False, phases=1, voltage_v=230, max_power_w=7400)
    bench = booted("2.1", fleet=FleetSpec(models=(single,), sessions=V2X_EV))
    remote_start(bench)
    bench.run(5)
    needs = bench.named("NotifyEVChargingNeeds")[0].payload["chargingNeeds"]
    assert needs["availableEnergyTransfer"] == ["AC_BPT", "AC_single_phase"]
    dc = v2x_bench()
    remote_start(dc)
    dc.run(5)
    needs = dc.named("NotifyEVChargingNeeds")[0].payload["chargingNeeds"]
    assert needs["availableEnergyTransfer"] == ["DC_BPT", "DC"]
