"""Tests of the sans-I/O client WebSocket: its rules, and differential runs against
python-websockets' own sans-I/O protocol (an independent implementation of RFC 6455)."""

from __future__ import annotations

import base64
import codecs
import hashlib
import os
import struct
import sys
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from loadgen.sim import wsproto
from loadgen.sim.wsproto import (
    MAX_HANDSHAKE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Binary,
    ClientHandshake,
    Close,
    HandshakeError,
    Ping,
    Pong,
    ProtocolViolation,
    WebSocket,
    WebSocketError,
    encode_frame,
    encode_text,
    handshake_request,
)

#: hypothesis runs bounded so the whole file takes seconds
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- helpers ---------------------------------------------------------------------------


def server_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    length: int | None = None,
    width: int | None = None,
    mask: bytes | None = None,
) -> bytes:
    """A frame as a server writes it (unmasked unless ``mask``), with any header bits.

    ``length`` overrides the declared length; ``width`` forces the length's encoding
    (7, 16 or 64 bits) whatever the length.
    """
    declared = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if mask is not None else 0
    if width is None:
        width = 7 if declared < 126 else 16 if declared < 65536 else 64
    if width == 7:
        header = bytes((first, bit | declared))
    elif width == 16:
        header = struct.pack("!BBH", first, bit | 126, declared)
    else:
        header = struct.pack("!BBQ", first, bit | 127, declared)
    if mask is not None:
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return header + mask + masked
    return header + payload


@dataclass
class SentFrame:
    fin: bool
    opcode: int
    payload: bytes


def client_frames(data: bytes) -> list[SentFrame]:
    """Read the masked frames a client wrote (a reader written separately from ours)."""
    frames = []
    at = 0
    while at < len(data):
        first, second = data[at], data[at + 1]
        assert second & 0x80, "client frames are masked"
        length, at = second & 0x7F, at + 2
        if length == 126:
            (length,), at = struct.unpack("!H", data[at : at + 2]), at + 2
        elif length == 127:
            (length,), at = struct.unpack("!Q", data[at : at + 8]), at + 8
        mask, at = data[at : at + 4], at + 4
        body = data[at : at + length]
        assert len(body) == length
        at += length
        frames.append(SentFrame(bool(first & 0x80), first & 0x0F, unmask(mask, body)))
    return frames


def unmask(mask: bytes, body: bytes) -> bytes:
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(body))


def closes_in(data: bytes) -> list[bytes]:
    """The payloads of the Close frames in client bytes ``data``."""
    return [frame.payload for frame in client_frames(data) if frame.opcode == OP_CLOSE]


def feed(ws: WebSocket, data: bytes, cuts: list[int] | None = None) -> list[object]:
    """Feed ``data`` to ``ws`` cut at ``cuts`` (offsets); all events in order."""
    events: list[object] = []
    start = 0
    for cut in sorted(set(cuts or [])) + [len(data)]:
        if start <= cut:
            events += ws.receive(data[start:cut])
            start = cut
    return events


def open_server(subprotocols: list[str] | None = None) -> tuple[ServerProtocol, bytes]:
    """A websockets ServerProtocol opened by our handshake request; and its answer."""
    client = ClientHandshake("cs.example:9000", "/ocpp/CP-1", "ocpp1.6")
    server = ServerProtocol(subprotocols=subprotocols or ["ocpp1.6"], max_size=None)
    server.receive_data(client.request)
    (request,) = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    answer = b"".join(server.data_to_send())
    assert client.receive(answer) == b""
    assert server.state is State.OPEN
    return server, answer


def opened_client(max_size: int | None = wsproto.MAX_MESSAGE_BYTES) -> ClientProtocol:
    """A websockets ClientProtocol in the OPEN state: its parser reads server frames."""
    return ClientProtocol(
        parse_uri("ws://cs.example/ocpp/CP-1"), state=State.OPEN, max_size=max_size
    )


def answer_101(key: bytes, extra: str = "", *, accept: str | None = None) -> bytes:
    """A server's 101 answer to ``key``, with ``extra`` header lines."""
    if accept is None:
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode("latin-1")


KEY = base64.b64encode(b"0123456789abcdef")
PROTO = "Sec-WebSocket-Protocol: ocpp1.6\r\n"


# -- reading messages ------------------------------------------------------------------


def test_single_text_frame_is_a_str() -> None:
    """One unfragmented text frame read whole comes back as a plain str, buffer empty."""
    ws = WebSocket()
    text = '[2,"1","Heartbeat",{}] é✓'
    assert ws.receive(server_frame(OP_TEXT, text.encode())) == [text]
    assert ws._buffer == b""


def test_one_byte_at_a_time() -> None:
    """Frames fed one byte per call give the same messages as when fed whole."""
    data = (
        server_frame(OP_TEXT, "héllo".encode())
        + server_frame(OP_BINARY, b"\x00" * 300)
        + server_frame(OP_TEXT, b"a" * 70000)
        + server_frame(OP_PONG, b"p")
    )
    whole = WebSocket().receive(data)
    ws = WebSocket()
    assert feed(ws, data, list(range(len(data)))) == whole
    assert whole == ["héllo", Binary(b"\x00" * 300), "a" * 70000, Pong(b"p")]


def test_fragmented_messages_with_a_ping_between() -> None:
    """Fragments are joined (text across a split character), a Ping between them answered."""
    snow = "☃".encode()  # three bytes, split across fragments
    data = (
        server_frame(OP_TEXT, b"ab" + snow[:1], fin=False)
        + server_frame(OP_PING, b"hb")
        + server_frame(OP_CONT, snow[1:], fin=False)
        + server_frame(OP_CONT, b"cd")
        + server_frame(OP_BINARY, b"\x01", fin=False)
        + server_frame(OP_CONT, b"\x02")
    )
    ws = WebSocket()
    assert ws.receive(data) == [Ping(b"hb"), "ab☃cd", Binary(b"\x01\x02")]
    assert ws._message is None
    sent = client_frames(ws.data_to_send())
    assert [(f.opcode, f.payload) for f in sent] == [(OP_PONG, b"hb")]


def test_ping_queues_pong_and_data_to_send_drains() -> None:
    """Each Ping queues one Pong with its payload; data_to_send empties the queue."""
    ws = WebSocket()
    assert ws.receive(server_frame(OP_PING, b"1") + server_frame(OP_PING)) == [
        Ping(b"1"),
        Ping(b""),
    ]
    sent = client_frames(ws.data_to_send())
    assert [(f.fin, f.opcode, f.payload) for f in sent] == [
        (True, OP_PONG, b"1"),
        (True, OP_PONG, b""),
    ]
    assert ws.data_to_send() == b""


