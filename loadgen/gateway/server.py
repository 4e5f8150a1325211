"""The reference gateway's asyncio WebSocket server: a lean stand-in CSMS for OCPP-J.

One process serves ``ws://host:port/<any prefix>/<charge point id>`` with the
subprotocols ``ocpp1.6`` and ``ocpp2.0.1``, answers every charger-initiated CALL from
:mod:`loadgen.gateway.answers`, and serves ``GET /_status`` (JSON counters of this
process). It never imports locust, gevent or websocket-client: the load generator and
the gateway only meet on a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from loadgen.gateway.answers import SUBPROTOCOLS, AnswerConfig, Answers, Handler, format_error_code
from loadgen.gateway.security import BasicAuth
from loadgen.ocpp.framing import Call, CallError, CallResult, FrameError, parse

if TYPE_CHECKING:  # redis is imported only when --redis-url turns the registry on
    from loadgen.gateway.redisconf import RedisSettings
    from loadgen.gateway.redisstore import RedisMappings

log = logging.getLogger("loadgen.gateway")

STATUS_PATH = "/_status"
#: Shared, never written: replaces the headers of every accepted handshake request.
_NO_HEADERS = Headers()
#: Largest frame accepted from a charger; OCPP messages are far smaller.
MAX_FRAME_BYTES = 65536
#: Frames buffered per connection before the reader stops reading the socket.
MAX_QUEUE = 8
#: Bytes buffered per connection for writing before ``send`` waits for the socket.
WRITE_LIMIT = 8192
#: Seconds to wait for a charger to answer our closing handshake.
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How one gateway process listens and what it answers."""

    host: str = "127.0.0.1"
    port: int = 9000
    backlog: int = 65535
    reuse_port: bool = False
    ping_interval_s: float = 0.0
    answers: AnswerConfig = field(default_factory=AnswerConfig)
    #: Stop when standard input reaches end of file (a worker whose parent went away).
    stop_on_stdin_eof: bool = False
    #: Keep charge point -> instance mappings in Redis too (None: in memory only).
    redis: RedisSettings | None = None
    #: TLS for wss:// (security profiles 2 and 3); None: plain ws://
    ssl: Any = None
    #: per-charger HTTP Basic passwords (security profiles 1 and 2); None: no auth
    basic_auth: BasicAuth | None = None


def charge_point_id(path: str) -> str:
    """The charge point id of a request path: its last non-empty segment, URL-decoded."""
    path = path.split("?", 1)[0]
    for segment in reversed(path.split("/")):
        if segment:
            return unquote(segment)
    return ""


class _Charger:
    """One connected charge point in the registry."""

    __slots__ = ("booted", "connection", "id", "version")

    def __init__(self, charger_id: str, version: str, connection: ServerConnection) -> None:
        self.id = charger_id
        self.version = version
        self.connection = connection
        self.booted = False


