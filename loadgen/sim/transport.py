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
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

import websocket
from gevent import Timeout, get_hub
from gevent import socket as gsocket
from gevent import ssl as gssl
from gevent.event import AsyncResult
from gevent.hub import Waiter
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
#: Linux: let connect() pick the source port for the 4-tuple after bind((addr, 0)).
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_CLOSE_1000 = struct.pack("!H", 1000)
#: Bytes of os.urandom drawn at a time for masking keys and handshake keys (RFC 6455
#: asks for strong entropy; one getrandom call then serves ~1,000 frames).
ENTROPY_CHUNK = 4096
_HEADER_SMALL = struct.Struct("!BB")
#: libev io watcher events
_READ, _WRITE = 1, 2
#: charge point ids that need no percent-encoding in the URL path
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


class _Entropy:
    """os.urandom bytes handed out a few at a time, refilled a chunk at a time."""

    __slots__ = ("_buffer", "_at")

    def __init__(self) -> None:
        self._buffer = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        at = self._at
        if at + count > len(self._buffer):
            self._buffer, at = os.urandom(ENTROPY_CHUNK), 0
        self._at = at + count
        return self._buffer[at : at + count]


_ENTROPY = _Entropy()
# A forked worker (Locust's --processes) must not reuse its parent's unspent bytes.
os.register_at_fork(after_in_child=_ENTROPY.__init__)


def wait_on(watcher: Any, deadline: float | None) -> bool:
    """Wait in the hub until ``watcher`` (an io watcher) fires; False at ``deadline``.

    ``deadline`` is a ``time.monotonic()`` time, or None to wait without one. One
    ``Waiter`` and, with a deadline, one libev timer: cheaper than a ``gevent.Timeout``
    (an exception object, started and closed around every read).
    """
    hub = get_hub()
    timer = None
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        timer = hub.loop.timer(left)
    waiter = Waiter(hub)
    watcher.start(waiter.switch, True)
    try:
        if timer is not None:
            timer.start(waiter.switch, False)
        return waiter.get()
    finally:
        watcher.stop()
        if timer is not None:
            timer.close()


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


#: Endpoints resolved so far, by URL, and resolutions under way (one per URL at a time).
_endpoints: dict[str, Endpoint] = {}
_resolving: dict[str, AsyncResult] = {}


def resolve(url: str) -> Endpoint:
    """Resolve ``url``'s host once per process; raises ``Failure('dns_error')``.

    Charge points that start while the first lookup is under way wait for it and share
    its answer, success or failure, rather than each asking the resolver's threads: the
    first burst of a ramp would otherwise make one lookup per charge point. A failure
    is not kept: the next charge point to connect tries again.
    """
    endpoint = _endpoints.get(url)
    if endpoint is not None:
        return endpoint
    under_way = _resolving.get(url)
    if under_way is not None:
        try:
            shared = under_way.get()
        except Failure as failure:  # each waiter raises its own, with its own traceback
            raise Failure(failure.category, failure.detail) from None
        return shared if shared is not None else resolve(url)  # None: it was interrupted
    under_way = _resolving[url] = AsyncResult()
    try:
        endpoint = _lookup(url)
    except Failure as failure:
        under_way.set_exception(failure)
        raise
    except BaseException:  # killed while resolving: a waiter looks the name up itself
        under_way.set(None)
        raise
    finally:
        del _resolving[url]
    if len(_endpoints) >= 16:  # a process talks to one target, rarely a few
        _endpoints.clear()
    _endpoints[url] = endpoint
    under_way.set(endpoint)
    return endpoint