def test_close_is_answered_once_with_its_code() -> None:
    """A Close is echoed with its code (not its reason) once, and sets close_received."""
    ws = WebSocket()
    events = ws.receive(server_frame(OP_CLOSE, struct.pack("!H", 1001) + "bye ✓".encode()))
    assert events == [Close(1001, "bye ✓")]
    assert ws.close_received and ws.close_sent and ws.closed
    assert closes_in(ws.data_to_send()) == [struct.pack("!H", 1001)]
    assert ws.send_close() == b""
    with pytest.raises(ProtocolViolation, match="data after close"):
        ws.receive(server_frame(OP_CLOSE))
    assert ws.data_to_send() == b""


def test_empty_close_is_answered_with_an_empty_close() -> None:
    """A Close without a code is answered by a Close without one (RFC 6455 5.5.1)."""
    ws = WebSocket()
    assert ws.receive(server_frame(OP_CLOSE)) == [Close(None, "")]
    assert closes_in(ws.data_to_send()) == [b""]


def test_close_after_ours_is_not_answered() -> None:
    """The server's Close after ours completes the handshake without a second Close."""
    ws = WebSocket()
    assert closes_in(ws.send_close(1000, "done")) == [struct.pack("!H", 1000) + b"done"]
    assert ws.close_sent and not ws.closed
    assert ws.receive(server_frame(OP_TEXT, b"late")) == ["late"]
    assert ws.receive(server_frame(OP_CLOSE, struct.pack("!H", 1000))) == [Close(1000, "")]
    assert ws.closed
    assert ws.data_to_send() == b""


def test_ping_after_our_close_is_not_answered() -> None:
    """Once our Close is sent nothing more is queued: a Ping is reported but not ponged."""
    ws = WebSocket()
    ws.send_close()
    assert ws.receive(server_frame(OP_PING, b"x")) == [Ping(b"x")]
    assert ws.data_to_send() == b""


def test_close_between_fragments_drops_the_message() -> None:
    """A Close between fragments (control frames may come between them) ends the message."""
    ws = WebSocket()
    data = server_frame(OP_TEXT, b"half", fin=False) + server_frame(OP_CLOSE, b"\x03\xe8")
    assert ws.receive(data) == [Close(1000, "")]
    assert ws._message is None and ws.close_received


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1010, 1014, 3000, 4999])
def test_close_codes_allowed_on_the_wire(code: int) -> None:
    """Every code RFC 6455 7.4 allows in a Close frame is accepted and echoed."""
    ws = WebSocket()
    assert ws.receive(server_frame(OP_CLOSE, struct.pack("!H", code))) == [Close(code, "")]
    assert closes_in(ws.data_to_send()) == [struct.pack("!H", code)]


def test_lengths_in_16_and_64_bits() -> None:
    """Payloads of 126, 65535 and 65536 bytes use each length encoding and read back."""
    for size in (126, 65535, 65536):
        assert WebSocket().receive(server_frame(OP_BINARY, b"z" * size)) == [Binary(b"z" * size)]
    # A non-minimal length encoding is not rejected (neither is it by python-websockets).
    assert WebSocket().receive(server_frame(OP_TEXT, b"hi", width=64)) == ["hi"]


def test_message_at_the_cap_is_accepted() -> None:
    """A message of exactly max_message_bytes, whole or in fragments, is accepted."""
    ws = WebSocket(max_message_bytes=10)
    data = server_frame(OP_TEXT, b"12345", fin=False) + server_frame(OP_CONT, b"67890")
    assert ws.receive(data + server_frame(OP_TEXT, b"x" * 10)) == ["1234567890", "x" * 10]


def test_connection_state_is_small() -> None:
    """A held WebSocket has no __dict__, a handful of slots and an empty buffer."""
    ws = WebSocket()
    ws.receive(server_frame(OP_TEXT, b"x"))
    assert not hasattr(ws, "__dict__")
    assert len(WebSocket.__slots__) <= 8
    assert sys.getsizeof(ws) <= 96
    assert ws._buffer == b"" and ws._message is None


# -- violations ------------------------------------------------------------------------

VIOLATIONS = [
    pytest.param(server_frame(OP_TEXT, b"x", rsv=4), "RSV bits set", 1002, id="rsv1"),
    pytest.param(server_frame(OP_TEXT, b"x", rsv=2), "RSV bits set", 1002, id="rsv2"),
    pytest.param(server_frame(OP_PING, rsv=1), "RSV bits set", 1002, id="rsv3"),
    pytest.param(
        server_frame(OP_TEXT, b"x", mask=b"abcd"), "masked frame from the server", 1002, id="mask"
    ),
    *(
        pytest.param(server_frame(op, b""), "unknown opcode", 1002, id=f"opcode{op}")
        for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)
    ),
    pytest.param(server_frame(OP_PING, b"p" * 126), "control frame too long", 1002, id="ping126"),
    pytest.param(
        server_frame(OP_CLOSE, b"\x03\xe8" + b"r" * 124), "control frame too long", 1002, id="close"
    ),
    pytest.param(
        server_frame(OP_PING, b"p", fin=False), "fragmented control frame", 1002, id="fragping"
    ),
    pytest.param(
        server_frame(OP_CONT, b"x"), "unexpected continuation frame", 1002, id="cont-first"
    ),
    pytest.param(
        server_frame(OP_TEXT, b"a", fin=False) + server_frame(OP_TEXT, b"b"),
        "expected a continuation frame",
        1002,
        id="text-in-text",
    ),
    pytest.param(
        server_frame(OP_BINARY, b"a", fin=False) + server_frame(OP_BINARY, b"b"),
        "expected a continuation frame",
        1002,
        id="binary-in-binary",
    ),
    pytest.param(
        server_frame(OP_BINARY, length=1 << 63, width=64),
        "frame length out of range",
        1002,
        id="msb",
    ),
    pytest.param(server_frame(OP_TEXT, b"\xff"), "invalid UTF-8", 1007, id="utf8"),
    pytest.param(server_frame(OP_TEXT, b"\xe2\x98"), "invalid UTF-8", 1007, id="utf8-cut"),
    pytest.param(
        server_frame(OP_TEXT, b"ok\xe2\x98", fin=False) + server_frame(OP_CONT, b"!"),
        "invalid UTF-8",
        1007,
        id="utf8-across",
    ),
    pytest.param(
        server_frame(OP_TEXT, b"ok\xe2\x98", fin=False) + server_frame(OP_CONT, b""),
        "invalid UTF-8",
        1007,
        id="utf8-unfinished",
    ),
    pytest.param(server_frame(OP_CLOSE, b"\x03"), "close frame too short", 1002, id="close1"),
    *(
        pytest.param(
            server_frame(OP_CLOSE, struct.pack("!H", code)),
            "invalid close code",
            1002,
            id=f"code{code}",
        )
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)
    ),
    pytest.param(
        server_frame(OP_CLOSE, b"\x03\xe8\xc3"), "invalid UTF-8 in close reason", 1007, id="reason"
    ),
]


