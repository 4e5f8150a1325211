"""Tests of the reusable driver greenlets: jobs run, greenlets are reused and trimmed."""

from __future__ import annotations

import time

import gevent
import pytest
from gevent import get_hub
from gevent.event import Event

from loadgen.sim.drivers import Drivers

pytestmark = pytest.mark.timeout(30)


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.01)


def test_jobs_from_a_greenlet_run_and_reuse_one_greenlet() -> None:
    drivers = Drivers()
    done: list[int] = []
    for n in range(50):
        drivers.submit(lambda n=n: done.append(n))
        wait_until(lambda n=n: len(done) == n + 1)
    assert done == list(range(50))
    assert drivers.spawned == 1  # each job found the previous greenlet idle
    assert drivers.idle == 1


def test_jobs_from_hub_callbacks_run_at_once_in_a_driver() -> None:
    drivers = Drivers()
    ran: list[object] = []
    drivers.submit(lambda: None)  # one idle greenlet to reuse
    wait_until(lambda: drivers.idle == 1)
    hub = get_hub()

    def job() -> None:
        ran.append(gevent.getcurrent())

    timer = hub.loop.timer(0.01)
    timer.start(drivers.submit, job)
    wait_until(lambda: bool(ran))
    timer.close()
    assert ran[0] is not hub
    assert drivers.spawned == 1


def test_concurrent_jobs_get_their_own_greenlets() -> None:
    drivers = Drivers()
    release = Event()
    started: list[int] = []

    def job(n: int) -> None:
        started.append(n)
        release.wait(5)

    for n in range(5):
        drivers.submit(lambda n=n: job(n))
    wait_until(lambda: len(started) == 5)
    assert drivers.spawned == 5
    release.set()
    wait_until(lambda: drivers.idle == 5)


def test_a_failing_job_does_not_stop_the_driver(caplog: pytest.LogCaptureFixture) -> None:
    drivers = Drivers()
    done: list[str] = []

    def bad() -> None:
        raise RuntimeError("boom")

    drivers.submit(bad)
    drivers.submit(lambda: done.append("after"))
    wait_until(lambda: done == ["after"])
    assert "a charge point's work failed" in caplog.text


def test_idle_greenlets_that_no_job_needed_end() -> None:
    drivers = Drivers(idle_s=0.2)
    release = Event()
    for _ in range(4):
        drivers.submit(lambda: release.wait(5))
    release.set()
    wait_until(lambda: drivers.idle == 4)
    wait_until(lambda: drivers.idle == 0, timeout_s=5)
    done: list[int] = []
    drivers.submit(lambda: done.append(1))  # the pool starts again from nothing
    wait_until(lambda: done == [1])
    assert drivers.spawned == 5


def test_a_greenlet_in_use_is_not_trimmed() -> None:
    drivers = Drivers(idle_s=0.3)
    done: list[int] = []
    drivers.submit(lambda: done.append(0))
    wait_until(lambda: drivers.idle == 1)
    ends = time.monotonic() + 1.0
    while time.monotonic() < ends:  # a job every 50 ms: the one greenlet stays busy
        drivers.submit(lambda: done.append(1))
        gevent.sleep(0.05)
    assert drivers.spawned == 1
    assert drivers.idle == 1


def test_a_job_handed_to_a_greenlet_killed_while_idle_still_runs() -> None:
    drivers = Drivers()
    greenlets: list[gevent.Greenlet] = []
    drivers.submit(lambda: greenlets.append(gevent.getcurrent()))
    wait_until(lambda: drivers.idle == 1)
    done: list[int] = []
    greenlets[0].kill(block=False)  # the kill is delivered at the hub's next turn ...
    drivers.submit(lambda: done.append(1))  # ... before the job handed to the same greenlet
    wait_until(lambda: done == [1])
    assert greenlets[0].dead
    assert drivers.spawned == 2  # the job moved on to a new greenlet
    assert drivers.idle == 1
