"""A slow charger: it answers GetConfiguration (2.0.1: GetVariables) after 2 seconds.

    loadgen run examples/operator.yaml --locustfile examples/slow_answers.py

The handler blocks in a greenlet of its own while the charger goes on (heartbeats,
other answers); ``server GetConfiguration`` shows the delay as its response time.
"""

from __future__ import annotations

from typing import Any

from loadgen import ChargePointUser, Charger, on_call
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

DELAY_S = 2.0


class SlowChargers(ChargePointUser):
    @on_call("GetConfiguration")
    @on_call("GetVariables")
    def slowly(self, cp: Charger, payload: dict[str, Any]) -> dict[str, Any] | None:
        cp.wait(DELAY_S)
        return cp.default_answer()  # what the charger would have said at once