@pytest.mark.parametrize("data, detail, code", VIOLATIONS)
def test_violation_raises_and_queues_one_close(data: bytes, detail: str, code: int) -> None:
    """Each violation raises ProtocolViolation with its close code, queueing one Close."""
    ws = WebSocket()
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive(data)
    assert (caught.value.detail, caught.value.close_code) == (detail, code)
    closes = closes_in(ws.data_to_send())
    assert len(closes) == 1 and closes[0][:2] == struct.pack("!H", code)
    assert ws.close_sent
    with pytest.raises(ProtocolViolation, match="data after close"):
        ws.receive(server_frame(OP_TEXT, b"more"))
    assert ws.data_to_send() == b""


@pytest.mark.parametrize("data, detail, code", VIOLATIONS)
def test_violation_found_one_byte_at_a_time(data: bytes, detail: str, code: int) -> None:
    """The same violations are found whatever the chunking, one byte per call included."""
    ws = WebSocket()
    with pytest.raises(ProtocolViolation) as caught:
        feed(ws, data, list(range(len(data))))
    assert (caught.value.detail, caught.value.close_code) == (detail, code)
    assert len(closes_in(ws.data_to_send())) == 1


@pytest.mark.parametrize("cuts", [[], [2], [2, 3], [1, 2, 3, 4]])
def test_frame_after_close_is_a_violation(cuts: list[int]) -> None:
    """Bytes after the server's Close raise "data after close" however they are cut, the
    Close answered once (the echo)."""
    ws = WebSocket()
    data = server_frame(OP_CLOSE) + server_frame(OP_TEXT, b"x")
    with pytest.raises(ProtocolViolation) as caught:
        feed(ws, data, cuts)
    assert (caught.value.detail, caught.value.close_code) == ("data after close", 1002)
    assert ws.close_received and closes_in(ws.data_to_send()) == [b""]
    assert ws.receive(b"") == []  # no bytes, nothing to object to


def test_whole_text_frame_in_an_open_message_is_a_violation() -> None:
    """A whole text frame read alone while a fragmented message is open is still refused."""
    ws = WebSocket()
    assert ws.receive(server_frame(OP_TEXT, b"a", fin=False)) == []
    with pytest.raises(ProtocolViolation, match="expected a continuation frame"):
        ws.receive(server_frame(OP_TEXT, b"b"))


def test_violation_after_our_close_queues_no_second_close() -> None:
    """A violation after we sent Close raises with its code but queues no second Close."""
    ws = WebSocket()
    ws.send_close()
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive(server_frame(OP_TEXT, b"\xff"))
    assert caught.value.close_code == 1007
    assert ws.data_to_send() == b""


def test_oversized_frame_is_rejected_from_its_header() -> None:
    """A frame over the cap is rejected (1009) from its header, before its payload comes."""
    ws = WebSocket(max_message_bytes=1000)
    header = server_frame(OP_BINARY, length=1001)
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive(header)
    assert (caught.value.detail, caught.value.close_code) == ("message too big", 1009)
    assert closes_in(ws.data_to_send())[0][:2] == struct.pack("!H", 1009)


def test_oversized_fragmented_message_is_rejected_at_the_fragment_header() -> None:
    """Fragments whose sum passes the cap are rejected at the header of the one passing it."""
    ws = WebSocket(max_message_bytes=10)
    assert ws.receive(server_frame(OP_TEXT, b"123456", fin=False)) == []
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive(server_frame(OP_CONT, length=5)[:2])
    assert caught.value.close_code == 1009


def test_bad_first_fragment_fails_before_the_message_ends() -> None:
    """Invalid UTF-8 in a first fragment fails at once, not when the message ends."""
    ws = WebSocket()
    with pytest.raises(ProtocolViolation) as caught:
        ws.receive(server_frame(OP_TEXT, b"ok\xc0\xaf", fin=False))
    assert caught.value.close_code == 1007


@FEW
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=6))
def test_any_bytes_raise_only_websocket_errors(chunks: list[bytes]) -> None:
    """Whatever the bytes and chunking, receive raises nothing but WebSocketError."""
    ws = WebSocket(max_message_bytes=64)
    try:
        for chunk in chunks:
            ws.receive(chunk)
    except WebSocketError:
        assert ws.close_sent
        assert len(closes_in(ws.data_to_send())) == 1


# -- sending ---------------------------------------------------------------------------


def test_encode_frame_matches_rfc_example() -> None:
    """A masked "Hello" is the exact bytes of RFC 6455 section 5.7's example."""
    frame = encode_frame(OP_TEXT, b"Hello", mask=bytes.fromhex("37fa213d"))
    assert frame == bytes.fromhex("818537fa213d7f9f4d5158")


@given(data=st.binary(max_size=300), mask=st.binary(min_size=4, max_size=4))
def test_masking_is_the_same_in_c_and_in_python(data: bytes, mask: bytes) -> None:
    """The masking frames use (websockets' C helper where built) equals the pure-Python
    XOR, byte for byte, at every length and alignment, and undoes itself."""
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert wsproto._xor_mask(data, mask) == expected
    assert wsproto._mask(data, mask) == expected
    assert wsproto._mask(expected, mask) == data


def test_frames_are_masked_by_websockets_c_helper_where_it_is_built() -> None:
    """On a platform with websockets' wheel (CI's), frames use its C masking."""
    speedups = pytest.importorskip("websockets.speedups")
    assert wsproto._mask is speedups.apply_mask


