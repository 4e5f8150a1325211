"""Network connection profiles: which CSMS a station connects to, and how it moves on.

OCPP 2.0.1 B09, B10 and A05 (2.1 the same), the part of the station that a CSMS uses
to migrate chargers to another back end or to a higher security profile:

* **Slots.** NetworkConfigurationPriority lists configuration slots 0, 1 and 2
  (B09.FR.06: at least two). Slot 0 holds the run's own target: its URL, its security
  profile (SecurityCtrlr.SecurityProfile at the time) and the config's message timeout.
  SetNetworkProfile stores a profile the dialect found usable in any slot (B09.FR.01),
  the slot in use too: the connection goes on, the new profile is used from the next
  reboot, and the profile the station last connected with stays its fallback. A lower
  security profile than SecurityCtrlr.SecurityProfile is Rejected (B09.FR.04), and so is
  profile 3 when the run's TLS settings give the station no client certificate.
* **Priority.** SetVariables of NetworkConfigurationPriority is Rejected when a listed
  slot holds no profile (B10.FR.02), a lower security profile than the current one
  (A05.FR.10, errata 2025-09), or a higher one the station cannot use: 2 or 3 without an
  installed CSMSRootCertificate (A05.FR.02); a 3 without a client certificate
  (A05.FR.03) is never stored. Else it is RebootRequired (B10.FR.01): the list is used
  from the next reboot, which a CSMS must ask for (Reset); the same list again is
  Accepted.
* **After a reboot** (Reset, a firmware update) the station connects to the first entry
  of the list (B10.FR.04, A05.FR.05) once the old connection is closed (B10.FR.06):
  its URL with the station's id appended, and its messageTimeout for the station's
  calls. A connect that fails counts against NetworkProfileConnectionAttempts for the
  entry; then the next entry is tried (B10.FR.03); after the last one the station falls
  back to the profile of its last successful connection and reconnects to it with the
  usual RetryBackOff* waits until it gets through (B10.FR.07, B10.FR.09). A lost
  connection walks the list the same way (B10.FR.03 as the 2025 errata words it), from
  its first entry; a station that never got a profile or a priority reconnects as
  before.
* **A move without a reboot** (a lost connection that ended on another slot, or on the
  slot in use with a new URL) is followed by a BootNotification and the status of every
  connector (B10.FR.10, B01.FR.05): the new CSMS learns who connected. A reconnect the
  station chose (a new password) starts with the profile in use.
* **Once connected** with a profile of a higher security profile, SecurityCtrlr.
  SecurityProfile takes its value and the slots with a lower one are removed, from the
  priority list too (A05.FR.06). A Basic-auth password the CSMS sets (A01) raises the
  profile of the connection in use with SecurityProfile (0 to 1), so an upgrade that
  lists that slot after the new one is not a downgrade; slots of profile 0 go.

The station tells its driver where to connect with a
:class:`~loadgen.sim.actions.Retarget` action while it is offline; the driver keeps the
run's TLS settings and source addresses (the installed certificates are only kept and
reported: loadgen.sim.certificates). A station that never gets a profile or a priority
holds none of this (it lives on the station's :class:`~loadgen.sim.extras.Extras`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from loadgen.ocpp.dialect import NetworkProfile
from loadgen.sim.actions import Retarget
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from loadgen.ocpp.dialect import CertificateId
    from loadgen.sim.actions import Action
    from loadgen.sim.extras import Extras

_PRIORITY = "network_configuration_priority"
_ACTIVE = "active_network_profile"


class Network:
    """A station's network connection profiles and where it is in trying them."""

    __slots__ = ("active", "entry", "good", "profiles", "tries", "using")

    def __init__(self, configured: NetworkProfile) -> None:
        self.profiles: dict[int, NetworkProfile] = {0: configured}  # by configuration slot
        self.active = 0  # the slot of the profile the station connects with
        self.using = configured  # ... and that profile, as it was when the station took it
        self.good = (0, configured)  # slot and profile of the last successful connection
        self.entry = -1  # the priority entry tried since a reboot; -1: none (B10.FR.04)
        self.tries = 0  # failed connects to it (NetworkProfileConnectionAttempts)


