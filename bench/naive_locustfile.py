"""The naive baseline ``make bench`` compares loadgen with: Locust's plain way.

One ``websocket.create_connection`` per user with default options; in ``on_start`` the
boot a 1.6 charger makes (BootNotification, then StatusNotification for connector 0 and
connector 1, OCPP 1.6 errata 3.22), each answered before the next; then one task that
sends a Heartbeat and waits for its answer every ``BENCH_HEARTBEAT_S`` seconds, the
first one interval after the boot. That is what loadgen's charge points do, so both
benchmarks compare the same work. Each exchange is fired as a request event, as a Locust
user would do it. Run it with ``--host ws://HOST:PORT/ocpp``.
"""

from __future__ import annotations

import itertools
import json
import os
import time

import gevent
import websocket
from locust import User, constant, task

HEARTBEAT_S = float(os.environ.get("BENCH_HEARTBEAT_S", "60"))
_ids = itertools.count(1)


class NaiveChargePoint(User):
    """A charge point the way a first Locust script writes it."""

    wait_time = constant(HEARTBEAT_S)

    def on_start(self) -> None:
        self.charge_point_id = f"NAIVE-{os.getpid()}-{next(_ids):06d}"
        self.message_id = itertools.count(1)
        started = time.perf_counter()
        self.ws = websocket.create_connection(
            f"{self.host}/{self.charge_point_id}", subprotocols=["ocpp1.6"]
        )
        self._fire("WS", "connect", started, 0)
        boot = {"chargePointVendor": "loadgen", "chargePointModel": "Naive"}
        self._call("BootNotification", boot)
        for connector_id in (0, 1):  # the Charge Point, then its connector (errata 3.22)
            status = {"connectorId": connector_id, "errorCode": "NoError", "status": "Available"}
            self._call("StatusNotification", status)
        gevent.sleep(HEARTBEAT_S)  # a Heartbeat after an interval, as loadgen's

    @task
    def heartbeat(self) -> None:
        self._call("Heartbeat", {})

    def on_stop(self) -> None:
        self.ws.close()

    def _call(self, action: str, payload: dict) -> None:
        started = time.perf_counter()
        self.ws.send(json.dumps([2, str(next(self.message_id)), action, payload]))
        answer = self.ws.recv()
        self._fire("OCPP", action, started, len(answer))

    def _fire(self, kind: str, name: str, started: float, length: int) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=None,
            context={},
        )