def test_encode_frame_rejects_a_bad_opcode_or_mask() -> None:
    """An opcode beyond 4 bits or a mask other than 4 bytes is a ValueError."""
    with pytest.raises(ValueError):
        encode_frame(16, b"")
    with pytest.raises(ValueError):
        encode_frame(OP_TEXT, b"", mask=b"abc")


@pytest.mark.parametrize("size", [0, 1, 3, 4, 125, 126, 65535, 65536])
def test_encode_text_is_one_masked_fin_text_frame(size: int) -> None:
    """encode_text writes one masked FIN text frame carrying the bytes, at every length."""
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    (frame,) = client_frames(encode_text(data))
    assert (frame.fin, frame.opcode, frame.payload) == (True, OP_TEXT, data)


def test_masks_differ_between_frames() -> None:
    """Each frame draws a fresh masking key from the pool."""
    masks = {encode_text(b"same")[2:6] for _ in range(200)}
    assert len(masks) > 190


def test_fork_does_not_share_the_entropy_pool() -> None:
    """A forked child draws fresh entropy, not its parent's unspent bytes."""
    wsproto._ENTROPY.take(4)  # the pool holds unspent bytes now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write_end, wsproto._ENTROPY.take(16))
        finally:
            os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != wsproto._ENTROPY.take(16)


def test_send_text_after_close_is_refused() -> None:
    """Once our Close is sent, send_text and send_ping raise WebSocketError("closing")."""
    ws = WebSocket()
    (frame,) = client_frames(ws.send_text(b"hi"))
    assert (frame.opcode, frame.payload) == (OP_TEXT, b"hi")
    (frame,) = client_frames(ws.send_ping(b"p"))
    assert (frame.opcode, frame.payload) == (OP_PING, b"p")
    assert ws.send_close(4000, "r")
    with pytest.raises(WebSocketError, match="closing"):
        ws.send_text(b"hi")
    with pytest.raises(WebSocketError, match="closing"):
        ws.send_ping()


def test_send_close_is_sent_once_and_checked() -> None:
    """send_close returns a frame once, then b""; a code not allowed on the wire is refused."""
    ws = WebSocket()
    for code in (1005, 999, 5000):
        with pytest.raises(ValueError):
            ws.send_close(code)
    with pytest.raises(ValueError):
        ws.send_close(1000, "x" * 124)
    with pytest.raises(ValueError):
        ws.send_ping(b"x" * 126)
    assert closes_in(ws.send_close()) == [struct.pack("!H", 1000)]
    assert ws.send_close() == b"" and ws.send_close(1001) == b""


# -- the opening handshake -------------------------------------------------------------


def test_handshake_request_is_one_upgrade() -> None:
    """The request is a GET upgrade carrying host, key, version, subprotocol and auth."""
    request = handshake_request("cs:80", "/ocpp/CP%201", "ocpp1.6", "Basic abc", KEY)
    assert request == (
        b"GET /ocpp/CP%201 HTTP/1.1\r\nHost: cs:80\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n"
        b"Authorization: Basic abc\r\n\r\n"
    )
    assert b"Authorization" not in handshake_request("cs", "/", "ocpp1.6", None, KEY)


@pytest.mark.parametrize(
    "host, path, auth",
    [("cs\r\nX: y", "/", None), ("cs", "/a b", None), ("cs", "/", "Basic a\nb"), ("cś", "/", None)],
)
def test_handshake_request_refuses_broken_fields(host: str, path: str, auth: str | None) -> None:
    """CR, LF, a space in the path or non-ASCII would break the request: ValueError."""
    with pytest.raises(ValueError):
        handshake_request(host, path, "ocpp1.6", auth, KEY)


def test_handshake_accepts_101_and_returns_what_follows() -> None:
    """A valid 101 answer, even fed one byte at a time, yields the bytes after it."""
    frame = server_frame(OP_TEXT, b"first")
    answer = answer_101(KEY, PROTO) + frame
    hs = ClientHandshake("cs", "/", "ocpp1.6", key=KEY)
    end = answer.index(b"\r\n\r\n") + 4
    assert [hs.receive(answer[i : i + 1]) for i in range(end - 1)] == [None] * (end - 1)
    assert hs.receive(answer[end - 1 : end]) == b""
    assert ClientHandshake("cs", "/", "ocpp1.6", key=KEY).receive(answer) == frame
    with pytest.raises(HandshakeError, match="already finished"):
        hs.receive(b"x")


def test_handshake_tokens_are_case_insensitive() -> None:
    """Upgrade and Connection tokens match in any case and among other tokens."""
    answer = answer_101(KEY, PROTO).replace(b"Upgrade: websocket", b"upgrade:WebSocket")
    answer = answer.replace(b"Connection: Upgrade", b"CONNECTION: keep-alive, UPGRADE")
    assert ClientHandshake("cs", "/", "ocpp1.6", key=KEY).receive(answer) == b""


def test_handshake_key_is_fresh() -> None:
    """Without a key, each handshake draws 16 random bytes for Sec-WebSocket-Key."""
    keys = set()
    for _ in range(20):
        request = ClientHandshake("cs", "/", "ocpp1.6").request
        key = request.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
        assert len(base64.b64decode(key, validate=True)) == 16
        keys.add(key)
    assert len(keys) == 20


GOOD = answer_101(KEY, PROTO)


