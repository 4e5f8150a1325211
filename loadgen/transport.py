"""Opening a charge point's WebSocket, and the one place that names every failure.

The target is resolved once per process; each connection opens its own TCP socket (so
timeouts and errors are ours to name), wraps it in TLS from an ``SSLContext`` built
once, and hands it to websocket-client for the HTTP upgrade with the OCPP subprotocol.
Every exception from connect, TLS, handshake and reads is mapped to a
:class:`~loadgen.failures.Failure` here and nowhere else.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import websocket
from websocket import ABNF

from loadgen.config import Tls
from loadgen.failures import Failure


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved target: where to connect and what to put in the upgrade request."""

    url: str  # the base URL; the charge point id is appended
    family: int
    address: tuple  # sockaddr for socket.connect
    secure: bool
    server_hostname: str


@lru_cache(maxsize=16)
def resolve(url: str) -> Endpoint:
    """Resolve ``url``'s host once (per process); raises ``Failure('dns_error')``."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Failure("dns_error", str(getattr(exc, "strerror", "") or exc)) from None
    family, _, _, _, address = infos[0]
    return Endpoint(url.rstrip("/"), family, address, secure, host)


@lru_cache(maxsize=16)
def ssl_context(tls: Tls) -> ssl.SSLContext:
    """One client SSLContext per TLS setting: CA file, client certificate, verification."""
    context = ssl.create_default_context(cafile=tls.ca_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class Connection:
    """An open OCPP WebSocket: ``send(text)``, ``recv() -> text``, ``close()``.

    ``recv`` and ``send`` raise :class:`Failure` (``closed_by_server``, ``reset``,
    ``protocol_error``) when the connection is lost; ``close`` never raises.
    """

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self.subprotocol: str | None = ws.subprotocol

    def send(self, text: str) -> None:
        try:
            self._ws.send(text)
        except Exception as exc:
            raise map_exception(exc, connecting=False) from None

    def recv(self) -> str:
        while True:
            try:
                opcode, data = self._ws.recv_data()
            except Exception as exc:
                raise map_exception(exc, connecting=False) from None
            if opcode == ABNF.OPCODE_TEXT:
                try:
                    return data.decode("utf-8") if isinstance(data, bytes) else str(data)
                except UnicodeDecodeError:
                    raise Failure("protocol_error", "text frame is not UTF-8") from None
            if opcode == ABNF.OPCODE_CLOSE:
                code = _close_code(data)
                raise Failure("closed_by_server", str(code) if code else "")
            if opcode == ABNF.OPCODE_BINARY:
                raise Failure("protocol_error", "binary frame")

    def close(self) -> None:
        try:
            self._ws.close(timeout=0.5)
        except Exception:
            self._ws.shutdown()


def _close_code(data: object) -> int | None:
    if isinstance(data, bytes) and len(data) >= 2:
        return int.from_bytes(data[:2], "big")
    return None


def open_connection(
    base_url: str,
    charge_point_id: str,
    subprotocol: str,
    *,
    timeout_s: float,
    tls: Tls | None = None,
) -> Connection:
    """Connect, upgrade and check the subprotocol; raises :class:`Failure`.

    ``timeout_s`` bounds the TCP connect, the TLS handshake and the HTTP upgrade each.
    """
    endpoint = resolve(base_url)
    sock = socket.socket(endpoint.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(timeout_s)
    stage = "connect"
    try:
        sock.connect(endpoint.address)
        if endpoint.secure:
            stage = "tls"
            sock = ssl_context(tls or Tls()).wrap_socket(
                sock, server_hostname=endpoint.server_hostname
            )
        stage = "handshake"
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
        ws.connect(
            f"{endpoint.url}/{charge_point_id}",
            socket=sock,
            subprotocols=[subprotocol],
            timeout=timeout_s,
            suppress_origin=True,
        )
    except Exception as exc:
        sock.close()
        raise map_exception(exc, connecting=True, stage=stage) from None
    sock.settimeout(None)
    return Connection(ws)


def map_exception(exc: BaseException, *, connecting: bool, stage: str = "") -> Failure:
    """Name an exception from connect, TLS, handshake or a read with its category."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return Failure("handshake_rejected", f"HTTP {exc.status_code}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Failure("tls_error", getattr(exc, "reason", None) or type(exc).__name__)
    if isinstance(exc, socket.timeout | TimeoutError | websocket.WebSocketTimeoutException):
        return Failure("connect_timeout" if connecting else "reset", stage or "timeout")
    if isinstance(exc, socket.gaierror):
        return Failure("dns_error", str(exc.strerror or exc))
    if isinstance(exc, ConnectionRefusedError):
        return Failure("connect_refused")
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return Failure("closed_by_server" if not connecting else "reset", "connection closed")
    if isinstance(exc, websocket.WebSocketProtocolException | websocket.WebSocketPayloadException):
        return Failure("protocol_error", "bad WebSocket frame")
    if isinstance(exc, OSError):
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE, errno.ENOBUFS):
            return Failure("client_limit", errno.errorcode.get(exc.errno or 0, "OSError"))
        if exc.errno in (errno.ETIMEDOUT,):
            return Failure("connect_timeout" if connecting else "reset", stage or "timeout")
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return Failure("connect_timeout", "unreachable")
        return Failure("reset", errno.errorcode.get(exc.errno or 0, "OSError"))
    if isinstance(exc, websocket.WebSocketException):
        # A 101 answer without the requested subprotocol, or a malformed upgrade.
        if connecting:
            return Failure("handshake_rejected", "bad upgrade response")
        return Failure("protocol_error", "bad WebSocket frame")
    return Failure("protocol_error", type(exc).__name__)
