"""The Locust face of a charge point: a User that lives one charger's life.

Every exchange is fired as a Locust request event: ``WS connect`` (TCP + TLS + WebSocket
handshake), ``WS disconnect`` (a lost connection), ``OCPP <Action>`` for each call the
charge point makes and ``server <Action>`` for each call it answers. Failures carry the
categories of :mod:`loadgen.failures` as their text.
"""

from __future__ import annotations

import gc
import itertools
import logging
import resource
import weakref
from dataclasses import dataclass, field
from functools import partial

import gevent
from gevent.pool import Group
from locust import User, task
from locust.env import Environment

from loadgen import config as config_mod
from loadgen.config import Config
from loadgen.ids import Identity, pick, read_ids
from loadgen.locust import compat as locust_fixes
from loadgen.observe import redisprobe
from loadgen.ocpp import Dialect, dialect_for
from loadgen.sim.chargepoint import ChargePoint, Counters
from loadgen.sim.transport import open_connection, source_pool

locust_fixes.install()  # cheaper spawn messages on workers

#: Counters of this process's charge points (one Locust worker or a standalone run).
COUNTERS = Counters()


@dataclass
class Plan:
    """What every charge point of this process shares: config, target, id sequence."""

    config: Config
    target: str
    sequence: itertools.count = field(default_factory=lambda: itertools.count(1))
    #: rows of charge_points.ids_file (id, password), or () to make ids from id_prefix
    identities: tuple[Identity, ...] = ()
    #: the OCPP dialect; stateless, so shared by every charge point of the plan
    dialect: Dialect | None = None


#: this worker's share of the ids file: the master says how many workers there are
WORKER_SHARE = {"count": 1}


#: configs and plans by the options that name them: the web UI may switch config per test
_configs: dict[tuple[str, ...], Config] = {}
_plans: dict[tuple[str, ...], Plan] = {}


def _config_options(environment: Environment) -> tuple[str, ...]:
    options = environment.parsed_options
    names = ("loadgen_config", "loadgen_ocpp_version", "loadgen_users", "loadgen_run_time")
    return tuple(str(getattr(options, n, "") or "") if options else "" for n in names)


def load_config(environment: Environment) -> Config:
    """The config named by ``--loadgen-config`` with the ``--loadgen-*`` overrides applied.

    Read once per set of options. Raises :class:`~loadgen.config.ConfigError` naming the
    field or option.
    """
    key = _config_options(environment)
    config = _configs.get(key)
    if config is not None:
        return config
    path, version, users, run_time = key
    if not path:
        raise config_mod.ConfigError(
            "--loadgen-config: no config given. Pass a YAML file, e.g. configs/quickstart.yaml."
        )
    try:
        user_count = int(float(users)) if users else None
    except ValueError:
        raise config_mod.ConfigError(
            f"--loadgen-users: expected a whole number, got {users!r}."
        ) from None
    config = config_mod.with_overrides(
        config_mod.load(path),
        ocpp_version=version or None,
        users=user_count,
        run_time_s=config_mod.parse_duration(run_time, "--loadgen-run-time") if run_time else None,
    )
    _configs[key] = config
    return config


def plan_for(environment: Environment) -> Plan:
    """This process's plan for the current options, built on the first charge point."""
    key = (*_config_options(environment), environment.host or "")
    plan = _plans.get(key)
    if plan is None:
        config = load_config(environment)
        target = environment.host or config.target
        if target == "embedded":
            raise config_mod.ConfigError(
                "target: 'embedded' needs the gateway that `loadgen run` starts; run through "
                "`loadgen run CONFIG`, or pass --host ws://HOST:PORT/PATH to locust."
            )
        config = config_mod.with_overrides(config, target=target)
        ids_file = config.charge_points.ids_file
        plan = _plans[key] = Plan(
            config,
            target,
            identities=read_ids(ids_file) if ids_file else (),
            dialect=dialect_for(config.ocpp_version),
        )
    return plan


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logging.getLogger("loadgen").warning(message)


