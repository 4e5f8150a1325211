"""What every station built from one config shares: dialect, setting defaults, behaviour.

A :class:`Fleet` is made once per config and process and shared by its stations, so a
station keeps only what is its own (its overrides, connectors and queue): at 100,000
stations per host every byte of a station counts. A mixed fleet (``fleet.models``) is a
fleet of per-model fleets: each station picks its model once (by weight, or by the ids
file's ``model`` column) and from then on shares that model's fleet: its identity,
connectors, power, meter and setting defaults.
"""

from __future__ import annotations

import bisect
import math
import random
import secrets
from dataclasses import dataclass, field, replace

from loadgen.config import FEATURE_PROFILES, Arrivals, ChargePoints, ChargerModel, FleetSpec
from loadgen.ocpp import Dialect, dialect_for
from loadgen.ocpp.profiles import Electrical
from loadgen.ocpp.settings import BY_NAME


def seconds_text(seconds: float) -> str:
    """A duration as an integer setting value (whole seconds, rounded up)."""
    return str(math.ceil(seconds)) if seconds > 0 else "0"


def repeat_times(initial_s: float, max_s: float, factor: float) -> int:
    """Doublings (``factor``-fold steps) of ``initial_s`` that stay within ``max_s``."""
    if factor <= 1 or initial_s <= 0:
        return 0
    return max(0, min(64, math.floor(math.log(max_s / initial_s, factor) + 1e-9)))


@dataclass(frozen=True, slots=True)
class Fleet:
    """The shared part of every station of one config (or of one model of a mixed fleet)."""

    dialect: Dialect
    settings: ChargePoints
    #: setting name -> default value (text), from the config
    defaults: dict[str, str] = field(default_factory=dict)
    #: part of every transaction id this fleet's stations make: a new fleet (a new run)
    #: never repeats the ids of an earlier one, which the CSMS may still hold
    tx_tag: str = field(default_factory=lambda: secrets.token_hex(3))
    #: the config's ``fleet`` section: sessions, firmware, faults, data transfer ...
    spec: FleetSpec = field(default_factory=FleetSpec)
    #: this fleet's model (None: charge_points' one model)
    model: ChargerModel | None = None
    #: a mixed fleet's per-model fleets, and their cumulative weights
    models: tuple[Fleet, ...] = ()
    cumulative: tuple[float, ...] = ()
    #: feature profiles the chargers have (1.6 names)
    features: frozenset[str] = frozenset(FEATURE_PROFILES)
    #: 1.6: the firmware updates the chargers take (config.FIRMWARE_UPDATES)
    firmware_update: str = "both"
    #: line voltage and phases (0: DC) of every connector, to turn amperes into watts
    grid: Electrical = field(default_factory=Electrical)
    max_power_w: float = 11_000.0  # per connector
    soc: bool = False  # meters the EV's state of charge
    #: the run's TLS settings give the stations a client certificate (security profile 3)
    client_certificate: bool = False

    @property
    def configured(self) -> frozenset[str]:
        """Settings the config's ``configuration`` (the model's included) sets."""
        return frozenset(name for name, _ in self.settings.configuration)

    @property
    def arrivals(self) -> Arrivals | None:
        """How EVs come and charge (None: charge_points.session's fixed sessions)."""
        return self.spec.sessions

    def pick(self, rng: random.Random, name: str | None = None) -> Fleet:
        """A station's model: the one ``name``s, else one drawn by weight (itself when
        the fleet has no models)."""
        if not self.models:
            return self
        if name:
            for fleet in self.models:
                if fleet.model is not None and fleet.model.name == name:
                    return fleet
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.models[min(index, len(self.models) - 1)]

    @classmethod
    def build(
        cls,
        settings: ChargePoints,
        ocpp_version: str,
        spec: FleetSpec | None = None,
        *,
        security_profile: int = 0,
        client_certificate: bool = False,
    ) -> Fleet:
        """The fleet for ``settings`` (and the config's ``fleet`` section) speaking OCPP
        ``ocpp_version``; its connections use ``security_profile`` (:func:`security_profile`),
        and ``client_certificate``: the TLS settings have one for the stations."""
        spec = spec or FleetSpec()
        defaults = _defaults(settings)
        if "security_profile" not in dict(settings.configuration):
            defaults["security_profile"] = str(security_profile)
        dialect = dialect_for(ocpp_version)
        base = cls(
            dialect,
            settings,
            defaults,
            spec=spec,
            max_power_w=settings.session.power_w,
            features=_features(defaults),
            client_certificate=client_certificate,
        )
        if not spec.models:
            return base
        fleets = tuple(_model_fleet(base, model) for model in spec.models)
        weights: list[float] = []
        total = 0.0
        for model in spec.models:
            total += model.weight
            weights.append(total)
        return replace(base, models=fleets, cumulative=tuple(weights))

    @property
    def charging_share(self) -> float:
        """The share of stations that run charging sessions by themselves."""
        scenario = self.settings.scenario
        total = scenario.idle + scenario.charging
        return scenario.charging / total if total > 0 else 0.0


