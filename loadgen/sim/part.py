"""The base of the Station's parts (Sessions, Commands, Services ...), which are mixins.

It declares, once and for mypy only, the Station attributes that every part reads;
each part still declares the others it uses. At run time it is an empty class with no
``__dict__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loadgen.ocpp import Dialect
    from loadgen.sim.actions import Counters
    from loadgen.sim.connectors import Connector
    from loadgen.sim.extras import Extras
    from loadgen.sim.fleet import Fleet


class StationPart:
    """What every part of :class:`~loadgen.sim.station.Station` sees of it."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:
        connectors: list[Connector]
        counters: Counters
        dialect: Dialect
        ext: Extras | None
        fleet: Fleet
        now_s: float
        wall_offset_s: float
