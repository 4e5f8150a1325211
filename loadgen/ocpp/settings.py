"""The charge point's settings: one table for 1.6 configuration keys and 2.0.1 variables.

A setting has a version-neutral name (``heartbeat_interval_s``), a 1.6 configuration
key (``HeartbeatInterval``) and/or a 2.0.1 component and variable
(``OCPPCommCtrlr.HeartbeatInterval``), a type, and whether the server may write it.
Values travel as strings, as both versions carry them. The station keeps the values; the
dialects translate GetConfiguration / ChangeConfiguration and Get/SetVariables into
reads and writes of these names, so behaviour (a new heartbeat interval applying from
the next beat) lives once, in the station.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from loadgen.ocpp.samples import MEASURANDS

#: ``status``: a connector status as the station keeps it (the dialect names it)
Kind = Literal["int", "bool", "csv", "str", "decimal", "phase_rotation", "status", "password"]
#: 1.6 ConnectorPhaseRotation: the rotations a connector (or, as 0, the grid connection)
#: may have (1.6 section 9.1, ConnectorPhaseRotation)
PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
#: 2.0.1 AvailabilityState: the values of ConnectorStatusEnumType (Part 2 2.13.2)
AVAILABILITY_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")
#: 2.0.1 components addressed on an EVSE's tier, or on a connector's (Part 2 2.13.1):
#: every other component is the station's own, on no EVSE
TIERS: dict[str, Literal["evse", "connector"]] = {"EVSE": "evse", "Connector": "connector"}


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration key / device-model variable."""

    name: str  # version-neutral name, as the station knows it
    kind: Kind
    key16: str | None = None  # OCPP 1.6 configuration key, if 1.6 has one
    component: str | None = None  # OCPP 2.0.1 component ...
    variable: str | None = None  # ... and variable, if 2.0.1 has one
    instance: str | None = None  # 2.0.1 variable instance (e.g. "TransactionEvent")
    readonly: bool = False
    #: the server may write it but never read it back (a password: 2.0.1 WriteOnly)
    writeonly: bool = False
    minimum: int = 0  # smallest value of an int setting
    unit: str | None = None  # 2.0.1 variableCharacteristics.unit
    #: the values it may take (of a csv: each item may be one of them; 2.0.1
    #: variableCharacteristics.valuesList); empty: any value of its kind
    values: tuple[str, ...] = ()
    data_type: str | None = None  # 2.0.1 dataType when not the kind's (SequenceList ...)

    @property
    def tier(self) -> Literal["station", "evse", "connector"]:
        """Where its 2.0.1 component is: the station's own, each EVSE's or each connector's."""
        return TIERS.get(self.component or "", "station")

    def parse(self, text: str) -> str | None:
        """``text`` normalised if it is a valid value of this setting, else None."""
        value = self._parse(text)
        if value is None or not self.values:
            return value
        if self.kind != "csv":
            return value if value in self.values else None
        items = value.split(",") if value else []  # an empty list is a valid one
        return value if all(item in self.values for item in items) else None

    def _parse(self, text: str) -> str | None:
        """``text`` normalised if it is a valid value of this setting's kind, else None."""
        value = text.strip()
        if self.kind == "int":
            if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 9:
                return None
            number = int(value)
            return str(number) if number >= self.minimum else None
        if self.kind == "bool":
            lowered = value.lower()
            return lowered if lowered in ("true", "false") else None
        if self.kind == "decimal":
            try:
                decimal = float(value)
            except ValueError:
                return None
            if not math.isfinite(decimal) or decimal < self.minimum or len(value) > 20:
                return None
            return f"{decimal:g}"
        if self.kind == "csv":
            return ",".join(part.strip() for part in value.split(",") if part.strip())
        if self.kind == "phase_rotation":
            return _phase_rotation(value)
        return text


def _phase_rotation(value: str) -> str | None:
    """A ConnectorPhaseRotation CSL of ``<connectorId>.<rotation>`` items (``0.RST,
    1.RTS``) normalised, else None: 1.6 5.3 Rejects a value not in the expected format."""
    items = []
    for part in filter(None, (part.strip() for part in value.split(","))):
        connector, _, rotation = part.partition(".")
        if not connector.isascii() or not connector.isdigit() or len(connector) > 3:
            return None
        if rotation not in PHASE_ROTATIONS:
            return None
        items.append(f"{int(connector)}.{rotation}")
    return ",".join(items)