def security_profile(url: str, client_certificate: bool, passwords: bool) -> int:
    """The OCPP security profile of connections to ``url``: 3 TLS with a client
    certificate, 2 TLS, 1 HTTP Basic auth without TLS, 0 neither (1.6 whitepaper)."""
    if url.lower().startswith("wss:"):
        return 3 if client_certificate else 2
    return 1 if passwords else 0


def _features(defaults: dict[str, str]) -> frozenset[str]:
    return frozenset(p.strip() for p in defaults["supported_feature_profiles"].split(","))


def _model_fleet(base: Fleet, model: ChargerModel) -> Fleet:
    """The fleet of one model: charge_points' settings with the model's identity,
    connectors and power, and the model's setting defaults over the fleet's."""
    # The settings a station keeps itself (the heartbeat, meter and message intervals)
    # start from ``settings.configuration``, not from ``defaults``: the model's go there too.
    configuration = dict(base.settings.configuration)
    configuration.update(model.configuration)
    settings = replace(
        base.settings,
        vendor=model.vendor,
        model=model.model,
        firmware_version=model.firmware_version,
        connectors=model.connectors,
        session=replace(base.settings.session, power_w=model.max_power_w),
        configuration=tuple(configuration.items()),
    )
    defaults = dict(base.defaults)
    defaults["number_of_connectors"] = str(model.connectors)
    defaults["supported_feature_profiles"] = ",".join(model.feature_profiles)
    defaults.update(model.configuration)
    _availability(defaults)
    return replace(
        base,
        settings=settings,
        defaults=defaults,
        model=model,
        features=_features(defaults),
        firmware_update=model.firmware_update,
        grid=Electrical(model.voltage_v, 0 if model.dc else model.phases),
        max_power_w=model.max_power_w,
        soc=model.soc,
    )


def _availability(defaults: dict[str, str]) -> None:
    """2.0.1's <Block>Ctrlr.Available variables, from the feature profiles."""
    features = _features(defaults)
    for name, feature in (
        ("local_auth_list_available", "LocalAuthListManagement"),
        ("reservation_available", "Reservation"),
        ("smart_charging_available", "SmartCharging"),
    ):
        defaults[name] = "true" if feature in features else "false"


