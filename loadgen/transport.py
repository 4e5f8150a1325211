"""Opening a charge point's WebSocket, and the one place that names every failure.

The target is resolved once per process; each connection opens its own TCP socket (so
timeouts and errors are ours to name), binds it to the next address of the source pool
when there is one, wraps it in TLS from an ``SSLContext`` built once, and performs the
HTTP upgrade itself: one ``send`` of the request and buffered reads of the answer
(websocket-client's own handshake reads the answer one byte per call). Frames are then
built and read here with websocket-client's ``ABNF`` constants and masking, from a
per-connection buffer, so a read interrupted by a timeout loses nothing. Every exception
from connect, TLS, handshake and reads is mapped to a
:class:`~loadgen.failures.Failure` here and nowhere else.
"""

from __future__ import annotations

import _socket
import base64
import errno
import hashlib
import itertools
import os
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import websocket
from gevent import Timeout, get_hub
from gevent import socket as gsocket
from gevent import ssl as gssl
from gevent.socket import wait_write
from websocket import ABNF

from loadgen.config import Tls
from loadgen.failures import Failure

#: The GUID of RFC 6455 section 1.3, hashed with the key into Sec-WebSocket-Accept.
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Bytes asked of the kernel per read: OCPP frames and upgrade answers are far smaller.
READ_CHUNK = 4096
#: Largest upgrade answer or frame accepted from the server.
MAX_MESSAGE_BYTES = 1 << 20
#: Kernel socket buffers per connection (bytes): idle chargers need little.
SOCKET_BUFFER_BYTES = 32768
#: Linux: let connect() pick the source port for the 4-tuple after bind((addr, 0)).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_CLOSE_1000 = struct.pack("!H", 1000)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A resolved target: where to connect and what to put in the upgrade request."""

    url: str  # the base URL; the charge point id is appended
    family: int
    address: tuple  # sockaddr for socket.connect
    secure: bool
    server_hostname: str
    host_header: str  # "host:port" as sent in the Host header
    path: str  # the URL path without a trailing slash


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
    shown = f"[{host}]" if ":" in host else host
    default_port = port == (443 if secure else 80)
    host_header = shown if default_port else f"{shown}:{port}"
    return Endpoint(
        url.rstrip("/"), family, address, secure, host, host_header, parts.path.rstrip("/")
    )


@lru_cache(maxsize=16)
def ssl_context(tls: Tls) -> gssl.SSLContext:
    """One client SSLContext per TLS setting: CA file, client certificate, verification."""
    context = gssl.create_default_context(cafile=tls.ca_file)
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class SourcePool:
    """Source addresses handed out round-robin, one per new connection.

    Each (source address, destination) pair has its own ~28,000 ephemeral ports, so a
    pool of k addresses lets one host open k times as many connections to one target.
    """

    __slots__ = ("addresses", "_next")

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


