"""OCPP 2.1 local cost calculation: tariffs announced ahead of time, and cost totals as a
CSMS checks them (bounds on either side of the tax, decimal rounding, totals that add
up). Station frames are validated against the 2.1 schemas by the bench
(tests/unit/sim_csms.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.ocpp.dialect import iso
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