def _lookup(url: str) -> Endpoint:
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
    short by its timeout (or a ``gevent.Timeout``) keeps what it had read for the next
    ``recv``.

    This one holds a plain non-blocking socket (no gevent socket object: its Python
    wrappers and watchers cost more than the rest of an idle connection) and waits on
    one libev read watcher, which also serves :meth:`park`.

    A parked charge point's hub callbacks use :meth:`send_nowait` and
    :meth:`take_nowait`, which never wait: what they cannot finish (bytes the kernel did
    not take, the end of the stream, a read error) is kept here for the blocking
    ``send`` and ``recv`` of the charge point's greenlet, in order.
    """

    __slots__ = ("_buffer", "_end", "_partial", "_sock", "_unsent", "_watcher", "subprotocol")

    #: whether :meth:`send_nowait` and :meth:`take_nowait` work (not over TLS)
    inline = True

    def __init__(self, sock: Any, subprotocol: str | None, watcher: Any = None) -> None:
        self._sock = sock
        self.subprotocol = subprotocol
        self._buffer = b""  # bytes read but not yet consumed; b"" most of the time
        self._partial: list[bytes] | None = None  # fragments of a message being read
        self._unsent = b""  # frame bytes send_nowait could not hand to the kernel
        #: what a non-blocking read met after the buffered bytes: b"" (the end of the
        #: stream) or the OSError; the blocking read returns or raises it in turn
        self._end: bytes | OSError | None = None
        #: the read watcher (one that waited for the connect is reused, set to read)
        if watcher is None:
            watcher = get_hub().loop.io(sock.fileno(), _READ)
        else:
            watcher.events = _READ
        self._watcher: Any = watcher

    def park(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` (in the hub) once the socket is readable; False if it already is.

        Lets a charge point wait with no greenlet. ``unpark`` stops the watcher.
        """
        if self._buffer or self._unsent or self._end is not None or self._watcher is None:
            return False
        if self._pending_tls():
            return False
        self._watcher.start(callback)
        return True

    def unpark(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def needs_greenlet(self) -> bool:
        """Whether ``send_nowait`` or ``take_nowait`` left work for the blocking side."""
        return bool(self._unsent) or self._end is not None

    def send(self, text: str | bytes) -> None:
        """Send one text frame: ``text`` as str, or already encoded as UTF-8 bytes."""
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        try:
            self._send_bytes(_frame(ABNF.OPCODE_TEXT, data))
        except Exception as exc:
            raise map_exception(exc, connecting=False) from None

    def send_nowait(self, text: str | bytes) -> bool:
        """Send one text frame without waiting, from a hub callback: True once the kernel
        took all of it.

        Otherwise (its buffer is full, or the send failed) the frame's rest is kept and
        sent first by the next blocking ``send`` or ``recv``, and a failure is raised
        there: the caller hands the connection back to a greenlet.
        """
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        frame = _frame(ABNF.OPCODE_TEXT, data)
        if self._unsent or self._end is not None:
            self._unsent += frame
            return False
        try:
            sent = self._sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._end, sent = exc, 0
        if sent == len(frame):
            return True
        self._unsent = frame[sent:]
        return False

    def take_nowait(self, read: bool) -> str | bool | None:
        """The next whole text message without waiting, from a hub callback.

        With ``read``, one non-blocking read of the socket comes first. Returns None
        when no whole message is buffered, and False when the next thing to read needs
        the blocking ``recv`` of a greenlet: a control, binary or fragmented frame, a
        frame it rejects, the end of the stream or a read error (kept for it).
        """
        if self._partial is not None or self._unsent or self._end is not None:
            return False
        buffer = self._buffer
        try:
            bounds = _frame_bounds(buffer)
            if bounds is None and read:
                try:
                    data = self._sock.recv(READ_CHUNK)
                except BlockingIOError:
                    return None
                except OSError as exc:
                    self._end = exc
                    return False
                if not data:
                    self._end = b""
                    return False
                buffer = self._buffer = buffer + data
                bounds = _frame_bounds(buffer)
        except Failure:
            return False  # recv names it
        if bounds is None:
            return None
        head, start, end = bounds
        if head != 0x80 | ABNF.OPCODE_TEXT:
            return False
        try:
            text = buffer[start:end].decode("utf-8")
        except UnicodeDecodeError:
            return False  # recv names it
        self._buffer = buffer[end:] if len(buffer) > end else b""
        return text

    def recv(self, timeout_s: float | None = None) -> str | None:
        """The next text message; None when ``timeout_s`` passes first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        # The first parts of a fragmented message outlive a read that timed out.
        fragments, self._partial = self._partial, None
        while True:
            try:
                frame = self._read_frame(deadline)
            except BaseException:
                self._partial = fragments
                raise
            if frame is None:
                self._partial = fragments
                return None
            fin, opcode, payload = frame
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
            if not self._unsent:  # not after a frame's first part
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
        """Send ``data`` after what is already queued, waiting while the kernel's buffer
        is full (rare for OCPP frames).

        Every writer (a greenlet here, another one waiting here, ``send_nowait`` in a
        hub callback) takes its turn through ``_unsent``, and nothing yields between a
        send and taking its bytes off the queue: frames never interleave.
        """
        unsent = self._unsent + data if self._unsent else data
        sock = self._sock
        while unsent:
            try:
                sent = sock.send(unsent)
            except BlockingIOError:
                sent = 0
            unsent = self._unsent = unsent[sent:]
            if unsent:
                wait_write(sock.fileno())
                unsent = self._unsent  # others may have queued or sent meanwhile

    def flush(self) -> None:
        """Send what ``send_nowait`` left queued, waiting as needed."""
        try:
            self._send_bytes(b"")
        except Exception as exc:
            raise map_exception(exc, connecting=False) from None

    def _send_once_connected(self, data: bytes, deadline: float | None) -> bytes:
        """Send what the socket takes once its TCP connect completes; returns the rest.

        A send on a socket still connecting fails with EAGAIN (then it waits to be
        writable, that is connected) or with the connect's own error (refused,
        unreachable), which the caller maps.
        """
        sock = self._sock
        while True:
            try:
                return data[sock.send(data) :]
            except BlockingIOError:
                watcher = get_hub().loop.io(sock.fileno(), _WRITE)
                try:
                    if not wait_on(watcher, deadline):
                        raise Failure("connect_timeout", "connect") from None
                finally:
                    watcher.close()

    def _recv_bytes(self, deadline: float | None = None) -> bytes | None:
        """Bytes from the socket (b"" at its end), or None once ``deadline`` passed.

        Called when the buffer lacks a whole frame, so an answer is usually still on its
        way: it waits for the socket first (epoll is level-triggered, so data already
        there wakes it at once) rather than paying a failing ``recv`` and its exception.
        """
        if self._unsent:
            self._send_bytes(b"")
        end = self._end
        if end is not None:
            if isinstance(end, OSError):
                raise end
            return end
        sock = self._sock
        while True:
            watcher = self._watcher
            if watcher is None:
                raise Failure("closed_by_server", "connection closed")
            if not wait_on(watcher, deadline):
                try:  # a last look once the deadline passed
                    return sock.recv(READ_CHUNK)
                except BlockingIOError:
                    return None
            try:
                return sock.recv(READ_CHUNK)
            except BlockingIOError:  # woken, yet nothing to read: wait again
                pass

    def _send_control(self, opcode: int, payload: bytes) -> None:
        try:
            self._send_bytes(_frame(opcode, payload[:125]))
        except Exception:
            pass  # the next read names the loss

    def _read_frame(self, deadline: float | None = None) -> tuple[int, int, bytes] | None:
        """The next whole frame from the buffer, reading the socket as needed.

        None once ``deadline`` passed; the bytes read so far stay in the buffer.
        """
        while True:
            buffer = self._buffer
            bounds = _frame_bounds(buffer)
            if bounds is not None:
                head, start, end = bounds
                self._buffer = buffer[end:] if len(buffer) > end else b""
                return head >> 7, head & 0x0F, buffer[start:end]
            try:
                data = self._recv_bytes(deadline)
            except Failure:
                raise
            except Exception as exc:
                raise map_exception(exc, connecting=False) from None
            if data is None:
                return None
            if not data:
                raise Failure("closed_by_server", "connection closed")
            self._buffer = buffer + data

    # -- the opening handshake ----------------------------------------------------------

    def upgrade(
        self,
        endpoint: Endpoint,
        charge_point_id: str,
        protocol: str,
        authorization: str | None = None,
        deadline: float | None = None,
        connecting: bool = False,
    ) -> None:
        """Send the HTTP upgrade in one write and read the answer with buffered reads.

        Raises :class:`Failure` (``handshake_rejected``) on a status other than 101, a
        wrong accept key or a missing subprotocol, ``connect_timeout`` once ``deadline``
        (``time.monotonic()``) passes; bytes past the answer stay buffered. With
        ``connecting``, the TCP connect may still be under way: a send that would block
        waits for it (``connect_timeout`` with stage ``connect`` at the deadline).
        """
        key = base64.b64encode(_ENTROPY.take(16))
        quoted = charge_point_id if _URL_SAFE.fullmatch(charge_point_id) else None
        path = f"{endpoint.path}/{quoted or quote(charge_point_id, safe='')}"
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {endpoint.host_header}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
            f"{key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n"
            + (f"Authorization: {authorization}\r\n" if authorization else "")
            + "\r\n"
        ).encode("ascii")
        if connecting:
            request = self._send_once_connected(request, deadline)
        self._send_bytes(request)
        answer = b""
        while (end := answer.find(b"\r\n\r\n")) < 0:
            data = self._recv_bytes(deadline)
            if data is None:
                raise Failure("connect_timeout", "handshake")
            if not data:
                raise websocket.WebSocketConnectionClosedException("closed during the upgrade")
            answer += data
            if len(answer) > MAX_MESSAGE_BYTES:
                raise Failure("handshake_rejected", "upgrade answer too large")
        self._buffer = answer[end + 4 :]
        head = answer[:end].decode("latin-1")
        status_line, _, fields = head.partition("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise Failure("handshake_rejected", "bad upgrade response")
        if parts[1] != "101":
            raise Failure("handshake_rejected", f"HTTP {parts[1]}")
        fields = "\r\n" + fields
        lowered = fields.lower()  # same length: latin-1 letters lower to one letter
        expected = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        if _field(fields, lowered, "sec-websocket-accept") != expected:
            raise Failure("handshake_rejected", "bad Sec-WebSocket-Accept")
        if _field(fields, lowered, "sec-websocket-protocol") != protocol:
            raise Failure("handshake_rejected", f"subprotocol {protocol} not accepted")


def _field(fields: str, lowered: str, name: str) -> str | None:
    """The first value of header ``name`` (lower case) in ``fields`` ("\r\nName: value"...)."""
    at = lowered.find(f"\r\n{name}:")
    if at < 0:
        return None
    start = at + len(name) + 3
    stop = fields.find("\r\n", start)
    return fields[start : stop if stop >= 0 else len(fields)].strip()


class TlsConnection(Connection):
    """A :class:`Connection` over gevent's ``SSLSocket`` (wss://)."""

    __slots__ = ()

    inline = False

    def _pending_tls(self) -> bool:
        return bool(self._sock.pending())

    def _send_bytes(self, data: bytes) -> None:
        self._sock.sendall(data)

    def _recv_bytes(self, deadline: float | None = None) -> bytes | None:
        if deadline is None:
            return self._sock.recv(READ_CHUNK)
        left = deadline - time.monotonic()
        if left <= 0 and not self._sock.pending():
            return None
        with Timeout(max(left, 0.0), False):  # returns None when it passes
            return self._sock.recv(READ_CHUNK)
        return None