@pytest.mark.parametrize(
    "answer, detail, status",
    [
        (b"HTTP/1.1 401 Unauthorized\r\n\r\n", "HTTP 401", 401),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404", 404),
        (b"HTTP/1.1 200\r\n\r\n", "HTTP 200", 200),
        (answer_101(KEY, PROTO, accept="AAAA"), "bad Sec-WebSocket-Accept", None),
        (GOOD.replace(b"Sec-WebSocket-Accept", b"X-Accept"), "bad Sec-WebSocket-Accept", None),
        (answer_101(KEY), "subprotocol not accepted", None),
        (
            answer_101(KEY, "Sec-WebSocket-Protocol: ocpp2.0.1\r\n"),
            "subprotocol not accepted",
            None,
        ),
        (answer_101(KEY, PROTO + PROTO), "subprotocol not accepted", None),
        (GOOD.replace(b"Upgrade: websocket\r\n", b""), "missing Upgrade: websocket", None),
        (GOOD.replace(b"Upgrade: websocket", b"Upgrade: h2c"), "missing Upgrade: websocket", None),
        (GOOD.replace(b"Connection: Upgrade\r\n", b""), "missing Connection: upgrade", None),
        (
            GOOD.replace(b"Connection: Upgrade", b"Connection: close"),
            "missing Connection: upgrade",
            None,
        ),
        (
            answer_101(KEY, PROTO + "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            "extension not asked for",
            None,
        ),
        (b"garbage\r\n\r\n", "malformed status line", None),
        (b"HTTP/1.1 1O1 Switching\r\n\r\n", "malformed status line", None),
        ("HTTP/1.1 1²1 x\r\n\r\n".encode("latin-1"), "malformed status line", None),
        (b"HTTP/1.0 101 Switching\r\n\r\n", "malformed status line", None),
        (b"\r\n\r\n", "malformed status line", None),
        (
            GOOD.replace(b"Connection: Upgrade", b"Connection Upgrade"),
            "malformed header field",
            None,
        ),
        (GOOD.replace(b"Connection:", b"Connection :"), "malformed header field", None),
    ],
)
def test_handshake_rejections(answer: bytes, detail: str, status: int | None) -> None:
    """Each bad answer raises HandshakeError with its detail, and its status when one."""
    hs = ClientHandshake("cs", "/", "ocpp1.6", key=KEY)
    with pytest.raises(HandshakeError) as caught:
        hs.receive(answer)
    assert (caught.value.detail, caught.value.status) == (detail, status)


def test_handshake_answer_too_large() -> None:
    """A header growing past MAX_HANDSHAKE_BYTES is refused without waiting for its end."""
    hs = ClientHandshake("cs", "/", "ocpp1.6", key=KEY)
    assert hs.receive(b"HTTP/1.1 101 OK\r\n") is None
    with pytest.raises(HandshakeError, match="too large"):
        hs.receive(b"X-Pad: " + b"a" * MAX_HANDSHAKE_BYTES)
    padded = answer_101(KEY, PROTO + "X-Pad: " + "a" * MAX_HANDSHAKE_BYTES + "\r\n")
    with pytest.raises(HandshakeError, match="too large"):
        ClientHandshake("cs", "/", "ocpp1.6", key=KEY).receive(padded)


@FEW
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=5))
def test_handshake_any_bytes_raise_only_handshake_errors(data: bytes, cuts: list[int]) -> None:
    """Whatever the answer's bytes and chunking, receive raises nothing but HandshakeError."""
    hs = ClientHandshake("cs", "/", "ocpp1.6", key=KEY)
    start = 0
    try:
        for cut in sorted(cuts) + [len(data)]:
            if hs.receive(data[start:cut]) is not None:
                break
            start = max(start, cut)
    except HandshakeError:
        pass


# -- differential: our handshake against python-websockets' server ---------------------

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=12)


@FEW
@given(
    host=tokens,
    path=st.lists(tokens, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts)),
    subprotocol=tokens,
    authorization=st.none() | tokens.map(lambda token: f"Basic {token}"),
    cut=st.integers(0, 400),
)
def test_websockets_server_accepts_our_request(
    host: str, path: str, subprotocol: str, authorization: str | None, cut: int
) -> None:
    """websockets' server parses and accepts our request; we accept its 101 answer."""
    client = ClientHandshake(host, path, subprotocol, authorization)
    server = ServerProtocol(subprotocols=[subprotocol])
    server.receive_data(client.request)
    (request,) = server.events_received()
    assert isinstance(request, Request)
    assert request.path == path and request.headers["Host"] == host
    assert request.headers.get("Authorization") == authorization
    response = server.accept(request)
    assert response.status_code == 101, server.handshake_exc
    server.send_response(response)
    server.send_text(b"first")
    answer = b"".join(server.data_to_send())
    rest = client.receive(answer[:cut])
    if rest is None:
        rest = client.receive(answer[cut:])
    else:
        rest += answer[cut:]
    assert rest is not None and WebSocket().receive(rest) == ["first"]


def test_websockets_tampered_accept_is_rejected() -> None:
    """websockets' 101 answer with its accept key changed is rejected."""
    client = ClientHandshake("cs", "/ocpp/CP-1", "ocpp1.6")
    server = ServerProtocol(subprotocols=["ocpp1.6"])
    server.receive_data(client.request)
    (request,) = server.events_received()
    response = server.accept(request)
    response.headers["Sec-WebSocket-Accept"] = base64.b64encode(b"x" * 20).decode()
    server.send_response(response)
    with pytest.raises(HandshakeError, match="bad Sec-WebSocket-Accept"):
        client.receive(b"".join(server.data_to_send()))


def test_websockets_without_our_subprotocol_is_rejected() -> None:
    """websockets' server that speaks no subprotocol (a 101 without one) is rejected."""
    client = ClientHandshake("cs", "/ocpp/CP-1", "ocpp1.6")
    server = ServerProtocol()
    server.receive_data(client.request)
    (request,) = server.events_received()
    server.send_response(server.accept(request))
    with pytest.raises(HandshakeError, match="subprotocol not accepted"):
        client.receive(b"".join(server.data_to_send()))


def test_websockets_401_is_rejected_with_its_status() -> None:
    """websockets' server rejecting with 401 gives HandshakeError("HTTP 401", status 401)."""
    client = ClientHandshake("cs", "/ocpp/CP-1", "ocpp1.6", "Basic bad")
    server = ServerProtocol(subprotocols=["ocpp1.6"])
    server.receive_data(client.request)
    server.events_received()
    server.send_response(server.reject(401, "Unauthorized\n"))
    with pytest.raises(HandshakeError) as caught:
        client.receive(b"".join(server.data_to_send()))
    assert (caught.value.detail, caught.value.status) == ("HTTP 401", 401)


# -- differential: our frames into python-websockets' server ---------------------------

control_payloads = st.binary(max_size=125)
close_codes = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1011, 3000, 4000, 4999])


@st.composite
def client_script(draw: st.DrawFn) -> tuple[list[object], bytes, list[int]]:
    """Messages (text, possibly fragmented; pings), an optional Close, our bytes for
    them, and cut points for feeding those bytes."""
    ws = WebSocket()
    expected: list[object] = []
    data = b""
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            payload = draw(control_payloads)
            data += ws.send_ping(payload)
            expected.append(Ping(payload))
            continue
        text = draw(st.text(max_size=80))
        raw = text.encode()
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        if not cuts:
            data += ws.send_text(raw)
        else:  # fragments cut anywhere, inside a character too
            pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
            for index, piece in enumerate(pieces):
                opcode = OP_TEXT if index == 0 else OP_CONT
                data += encode_frame(opcode, piece, fin=index == len(pieces) - 1)
        expected.append(text)
    if draw(st.booleans()):
        code, reason = draw(close_codes), draw(st.text(max_size=20))
        if len(reason.encode()) <= 123:
            data += ws.send_close(code, reason)
            expected.append(Close(code, reason))
    cut_points = draw(st.lists(st.integers(0, len(data)), max_size=5))
    return expected, data, cut_points