class NetworkProfiles(StationPart):
    """SetNetworkProfile, NetworkConfigurationPriority and the moves they cause (a part
    of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        call_timeout_s: float
        out: list[Action]
        overrides: dict[str, str] | None

        def _extras(self) -> Extras: ...
        def _int_setting(self, name: str, default: int) -> int: ...
        def read_setting(self, name: str) -> str | None: ...
        def installed_certificates(
            self, uses: Sequence[str] | None
        ) -> list[tuple[str, CertificateId]]: ...

    def set_network_profile(self, slot: int, profile: NetworkProfile) -> tuple[str, str | None]:
        """Store ``profile`` in ``slot`` (see the module docstring)."""
        if profile.security_profile < self._security_profile():
            return "Rejected", "NoSecurityDowngrade"  # B09.FR.04
        if profile.security_profile == 3 and not self.fleet.client_certificate:
            return "Rejected", "InvalidNetworkConf"  # no client certificate to connect with
        self._network().profiles[slot] = profile
        return "Accepted", None

    def _write_priority(self, value: str) -> str:
        """SetVariables of NetworkConfigurationPriority (see the module docstring); the
        dialect has checked that each item is a slot."""
        slots = [int(item) for item in value.split(",")] if value else []
        if not slots or len(set(slots)) != len(slots):
            return "Rejected"
        network = self._network()
        current = self._security_profile()
        for slot in slots:
            profile = network.profiles.get(slot)
            if profile is None:
                return "Rejected"  # B10.FR.02
            level = profile.security_profile
            if level < current:
                return "Rejected"  # A05.FR.10
            if level > current and level >= 2 and not self._csms_root_installed():
                return "Rejected"  # A05.FR.02 (A05.FR.03: no slot holds a 3 it cannot use)
        if value == self.read_setting(_PRIORITY):
            return "Accepted"
        self._override(_PRIORITY, value)
        return "RebootRequired"  # B10.FR.01, B10.FR.04: used from the next reboot

    # -- the station's link -------------------------------------------------------------

    def _network_walk(self, network: Network) -> None:
        """After a reboot (B10.FR.04) or a lost connection (B10.FR.03): connect to the
        first entry of the priority list, then on as connects fail."""
        network.entry = 0
        network.tries = 0
        self._use(network, self._priority()[0])

    def _network_failed(self, network: Network) -> None:
        """A connect failed while the priority list is tried: the entry's next attempt, the
        next entry (B10.FR.03), or after the last the last good profile (B10.FR.07)."""
        network.tries += 1
        if network.tries < max(1, self._int_setting("network_profile_connection_attempts", 3)):
            return
        network.tries = 0
        network.entry += 1
        priority = self._priority()
        if network.entry < len(priority):
            self._use(network, priority[network.entry])
            return
        network.entry = -1
        slot, profile = network.good
        self._take(network, slot, profile)

    def _network_connected(self, network: Network) -> bool:
        """Connected: the profile in use is the last good one; a higher security profile
        becomes the station's, and the slots of lower ones go (A05.FR.06). True when it
        connected elsewhere than last time, another slot or another URL (B10.FR.10: boot
        again)."""
        network.entry = -1
        network.tries = 0
        profile = network.using
        last_slot, last = network.good
        moved = last_slot != network.active or last.url != profile.url
        network.good = (network.active, profile)
        level = profile.security_profile
        if level > self._security_profile():
            self._override("security_profile", str(level))
            self._drop_lower(network, level)
        return moved

    def _drop_lower(self, network: Network, level: int) -> None:
        """Remove the profiles below security profile ``level``, from the priority too
        (A05.FR.06: the station never connects with a lower one again)."""
        kept = {s: p for s, p in network.profiles.items() if p.security_profile >= level}
        network.profiles = kept
        priority = [slot for slot in self._priority() if slot in kept]
        self._override(_PRIORITY, ",".join(map(str, priority or [network.active])))

    def _network_secured(self, level: int) -> None:
        """The connection in use reached security profile ``level`` (a Basic-auth
        password came, A01): so did the profile of its slot."""
        network = None if self.ext is None else self.ext.network
        if network is None:
            return
        old = network.using
        if old.security_profile < level:
            raised = replace(old, security_profile=level)
            if network.good[1] is old:
                network.good = (network.good[0], raised)
            network.using = raised
        stored = network.profiles.get(network.active)  # rewritten since it was taken?
        if stored is not None and stored.security_profile < level:
            network.profiles[network.active] = replace(stored, security_profile=level)
        self._drop_lower(network, level)

    def _network_from_here(self, network: Network) -> None:
        """The station closed on purpose to reconnect (a new password): the profile in use
        first, then on down the priority list should connecting fail (B10.FR.03)."""
        priority = self._priority()
        if network.active not in priority:
            self._network_walk(network)  # the list, then: what a lost connection does
            return
        network.entry = priority.index(network.active)
        network.tries = 0

    def _use(self, network: Network, slot: int) -> None:
        profile = network.profiles.get(slot)
        if profile is None:  # gone since (A05.FR.06): the last good one
            slot, profile = network.good
        self._take(network, slot, profile)

    def _take(self, network: Network, slot: int, profile: NetworkProfile) -> None:
        """Connect with ``profile`` (of ``slot``) from the next connect on."""
        if slot != network.active:
            network.active = slot
            self._override(_ACTIVE, str(slot))
        if profile is network.using:
            return
        network.using = profile
        self.call_timeout_s = profile.message_timeout_s
        self.out.append(Retarget(profile.url))

    # -- helpers ------------------------------------------------------------------------

    def _network(self) -> Network:
        ext = self._extras()
        network = ext.network
        if network is None:
            configured = NetworkProfile(None, self._security_profile(), self.call_timeout_s)
            network = ext.network = Network(configured)
        return network

    def _priority(self) -> list[int]:
        return [int(item) for item in (self.read_setting(_PRIORITY) or "0").split(",")]

    def _security_profile(self) -> int:
        return int(self.read_setting("security_profile") or 0)

    def _csms_root_installed(self) -> bool:
        return bool(self.installed_certificates(["CSMSRootCertificate"]))

    def _override(self, name: str, value: str) -> None:
        if self.overrides is None:
            self.overrides = {}
        self.overrides[name] = value
