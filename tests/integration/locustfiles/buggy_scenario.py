"""A locustfile whose session scenario raises on one charger (the first to run it):
its error is reported once, and every charger, that one too, goes on."""

from __future__ import annotations

from loadgen import ChargePointUser, Charger, scenario
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

BROKEN: list[str] = []  # the charger whose scenario raises, in this process


class BuggyChargers(ChargePointUser):
    @scenario()
    def session(self, cp: Charger) -> None:
        if not BROKEN:
            BROKEN.append(cp.charge_point_id)
        if cp.charge_point_id in BROKEN:
            raise RuntimeError(f"a bug in the scenario of {cp.charge_point_id}")
        self.charging_session(cp)
