"""Smart charging: the station's charging profiles, the limit they set, what it reports.

The part of :class:`~loadgen.sim.station.Station` behind SetChargingProfile,
ClearChargingProfile, GetCompositeSchedule and (2.0.1) GetChargingProfiles. The rules of
stacking are :mod:`loadgen.ocpp.profiles`'; here the station checks a profile against
what it has (K01: a TxProfile needs the transaction, K01.FR.09/33; stack levels, periods
and rate units within its settings), installs it, and meters each charging connector
under the limit from then on: before a profile is added or cleared, every running
session's energy is brought up to now at the old limit, so the new one counts from its
own start, and each charging connector's state follows the new limit at once
(SuspendedEVSE at 0, Charging again above it: 1.6 errata 3.19). So does it when the
limit changes by itself: a transaction under a profile wakes the station when its limit
may next change (a period's start, a schedule's end, validFrom / validTo, a recurrence,
a startSchedule: K01.FR.12/30/36/37), and the state is checked again then, as if a
profile had been set. A connector shares the station's maximum with the others that
charge; when a transaction begins or ends the others are checked again at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from loadgen.ocpp import profiles
from loadgen.ocpp.dialect import Composite, Payload, iso
from loadgen.ocpp.profiles import ChargingProfile, Period, Schedule
from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from loadgen.sim.extras import Extras

#: The transaction id a stored TxProfile carries: the one on its connector now (TxProfiles
#: go when their transaction ends, so a stored one always belongs to the current one).
CURRENT_TX = "*"
#: The id of the limit an energy manager sets (K12.FR.05: negative ids).
EXTERNAL_ID = -1
_UNITS_16 = {"A": "Current", "W": "Power"}
#: How far past ``now`` a limit change is awaited when rounding puts it at ``now``.
_ROUNDED_S = 1e-3


class SmartCharging(StationPart):
    """Charging profiles (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)

        def _extras(self) -> Extras: ...
        def _flag(self, name: str) -> bool: ...
        def _int_setting(self, name: str, default: int) -> int: ...
        def _connector(self, connector_id: int) -> Connector | None: ...
        def _meter(self, connector: Connector, now: float) -> None: ...
        def _recheck_all_charging(self, now: float) -> None: ...
        def _update_due(self) -> None: ...
        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def read_setting(self, name: str) -> str | None: ...

    # -- the limit ------------------------------------------------------------------------

    def _limit_w(self, connector: Connector, now: float) -> tuple[float, float | None]:
        """(the watts connector may draw now, when that next changes on the events' clock)."""
        fleet = self.fleet
        hardware = fleet.max_power_w
        ext = self.ext
        if ext is None or not ext.profiles:
            return hardware, None
        offset = self.wall_offset_s
        tx = connector.tx
        charging = sum(1 for c in self.connectors if c.tx is not None) or 1
        limit, change = profiles.limit_at(
            ext.profiles,
            connector.id,
            now + offset,
            transaction_id=CURRENT_TX if tx is not None else None,
            tx_started_at=None if tx is None else tx.started_at + offset,
            grid=fleet.grid,
            station_share=1.0 / charging,
        )
        # the charger's rating bounds a discharge (a negative limit) as it does a charge
        value = hardware if limit is None else max(min(limit, hardware), -hardware)
        return value, None if change is None else change - offset

    def _arm_limit_change(self, connector: Connector, now: float) -> None:
        """Wake when the limit on the connector's transaction may next change by itself
        (see the module docstring); no timer without a profile or a transaction."""
        ext = self.ext
        at = None
        if ext is not None and ext.profiles and connector.tx is not None:
            _, at = self._limit_w(connector, now)
            if at is not None and at <= now:  # the wall clock's rounding: just after
                at = now + _ROUNDED_S
        if at != connector.limit_change_at:
            connector.limit_change_at = at
            self._update_due()

    def _meter_all(self, now: float) -> None:
        """Bring every running session's energy up to now (before the limit changes)."""
        for connector in self.connectors:
            if connector.tx is not None:
                self._meter(connector, now)

    # -- SetChargingProfile ---------------------------------------------------------------

    def set_charging_profile(self, profile: ChargingProfile) -> str:
        """Check and install a profile (see the module docstring); Accepted or Rejected."""
        if self.dialect.version != "1.6" and not self._flag("smart_charging_enabled"):
            return "Rejected"
        connector_id = profile.connector_id
        if connector_id != 0 and self._connector(connector_id) is None:
            return "Rejected"  # K01.FR.28
        if profile.purpose == profiles.EXTERNAL:
            return "Rejected"  # K01.FR.22: only an external system sets these
        if not self._unit_allowed(profile.schedule.unit):
            return "Rejected"  # K01.FR.26
        problem = profiles.problem(
            profile,
            self._int_setting("charge_profile_max_stack_level", 8),
            self._int_setting("charging_schedule_max_periods", 24),
        )
        if problem is not None:
            return "Rejected"
        v2 = self.dialect.version != "1.6"
        if v2 and profile.kind == "Relative" and profile.schedule.start_at is not None:
            return "Rejected"  # K01.FR.41: a relative schedule has no start
        if profile.purpose == profiles.TX:
            connector = self._connector(connector_id)
            tx = None if connector is None else connector.tx
            if tx is None:
                return "Rejected"  # K01.FR.09; 1.6 3.13.3
            wanted = profile.transaction_id
            if wanted is None and v2:
                return "Rejected"  # K01.FR.03: a TxProfile names its transaction
            if wanted is not None and wanted not in (str(tx.server_id), tx.local_id):
                return "Rejected"  # K01.FR.33
            profile = replace(profile, transaction_id=CURRENT_TX)
        ext = self._extras()
        if self._conflicts(ext.profiles, profile):
            return "Rejected"
        if v2 and any(_same_slot(p, profile) for p in ext.profiles):
            return "Rejected"  # K01.FR.39 (a TxProfile), K01.FR.06 (the others)
        kept = [p for p in ext.profiles if not _replaced_by(p, profile, v2)]
        if len(kept) >= self._int_setting("max_charging_profiles_installed", 16):
            return "Rejected"
        self._meter_all(self.now_s)
        kept.append(profile)
        ext.profiles = kept
        self.counters.profiles_set += 1
        self._recheck_all_charging(self.now_s)
        return "Accepted"

    def _unit_allowed(self, unit: str) -> bool:
        if self.dialect.version == "1.6":
            allowed = self.read_setting("charging_rate_units_16") or ""
            return _UNITS_16[unit] in allowed.split(",")
        return unit in (self.read_setting("charging_rate_units_201") or "").split(",")

    def _conflicts(self, installed: list[ChargingProfile], profile: ChargingProfile) -> bool:
        """2.0.1 K01.FR.52/53: a TxDefaultProfile of this stack level on EVSE 0 and on a
        specific EVSE at once (with another id)."""
        if self.dialect.version == "1.6" or profile.purpose != profiles.TX_DEFAULT:
            return False
        for other in installed:
            if (
                other.purpose == profiles.TX_DEFAULT
                and other.stack_level == profile.stack_level
                and other.profile_id != profile.profile_id
                and (other.connector_id == 0) != (profile.connector_id == 0)
            ):
                return True
        return False

    def _install_tx_profile(self, connector: Connector, profile: ChargingProfile) -> None:
        """A remote start's TxProfile (1.6 5.11, F01.FR.08), for the session it starts;
        kept on the connector until its transaction starts when the start waits for an
        Authorize (AuthorizeRemoteTxRequests / AuthorizeRemoteStart)."""
        if profile.purpose != profiles.TX:
            return
        if connector.tx is None:
            connector.tx_profile = profile if connector.busy else None
            return
        profile = replace(profile, connector_id=connector.id, transaction_id=CURRENT_TX)
        if profiles.problem(profile, 99, 1024) is not None:
            return
        ext = self._extras()
        v2 = self.dialect.version != "1.6"
        ext.profiles = [p for p in ext.profiles if not _replaced_by(p, profile, v2)] + [profile]
        self.counters.profiles_set += 1
        self._recheck_all_charging(self.now_s)

    def _tx_profiles_ended(self, connector: Connector) -> None:
        """The connector's transaction ended: its TxProfiles go with it (1.6 3.13.3)."""
        ext = self.ext
        if ext is not None:
            ext.profiles = [
                p
                for p in ext.profiles
                if not (p.purpose == profiles.TX and p.connector_id == connector.id)
            ]

    # -- ClearChargingProfile -------------------------------------------------------------

    def clear_charging_profiles(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> str:
        """Clear by id, or every profile matching all the criteria given (K10)."""
        ext = self.ext
        if ext is None or not ext.profiles:
            return "Unknown"
        if profile_id is not None:
            gone = [p for p in ext.profiles if p.profile_id == profile_id]
        else:
            gone = [
                p
                for p in ext.profiles
                if (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            ]
        gone = [p for p in gone if p.purpose != profiles.EXTERNAL]  # K10.FR.08/09
        if not gone:
            return "Unknown"  # K10.FR.01
        self._meter_all(self.now_s)
        ext.profiles = [p for p in ext.profiles if p not in gone]
        self._recheck_all_charging(self.now_s)
        return "Accepted"

    # -- GetCompositeSchedule -------------------------------------------------------------

    def composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None
    ) -> Composite | None:
        """The limits from now for ``duration_s`` (K08); None (Rejected) for an unknown
        connector or a rate unit the station does not use (K08.FR.05/07)."""
        if connector_id != 0 and self._connector(connector_id) is None:
            return None
        if duration_s < 0 or (unit is not None and not self._unit_allowed(unit)):
            return None
        fleet = self.fleet
        grid = fleet.grid
        offset = self.wall_offset_s
        start = self.now_s + offset
        connector = self._connector(connector_id) if connector_id else None
        tx = None if connector is None else connector.tx
        hardware = fleet.max_power_w * (len(self.connectors) if connector_id == 0 else 1)
        ext = self.ext
        periods = profiles.composite(
            ext.profiles if ext is not None else (),
            connector_id,
            start,
            duration_s,
            transaction_id=CURRENT_TX if tx is not None else None,
            tx_started_at=None if tx is None else tx.started_at + offset,
            grid=grid,
            hardware_w=hardware,
        )
        unit = unit or "W"
        phases = None if grid.phases == 0 else grid.phases
        out: list[tuple[int, float, int | None]] = []
        for begin, watts in periods:
            if unit == "A":
                out.append((begin, grid.amperes(watts, phases), phases))
            else:
                out.append((begin, watts, None))
        return start, unit, out

    # -- GetChargingProfiles (2.0.1) ------------------------------------------------------

    def report_charging_profiles(
        self,
        request_id: int,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
        profile_ids: Sequence[int],
        sources: Sequence[str],
    ) -> str:
        """Queue a ReportChargingProfiles per EVSE and source of the matching profiles."""
        ext = self.ext
        found = [
            p
            for p in (ext.profiles if ext is not None else ())
            if (connector_id is None or p.connector_id == connector_id)  # K09.FR.04/05/06
            and (purpose is None or p.purpose == purpose)
            and (stack_level is None or p.stack_level == stack_level)
            and (not profile_ids or p.profile_id in profile_ids)
            and (not sources or p.source in sources)
        ]
        if not found:
            return "NoProfiles"
        groups: dict[tuple[str, int], list[Payload]] = {}
        for profile in found:
            groups.setdefault((profile.source, profile.connector_id), []).append(
                profile.payload if profile.payload is not None else _payload(profile)
            )
        last = len(groups) - 1
        for n, ((source, evse_id), payloads) in enumerate(groups.items()):
            request = self.dialect.charging_profiles_report(
                request_id,
                source,
                evse_id,
                payloads,
                n < last,  # K09.FR.02
            )
            if request is not None:
                self._queue(Outgoing(*request, "other"))
        return "Accepted"

    # -- an energy manager's limit (2.0.1 K12) --------------------------------------------

    def _install_external_limit(self, now: float) -> None:
        """The model's ``external_limit_w``: a ChargingStationExternalConstraints profile
        (source EMS, K12.FR.05) and, in 2.0.1, NotifyChargingLimit (K12.FR.02)."""
        model = self.fleet.model
        assert model is not None and model.external_limit_w is not None
        at = now + self.wall_offset_s
        schedule = Schedule("W", (Period(0, model.external_limit_w, None),), at, None, None, 1)
        profile = ChargingProfile(
            EXTERNAL_ID,
            0,
            profiles.EXTERNAL,
            "Absolute",
            None,
            None,
            None,
            None,
            schedule,
            source="EMS",
        )
        ext = self._extras()
        self._meter_all(now)
        ext.profiles = [p for p in ext.profiles if p.profile_id != EXTERNAL_ID] + [profile]
        self._recheck_all_charging(now)
        request = self.dialect.charging_limit(0, model.external_limit_w, at)
        if request is not None:
            self._queue(Outgoing(*request, "other"))


def _replaced_by(old: ChargingProfile, new: ChargingProfile, v2: bool) -> bool:
    """A new profile replaces one with its id (K01.FR.05) and, in 1.6, one of its
    purpose, stack level and connector (3.13.4; 2.x refuses that one: :func:`_same_slot`)."""
    if old.purpose == profiles.EXTERNAL:
        return False
    if old.profile_id == new.profile_id:
        return True
    return (
        not v2
        and old.purpose == new.purpose
        and old.stack_level == new.stack_level
        and old.connector_id == new.connector_id
    )


def _same_slot(old: ChargingProfile, new: ChargingProfile) -> bool:
    """2.x: another profile (another id) of the new one's purpose, stack level and EVSE
    whose validity overlaps it: K01.FR.39 for a TxProfile (the same transaction: the
    connector's current one), K01.FR.06 for the other purposes."""
    if old.profile_id == new.profile_id or old.purpose == profiles.EXTERNAL:
        return False
    if (old.purpose, old.stack_level, old.connector_id) != (
        new.purpose,
        new.stack_level,
        new.connector_id,
    ):
        return False
    if new.purpose == profiles.TX:
        return old.transaction_id == new.transaction_id
    old_from = -math.inf if old.valid_from is None else old.valid_from
    old_to = math.inf if old.valid_to is None else old.valid_to
    new_from = -math.inf if new.valid_from is None else new.valid_from
    new_to = math.inf if new.valid_to is None else new.valid_to
    return old_from < new_to and new_from < old_to


def _payload(profile: ChargingProfile) -> Payload:
    """A 2.0.1 ChargingProfileType for a profile the station made itself."""
    schedule = profile.schedule
    body: Payload = {
        "id": schedule.schedule_id or 1,
        "chargingRateUnit": schedule.unit,
        "chargingSchedulePeriod": [
            {"startPeriod": p.start_s, "limit": profiles.rounded(p.limit)} for p in schedule.periods
        ],
    }
    if schedule.start_at is not None:
        body["startSchedule"] = iso(schedule.start_at)
    return {
        "id": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose,
        "chargingProfileKind": profile.kind,
        "chargingSchedule": [body],
    }
