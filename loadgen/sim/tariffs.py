"""Local cost calculation (OCPP 2.1): default tariffs, and the cost of each transaction.

The part of :class:`~loadgen.sim.station.Station` behind SetDefaultTariff, GetTariffs,
ClearTariffs and ChangeTransactionTariff. A transaction that starts where a default
tariff applies (the EVSE's own, else EVSE 0's, once its validFrom has come) is priced
from then on: at each of its TransactionEvents the station brings the usage up to now
(energy imported, and the time energy flowed or not: charging and idle time) and the
event carries the running cost (``costDetails``, the Ended event's is the final one) and
``tariffId``. ChangeTransactionTariff closes the segment priced so far and prices the
rest at the new tariff. The pricing rules are :mod:`loadgen.ocpp.tariffs`'.
A station that never got a tariff pays nothing for this: the state lives on its
:class:`~loadgen.sim.extras.Extras`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from loadgen.ocpp import tariffs
from loadgen.ocpp.dialect import Payload
from loadgen.ocpp.tariffs import Segment, Tariff, Usage
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from loadgen.sim.connectors import Connector
    from loadgen.sim.extras import Extras


class TxCost:
    """What one transaction used so far, segment by segment (one per tariff)."""

    __slots__ = (
        "changed",
        "closed",
        "last_at",
        "last_export_wh",
        "last_wh",
        "start_at",
        "tariff",
        "usage",
    )

    def __init__(self, tariff: Tariff, start_at: float, now: float, wh: int, export_wh: int):
        self.closed: list[Segment] = []  # segments of earlier tariffs
        self.tariff = tariff  # the tariff in force
        self.start_at = start_at  # when it came into force (epoch s)
        self.usage = Usage()  # what was used since then
        self.last_at = now  # when the usage was last brought up to date (events' clock)
        self.last_wh = wh  # the import register then
        self.last_export_wh = export_wh  # and the export register
        self.changed = False  # the tariff changed; the next event says so (TariffChanged)

    def advance(self, now: float, wh: int, export_wh: int) -> None:
        """Bring the usage up to ``now``: time with energy flowing (either way) is charging
        time, time without is idle time; only imported energy is priced."""
        seconds = max(now - self.last_at, 0.0)
        imported = max(wh - self.last_wh, 0)
        flowing = imported > 0 or export_wh > self.last_export_wh
        used = self.usage
        self.usage = Usage(
            used.energy_wh + imported,
            used.charging_s + (seconds if flowing else 0.0),
            used.idle_s + (0.0 if flowing else seconds),
        )
        self.last_at, self.last_wh, self.last_export_wh = now, wh, export_wh

    def segments(self) -> list[Segment]:
        return [*self.closed, Segment(self.tariff, self.start_at, self.usage)]


class Tariffs(StationPart):
    """Default tariffs and transaction costs (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)

        def _extras(self) -> Extras: ...
        def _connector(self, connector_id: int) -> Connector | None: ...
        def _meter(self, connector: Connector, now: float) -> None: ...
        def _meter_sample(self, connector: Connector, now: float) -> None: ...
        def _v2x_started(self, connector: Connector, now: float) -> None: ...

    # -- the server's calls -------------------------------------------------------------

    def set_default_tariff(self, evse_id: int, tariff: Tariff) -> str:
        """Install a default tariff of EVSE ``evse_id`` (0: every EVSE). It is in force from
        its validFrom (none: from now) until a later one's validFrom: one announced for
        later leaves the one in force now as it is. It replaces a tariff of the same id at
        that EVSE; a tariffId another EVSE's different tariff has is DuplicateTariffId."""
        if evse_id and self._connector(evse_id) is None:
            return "Rejected"
        ext = self._extras()
        for where, entries in ext.tariffs.items():
            for _, other in entries:
                if where != evse_id and other.tariff_id == tariff.tariff_id and other != tariff:
                    return "DuplicateTariffId"
        wall = self.now_s + self.wall_offset_s
        entries = [e for e in ext.tariffs.get(evse_id, ()) if e[1].tariff_id != tariff.tariff_id]
        entries.append((wall if tariff.valid_from is None else tariff.valid_from, tariff))
        entries.sort(key=lambda entry: entry[0])  # stable: of two equal, the later set wins
        ext.tariffs[evse_id] = entries
        _drop_superseded(entries, wall)
        self.counters.tariffs_set += 1
        return "Accepted"

    def tariffs(self, evse_id: int) -> list[tuple[Tariff, list[int]]]:
        """The default tariffs that apply at ``evse_id`` (0: all of them), the one in force
        and those announced for later, with their EVSEs (none for EVSE 0's, which applies
        everywhere)."""
        ext = self.ext
        if ext is None:
            return []
        wall = self.now_s + self.wall_offset_s
        found: list[tuple[Tariff, list[int]]] = []
        for where, entries in sorted(ext.tariffs.items()):
            if evse_id and where not in (0, evse_id):
                continue
            _drop_superseded(entries, wall)
            found.extend((tariff, [where] if where else []) for _, tariff in entries)
        return found

    def clear_tariffs(
        self, tariff_ids: Sequence[str] | None, evse_id: int | None
    ) -> list[tuple[str | None, str]]:
        """Remove the default tariffs named (all when None), of ``evse_id`` when given: a
        result per tariff removed, and NoTariff for each id named that was not there."""
        ext = self.ext
        gone: list[tuple[str | None, str]] = []
        if ext is not None:
            for where, entries in list(ext.tariffs.items()):
                if evse_id is not None and where != evse_id:
                    continue
                kept = []
                for entry in entries:
                    if tariff_ids is None or entry[1].tariff_id in tariff_ids:
                        gone.append((entry[1].tariff_id, "Accepted"))
                    else:
                        kept.append(entry)
                if kept:
                    ext.tariffs[where] = kept
                else:
                    del ext.tariffs[where]
        if tariff_ids is not None:
            cleared = {tariff_id for tariff_id, _ in gone}
            gone.extend((t, "NoTariff") for t in dict.fromkeys(tariff_ids) if t not in cleared)
        return gone or [(None, "NoTariff")]

    def change_transaction_tariff(self, transaction_id: str, tariff: Tariff) -> str:
        """Price the rest of a running transaction at ``tariff``: TxNotFound, or
        NoCurrencyChange when its currency is not the one the transaction is priced in.
        Accepted, an Updated event (triggerReason TariffChanged) tells the new tariffId
        and the cost so far at once, not at the next periodic sample."""
        connector = next(
            (c for c in self.connectors if c.tx is not None and c.tx.local_id == transaction_id),
            None,
        )
        if connector is None:
            return "TxNotFound"
        ext = self._extras()
        now = self.now_s
        wall = now + self.wall_offset_s
        self._meter(connector, now)
        cost = ext.costs.get(connector.id)
        if cost is None:
            cost = ext.costs[connector.id] = TxCost(
                tariff, wall, now, connector.meter_wh, ext.export_wh.get(connector.id, 0)
            )
        elif cost.tariff.currency != tariff.currency:
            return "NoCurrencyChange"
        else:
            cost.advance(now, connector.meter_wh, ext.export_wh.get(connector.id, 0))
            cost.closed.append(Segment(cost.tariff, cost.start_at, cost.usage))
            cost.tariff, cost.start_at, cost.usage = tariff, wall, Usage()
        cost.changed = True
        self._meter_sample(connector, now)
        return "Accepted"

    # -- transactions -------------------------------------------------------------------

    def _tx_extra(self, connector: Connector, payload: Payload, now: float, stage: str) -> None:
        """A TransactionEvent of ``connector``'s transaction was just queued (``stage``:
        start, meter, changed (a charging state or rate) or end): price it (2.1) and start
        what a V2X session does."""
        ext = self.ext
        if ext is None:
            return
        if stage == "start":
            ext.costs.pop(connector.id, None)
            tariff = self._tariff_at(ext, connector.id, now + self.wall_offset_s)
            if tariff is not None:
                ext.costs[connector.id] = TxCost(
                    tariff,
                    now + self.wall_offset_s,
                    now,
                    connector.meter_wh,
                    ext.export_wh.get(connector.id, 0),
                )
            if connector.id in ext.evs:
                self._v2x_started(connector, now)
        cost = ext.costs.get(connector.id)
        if cost is None:
            return
        if stage == "end":
            del ext.costs[connector.id]
        elif stage == "meter" and cost.changed:
            cost.changed = False
            payload["triggerReason"] = "TariffChanged"
        cost.advance(now, connector.meter_wh, ext.export_wh.get(connector.id, 0))
        details = tariffs.cost(cost.segments())
        self.dialect.tx_details(payload, details, cost.tariff.tariff_id)

    @staticmethod
    def _tariff_at(ext: Extras, connector_id: int, wall: float) -> Tariff | None:
        """The default tariff in force at the EVSE at ``wall``: its own, else EVSE 0's; of
        each, the one that came into force last."""
        for where in (connector_id, 0):
            in_force = [tariff for since, tariff in ext.tariffs.get(where, ()) if since <= wall]
            if in_force:
                return in_force[-1]
        return None


def _drop_superseded(entries: list[tuple[float, Tariff]], wall: float) -> None:
    """Forget the tariffs a later one already in force at ``wall`` replaced."""
    in_force = [index for index, (since, _) in enumerate(entries) if since <= wall]
    if len(in_force) > 1:
        del entries[: in_force[-1]]
