"""loadgen: a distributed load generator for OCPP charge-point back ends, on Locust.

The public API for charge point behaviour in Python (docs/scenarios.md)::

    from loadgen import ChargePointUser, scenario, on_call

    class MyChargers(ChargePointUser):
        @scenario(weight=3)
        def session(self, cp):
            cp.plug_in()
            ...

The names load on first use, so ``import loadgen.ocpp`` loads neither Locust nor gevent.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    "ChargePointUser": "loadgen.locust.user",
    "Charger": "loadgen.locust.scenarios",
    "CallFailed": "loadgen.locust.scenarios",
    "ChargerGone": "loadgen.locust.scenarios",
    "scenario": "loadgen.locust.scenarios",
    "on_call": "loadgen.locust.scenarios",
    "on_event": "loadgen.locust.scenarios",
    "EVENTS": "loadgen.locust.scenarios",
    "StepRefused": "loadgen.sim.steps",
}
__all__ = [
    "EVENTS",
    "CallFailed",
    "Charger",
    "ChargePointUser",
    "ChargerGone",
    "StepRefused",
    "on_call",
    "on_event",
    "scenario",
]

if TYPE_CHECKING:
    from loadgen.locust.scenarios import (
        EVENTS,
        CallFailed,
        Charger,
        ChargerGone,
        on_call,
        on_event,
        scenario,
    )
    from loadgen.locust.user import ChargePointUser
    from loadgen.sim.steps import StepRefused


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'loadgen' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
