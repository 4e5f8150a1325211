"""OCPP 2.1 local cost calculation: tariffs announced ahead of time, and cost totals as a
CSMS checks them (bounds on either side of the tax, decimal rounding, totals that add
up). Station frames are validated against the 2.1 schemas by the bench
(tests/unit/sim_csms.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.ocpp import tariffs
from loadgen.ocpp.dialect import iso
from loadgen.ocpp.v21 import cost_details
from tests.unit.sim_csms import WALL_OFFSET_S, booted, remote_start, status_of
from tests.unit.test_station_v21 import events

pytestmark = pytest.mark.timeout(30)

T1: dict[str, Any] = {
    "tariffId": "T1",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.3}]},
}


def test_a_tariff_announced_for_later_leaves_the_current_one_in_force() -> None:
    """A default tariff whose validFrom is still to come does not displace the one in force:
    a session started now is priced at the current one, GetTariffs lists both, and the
    announced one prices the sessions after its validFrom."""
    bench = booted("2.1")
    later = {**T1, "tariffId": "T2", "validFrom": iso(WALL_OFFSET_S + 7200)}
    ask = bench.server_call
    assert status_of(ask("SetDefaultTariff", {"evseId": 0, "tariff": T1})) == "Accepted"
    assert status_of(ask("SetDefaultTariff", {"evseId": 0, "tariff": later})) == "Accepted"
    listed = ask("GetTariffs", {"evseId": 0})[2]["tariffAssignments"]
    assert [t["tariffId"] for t in listed] == ["T1", "T2"]
    remote_start(bench)
    bench.run(35)
    started = events(bench, "Started")[0]
    assert started["transactionInfo"]["tariffId"] == "T1"
    assert "costDetails" in events(bench, "Updated")[-1]
    ext = bench.station.ext
    assert ext is not None
    at = bench.station._tariff_at(ext, 1, WALL_OFFSET_S + 7300)
    assert at is not None and at.tariff_id == "T2"
    assert bench.failures() == []


def test_clearing_an_unknown_tariff_id_says_no_tariff() -> None:
    """ClearTariffs answers each tariffId it was given: NoTariff for one it does not have."""
    bench = booted("2.1")
    bench.server_call("SetDefaultTariff", {"evseId": 0, "tariff": T1})
    answer = bench.server_call("ClearTariffs", {"tariffIds": ["NOPE", "T1"]})
    assert answer[2]["clearTariffsResult"] == [
        {"status": "Accepted", "tariffId": "T1"},
        {"status": "NoTariff", "tariffId": "NOPE"},
    ]


def _tariff(**extra: Any) -> tariffs.Tariff:
    return tariffs.parse({"tariffId": "T", "currency": "EUR", **extra})


VAT = [{"type": "VAT", "tax": 21}]


def test_a_min_cost_given_incl_tax_bounds_the_total_incl_tax() -> None:
    """minCost given only inclTax bounds the total including tax (PriceType: either side
    may be absent), not the one excluding it."""
    tariff = _tariff(
        energy={"prices": [{"priceKwh": 0.3}], "taxRates": VAT}, minCost={"inclTax": 1.0}
    )
    low = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage(energy_wh=1000))])
    assert low.type_of_cost == "MinCost"
    assert low.total == (0.83, 1.0)  # 1.00 incl. 21% VAT


def test_amounts_round_half_up_in_decimal() -> None:
    """0.50 with 21% VAT is 0.605 and rounds half up to 0.61 (binary round() gave 0.6)."""
    tariff = _tariff(fixedFee={"prices": [{"priceFixed": 0.5}], "taxRates": VAT})
    one = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage())])
    assert one.costs == (("fixed", 0.5, 0.61),)
    assert one.total == (0.5, 0.61)


def test_the_total_is_the_sum_of_the_rounded_elements() -> None:
    """Each element is rounded, and the total adds the rounded elements, so the costDetails
    a CSMS receives add up."""
    tariff = _tariff(
        fixedFee={"prices": [{"priceFixed": 0.005}]},
        energy={"prices": [{"priceKwh": 0.005}]},
    )
    one = tariffs.cost([tariffs.Segment(tariff, 0, tariffs.Usage(energy_wh=1000))])
    assert one.costs == (("fixed", 0.01, 0.01), ("energy", 0.01, 0.01))
    assert one.total == (0.02, 0.02)


def test_the_first_tariffs_minimum_holds_after_a_tariff_change() -> None:
    """After ChangeTransactionTariff the minimum cost of the tariff the transaction started
    with still holds: the running total never falls below it."""
    first = _tariff(energy={"prices": [{"priceKwh": 0.3}]}, minCost={"exclTax": 1.0})
    second = tariffs.parse(
        {"tariffId": "B", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.5}]}}
    )
    used = tariffs.Usage(energy_wh=500)
    both = tariffs.cost([tariffs.Segment(first, 0, used), tariffs.Segment(second, 60, used)])
    assert (both.type_of_cost, both.total) == ("MinCost", (1.0, 1.0))


def test_total_usage_charging_time_is_the_whole_session() -> None:
    """totalUsage.chargingTime is the session's whole duration, charging and not charging
    (TotalUsageType); the ChargingTime dimension and its price count charging only."""
    tariff = _tariff(chargingTime={"prices": [{"priceMinute": 0.6}]})
    usage = tariffs.Usage(energy_wh=100, charging_s=60, idle_s=30)
    details = cost_details(tariffs.cost([tariffs.Segment(tariff, 0, usage)]))
    assert details["totalUsage"] == {"energy": 100, "chargingTime": 90, "idleTime": 30}
    dimensions = {d["type"]: d["volume"] for d in details["chargingPeriods"][0]["dimensions"]}
    assert dimensions["ChargingTime"] == 60
    assert details["totalCost"]["chargingTime"] == {"exclTax": 0.6, "inclTax": 0.6}


def test_an_accepted_tariff_change_sends_an_updated_event_at_once() -> None:
    """An accepted ChangeTransactionTariff is followed at once by an Updated event with
    triggerReason TariffChanged, the new tariffId and the cost so far; a refused one sends
    none."""
    bench = booted("2.1")
    bench.server_call("SetDefaultTariff", {"evseId": 0, "tariff": T1})
    remote_start(bench)
    bench.run(40)
    tx = events(bench, "Started")[0]["transactionInfo"]["transactionId"]
    before = len(events(bench, "Updated"))
    night = {**T1, "tariffId": "NIGHT", "energy": {"prices": [{"priceKwh": 0.1}]}}
    dollars = {**night, "tariffId": "USD", "currency": "USD"}
    ask = bench.server_call
    assert status_of(ask("ChangeTransactionTariff", {"transactionId": tx, "tariff": dollars})) == (
        "NoCurrencyChange"
    )
    bench.run(1)
    assert len(events(bench, "Updated")) == before
    assert status_of(ask("ChangeTransactionTariff", {"transactionId": tx, "tariff": night})) == (
        "Accepted"
    )
    bench.run(1)
    changed = events(bench, "Updated")[before]
    assert changed["triggerReason"] == "TariffChanged"
    assert changed["transactionInfo"]["tariffId"] == "NIGHT"
    periods = changed["costDetails"]["chargingPeriods"]
    assert [p["tariffId"] for p in periods] == ["T1", "NIGHT"]
    bench.run(30)
    assert events(bench, "Updated")[-1]["triggerReason"] == "MeterValuePeriodic"
    assert bench.failures() == []