def _frame_bounds(buffer: bytes) -> tuple[int, int, int] | None:
    """The first byte, payload start and end of the whole frame at the start of
    ``buffer``; None while it is incomplete. Raises :class:`Failure` for a masked or
    oversized frame."""
    size = len(buffer)
    if size < 2:
        return None
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
    if length < 0 or size < end:
        return None
    return buffer[0], start, end


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.2) with FIN set."""
    length = len(payload)
    if length < 126:
        header = _HEADER_SMALL.pack(0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = _HEADER_16.pack(0x80 | opcode, 0x80 | 126, length)
    else:
        header = _HEADER_64.pack(0x80 | opcode, 0x80 | 127, length)
    mask = _ENTROPY.take(4)
    return header + mask + _mask(mask, payload)


def _mask(mask: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (websocket-client's ``_mask``
    without ``ABNF.mask``'s two array copies)."""
    size = len(data)
    key = mask * (size >> 2) + mask[: size & 3]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


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
    # Non-blocking from the start: no separate fcntl/ioctl calls to set it.
    sock = _socket.socket(endpoint.family, _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK)
    conn: Connection | None = None
    watcher: Any = None
    stage = "connect"
    # Plain sockets wait on their own watcher with a deadline; a gevent Timeout (an
    # exception object, started and closed per connection) bounds only the TLS path.
    deadline = time.monotonic() + timeout_s
    timer = Timeout.start_new(timeout_s) if endpoint.secure else None
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        if source is not None:
            if endpoint.family == _socket.AF_INET:
                sock.setsockopt(_socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source.next(), 0))
        code = sock.connect_ex(endpoint.address)
        connecting = code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN)
        if connecting and not endpoint.secure:
            # The upgrade request goes out at once: on loopback the TCP handshake is
            # usually done when connect() returns, and if it is not, the send says so
            # and waits for it (see Connection.upgrade). One wait saved per connection.
            code = 0
        elif connecting:
            watcher = get_hub().loop.io(sock.fileno(), _WRITE)
            if not wait_on(watcher, deadline):
                raise Failure("connect_timeout", stage)
            code = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
        if endpoint.secure:
            stage = "tls"
            if watcher is not None:
                watcher.close()
                watcher = None
            wrapped = ssl_context(tls or Tls()).wrap_socket(
                gsocket.socket(fileno=sock.detach()), server_hostname=endpoint.server_hostname
            )
            conn = TlsConnection(wrapped, subprotocol)
        else:
            conn, watcher = Connection(sock, subprotocol, watcher), None
        stage = "handshake"
        authorization = None
        if password is not None:
            token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode("ascii")
            authorization = f"Basic {token}"
        conn.upgrade(endpoint, charge_point_id, subprotocol, authorization, deadline, connecting)
    except Timeout as timeout:
        _abandon(conn, sock, watcher)
        if timeout is not timer:
            raise
        raise Failure("connect_timeout", stage) from None
    except Exception as exc:
        _abandon(conn, sock, watcher)
        failure = map_exception(exc, connecting=True, stage=stage)
        if failure.category == "reset" and stage == "handshake" and endpoint.secure:
            # Over TLS 1.3 a server that refuses our client certificate (or lack of one)
            # closes the connection only once we send the upgrade.
            failure = Failure("handshake_rejected", "TLS connection closed during the upgrade")
        raise failure from None
    except BaseException:  # killed while opening: close what was opened
        _abandon(conn, sock, watcher)
        raise
    finally:
        if timer is not None:
            timer.close()
    return conn


def _abandon(conn: Connection | None, sock: Any, watcher: Any = None) -> None:
    """Close a connection that failed to open, without a close frame."""
    if watcher is not None:
        watcher.close()
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
