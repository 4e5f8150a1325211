"""Reusable greenlets that run the charge points' short bursts of work.

A parked charge point has no greenlet (see :meth:`loadgen.chargepoint.ChargePoint.start`);
when its socket or its heartbeat timer wakes it, the work runs on one of these. Making a
greenlet costs ~25 us here (a fresh Python data stack is mapped, touched and unmapped each
time), more than a Heartbeat exchange, so the greenlets are kept: a job waits in a queue
for an idle one, and a new one is spawned only when none is idle. One that stays idle for
``IDLE_S`` ends, so a quiet process keeps few.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
from gevent.queue import Empty, Queue

log = logging.getLogger(__name__)

#: Seconds a greenlet waits for a job before it ends.
IDLE_S = 30.0


class Drivers:
    """A queue of jobs and the greenlets that run them, spawned on demand and reused."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self._jobs: Queue = Queue()
        self._idle = 0  # greenlets waiting for a job
        self._idle_s = idle_s
        self.spawned = 0  # greenlets made so far, for tests and probes

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a driver greenlet soon. Never blocks; safe from hub callbacks."""
        self._jobs.put_nowait(job)
        if self._idle <= 0 or self._jobs.qsize() > self._idle:
            self.spawned += 1
            gevent.spawn(self._work)

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            self._idle += 1
            try:
                job = jobs.get(timeout=self._idle_s)
            except Empty:
                if jobs.qsize() == 0:
                    return
                continue
            finally:
                self._idle -= 1
            try:
                job()
            except Exception:  # one charge point's bug must not stop the others
                log.exception("a charge point's work failed")


#: This process's drivers.
DRIVERS = Drivers()
