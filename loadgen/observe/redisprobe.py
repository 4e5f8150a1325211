"""The Redis mapping probe: does a booted charge point's gateway mapping appear in time?

A gateway that keeps "charge point -> gateway instance" mappings in Redis can fail to
write them (the seeds' ``redis: connection pool timeout`` at 13k chargers) while it goes
on serving the chargers: a load test that only watches WebSockets never sees it. For a
sample of the charge points (a ``sample`` fraction chosen by a hash of the id, so the
same ones on every run and worker) the probe waits for the first Accepted boot, then
polls ``EXISTS <key>`` at short, growing intervals until the key appears or ``within_s``
has passed, and fires a Locust request ``redis mapping``: a success with the time it
took, or ``Failure("mapping_missing")``.

One greenlet per process checks every due charge point in one pipelined round trip.
A Redis that is down or slow never stalls the load: socket timeouts are short, nothing
is retried, and a charge point whose check could not be made is counted ``unchecked``
(with a warning at most every few seconds), never ``mapping_missing``.

On the master, :class:`RedisInfoSampler` samples the server's ``INFO`` every few seconds.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
from gevent.event import Event
from locust.env import Environment  # first: Locust monkey-patches before redis loads ssl

from loadgen.config import RedisProbe
from loadgen.failures import Failure
from loadgen.redismap import mapping_key, mask_url

log = logging.getLogger("loadgen.redisprobe")

REQUEST_TYPE = "redis"
REQUEST_NAME = "mapping"
#: A Redis that is down or slow costs one round trip at most this long.
SOCKET_TIMEOUT_S = 1.0
#: Between two checks of one charge point: short at first, doubling up to the cap.
FIRST_INTERVAL_S = 0.05
MAX_INTERVAL_S = 0.5
#: Fewest seconds between two round trips (checks due meanwhile share the next one).
MIN_TICK_S = 0.02
#: Most keys checked in one round trip.
BATCH = 1000
#: After a failed round trip, wait this long before the next (doubling up to the cap).
ERROR_BACKOFF_S = (0.1, 2.0)
WARN_EVERY_S = 10.0
#: The server numbers :class:`RedisInfoSampler` keeps.
INFO_FIELDS = (
    "connected_clients",
    "blocked_clients",
    "instantaneous_ops_per_sec",
    "used_memory",
    "rejected_connections",
)

Fire = Callable[[str, str, float, int, Exception | None], None]


class Bootable(Protocol):
    """What the probe needs of a charge point (:class:`loadgen.sim.chargepoint.ChargePoint`)."""

    charge_point_id: str

    @property
    def booted(self) -> Event: ...  # set after an Accepted boot


#: This process's probe counts: checked = found + missing; unchecked: no verdict possible.
COUNTS: dict[str, int] = {"checked": 0, "found": 0, "missing": 0, "unchecked": 0}


def snapshot() -> dict[str, int]:
    """This process's counts: ``{"checked", "found", "missing", "unchecked"}``."""
    return dict(COUNTS)


def sampled(charge_point_id: str, fraction: float) -> bool:
    """Whether ``charge_point_id`` is in the sample: its hash falls below ``fraction``."""
    if fraction >= 1:
        return True
    if fraction <= 0:
        return False
    digest = hashlib.blake2b(charge_point_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


def _redis_error() -> type[Exception]:
    from redis import RedisError

    return RedisError


def client_for(url: str) -> Any:
    """A Redis client with short timeouts and no retries: a probe must not wait.

    redis-py is imported here, on first use: a run without ``redis:`` never loads its
    ~90 modules (~7 MB in every Locust process).
    """
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        max_connections=4,
    )


def describe(exc: BaseException) -> str:
    """A short description of a Redis failure (its messages carry no password)."""
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(order=True, slots=True)
class _Watch:
    """One charge point whose mapping is awaited; ordered by when it is next due."""

    due: float
    seq: int
    charge_point_id: str = field(compare=False)
    key: str = field(compare=False)
    booted_at: float = field(compare=False)
    deadline: float = field(compare=False)
    interval_s: float = field(compare=False, default=FIRST_INTERVAL_S)


