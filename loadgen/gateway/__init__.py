"""Reference OCPP gateway: a lean asyncio stand-in CSMS that the load generator's users run.

It is a separate program (``python -m loadgen.gateway``) that meets the load generator
only on a socket: it never imports locust, gevent or websocket-client, and the load
generator never imports it. One process serves tens of thousands of WebSocket
connections; ``--processes N`` shares one port between N processes with SO_REUSEPORT.
"""

from __future__ import annotations

from loadgen.gateway.cli import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]
