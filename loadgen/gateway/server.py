"""The reference gateway's asyncio WebSocket server: a lean stand-in CSMS for OCPP-J.

One process serves ``ws://host:port/<any prefix>/<charge point id>`` with the
subprotocols ``ocpp1.6``, ``ocpp2.0.1`` and ``ocpp2.1``, answers every charger-initiated CALL from
:mod:`loadgen.gateway.answers`, and serves ``GET /_status`` (JSON counters of this
process) and ``GET /metrics`` (Prometheus, loopback clients only unless
``--metrics-allow-remote``). Every ``ping_interval_s`` it pings each connection, spread
over the interval by one task per process, and drops those whose pong is not back within
``ping_timeout_s``: half-open connections do not pile up. It never imports locust, gevent
or websocket-client: the load generator and the gateway only meet on a socket.
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
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from loadgen.gateway import metrics
from loadgen.gateway.answers import SUBPROTOCOLS, AnswerConfig, Answers, Handler, format_error_code
from loadgen.gateway.operator import Operator, Payloads, Step, UploadServer
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
#: Defaults of the keepalive: one ping a minute per connection (1,700 a second at 100k),
#: and a connection whose pong is 30 s late is dropped.
PING_INTERVAL_S = 60.0
PING_TIMEOUT_S = 30.0
#: The keepalive pings a slice of the connections this often, to spread the pings.
PING_TICK_S = 1.0
#: Charger notifications whose status the gateway counts (the CSMS's view of the flows).
_COUNTED = {
    "FirmwareStatusNotification": "status",
    "SignedFirmwareStatusNotification": "status",
    "DiagnosticsStatusNotification": "status",
    "LogStatusNotification": "status",
    "ReservationStatusUpdate": "reservationUpdateStatus",
    "SecurityEventNotification": "type",
}
#: Schema errors kept as examples in the status (the first ones).
SCHEMA_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How one gateway process listens and what it answers."""

    host: str = "127.0.0.1"
    port: int = 9000
    backlog: int = 65535
    reuse_port: bool = False
    #: ping each connection this often (0: never) and drop it when no pong within the timeout
    ping_interval_s: float = PING_INTERVAL_S
    ping_timeout_s: float = PING_TIMEOUT_S
    answers: AnswerConfig = field(default_factory=AnswerConfig)
    #: Stop when standard input reaches end of file (a worker whose parent went away).
    stop_on_stdin_eof: bool = False
    #: Keep charge point -> instance mappings in Redis too (None: in memory only).
    redis: RedisSettings | None = None
    #: TLS for wss:// (security profiles 2 and 3); None: plain ws://
    ssl: Any = None
    #: per-charger HTTP Basic passwords (security profiles 1 and 2); None: no auth
    basic_auth: BasicAuth | None = None
    #: answer GET /metrics to clients other than loopback
    metrics_allow_remote: bool = False
    #: also serve /metrics alone on this port of metrics_host (0: any free port); None: no
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    #: the operator's script: calls to send to the chargers (see loadgen.gateway.operator)
    script: tuple[Step, ...] = ()
    #: check every frame a charger sends against the official schemas, and count errors
    validate: bool = False


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
        *,
        metrics_allow_remote: bool = False,
        ping_interval_s: float = 0.0,
        ping_timeout_s: float = PING_TIMEOUT_S,
        operator: Operator | None = None,
        validate: bool = False,
    ) -> None:
        self.answers = answers
        #: scripted calls to the chargers and their answers (None: the gateway only answers)
        self.operator = operator
        #: schema validation of what chargers send (slower: for checks, not for scale)
        self.validate = validate
        #: action -> frames that broke its schema, and the first few messages
        self.schema_errors: dict[str, int] = {}
        self.schema_examples: list[str] = []
        #: notification -> status (or event type) -> count (firmware, logs, reservations)
        self.notifications: dict[str, dict[str, int]] = {}
        self.uploads: UploadServer | None = None
        self.basic_auth = basic_auth  # None: no HTTP Basic auth (security profile 0 / 3)
        self.metrics_allow_remote = metrics_allow_remote
        self.ping_interval_s = ping_interval_s  # 0: no keepalive pings
        self.ping_timeout_s = ping_timeout_s
        #: the Redis registry, or None: then no connection, frame or Heartbeat touches Redis
        self.mappings = mappings
        #: charge point id -> its live connection in this process
        self.registry: dict[str, _Charger] = {}
        #: action -> CALLs answered, plus "unknown", "invalid", "CALLRESULT", "CALLERROR"
        self.messages: dict[str, int] = {}
        #: opened / closed WebSockets, and those closed for a missing pong
        self.connection_counts = {"opened": 0, "closed": 0, "keepalive_timeouts": 0}
        #: frame read -> answer handed to the socket, as plain ints (see gateway.metrics)
        self.answer_times = metrics.AnswerTimes()
        self.metrics_registry = metrics.registry_for(self)
        self._background: set[asyncio.Task[None]] = set()

    # -- handshake ----------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Serve ``GET /_status`` and ``GET /metrics``; refuse a URL without a charge point
        id (HTTP 404)."""
        path = request.path.split("?", 1)[0]
        if path == STATUS_PATH:
            response = connection.respond(http.HTTPStatus.OK, json.dumps(self.status()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path == metrics.METRICS_PATH:
            return self.metrics_response(connection)
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

    def metrics_response(self, connection: ServerConnection) -> Response:
        """Prometheus' text format of this process; HTTP 403 for a remote client unless
        allowed."""
        if not self.metrics_allow_remote and not metrics.is_loopback(connection.remote_address):
            return connection.respond(http.HTTPStatus.FORBIDDEN, metrics.REMOTE_REFUSED)
        body = metrics.exposition(self.metrics_registry).decode()
        response = connection.respond(http.HTTPStatus.OK, body)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = metrics.CONTENT_TYPE
        return response

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
        observe = self.answer_times.observe
        clock = time.perf_counter
        counts = self.connection_counts
        counts["opened"] += 1
        try:
            async for message in connection:
                started = clock()
                answer = reply(charger, table, message)
                if answer is not None:
                    await connection.send(answer)
                observe(clock() - started)
                del message, answer  # an idle connection keeps no frame alive
        except ConnectionClosed:
            pass
        finally:
            counts["closed"] += 1
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

    # -- keepalive ----------------------------------------------------------------------

    async def keepalive(self) -> None:
        """Ping every connection once per ``ping_interval_s`` and drop the silent ones.

        One task per process, not one per connection (websockets' own keepalive costs
        ~1.6 KB a connection, see docs/benchmarks.md): each tick of ``PING_TICK_S`` pings
        the next slice of the connections, and a connection whose pong has not come
        ``ping_timeout_s`` after its ping is aborted (counted as ``keepalive_timeouts``).
        """
        loop = asyncio.get_running_loop()
        waiting: deque[tuple[float, _Charger, asyncio.Future[float]]] = deque()
        ticks = max(1, round(self.ping_interval_s / PING_TICK_S))
        tick_s = self.ping_interval_s / ticks
        while True:
            started = loop.time()
            chargers = list(self.registry.values())
            per_tick = -(-len(chargers) // ticks)
            for tick in range(ticks):
                for charger in chargers[tick * per_tick : (tick + 1) * per_tick]:
                    await self._ping(charger, waiting, loop)
                self._expire(waiting, loop.time() - self.ping_timeout_s)
                await asyncio.sleep(max(0.0, started + (tick + 1) * tick_s - loop.time()))
            del chargers

    async def _ping(
        self,
        charger: _Charger,
        waiting: deque[tuple[float, _Charger, asyncio.Future[float]]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        connection = charger.connection
        if connection.state is not State.OPEN or self.registry.get(charger.id) is not charger:
            return
        transport = connection.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > WRITE_LIMIT:
            # It does not read what we send: a ping would wait to be written. Count it as
            # a ping without pong; the next round pings it again if it is still there.
            waiting.append((loop.time(), charger, loop.create_future()))
            return
        try:
            async with asyncio.timeout(1.0):  # a ping only waits when the buffer is full
                pong = await connection.ping()
        except (ConnectionClosed, TimeoutError, RuntimeError):
            return
        waiting.append((loop.time(), charger, pong))  # type: ignore[arg-type]

    def _expire(
        self, waiting: deque[tuple[float, _Charger, asyncio.Future[float]]], cutoff: float
    ) -> None:
        while waiting and waiting[0][0] <= cutoff:
            _, charger, pong = waiting.popleft()
            if pong.done():
                if not pong.cancelled():
                    pong.exception()  # a pong, or the connection closed: either is fine
                continue
            pong.cancel()
            connection = charger.connection
            if (
                connection.state is State.OPEN
                and not connection.transport.is_closing()  # not aborted by an earlier ping
                and self.registry.get(charger.id) is charger
            ):
                self.connection_counts["keepalive_timeouts"] += 1
                log.debug("charge point %s answered no ping: dropping it", charger.id)
                connection.transport.abort()

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
            operator = self.operator
            if operator is not None:
                ours = operator.answer(charger, frame)  # type: ignore[arg-type]
                if ours is not None and self.validate and isinstance(frame, CallResult):
                    self._check(charger.version, ours, frame.payload, response=True)
            return None
        action: str = frame.action
        handler = table.get(action)
        if handler is None:
            counts["unknown"] = counts.get("unknown", 0) + 1
            description = f"action {action[:50]!r} is not implemented by this gateway"
            return CallError(frame.unique_id, "NotImplemented", description).to_json()
        counts[action] = counts.get(action, 0) + 1
        if self.validate:
            self._check(charger.version, action, frame.payload, response=False)
        field_name = _COUNTED.get(action)
        if field_name is not None:
            value = str(frame.payload.get(field_name, "?"))[:50]
            seen = self.notifications.setdefault(action, {})
            if value in seen or len(seen) < 32:
                seen[value] = seen.get(value, 0) + 1
        try:
            payload = handler(frame.payload)
        except Exception:  # a handler bug must not drop the connection
            log.exception("answering %s failed", action)
            return CallError(frame.unique_id, "InternalError", "the gateway failed").to_json()
        if action == "BootNotification":
            charger.booted = payload["status"] == "Accepted"
        elif self.mappings is not None and action == "Heartbeat":
            self.mappings.refresh(charger)
        return CallResult(frame.unique_id, payload).to_json()

    def _check(self, version: str, action: str, payload: Any, *, response: bool) -> None:
        """Validate one payload against its official schema; count (and keep) a mismatch."""
        from loadgen.ocpp.schemas import SchemaViolation, validate

        try:
            validate(version, action, payload, response=response)
        except (SchemaViolation, LookupError) as exc:
            key = f"{action} response" if response else action
            self.schema_errors[key] = self.schema_errors.get(key, 0) + 1
            if len(self.schema_examples) < SCHEMA_EXAMPLES:
                self.schema_examples.append(str(exc)[:300])

    # -- status -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counters of this process, as served on ``GET /_status``.

        ``{"pid", "connected", "booted", "by_version": {"1.6": n, "2.0.1": n, "2.1": n},
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
            "keepalive": {
                "ping_interval_s": self.ping_interval_s,
                "ping_timeout_s": self.ping_timeout_s,
                "timeouts": self.connection_counts["keepalive_timeouts"],
            },
        }
        if self.mappings is not None:
            status["redis"] = self.mappings.status()
        if self.validate:
            status["schema"] = {
                "errors": sum(self.schema_errors.values()),
                "by_action": dict(self.schema_errors),
                "examples": list(self.schema_examples),
            }
        if self.notifications:
            status["notifications"] = {k: dict(v) for k, v in self.notifications.items()}
        if self.operator is not None:
            status["operator"] = self.operator.status()
        if self.uploads is not None:
            status["uploads"] = self.uploads.status()
        return status


def start(gateway: Gateway, options: ServerOptions) -> Awaitable[Server]:
    """The (not yet awaited) ``serve`` call of one gateway process, with lean settings.

    websockets' own keepalive is off: :meth:`Gateway.keepalive` pings from one task.
    """
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
        ping_interval=None,
        ping_timeout=None,
        close_timeout=CLOSE_TIMEOUT_S,
        # forwarded to loop.create_server
        backlog=options.backlog,
        reuse_port=options.reuse_port,
        ssl=options.ssl,
    )


def listening_port(server: Server) -> int:
    """The TCP port the server listens on (the first socket's, when it has several)."""
    return int(server.sockets[0].getsockname()[1])


def start_metrics(gateway: Gateway, options: ServerOptions) -> Awaitable[Server]:
    """The (not yet awaited) listener serving only ``GET /metrics`` on ``metrics_port``."""

    def process_request(connection: ServerConnection, request: Request) -> Response:
        if request.path.split("?", 1)[0] == metrics.METRICS_PATH:
            return gateway.metrics_response(connection)
        return connection.respond(http.HTTPStatus.NOT_FOUND, "metrics are at /metrics\n")

    async def no_websockets(_connection: ServerConnection) -> None:  # never reached
        return None

    return serve(
        no_websockets,
        options.metrics_host,
        options.metrics_port,
        process_request=process_request,
        ping_interval=None,
    )


async def serve_until_stopped(
    options: ServerOptions,
    on_ready: Callable[[int], None],
    on_metrics: Callable[[int], None] | None = None,
) -> None:
    """Listen, call ``on_ready(port)``, serve until SIGINT/SIGTERM, then close connections.

    With ``options.metrics_port`` set, ``on_metrics(port)`` is called first with the port
    of the metrics listener.

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
    uploads = None
    operator = None
    if options.script:
        uploads = UploadServer()
        await uploads.start()
        operator = Operator(options.script, Payloads(uploads.url))
    gateway = Gateway(
        Answers(options.answers),
        mappings,
        options.basic_auth,
        metrics_allow_remote=options.metrics_allow_remote,
        ping_interval_s=options.ping_interval_s,
        ping_timeout_s=options.ping_timeout_s,
        operator=operator,
        validate=options.validate,
    )
    gateway.uploads = uploads
    metrics_server: Server | None = None
    keepalive: asyncio.Task[None] | None = None
    scripted: asyncio.Task[None] | None = None
    try:
        if options.metrics_port is not None:
            metrics_server = await start_metrics(gateway, options)
            if on_metrics is not None:
                on_metrics(listening_port(metrics_server))
        server = await start(gateway, options)
        if options.ping_interval_s > 0:
            keepalive = loop.create_task(gateway.keepalive())
        if operator is not None:
            scripted = loop.create_task(operator.run(gateway))
        try:
            on_ready(listening_port(server))
            await stop
        finally:
            if keepalive is not None:
                keepalive.cancel()
            if scripted is not None:
                scripted.cancel()
            if uploads is not None:
                uploads.close()
            if operator is not None or options.validate:  # the run's figures, in the log
                log.info("final status: %s", json.dumps(gateway.status(), sort_keys=True))
            if metrics_server is not None:
                metrics_server.close()
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