class MappingProbe:
    """Checks that sampled charge points' mappings appear within ``within_s`` of booting."""

    def __init__(
        self,
        settings: RedisProbe,
        fire: Fire,
        *,
        client_factory: Callable[[str], Any] = client_for,
        clock: Callable[[], float] = time.monotonic,
        counts: dict[str, int] = COUNTS,
    ) -> None:
        self.settings = settings
        self.masked_url = mask_url(settings.url)
        self.counts = counts
        self._fire = fire
        self._client_factory = client_factory
        self._client: Any = None  # made on first use, so a Redis that is down costs nothing
        self._clock = clock
        self._heap: list[_Watch] = []
        self._in_flight: list[_Watch] = []  # in the round trip under way
        self._generation = 0  # a stop ends it: a round trip from before is not judged
        self._seq = itertools.count()
        self._watching: set[str] = set()  # ids with a pending check
        self._wake = Event()  # a charge point booted
        self._loop: gevent.Greenlet | None = None
        self._retry_at = 0.0  # no round trip before this, after a failure
        self._backoff_s = 0.0
        self._last_error = ""
        self._warned_at = -1e18
        self.stopped = False

    # -- from the charge points -----------------------------------------------------------

    def watch(self, charge_point: Bootable) -> bool:
        """Check the charge point's mapping after its first Accepted boot, if sampled.

        ``booted`` is read only for sampled charge points (it may be made on first use).
        """
        charge_point_id = charge_point.charge_point_id
        if not sampled(charge_point_id, self.settings.sample):
            return False
        charge_point.booted.rawlink(lambda _event: self.booted(charge_point_id))
        if self._loop is None:
            self._loop = gevent.spawn(self._run)
        return True

    def on_booted(self, charge_point_id: str) -> None:
        """A charge point was accepted: check its mapping if it is in the sample."""
        if not sampled(charge_point_id, self.settings.sample):
            return
        if self._loop is None:
            self._loop = gevent.spawn(self._run)
        self.booted(charge_point_id)

    def booted(self, charge_point_id: str) -> None:
        """Start checking ``charge_point_id`` now (runs in the hub: never blocks)."""
        if self.stopped or charge_point_id in self._watching:
            return
        now = self._clock()
        key = mapping_key(self.settings.key, charge_point_id)
        deadline = now + self.settings.within_s
        watch = _Watch(now, next(self._seq), charge_point_id, key, now, deadline)
        self._watching.add(charge_point_id)
        heapq.heappush(self._heap, watch)
        self._wake.set()

    # -- the test's life ------------------------------------------------------------------

    def start(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        """The test is stopping: charge points still pending cannot be judged (unchecked),
        nor those whose round trip is under way (its answer, if it comes, is dropped)."""
        self.stopped = True
        self._generation += 1
        self.counts["unchecked"] += len(self._heap) + len(self._in_flight)
        self._heap.clear()
        self._in_flight = []
        self._watching.clear()
        c = self.counts
        level = logging.WARNING if c["missing"] or c["unchecked"] else logging.INFO
        log.log(
            level,
            "redis probe: checked %d (found %d, missing %d), unchecked %d mappings at %s",
            c["checked"],
            c["found"],
            c["missing"],
            c["unchecked"],
            self.masked_url,
        )

    # -- checking -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait_s = self.tick()
            except Exception:  # a bug here must not end the probe or the load
                log.exception("redis probe: checking failed")
                wait_s = 1.0
            if wait_s is None or wait_s > 0:
                self._wake.wait(wait_s)
            gevent.sleep(MIN_TICK_S)

    def tick(self) -> float | None:
        """Check every due charge point in one round trip; seconds until the next is due."""
        now = self._clock()
        due: list[_Watch] = []
        while self._heap and self._heap[0].due <= now and len(due) < BATCH:
            due.append(heapq.heappop(self._heap))
        if due:
            if now < self._retry_at:
                self._not_checked(due, now)
            else:
                self._check(due)
        if not self._heap:
            return None
        return max(0.0, self._heap[0].due - self._clock())

    def _check(self, due: list[_Watch]) -> None:
        generation = self._generation
        self._in_flight = due  # the round trip yields to the hub: a stop may come meanwhile
        try:
            if self._client is None:
                self._client = self._client_factory(self.settings.url)
            pipe = self._client.pipeline(transaction=False)
            for watch in due:
                pipe.exists(watch.key)
            answers = pipe.execute()
        except (_redis_error(), OSError) as exc:
            if generation != self._generation:
                return  # stopped meanwhile: counted unchecked there
            self._in_flight = []
            now = self._clock()
            self._backoff_s = min(max(self._backoff_s * 2, ERROR_BACKOFF_S[0]), ERROR_BACKOFF_S[1])
            self._retry_at = now + self._backoff_s
            self._last_error = describe(exc)
            self._not_checked(due, now)
            return
        if generation != self._generation:
            return  # stopped meanwhile: counted unchecked there
        self._in_flight = []
        self._backoff_s = 0.0
        now = self._clock()
        for watch, exists in zip(due, answers, strict=True):
            if exists:
                self._verdict(watch, now, None)
            elif now >= watch.deadline:
                self._verdict(watch, now, Failure("mapping_missing"))
            else:
                watch.due = min(now + watch.interval_s, watch.deadline)
                watch.interval_s = min(watch.interval_s * 2, MAX_INTERVAL_S)
                heapq.heappush(self._heap, watch)

    def _verdict(self, watch: _Watch, now: float, failure: Failure | None) -> None:
        self._watching.discard(watch.charge_point_id)
        self.counts["checked"] += 1
        self.counts["missing" if failure else "found"] += 1
        self._fire(REQUEST_TYPE, REQUEST_NAME, (now - watch.booted_at) * 1000, 0, failure)

    def _not_checked(self, due: list[_Watch], now: float) -> None:
        """Redis cannot be asked: past their deadline, charge points are unchecked."""
        for watch in due:
            if now >= watch.deadline:
                self._watching.discard(watch.charge_point_id)
                self.counts["unchecked"] += 1
            else:
                watch.due = min(self._retry_at, watch.deadline)
                heapq.heappush(self._heap, watch)
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "redis probe: cannot reach Redis at %s (%s): %d mapping checks unchecked so "
                "far; the load goes on",
                self.masked_url,
                self._last_error,
                self.counts["unchecked"],
            )


