"""A client WebSocket (RFC 6455) without I/O: the opening handshake, frames, the close.

Every read path of a charge point feeds the bytes it read to one :class:`WebSocket` and
gets whole messages back; every write path sends the bytes this module returns. Nothing
here touches a socket, a clock or gevent (python-websockets' ``protocol.py`` is the
model): the engine owns the socket, and calls :meth:`ClientHandshake.receive`, then
:meth:`WebSocket.receive`, :meth:`WebSocket.data_to_send` and the ``send_*`` methods.

Two costs shape it. One ``WebSocket`` exists per held connection (100,000 per run), so
its state is a few slots, its buffer is ``b""`` between frames, and the objects a
fragmented message needs are made only when one arrives. And the common frame, one
unfragmented text frame read whole, takes a fast path: one slice and one decode.
Masking keys and handshake keys come from a pool of ``os.urandom`` bytes (RFC 6455 10.3
asks for strong entropy; one ``getrandom`` call then serves ~1,000 frames).

A frame arriving over k reads is copied k times while it is buffered: OCPP frames are
small, and the size cap bounds the worst case.
"""

from __future__ import annotations

import base64
import codecs
import functools
import hashlib
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

#: Default cap on a whole (possibly fragmented) incoming message, in bytes.
MAX_MESSAGE_BYTES = 1 << 20
#: Largest handshake answer header accepted, in bytes.
MAX_HANDSHAKE_BYTES = 16384

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

#: Close codes (RFC 6455 7.4) answered to a server's violation.
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

#: The GUID of RFC 6455 section 1.3, hashed with the key into Sec-WebSocket-Accept.
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Bytes of os.urandom drawn at a time for masking keys and handshake keys.
ENTROPY_CHUNK = 4096
_KNOWN_OPCODES = frozenset((OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG))
#: Codes a Close frame may carry (RFC 6455 7.4.1, 7.4.2 and the IANA registry to 1014).
_WIRE_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
#: The two header bytes of a masked FIN text frame of each short length (encode_text).
_TEXT_HEADERS = [bytes((0x80 | OP_TEXT, 0x80 | length)) for length in range(126)]
#: "HTTP/1.1 101 Switching Protocols"; [0-9], not \d, which matches other digits too.
_STATUS_LINE = re.compile(r"HTTP/1\.1 ([0-9]{3})(?: [^\r\n]*)?")
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class _Entropy:
    """os.urandom bytes handed out a few at a time, refilled a chunk at a time."""

    __slots__ = ("_buffer", "_at")

    def __init__(self) -> None:
        self._buffer = b""
        self._at = 0

    def forget(self) -> None:
        """Drop the unspent bytes: the next ``take`` draws a fresh chunk."""
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
os.register_at_fork(after_in_child=_ENTROPY.forget)


# -- failures ---------------------------------------------------------------------------


