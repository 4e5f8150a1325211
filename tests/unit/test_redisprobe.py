"""The mapping probe's verdicts and the INFO sampler, against a scripted Redis and clock."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gevent
import locust  # noqa: F401 - monkey-patches before redis imports ssl, as in a real run
import pytest
from gevent.event import Event
from redis import ConnectionError as RedisConnectionError
from redis import TimeoutError as RedisTimeoutError

from loadgen.config import RedisProbe
from loadgen.failures import Failure
from loadgen.observe.redisprobe import MappingProbe, RedisInfoSampler, sampled, snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeRedis:
    """Answers EXISTS from ``keys`` (or raises ``error``); records every round trip."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.error: Exception | None = None
        self.round_trips: list[list[str]] = []
        self.info_values: dict[str, Any] = {}
        self.during: Any = None  # called inside a round trip (the hub runs meanwhile)

    def pipeline(self, transaction: bool = True) -> FakeRedis.Pipe:
        return FakeRedis.Pipe(self)

    def info(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.info_values

    class Pipe:
        def __init__(self, owner: FakeRedis) -> None:
            self.owner = owner
            self.asked: list[str] = []

        def exists(self, key: str) -> None:
            self.asked.append(key)

        def execute(self) -> list[int]:
            self.owner.round_trips.append(self.asked)
            if self.owner.during is not None:
                self.owner.during()
            if self.owner.error is not None:
                raise self.owner.error
            return [int(key in self.owner.keys) for key in self.asked]


Fired = list[tuple[str, str, float, Exception | None]]


def make_probe(
    within_s: float = 2.0, sample: float = 1.0
) -> tuple[MappingProbe, FakeRedis, Clock, Fired, dict[str, int]]:
    fake, clock, fired = FakeRedis(), Clock(), []
    counts = {"checked": 0, "found": 0, "missing": 0, "unchecked": 0}

    def fire(kind: str, name: str, ms: float, length: int, exc: Exception | None) -> None:
        fired.append((kind, name, ms, exc))

    settings = RedisProbe(url="redis://:pw@h:1/0", sample=sample, within_s=within_s)
    probe = MappingProbe(
        settings, fire, client_factory=lambda url: fake, clock=clock, counts=counts
    )
    return probe, fake, clock, fired, counts


def run_until(probe: MappingProbe, clock: Clock, until: float) -> None:
    """Tick the probe as its loop would, advancing the fake clock, until ``until``."""
    while clock.now < until:
        wait = probe.tick()
        clock.now = min(until, clock.now + max(wait if wait is not None else 1.0, 0.02))
    probe.tick()


def test_sampling_is_deterministic_and_near_the_fraction() -> None:
    """The same ids are sampled every time, about the configured share of them."""
    ids = [f"CP-{w}-{n:06d}" for w in range(4) for n in range(2500)]
    chosen = [i for i in ids if sampled(i, 0.05)]
    assert chosen == [i for i in ids if sampled(i, 0.05)]
    assert 0.04 < len(chosen) / len(ids) < 0.06
    assert all(sampled(i, 1.0) for i in ids[:100]) and not any(sampled(i, 0) for i in ids)


def test_mapping_present_at_boot_is_found_in_one_round_trip() -> None:
    """A mapping already in Redis is found by the first check, fired as a success."""
    probe, fake, clock, fired, counts = make_probe()
    fake.keys = {"ocpp:cp:CP-1", "ocpp:cp:CP-2"}
    probe.booted("CP-1")
    probe.booted("CP-2")
    clock.now += 0.005
    assert probe.tick() is None
    assert fake.round_trips == [["ocpp:cp:CP-1", "ocpp:cp:CP-2"]]
    assert [(k, n, e) for k, n, _, e in fired] == [("redis", "mapping", None)] * 2
    assert fired[0][2] == pytest.approx(5.0)
    assert counts == {"checked": 2, "found": 2, "missing": 0, "unchecked": 0}


def test_mapping_that_appears_late_is_found_with_its_delay() -> None:
    """A mapping written after the boot is found by a later, spaced-out check."""
    probe, fake, clock, fired, counts = make_probe(within_s=2.0)
    probe.booted("CP-1")
    run_until(probe, clock, 100.7)
    assert counts["checked"] == 0 and len(fake.round_trips) < 10
    fake.keys.add("ocpp:cp:CP-1")
    run_until(probe, clock, 101.5)
    assert counts == {"checked": 1, "found": 1, "missing": 0, "unchecked": 0}
    assert 700 <= fired[0][2] <= 1250 and fired[0][3] is None


def test_mapping_never_written_is_missing_at_the_deadline() -> None:
    """No mapping by within_s fires mapping_missing once, after a check at the deadline."""
    probe, fake, clock, fired, counts = make_probe(within_s=2.0)
    probe.booted("CP-1")
    run_until(probe, clock, 103.0)
    assert counts == {"checked": 1, "found": 0, "missing": 1, "unchecked": 0}
    ((kind, name, ms, exc),) = fired
    assert (kind, name) == ("redis", "mapping") and ms >= 2000
    assert isinstance(exc, Failure) and str(exc) == "mapping_missing"


def test_redis_down_leaves_checks_unchecked_never_missing() -> None:
    """When Redis cannot answer, charge points past their deadline are unchecked, not missing."""
    probe, fake, clock, fired, counts = make_probe(within_s=1.0)
    fake.error = RedisConnectionError("Error 111 connecting to h:1. Connection refused.")
    for n in range(5):
        probe.booted(f"CP-{n}")
    run_until(probe, clock, 102.0)
    assert fired == []
    assert counts == {"checked": 0, "found": 0, "missing": 0, "unchecked": 5}
    assert len(fake.round_trips) <= 6  # backs off instead of hammering a dead server


def test_redis_back_before_the_deadline_gives_a_verdict() -> None:
    """A failed round trip is retried: Redis back in time still finds the mapping."""
    probe, fake, clock, fired, counts = make_probe(within_s=3.0)
    fake.error = RedisTimeoutError("Timeout reading from socket")
    probe.booted("CP-1")
    run_until(probe, clock, 100.5)
    fake.error = None
    fake.keys.add("ocpp:cp:CP-1")
    run_until(probe, clock, 103.5)
    assert counts == {"checked": 1, "found": 1, "missing": 0, "unchecked": 0}


def test_stop_counts_pending_as_unchecked_and_ignores_later_boots() -> None:
    """At the test's end, charge points still pending are unchecked; later boots are ignored."""
    probe, fake, clock, fired, counts = make_probe()
    probe.booted("CP-1")
    probe.stop()
    probe.booted("CP-2")
    assert probe.tick() is None and fake.round_trips == [] and fired == []
    assert counts["unchecked"] == 1
    probe.start()
    probe.booted("CP-3")
    assert probe.tick() is not None


@pytest.mark.parametrize("fails", [False, True])
def test_a_stop_during_a_round_trip_leaves_its_checks_unchecked(fails: bool) -> None:
    """The test stops while a batch's EXISTS are under way: those charge points are
    unchecked, in the count the stop logs, and the answer (or error) that comes after
    judges nothing, fires nothing and schedules nothing."""
    probe, fake, clock, fired, counts = make_probe()
    fake.keys = {"ocpp:cp:CP-1"}
    if fails:
        fake.error = RedisConnectionError("down")
    probe.booted("CP-1")
    probe.booted("CP-2")  # not written: without the stop it would be checked again
    fake.during = probe.stop
    assert probe.tick() is None
    assert len(fake.round_trips) == 1 and fired == []
    assert counts == {"checked": 0, "found": 0, "missing": 0, "unchecked": 2}
    fake.during, fake.error = None, None
    clock.now += 10
    assert probe.tick() is None and len(fake.round_trips) == 1
    probe.start()  # the next test checks its own boots
    probe.booted("CP-1")
    assert probe.tick() is None and counts["found"] == 1 and counts["unchecked"] == 2


def test_a_second_boot_while_pending_is_one_check() -> None:
    """A charge point pending a check is not queued twice."""
    probe, fake, clock, fired, counts = make_probe()
    fake.keys.add("ocpp:cp:CP-1")
    probe.booted("CP-1")
    probe.booted("CP-1")
    probe.tick()
    assert fake.round_trips == [["ocpp:cp:CP-1"]] and counts["found"] == 1


@pytest.mark.timeout(10)
def test_watch_checks_after_the_boot_event_unsampled_never() -> None:
    """watch() checks a sampled charge point once its booted event is set, in its greenlet."""
    probe, fake, clock, fired, counts = make_probe(sample=1.0)
    fake.keys.add("ocpp:cp:CP-1")
    charger = SimpleNamespace(charge_point_id="CP-1", booted=Event())
    assert probe.watch(charger)
    gevent.sleep(0.05)
    assert fired == []
    charger.booted.set()
    with gevent.Timeout(5):
        while not fired:
            gevent.sleep(0.01)
    assert counts["found"] == 1
    other, *_ = make_probe(sample=0.0)
    unsampled = Unsampled()
    assert not other.watch(unsampled) and not unsampled.booted_read


class Unsampled:
    """A charge point whose ``booted`` event must not be made (it is not in the sample)."""

    charge_point_id = "CP-2"
    booted_read = False

    @property
    def booted(self) -> Event:
        self.booted_read = True
        return Event()


def test_snapshot_has_the_four_counts() -> None:
    """snapshot() gives this process's counts under fixed keys."""
    assert set(snapshot()) == {"checked", "found", "missing", "unchecked"}


def test_info_sampler_keeps_last_and_max_and_counts_failures() -> None:
    """The INFO sampler keeps the last values and the most of each; failures are counted."""
    fake = FakeRedis()
    sampler = RedisInfoSampler("redis://:pw@h:1/0", client_factory=lambda url: fake)
    assert sampler.latest() == {}
    fake.info_values = {"connected_clients": 12, "blocked_clients": 0, "used_memory": 1000}
    assert sampler.sample()
    fake.info_values = {"connected_clients": 7, "blocked_clients": 2, "used_memory": 900}
    assert sampler.sample()
    fake.error = RedisConnectionError("refused")
    assert not sampler.sample()
    summary = sampler.summary()
    assert summary["url"] == "redis://:***@h:1/0"
    assert (summary["samples"], summary["failed_samples"]) == (2, 1)
    assert summary["last"]["connected_clients"] == 7 and summary["last"]["blocked_clients"] == 2
    assert summary["max"]["connected_clients"] == 12 and summary["max"]["used_memory"] == 1000
    assert summary["last"]["rejected_connections"] == 0
