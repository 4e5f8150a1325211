"""The Locust face of a charge point: a User that lives one charger's life on the engine.

Every exchange is a Locust request: ``WS connect`` (TCP + TLS + WebSocket upgrade), ``WS
disconnect`` (a connection lost), ``OCPP <Action>`` for each call the charge point makes
and ``server <Action>`` for each call it answers. Failures carry the categories of
:mod:`loadgen.failures` as their text. The charge point itself is a
:class:`~loadgen.sim.station.Station` driven by the process's
:class:`~loadgen.sim.engine.Engine`: no greenlet is held for it.
"""

from __future__ import annotations

import logging

import gevent
from gevent.pool import Group
from locust import User, task
from locust.env import Environment
from locust.user.users import LOCUST_STATE_STOPPING

from loadgen.ids import pick
from loadgen.locust import compat
from loadgen.locust.runtime import runtime_for
from loadgen.locust.scenarios import Behaviour, Driver
from loadgen.scenarios import builtin
from loadgen.sim.actions import Action
from loadgen.sim.station import Station

compat.install()  # cheaper spawn messages on workers

_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("loadgen").warning(message)


class ChargePointUser(User):
    """A simulated OCPP charge point. Subclass it in a locustfile (it is abstract).

    Its behaviour is the fleet config's, with the built-in scenarios of
    :mod:`loadgen.scenarios.builtin` (a charging session when a driver arrives, the
    fault plan's fault). A subclass changes it with ``@scenario``, ``@on_call`` and
    ``@on_event`` methods (:mod:`loadgen.locust.scenarios`, docs/scenarios.md).
    """

    abstract = True
    #: the scenarios, call answers and hooks of this class (made per subclass)
    loadgen_behaviour: Behaviour

    charging_session = builtin.charging_session
    fault = builtin.fault

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.loadgen_behaviour = Behaviour(cls)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        runtime = self._runtime = runtime_for(environment)
        plan = runtime.plan()
        settings = plan.config.charge_points
        runner = environment.runner
        worker_index = max(getattr(runner, "worker_index", 0), 0)
        sequence = next(plan.sequence)
        identity = None
        if plan.identities:  # every count-th row of the ids file, from this worker's slot
            identity = pick(plan.identities, worker_index, runtime.worker_share, sequence)
            if identity is None:  # more users than ids: this user stays idle
                _warn_once(
                    f"charge_points.ids_file: {len(plan.identities)} ids are not enough "
                    "for this many users; the extra users do not connect"
                )
        #: unique across workers and hosts: the master gives each worker its own index
        self.charge_point_id = (
            identity.charge_point_id
            if identity
            else f"{settings.id_prefix}{worker_index}-{sequence:06d}"
        )
        #: False for a user beyond the ids file's rows: it never connects
        self.active = identity is not None or not plan.identities
        engine = runtime.engine
        #: the charge point's state machine
        self.station = Station(
            self.charge_point_id,
            plan.fleet,
            engine.counters,
            wall_offset_s=engine.wall_offset_s,
            unit=identity,  # serial number, model and idTags from the ids file
            api=self.loadgen_behaviour.api,
        )
        self.link = engine.link(self.station, plan.target, identity.password if identity else None)
        self.link.observer = self
        self._driver: Driver | None = None  # made when a scenario, answer or hook first runs

    # -- Locust's user life -------------------------------------------------------------

    def start(self, group: Group) -> gevent.Greenlet:
        """Join Locust's group of users without holding a greenlet for the whole life.

        Locust counts and stops users through the greenlet this returns, a stand-in that
        never runs: killing it stops the charge point at once.
        """
        stand_in = gevent.Greenlet(_stand_in, self)
        self._greenlet, self._group = stand_in, group
        group.add(stand_in)
        stand_in.rawlink(self._stand_in_ended)
        if self.active:
            self._runtime.engine.start(self.link)
        return stand_in

    def stop(self, force: bool = False) -> bool:
        """Stop: at once (``force``), or end the sessions first and close cleanly.

        Locust asks for the graceful stop with ``--stop-timeout`` and kills the stand-in
        when the time is up; the charge point then stops at once.
        """
        if force or not self.active or self._state == LOCUST_STATE_STOPPING:
            self._group.killone(self._greenlet, block=False)
            return True
        self._state = LOCUST_STATE_STOPPING
        self._runtime.engine.stop(self.link, graceful=True)
        return False

    def _stand_in_ended(self, _greenlet: gevent.Greenlet) -> None:
        self._runtime.engine.stop(self.link)

    # -- the station's news (hub callbacks: nothing here may wait) -----------------------

    def booted(self) -> None:
        self._runtime.booted(self.charge_point_id)
        if "booted" in self.loadgen_behaviour.hooks:
            self.driver().hook("booted", 0, "")

    def stopped(self) -> None:
        greenlet = self._greenlet
        if greenlet is not None and not greenlet.dead:
            greenlet.kill(block=False)
        if self._driver is not None:
            self._driver.end_all()

    def news(self, action: Action) -> None:
        """A scenario is due, a step's CALL answered, a change, a server call to answer."""
        self.driver().news(action)

    def driver(self) -> Driver:
        """This charger's scenario driver, made on first use."""
        driver = self._driver
        if driver is None:
            runtime = self._runtime
            driver = self._driver = Driver(
                self, runtime.engine, self.link, self.loadgen_behaviour, runtime.user_errors
            )
        return driver

    @task
    def live(self) -> None:
        """Never run: the charge point lives on the engine (see :meth:`start`)."""


def _stand_in(user: ChargePointUser) -> None:
    """Body of the greenlet Locust counts for a charge point; it is never started."""


ChargePointUser.loadgen_behaviour = Behaviour(ChargePointUser)
