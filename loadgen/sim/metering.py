"""The EV on a connector: a battery charged on a coherent curve, for a charging fleet.

An :class:`Ev` is made when a transaction starts on a charger whose fleet has
``fleet.sessions`` (and dropped when it ends): its battery's capacity, its state of
charge and the most power it accepts are drawn from the sessions' ranges. It charges at
constant power (the lowest of the EV's maximum, the connector's and the charging
profiles' limit) until its state of charge reaches the taper point, then the power
falls in proportion to what is left to fill, so the state of charge approaches 100%
and never falls; at 99.9% the EV stops drawing (SuspendedEV). :meth:`Ev.advance`
integrates that curve exactly over any span (linear, then exponential), so a sample
every 5 minutes or every second shows the same energy.

A bidirectional EV (``v2x``, OCPP 2.1; ``fleet.sessions.v2x_share`` of them) discharges
when the limit is negative (a discharging setpoint) and the CSMS allowed it (``bpt``):
at the setpoint, at most its maximum power (the connector's limit already holds the
charger's rating, either way), down to :data:`V2X_MIN_SOC_PERCENT`; its
state of charge falls and its export register (``export_wh``) rises.
"""

from __future__ import annotations

import math
import random

from loadgen.config import Arrivals

#: Below this the EV takes nothing (a limit of 0).
_TRICKLE_W = 1.0
#: The state of charge at which the EV's battery management ends charging (the taper
#: only approaches 100% asymptotically).
FULL_PERCENT = 99.9
#: A discharging EV keeps this much charge for its driver.
V2X_MIN_SOC_PERCENT = 20.0


class Ev:
    """One EV's battery during one session (see the module docstring)."""

    __slots__ = (
        "battery_wh",
        "bpt",
        "export_wh",
        "max_power_w",
        "register_wh",
        "soc",
        "taper",
        "v2x",
    )

    def __init__(self, battery_wh: float, soc: float, max_power_w: float, taper: float) -> None:
        self.battery_wh = battery_wh
        self.soc = soc  # percent, falling only while discharging
        self.max_power_w = max_power_w  # what the EV accepts (and gives back) at most
        self.taper = min(max(taper, 0.0), 99.0)  # percent where the power starts to fall
        self.register_wh = 0.0  # the connector's register, with the fraction kept
        self.v2x = False  # can discharge (OCPP 2.1 bidirectional power transfer)
        self.bpt = False  # the CSMS allowed it to discharge in this session
        self.export_wh = 0.0  # the connector's export register, with the fraction kept

    @classmethod
    def arriving(cls, arrivals: Arrivals, rng: random.Random, register_wh: int) -> Ev:
        """An EV drawn from ``arrivals``' ranges, plugged into a register at ``register_wh``."""
        ev = cls(
            rng.uniform(*arrivals.battery_wh),
            rng.uniform(*arrivals.soc_start_percent),
            rng.uniform(*arrivals.ev_max_power_w),
            arrivals.taper_from_percent,
        )
        ev.register_wh = float(register_wh)
        if arrivals.v2x_share > 0:
            ev.v2x = rng.random() < arrivals.v2x_share
        return ev

    def power_w(self, limit_w: float) -> float:
        """The power the EV draws now under ``limit_w`` (already capped by the connector);
        negative while it discharges (a negative limit: a discharging setpoint)."""
        if limit_w < 0:
            if not self.bpt or self.soc <= V2X_MIN_SOC_PERCENT:
                return 0.0
            return -min(-limit_w, self.max_power_w)
        cap = min(limit_w, self.max_power_w)
        if cap <= _TRICKLE_W or self.soc >= FULL_PERCENT:
            return 0.0
        curve = self.max_power_w * (100.0 - self.soc) / (100.0 - self.taper)
        return min(cap, curve)

    def advance(self, limit_w: float, seconds: float) -> None:
        """Charge for ``seconds`` under ``limit_w``: the state of charge and the register rise."""
        if seconds <= 0 or self.battery_wh <= 0:
            return
        if limit_w < 0:
            self._discharge(self.power_w(limit_w), seconds)
            return
        cap = min(limit_w, self.max_power_w)
        if cap <= _TRICKLE_W or self.soc >= FULL_PERCENT:
            return
        per_wh = 100.0 / self.battery_wh  # percent per Wh
        soc = self.soc
        # where the falling curve meets the cap: constant power below, tapering above
        cross = 100.0 - cap * (100.0 - self.taper) / self.max_power_w
        if soc < cross:
            rate = cap * per_wh / 3600.0  # percent per second
            to_cross = (cross - soc) / rate
            if seconds <= to_cross:
                self._rise(soc + rate * seconds)
                return
            soc = cross
            seconds -= to_cross
        k = self.max_power_w * per_wh / ((100.0 - self.taper) * 3600.0)
        self._rise(100.0 - (100.0 - soc) * math.exp(-k * seconds))

    def _discharge(self, power_w: float, seconds: float) -> None:
        """Give back ``-power_w`` for ``seconds``, stopping at the minimum state of charge."""
        if power_w >= 0:
            return
        available_wh = (self.soc - V2X_MIN_SOC_PERCENT) * self.battery_wh / 100.0
        energy_wh = min(-power_w * seconds / 3600.0, max(available_wh, 0.0))
        self.soc -= energy_wh * 100.0 / self.battery_wh
        self.export_wh += energy_wh

    def _rise(self, soc: float) -> None:
        soc = min(soc, FULL_PERCENT)
        if soc > self.soc:
            self.register_wh += (soc - self.soc) * self.battery_wh / 100.0
            self.soc = soc
