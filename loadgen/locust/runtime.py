"""This process's loadgen state, on one object hung on Locust's Environment.

:func:`runtime_for` gives the :class:`Runtime` of an environment: the engine that drives
every charge point of the process (and owns the fleet counters), the plans built from
the config (the web UI may switch configs between tests), this worker's share of an ids
file, and the hooks observers add (a booted charge point for the Redis probe). The run
layer gives it the config loader, so the Locust face never reads files itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from locust.env import Environment

from loadgen.config import Config, ConfigError
from loadgen.failures import FirstIds
from loadgen.ids import Identity
from loadgen.locust import compat
from loadgen.sim.engine import Engine, Target
from loadgen.sim.fleet import Fleet, security_profile
from loadgen.sim.transport import source_pool

#: master -> workers, in the options of every spawn message: how many share the ids file
#: (the master's highest worker index + 1; see loadgen.observe.telemetry)
ID_SLOTS = "loadgen_id_slots"


@dataclass
class Plan:
    """What every charge point of one config shares in this process."""

    config: Config
    fleet: Fleet
    target: Target
    sequence: itertools.count = field(default_factory=lambda: itertools.count(1))
    #: rows of charge_points.ids_file (id, password), or () to make ids from id_prefix
    identities: tuple[Identity, ...] = ()


ConfigLoader = Callable[[Environment], Config]
IdsReader = Callable[[str], tuple[Identity, ...]]


class Runtime:
    """One per process (see the module docstring)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.engine = Engine(compat.reporter(environment))
        #: the first charge point ids to fail, per category (sent to the master)
        self.failing_ids = FirstIds()
        failing = self.failing_ids
        self.engine.on_failure = lambda charge_point_id, failure: failing.note(
            failure.category, charge_point_id
        )
        #: (options, host, plan) of the last plan asked for; forgotten when a test starts
        self._last: tuple[object, str, Plan] | None = None
        environment.events.test_start.add_listener(self._forget_last)
        #: reads the config the options name (set by the run layer's locustfile)
        self.load_config: ConfigLoader | None = None
        #: reads an ids file (set by the run layer)
        self.read_ids: IdsReader | None = None
        self.plans: dict[tuple[object, ...], Plan] = {}
        #: called with a charge point id after each Accepted boot (hub callbacks: no waiting)
        self.on_booted: list[Callable[[str], None]] = []
        #: the config of the last plan built (what the charge points run now)
        self.last_config: Config | None = None
        #: exceptions in user code: (where, type, place) -> occurrences (each reported once)
        self.user_errors: dict[tuple[str, str, str], int] = {}

    @property
    def worker_share(self) -> int:
        """How many workers share the ids file: what the master's last spawn message
        said (its highest worker index + 1), 1 when standalone."""
        options = self.environment.parsed_options
        try:
            return max(int(getattr(options, ID_SLOTS, 1) or 1), 1)
        except (TypeError, ValueError):
            return 1

    def config(self) -> Config:
        """The config for the current options; raises ConfigError naming the problem."""
        if self.load_config is None:
            raise ConfigError(
                "--loadgen-config: loadgen's locustfile was not loaded. Run "
                "`locust -f locustfile.py --loadgen-config CONFIG.yaml` or `loadgen run`."
            )
        return self.load_config(self.environment)

    def _forget_last(self, **_: object) -> None:
        self._last = None

    def plan(self) -> Plan:
        """The plan for the current options and host, built on the first charge point.

        Asked for by every charge point: the last answer is kept until a test starts
        (the web UI may change the options between tests, in place).
        """
        environment = self.environment
        last = self._last
        if last is not None and last[0] is environment.parsed_options:
            if last[1] == (environment.host or ""):
                return last[2]
        plan = self._plan()
        self._last = (environment.parsed_options, environment.host or "", plan)
        return plan

    def _plan(self) -> Plan:
        config = self.config()
        host = self.environment.host or ""
        key = (id(config), host)  # configs are kept per options: the same object
        plan = self.plans.get(key)
        self.last_config = config
        if plan is None:
            target = config.target  # the host, when one was given, is in it already
            if target == "embedded":
                raise ConfigError(
                    "target: 'embedded' needs the gateway that `loadgen run` starts; run "
                    "through `loadgen run CONFIG`, or pass --host ws://HOST:PORT/PATH to locust."
                )
            ids_file = config.charge_points.ids_file
            identities: tuple[Identity, ...] = ()
            if ids_file and self.read_ids is not None:
                identities = self.read_ids(ids_file)
            profile = security_profile(
                target,
                config.tls.cert_file is not None,
                any(identity.password for identity in identities),
            )
            fleet = Fleet.build(
                config.charge_points,
                config.ocpp_version,
                config.fleet,
                security_profile=profile,
                client_certificate=config.tls.cert_file is not None,
            )
            runner = self.environment.runner
            worker_index = max(getattr(runner, "worker_index", 0), 0)
            link_target = Target(
                target,
                fleet.dialect.subprotocol,
                config.charge_points.connect_timeout_s,
                config.tls,
                source_pool(config.source_addresses, worker_index),
            )
            plan = self.plans[key] = Plan(config, fleet, link_target, identities=identities)
        self.engine.set_batch(config.charge_points.io_batch_ms / 1000)
        return plan

    def booted(self, charge_point_id: str) -> None:
        for hook in self.on_booted:
            hook(charge_point_id)


def runtime_for(environment: Environment) -> Runtime:
    """The environment's runtime, made on first use."""
    runtime = getattr(environment, "loadgen", None)
    if runtime is None:
        runtime = Runtime(environment)
        environment.loadgen = runtime  # type: ignore[attr-defined]
    return runtime
