"""``loadgen doctor --probe CONFIG``: one real connection, step by step, and what failed.

Before a run against your own CSMS, one charge point (the first id the run would use,
with its password from the ids file) goes through every step, each said on one line:
the name lookup (DNS), the TCP connect, TLS for ``wss://`` (the server's certificate:
subject, issuer, expiry and why it was refused), the WebSocket upgrade (the HTTP status,
Basic auth), the OCPP subprotocol, and the BootNotification's answer. The upgrade and
the boot run on the real engine with a real station (:mod:`loadgen.sim.engine`), exactly
as in a run. Exit 0: the charge point booted (Accepted); 1: a step failed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadgen.config import Config
from loadgen.failures import Failure

#: (address family, sockaddr) of the target
Address = tuple[int, tuple[Any, ...]]


@dataclass
class Step:
    name: str
    ok: bool
    said: str


@dataclass
class Probe:
    """The steps so far; the first failed one ends the probe."""

    steps: list[Step] = field(default_factory=list)

    def add(self, name: str, ok: bool, said: str) -> bool:
        self.steps.append(Step(name, ok, said))
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<12} {said}", flush=True)
        return ok


def run(config: Config) -> int:
    """Probe ``config``'s target; print each step. 0: booted, 1: a step failed."""
    url = config.target
    if url == "embedded":
        print("probe: the target is 'embedded' (the reference gateway): give --target URL.")
        return 1
    charge_point_id, password = first_identity(config)
    print(
        f"probe: {url} as charge point {charge_point_id} (OCPP {config.ocpp_version}"
        f"{', Basic auth' if password else ''})",
        flush=True,
    )
    probe = Probe()
    parts = urlsplit(url)
    host, secure = parts.hostname or "", parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    timeout_s = config.charge_points.connect_timeout_s
    address = _dns(probe, host, port)
    if address is None:
        return 1
    if not _tcp(probe, address, port, timeout_s):
        return 1
    if secure and not _tls(probe, config, address, host, port, timeout_s):
        return 1
    return 0 if _session(probe, config, charge_point_id, password) else 1


def first_identity(config: Config) -> tuple[str, str | None]:
    """The first charge point of a run: the ids file's first row, else the first made id."""
    if config.charge_points.ids_file:
        from loadgen.run.preflight import identities

        first = identities(config.charge_points.ids_file)[0]
        return first.charge_point_id, first.password
    return f"{config.charge_points.id_prefix}0-000001", None


def _dns(probe: Probe, host: str, port: int) -> Address | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        probe.add(
            "DNS",
            False,
            f"cannot resolve {host!r} ({getattr(exc, 'strerror', None) or exc}). Check the "
            "host name in the target, and this host's resolver (/etc/resolv.conf).",
        )
        return None
    family, _, _, _, sockaddr = infos[0]
    probe.add("DNS", True, f"{host} -> {sockaddr[0]}")
    return int(family), tuple(sockaddr)


def _tcp(probe: Probe, address: Address, port: int, timeout_s: float) -> bool:
    family, sockaddr = address
    started = time.perf_counter()
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(sockaddr)
    except ConnectionRefusedError:
        return probe.add(
            "TCP",
            False,
            f"{sockaddr[0]}:{port} refused the connection: nothing listens there. Check the "
            "port in the target and that the CSMS runs.",
        )
    except TimeoutError:
        return probe.add(
            "TCP",
            False,
            f"no answer from {sockaddr[0]}:{port} within {timeout_s:g}s (connect_timeout_s): "
            "a firewall drops the packets, or the host is down.",
        )
    except OSError as exc:
        return probe.add("TCP", False, f"{sockaddr[0]}:{port}: {exc.strerror or exc}.")
    ms = (time.perf_counter() - started) * 1000
    return probe.add("TCP", True, f"connected to {sockaddr[0]}:{port} in {ms:.0f} ms")