def _s(name: str, kind: Kind, key16: str | None, var201: str | None, **extra: object) -> Setting:
    component = variable = instance = None
    if var201 is not None:
        component, _, rest = var201.partition(".")
        variable, _, maybe_instance = rest.partition(":")
        instance = maybe_instance or None
    return Setting(name, kind, key16, component, variable, instance, **extra)  # type: ignore[arg-type]


#: Every setting a simulated charge point has; defaults come from the config (see the
#: station's fleet). ``Component.Variable:Instance`` spells the 2.0.1 side.
SETTINGS: tuple[Setting, ...] = (
    _s(
        "heartbeat_interval_s",
        "int",
        "HeartbeatInterval",
        "OCPPCommCtrlr.HeartbeatInterval",
        minimum=1,  # 2.0.1 minLimit 1; 0 would be Accepted yet change nothing
        unit="s",
    ),
    _s(
        "meter_interval_s",
        "int",
        "MeterValueSampleInterval",
        "SampledDataCtrlr.TxUpdatedInterval",
        unit="s",
    ),
    _s(
        "clock_aligned_interval_s",
        "int",
        "ClockAlignedDataInterval",
        "AlignedDataCtrlr.Interval",
        unit="s",
    ),
    _s("connection_timeout_s", "int", "ConnectionTimeOut", "TxCtrlr.EVConnectionTimeOut", unit="s"),
    _s(
        "message_timeout_s",
        "int",
        None,
        "OCPPCommCtrlr.MessageTimeout:Default",
        readonly=True,  # 2.0.1 device model 2.1.3 (set through a network profile instead)
        minimum=1,
        unit="s",
    ),
    _s(
        "authorize_remote_start",
        "bool",
        "AuthorizeRemoteTxRequests",
        "AuthCtrlr.AuthorizeRemoteStart",
    ),
    _s("local_pre_authorize", "bool", "LocalPreAuthorize", "AuthCtrlr.LocalPreAuthorize"),
    _s(
        "local_authorize_offline",
        "bool",
        "LocalAuthorizeOffline",
        "AuthCtrlr.LocalAuthorizeOffline",
    ),
    # offline, a tag neither the local list nor the cache knows may start (1.6 3.5.4
    # Unknown Offline Authorization; 2.0.1 C15.FR.08)
    _s(
        "allow_offline_tx_for_unknown_id",
        "bool",
        "AllowOfflineTxForUnknownId",
        "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    ),
    _s("stop_tx_on_invalid_id", "bool", "StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId"),
    _s(
        "stop_tx_on_ev_disconnect",
        "bool",
        "StopTransactionOnEVSideDisconnect",
        "TxCtrlr.StopTxOnEVSideDisconnect",
        # an unplug always ends the transaction, so the key is read-only true (1.6 errata
        # 3.80 allows it read-only), and a config cannot say otherwise
        readonly=True,
        values=("true",),
    ),
    _s("unlock_on_ev_disconnect", "bool", "UnlockConnectorOnEVSideDisconnect", None),
    _s(
        "tx_message_attempts",
        "int",
        "TransactionMessageAttempts",
        "OCPPCommCtrlr.MessageAttempts:TransactionEvent",
        minimum=1,
    ),
    _s(
        "tx_message_retry_interval_s",
        "int",
        "TransactionMessageRetryInterval",
        "OCPPCommCtrlr.MessageAttemptInterval:TransactionEvent",
        unit="s",
    ),
    _s(
        "retry_backoff_wait_minimum_s",
        "int",
        None,
        "OCPPCommCtrlr.RetryBackOffWaitMinimum",
        unit="s",
    ),
    _s(
        "retry_backoff_random_range_s",
        "int",
        None,
        "OCPPCommCtrlr.RetryBackOffRandomRange",
        unit="s",
    ),
    _s("retry_backoff_repeat_times", "int", None, "OCPPCommCtrlr.RetryBackOffRepeatTimes"),
    _s("reset_retries", "int", "ResetRetries", "OCPPCommCtrlr.ResetRetries"),
    _s("offline_threshold_s", "int", None, "OCPPCommCtrlr.OfflineThreshold", unit="s"),
    _s("unlock_on_ev_disconnect_201", "bool", None, "OCPPCommCtrlr.UnlockOnEVSideDisconnect"),
    _s(
        "file_transfer_protocols",
        "csv",
        "SupportedFileTransferProtocols",
        "OCPPCommCtrlr.FileTransferProtocols",
        readonly=True,
        values=("HTTP", "HTTPS"),  # what a log upload takes
    ),
    _s(
        "network_configuration_priority",
        "csv",
        None,
        "OCPPCommCtrlr.NetworkConfigurationPriority",
        # the configuration slots (B09.FR.06: at least two); 0 holds the run's target
        values=("0", "1", "2"),
        data_type="SequenceList",
    ),
    _s(
        "network_profile_connection_attempts",
        "int",
        None,
        "OCPPCommCtrlr.NetworkProfileConnectionAttempts",
    ),
    _s("active_network_profile", "int", None, "OCPPCommCtrlr.ActiveNetworkProfile", readonly=True),
    _s(
        "websocket_ping_interval_s",
        "int",
        "WebSocketPingInterval",
        "OCPPCommCtrlr.WebSocketPingInterval",
        unit="s",
    ),
    _s("tx_ended_interval_s", "int", None, "SampledDataCtrlr.TxEndedInterval", unit="s"),
    # the measurands the meters have: any other is Rejected, nothing changed (1.6 errata
    # 3.13, 3.14.4 Unsupported measurands; 2.0.1 a MemberList of its valuesList)
    _s(
        "meter_values_sampled_data",
        "csv",
        "MeterValuesSampledData",
        "SampledDataCtrlr.TxUpdatedMeasurands",
        values=MEASURANDS,
    ),
    _s(
        "tx_started_measurands",
        "csv",
        None,
        "SampledDataCtrlr.TxStartedMeasurands",
        values=MEASURANDS,
    ),
    _s(
        "stop_txn_sampled_data",
        "csv",
        "StopTxnSampledData",
        "SampledDataCtrlr.TxEndedMeasurands",
        values=MEASURANDS,
    ),
    _s(
        "meter_values_aligned_data",
        "csv",
        "MeterValuesAlignedData",
        "AlignedDataCtrlr.Measurands",
        values=MEASURANDS,
    ),
    _s(
        "stop_txn_aligned_data",
        "csv",
        "StopTxnAlignedData",
        "AlignedDataCtrlr.TxEndedMeasurands",
        values=MEASURANDS,
    ),
    # What the station does, so ReadOnly (B05.FR.09): a transaction starts once the EV is
    # plugged in and its driver authorized (E01.FR.05), and ends when either is over
    _s(
        "tx_start_point",
        "csv",
        None,
        "TxCtrlr.TxStartPoint",
        readonly=True,
        values=("PowerPathClosed",),
    ),
    _s(
        "tx_stop_point",
        "csv",
        None,
        "TxCtrlr.TxStopPoint",
        readonly=True,
        values=("EVConnected", "Authorized"),
    ),
    _s("connector_phase_rotation", "phase_rotation", "ConnectorPhaseRotation", None),
    _s("number_of_connectors", "int", "NumberOfConnectors", None, readonly=True),
    _s("get_configuration_max_keys", "int", "GetConfigurationMaxKeys", None, readonly=True),
    _s("supported_feature_profiles", "csv", "SupportedFeatureProfiles", None, readonly=True),
    _s(
        "items_per_message_get_variables",
        "int",
        None,
        "DeviceDataCtrlr.ItemsPerMessage:GetVariables",
        readonly=True,
    ),
    _s(
        "items_per_message_set_variables",
        "int",
        None,
        "DeviceDataCtrlr.ItemsPerMessage:SetVariables",
        readonly=True,
    ),
    _s("sampled_data_enabled", "bool", None, "SampledDataCtrlr.Enabled"),
    _s("auth_enabled", "bool", None, "AuthCtrlr.Enabled"),
    # a tag of this group stops every transaction and starts none (C16; empty: no such group)
    _s("master_pass_group_id", "str", None, "AuthCtrlr.MasterPassGroupId"),
    _s(
        "stop_transaction_max_meter_values",
        "int",
        "StopTransactionMaxMeterValues",
        None,
        readonly=True,
    ),
    # Local Auth List Management (1.6 profile; 2.0.1 functional block D) and the cache
    _s("local_auth_list_enabled", "bool", "LocalAuthListEnabled", "LocalAuthListCtrlr.Enabled"),
    _s("local_auth_list_max_length", "int", "LocalAuthListMaxLength", None, readonly=True),
    _s("local_auth_list_entries", "int", None, "LocalAuthListCtrlr.Entries", readonly=True),
    _s(
        "send_local_list_max_length",
        "int",
        "SendLocalListMaxLength",
        "LocalAuthListCtrlr.ItemsPerMessage",
        readonly=True,
    ),
    _s(
        "local_auth_list_bytes_per_message",
        "int",
        None,
        "LocalAuthListCtrlr.BytesPerMessage",
        readonly=True,
    ),
    _s("local_auth_list_available", "bool", None, "LocalAuthListCtrlr.Available", readonly=True),
    # entries past their cacheExpiryDateTime authorize nothing (C13.FR.05/06, C14.FR.04/05)
    _s(
        "local_auth_list_supports_expiry",
        "bool",
        None,
        "LocalAuthListCtrlr.SupportsExpiryDateTime",
        readonly=True,
    ),
    _s("auth_cache_enabled", "bool", "AuthorizationCacheEnabled", "AuthCacheCtrlr.Enabled"),
    # Reservation (1.6 profile; 2.0.1 block H)
    _s(
        "reserve_unspecified",
        "bool",
        "ReserveConnectorZeroSupported",
        "ReservationCtrlr.NonEvseSpecific",
        readonly=True,
    ),
    _s("reservation_enabled", "bool", None, "ReservationCtrlr.Enabled"),
    _s("reservation_available", "bool", None, "ReservationCtrlr.Available", readonly=True),
    # Smart Charging (1.6 profile; 2.0.1 block K)
    _s("smart_charging_enabled", "bool", None, "SmartChargingCtrlr.Enabled"),
    _s("smart_charging_available", "bool", None, "SmartChargingCtrlr.Available", readonly=True),
    _s(
        "charge_profile_max_stack_level",
        "int",
        "ChargeProfileMaxStackLevel",
        "SmartChargingCtrlr.ProfileStackLevel",
        readonly=True,
    ),
    _s(
        "charging_rate_units_16",
        "csv",
        "ChargingScheduleAllowedChargingRateUnit",
        None,
        readonly=True,
    ),
    _s(
        "charging_rate_units_201",
        "csv",
        None,
        "SmartChargingCtrlr.RateUnit",
        readonly=True,
        values=("A", "W"),
    ),
    _s(
        "charging_schedule_max_periods",
        "int",
        "ChargingScheduleMaxPeriods",
        "SmartChargingCtrlr.PeriodsPerSchedule",
        readonly=True,
    ),
    _s(
        "max_charging_profiles_installed",
        "int",
        "MaxChargingProfilesInstalled",
        None,
        readonly=True,
    ),
    _s(
        "charging_profile_entries",
        "int",
        None,
        "SmartChargingCtrlr.Entries:ChargingProfiles",
        readonly=True,
    ),
    _s(
        "limit_change_significance",
        "decimal",
        None,
        "SmartChargingCtrlr.LimitChangeSignificance",
    ),
    # 2.0.1 required variables of the device model (B), clock, security and aligned data
    _s(
        "bytes_per_message_get_report",
        "int",
        None,
        "DeviceDataCtrlr.BytesPerMessage:GetReport",
        readonly=True,
    ),
    _s(
        "bytes_per_message_get_variables",
        "int",
        None,
        "DeviceDataCtrlr.BytesPerMessage:GetVariables",
        readonly=True,
    ),
    _s(
        "bytes_per_message_set_variables",
        "int",
        None,
        "DeviceDataCtrlr.BytesPerMessage:SetVariables",
        readonly=True,
    ),
    _s(
        "items_per_message_get_report",
        "int",
        None,
        "DeviceDataCtrlr.ItemsPerMessage:GetReport",
        readonly=True,
    ),
    _s("clock_date_time", "str", None, "ClockCtrlr.DateTime", readonly=True, data_type="dateTime"),
    _s(
        "time_source",
        "csv",
        None,
        "ClockCtrlr.TimeSource",
        values=("RealTimeClock",),  # the host's clock, the only one the station has
        data_type="SequenceList",
    ),
    _s("organization_name", "str", None, "SecurityCtrlr.OrganizationName"),
    # HTTP Basic authentication's password (2.0.1 A01, A00.FR.205; the 1.6 security
    # whitepaper's AuthorizationKey, hex): each dialect checks its own form
    # (Dialect.password), and the station reconnects with it
    _s(
        "basic_auth_password",
        "password",
        "AuthorizationKey",
        "SecurityCtrlr.BasicAuthPassword",
        writeonly=True,
    ),
    # the security profile the connection uses (2.0.1 appendix 2.2.5, Required; the 1.6
    # whitepaper key): 0 none, 1 Basic auth, 2 TLS (and Basic auth), 3 TLS client
    # certificates; read-only: it rises through a network profile (A05.FR.06)
    _s(
        "security_profile", "int", "SecurityProfile", "SecurityCtrlr.SecurityProfile", readonly=True
    ),
    _s("certificate_entries", "int", None, "SecurityCtrlr.CertificateEntries", readonly=True),
    # the optional check of a new CSMS root against the old one (M05.FR.09-16) is not
    # implemented, which the variable's false says (Part 2 appendix 2.2.6: present unless
    # only security profile 1 is; 1.6 security whitepaper key of the same name)
    _s(
        "additional_root_certificate_check",
        "bool",
        "AdditionalRootCertificateCheck",
        "SecurityCtrlr.AdditionalRootCertificateCheck",
        readonly=True,
        values=("false",),
    ),
    # the most certificates the store keeps: 1.6 whitepaper key, CertificateEntries' maxLimit
    _s(
        "certificate_store_max_length",
        "int",
        "CertificateStoreMaxLength",
        None,
        readonly=True,
    ),
    _s("tx_ended_aligned_interval_s", "int", None, "AlignedDataCtrlr.TxEndedInterval", unit="s"),
    # 2.0.1 Charging Infrastructure (Part 2 2.13), all read from what the station is and
    # does: the station itself, each EVSE and its connector 1
    *(
        _s(
            f"{prefix}_availability_state",
            "status",
            None,
            f"{component}.AvailabilityState",
            readonly=True,
            values=AVAILABILITY_STATES,
            data_type="OptionList",
        )
        for prefix, component in (
            ("station", "ChargingStation"),
            ("evse", "EVSE"),
            ("connector", "Connector"),
        )
    ),
    _s("station_available", "bool", None, "ChargingStation.Available", readonly=True),
    _s("evse_available", "bool", None, "EVSE.Available", readonly=True),
    _s("connector_available", "bool", None, "Connector.Available", readonly=True),
    _s("station_supply_phases", "int", None, "ChargingStation.SupplyPhases", readonly=True),
    _s("evse_supply_phases", "int", None, "EVSE.SupplyPhases", readonly=True),
    _s("connector_supply_phases", "int", None, "Connector.SupplyPhases", readonly=True),
    _s("evse_power_w", "decimal", None, "EVSE.Power", readonly=True, unit="W"),
    _s("connector_type", "str", None, "Connector.ConnectorType", readonly=True),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
#: 1.6 configuration key -> setting
BY_KEY16: dict[str, Setting] = {s.key16: s for s in SETTINGS if s.key16}
#: the same, by the key casefolded: 1.6 keys are CiString50 (case-insensitive)
BY_KEY16_FOLDED: dict[str, Setting] = {key.casefold(): s for key, s in BY_KEY16.items()}
#: (2.0.1 component, variable, instance) -> setting
BY_VARIABLE: dict[tuple[str, str, str | None], Setting] = {
    (s.component, s.variable, s.instance): s
    for s in SETTINGS
    if s.component is not None and s.variable is not None
}
#: 2.0.1 components that have at least one variable here (for UnknownVariable vs Component)
COMPONENTS: frozenset[str] = frozenset(c for c, _, _ in BY_VARIABLE)


def resolve_name(name: str) -> Setting | None:
    """The setting a config names: by loadgen name, 1.6 key or 2.0.1 ``Component.Variable``
    (``Component.Variable:Instance`` for an instance)."""
    if name in BY_NAME:
        return BY_NAME[name]
    if name in BY_KEY16:
        return BY_KEY16[name]
    component, _, rest = name.partition(".")
    variable, _, instance = rest.partition(":")
    return BY_VARIABLE.get((component, variable, instance or None))
