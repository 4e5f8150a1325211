"""The station's link and registration states (small ints: compared on every event)."""

from __future__ import annotations

#: link: not connected / opening a connection / open / stopped for good
OFFLINE, CONNECTING, ONLINE, STOPPED = 0, 1, 2, 3
#: registration: never booted (since power-up) / Pending / Rejected / Accepted
NONE, PENDING, REJECTED, ACCEPTED = 0, 1, 2, 3