def raise_open_files_limit() -> int:
    """Raise this process's open-files soft limit to the hard limit; returns the limit.

    Locust raises it only to 10,000 and then warns; one connection is one file.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


#: Allocations between collections of CPython's youngest generation in a process that
#: runs charge points (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect the youngest generation every 10,000 allocations instead of every 700.

    A ramping worker allocates a few hundred objects per charge point and keeps most of
    them, so with the default it runs a young collection every few charge points. Each
    costs about 0.5 ms here whatever its size: 3,000 chargers paid ~140 collections,
    67 ms of CPU; at 10,000 they pay ~9, 14 ms. Garbage cycles (rare here) wait a
    little longer to be freed. The older generations keep their thresholds.
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class ChargePointUser(User):
    """A simulated OCPP charge point. Subclass it in a locustfile (it is abstract)."""

    abstract = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        plan = plan_for(environment)
        cfg = plan.config
        runner = environment.runner
        worker_index = max(getattr(runner, "worker_index", 0), 0)
        sequence = next(plan.sequence)
        identity = None
        if plan.identities:  # every count-th row of the ids file, from this worker's slot
            identity = pick(plan.identities, worker_index, WORKER_SHARE["count"], sequence)
            if identity is None:  # more users than ids: this user stays idle
                _warn_once(
                    f"charge_points.ids_file: {len(plan.identities)} ids are not enough "
                    "for this many users; the extra users do not connect"
                )
        #: unique across workers and hosts: the master gives each worker its own index
        self.charge_point_id = (
            identity.charge_point_id
            if identity
            else f"{cfg.charge_points.id_prefix}{worker_index}-{sequence:06d}"
        )
        #: False for a user beyond the ids file's rows: it never connects
        self.active = identity is not None or not plan.identities
        dialect = plan.dialect or dialect_for(cfg.ocpp_version)
        connect = partial(
            open_connection,
            plan.target,
            self.charge_point_id,
            dialect.subprotocol,
            timeout_s=cfg.charge_points.connect_timeout_s,
            tls=cfg.tls,
            source=source_pool(cfg.source_addresses, worker_index),
            password=identity.password if identity else None,
        )
        self.charge_point = ChargePoint(
            self.charge_point_id,
            dialect,
            cfg.charge_points,
            connect,
            self._fire,
            COUNTERS,
            report_in_hub=self._fire_never_blocks,
        )
        probe = redisprobe.for_environment(environment, cfg.redis)
        if probe is not None:  # a sampled charger is checked after its first Accepted boot
            probe.watch(self.charge_point)

    def _fire(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        response_length: int,
        exception: Exception | None,
    ) -> None:
        environment = self.environment
        hook = environment.events.request
        handlers = hook._handlers
        if len(handlers) == 1 and _is_stats_listener(handlers[0]):
            # Only Locust's own listener: log as it would, without the event's
            # keyword plumbing (a third of the cost of a request event).
            stats = environment.stats
            stats.log_request(request_type, name, response_time_ms, response_length)
            if exception:
                stats.log_error(request_type, name, exception)
            return
        hook.fire(
            request_type=request_type,
            name=name,
            response_time=response_time_ms,
            response_length=response_length,
            exception=exception,
            context={},
        )

    def _fire_never_blocks(self) -> bool:
        """Whether :meth:`_fire` may run in a hub callback: only Locust's own stats
        listener is registered (a listener someone added might wait on I/O)."""
        handlers = self.environment.events.request._handlers
        return len(handlers) == 1 and _is_stats_listener(handlers[0])

    def start(self, group: Group) -> gevent.Greenlet:
        """Join Locust's group of users without holding a greenlet for the whole life.

        The charge point works in short greenlets and waits in between with none (see
        ``ChargePoint.start``): a greenlet costs ~8 KB, more than the rest of an idle
        charger. Locust counts and stops users through the greenlet this returns, a
        stand-in that never runs: killing it stops the charge point.
        """
        stand_in = gevent.Greenlet(_stand_in, self)
        self._greenlet, self._group = stand_in, group
        group.add(stand_in)
        stand_in.rawlink(lambda _: self.charge_point.stop())
        if self.active:
            self.charge_point.start()
        return stand_in

    @task
    def live(self) -> None:
        """The charge point's whole life; returns only when Locust stops the user."""
        self.charge_point.run()


#: Locust's stats listener once recognised (its runner registers one per process).
_stats_listeners: weakref.WeakSet = weakref.WeakSet()


def _is_stats_listener(handler: object) -> bool:
    """Whether ``handler`` is the listener a Locust runner adds to log requests in stats.

    It is ``on_request`` defined in ``Runner.__init__``: it calls ``stats.log_request``
    and, with an exception, ``stats.log_error``, nothing else.
    """
    if handler in _stats_listeners:
        return True
    qualname = getattr(handler, "__qualname__", "")
    if qualname == "Runner.__init__.<locals>.on_request" and (
        getattr(handler, "__module__", "") == "locust.runners"
    ):
        _stats_listeners.add(handler)
        return True
    return False


def _stand_in(user: ChargePointUser) -> None:
    """Body of the greenlet Locust counts for a charge point; it is never started."""