def _tls(
    probe: Probe,
    config: Config,
    address: Address,
    host: str,
    port: int,
    timeout_s: float,
) -> bool:
    from loadgen.run.preflight import check_tls

    context = check_tls(config.tls)
    family, sockaddr = address
    try:
        with socket.create_connection(sockaddr[:2], timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
                cert = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as exc:
        shown = describe_certificate(peer_certificate(sockaddr, host, timeout_s))
        where = (
            f"tls.ca_file {config.tls.ca_file}"
            if config.tls.ca_file
            else "the system's CAs (set tls.ca_file)"
        )
        return probe.add(
            "TLS",
            False,
            f"the server's certificate was refused: {exc.verify_message}. Certificate: "
            f"{shown}. Checked against {where}; the target's host must be in the "
            "certificate's names.",
        )
    except ssl.SSLError as exc:
        mine = f" (our client certificate {config.tls.cert_file})" if config.tls.cert_file else ""
        return probe.add(
            "TLS",
            False,
            f"handshake failed: {exc.reason or exc}{mine}. A server that asks for a client "
            "certificate needs tls.cert_file and tls.key_file.",
        )
    except OSError as exc:
        return probe.add("TLS", False, f"the connection failed during TLS: {exc.strerror or exc}.")
    return probe.add("TLS", True, f"{version}, certificate {describe_certificate(cert)}")


def peer_certificate(sockaddr: tuple[Any, ...], host: str, timeout_s: float) -> bytes | None:
    """The server's certificate (DER), fetched without checking it, for the message."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(sockaddr[:2], timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def describe_certificate(der: bytes | None) -> str:
    """Subject, issuer, names and expiry of a DER certificate (its fingerprint at least)."""
    if not der:
        return "(none received)"
    fingerprint = "SHA-256 " + hashlib.sha256(der).hexdigest()[:16] + "..."
    try:  # the standard library decodes certificates only from a file
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
            handle.write(ssl.DER_cert_to_PEM_cert(der))
        try:
            decoded = ssl._ssl._test_decode_cert(handle.name)  # type: ignore[attr-defined]
        finally:
            os.unlink(handle.name)
    except Exception:
        return fingerprint

    def name(key: str) -> str:
        return ", ".join("=".join(pair) for rdn in decoded.get(key, ()) for pair in rdn)

    names = ", ".join(value for _kind, value in decoded.get("subjectAltName", ()))
    return (
        f"subject {name('subject')!r}, issuer {name('issuer')!r}, names [{names}], valid "
        f"until {decoded.get('notAfter', '?')}, {fingerprint}"
    )


def _session(probe: Probe, config: Config, charge_point_id: str, password: str | None) -> bool:
    """The upgrade and the boot, on the real engine with one real station."""
    import gevent

    from loadgen.sim.engine import Engine, Target
    from loadgen.sim.fleet import Fleet
    from loadgen.sim.states import ACCEPTED, PENDING, REJECTED
    from loadgen.sim.station import Station

    reports: list[tuple[str, str, float, Exception | None]] = []
    booted: list[bool] = []

    class Watch:
        def booted(self) -> None:
            booted.append(True)

        def stopped(self) -> None:
            pass

        def news(self, action: object) -> None:
            pass  # one probing charge point runs no scenario

    engine = Engine(lambda kind, name, ms, _length, exc: reports.append((kind, name, ms, exc)))
    fleet = Fleet.build(config.charge_points, config.ocpp_version)
    subprotocol = fleet.dialect.subprotocol
    target = Target(
        config.target,
        subprotocol,
        config.charge_points.connect_timeout_s,
        config.tls,
        None,
    )
    station = Station(charge_point_id, fleet, engine.counters, wall_offset_s=engine.wall_offset_s)
    link = engine.link(station, target, password)
    link.observer = Watch()
    deadline = (
        time.monotonic()
        + config.charge_points.connect_timeout_s * 3
        + (config.charge_points.call_timeout_s)
    )

    def boot_answered() -> bool:
        return any(kind == "OCPP" and name == "BootNotification" for kind, name, _, _ in reports)

    engine.start(link)
    try:
        while time.monotonic() < deadline:
            failures = [r for r in reports if r[3] is not None]
            if booted or failures or (boot_answered() and station.registration != ACCEPTED):
                break
            gevent.sleep(0.02)
    finally:
        engine.stop(link)
    connect = next((r for r in reports if (r[0], r[1]) == ("WS", "connect")), None)
    failure = next((r[3] for r in reports if r[3] is not None), None)
    if connect is None or connect[3] is not None:
        return _upgrade_failed(probe, config, failure, subprotocol, password)
    probe.add(
        "upgrade",
        True,
        f"HTTP 101, subprotocol {subprotocol}"
        + (", Basic auth accepted" if password else "")
        + f" ({connect[2]:.0f} ms with TCP and TLS)",
    )
    if booted:
        interval = station.hb_interval_s
        return probe.add(
            "boot",
            True,
            f"BootNotification Accepted; Heartbeat every {interval:g}s. Ready for `loadgen run`.",
        )
    if station.registration in (PENDING, REJECTED):
        status = "Pending" if station.registration == PENDING else "Rejected"
        return probe.add(
            "boot",
            False,
            f"BootNotification answered {status}: the CSMS does not accept {charge_point_id} "
            "yet. Register the charge point ids in the CSMS (or give their ids_file).",
        )
    if isinstance(failure, Failure):
        return probe.add("boot", False, _boot_failure(failure, config))
    return probe.add(
        "boot",
        False,
        f"no answer to BootNotification within {config.charge_points.call_timeout_s:g}s "
        "(call_timeout_s).",
    )


def _upgrade_failed(
    probe: Probe,
    config: Config,
    failure: Exception | None,
    subprotocol: str,
    password: str | None,
) -> bool:
    if not isinstance(failure, Failure):
        return probe.add("upgrade", False, "no answer to the WebSocket upgrade in time.")
    detail = failure.detail
    if failure.category != "handshake_rejected":
        return probe.add("upgrade", False, f"{failure} during the upgrade.")
    if detail == "subprotocol not accepted":
        return probe.add(
            "subprotocol",
            False,
            f"the server did not accept {subprotocol}: set ocpp_version to the version the "
            "CSMS speaks (1.6 or 2.0.1).",
        )
    if detail.startswith("HTTP 401") or detail.startswith("HTTP 403"):
        given = "with the ids file's password" if password else "without a password"
        return probe.add(
            "Basic auth",
            False,
            f"{detail}: the CSMS refused the charge point's credentials ({given}). Give "
            "charge_points.ids_file rows id,password that the CSMS knows (security profile "
            "1/2), or a client certificate (profile 3).",
        )
    if detail.startswith("HTTP 404"):
        return probe.add(
            "upgrade",
            False,
            f"{detail}: no WebSocket endpoint at that path. Check the target's path (the "
            "charge point id is appended to it).",
        )
    if detail.startswith("TLS"):
        return probe.add(
            "TLS",
            False,
            f"{detail}: the server refused our client certificate ("
            f"{config.tls.cert_file or 'none given: set tls.cert_file and tls.key_file'}).",
        )
    return probe.add("upgrade", False, f"{detail}: the server did not upgrade to a WebSocket.")


def _boot_failure(failure: Failure, config: Config) -> str:
    if failure.category == "call_error":
        return f"the CSMS answered BootNotification with CALLERROR {failure.detail}."
    if failure.category == "call_timeout":
        return (
            "no answer to BootNotification within "
            f"{config.charge_points.call_timeout_s:g}s (call_timeout_s)."
        )
    if failure.category == "protocol_error":
        return f"the answer to BootNotification is not valid OCPP ({failure.detail})."
    return f"{failure} before the boot was answered."
