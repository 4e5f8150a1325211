"""Opening a charge point's connection, and the one place that names every failure.

What the engine needs to reach a target, without waiting on anything: the target's
address (resolved once per process; a numeric host needs no resolver at all), a
non-blocking socket bound to the next source address of the pool and already
connecting, a TLS client context built once at load, the path and Basic-auth header of
the upgrade request, and :class:`TlsLayer`, TLS as bytes in and bytes out (``ssl``'s
``SSLObject`` over memory BIOs), so TLS connections are driven by the same engine and
written by the same single writer as plain ones. :func:`map_exception` turns every
exception from connect, TLS, handshake and reads into a
:class:`~loadgen.failures.Failure`: nowhere else does.
"""

from __future__ import annotations

import _socket
import base64
import errno
import itertools
import re
import socket
import ssl
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

from loadgen.config import Tls
from loadgen.failures import Failure
from loadgen.sim.wsproto import HandshakeError, WebSocketError

#: Linux: let connect() pick the source port for the 4-tuple after bind((addr, 0)).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
#: charge point ids that need no percent-encoding in the URL path
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
#: Linux: the kernel stamps each segment it receives and hands the stamp of the last
#: one read to ``recvmsg`` (``SCM_TIMESTAMPNS``, a ``struct timespec``); None elsewhere.
SO_TIMESTAMPNS: int | None = (
    getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform.startswith("linux") else None
)
#: room for one stamp in ``recvmsg``'s ancillary data
STAMP_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("@qq")
#: a stamp further back than this is a wall-clock step, not a late read: not used
MAX_STAMP_AGE_S = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved target: where to connect and what to put in the upgrade request."""

    url: str  # the base URL; the charge point id is appended
    family: int
    address: tuple[object, ...]  # sockaddr for connect
    secure: bool
    server_hostname: str
    host_header: str  # "host:port" as sent in the Host header
    path: str  # the URL path without a trailing slash


def _parts(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    return parts.hostname or "", parts.port or (443 if secure else 80), secure


def endpoint_from(url: str, infos: Sequence[tuple[object, ...]]) -> Endpoint:
    """The endpoint of ``url`` for the first of ``getaddrinfo``'s answers."""
    host, port, secure = _parts(url)
    family, _, _, _, address = infos[0]
    shown = f"[{host}]" if ":" in host else host
    default_port = port == (443 if secure else 80)
    return Endpoint(
        url.rstrip("/"),
        int(family),  # type: ignore[call-overload]
        tuple(address),  # type: ignore[arg-type]
        secure,
        host,
        shown if default_port else f"{shown}:{port}",
        urlsplit(url).path.rstrip("/"),
    )


def resolve_numeric(url: str) -> Endpoint | None:
    """The endpoint of a URL whose host is an IP address; None when a lookup is needed.

    Never blocks and never asks a resolver (``AI_NUMERICHOST``).
    """
    host, port, _ = _parts(url)
    try:
        infos = _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM, 0, _socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return endpoint_from(url, infos)


def lookup(url: str) -> Endpoint:
    """Resolve ``url``'s host (may block: run it off the hub); ``Failure('dns_error')``."""
    host, port, _ = _parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Failure("dns_error", str(getattr(exc, "strerror", "") or exc)[:80]) from None
    return endpoint_from(url, infos)