class WebSocketError(Exception):
    """The WebSocket cannot go on; ``detail`` is short, stable text for reports."""

    def __init__(self, detail: str, close_code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(detail)
        self.detail = detail
        #: the close code we answer with (1002 protocol error, 1007 bad UTF-8, 1009 too big)
        self.close_code = close_code


class HandshakeError(WebSocketError):
    """The server's answer to the upgrade request is not an acceptable 101."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        #: the HTTP status when the server answered one other than 101, else None
        self.status = status


class ProtocolViolation(WebSocketError):
    """The server broke RFC 6455; our Close frame with ``close_code`` is queued."""


# -- the opening handshake --------------------------------------------------------------


def handshake_request(
    host_header: str, path: str, subprotocol: str, authorization: str | None, key: bytes
) -> bytes:
    """The HTTP upgrade request (RFC 6455 4.1), as the bytes of one write.

    ``key`` is the base64 of 16 random bytes; ``path`` is already URL-safe. Raises
    ValueError for a field that would break the request (CR, LF, a space in the path,
    non-ASCII). The parts every connection to a target shares are built once.
    """
    middle, tail = _request_parts(host_header, subprotocol)
    if "\r" in path or "\n" in path or " " in path or b"\r" in key or b"\n" in key:
        raise ValueError("a handshake field holds CR, LF or (in the path) a space")
    auth = b""
    if authorization:
        if "\r" in authorization or "\n" in authorization:
            raise ValueError("a handshake field holds CR or LF")
        auth = b"Authorization: " + authorization.encode("ascii") + b"\r\n"
    return b"GET " + path.encode("ascii") + middle + key + tail + auth + b"\r\n"


@functools.lru_cache(maxsize=64)
def _request_parts(host_header: str, subprotocol: str) -> tuple[bytes, bytes]:
    """The request's text around the key, checked once per host and subprotocol."""
    if any("\r" in field or "\n" in field for field in (host_header, subprotocol)):
        raise ValueError("a handshake field holds CR or LF")
    middle = (
        f" HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: "
    )
    tail = f"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {subprotocol}\r\n"
    return middle.encode("ascii"), tail.encode("ascii")


class ClientHandshake:
    """The client's side of the opening handshake: ``request`` to send, then the answer.

    Feed the server's bytes to :meth:`receive` until it returns the bytes that followed
    the answer's header (the first frames, often ``b""``).
    """

    __slots__ = ("request", "_accept", "_subprotocol", "_buffer")

    def __init__(
        self,
        host_header: str,
        path: str,
        subprotocol: str,
        authorization: str | None = None,
        key: bytes | None = None,
    ) -> None:
        if key is None:
            key = base64.b64encode(_ENTROPY.take(16))
        #: the upgrade request, to be written in one send
        self.request = handshake_request(host_header, path, subprotocol, authorization, key)
        self._accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        self._subprotocol = subprotocol
        #: the answer read so far; None once it was judged
        self._buffer: bytes | None = b""

    def receive(self, data: bytes) -> bytes | None:
        """Feed bytes of the answer: None while its header is incomplete, then the bytes
        after it.

        Raises :class:`HandshakeError` for a status other than 101 (``status`` set), a
        malformed answer, a missing or wrong ``Sec-WebSocket-Accept``, ``Upgrade`` or
        ``Connection``, a subprotocol other than the one asked, an extension never
        asked for, a header over ``MAX_HANDSHAKE_BYTES``, or a call after the verdict.
        """
        buffer = self._buffer
        if buffer is None:
            raise HandshakeError("handshake already finished")
        searched = max(len(buffer) - 3, 0)  # the end may straddle the previous read
        buffer += data
        end = buffer.find(b"\r\n\r\n", searched)
        if end < 0:
            if len(buffer) > MAX_HANDSHAKE_BYTES:
                self._buffer = None
                raise HandshakeError("handshake answer too large")
            self._buffer = buffer
            return None
        self._buffer = None
        if end + 4 > MAX_HANDSHAKE_BYTES:
            raise HandshakeError("handshake answer too large")
        self._check(buffer[:end].decode("latin-1"))
        return buffer[end + 4 :]

    def _check(self, head: str) -> None:
        status_line, _, lines = head.partition("\r\n")
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            raise HandshakeError("malformed status line")
        status = int(match[1])
        if status != 101:
            raise HandshakeError(f"HTTP {status}", status)
        fields: dict[str, list[str]] = {}
        for line in lines.split("\r\n") if lines else ():
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HandshakeError("malformed header field")
            fields.setdefault(name.lower(), []).append(value.strip(" \t"))
        if _tokens(fields.get("upgrade")) != ["websocket"]:
            raise HandshakeError("missing Upgrade: websocket")
        if "upgrade" not in _tokens(fields.get("connection")):
            raise HandshakeError("missing Connection: upgrade")
        if fields.get("sec-websocket-accept") != [self._accept]:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        if "sec-websocket-extensions" in fields:  # RFC 6455 4.1: we asked for none
            raise HandshakeError("extension not asked for")
        if fields.get("sec-websocket-protocol") != [self._subprotocol]:
            raise HandshakeError("subprotocol not accepted")


def _tokens(values: list[str] | None) -> list[str]:
    """The lower-cased comma-separated tokens of a header's values."""
    if not values:
        return []
    return [token.strip(" \t").lower() for value in values for token in value.split(",")]


# -- frames -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """A Ping from the server (its Pong is already queued)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A Pong from the server."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The server's Close: ``code`` None when it sent none."""

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Binary:
    """A whole binary message."""

    data: bytes


#: What :meth:`WebSocket.receive` returns: a text message is a plain ``str``.
Event: TypeAlias = str | Ping | Pong | Close | Binary


def encode_text(data: bytes) -> bytes:
    """One masked FIN text frame carrying ``data``, UTF-8 bytes (not checked)."""
    length = len(data)
    mask = _ENTROPY.take(4)
    if length < 126:
        header = _TEXT_HEADERS[length]
    elif length < 65536:
        header = _HEADER_16.pack(0x80 | OP_TEXT, 0x80 | 126, length)
    else:
        header = _HEADER_64.pack(0x80 | OP_TEXT, 0x80 | 127, length)
    return header + mask + _mask(data, mask)


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """One masked client frame (RFC 6455 5.2); ``mask`` None: 4 bytes from the pool.

    Checks only what the header cannot hold: raises ValueError for an opcode outside
    0-15 or a mask that is not 4 bytes. A frame that breaks the RFC's other rules
    (a control frame over 125 bytes, say) is encoded as asked.
    """
    if not 0 <= opcode <= 15:
        raise ValueError(f"opcode {opcode} does not fit in 4 bits")
    if mask is None:
        mask = _ENTROPY.take(4)
    elif len(mask) != 4:
        raise ValueError("a masking key is 4 bytes")
    first = 0x80 | opcode if fin else opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, 0x80 | length))
    elif length < 65536:
        header = _HEADER_16.pack(first, 0x80 | 126, length)
    else:
        header = _HEADER_64.pack(first, 0x80 | 127, length)
    return header + mask + _mask(payload, mask)