class Gateway:
    """The state of one gateway process: registry of chargers, counters, answers."""

    def __init__(
        self,
        answers: Answers,
        mappings: RedisMappings | None = None,
        basic_auth: BasicAuth | None = None,
    ) -> None:
        self.answers = answers
        self.basic_auth = basic_auth  # None: no HTTP Basic auth (security profile 0 / 3)
        #: the Redis registry, or None: then no connection, frame or Heartbeat touches Redis
        self.mappings = mappings
        #: charge point id -> its live connection in this process
        self.registry: dict[str, _Charger] = {}
        #: action -> CALLs answered, plus "unknown", "invalid", "CALLRESULT", "CALLERROR"
        self.messages: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()

    # -- handshake ----------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Serve ``GET /_status`` and refuse a URL without a charge point id (HTTP 404)."""
        path = request.path.split("?", 1)[0]
        if path == STATUS_PATH:
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.status()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        charger_id = charge_point_id(path)
        if not charger_id:
            return connection.respond(
                http.HTTPStatus.NOT_FOUND,
                "No charge point id in the URL path: connect to "
                "ws://HOST:PORT/<any prefix>/<charge point id>, e.g. ws://HOST:PORT/ocpp/CP-1\n",
            )
        auth = self.basic_auth
        if auth is not None and not auth.check(charger_id, request.headers.get("Authorization")):
            self.messages["unauthorized"] = self.messages.get("unauthorized", 0) + 1
            response = connection.respond(
                http.HTTPStatus.UNAUTHORIZED,
                "HTTP Basic auth with the charge point id and its password is required\n",
            )
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP"'
            return response
        return None

    @staticmethod
    def select_subprotocol(
        _connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol:
        """The first subprotocol the charger offers that the gateway speaks, else HTTP 400."""
        for offered in subprotocols:
            if offered in SUBPROTOCOLS:
                return offered
        offered_text = ", ".join(subprotocols)[:200] or "none"
        raise NegotiationError(
            f"no supported OCPP subprotocol offered (offered: {offered_text}); "
            f"this gateway supports {', '.join(SUBPROTOCOLS)}: send one of them in the "
            "Sec-WebSocket-Protocol header"
        )

    # -- connections --------------------------------------------------------------------

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one charge point until it disconnects or a newer one takes its id."""
        request = connection.request
        assert request is not None  # the handshake succeeded
        charger_id = charge_point_id(request.path)
        version = SUBPROTOCOLS[connection.subprotocol]  # type: ignore[index]
        # The handshake's headers (~4 KB a connection) are never read again: drop them,
        # since idle connections are what the gateway holds most. (websockets needs
        # ``connection.request`` itself to stay set.)
        request.headers = _NO_HEADERS
        connection.response = None
        charger = _Charger(charger_id, version, connection)
        registry = self.registry
        previous = registry.get(charger_id)
        registry[charger_id] = charger
        mappings = self.mappings
        if mappings is not None:
            mappings.connected(charger)  # a background task: frames are answered meanwhile
        if previous is not None:
            self._replace(previous)
        table = self.answers.tables[version]
        reply = self.reply
        try:
            async for message in connection:
                answer = reply(charger, table, message)
                if answer is not None:
                    await connection.send(answer)
                message = answer = None  # an idle connection keeps no frame alive
        except ConnectionClosed:
            pass
        finally:
            if registry.get(charger_id) is charger:
                del registry[charger_id]
                if mappings is not None:  # a replaced connection leaves the mapping alone
                    mappings.disconnected(charger)

    def _replace(self, previous: _Charger) -> None:
        log.debug("charge point %s reconnected: closing its older connection", previous.id)
        task = asyncio.get_running_loop().create_task(
            previous.connection.close(1000, "replaced by a new connection")
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- the hot path -------------------------------------------------------------------

    def reply(
        self, charger: _Charger, table: dict[str, Handler], message: str | bytes
    ) -> str | None:
        """The frame to send back for one received frame, or None."""
        counts = self.messages
        try:
            frame = parse(message)
        except FrameError as exc:
            counts["invalid"] = counts.get("invalid", 0) + 1
            if exc.unique_id is None:
                return None
            code = format_error_code(charger.version, exc.code)
            return CallError(exc.unique_id, code, str(exc)[:200]).to_json()
        if frame.__class__ is not Call:
            key = "CALLRESULT" if frame.__class__ is CallResult else "CALLERROR"
            counts[key] = counts.get(key, 0) + 1
            return None
        action: str = frame.action  # type: ignore[union-attr]
        handler = table.get(action)
        if handler is None:
            counts["unknown"] = counts.get("unknown", 0) + 1
            description = f"action {action[:50]!r} is not implemented by this gateway"
            return CallError(frame.unique_id, "NotImplemented", description).to_json()
        counts[action] = counts.get(action, 0) + 1
        try:
            payload = handler(frame.payload)  # type: ignore[union-attr]
        except Exception:  # a handler bug must not drop the connection
            log.exception("answering %s failed", action)
            return CallError(frame.unique_id, "InternalError", "the gateway failed").to_json()
        if action == "BootNotification":
            charger.booted = payload["status"] == "Accepted"
        elif self.mappings is not None and action == "Heartbeat":
            self.mappings.refresh(charger)
        return CallResult(frame.unique_id, payload).to_json()

    # -- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counters of this process, as served on ``GET /_status``.

        ``{"pid", "connected", "booted", "by_version": {"1.6": n, "2.0.1": n},
        "messages": {action: n}}``: ``booted`` counts connected chargers whose last
        BootNotification was Accepted; ``messages`` counts CALLs answered per action,
        plus ``unknown`` (NotImplemented), ``invalid`` (malformed frames), ``CALLRESULT``
        and ``CALLERROR`` (received from chargers, ignored). With ``--redis-url``,
        ``"redis"`` holds the registry's counters (:meth:`RedisMappings.status`).
        """
        by_version = dict.fromkeys(SUBPROTOCOLS.values(), 0)
        booted = 0
        for charger in self.registry.values():
            by_version[charger.version] += 1
            booted += charger.booted
        status: dict[str, Any] = {
            "pid": os.getpid(),
            "connected": len(self.registry),
            "booted": booted,
            "by_version": by_version,
            "messages": dict(self.messages),
        }
        if self.mappings is not None:
            status["redis"] = self.mappings.status()
        return status


def start(gateway: Gateway, options: ServerOptions) -> serve:
    """The (not yet awaited) ``serve`` call of one gateway process, with lean settings."""
    ping = options.ping_interval_s or None
    return serve(
        gateway.handler,
        options.host,
        options.port,
        process_request=gateway.process_request,
        subprotocols=[Subprotocol(name) for name in SUBPROTOCOLS],
        select_subprotocol=gateway.select_subprotocol,
        compression=None,
        max_size=MAX_FRAME_BYTES,
        max_queue=MAX_QUEUE,
        write_limit=WRITE_LIMIT,
        ping_interval=ping,
        ping_timeout=None if ping is None else max(ping, 20.0),
        close_timeout=CLOSE_TIMEOUT_S,
        # forwarded to loop.create_server
        backlog=options.backlog,
        reuse_port=options.reuse_port,
        ssl=options.ssl,
    )


def listening_port(server: Server) -> int:
    """The TCP port the server listens on (the first socket's, when it has several)."""
    return int(server.sockets[0].getsockname()[1])


async def serve_until_stopped(options: ServerOptions, on_ready: Callable[[int], None]) -> None:
    """Listen, call ``on_ready(port)``, serve until SIGINT/SIGTERM, then close connections.

    Raises ``OSError`` when the address cannot be bound (e.g. the port is in use).
    """
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop(reason: str) -> None:
        if not stop.done():
            log.info("stopping: %s", reason)
            stop.set_result(None)

    signals = (signal.SIGINT, signal.SIGTERM)
    installed: list[signal.Signals] = []
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, request_stop, sig.name)
            installed.append(sig)
    if options.stop_on_stdin_eof:
        _watch_stdin(loop, request_stop)
    mappings = None
    if options.redis is not None:
        from loadgen.gateway.redisstore import RedisMappings

        mappings = RedisMappings(options.redis)
        await mappings.start()
    gateway = Gateway(Answers(options.answers), mappings, options.basic_auth)
    try:
        server = await start(gateway, options)
        try:
            on_ready(listening_port(server))
            await stop
        finally:
            server.close()
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S + 5):
                    await server.wait_closed()
            except TimeoutError:
                log.warning("some connections did not close in time")
    finally:
        if mappings is not None:  # the last deletes, bounded in time
            await mappings.close(CLOSE_TIMEOUT_S)
        for sig in installed:
            loop.remove_signal_handler(sig)
        if options.stop_on_stdin_eof:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sys.stdin.fileno())


def _watch_stdin(loop: asyncio.AbstractEventLoop, request_stop: Callable[[str], None]) -> None:
    """Call ``request_stop`` when standard input closes (the parent process is gone)."""
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            request_stop("the parent process closed our standard input")

    loop.add_reader(fd, readable)
