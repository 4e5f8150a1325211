"""Bidirectional charging (OCPP 2.1 V2X): EVs that give energy back when the CSMS asks.

The part of :class:`~loadgen.sim.station.Station` for a session of a bidirectional EV
(``fleet.sessions.v2x_share`` of the EVs). After its transaction starts, the station
tells the CSMS what the EV can do, NotifyEVChargingNeeds with a BPT energy transfer
(Q01); an answer other than Rejected allows it to discharge, a Rejected one leaves it a
charging-only session (the EV renegotiates to plain charging, as Q01 allows), and
NotifyAllowedEnergyTransfer changes that later (Q02). The EV discharges while the
charging profile in force asks for a negative setpoint (operationMode CentralSetpoint,
Q03, through SetChargingProfile as any limit): its power is negative, bounded by the
EV's and the charger's maximum, the
connector's export register rises (Energy.Active.Export.Register) while the import one
stands still, and the fleet counts the energy exported. The battery side is
:class:`~loadgen.sim.metering.Ev`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loadgen.ocpp.dialect import Payload
from loadgen.ocpp.fields import get_field
from loadgen.ocpp.v21 import BPT_MODES
from loadgen.sim.connectors import Outgoing
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from loadgen.sim.connectors import Connector
    from loadgen.sim.metering import Ev

_NEEDS_STATUSES = ("Accepted", "Rejected", "Processing", "NoChargingProfile")


class Bidirectional(StationPart):
    """V2X sessions (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)

        def _meter(self, connector: Connector, now: float) -> None: ...
        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...

    def _v2x_started(self, connector: Connector, now: float) -> None:
        """A transaction began with an EV: a bidirectional one says what it needs (2.1)."""
        ev = self._ev(connector)
        if ev is None or not ev.v2x:
            return
        fleet = self.fleet
        request = self.dialect.charging_needs(
            connector.id,
            fleet.grid.phases,
            min(ev.max_power_w, fleet.max_power_w),  # what EV and EVSE both can, either way
            ev.battery_wh,
            ev.soc,
        )
        if request is None:
            ev.v2x = False  # before 2.1: a plain charging session (no export register)
            return
        self.counters.v2x_sessions += 1
        self._queue(Outgoing(*request, "needs", connector))

    def _needs_answered(self, connector: Connector, payload: Payload) -> None:
        """NotifyEVChargingNeeds answered: Rejected keeps the EV from discharging."""
        status = get_field(payload, "status", str, choices=_NEEDS_STATUSES)
        ev = self._ev(connector)
        if ev is not None and connector.tx is not None:
            ev.bpt = ev.v2x and status != "Rejected"

    def allow_energy_transfer(self, transaction_id: str, modes: Sequence[str]) -> str:
        """NotifyAllowedEnergyTransfer: the EV of that transaction may discharge from now
        on if a bidirectional mode is among ``modes`` (and it can), else not."""
        for connector in self.connectors:
            tx = connector.tx
            if tx is None or tx.local_id != transaction_id:
                continue
            ev = self._ev(connector)
            if ev is not None:
                self._meter(connector, self.now_s)  # up to now under the old allowance
                ev.bpt = ev.v2x and any(mode in BPT_MODES for mode in modes)
            return "Accepted"
        return "Rejected"

    def _export_metered(self, connector: Connector, ev: Ev) -> None:
        """Keep the connector's export register and the fleet's exported energy."""
        ext = self.ext
        assert ext is not None
        register = int(ev.export_wh)
        before = ext.export_wh.get(connector.id, 0)
        if register > before:
            ext.export_wh[connector.id] = register
            self.counters.energy_exported_wh += register - before

    def _ev(self, connector: Connector) -> Ev | None:
        ext = self.ext
        return None if ext is None else ext.evs.get(connector.id)
