"""OCPP 2.1 by the station alone: 2.0.1's flows under 2.1's schemas, local cost
calculation from a default tariff, and bidirectional (V2X) sessions. Every frame the
station sends is validated against the official 2.1 schemas by the bench
(tests/unit/sim_csms.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from loadgen.config import Arrivals, ChargerModel, FleetSpec, Session
from loadgen.ocpp import tariffs
from loadgen.sim.metering import V2X_MIN_SOC_PERCENT
from tests.unit.sim_csms import (
    Bench,
    booted,
    check_date_times,
    remote_start,
    remote_stop,
    set_setting,
    status_of,
    tx_id,
)

pytestmark = pytest.mark.timeout(30)

V21 = "2.1"
#: 0.25 a kWh (+21% VAT), a start fee of 0.50, 0.06 a minute of charging (no tax).
TARIFF: dict[str, Any] = {
    "tariffId": "DEFAULT-1",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.25}], "taxRates": [{"type": "VAT", "tax": 21}]},
    "fixedFee": {"prices": [{"priceFixed": 0.5}]},
    "chargingTime": {"prices": [{"priceMinute": 0.06}]},
}
DC = ChargerModel(
    "dc-50", vendor="Volt", model="Bidi50", firmware_version="b-1", connectors=1,
    max_power_w=50_000, dc=True, voltage_v=400, soc=True,
)  # fmt: skip
V2X_EV = Arrivals(
    arrival="uniform",
    mean_pause_s=5,
    duration_s=(20_000, 20_000),
    battery_wh=(60_000, 60_000),
    soc_start_percent=(60, 60),
    ev_max_power_w=(11_000, 11_000),
    v2x_share=1.0,
)
MEASURED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def events(bench: Bench, kind: str) -> list[dict[str, Any]]:
    return [
        c.payload
        for c in bench.named("TransactionEvent")
        if c.payload["eventType"] == kind and c.answer is not None
    ]


def sampled(event: dict[str, Any]) -> dict[str, float]:
    return {
        v["measurand"]: float(v["value"])
        for mv in event["meterValue"]
        for v in mv["sampledValue"]
        if v.get("phase") is None
    }


def test_boot_status_heartbeat_and_a_session_in_2_1() -> None:
    """A 2.1 station boots, reports its connectors, beats, and runs a remote session with
    2.0.1's messages, each valid under 2.1's schemas."""
    bench = booted(V21)
    assert bench.station.dialect.subprotocol == "ocpp2.1"
    assert bench.statuses() == [(1, "Available")]
    bench.run(61)
    assert bench.named("Heartbeat")
    assert remote_start(bench) == "Accepted"
    bench.run(35)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert [e["eventType"] for e in (c.payload for c in bench.named("TransactionEvent"))] == [
        "Started",
        "Updated",
        "Ended",
    ]
    ended = events(bench, "Ended")[0]
    assert "costDetails" not in ended  # no tariff: nothing priced
    assert bench.failures() == []


def test_default_tariff_prices_each_transaction_event() -> None:
    """With a default tariff the transaction carries its tariffId, a running cost in each
    event and the final cost in Ended: fixed fee + energy (with VAT) + charging time, the
    usage matching the meter."""
    bench = booted(V21)
    assert status_of(bench.server_call("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})) == (
        "Accepted"
    )
    answer = bench.server_call("GetTariffs", {"evseId": 1})
    assert answer[2]["tariffAssignments"] == [
        {"tariffId": "DEFAULT-1", "tariffKind": "DefaultTariff"}
    ]
    assert remote_start(bench) == "Accepted"
    bench.run(65)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    started, ended = events(bench, "Started")[0], events(bench, "Ended")[0]
    assert started["transactionInfo"]["tariffId"] == "DEFAULT-1"
    updates = events(bench, "Updated")
    assert len(updates) == 2 and all("costDetails" in u for u in updates)
    running = [u["costDetails"]["totalCost"]["total"]["inclTax"] for u in updates]
    assert running == sorted(running) and running[0] > 0.5
    cost = ended["costDetails"]
    energy_wh = (
        sampled(ended)["Energy.Active.Import.Register"]
        - sampled(started)["Energy.Active.Import.Register"]
    )
    usage = cost["totalUsage"]
    assert usage["energy"] == energy_wh > 0
    assert usage["chargingTime"] == 65 and usage["idleTime"] == 0
    total = cost["totalCost"]
    expected_excl = 0.5 + energy_wh / 1000 * 0.25 + 65 / 60 * 0.06
    expected_incl = 0.5 + energy_wh / 1000 * 0.25 * 1.21 + 65 / 60 * 0.06
    assert total["currency"] == "EUR" and total["typeOfCost"] == "NormalCost"
    assert total["total"]["exclTax"] == pytest.approx(expected_excl, abs=0.006)
    assert total["total"]["inclTax"] == pytest.approx(expected_incl, abs=0.006)
    assert total["fixed"] == {"exclTax": 0.5, "inclTax": 0.5}
    assert [p["tariffId"] for p in cost["chargingPeriods"]] == ["DEFAULT-1"]


def test_a_charging_state_change_carries_the_running_cost() -> None:
    """The Updated event of a charging state change (ChargingStateChanged, a 0 W limit)
    carries the running cost like every other event of a priced transaction."""
    bench = booted(V21)
    assert status_of(bench.server_call("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})) == (
        "Accepted"
    )
    assert remote_start(bench) == "Accepted"
    bench.run(5)
    schedule = {
        "id": 1,
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}],
    }
    profile = {
        "id": 9,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule],
    }
    answer = bench.server_call("SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    changed = events(bench, "Updated")[-1]
    assert changed["triggerReason"] == "ChargingStateChanged"
    assert changed["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    assert changed["transactionInfo"]["tariffId"] == "DEFAULT-1"
    assert changed["costDetails"]["totalCost"]["total"]["inclTax"] > 0.5


def test_a_clock_aligned_event_carries_the_running_cost() -> None:
    """The Updated event of a clock-aligned reading (MeterValueClock) carries the running
    cost like every other event of a priced transaction."""
    bench = booted(V21, session=Session(meter_interval_s=0.0))
    assert status_of(bench.server_call("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})) == (
        "Accepted"
    )
    energy = "Energy.Active.Import.Register"
    assert set_setting(bench, "", "AlignedDataCtrlr.Measurands", energy) == "Accepted"
    assert set_setting(bench, "", "AlignedDataCtrlr.Interval", "15") == "Accepted"
    assert remote_start(bench) == "Accepted"
    bench.run(20)
    aligned = [u for u in events(bench, "Updated") if u["triggerReason"] == "MeterValueClock"]
    assert aligned and all(u["costDetails"]["totalCost"]["total"]["inclTax"] > 0.5 for u in aligned)


def test_tariffs_are_cleared_and_changed_per_transaction() -> None:
    """ChangeTransactionTariff prices the rest of a transaction at the new tariff (a second
    charging period), refuses another currency and an unknown transaction; ClearTariffs
    removes the default so the next transaction is not priced."""
    bench = booted(V21)
    bench.server_call("SetDefaultTariff", {"evseId": 1, "tariff": TARIFF})
    remote_start(bench)
    bench.run(31)
    cheaper = {"tariffId": "NIGHT", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.1}]}}
    dollars = {**cheaper, "tariffId": "USD", "currency": "USD"}
    ask = bench.server_call
    tx = tx_id(bench)
    assert status_of(ask("ChangeTransactionTariff", {"transactionId": tx, "tariff": dollars})) == (
        "NoCurrencyChange"
    )
    assert status_of(ask("ChangeTransactionTariff", {"transactionId": "x", "tariff": cheaper})) == (
        "TxNotFound"
    )
    assert status_of(ask("ChangeTransactionTariff", {"transactionId": tx, "tariff": cheaper})) == (
        "Accepted"
    )
    bench.run(30)
    remote_stop(bench, tx)
    bench.run(1)
    periods = events(bench, "Ended")[0]["costDetails"]["chargingPeriods"]
    assert [p["tariffId"] for p in periods] == ["DEFAULT-1", "NIGHT"]
    cleared = ask("ClearTariffs", {"tariffIds": ["DEFAULT-1"]})[2]["clearTariffsResult"]
    assert cleared == [{"status": "Accepted", "tariffId": "DEFAULT-1"}]
    assert ask("ClearTariffs", {})[2]["clearTariffsResult"] == [{"status": "NoTariff"}]
    bench.run(10)
    remote_start(bench)
    bench.run(35)
    assert "costDetails" not in events(bench, "Updated")[-1]


def test_tariff_cost_bounds_and_stacked_taxes() -> None:
    """minCost and maxCost bound the total (typeOfCost says which); a stack-1 tax applies
    on top of the stack-0 one."""
    tariff = tariffs.parse(
        {
            "tariffId": "T",
            "currency": "EUR",
            "energy": {
                "prices": [{"priceKwh": 1.0}],
                "taxRates": [{"type": "A", "tax": 10}, {"type": "B", "tax": 10, "stack": 1}],
            },
            "minCost": {"exclTax": 2.0},
            "maxCost": {"exclTax": 20.0},
        }
    )
    one = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage(energy_wh=5000))])
    assert (one.type_of_cost, one.total) == ("NormalCost", (5.0, 6.05))
    low = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage(energy_wh=1000))])
    assert (low.type_of_cost, low.total) == ("MinCost", (2.0, 2.42))
    high = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage(energy_wh=50_000))])
    assert (high.type_of_cost, high.total) == ("MaxCost", (20.0, 24.2))


def v2x_bench(**answers: Any) -> Bench:
    fleet = FleetSpec(models=(DC,), sessions=V2X_EV)
    configuration = (("meter_values_sampled_data", MEASURED),)
    return booted(V21, fleet=fleet, configuration=configuration, answers=answers)


def discharge_profile(transaction_id: str, setpoint_w: float) -> dict[str, Any]:
    return {
        "evseId": 1,
        "chargingProfile": {
            "id": 30,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "transactionId": transaction_id,
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {
                            "startPeriod": 0,
                            "operationMode": "CentralSetpoint",
                            "setpoint": setpoint_w,
                            "dischargeLimit": -7000.0,
                        }
                    ],
                }
            ],
        },
    }


def test_a_v2x_session_discharges_at_the_csms_setpoint() -> None:
    """A bidirectional EV tells the CSMS its needs (DC_BPT); under a CentralSetpoint
    profile of -10 kW (dischargeLimit -7 kW) it gives back 7 kW: export power, the export
    register rising by the energy while the import one stands still, the state of charge
    falling, Charging throughout; NotifyAllowedEnergyTransfer without BPT stops it."""
    bench = v2x_bench()
    remote_start(bench)
    bench.run(31)
    needs = bench.named("NotifyEVChargingNeeds")
    assert len(needs) == 1
    assert needs[0].payload["chargingNeeds"]["requestedEnergyTransfer"] == "DC_BPT"
    tx = tx_id(bench)
    assert status_of(bench.server_call("SetChargingProfile", discharge_profile(tx, -10_000))) == (
        "Accepted"
    )
    bench.run(60)
    before, after = [sampled(e) for e in events(bench, "Updated")[-2:]]
    assert after["Power.Active.Export"] == 7000 and after["Power.Active.Import"] == 0
    assert after["Energy.Active.Export.Register"] - before["Energy.Active.Export.Register"] in (
        58,
        59,
    )  # 7 kW for 30 s
    assert after["Energy.Active.Import.Register"] == before["Energy.Active.Import.Register"]
    assert after["SoC"] < before["SoC"]
    assert after["Current.Export"] == 17.5  # 7000 W / 400 V
    assert events(bench, "Updated")[-1]["transactionInfo"]["chargingState"] == "Charging"
    assert bench.counters.energy_exported_wh >= 58 and bench.counters.v2x_sessions == 1
    answer = bench.server_call(
        "NotifyAllowedEnergyTransfer", {"transactionId": tx, "allowedEnergyTransfer": ["DC"]}
    )
    assert status_of(answer) == "Accepted"
    bench.run(30)
    last = sampled(events(bench, "Updated")[-1])
    assert last["Power.Active.Export"] == 0 and last["Power.Active.Import"] == 0
    assert bench.statuses()[-1] == (1, "Occupied")
    assert bench.failures() == []


def test_a_rejected_v2x_session_only_charges() -> None:
    """NotifyEVChargingNeeds answered Rejected: the EV charges only, a discharging setpoint
    gives no export; an EV that cannot discharge never asks (v2x_share 0)."""
    bench = v2x_bench(NotifyEVChargingNeeds={"status": "Rejected"})
    remote_start(bench)
    bench.run(31)
    bench.server_call("SetChargingProfile", discharge_profile(tx_id(bench), -10_000))
    bench.run(60)
    last = sampled(events(bench, "Updated")[-1])
    assert last["Power.Active.Export"] == 0 and last["Energy.Active.Export.Register"] == 0
    assert bench.counters.energy_exported_wh == 0
    plain = booted(
        V21,
        fleet=FleetSpec(models=(DC,), sessions=replace(V2X_EV, v2x_share=0)),
    )
    remote_start(plain)
    plain.run(40)
    assert plain.named("NotifyEVChargingNeeds") == []
    assert "Energy.Active.Export.Register" not in str(plain.named("TransactionEvent"))


def test_discharge_stops_at_the_minimum_state_of_charge() -> None:
    """A discharging EV keeps V2X_MIN_SOC_PERCENT for its driver: then it stops giving back."""
    bench = v2x_bench()
    remote_start(bench)
    bench.run(31)
    bench.server_call("SetChargingProfile", discharge_profile(tx_id(bench), -7000))
    bench.run(4 * 3600)
    last = sampled(events(bench, "Updated")[-1])
    assert last["SoC"] == pytest.approx(V2X_MIN_SOC_PERCENT, abs=0.1)
    assert last["Power.Active.Export"] == 0
    exported = last["Energy.Active.Export.Register"]  # from about 60%, of 60 kWh
    assert exported == pytest.approx(60_000 * (60 - V2X_MIN_SOC_PERCENT) / 100, rel=0.01)


def test_a_2_1_id_token_travels_with_its_type_and_length() -> None:
    """2.1's idTokens (any type of up to 20 characters, up to 255 long) start a session
    and come back unchanged in the Started event."""
    bench = booted(V21)
    token = {"idToken": "E" * 200, "type": "EVCCID"}
    answer = bench.server_call(
        "RequestStartTransaction", {"idToken": token, "remoteStartId": 5, "evseId": 1}
    )
    assert status_of(answer) == "Accepted"
    bench.run(2)
    assert events(bench, "Started")[0]["idToken"] == token


def test_the_bench_checks_date_times() -> None:
    """The bench's schema check covers ``format: date-time`` (the ``ocpp`` package's
    validators do not): a timestamp that is not RFC 3339 fails, the station's pass."""
    good = {"eventType": "Started", "timestamp": "2026-09-21T14:00:00.000Z"}
    payload = {**good, "triggerReason": "Authorized", "seqNo": 0}
    payload["transactionInfo"] = {"transactionId": "1"}
    check_date_times(V21, "TransactionEvent", payload)
    with pytest.raises(AssertionError, match="date-time"):
        check_date_times(V21, "TransactionEvent", {**payload, "timestamp": "21.09.2026 14:00"})