def _xor_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, as two big integers (an order of
    magnitude faster in pure Python than a loop over bytes; the bound ``_from_bytes``
    and the default byte order save a third of the rest)."""
    size = len(data)
    return (_from_bytes(data) ^ _from_bytes((mask * ((size >> 2) + 1))[:size])).to_bytes(size)


_from_bytes = int.from_bytes

#: ``_mask(data, mask)``: websockets' C helper when its extension is built (3-6x faster
#: than :func:`_xor_mask` on OCPP's frames; websockets runs the reference gateway),
#: else :func:`_xor_mask`. ``tests/unit/test_wsproto.py`` holds the two equal.
_mask: Callable[[bytes, bytes], bytes]
try:
    from websockets.speedups import apply_mask as _mask
except ImportError:  # pragma: no cover - a platform without websockets' wheel
    _mask = _xor_mask


# -- an open connection -----------------------------------------------------------------


class _Message:
    """A fragmented message being received: rare, so made only when one starts."""

    __slots__ = ("decoder", "texts", "chunks", "size")

    def __init__(self, decoder: codecs.IncrementalDecoder | None, size: int) -> None:
        self.decoder = decoder  # a text message's UTF-8 decoder; None for binary
        self.texts: list[str] = []  # a text message's decoded fragments
        self.chunks: list[bytes] = []  # a binary message's fragments
        self.size = size  # payload bytes so far


class WebSocket:
    """State of an open client connection: the one incremental frame parser and the close
    handshake."""

    __slots__ = (
        "_buffer",
        "_message",
        "_max",
        "_reading",
        "outgoing",
        "close_sent",
        "close_received",
    )

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = b""  # bytes of an incomplete frame; b"" between frames
        self._message: _Message | None = None  # the fragmented message being read
        self._max = max_message_bytes
        self._reading = True  # False after a received Close or a violation
        #: frames this side queued itself (Pongs, Close answers) for data_to_send
        self.outgoing = b""
        self.close_sent = False
        self.close_received = False

    @property
    def closed(self) -> bool:
        """Whether both sides' Close frames were exchanged."""
        return self.close_sent and self.close_received

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes read from the socket; returns every message and control frame
        completed, in order (a text message as ``str``).

        Any chunking works. A Ping queues its Pong, and a Close queues our answer, in
        ``outgoing``. Raises :class:`ProtocolViolation` (its Close already queued, once)
        when the server breaks RFC 6455, dropping what this call had parsed, and for any
        bytes after a Close was received or a violation was raised. Never raises
        anything else, whatever the bytes.
        """
        if not self._reading:
            if not data:
                return []
            raise ProtocolViolation("data after close")
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        # The common frame: one unfragmented text frame, all of it in ``data``.
        if len(data) > 1 and data[0] == 0x81 and self._message is None:
            length = data[1]
            if length < 126 and len(data) == length + 2 and length <= self._max:
                try:
                    return [data[2:].decode()]
                except UnicodeDecodeError:
                    pass  # the parser names it
        return self._parse(data)

    def _parse(self, data: bytes) -> list[Event]:
        """Every whole frame in ``data``; the rest is buffered."""
        events: list[Event] = []
        size = len(data)
        at = 0  # the start of the next frame in ``data``
        while size - at >= 2:
            # The header's checks, in python-websockets' order so that a frame breaking
            # several rules gets the same close code from both.
            first, second = data[at], data[at + 1]
            opcode = first & 0x0F
            if opcode not in _KNOWN_OPCODES:
                raise self._fail("unknown opcode")
            if second & 0x80:
                raise self._fail("masked frame from the server")
            length = second & 0x7F
            start = at + 2
            if length == 126:
                start += 2
                if size < start:
                    break
                length = int.from_bytes(data[at + 2 : start], "big")
            elif length == 127:
                start += 8
                if size < start:
                    break
                length = int.from_bytes(data[at + 2 : start], "big")
                if length >> 63:
                    raise self._fail("frame length out of range")
            message = self._message
            # The cap, before any payload is buffered: on the frame, and on the message
            # a data frame adds to (python-websockets counts an open message's bytes
            # against a control frame too; that differs only within 125 bytes of it).
            total = length + message.size if message is not None and opcode < OP_CLOSE else length
            if total > self._max:
                raise self._fail("message too big", CLOSE_MESSAGE_TOO_BIG)
            if first & 0x70:
                raise self._fail("RSV bits set")
            fin = first & 0x80
            if opcode >= OP_CLOSE:
                if length > 125:
                    raise self._fail("control frame too long")
                if not fin:
                    raise self._fail("fragmented control frame")
            elif opcode == OP_CONT:
                if message is None:
                    raise self._fail("unexpected continuation frame")
            elif message is not None:
                raise self._fail("expected a continuation frame")
            end = start + length
            if size < end:
                break
            payload = data[start:end]
            at = end
            if opcode == OP_TEXT or opcode == OP_BINARY or opcode == OP_CONT:
                event = self._data_frame(opcode, bool(fin), payload)
                if event is not None:
                    events.append(event)
            elif opcode == OP_PING:
                events.append(Ping(payload))
                if not self.close_sent:
                    self.outgoing += encode_frame(OP_PONG, payload)
            elif opcode == OP_PONG:
                events.append(Pong(payload))
            else:
                events.append(self._close_frame(payload))
                if at < size:
                    raise self._fail("data after close")
                return events
        self._buffer = data[at:] if at < size else b""
        return events

    def _data_frame(self, opcode: int, fin: bool, payload: bytes) -> Event | None:
        """The message a checked data frame completes, or None while it is unfinished."""
        message = self._message
        try:
            if opcode == OP_TEXT:
                if fin:
                    return payload.decode()
                decoder = _Utf8Decoder()
                message = self._message = _Message(decoder, len(payload))
                # Decoded fragment by fragment, so a bad first fragment fails at once.
                message.texts.append(decoder.decode(payload))
                return None
            if opcode == OP_BINARY:
                if fin:
                    return Binary(payload)
                message = self._message = _Message(None, len(payload))
                message.chunks.append(payload)
                return None
            assert message is not None  # checked with the header
            message.size += len(payload)
            if message.decoder is not None:
                message.texts.append(message.decoder.decode(payload, fin))
            else:
                message.chunks.append(payload)
        except UnicodeDecodeError:
            raise self._fail("invalid UTF-8", CLOSE_INVALID_DATA) from None
        if not fin:
            return None
        self._message = None
        if message.decoder is not None:
            return "".join(message.texts)
        return Binary(b"".join(message.chunks))

    def _close_frame(self, payload: bytes) -> Close:
        """Check the server's Close, queue our answer (once) and stop reading."""
        code: int | None = None
        reason = ""
        if len(payload) == 1:
            raise self._fail("close frame too short")
        if payload:
            code = int.from_bytes(payload[:2], "big")
            try:  # the reason first, as python-websockets does
                reason = payload[2:].decode()
            except UnicodeDecodeError:
                raise self._fail("invalid UTF-8 in close reason", CLOSE_INVALID_DATA) from None
            if code not in _WIRE_CLOSE_CODES and not 3000 <= code < 5000:
                raise self._fail("invalid close code")
        # A fragmented message cut short by the Close is dropped (RFC 6455 5.4 lets
        # control frames come between fragments).
        self._message = None
        self._buffer = b""
        self._reading = False
        self.close_received = True
        if not self.close_sent:  # RFC 6455 5.5.1: echo the code (none for none)
            self.close_sent = True
            self.outgoing += encode_frame(OP_CLOSE, payload[:2])
        return Close(code, reason)

    def _fail(self, detail: str, close_code: int = CLOSE_PROTOCOL_ERROR) -> ProtocolViolation:
        """Stop reading, queue our Close with ``close_code`` (once) and name the violation."""
        self._reading = False
        self._buffer = b""
        self._message = None
        if not self.close_sent:
            self.close_sent = True
            reason = close_code.to_bytes(2, "big") + detail.encode()
            self.outgoing += encode_frame(OP_CLOSE, reason)
        return ProtocolViolation(detail, close_code)

    def send_text(self, data: bytes) -> bytes:
        """The frame carrying text message ``data`` (UTF-8 bytes), for the caller to write.

        Raises :class:`WebSocketError` ("closing") once our Close was sent.
        """
        if self.close_sent:
            raise WebSocketError("closing")
        return encode_text(data)

    def send_ping(self, payload: bytes = b"") -> bytes:
        """A Ping frame; raises WebSocketError ("closing") once our Close was sent, and
        ValueError for a payload over 125 bytes."""
        if self.close_sent:
            raise WebSocketError("closing")
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        return encode_frame(OP_PING, payload)

    def send_close(self, code: int = 1000, reason: str = "") -> bytes:
        """Our Close frame, or b"" when one was already sent (it is sent once).

        Raises ValueError for a code not allowed on the wire or a reason over 123 bytes.
        """
        if self.close_sent:
            return b""
        if code not in _WIRE_CLOSE_CODES and not 3000 <= code < 5000:
            raise ValueError(f"close code {code} is not allowed on the wire")
        payload = code.to_bytes(2, "big") + reason.encode()
        if len(payload) > 125:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")
        self.close_sent = True
        return encode_frame(OP_CLOSE, payload)

    def data_to_send(self) -> bytes:
        """Take the frames this side queued (Pongs, Close answers); b"" when none."""
        data, self.outgoing = self.outgoing, b""
        return data