def _defaults(settings: ChargePoints) -> dict[str, str]:
    """Every setting's default value as text: the table's, then the config's."""
    session, reconnect = settings.session, settings.reconnect
    repeats = reconnect.repeat_times
    if repeats is None:
        repeats = repeat_times(reconnect.initial_s, reconnect.max_s, reconnect.factor)
    random_range = reconnect.random_range_s
    defaults = {
        "heartbeat_interval_s": seconds_text(settings.heartbeat_interval_s or 0),
        "meter_interval_s": seconds_text(session.meter_interval_s),
        "clock_aligned_interval_s": "0",
        "connection_timeout_s": "60",
        "message_timeout_s": seconds_text(settings.call_timeout_s),
        "authorize_remote_start": "false",
        "local_pre_authorize": "false",
        "local_authorize_offline": "false",
        "allow_offline_tx_for_unknown_id": "false",
        "stop_tx_on_invalid_id": "true",
        "stop_tx_on_ev_disconnect": "true",
        "unlock_on_ev_disconnect": "true",
        "tx_message_attempts": "3",
        "tx_message_retry_interval_s": "10",
        "retry_backoff_wait_minimum_s": seconds_text(reconnect.initial_s),
        "retry_backoff_random_range_s": seconds_text(
            reconnect.initial_s if random_range is None else random_range
        ),
        "retry_backoff_repeat_times": str(repeats),
        "reset_retries": "1",
        "offline_threshold_s": "60",
        "unlock_on_ev_disconnect_201": "true",
        "file_transfer_protocols": "HTTP,HTTPS",
        "network_configuration_priority": "0",  # slot 0: the run's target (loadgen.sim.network)
        "network_profile_connection_attempts": "3",
        "active_network_profile": "0",
        "websocket_ping_interval_s": "0",
        "tx_ended_interval_s": "0",
        "meter_values_sampled_data": "Energy.Active.Import.Register",
        "tx_started_measurands": "Energy.Active.Import.Register",
        "stop_txn_sampled_data": "Energy.Active.Import.Register",
        "meter_values_aligned_data": "",
        "stop_txn_aligned_data": "",
        "tx_start_point": "PowerPathClosed",
        "tx_stop_point": "EVConnected,Authorized",
        "connector_phase_rotation": "0.RST",
        "number_of_connectors": str(settings.connectors),
        "get_configuration_max_keys": "50",
        "supported_feature_profiles": ",".join(FEATURE_PROFILES),
        "items_per_message_get_variables": "50",
        "items_per_message_set_variables": "50",
        "sampled_data_enabled": "true",
        "auth_enabled": "true",
        "stop_transaction_max_meter_values": "20",
        "local_auth_list_enabled": "true",
        "local_auth_list_max_length": "1000",
        "local_auth_list_entries": "0",  # read live from the station
        "send_local_list_max_length": "500",
        "local_auth_list_bytes_per_message": "65536",
        "local_auth_list_available": "true",
        "local_auth_list_supports_expiry": "true",
        "auth_cache_enabled": "true",
        "master_pass_group_id": "",
        "reserve_unspecified": "false",
        "reservation_enabled": "true",
        "reservation_available": "true",
        "smart_charging_enabled": "true",
        "smart_charging_available": "true",
        "charge_profile_max_stack_level": "8",
        "charging_rate_units_16": "Current,Power",
        "charging_rate_units_201": "A,W",
        "charging_schedule_max_periods": "24",
        "max_charging_profiles_installed": "16",
        "charging_profile_entries": "0",  # read live from the station
        "limit_change_significance": "10",
        # the largest message the station takes (loadgen.sim.wsproto.MAX_MESSAGE_BYTES)
        "bytes_per_message_get_report": "1048576",
        "bytes_per_message_get_variables": "1048576",
        "bytes_per_message_set_variables": "1048576",
        "items_per_message_get_report": "50",
        "basic_auth_password": "",  # write-only: the ids file's password, or the server's
        "clock_date_time": "",  # read live from the station
        "time_source": "RealTimeClock",
        "organization_name": "",
        "security_profile": "0",  # what the target and the credentials are: Fleet.build
        "certificate_entries": "0",  # read live from the station
        "certificate_store_max_length": "20",
        "additional_root_certificate_check": "false",
        "tx_ended_aligned_interval_s": "0",
        # the charging infrastructure: the statuses, power, phases and plug of the station's
        # own connectors, read live from the station and its fleet
        "station_availability_state": "",
        "evse_availability_state": "",
        "connector_availability_state": "",
        "station_available": "true",
        "evse_available": "true",
        "connector_available": "true",
        "station_supply_phases": "",
        "evse_supply_phases": "",
        "connector_supply_phases": "",
        "evse_power_w": "",
        "connector_type": "",
    }
    assert set(defaults) == set(BY_NAME), set(defaults) ^ set(BY_NAME)
    defaults.update(settings.configuration)
    _availability(defaults)
    return defaults