def read_server_events(frames: list[Frame]) -> list[object]:
    """Messages from the frames websockets parsed, joined and decoded as its Assembler does."""
    events: list[object] = []
    decoder = None
    parts: list[str] = []
    for frame in frames:
        if frame.opcode in (Opcode.TEXT, Opcode.CONT):
            if frame.opcode is Opcode.TEXT:
                decoder, parts = codecs.getincrementaldecoder("utf-8")(), []
            assert decoder is not None
            parts.append(decoder.decode(bytes(frame.data), frame.fin))
            if frame.fin:
                events.append("".join(parts))
        elif frame.opcode is Opcode.PING:
            events.append(Ping(bytes(frame.data)))
        elif frame.opcode is Opcode.PONG:
            events.append(Pong(bytes(frame.data)))
        elif frame.opcode is Opcode.CLOSE:
            code = struct.unpack("!H", frame.data[:2])[0]
            events.append(Close(code, bytes(frame.data[2:]).decode()))
    return events


@FEW
@given(client_script())
def test_websockets_server_reads_our_frames(script: tuple[list[object], bytes, list[int]]) -> None:
    """Every message, ping and Close we encode reads back identically in websockets' server,
    and its answers (pongs, the Close echo) read back in ours."""
    expected, data, cuts = script
    server, _ = open_server()
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        if cut > start:
            server.receive_data(data[start:cut])
            start = cut
    assert server.parser_exc is None
    assert read_server_events(server.events_received()) == expected
    answers = b"".join(server.data_to_send())  # its pongs, and its Close echo
    ws = WebSocket()
    if any(isinstance(event, Close) for event in expected):
        ws.send_close()  # as the WebSocket that wrote the frames did
    pongs = [Pong(e.payload) for e in expected if isinstance(e, Ping)]
    closes = [e for e in expected if isinstance(e, Close)]
    assert feed(ws, answers) == pongs + [Close(e.code, e.reason) for e in closes]
    assert ws.data_to_send() == b""


# -- differential: python-websockets' server frames into ours --------------------------


@st.composite
def server_script(draw: st.DrawFn) -> tuple[list[object], bytes, list[int]]:
    """What a websockets server sends (messages fragmented anywhere, pings between
    fragments, a Close), the events we should read, and cut points."""
    server, _ = open_server()
    expected: list[object] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(control_payloads)
            (server.send_ping if kind == "ping" else server.send_pong)(payload)
            expected.append(Ping(payload) if kind == "ping" else Pong(payload))
            continue
        text = draw(st.text(max_size=60))
        raw = text.encode() if kind == "text" else draw(st.binary(max_size=200))
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for index, piece in enumerate(pieces):
            fin = index == len(pieces) - 1
            if index == 0:
                (server.send_text if kind == "text" else server.send_binary)(piece, fin=fin)
            else:
                server.send_continuation(piece, fin=fin)
            if not fin and draw(st.booleans()):
                payload = draw(control_payloads)
                server.send_ping(payload)
                expected.append(Ping(payload))
        expected.append(text if kind == "text" else Binary(raw))
    if draw(st.booleans()):
        if draw(st.booleans()):
            server.send_close()
            expected.append(Close(None, ""))
        else:
            code, reason = draw(close_codes), draw(st.text(max_size=20))
            if len(reason.encode()) <= 123:
                server.send_close(code, reason)
                expected.append(Close(code, reason))
    data = b"".join(server.data_to_send())
    return expected, data, draw(st.lists(st.integers(0, len(data)), max_size=8))


@FEW
@given(server_script())
def test_we_read_websockets_server_frames(script: tuple[list[object], bytes, list[int]]) -> None:
    """websockets' server output, in any chunking, reads back as the messages it sent; our
    pongs and Close answer read back in websockets' server."""
    expected, data, cuts = script
    ws = WebSocket()
    assert feed(ws, data, cuts) == expected
    assert ws._buffer == b""
    server, _ = open_server()
    server.receive_data(ws.data_to_send())
    assert server.parser_exc is None
    got = server.events_received()
    pings = [e.payload for e in expected if isinstance(e, Ping)]
    assert [bytes(f.data) for f in got if f.opcode is Opcode.PONG] == pings
    closes = [e for e in expected if isinstance(e, Close)]
    echoed = [bytes(f.data) for f in got if f.opcode is Opcode.CLOSE]
    assert echoed == [b"" if c.code is None else struct.pack("!H", c.code) for c in closes]
    assert ws.close_received == ws.closed == bool(closes)


# -- differential: hostile bytes into ours and into python-websockets' client ----------

#: The cap both parsers get in the hostile-bytes runs: small, so that fuzzed messages
#: and fragments cross it.
FUZZ_MAX = 512


@dataclass
class Verdict:
    """How a parser judged a byte stream: rejected (with a close code), accepted
    (every byte in whole frames), or not yet known (a frame still incomplete)."""

    outcome: str  # "rejected", "accepted" or "incomplete"
    close_code: int | None = None
    detail: str = ""
    events: list[object] | None = None
    #: the frames it queued to send: (opcode, payload), a Close's payload cut to its code
    sent: list[tuple[int, bytes]] | None = None
    #: websockets counted a frame against an open message's budget: it may be a
    #: control frame, which we check against the cap alone (see ``compare``)
    budget: bool = False


def sent_frames(data: bytes) -> list[tuple[int, bytes]]:
    frames = client_frames(data)
    return [(f.opcode, f.payload[:2] if f.opcode == OP_CLOSE else f.payload) for f in frames]