@lru_cache(maxsize=16)
def client_ssl_context(tls: Tls) -> ssl.SSLContext:
    """One client context per TLS setting (CA file, client certificate, verification).

    Built at load: a bad CA or key raises ``ssl.SSLError`` / ``OSError`` here, once.
    """
    context = ssl.create_default_context(cafile=tls.ca_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def upgrade_path(endpoint: Endpoint, charge_point_id: str) -> str:
    """The request path: the target's path, then the charge point id (percent-encoded)."""
    quoted = charge_point_id if _URL_SAFE.fullmatch(charge_point_id) else None
    return f"{endpoint.path}/{quoted or quote(charge_point_id, safe='')}"


def basic_auth(charge_point_id: str, password: str | bytes) -> str:
    """The ``Authorization`` value of OCPP security profiles 1 and 2 (never logged); a
    password in bytes goes as it is (a 1.6 AuthorizationKey is any 16 to 20 bytes)."""
    secret = password if isinstance(password, bytes) else password.encode()
    token = base64.b64encode(charge_point_id.encode() + b":" + secret).decode("ascii")
    return f"Basic {token}"


class SourcePool:
    """Source addresses handed out round-robin, one per new connection.

    Each (source address, destination) pair has its own ~28,000 ephemeral ports, so a
    pool of k addresses lets one host open k times as many connections to one target.
    """

    __slots__ = ("_next", "addresses")

    def __init__(self, addresses: tuple[str, ...], start: int = 0) -> None:
        if not addresses:
            raise ValueError("an empty source address pool")
        self.addresses = addresses
        #: rotated by ``start`` so processes sharing a pool begin on different addresses
        self._next: Iterator[str] = itertools.islice(
            itertools.cycle(addresses), start % len(addresses), None
        )

    def next(self) -> str:
        """The address the next connection binds to."""
        return next(self._next)


@lru_cache(maxsize=16)
def source_pool(addresses: tuple[str, ...] | None, start: int = 0) -> SourcePool | None:
    """The process's pool for the config's ``source_addresses`` (None: the OS picks)."""
    return SourcePool(addresses, start) if addresses else None


def open_socket(endpoint: Endpoint, source: SourcePool | None) -> _socket.socket:
    """A non-blocking TCP socket whose connect to ``endpoint`` is under way (or done).

    Raises ``OSError`` when the connect fails at once (refused on loopback, no source
    port left): name it with :func:`map_exception`.
    """
    sock = _socket.socket(endpoint.family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK)
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        if SO_TIMESTAMPNS is not None:
            try:
                sock.setsockopt(_socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                pass  # no stamps: the engine then takes read times, and reads at once
        if source is not None:
            if endpoint.family == _socket.AF_INET:
                sock.setsockopt(_socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source.next(), 0))
        code = sock.connect_ex(endpoint.address)
        if code and code not in _IN_PROGRESS:
            raise OSError(code, errno.errorcode.get(code, "connect failed"))
    except BaseException:
        sock.close()
        raise
    return sock


def arrival(ancillary: list[tuple[int, int, bytes]], now: float) -> float | None:
    """When what a ``recvmsg`` returned reached this host, on the monotonic clock of
    ``now`` (the read's time), from the kernel's stamp in ``ancillary``; None without one.

    The stamp is wall-clock time; only its distance back from the wall clock's now is
    used, so a wall clock that is off does not matter, and one stepped meanwhile is
    caught: a stamp in the future or older than :data:`MAX_STAMP_AGE_S` gives ``now``.
    """
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            age = time.time() - (seconds + nanoseconds * 1e-9)
            return now - age if 0.0 <= age < MAX_STAMP_AGE_S else now
    return None


class TlsLayer:
    """TLS as a sans-I/O layer: ciphertext in, plaintext out, and the reverse."""

    __slots__ = ("_in", "_obj", "_out", "ready")

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self.ready = False  # the TLS handshake is complete

    def handshake(self) -> bytes:
        """Advance the TLS handshake; the bytes to send. Raises ``ssl.SSLError``."""
        try:
            self._obj.do_handshake()
            self.ready = True
        except ssl.SSLWantReadError:
            pass
        return self._out.read()

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """Feed ciphertext: the plaintext it completes, and bytes to send (handshake).

        Raises ``ssl.SSLError``; a TLS close_notify reads as the end of the stream
        (``ConnectionResetError``).
        """
        self._in.write(data)
        to_send = b""
        if not self.ready:
            to_send = self.handshake()
            if not self.ready:
                return b"", to_send
        chunks = []
        while True:
            try:
                chunk = self._obj.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                raise ConnectionResetError(errno.ECONNRESET, "TLS closed") from None
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), to_send + self._out.read()

    def send(self, data: bytes) -> bytes:
        """Encrypt ``data``: the ciphertext to write."""
        self._obj.write(data)
        return self._out.read()


def map_exception(
    exc: BaseException, *, connecting: bool, stage: str = "", secure: bool = False
) -> Failure:
    """Name an exception from connect, TLS, the upgrade or a read with its category.

    ``stage`` is where an opening failed: connect, tls or handshake.
    """
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, HandshakeError):
        return Failure("handshake_rejected", exc.detail)
    if isinstance(exc, WebSocketError):
        return Failure("protocol_error", exc.detail)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        if stage == "handshake" and connecting:
            # TLS 1.3 finishes the client's side before the server checks our certificate:
            # an alert while reading the upgrade answer is the server refusing us.
            return Failure("handshake_rejected", f"TLS alert: {reason}")
        return Failure("tls_error", str(reason)[:80])
    if isinstance(exc, socket.gaierror):
        return Failure("dns_error", str(exc.strerror or exc)[:80])
    if isinstance(exc, ConnectionRefusedError):
        return Failure("connect_refused")
    if isinstance(exc, TimeoutError | socket.timeout):
        return Failure("connect_timeout" if connecting else "reset", stage or "timeout")
    if isinstance(exc, OSError):
        code = exc.errno or 0
        if code in (errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE, errno.ENOBUFS):
            return Failure("client_limit", errno.errorcode.get(code, "OSError"))
        if code == errno.ETIMEDOUT:
            return Failure("connect_timeout" if connecting else "reset", stage or "timeout")
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return Failure("connect_timeout", "unreachable")
        if code == errno.ECONNREFUSED:
            return Failure("connect_refused")
        if (
            secure
            and connecting
            and stage == "handshake"
            and code in (errno.ECONNRESET, errno.EPIPE)
        ):
            # Over TLS 1.3 a server that refuses our client certificate (or lack of one)
            # closes the connection only once we send the upgrade.
            return Failure("handshake_rejected", "TLS connection closed during the upgrade")
        return Failure("reset", errno.errorcode.get(code, "OSError"))
    return Failure("protocol_error", type(exc).__name__)


#: The lines a simulated diagnostics file is made of (its size is the config's).
_LOG_LINE = b"2026-01-01T00:00:00Z loadgen simulated charger log line: all is well\n"


def upload_file(url: str, name: str, size: int, timeout_s: float) -> bool:
    """PUT a simulated log file of ``size`` bytes to ``url`` (to ``url + name`` when it
    ends with ``/``); True for a 2xx answer. Blocking: the engine calls it in a greenlet
    (sockets are gevent's under Locust). Any failure is False, never an exception."""
    import urllib.error
    import urllib.request

    target = url + quote(name) if url.endswith("/") else url
    repeats = size // len(_LOG_LINE) + 1
    body = (_LOG_LINE * repeats)[:size]
    request = urllib.request.Request(
        target, data=body, method="PUT", headers={"Content-Type": "text/plain"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            status: int = answer.status
            return 200 <= status < 300
    except (OSError, ValueError, urllib.error.URLError, ssl.SSLError):
        return False
