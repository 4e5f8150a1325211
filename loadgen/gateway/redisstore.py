"""The gateway's Redis registry: charge point -> gateway instance mappings, off the hot path.

When a charger connects, the gateway :meth:`RedisMappings.connected` it: a task runs
``SET <key> <instance id> EX <ttl>`` while the connection goes on answering frames. Each
Heartbeat :meth:`~RedisMappings.refresh` es the mapping (the same SET, which also repairs
one whose first write failed) unless an operation for that charger is still under way;
on disconnect :meth:`~RedisMappings.disconnected` deletes the key only if it still names
this instance (a Lua compare-and-delete). Operations for one charger run in order, one
after the other; at most ``max_inflight`` run at once across chargers, and at most
``max_queued`` are scheduled and not yet done: past that an operation is dropped, counted
(``dropped``) and, for a first SET with ``on_error: refuse``, its charger refused. A dropped
SET is repaired by the charger's next Heartbeat; a dropped delete leaves the key to its TTL.

The pool is a ``BlockingConnectionPool`` of ``pool_size`` connections: an operation that
finds no free connection within ``pool_timeout`` fails like go-redis' "redis: connection
pool timeout" (the seeds' failure at 13k chargers). Failures are counted, logged at most
once every few seconds per kind, and the charger is served anyway or refused (its
WebSocket closed with code 1013 and the reason) as ``on_error`` says.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from loadgen.gateway.redisconf import RedisSettings
from loadgen.redismap import mapping_key

log = logging.getLogger("loadgen.gateway.redis")

#: Seconds between two log lines about the same kind of failure.
LOG_EVERY_S = 5.0
#: WebSocket close code for a refused charger: "Try Again Later".
REFUSE_CODE = 1013
#: go-redis' retry backoff: 8 ms doubling up to 512 ms.
RETRY_BACKOFF = {"base": 0.008, "cap": 0.512}

#: 1: deleted; 0: no such key; -1: the key names another instance (left alone)
_DELETE_IF_OURS = """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
if owner then return -1 end
return 0
"""


class Charger(Protocol):
    """What the registry needs of a connected charger (the server's ``_Charger``)."""

    id: str
    connection: Any


def default_instance_id() -> str:
    """This gateway process as Redis sees it: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_pool_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` says no pool connection became free within the pool timeout."""
    return isinstance(exc, RedisConnectionError) and (
        isinstance(exc.__cause__, TimeoutError) or "No connection available" in str(exc)
    )


class _Throttled:
    """Log a kind of failure at most once every ``every_s``, with how many were skipped."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.every_s = every_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._last.get(kind, -1e18) < self.every_s:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        skipped = self._skipped.pop(kind, 0)
        self._last[kind] = now
        more = f" ({skipped} more like it in the last {self.every_s:g} s)" if skipped else ""
        log.error(message + more, *args)


class CountingPool(BlockingConnectionPool):
    """The blocking pool, counting what go-redis' ``PoolStats`` reports.

    ``hits``: a connection was taken from the idle ones; ``misses``: none was idle, so a
    new one was made. Pool timeouts are counted by :class:`RedisMappings`, which sees them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gets = 0
        self.misses = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        connection = await super().get_connection(*args, **kwargs)
        self.gets += 1
        return connection

    def make_connection(self) -> Any:
        self.misses += 1
        return super().make_connection()

    def stats(self) -> dict[str, int]:
        """hits, misses, total and idle connections, and the most allowed (``size``)."""
        idle = len(self._available_connections)
        return {
            "hits": max(0, self.gets - self.misses),
            "misses": self.misses,
            "total_conns": idle + len(self._in_use_connections),
            "idle_conns": idle,
            "size": int(self.max_connections),
        }


class RedisMappings:
    """The charge point -> instance mappings of one gateway process, with counters."""

    def __init__(self, settings: RedisSettings, *, instance_id: str | None = None) -> None:
        self.settings = settings
        self.instance_id = instance_id or default_instance_id()
        pool = settings.pool
        self._pool = CountingPool.from_url(
            settings.url,
            max_connections=pool.pool_size,
            timeout=pool.pool_timeout_s,
            socket_connect_timeout=pool.dial_timeout_s,
            # redis-py has one socket timeout for reads and writes: the larger wins
            socket_timeout=max(pool.read_timeout_s, pool.write_timeout_s),
            retry=Retry(ExponentialBackoff(**RETRY_BACKOFF), pool.max_retries),
            health_check_interval=0,
        )
        self._redis = Redis(connection_pool=self._pool)
        self._delete_if_ours = self._redis.register_script(_DELETE_IF_OURS)
        #: set / refreshed / deleted: operations done; absent / not_owned: deletes with no
        #: key, or a key naming another instance (left alone); pool_timeouts / errors:
        #: operations that failed; dropped: operations not run because max_queued were
        #: already scheduled; refused: chargers closed because their set failed
        self.counts = dict.fromkeys(
            (
                "set",
                "refreshed",
                "deleted",
                "absent",
                "not_owned",
                "pool_timeouts",
                "errors",
                "dropped",
                "refused",
            ),
            0,
        )
        self._tails: dict[str, asyncio.Task[None]] = {}  # charger id -> its last operation
        self._inflight = asyncio.Semaphore(settings.max_inflight)
        self._queued = 0  # operations scheduled and not done
        self._closers: set[asyncio.Task[None]] = set()
        self._log = _Throttled()

    async def start(self) -> None:
        """Log the settings and open ``min_idle_conns`` connections; never raises."""
        s, pool = self.settings, self.settings.pool
        log.info(
            "Redis registry at %s as %s: key %s, ttl %s, pool_size %d, min_idle_conns %d, "
            "pool_timeout %gs, dial %gs, read %gs, write %gs, on error: %s",
            s.masked_url,
            self.instance_id,
            s.key,
            f"{s.ttl_s}s" if s.ttl_s else "none",
            pool.pool_size,
            pool.min_idle_conns,
            pool.pool_timeout_s,
            pool.dial_timeout_s,
            pool.read_timeout_s,
            pool.write_timeout_s,
            s.on_error,
        )
        if pool.min_idle_conns:
            # Concurrent PINGs each hold a connection: the pool keeps them open, idle.
            results = await asyncio.gather(
                *(self._redis.ping() for _ in range(pool.min_idle_conns)), return_exceptions=True
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                log.warning(
                    "Redis at %s does not answer yet (%s): serving anyway; mappings fail "
                    "until it does",
                    s.masked_url,
                    _describe(failed[0]),
                )

    # -- the gateway's calls (synchronous: they only schedule) ----------------------------

    def connected(self, charger: Charger) -> None:
        """Store ``charger``'s mapping in the background."""
        if not self._schedule(charger.id, lambda: self._set(charger, "set")):
            self._dropped("set", charger)

    def refresh(self, charger: Charger) -> None:
        """Rewrite the mapping and its TTL, unless an operation for it is under way."""
        if charger.id not in self._tails:
            if not self._schedule(charger.id, lambda: self._set(charger, "refreshed")):
                self._dropped("refresh", charger)

    def disconnected(self, charger: Charger) -> None:
        """Delete the mapping in the background if it still names this instance."""
        if not self._schedule(charger.id, lambda: self._delete(charger.id)):
            self._dropped("delete", charger)

    def status(self) -> dict[str, Any]:
        """Counters for ``GET /_status`` (``inflight``: chargers with an operation due;
        ``queued``: operations scheduled and not done; ``pool``: go-redis' pool stats)."""
        return {
            **self.counts,
            "inflight": len(self._tails),
            "queued": self._queued,
            "max_queued": self.settings.max_queued,
            "pool": {**self._pool.stats(), "timeouts": self.counts["pool_timeouts"]},
            "instance": self.instance_id,
            "url": self.settings.masked_url,
        }

    async def close(self, timeout_s: float) -> None:
        """Let pending operations (the last deletes) finish within ``timeout_s``, then close."""
        pending = {*self._tails.values(), *self._closers}
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout_s)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d Redis operations did not finish before stopping", len(late))
        log.info("Redis registry: %s", ", ".join(f"{k} {v}" for k, v in self.counts.items()))
        close = getattr(self._redis, "aclose", None) or self._redis.close  # redis-py 5.0.0
        await close()
        await self._pool.disconnect()

    # -- operations ------------------------------------------------------------------------

    def _schedule(self, charger_id: str, operation: Callable[[], Awaitable[None]]) -> bool:
        """Run ``operation`` after the charger's earlier ones; False when the queue is full."""
        if self._queued >= self.settings.max_queued:
            return False
        self._queued += 1
        previous = self._tails.get(charger_id)
        task = asyncio.get_running_loop().create_task(self._run(previous, operation))
        self._tails[charger_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._queued -= 1
            if self._tails.get(charger_id) is finished:
                del self._tails[charger_id]

        task.add_done_callback(done)
        return True

    def _dropped(self, operation: str, charger: Charger) -> None:
        self.counts["dropped"] += 1
        self._log(
            "dropped",
            "Dropped the Redis %s of charge point %s: %d operations already queued "
            "(--redis-max-queue)",
            operation,
            charger.id,
            self.settings.max_queued,
        )
        if operation == "set" and self.settings.on_error == "refuse":
            self._refuse(charger, None)

    async def _run(
        self, previous: asyncio.Task[None] | None, operation: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait((previous,))  # keep one charger's operations in order
        async with self._inflight:
            await operation()

    async def _set(self, charger: Charger, kind: str) -> None:
        key = mapping_key(self.settings.key, charger.id)
        try:
            await self._redis.set(key, self.instance_id, ex=self.settings.ttl_s or None)
        except (RedisError, OSError) as exc:
            self._failed("set" if kind == "set" else "refresh", charger.id, exc)
            if kind == "set" and self.settings.on_error == "refuse":
                self._refuse(charger, exc)
            return
        self.counts[kind] += 1

    async def _delete(self, charger_id: str) -> None:
        key = mapping_key(self.settings.key, charger_id)
        try:
            deleted = await self._delete_if_ours(keys=[key], args=[self.instance_id])
        except (RedisError, OSError) as exc:
            self._failed("delete", charger_id, exc)
            return
        self.counts[{1: "deleted", 0: "absent"}.get(deleted, "not_owned")] += 1

    def _failed(self, operation: str, charger_id: str, exc: BaseException) -> None:
        pool = self.settings.pool
        if is_pool_timeout(exc):
            self.counts["pool_timeouts"] += 1
            self._log(
                "pool_timeout",
                "Failed to %s connection mapping in Redis for charge point %s: redis: "
                "connection pool timeout (pool_size %d, pool_timeout %gs)",
                operation,
                charger_id,
                pool.pool_size,
                pool.pool_timeout_s,
            )
        else:
            self.counts["errors"] += 1
            self._log(
                "error",
                "Failed to %s connection mapping in Redis for charge point %s: %s",
                operation,
                charger_id,
                _describe(exc),
            )

    def _refuse(self, charger: Charger, exc: BaseException | None) -> None:
        """Close the charger's WebSocket (1013 Try Again Later) saying why."""
        if exc is None:
            what = "too many Redis operations queued"
        else:
            what = "connection pool timeout" if is_pool_timeout(exc) else type(exc).__name__
        reason = f"mapping not stored in Redis ({what}); try again later"[:120]
        self.counts["refused"] += 1
        task = asyncio.get_running_loop().create_task(charger.connection.close(REFUSE_CODE, reason))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of a Redis failure."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