def ours(data: bytes, cuts: list[int]) -> Verdict:
    """Our verdict on ``data`` fed in pieces cut at ``cuts``."""
    ws = WebSocket(max_message_bytes=FUZZ_MAX)
    try:
        events = feed(ws, data, cuts)
    except ProtocolViolation as exc:
        sent = sent_frames(ws.data_to_send())
        assert [opcode for opcode, _ in sent].count(OP_CLOSE) == 1
        return Verdict("rejected", exc.close_code, exc.detail, sent=sent)
    if ws._buffer:
        return Verdict("incomplete")
    return Verdict("accepted", events=events, sent=sent_frames(ws.data_to_send()))


def theirs(data: bytes) -> Verdict:
    """websockets' client parser's verdict, plus the UTF-8 check its message assembler
    applies to text (its protocol layer does not decode text)."""
    client = opened_client(max_size=FUZZ_MAX)
    client.receive_data(data)
    frames = client.events_received()
    sent = sent_frames(b"".join(client.data_to_send()))
    decoder = None
    events: list[object] = []
    texts: list[str] = []
    chunks: list[bytes] = []
    for frame in frames:
        payload = bytes(frame.data)
        if frame.opcode is Opcode.TEXT or (frame.opcode is Opcode.CONT and decoder is not None):
            if frame.opcode is Opcode.TEXT:
                decoder, texts = codecs.getincrementaldecoder("utf-8")(), []
            assert decoder is not None
            try:
                texts.append(decoder.decode(payload, frame.fin))
            except UnicodeDecodeError:
                return Verdict("rejected", 1007, "text")  # its connection layer's verdict
            if frame.fin:
                events.append("".join(texts))
                decoder = None
        elif frame.opcode in (Opcode.BINARY, Opcode.CONT):
            if frame.opcode is Opcode.BINARY:
                chunks = []
            chunks.append(payload)
            if frame.fin:
                events.append(Binary(b"".join(chunks)))
        elif frame.opcode is Opcode.PING:
            events.append(Ping(payload))
        elif frame.opcode is Opcode.PONG:
            events.append(Pong(payload))
        else:
            code = struct.unpack("!H", payload[:2])[0] if payload else None
            events.append(Close(code, payload[2:].decode()))
    exc = client.parser_exc
    if exc is None:
        client.receive_eof()  # at a frame boundary it says "unexpected end of stream"
        exc = client.parser_exc
        if exc is None or str(exc) == "unexpected end of stream":
            # (None: a Close made it discard what followed)
            return Verdict("accepted", events=events, sent=sent)
        return Verdict("incomplete")
    if isinstance(exc, PayloadTooBig):
        return Verdict("rejected", 1009, str(exc), sent=sent, budget=exc.current_size is not None)
    if isinstance(exc, UnicodeDecodeError):
        return Verdict("rejected", 1007, "close reason", sent=sent)
    assert isinstance(exc, ProtocolError), repr(exc)
    return Verdict("rejected", 1002, str(exc), sent=sent)


def compare(data: bytes, cuts: list[int], *, exact_budget: bool = False) -> None:
    """Ours rejects exactly when websockets fails the connection, with the same close code,
    reads the same events and queues the same Pongs and Close, wherever both reached a
    verdict.

    Deliberate differences, allowed here and nowhere else:
    - a 64-bit length with its top bit set is a framing error for us (1002); websockets
      meets it as a size over its cap (1009);
    - a Close between the fragments of a message: RFC 6455 5.4 lets control frames come
      between fragments, so we accept it and drop the message; websockets fails the
      connection ("incomplete fragmented message");
    - bytes after the server's Close: we reject them ("data after close"), websockets
      discards them (RFC 6455 1.4);
    - while a fragmented message is open, websockets checks a control frame against
      what is left of the message's budget; we check it against the cap alone (and
      reject over 125 bytes anyway), so a Ping near the cap passes here. Its size
      verdicts on an open message are skipped unless ``exact_budget`` (the caller made
      sure no control frame meets that case);
    - text that is not UTF-8: websockets' protocol layer passes it on and its message
      assembler fails the connection, so there is no Close of its own to compare.
    """
    mine, other = ours(data, cuts), theirs(data)
    if "incomplete" in (mine.outcome, other.outcome) or (other.budget and not exact_budget):
        return
    if mine.detail == "data after close":  # websockets took the Close, or failed on it
        if other.detail != "incomplete fragmented message":
            assert other.outcome == "accepted" and other.events, other
            assert isinstance(other.events[-1], Close), other
        return
    if other.detail == "incomplete fragmented message":
        assert mine.outcome == "accepted" and mine.events, mine
        assert isinstance(mine.events[-1], Close), mine
        return
    if mine.detail == "frame length out of range":
        assert (other.outcome, other.close_code) == ("rejected", 1009), other
        return
    assert (mine.outcome, mine.close_code) == (other.outcome, other.close_code), (mine, other)
    if mine.outcome == "accepted":
        assert mine.events == other.events
    if other.detail != "text":
        assert mine.sent == other.sent


#: One frame in three is broken, in one of these ways (some weigh twice).
MUTATIONS = ["opcode", "fin", "rsv", "mask", "length", "width", "payload", "control"]
MUTATIONS += ["fin", "close", "close", "size", "size"]
INTACT = ["intact"] * 2 * len(MUTATIONS)
CLOSE_CODE_EDGES = [0, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1014, 1015, 1016, 2999, 3000]
CLOSE_CODE_EDGES += [4999, 5000, 65535]


@st.composite
def valid_stream(draw: st.DrawFn) -> list[tuple[int, bool, bytes]]:
    """(opcode, fin, payload) of a valid server stream: messages, fragmented or not,
    control frames between fragments, perhaps a Close at the end."""
    frames: list[tuple[int, bool, bytes]] = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 3)) == 0:
            frames.append((draw(st.sampled_from([OP_PING, OP_PONG])), True, draw(control_payloads)))
            continue
        text = draw(st.booleans())
        raw = draw(st.text(max_size=30)).encode() if text else draw(st.binary(max_size=140))
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=2)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        for index, piece in enumerate(pieces):
            opcode = OP_CONT if index else OP_TEXT if text else OP_BINARY
            frames.append((opcode, index == len(pieces) - 1, piece))
            if index < len(pieces) - 1 and draw(st.integers(0, 3)) == 0:
                frames.append((OP_PING, True, draw(control_payloads)))
    if draw(st.booleans()):
        reason = draw(st.text(max_size=8)).encode()
        frames.append((OP_CLOSE, True, struct.pack("!H", draw(close_codes)) + reason))
    return frames


