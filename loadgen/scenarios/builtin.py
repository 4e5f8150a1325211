"""loadgen's own scenarios, written with the public API alone (``from loadgen import``).

They are what a :class:`~loadgen.ChargePointUser` does unless a subclass says otherwise:

- :func:`charging_session`, when the fleet's arrivals bring a driver to a connector (the
  config's ``scenario.charging`` share of the chargers, ``fleet.sessions``' arrivals):
  plug in, Authorize, start, charge until the EV has stayed its time (the session's
  duration) or the transaction ends otherwise (the server stops it, a reset, a fault),
  stop, unplug;
- :func:`fault`, when the fleet's fault plan (``fleet.faults``) faults a connector:
  Faulted, then Available again after ``recover_s``.

An idle charger runs no scenario. The server's calls (remote start and stop, resets,
availability, reservations ...) are the charger's own answers, not scenarios.
``tests/unit/test_scenarios.py`` holds this module to public names.
"""

from __future__ import annotations

from typing import Any

from loadgen import CallFailed, Charger, StepRefused, scenario


@scenario(weight=1)
def charging_session(user: Any, cp: Charger) -> None:
    """A driver arrives: plug in, authorize, charge for the EV's stay, stop, unplug."""
    try:
        cp.plug_in()
    except StepRefused:  # the connector was taken meanwhile (a fault, made unavailable,
        return  # reserved for another tag): the driver leaves
    try:
        status = cp.authorize()
    except CallFailed:  # no answer, a CALLERROR, the connection lost: the driver leaves
        status = None
    if status != "Accepted":
        cp.unplug()
        return
    try:
        cp.start()
    except StepRefused:  # the session ended meanwhile (an unlock, the connection lost)
        cp.unplug()
        return
    if cp.wait_for_stop() is None:  # the EV has stayed its time: the driver stops
        cp.stop(reason="Local")
    cp.unplug()


@scenario(weight=1, when="fault")
def fault(user: Any, cp: Charger) -> None:
    """The connector faults (a session on it ends), then recovers after ``recover_s``."""
    cp.status("Faulted")
    cp.wait(cp.stay_s)
    if cp.connector_status() == "Faulted":  # else something else came first (a reboot)
        cp.status("Available")
