"""Drivers who plug in, then start the session from an app: each EV waits, Preparing,
until the back end's remote start authorizes it ("cable plugin first": 2.0.1 F02,
OCPP 1.6 5.11).

    loadgen run examples/app_start.yaml --locustfile examples/app_start.py

The gateway's operator script sends RemoteStartTransaction (2.0.1:
RequestStartTransaction) to every charger once its EV is plugged in; the charger starts
the transaction there with the operator's tag. Each charger reports ``app plug-in to
start`` (from plugging in to its transaction's start) beside the OCPP rows; an EV that
nobody starts within WAIT_S is unplugged again.
"""

from __future__ import annotations

import time
from typing import Any

import gevent.event

from loadgen import ChargePointUser, Charger, on_event, scenario
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

WAIT_S = 60.0  # how long a driver waits for the app's start before leaving


class AppStartChargers(ChargePointUser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = gevent.event.Event()  # set when a transaction starts here

    @scenario()
    def app_session(self, cp: Charger) -> None:
        self.started.clear()
        cp.plug_in()
        plugged_at = time.perf_counter()
        if not self.started.wait(timeout=WAIT_S):
            cp.unplug()  # nobody started it
            return
        self.environment.events.request.fire(
            request_type="app",
            name="plug-in to start",
            response_time=(time.perf_counter() - plugged_at) * 1000,
            response_length=0,
            exception=None,
            context={},
        )
        if cp.wait_for_stop() is None:  # the EV has stayed its time: the driver stops
            cp.stop()
        cp.unplug()

    @on_event("transaction_started")
    def transaction_started(self, cp: Charger, connector: int, detail: str) -> None:
        self.started.set()
