"""OCPP 2.1 as a CSMS sees it: boot, status, heartbeat, a full session priced from a default
tariff, and a bidirectional session discharging, every frame validated in both directions
against the 2.1 schemas by a CSMS built on the ``ocpp`` package's v21 support.

As in ``test_fleet_behaviour.py``: the reference CSMS (``csms_ocpp.py --version 2.1``)
runs one operator scenario per charge point (``csms_v21_scenarios.py``: ``tariff`` and
``discharge``) while plain Locust runs loadgen's charge points, all in one run.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from tests.integration import csms_scenarios as sc
from tests.integration import csms_v21_scenarios as v21
from tests.integration.behaviour_runs import RunResult, RunSpec, call, execute, frames, mark

pytestmark = pytest.mark.integration

VERSION = "2.1"
ALL = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
BIDI = {
    "name": "bidi",
    "vendor": "Volt",
    "model": "Bidi22",
    "firmware_version": "b-2.1",
    "connectors": 1,
    "max_power_w": 22000,
    "dc": True,
    "voltage_v": 400,
    "soc": True,
}
EV = {
    "duration_s": [600, 600],
    "battery_wh": [60000, 60000],
    "soc_start_percent": [50, 50],
    "ev_max_power_w": [11000, 11000],
    "v2x_share": 1,
}
RUN = RunSpec(
    "v21",
    ("tariff", "discharge"),
    connectors=1,
    charge_points=lambda version: {"configuration": {"meter_values_sampled_data": ALL}},
    fleet=lambda version: {"models": [BIDI], "sessions": EV},
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunResult]:
    """The one 2.1 run, shared by the module's tests."""
    yield execute((RUN,), VERSION, tmp_path_factory.mktemp("ocpp21"))[RUN.name]


def sampled(m: dict[str, Any]) -> dict[str, float]:
    return {
        v["measurand"]: float(v["value"])
        for mv in m["payload"].get("meterValue") or []
        for v in mv["sampledValue"]
    }


def tx_events(cp: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in cp["messages"] if m["action"] == "TransactionEvent"]


@pytest.mark.timeout(180)
def test_boot_status_and_heartbeat_in_2_1(run: RunResult) -> None:
    """Each charger negotiates ocpp2.1, boots Accepted, reports its EVSE and beats; the
    CSMS's v21 validation found nothing wrong in either direction."""
    for name in RUN.scenarios:
        cp = run.charger(name)  # scenario done, no schema error, no CALLERROR
        evidence = frames(cp)
        assert set(cp["subprotocols"]) == {"ocpp2.1"}, evidence
        first = cp["messages"][0]
        assert first["action"] == "BootNotification", evidence
        assert first["payload"]["chargingStation"]["model"] == "Bidi22", evidence
        assert first["reply"]["status"] == "Accepted", evidence
        statuses = [m["payload"] for m in cp["messages"] if m["action"] == "StatusNotification"]
        assert (1, "Available") in [(s["evseId"], s["connectorStatus"]) for s in statuses], evidence
        assert cp["counts"].get("Heartbeat", 0) >= 1, evidence


@pytest.mark.timeout(180)
def test_a_full_session_is_priced_from_the_default_tariff(run: RunResult) -> None:
    """SetDefaultTariff is Accepted and GetTariffs lists it; the session carries its
    tariffId and a running cost in each event; after ChangeTransactionTariff the Ended
    event's costDetails has a period per tariff, whose energies add up to the metered
    energy, and a total that is what the two tariffs make of it."""
    cp = run.charger("tariff")
    evidence = frames(cp)
    listed = call(cp, "GetTariffs")["response"]["tariffAssignments"]
    assert [a["tariffId"] for a in listed] == [v21.TARIFF_ID], evidence
    events = tx_events(cp)
    assert [e["payload"]["eventType"] for e in events][:1] == ["Started"], evidence
    started, ended = events[0]["payload"], events[-1]["payload"]
    assert ended["eventType"] == "Ended", evidence
    assert started["transactionInfo"]["tariffId"] == v21.TARIFF_ID, evidence
    updates = [e["payload"] for e in events if e["payload"]["eventType"] == "Updated"]
    assert len(updates) >= 3 and all("costDetails" in u for u in updates), evidence
    running = [u["costDetails"]["totalCost"]["total"]["inclTax"] for u in updates]
    assert running == sorted(running), evidence
    cost = ended["costDetails"]
    periods = cost["chargingPeriods"]
    assert [p["tariffId"] for p in periods] == [v21.TARIFF_ID, v21.NIGHT_ID], evidence
    energy = {p["tariffId"]: p["dimensions"][0]["volume"] for p in periods}
    metered = (
        sampled(events[-1])["Energy.Active.Import.Register"]
        - sampled(events[0])["Energy.Active.Import.Register"]
    )
    assert sum(energy.values()) == cost["totalUsage"]["energy"] == metered > 0, evidence
    expected = 1.0 + energy[v21.TARIFF_ID] / 1000 * 0.3 * 1.21 + energy[v21.NIGHT_ID] / 1000 * 0.1
    total = cost["totalCost"]
    assert total["currency"] == "EUR" and total["typeOfCost"] == "NormalCost", evidence
    assert total["total"]["inclTax"] == pytest.approx(expected, abs=0.011), evidence
    cleared = call(cp, "ClearTariffs")["response"]["clearTariffsResult"]
    assert cleared == [{"status": "Accepted", "tariffId": v21.TARIFF_ID}], evidence


@pytest.mark.timeout(180)
def test_a_discharge_session_meters_backwards(run: RunResult) -> None:
    """A bidirectional EV asks for DC_BPT; under the CSMS's -7 kW CentralSetpoint it
    exports 7 kW: its export register rises while the import one stands still; once the
    CSMS allows plain DC only, the export stops. summary.json counts the energy exported."""
    cp = run.charger("discharge")
    evidence = frames(cp)
    needs = [m for m in cp["messages"] if m["action"] == "NotifyEVChargingNeeds"]
    assert needs and needs[0]["payload"]["chargingNeeds"]["requestedEnergyTransfer"] == "DC_BPT"
    tx = sc.tx_of(VERSION, next(m for m in cp["messages"] if sc.is_start(VERSION, m)))
    after = mark(cp, "SetChargingProfile.discharge")
    allowed = mark(cp, "charging only")
    discharging = [
        sampled(m) for m in cp["messages"][after:allowed] if sc.is_meter(VERSION, m, tx)
    ][1:]  # the first may hold energy from before the profile
    assert len(discharging) >= 2, evidence
    for a, b in pairwise(discharging):
        assert b["Power.Active.Export"] == 7000 and b["Power.Active.Import"] == 0, evidence
        assert b["Energy.Active.Export.Register"] > a["Energy.Active.Export.Register"], evidence
        assert b["Energy.Active.Import.Register"] == a["Energy.Active.Import.Register"], evidence
        assert b["SoC"] <= a["SoC"], evidence  # falling (0.1% steps: slower than this)
    later = [sampled(m) for m in cp["messages"][allowed:] if sc.is_meter(VERSION, m, tx)][1:]
    assert later and all(s["Power.Active.Export"] == 0 for s in later), evidence
    summary = run.summary
    assert summary is not None, run.locust_output[-2000:]
    fleet = summary["fleet"]
    assert fleet["v2x_sessions"] == 2 and fleet["energy_exported_wh"] > 0, fleet
    assert fleet["tariffs_set"] == 1, fleet
