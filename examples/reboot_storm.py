"""A reboot storm: the gateway's operator resets the whole fleet at once, and each
charger measures how long the back end takes from its Reset to its accepted boot.

    loadgen run examples/operator.yaml --locustfile examples/reboot_storm.py

Each charger reports ``storm reset to boot`` (the reset's reboot wait, the reconnect and
the BootNotification's answer) beside ``OCPP BootNotification``.
"""

from __future__ import annotations

import time
from typing import Any

from loadgen import ChargePointUser, Charger, on_call, on_event
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)


class StormChargers(ChargePointUser):
    reset_at: float | None = None

    @on_call("Reset")
    def reset(self, cp: Charger, payload: dict[str, Any]) -> dict[str, Any] | None:
        self.reset_at = time.perf_counter()
        return None  # the charger's own answer: Accepted, then it reboots

    @on_event("booted")
    def booted_again(self, cp: Charger, connector: int, detail: str) -> None:
        if self.reset_at is None:
            return  # the first boot
        elapsed_ms = (time.perf_counter() - self.reset_at) * 1000
        self.reset_at = None
        self.environment.events.request.fire(
            request_type="storm",
            name="reset to boot",
            response_time=elapsed_ms,
            response_length=0,
            exception=None,
            context={},
        )
