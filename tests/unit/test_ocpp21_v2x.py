"""OCPP 2.1 bidirectional sessions: registers that never fall from one session to the
next, and a discharge bounded by the charger's own rating. Every frame is validated
against the 2.1 schemas by the bench (tests/unit/sim_csms.py)."""

from __future__ import annotations

import pytest

from tests.unit.sim_csms import remote_start, remote_stop, tx_id
from tests.unit.test_station_v21 import (
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
