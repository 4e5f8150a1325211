"""Chargers that reject a share of the server's remote starts (every tenth here).

    loadgen run examples/operator.yaml --locustfile examples/reject_remote_starts.py

The gateway's operator script sends RemoteStartTransaction (2.0.1:
RequestStartTransaction) to every charger; the others are answered as the charger
would (and start a session). ``server RemoteStartTransaction`` counts them all; the
gateway's log counts the answers by status.
"""

from __future__ import annotations

import itertools
from typing import Any

from loadgen import ChargePointUser, Charger, on_call
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

REJECT_EVERY = 10  # a share of 10%, spread evenly
_starts = itertools.count(1)


class PickyChargers(ChargePointUser):
    @on_call("RemoteStartTransaction")
    @on_call("RequestStartTransaction")
    def remote_start(self, cp: Charger, payload: dict[str, Any]) -> dict[str, Any] | None:
        if next(_starts) % REJECT_EVERY == 0:
            return {"status": "Rejected"}
        return None  # the charger's own answer
