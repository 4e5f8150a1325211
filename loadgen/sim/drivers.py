"""Reusable greenlets that run the charge points' short bursts of work.

A parked charge point has no greenlet (see :meth:`loadgen.sim.chargepoint.ChargePoint.start`);
when its socket or its heartbeat timer wakes it, the work runs on one of these. Making a
greenlet costs ~25 us here (a fresh Python data stack is mapped, touched and unmapped each
time), more than a Heartbeat exchange, so the greenlets are kept. An idle one waits on a
``Waiter`` of its own: a job submitted from a hub callback (a watcher or timer waking a
charge point) is switched to it at once, one from another greenlet is handed over at the
hub's next turn. A queue with a timed ``get`` did the same for ~17 us per job. Idle
greenlets that no job needed for ``IDLE_S`` end, so a quiet process keeps few.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent
from gevent import get_hub, getcurrent
from gevent.hub import Waiter

log = logging.getLogger(__name__)

#: Seconds an idle greenlet may go unused before it ends.
IDLE_S = 30.0

Job = Callable[[], None]


class _Idle:
    """An idle driver: the waiter it sleeps on, and the job handed to it, if any."""

    __slots__ = ("job", "waiter")

    def __init__(self, waiter: Waiter) -> None:
        self.waiter = waiter
        self.job: Job | None = None


class Drivers:
    """Greenlets that run jobs, spawned on demand, reused, and trimmed when unused."""

    def __init__(self, idle_s: float = IDLE_S) -> None:
        self._idle: list[_Idle] = []  # most recently idle last: reused first
        self._idle_s = idle_s
        #: fewest idle greenlets since the last trim: that many were never needed
        self._unused = 0
        self._trimmer: Any = None
        self.spawned = 0  # greenlets made so far, for tests and probes
        self.jobs = 0  # jobs submitted so far, for tests and probes

    @property
    def idle(self) -> int:
        """Greenlets waiting for a job now."""
        return len(self._idle)

    def submit(self, job: Job) -> None:
        """Run ``job`` on a driver greenlet soon. Never blocks; safe from hub callbacks."""
        self.jobs += 1
        idle = self._idle
        if not idle:
            self.spawned += 1
            gevent.spawn(self._work, job)
            return
        slot = idle.pop()
        if len(idle) < self._unused:
            self._unused = len(idle)
        slot.job = job
        hub = get_hub()
        if getcurrent() is hub:
            slot.waiter.switch(job)  # runs the job until it first waits, then comes back
        else:
            hub.loop.run_callback(slot.waiter.switch, job)

    def _work(self, job: Job | None) -> None:
        hub = get_hub()
        while job is not None:
            try:
                job()
            except Exception:  # one charge point's bug must not stop the others
                log.exception("a charge point's work failed")
            slot = _Idle(Waiter(hub))
            self._idle.append(slot)
            self._start_trimming(hub)
            try:
                job = slot.waiter.get()
            except BaseException:
                # Killed while idle: leave the pool, and pass on a job already handed over.
                if slot in self._idle:
                    self._idle.remove(slot)
                elif slot.job is not None:
                    self.submit(slot.job)
                raise

    def _start_trimming(self, hub: Any) -> None:
        if self._trimmer is None:
            self._unused = len(self._idle)
            # Not counted as work: the trimmer alone does not keep the loop running.
            self._trimmer = hub.loop.timer(self._idle_s, self._idle_s, ref=False)
            self._trimmer.start(self._trim)

    def _trim(self) -> None:
        """Hub callback every ``idle_s``: end the greenlets that stayed idle all along."""
        idle = self._idle
        ending = idle[: self._unused]  # the bottom of the stack: idle all along
        del idle[: self._unused]
        self._unused = len(idle)
        for slot in ending:
            slot.waiter.switch(None)  # its loop ends: the greenlet finishes
        if not idle:
            self._trimmer.close()
            self._trimmer = None


#: This process's drivers.
DRIVERS = Drivers()
