"""The kernel's receive stamps, read from ``recvmsg``'s ancillary data.

An answer's response time ends when the answer reached the host; a process that reads
its sockets in batches (``charge_points.io_batch_ms``) must not add its wait to it.
"""

from __future__ import annotations

import socket
import struct
import sys
import time

import pytest

from loadgen.sim.transport import (
    MAX_STAMP_AGE_S,
    SO_TIMESTAMPNS,
    arrival,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux stamps")


def stamp(wall: float) -> list[tuple[int, int, bytes]]:
    """Ancillary data as ``recvmsg`` gives it for a segment received at ``wall``."""
    seconds = int(wall)
    assert SO_TIMESTAMPNS is not None
    payload = struct.pack("@qq", seconds, int((wall - seconds) * 1e9))
    return [(socket.SOL_SOCKET, SO_TIMESTAMPNS, payload)]


@linux_only
def test_a_stamp_gives_the_arrival_on_the_monotonic_clock() -> None:
    """0.3 s before the wall clock's now is 0.3 s before the read's monotonic time."""
    got = arrival(stamp(time.time() - 0.3), now=1000.0)
    assert got is not None
    assert 999.69 < got < 999.71


@linux_only
@pytest.mark.parametrize("offset_s", [5.0, -(MAX_STAMP_AGE_S + 5)])
def test_a_stamp_across_a_wall_clock_step_gives_the_read_time(offset_s: float) -> None:
    """A stamp in the future, or older than any late read, means the wall clock was
    stepped between the stamp and the read: the read's time is the best there is."""
    assert arrival(stamp(time.time() + offset_s), now=1000.0) == 1000.0


def test_no_stamp_is_none() -> None:
    """No ancillary data, or some other kind, is no stamp."""
    assert arrival([], now=5.0) is None
    assert arrival([(socket.SOL_SOCKET, 1, b"\0" * 16)], now=5.0) is None
    assert arrival([(socket.IPPROTO_TCP, SO_TIMESTAMPNS or 35, b"\0" * 16)], now=5.0) is None