class Connection:
    """An open OCPP WebSocket: ``send(text)``, ``recv() -> text``, ``close()``.

    ``recv`` and ``send`` raise :class:`Failure` (``closed_by_server``, ``reset``,
    ``protocol_error``) when the connection is lost; ``close`` never raises. A read cut
    short by a ``gevent.Timeout`` keeps what it had read for the next ``recv``.

    This one holds a plain non-blocking socket (no gevent socket object: its Python
    wrappers and watchers cost more than the rest of an idle connection) and waits on
    one libev read watcher, which also serves :meth:`park`.
    """

    __slots__ = ("_buffer", "_sock", "_watcher", "subprotocol")

    def __init__(self, sock: Any, subprotocol: str | None) -> None:
        self._sock = sock
        self.subprotocol = subprotocol
        self._buffer = b""  # bytes read but not yet consumed; b"" most of the time
        self._watcher: Any = get_hub().loop.io(sock.fileno(), 1)  # readable

    def park(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` (in the hub) once the socket is readable; False if it already is.

        Lets a charge point wait with no greenlet. ``unpark`` stops the watcher.
        """
        if self._buffer or self._watcher is None or self._pending_tls():
            return False
        self._watcher.start(callback)
        return True

    def unpark(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def send(self, text: str) -> None:
        try:
            self._send_bytes(_frame(ABNF.OPCODE_TEXT, text.encode("utf-8")))
        except Exception as exc:
            raise map_exception(exc, connecting=False) from None

    def recv(self) -> str:
        fragments: list[bytes] | None = None
        while True:
            fin, opcode, payload = self._read_frame()
            if opcode == ABNF.OPCODE_TEXT or opcode == ABNF.OPCODE_CONT:
                if fin and fragments is None:
                    return _text(payload)
                fragments = (fragments or []) + [payload]
                if fin:
                    return _text(b"".join(fragments))
            elif opcode == ABNF.OPCODE_PING:
                self._send_control(ABNF.OPCODE_PONG, payload)
            elif opcode == ABNF.OPCODE_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                self._send_control(ABNF.OPCODE_CLOSE, payload[:2])
                raise Failure("closed_by_server", str(code) if code else "")
            elif opcode == ABNF.OPCODE_BINARY:
                raise Failure("protocol_error", "binary frame")
            elif opcode != ABNF.OPCODE_PONG:
                raise Failure("protocol_error", "bad WebSocket frame")

    def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        watcher.stop()
        watcher.close()
        try:  # best effort: one non-blocking write of the close frame
            self._sock.send(_frame(ABNF.OPCODE_CLOSE, _CLOSE_1000))
        except Exception:
            pass
        try:
            self._sock.close()
        except Exception:
            pass

    # -- bytes --------------------------------------------------------------------------

    def _pending_tls(self) -> bool:
        return False

    def _send_bytes(self, data: bytes) -> None:
        sock = self._sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        while sent < len(data):  # the kernel's buffer is full: rare for OCPP frames
            wait_write(sock.fileno())
            try:
                sent += sock.send(data[sent:])
            except BlockingIOError:
                pass

    def _recv_bytes(self) -> bytes:
        while True:
            try:
                return self._sock.recv(READ_CHUNK)
            except BlockingIOError:
                if self._watcher is None:
                    raise Failure("closed_by_server", "connection closed") from None
                get_hub().wait(self._watcher)

    def _send_control(self, opcode: int, payload: bytes) -> None:
        try:
            self._send_bytes(_frame(opcode, payload[:125]))
        except Exception:
            pass  # the next read names the loss

    def _read_frame(self) -> tuple[int, int, bytes]:
        """The next whole frame from the buffer, reading the socket as needed."""
        while True:
            buffer = self._buffer
            size = len(buffer)
            if size >= 2:
                b1 = buffer[1]
                length = b1 & 0x7F
                start = 2
                if length == 126:
                    start = 4
                    length = int.from_bytes(buffer[2:4], "big") if size >= 4 else -1
                elif length == 127:
                    start = 10
                    length = int.from_bytes(buffer[2:10], "big") if size >= 10 else -1
                if b1 & 0x80:
                    raise Failure("protocol_error", "masked frame from the server")
                if length > MAX_MESSAGE_BYTES:
                    raise Failure("protocol_error", "frame too large")
                end = start + length
                if length >= 0 and size >= end:
                    self._buffer = buffer[end:] if size > end else b""
                    return buffer[0] >> 7, buffer[0] & 0x0F, buffer[start:end]
            self._buffer = buffer + self._read_some()

    def _read_some(self) -> bytes:
        try:
            data = self._recv_bytes()
        except Failure:
            raise
        except Exception as exc:
            raise map_exception(exc, connecting=False) from None
        if not data:
            raise Failure("closed_by_server", "connection closed")
        return data

    # -- the opening handshake ----------------------------------------------------------

    def upgrade(
        self,
        endpoint: Endpoint,
        charge_point_id: str,
        protocol: str,
        authorization: str | None = None,
    ) -> None:
        """Send the HTTP upgrade in one write and read the answer with buffered reads.

        Raises :class:`Failure` (``handshake_rejected``) on a status other than 101, a
        wrong accept key or a missing subprotocol; bytes past the answer stay buffered.
        """
        key = base64.b64encode(os.urandom(16))
        path = f"{endpoint.path}/{quote(charge_point_id, safe='')}"
        self._send_bytes(
            (
                f"GET {path} HTTP/1.1\r\nHost: {endpoint.host_header}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                f"{key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {protocol}\r\n"
                + (f"Authorization: {authorization}\r\n" if authorization else "")
                + "\r\n"
            ).encode("ascii")
        )
        answer = b""
        while (end := answer.find(b"\r\n\r\n")) < 0:
            data = self._recv_bytes()
            if not data:
                raise websocket.WebSocketConnectionClosedException("closed during the upgrade")
            answer += data
            if len(answer) > MAX_MESSAGE_BYTES:
                raise Failure("handshake_rejected", "upgrade answer too large")
        self._buffer = answer[end + 4 :]
        status_line, *lines = answer[:end].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise Failure("handshake_rejected", "bad upgrade response")
        if parts[1] != "101":
            raise Failure("handshake_rejected", f"HTTP {parts[1]}")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise Failure("handshake_rejected", "bad Sec-WebSocket-Accept")
        if headers.get("sec-websocket-protocol") != protocol:
            raise Failure("handshake_rejected", f"subprotocol {protocol} not accepted")


class TlsConnection(Connection):
    """A :class:`Connection` over gevent's ``SSLSocket`` (wss://)."""

    __slots__ = ()

    def _pending_tls(self) -> bool:
        return bool(self._sock.pending())

    def _send_bytes(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _recv_bytes(self) -> bytes:
        return self._sock.recv(READ_CHUNK)


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.2) with FIN set."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = os.urandom(4)
    return header + mask + ABNF.mask(mask, payload)


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("protocol_error", "text frame is not UTF-8") from None


def open_connection(
    base_url: str,
    charge_point_id: str,
    subprotocol: str,
    *,
    timeout_s: float,
    tls: Tls | None = None,
    source: SourcePool | None = None,
    password: str | None = None,
) -> Connection:
    """Connect, upgrade and check the subprotocol; raises :class:`Failure`.

    ``timeout_s`` bounds the whole opening: TCP connect, TLS handshake and HTTP upgrade.
    With ``source``, the socket is bound to the pool's next address before connecting.
    With ``password``, the upgrade carries HTTP Basic auth as ``charge_point_id:password``
    (OCPP security profiles 1 and 2); it is never logged.
    """
    endpoint = resolve(base_url)
    sock = _socket.socket(endpoint.family, _socket.SOCK_STREAM)
    conn: Connection | None = None
    stage = "connect"
    timer = Timeout.start_new(timeout_s)
    try:
        sock.setblocking(False)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
        if source is not None:
            if endpoint.family == _socket.AF_INET:
                sock.setsockopt(_socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source.next(), 0))
        code = sock.connect_ex(endpoint.address)
        if code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            wait_write(sock.fileno())
            code = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        if endpoint.secure:
            stage = "tls"
            wrapped = ssl_context(tls or Tls()).wrap_socket(
                gsocket.socket(fileno=sock.detach()), server_hostname=endpoint.server_hostname
            )
            conn = TlsConnection(wrapped, subprotocol)
        else:
            conn = Connection(sock, subprotocol)
        stage = "handshake"
        authorization = None
        if password is not None:
            token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
            authorization = f"Basic {token}"
        conn.upgrade(endpoint, charge_point_id, subprotocol, authorization)
    except Timeout as timeout:
        _abandon(conn, sock)
        if timeout is not timer:
            raise
        raise Failure("connect_timeout", stage) from None
    except Exception as exc:
        _abandon(conn, sock)
        failure = map_exception(exc, connecting=True, stage=stage)
        if failure.category == "reset" and stage == "handshake" and endpoint.secure:
            # Over TLS 1.3 a server that refuses our client certificate (or lack of one)
            # closes the connection only once we send the upgrade.
            failure = Failure("handshake_rejected", "TLS connection closed during the upgrade")
        raise failure from None
    finally:
        timer.close()
    return conn


def _abandon(conn: Connection | None, sock: Any) -> None:
    """Close a connection that failed to open, without a close frame."""
    if conn is not None:
        watcher, conn._watcher = conn._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()
        conn._sock.close()
    try:
        sock.close()
    except OSError:
        pass


def map_exception(exc: BaseException, *, connecting: bool, stage: str = "") -> Failure:
    """Name an exception from connect, TLS, handshake or a read with its category."""
    if isinstance(exc, Failure):
        return exc
    if isinstance(exc, websocket.WebSocketBadStatusException):
        return Failure("handshake_rejected", f"HTTP {exc.status_code}")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        reason = getattr(exc, "reason", None) or type(exc).__name__
        if stage == "handshake" and connecting:
            # TLS 1.3 finishes the client's side before the server checks our certificate:
            # an alert while reading the upgrade answer is the server refusing us.
            return Failure("handshake_rejected", f"TLS alert: {reason}")
        return Failure("tls_error", reason)
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


@lru_cache(maxsize=16)
def source_pool(addresses: tuple[str, ...] | None, start: int = 0) -> SourcePool | None:
    """The process's pool for the config's ``source_addresses`` (None: the OS picks)."""
    return SourcePool(addresses, start) if addresses else None
