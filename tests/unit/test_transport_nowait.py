"""The non-blocking half of a connection, used from hub callbacks, over a socketpair.

``send_nowait`` and ``take_nowait`` never wait; what they cannot finish (bytes the kernel
did not take, a control frame, the end of the stream) must reach the blocking ``send``
and ``recv`` intact and in order.
"""

from __future__ import annotations

import socket
import struct

import gevent
import gevent.socket
import pytest

from loadgen.failures import Failure
from loadgen.sim.transport import Connection

pytestmark = pytest.mark.timeout(30)


def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it."""
    head = bytes([(0x80 if fin else 0) | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    return head + bytes([126]) + struct.pack("!H", len(payload)) + payload


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of the whole masked frames in ``data``, in order."""
    frames = []
    while data:
        opcode, length, start = data[0] & 0x0F, data[1] & 0x7F, 2
        if length == 126:
            (length,), start = struct.unpack("!H", data[2:4]), 4
        elif length == 127:
            (length,), start = struct.unpack("!Q", data[2:10]), 10
        if len(data) < start + 4 + length:
            break  # cut short (a best-effort close frame)
        mask, body = data[start : start + 4], data[start + 4 : start + 4 + length]
        frames.append((opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(body))))
        data = data[start + 4 + length :]
    return frames


def read_all(peer: gevent.socket.socket, into: bytearray) -> None:
    """Read ``peer`` into ``into`` until the other end closes."""
    while data := peer.recv(65536):
        into.extend(data)


@pytest.fixture
def pair():
    """A Connection over one end of a socketpair; the other end as a gevent socket."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    conn = Connection(ours, "ocpp1.6")
    peer = gevent.socket.socket(fileno=theirs.detach())
    try:
        yield conn, peer
    finally:
        conn.close()
        peer.close()


def test_whole_messages_are_taken_and_a_partial_one_waits(pair) -> None:
    conn, peer = pair
    third = server_frame(b'[3,"3",{}]')
    peer.sendall(server_frame(b'[3,"1",{}]') + server_frame(b'[3,"2",{}]') + third[:4])
    assert conn.take_nowait(True) == '[3,"1",{}]'
    assert conn.take_nowait(False) == '[3,"2",{}]'
    assert conn.take_nowait(False) is None  # half a frame: nothing whole yet
    assert conn.take_nowait(True) is None  # nothing more on the socket either
    peer.sendall(third[4:])
    assert conn.take_nowait(True) == '[3,"3",{}]'
    assert not conn.needs_greenlet()


def test_a_ping_is_left_to_the_blocking_reader_in_order(pair) -> None:
    conn, peer = pair
    peer.sendall(server_frame(b"hi", opcode=9) + server_frame(b'[3,"1",{}]'))
    assert conn.take_nowait(True) is False
    assert conn.recv(5) == '[3,"1",{}]'  # it answered the ping on the way
    assert client_frames(peer.recv(100)) == [(10, b"hi")]


def test_the_end_of_the_stream_is_kept_for_the_blocking_reader(pair) -> None:
    conn, peer = pair
    peer.sendall(server_frame(b'[3,"1",{}]'))
    peer.close()
    assert conn.take_nowait(True) == '[3,"1",{}]'
    assert conn.take_nowait(True) is False
    assert conn.needs_greenlet()
    with pytest.raises(Failure) as ended:
        conn.recv(5)
    assert ended.value.category == "closed_by_server"


def test_what_the_kernel_did_not_take_is_sent_first_by_the_blocking_send(pair) -> None:
    conn, peer = pair
    sent: list[bytes] = []
    message = b"x" * 1000
    while conn.send_nowait(message):  # until the socket buffers are full
        sent.append(message)
        assert len(sent) < 100_000
    assert conn.needs_greenlet()
    assert conn.send_nowait(b"after") is False  # queued behind the rest, not interleaved
    received = bytearray()
    reader = gevent.spawn(read_all, peer, received)
    conn.send(b"last")  # waits for the peer to read, sending the rest first
    assert not conn.needs_greenlet()
    conn.close()
    reader.join(10)
    frames = client_frames(bytes(received))
    payloads = [payload for opcode, payload in frames if opcode == 1]
    assert payloads == [*sent, message, b"after", b"last"]


def test_a_frame_sent_from_the_hub_waits_behind_a_blocked_send(pair) -> None:
    """A greenlet blocked halfway through a large frame, the peer reading a little, then
    a Heartbeat sent without waiting: it goes after the large frame, not inside it."""
    conn, peer = pair
    large = b"L" * 400_000
    writer = gevent.spawn(conn.send, large)
    gevent.sleep(0)  # the writer sends what fits, then waits for room
    assert conn.needs_greenlet()
    received = bytearray(peer.recv(65536))  # room for more, before the writer's turn
    assert conn.send_nowait(b"heartbeat") is False  # queued behind the rest
    reader = gevent.spawn(read_all, peer, received)
    writer.join(10)
    conn.send(b"last")
    conn.close()
    reader.join(10)
    payloads = [payload for opcode, payload in client_frames(bytes(received)) if opcode == 1]
    assert payloads == [large, b"heartbeat", b"last"]