_probes: dict[tuple[int, RedisProbe], MappingProbe] = {}


def for_environment(environment: Environment, settings: RedisProbe | None) -> MappingProbe | None:
    """This process's probe for ``settings`` (None when the config has no ``redis:``).

    Its checks fire ``redis mapping`` request events; it stops with the test.
    """
    if settings is None:
        return None
    probe = _probes.get((id(environment), settings))
    if probe is None:
        events = environment.events

        def fire(kind: str, name: str, ms: float, length: int, exc: Exception | None) -> None:
            events.request.fire(
                request_type=kind,
                name=name,
                response_time=ms,
                response_length=length,
                exception=exc,
                context={},
            )

        probe = _probes[(id(environment), settings)] = MappingProbe(settings, fire)
        events.test_start.add_listener(lambda **_: probe.start())
        events.test_stopping.add_listener(lambda **_: probe.stop())
    return probe


class RedisInfoSampler:
    """Samples a Redis server's ``INFO`` every ``interval_s`` in a greenlet (the master's).

    :meth:`latest` gives the last sample's :data:`INFO_FIELDS`, :meth:`summary` those and
    the most seen of each; a Redis that is down only counts ``failed_samples``.
    """

    def __init__(
        self,
        url: str,
        interval_s: float = 5.0,
        *,
        client_factory: Callable[[str], Any] = client_for,
    ) -> None:
        self.url = url
        self.masked_url = mask_url(url)
        self.interval_s = interval_s
        self.samples = 0
        self.failed_samples = 0
        self._client_factory = client_factory
        self._client: Any = None
        self._latest: dict[str, int] = {}
        self._max: dict[str, int] = {}
        self._greenlet: gevent.Greenlet | None = None
        self._warned_at = -1e18

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        while True:
            self.sample()
            gevent.sleep(self.interval_s)

    def sample(self) -> bool:
        """Take one sample now; False (and one more failed sample) when Redis cannot answer."""
        try:
            if self._client is None:
                self._client = self._client_factory(self.url)
            info = self._client.info()
        except (_redis_error(), OSError) as exc:
            self.failed_samples += 1
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning(
                    "redis INFO: cannot sample %s (%s); %d samples failed so far",
                    self.masked_url,
                    describe(exc),
                    self.failed_samples,
                )
            return False
        self.samples += 1
        self._latest = {name: int(info.get(name, 0) or 0) for name in INFO_FIELDS}
        for name, value in self._latest.items():
            self._max[name] = max(self._max.get(name, value), value)
        return True

    def latest(self) -> dict[str, int]:
        """The last sample: ``{field: value}`` for :data:`INFO_FIELDS`; ``{}`` before one."""
        return dict(self._latest)

    def summary(self) -> dict[str, Any]:
        """``{"url", "samples", "failed_samples", "last": {...}, "max": {...}}``."""
        return {
            "url": self.masked_url,
            "samples": self.samples,
            "failed_samples": self.failed_samples,
            "last": self.latest(),
            "max": dict(self._max),
        }
