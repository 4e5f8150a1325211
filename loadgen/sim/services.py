"""Firmware updates, log uploads, security events, faults and DataTransfer answers.

The part of :class:`~loadgen.sim.station.Station` for what a real charger does besides
charging. An update (UpdateFirmware, 1.6 SignedUpdateFirmware) goes through its steps
on timers, each one reported (L01.FR.01, 1.6 4.5)::

    [DownloadScheduled] -> Downloading -> Downloaded | DownloadFailed
    -> [SignatureVerified | InvalidSignature]   (a signed update)
    -> [InstallScheduled: until installDateTime, 2.0.1 L01.FR.16]
    -> (wait until no session runs, free connectors Unavailable: L01.FR.06/07)
    -> Installing -> InstallationFailed | [InstallRebooting] -> reboot, boot FirmwareUpdate
    -> Installed (sent by the new firmware, L01.FR.32 (a)) [+ SecurityEvent FirmwareUpdated]

A log upload (GetDiagnostics, GetLog) reports Uploading, asks the driver for the upload
with an :class:`~loadgen.sim.actions.Upload` action (the station stays free of I/O) and
reports its outcome when :meth:`Services.uploaded` brings it. A faulty charger (a share
of the fleet) reports a connector Faulted now and then and recovers after a while.
CustomerInformation (2.0.1 N09 / N10) reports and clears what the local list and the
authorization cache hold of an idToken.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadgen.ocpp.dialect import iso
from loadgen.sim.actions import Upload
from loadgen.sim.connectors import Connector, Outgoing
from loadgen.sim.extras import Extras, FirmwareJob, LogJob
from loadgen.sim.part import StationPart
from loadgen.sim.states import ACCEPTED, ONLINE

if TYPE_CHECKING:
    from loadgen.ocpp.dialect import BootReason, ConnectorStatus, IdInfo, StopReason
    from loadgen.sim.actions import Action

#: The security event of refused credentials, by version (1.6 security whitepaper, 2.x).
_BAD_CREDENTIALS = {
    "1.6": "FailedToAuthenticateAtCentralSystem",
    "2.0.1": "FailedToAuthenticateAtCsms",
    "2.1": "FailedToAuthenticateAtCsms",
}
#: A scheduled download this far off is reported DownloadScheduled (L01.FR.13).
_SCHEDULED_AFTER_S = 1.0


class Services(StationPart):
    """Firmware, logs, security events, faults (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)
        boot_reason: BootReason
        charge_point_id: str
        charging: bool
        next_id: int
        out: list[Action]
        phase: int
        powered_up: bool
        rebooting: bool
        registration: int
        rng: random.Random

        def _queue(self, item: Outgoing, *, front: bool = False) -> None: ...
        def _set_status(
            self, connector: Connector, status: ConnectorStatus, now: float
        ) -> None: ...
        def _begin_reboot(self, now: float, reason: StopReason | None) -> None: ...
        def end_transaction(self, connector: Connector, now: float, reason: StopReason) -> None: ...
        def _update_due(self) -> None: ...
        def _install_external_limit(self, now: float) -> None: ...
        def _arm_aligned(self, now: float) -> None: ...
        def _clock_aligned(self, now: float) -> None: ...
        def _expire_reservations(self, now: float) -> None: ...
        def _drop_reservation(self, connector: Connector, now: float) -> None: ...
        def _scenario_due(
            self, connector: Connector, kind: str, id_tag: str, stay_s: float
        ) -> None: ...
        def _forget(self, key: str) -> IdInfo | None: ...

    def _extras(self) -> Extras:
        """The station's extras, made on first use."""
        ext = self.ext
        if ext is None:
            ext = self.ext = Extras()
        return ext

    # -- timers -------------------------------------------------------------------------

    def _extras_due(self, now: float) -> None:
        """Whatever of the extras fell due: a firmware step, a reservation's end, a fault,
        the clock-aligned readings."""
        ext = self.ext
        assert ext is not None
        job = ext.firmware
        if job is not None and job.due_at is not None and now >= job.due_at:
            self._firmware_step(job, now)
        if ext.reservations:
            self._expire_reservations(now)
        if ext.fault_at is not None and now >= ext.fault_at:
            self._fault(now)
        if ext.aligned_at is not None and now >= ext.aligned_at:
            self._clock_aligned(now)
        ext.refresh_due()

    def _powered_up(self, now: float) -> None:
        """After the first Accepted boot since power-up: the boot's security events and
        what the extras do then. The events are critical, so 2.x sends them always
        (A04.FR.01); 1.6 only with ``fleet.security_events`` (its whitepaper is optional)."""
        ext = self.ext
        model = self.fleet.model
        if model is not None and model.external_limit_w is not None:
            self._install_external_limit(now)
        critical = self.dialect.version != "1.6"
        job = None if ext is None else ext.firmware
        if ext is not None and job is not None and job.step == "rebooting":
            ext.firmware = None  # the new firmware says it is in
            self.counters.firmware_installed += 1
            self._firmware_status("Installed", job)
            self._security_event("FirmwareUpdated", now, required=critical)  # L01.FR.31
        elif self.boot_reason == "RemoteReset":
            self._security_event("ResetOrReboot", now, required=critical)
        self._security_event("StartupOfTheDevice", now, required=critical)
        if ext is None:
            return
        if ext.fault_at is None and ext.recover_at is None and ext.faulted == -1:
            self._next_fault(now)
        self._arm_aligned(now)
        self._flush_events(now)
        ext.refresh_due()

    # -- firmware -------------------------------------------------------------------------

    def update_firmware(
        self,
        location: str,
        retrieve_at: float,
        request_id: int | None,
        signed: bool,
        install_at: float | None = None,
    ) -> str:
        """Start an update; one under way is cancelled (L01.FR.24: AcceptedCanceled)."""
        now = self.now_s
        ext = self._extras()
        cancelled = ext.firmware is not None and ext.firmware.step != "rebooting"
        if ext.firmware is not None and not cancelled:
            return "Rejected"  # installed already, rebooting into it (L01.FR.27)
        plan = self.fleet.spec.firmware
        fails = None
        if plan.failure_share > 0 and self.rng.random() < plan.failure_share:
            fails = plan.failure_step if (signed or plan.failure_step != "signature") else "install"
        name = urlsplit(location).path.rsplit("/", 1)[-1] or location
        version = name.rsplit(".", 1)[0] if "." in name else name
        start = max(now, retrieve_at - self.wall_offset_s)
        install = None if install_at is None else install_at - self.wall_offset_s
        job = ext.firmware = FirmwareJob(
            request_id, signed, version[:50] or "new", start, fails, install
        )
        self.counters.firmware_updates += 1
        if start - now > _SCHEDULED_AFTER_S and self.dialect.version != "1.6":
            self._firmware_status("DownloadScheduled", job)
        ext.refresh_due()
        self._update_due()
        return "AcceptedCanceled" if cancelled else "Accepted"

    def _firmware_step(self, job: FirmwareJob, now: float) -> None:
        """The next step of the update whose time has come."""
        ext = self.ext
        assert ext is not None
        plan = self.fleet.spec.firmware
        step = job.step
        if step == "scheduled":
            job.step, job.due_at = "downloading", now + plan.download_s
            self._firmware_status("Downloading", job)
        elif step == "downloading":
            if job.fails_at == "download":
                self._firmware_failed(job, "DownloadFailed", now)
                return
            self._firmware_status("Downloaded", job)
            if job.signed or self.dialect.version != "1.6":
                if job.fails_at == "signature" and job.signed:
                    self._firmware_status("InvalidSignature", job)
                    self._security_event("InvalidFirmwareSignature", now, required=True)
                    self._firmware_failed(job, None, now)
                    return
                if job.signed:
                    self._firmware_status("SignatureVerified", job)
            if job.install_at is not None and now < job.install_at:
                job.step, job.due_at = "install_scheduled", job.install_at
                self._firmware_status("InstallScheduled", job)  # L01.FR.16
                return
            job.step, job.due_at = "waiting", now
            self._firmware_step(job, now)
        elif step == "install_scheduled":  # its time has come (L01.FR.05)
            job.step = "waiting"
            self._firmware_step(job, now)
        elif step == "waiting":
            if any(c.busy for c in self.connectors):  # L01.FR.06: after the sessions
                job.due_at = None  # resumed when the last session ends (_unplug)
                for connector in self.connectors:
                    if not connector.busy and connector.status == "Available":
                        self._set_status(connector, "Unavailable", now)  # L01.FR.07
                return
            job.step, job.due_at = "installing", now + plan.install_s
            self._firmware_status("Installing", job)
        elif step == "installing":
            if job.fails_at == "install":
                self._firmware_failed(job, "InstallationFailed", now)
                return
            job.step, job.due_at = "rebooting", None
            if job.signed or self.dialect.version != "1.6":
                self._firmware_status("InstallRebooting", job)  # L01.FR.15
            ext.firmware_version = job.version  # what the next boot reports
            self._begin_reboot(now, None)

    def _firmware_blocks(self) -> bool:
        """An update waits to install: no new session may start (L01.FR.07)."""
        job = self.ext.firmware if self.ext is not None else None
        return job is not None and job.step in ("waiting", "installing", "rebooting")

    def _firmware_resume(self, now: float) -> None:
        """The last session ended: an update that waited for it goes on."""
        ext = self.ext
        job = None if ext is None else ext.firmware
        if job is not None and job.step == "waiting" and job.due_at is None:
            job.due_at = now
            assert ext is not None
            ext.refresh_due()

    def _firmware_failed(self, job: FirmwareJob, status: str | None, now: float) -> None:
        ext = self.ext
        assert ext is not None
        ext.firmware = None
        self.counters.firmware_failed += 1
        if status is not None:
            self._firmware_status(status, job)
        for connector in self.connectors:
            if connector.status == "Unavailable" and connector.operative and not connector.busy:
                self._set_status(connector, "Available", now)

    def _firmware_status(self, status: str, job: FirmwareJob | None) -> None:
        ext = self._extras()
        request_id = None if job is None else job.request_id
        ext.firmware_status = (status, request_id)
        request = self.dialect.firmware_status(status, request_id)
        self._queue(Outgoing(*request, "firmware"))

    def _triggered_firmware_status(self, signed: bool) -> None:
        """TriggerMessage FirmwareStatusNotification: the last status while an update runs,
        else Idle (1.6 4.5; L01.FR.25/26); ``signed``: 1.6's SignedFirmwareStatusNotification."""
        ext = self.ext
        last = None if ext is None else ext.firmware_status
        busy = ext is not None and ext.firmware is not None
        if last is None or last[0] == "Installed" or (self.dialect.version == "1.6" and not busy):
            status, request_id = "Idle", None
        else:
            status, request_id = last
        request = self.dialect.firmware_status(status, request_id, signed=signed)
        self._queue(Outgoing(*request, "other", pending_ok=True))

    # -- diagnostics and logs -------------------------------------------------------------

    def upload_log(
        self, location: str, request_id: int | None, kind: str
    ) -> tuple[str, str | None]:
        """Report Uploading and ask the driver to upload (see the module docstring). One
        under way is cancelled; 2.x reports that (N01.FR.12/20: AcceptedCanceled)."""
        ext = self._extras()
        cancelled = ext.log is not None
        if ext.log is not None and self.dialect.version != "1.6":  # 1.6 has no such status
            self._log_status("AcceptedCanceled", ext.log)
        ext.uploads += 1
        token = ext.uploads
        ext.log = job = LogJob(kind, request_id, token)
        name = f"{self.charge_point_id}-{kind.lower()}-{token}.log"
        self._log_status("Uploading", job)
        plan = self.fleet.spec.diagnostics
        if urlsplit(location).scheme.lower() in ("http", "https"):
            self.out.append(Upload(location, name, plan.upload_bytes, plan.timeout_s, token))
        else:  # no FTP here: the upload fails at once
            self._upload_done(token, False)
        accepted = "AcceptedCanceled" if cancelled and kind != "Diagnostics" else "Accepted"
        return accepted, name

    def uploaded(self, now: float, token: int, ok: bool) -> list[Action]:
        """The upload asked for with ``token`` is over (an event from the driver)."""
        out = self.out = []
        self.now_s = now
        self._upload_done(token, ok)
        self._finish(now)
        return out

    def _upload_done(self, token: int, ok: bool) -> None:
        ext = self.ext
        job = None if ext is None else ext.log
        if ext is None or job is None or job.token != token:
            return  # cancelled by a later request, or a reboot
        ext.log = None
        if ok:
            self.counters.uploads_ok += 1
        else:
            self.counters.uploads_failed += 1
        if job.kind == "Diagnostics":
            self._log_status("Uploaded" if ok else "UploadFailed", job)
        else:
            self._log_status("Uploaded" if ok else "UploadFailure", job)

    def _log_status(self, status: str, job: LogJob) -> None:
        ext = self._extras()
        ext.log_status = (status, job.request_id)
        if job.kind == "Diagnostics":
            request = self.dialect.diagnostics_status(status)
            assert request is not None
        else:
            request = self.dialect.log_status(status, job.request_id)
        self._queue(Outgoing(*request, "other", pending_ok=True))

    def _triggered_log_status(self, diagnostics: bool) -> None:
        """TriggerMessage DiagnosticsStatusNotification / LogStatusNotification."""
        ext = self.ext
        job = None if ext is None else ext.log
        if diagnostics and self.dialect.version == "1.6":
            request = self.dialect.diagnostics_status(
                "Uploading" if job is not None and job.kind == "Diagnostics" else "Idle"
            )
            assert request is not None
        elif job is not None and job.kind != "Diagnostics":
            request = self.dialect.log_status("Uploading", job.request_id)
        else:
            request = self.dialect.log_status("Idle", None)
        self._queue(Outgoing(*request, "other", pending_ok=True))

    # -- connector states as events (2.0.1 G01) -------------------------------------------

    def _status_event(self, connector: Connector, now: float) -> bool:
        """Queue a NotifyEvent of the connector's AvailabilityState; False in 1.6."""
        self.next_id += 1  # unique per station, like the calls' ids
        request = self.dialect.connector_event(
            connector.id, connector.status, now + self.wall_offset_s, self.next_id
        )
        if request is None:
            return False
        self._queue(Outgoing(*request, "status", connector, status=connector.status))
        return True

    # -- security events ------------------------------------------------------------------

    def _security_event(self, kind: str, now: float, *, required: bool = False) -> None:
        """Queue a SecurityEventNotification: when ``fleet.security_events`` is on, or
        ``required`` (the spec's SHALL, e.g. L01.FR.03/31); kept while offline."""
        if not (required or self.fleet.spec.security_events):
            return
        ext = self.ext
        if ext is None and self.phase == ONLINE and self.registration == ACCEPTED:
            self._send_event(kind, None, now)  # an idle station makes no Extras for it
            return
        ext = self._extras()
        ext.pending_events.append((kind, None, now))
        self._flush_events(now)

    def _flush_events(self, now: float) -> None:
        ext = self.ext
        if ext is None or not ext.pending_events:
            return
        if self.phase != ONLINE or self.registration != ACCEPTED:
            return  # after the next Accepted boot or reconnect
        for kind, info, at in ext.pending_events:
            self._send_event(kind, info, at)  # the time it happened, not the time it went
        ext.pending_events.clear()

    def _send_event(self, kind: str, info: str | None, at: float) -> None:
        request = self.dialect.security_event(kind, at + self.wall_offset_s, info)
        self._queue(Outgoing(*request, "other"))
        self.counters.security_events += 1

    def _credentials_refused(self, now: float) -> None:
        """The upgrade was refused (HTTP 401): a security event once connected again (one
        for a run of refusals, with the time of the first)."""
        if self.fleet.spec.security_events:
            ext = self._extras()
            event = _BAD_CREDENTIALS[self.dialect.version]
            if all(kind != event for kind, _, _ in ext.pending_events):
                ext.pending_events.append((event, None, now))

    # -- faults ---------------------------------------------------------------------------

    def _next_fault(self, now: float) -> None:
        ext = self._extras()
        plan = self.fleet.spec.faults
        ext.faulted = -1
        ext.fault_at = now + self.rng.expovariate(1.0 / plan.mean_interval_s)

    def _fault(self, now: float) -> None:
        """A fault is due on a connector picked at random: the driver runs the fault
        scenario there (the status step's rules end its session and reservation)."""
        ext = self.ext
        assert ext is not None
        ext.fault_at = None
        if self.phase != ONLINE or self.registration != ACCEPTED or self.rebooting:
            ext.fault_at = now + self.fleet.spec.faults.recover_s  # try again later
            return
        connector = self.rng.choice(self.connectors)
        ext.faulted = connector.id
        # the fault scenario (loadgen.scenarios.builtin) sets Faulted, waits, recovers
        self._scenario_due(connector, "fault", "", self.fleet.spec.faults.recover_s)

    # -- customer information (2.0.1 N09, N10) --------------------------------------------

    def customer_information(
        self, request_id: int, report: bool, clear: bool, id_tag: str | None
    ) -> str:
        """Report and / or clear what the station stores of a customer: what its local list
        and cache hold of the idToken (of a customer named otherwise, nothing). Rejected
        when neither is asked (N09.FR.07 / N10.FR.07); else Accepted, the cache entry
        removed when ``clear`` (not the local list's, N10.FR.03/06), and one
        NotifyCustomerInformation: what is stored (N09.FR.05) or was cleared (N10.FR.03),
        that nothing was found (N09.FR.06 / N10.FR.04), or without a report that the data
        was cleared (N10.FR.06)."""
        if not report and not clear:
            return "Rejected"
        ext = self.ext
        listed = cached = None
        if id_tag is not None and ext is not None:
            key = id_tag.casefold()
            listed = None if ext.local_list is None else ext.local_list.get(key)
            if clear:
                cached = self._forget(key)
            elif ext.cache is not None:
                cached = ext.cache.get(key)
        found = []
        if cached is not None:
            where = "Cleared from" if clear else "In"
            found.append(f"{where} the authorization cache: {_described(cached)}")
        if listed is not None:
            kept = ", kept (only the CSMS changes it)" if clear else ""
            found.append(f"In the local authorization list{kept}: {_described(listed)}")
        if not report:
            data = "Customer information cleared"
        elif not found:
            data = "No information stored about this customer"
        else:
            data = "; ".join(found)
        request = self.dialect.customer_report(request_id, self.now_s + self.wall_offset_s, data)
        if request is not None:
            self._queue(Outgoing(*request, "other", pending_ok=True))
        return "Accepted"

    # -- DataTransfer ---------------------------------------------------------------------

    def data_transfer(
        self, vendor_id: str, message_id: str | None, data: object
    ) -> tuple[str, str | None]:
        """The config's answer for this vendorId (and messageId), else UnknownVendorId."""
        vendor_known = False
        for answer in self.fleet.spec.data_transfer:
            if answer.vendor_id != vendor_id:
                continue
            vendor_known = True
            if answer.message_id is None or answer.message_id == message_id:
                return answer.status, answer.data
        return ("UnknownMessageId" if vendor_known else "UnknownVendorId"), None

    if TYPE_CHECKING:

        def _finish(self, now: float) -> None: ...
        def _schedule_session(self, connector: Connector, now: float) -> None: ...
        def _session_connectors(self) -> list[Connector]: ...


def _described(info: IdInfo) -> str:
    """A list or cache entry as NotifyCustomerInformation tells it."""
    if info.expires_at is None:
        return f"status {info.status}"
    return f"status {info.status} until {iso(info.expires_at)}"
