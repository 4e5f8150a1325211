"""What every station built from one config shares: dialect, setting defaults, behaviour.

A :class:`Fleet` is made once per config and process and shared by its stations, so a
station keeps only what is its own (its overrides, connectors and queue): at 100,000
stations per host every byte of a station counts.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field

from loadgen.config import ChargePoints
from loadgen.ocpp import Dialect, dialect_for
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
    """The shared part of every station of one config."""

    dialect: Dialect
    settings: ChargePoints
    #: setting name -> default value (text), from the config
    defaults: dict[str, str] = field(default_factory=dict)
    #: part of every transaction id this fleet's stations make: a new fleet (a new run)
    #: never repeats the ids of an earlier one, which the CSMS may still hold
    tx_tag: str = field(default_factory=lambda: secrets.token_hex(3))

    @classmethod
    def build(cls, settings: ChargePoints, ocpp_version: str) -> Fleet:
        """The fleet for ``settings`` speaking OCPP ``ocpp_version``."""
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
            "network_configuration_priority": "0",
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
            "supported_feature_profiles": "Core,RemoteTrigger",
            "items_per_message_get_variables": "50",
            "items_per_message_set_variables": "50",
            "sampled_data_enabled": "true",
            "auth_enabled": "true",
        }
        assert set(defaults) == set(BY_NAME), set(defaults) ^ set(BY_NAME)
        defaults.update(settings.configuration)
        return cls(dialect_for(ocpp_version), settings, defaults)

    @property
    def charging_share(self) -> float:
        """The share of stations that run charging sessions by themselves."""
        scenario = self.settings.scenario
        total = scenario.idle + scenario.charging
        return scenario.charging / total if total > 0 else 0.0