@st.composite
def near_valid_frames(draw: st.DrawFn) -> tuple[bytes, list[int], bool]:
    """A valid server stream with some frames broken (a random opcode, FIN flipped, RSV
    bits, a mask, a wrong or huge length, a non-minimal length, bad UTF-8, a control
    frame of 124-127 bytes, a bad Close, a message at the cap or just over); the offsets
    where its frames start; and whether a declared length differs from its payload.

    Until a length is wrong, a control frame never meets the budget difference of
    ``compare``: it is emptied when it would pass what is left of an open message's."""
    data = b""
    starts = []
    desync = False  # a declared length differs from its payload's
    open_size = None  # the bytes of the fragmented message open so far, as sent
    for opcode, fin, payload in draw(valid_stream()):
        rsv, length, width, mask = 0, None, None, None
        mutation = draw(st.sampled_from(INTACT + MUTATIONS))
        if mutation == "opcode":
            opcode = draw(st.integers(0, 15))
        elif mutation == "fin":
            fin = not fin
        elif mutation == "rsv":
            rsv = draw(st.integers(1, 7))
        elif mutation == "mask":
            mask = draw(st.binary(min_size=4, max_size=4))
        elif mutation == "length":
            length = draw(
                st.sampled_from([FUZZ_MAX, FUZZ_MAX + 1, 1 << 63, (1 << 64) - 1, 126, 200])
                | st.integers(0, len(payload) + 3)
            )
            desync = desync or length != len(payload)
        elif mutation == "width":
            width = draw(st.sampled_from([16, 64]))
        elif mutation == "payload":  # bad UTF-8, a control payload at 125/126, random bytes
            payload = draw(
                st.sampled_from([payload + b"\xff", payload[:-1] + b"\xe2", b"\x03"])
                | st.integers(124, 127).map(bytes)
                | st.binary(max_size=20)
            )
        elif mutation == "control":  # at and around the 125-byte limit
            opcode = draw(st.sampled_from([OP_PING, OP_PONG, OP_CLOSE]))
            size = draw(st.integers(124, 127))
            payload = b"\x03\xe8" + b"r" * (size - 2) if opcode == OP_CLOSE else bytes(size)
        elif mutation == "close":
            opcode = OP_CLOSE
            code = draw(st.sampled_from(CLOSE_CODE_EDGES) | st.integers(0, 65535))
            reason = draw(st.sampled_from([b"", b"\xc3", "é".encode()]) | st.binary(max_size=6))
            payload = draw(st.just(struct.pack("!H", code) + reason) | st.binary(max_size=1))
        elif mutation == "size":  # the whole message at the cap, one under or one over
            target = FUZZ_MAX + draw(st.integers(-1, 1))
            before = open_size if opcode == OP_CONT and open_size is not None else 0
            payload = b"a" * max(target - before, 0)
        if opcode >= OP_CLOSE and open_size is not None:
            if len(payload) > FUZZ_MAX - open_size:
                payload = b""
        starts.append(len(data))
        data += server_frame(
            opcode, payload, fin=fin, rsv=rsv, length=length, width=width, mask=mask
        )
        if opcode in (OP_TEXT, OP_BINARY):
            open_size = None if fin else len(payload)
        elif opcode == OP_CONT and open_size is not None:
            open_size = None if fin else open_size + len(payload)
    trailer = draw(st.just(b"") | st.just(b"") | st.binary(max_size=6))
    return data + trailer, starts, desync


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_frames_judged_like_websockets(data: st.DataObject) -> None:
    """Near-valid frames with random header bits and lengths, in any chunking (at frame
    starts too), get websockets' verdict."""
    stream, starts, desync = data.draw(near_valid_frames())
    cut_points = st.sampled_from(starts) | st.integers(0, len(stream))
    cuts = data.draw(st.just(starts) | st.lists(cut_points, max_size=4))  # starts: a frame a read
    compare(stream, cuts, exact_budget=not desync)


first_bytes = st.sampled_from([b"", b"\x81", b"\x01", b"\x82", b"\x80", b"\x88", b"\x89", b"\x8a"])


@FEW
@given(first_bytes, st.binary(max_size=64), st.lists(st.integers(0, 64), max_size=4))
def test_hostile_bytes_judged_like_websockets(first: bytes, rest: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes (often after a plausible first byte) get websockets' verdict, and
    raise only WebSocketError in ours."""
    compare(first + rest, cuts)


def test_every_close_code_judged_like_websockets() -> None:
    """Every close code up to 5100, and the edges above, meets websockets' verdict."""
    for code in [*range(5100), 65535]:
        compare(server_frame(OP_CLOSE, struct.pack("!H", code) + b"r"), [])


@pytest.mark.parametrize(
    "data",
    [
        server_frame(OP_TEXT, b"\xff"),
        server_frame(OP_TEXT, b"ab\xe2", fin=False) + server_frame(OP_CONT, b"z"),
        server_frame(OP_BINARY, length=FUZZ_MAX + 1),
        server_frame(OP_BINARY, b"a" * FUZZ_MAX),
        server_frame(OP_TEXT, b"a" * 300, fin=False) + server_frame(OP_CONT, b"a" * 212),
        server_frame(OP_TEXT, b"a" * 300, fin=False) + server_frame(OP_CONT, b"a" * 213),
        server_frame(OP_CLOSE, b"\x03\xed"),
        server_frame(OP_CLOSE, b"\x03\xe8\xff"),
        server_frame(OP_CLOSE, b"\x03"),
        server_frame(OP_PING, b"p" * 125) + server_frame(OP_PING, b"p" * 126),
        server_frame(OP_TEXT, b"x", rsv=1),
        server_frame(OP_TEXT, b"x", mask=b"mask"),
        server_frame(OP_CONT, b"x"),
        server_frame(OP_TEXT, b"x", fin=False) + server_frame(OP_PING) + server_frame(OP_CONT),
        server_frame(OP_TEXT, b"x", fin=False) + server_frame(OP_TEXT, b"y"),
        server_frame(OP_BINARY, b"x", fin=False) + server_frame(OP_CLOSE, b"\x03\xe8"),
        server_frame(OP_CLOSE) + b"\x81",
        server_frame(OP_BINARY, length=1 << 63, width=64),
    ],
)
def test_known_cases_judged_like_websockets(data: bytes) -> None:
    """Hand-picked edge cases (each rule, each deliberate difference) meet websockets' verdict."""
    assert "incomplete" not in (ours(data, []).outcome, theirs(data).outcome)
    compare(data, [])
