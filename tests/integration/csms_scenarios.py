"""Operator scripts the reference CSMS runs against one charge point (``csms_ocpp.py
--scenario NAME``).

A scenario is what a CSMS operator does to one charge point from its first connection
on, across its reconnects: commands, waits for what the charge point must do next (each
bounded: a wait that runs out fails the scenario by name), and marks of when things were
sent. The CSMS records every frame; ``test_behaviour.py`` judges the record. Scenarios
drive an ``Operator`` (csms_ocpp.py) and speak OCPP 1.6 or 2.0.1 by ``op.version``; the
message helpers here are shared with the tests so both read frames the same way.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

try:  # run as a script (the usual way): this folder is on sys.path
    import certs
except ImportError:  # imported as a module of the tests package
    from tests.integration import certs

#: Tags and ids the scenarios use (the tests look for them).
TAG_REMOTE = "RS-TAG-X"
TAG_REMOTE_AUTH = "RS-TAG-AUTH"
TAG_REMOTE_CENTRAL = "RS-TAG-CENTRAL"
TAG_CONFIG_AUTH = "RS-TAG-CONFIG"
TAG_STOP = "STOP-TAG"
TAG_SESSION = "SESSION-TAG"
BLOCKED_TAG = "BLOCKED-TAG"  # csms_ocpp.AUTHORIZE_STATUS answers Blocked
INVALID_TAG = "INVALID-TAG"  # ... Invalid
DEAUTH_TAG = "DEAUTH-TAG"  # csms_ocpp.START_STATUS: the start is answered Invalid
REMOTE_CONNECTOR = 2
REMOTE_START_ID = 4242
#: The app start ("cable plugin first"): the tag and remoteStartId of its remote start.
TAG_APP = "APP-TAG"
APP_START_ID = 4300
#: A boot retry's interval, and the heartbeat interval a triggered boot's answer sets.
BOOT_RETRY_S = 1
TRIGGERED_BOOT_INTERVAL_S = 2
#: The heartbeat / meter interval the configuration scenarios set.
NEW_INTERVAL_S = 2
#: How long the offline scenarios refuse reconnects after dropping the connection: past
#: the end of the session (the offline run's sessions last 6 s), or well within it.
OUTAGE_S = 6.0
BRIEF_OUTAGE_S = 1.5
#: 1.6 Core profile's required configuration keys (section 9.1 with the errata).
REQUIRED_KEYS_16 = (
    "AuthorizeRemoteTxRequests ClockAlignedDataInterval ConnectionTimeOut "
    "ConnectorPhaseRotation GetConfigurationMaxKeys HeartbeatInterval LocalAuthorizeOffline "
    "LocalPreAuthorize MeterValuesAlignedData MeterValuesSampledData MeterValueSampleInterval "
    "NumberOfConnectors ResetRetries StopTransactionOnInvalidId StopTxnAlignedData "
    "StopTxnSampledData SupportedFeatureProfiles TransactionMessageAttempts "
    "TransactionMessageRetryInterval UnlockConnectorOnEVSideDisconnect"
).split()
#: 2.0.1 required variables of the blocks loadgen implements and of the charging
#: infrastructure, as Component[evse,connector].Variable[:instance] (Part 2 "Referenced
#: Components and Variables"), plus the optional HeartbeatInterval it uses.
REQUIRED_VARIABLES_201 = (
    "OCPPCommCtrlr.ActiveNetworkProfile OCPPCommCtrlr.FileTransferProtocols "
    "OCPPCommCtrlr.MessageTimeout:Default OCPPCommCtrlr.NetworkConfigurationPriority "
    "OCPPCommCtrlr.NetworkProfileConnectionAttempts OCPPCommCtrlr.OfflineThreshold "
    "OCPPCommCtrlr.MessageAttempts:TransactionEvent "
    "OCPPCommCtrlr.MessageAttemptInterval:TransactionEvent "
    "OCPPCommCtrlr.UnlockOnEVSideDisconnect OCPPCommCtrlr.ResetRetries "
    "OCPPCommCtrlr.RetryBackOffRepeatTimes OCPPCommCtrlr.RetryBackOffRandomRange "
    "OCPPCommCtrlr.RetryBackOffWaitMinimum OCPPCommCtrlr.WebSocketPingInterval "
    "OCPPCommCtrlr.HeartbeatInterval SampledDataCtrlr.TxEndedMeasurands "
    "SampledDataCtrlr.TxStartedMeasurands SampledDataCtrlr.TxUpdatedMeasurands "
    "SampledDataCtrlr.TxEndedInterval SampledDataCtrlr.TxUpdatedInterval "
    "AuthCtrlr.AuthorizeRemoteStart AuthCtrlr.LocalAuthorizeOffline AuthCtrlr.LocalPreAuthorize "
    "TxCtrlr.EVConnectionTimeOut TxCtrlr.StopTxOnEVSideDisconnect TxCtrlr.StopTxOnInvalidId "
    "TxCtrlr.TxStartPoint TxCtrlr.TxStopPoint "
    "DeviceDataCtrlr.BytesPerMessage:GetReport DeviceDataCtrlr.BytesPerMessage:GetVariables "
    "DeviceDataCtrlr.BytesPerMessage:SetVariables DeviceDataCtrlr.ItemsPerMessage:GetReport "
    "DeviceDataCtrlr.ItemsPerMessage:GetVariables DeviceDataCtrlr.ItemsPerMessage:SetVariables "
    "ClockCtrlr.DateTime ClockCtrlr.TimeSource SecurityCtrlr.OrganizationName "
    "SecurityCtrlr.SecurityProfile "
    "SecurityCtrlr.CertificateEntries AlignedDataCtrlr.TxEndedInterval "
    "ChargingStation.AvailabilityState ChargingStation.Available ChargingStation.SupplyPhases "
    "EVSE[1].AvailabilityState EVSE[1].Available EVSE[1].Power EVSE[1].SupplyPhases "
    "Connector[1,1].Available Connector[1,1].ConnectorType Connector[1,1].SupplyPhases "
    "EVSE[2].Power Connector[2,1].AvailabilityState"
).split()


def variable_data(spec: str) -> dict[str, Any]:
    """GetVariables data (snake_case, as ``ocpp`` takes it) of
    ``Component[evse,connector].Variable[:instance]`` (the tier optional)."""
    component, _, rest = spec.partition(".")
    name, _, instance = rest.partition(":")
    variable = {"name": name, "instance": instance} if instance else {"name": name}
    component, _, tier = component.rstrip("]").partition("[")
    named: dict[str, Any] = {"name": component}
    if tier:
        evse_id, _, connector_id = tier.partition(",")
        named["evse"] = {"id": int(evse_id)}
        if connector_id:
            named["evse"]["connector_id"] = int(connector_id)
    return {"component": named, "variable": variable}


#: 1.6 configuration key and 2.0.1 (component, variable) of the settings scenarios change.
SETTINGS = {
    "authorize_remote": ("AuthorizeRemoteTxRequests", ("AuthCtrlr", "AuthorizeRemoteStart")),
    "heartbeat": ("HeartbeatInterval", ("OCPPCommCtrlr", "HeartbeatInterval")),
    "meter": ("MeterValueSampleInterval", ("SampledDataCtrlr", "TxUpdatedInterval")),
    "local_pre_authorize": ("LocalPreAuthorize", ("AuthCtrlr", "LocalPreAuthorize")),
    "password": ("AuthorizationKey", ("SecurityCtrlr", "BasicAuthPassword")),
}
#: the new Basic-auth password the "credentials" scenario sets; 1.6 writes it in hex
NEW_PASSWORD = "OCA_OCTT_admin_test"


def password_value(version: str) -> str:
    return NEW_PASSWORD.encode().hex().upper() if version == "1.6" else NEW_PASSWORD + "_201"


class ScenarioFailed(Exception):
    """The charge point did not do what the scenario waited for; the message says what."""


class OperatorLike(Protocol):
    """What a scenario may do with its charge point (csms_ocpp.Operator implements it)."""

    version: str  # "1.6" or "2.0.1"
    connectors: int
    record: Any  # the CSMS's Record: connections, marks, boot_interval ...

    @property
    def messages(self) -> list[dict[str, Any]]: ...

    async def until(self, predicate: Callable[[], Any], what: str, timeout_s: float = ...) -> Any:
        """``predicate()``'s first truthy value; :class:`ScenarioFailed` after the timeout."""

    async def call(self, label: str, payload: Any, *, timeout_s: float = ...) -> Any:
        """A server call validated by ``ocpp``; its answer is recorded under ``label``."""

    def answered(self, label: str) -> Any:
        """The status of the last server call labelled ``label``."""

    async def probe(self, label: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A raw CALL whose answer, if any, is recorded whenever it comes."""

    def mark(self, name: str) -> int:
        """Note the time and the number of messages so far; return that number."""

    def drop(self) -> None:
        """Abort the connection's transport (no close frame)."""

    def refuse(self, seconds: float, status: int = 503) -> None:
        """Answer the charge point's upgrade requests with HTTP ``status`` for ``seconds``."""

    @property
    def upload_url(self) -> str:
        """Where the CSMS takes uploads (GetDiagnostics / GetLog locations)."""

    def uploads(self) -> list[dict[str, Any]]:
        """The uploads the charge point made to :attr:`upload_url`."""


Run = Callable[[OperatorLike], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    run: Run
    #: (status, interval) answers to the first BootNotifications; Accepted after them
    boot_plan: tuple[tuple[str, int], ...] = ()


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, boot_plan: tuple[tuple[str, int], ...] = ()) -> Callable[[Run], Run]:
    """Register the decorated coroutine as scenario ``name``."""

    def register(run: Run) -> Run:
        SCENARIOS[name] = Scenario(run, boot_plan)
        return run

    return register


# -- reading frames (shared with the tests) -------------------------------------------


def answered(m: dict[str, Any]) -> bool:
    """Our answer to this message has gone out."""
    return "t_reply" in m


def status_connector(version: str, m: dict[str, Any]) -> int | None:
    """The connector (1.6) / EVSE (2.0.1) of a StatusNotification (or of a 2.0.1 NotifyEvent
    of a Connector's AvailabilityState, its alternative: G01.FR.03), else None."""
    if m["action"] == "NotifyEvent":
        event = _connector_event(m)
        return None if event is None else event["component"]["evse"]["id"]
    if m["action"] != "StatusNotification":
        return None
    return m["payload"].get("connectorId" if version == "1.6" else "evseId")


def status_value(version: str, m: dict[str, Any]) -> str | None:
    if m["action"] == "NotifyEvent":
        event = _connector_event(m)
        return None if event is None else event["actualValue"]
    return m["payload"].get("status" if version == "1.6" else "connectorStatus")


def _connector_event(m: dict[str, Any]) -> dict[str, Any] | None:
    """The first event of a NotifyEvent if it is a Connector's AvailabilityState."""
    events = m["payload"].get("eventData") or []
    if not events:
        return None
    event = events[0]
    component, variable = event.get("component") or {}, event.get("variable") or {}
    if component.get("name") == "Connector" and variable.get("name") == "AvailabilityState":
        return dict(event)
    return None


def is_status(version: str, m: dict[str, Any], connector: int, status: str) -> bool:
    return status_connector(version, m) == connector and status_value(version, m) == status


def tag_of(version: str, m: dict[str, Any]) -> str | None:
    """The idTag / idToken of an Authorize, a start or (1.6) a stop."""
    payload = m["payload"]
    if version == "1.6":
        return payload.get("idTag")
    return (payload.get("idToken") or {}).get("idToken")


def is_start(version: str, m: dict[str, Any]) -> bool:
    if version == "1.6":
        return m["action"] == "StartTransaction"
    return m["action"] == "TransactionEvent" and m["payload"].get("eventType") == "Started"


def start_connector(version: str, m: dict[str, Any]) -> int | None:
    if version == "1.6":
        return m["payload"].get("connectorId")
    return (m["payload"].get("evse") or {}).get("id")


def tx_of(version: str, m: dict[str, Any]) -> Any:
    """The transaction id a transaction message belongs to (1.6: the server's)."""
    if version == "1.6":
        if m["action"] == "StartTransaction":
            return (m.get("reply") or {}).get("transactionId")
        return m["payload"].get("transactionId")
    return (m["payload"].get("transactionInfo") or {}).get("transactionId")


def is_meter(version: str, m: dict[str, Any], tx: Any) -> bool:
    """A periodic sample of transaction ``tx`` (MeterValues / TransactionEvent Updated
    with a meterValue: not one that tells only a charging state or rate change)."""
    if version == "1.6":
        return m["action"] == "MeterValues" and m["payload"].get("transactionId") == tx
    return (
        m["action"] == "TransactionEvent"
        and m["payload"].get("eventType") == "Updated"
        and "meterValue" in m["payload"]
        and tx_of(version, m) == tx
    )


def is_end(version: str, m: dict[str, Any], tx: Any) -> bool:
    if version == "1.6":
        return m["action"] == "StopTransaction" and m["payload"].get("transactionId") == tx
    return (
        m["action"] == "TransactionEvent"
        and m["payload"].get("eventType") == "Ended"
        and tx_of(version, m) == tx
    )


def is_tx_message(version: str, m: dict[str, Any], tx: Any) -> bool:
    """A start, meter value or end of transaction ``tx``."""
    if is_start(version, m):
        return tx_of(version, m) == tx
    return is_meter(version, m, tx) or is_end(version, m, tx)


def find(messages: list[dict[str, Any]], predicate: Callable[[Any], bool], start: int = 0) -> int:
    """Index + 1 of the first message from ``start`` on that matches, else 0."""
    for i in range(start, len(messages)):
        if predicate(messages[i]):
            return i + 1
    return 0


def every_connector(version: str, connectors: int) -> list[int]:
    """Connector ids a station-wide change reports (1.6 adds the Charge Point, 0)."""
    return ([0] if version == "1.6" else []) + list(range(1, connectors + 1))


# -- operator steps -------------------------------------------------------------------


async def ready(op: OperatorLike, since: int = 0) -> int:
    """Wait for an Accepted boot from message ``since`` on, then a status of every
    connector after it; the number of messages by then."""
    version, messages = op.version, op.messages
    wanted = set(every_connector(version, op.connectors))

    def check() -> int:
        boot = 0
        for i in range(since, len(messages)):
            m = messages[i]
            if (
                m["action"] == "BootNotification"
                and (m.get("reply") or {}).get("status") == "Accepted"
            ):
                boot = i + 1
        if not boot:
            return 0
        seen = {status_connector(version, m) for m in messages[boot:] if answered(m)}
        return len(messages) if wanted <= seen else 0

    return int(await op.until(check, "Accepted boot followed by a status of every connector"))


async def remote_start(
    op: OperatorLike,
    label: str,
    connector: int,
    tag: str,
    remote_start_id: int,
    *,
    expect: str = "Accepted",
    wait_start: bool = True,
    token_type: str = "ISO14443",
    name_connector: bool = True,
) -> Any:
    """RemoteStartTransaction / RequestStartTransaction; the started transaction's id.
    ``name_connector`` False: the request names no connector / EVSE, and the start is
    still awaited on ``connector``."""
    start = op.mark(label)
    asked = connector if name_connector else None
    if op.version == "1.6":
        request: Any = call16.RemoteStartTransaction(id_tag=tag, connector_id=asked)
    else:
        request = call201.RequestStartTransaction(
            id_token={"id_token": tag, "type": token_type},
            remote_start_id=remote_start_id,
            evse_id=asked,
        )
    await op.call(label, request)
    status = op.answered(label)
    if status != expect:
        raise ScenarioFailed(f"{label} answered {status!r}, expected {expect!r}")
    if expect != "Accepted" or not wait_start:
        return None
    version = op.version
    index = await op.until(
        lambda: find(
            op.messages,
            lambda m: (
                is_start(version, m)
                and start_connector(version, m) == connector
                and tag_of(version, m) == tag
                and answered(m)
            ),
            start,
        ),
        f"transaction start on connector {connector} after {label}",
    )
    return tx_of(version, op.messages[index - 1])


async def wait_end(op: OperatorLike, tx: Any, since: int, what: str) -> int:
    version = op.version
    return int(
        await op.until(
            lambda: find(op.messages, lambda m: is_end(version, m, tx) and answered(m), since),
            f"end of transaction {tx} {what}",
        )
    )


async def remote_stop(op: OperatorLike, label: str, tx: Any) -> int:
    """RemoteStopTransaction / RequestStopTransaction; the index + 1 of the end."""
    start = op.mark(label)
    if op.version == "1.6":
        await op.call(label, call16.RemoteStopTransaction(transaction_id=tx))
    else:
        await op.call(label, call201.RequestStopTransaction(transaction_id=tx))
    if op.answered(label) != "Accepted":
        raise ScenarioFailed(f"{label} answered {op.answered(label)!r}")
    return await wait_end(op, tx, start, f"after {label}")


async def meters(op: OperatorLike, tx: Any, count: int, since: int, what: str) -> None:
    version = op.version
    await op.until(
        lambda: (
            sum(1 for m in op.messages[since:] if is_meter(version, m, tx) and answered(m)) >= count
        ),
        f"{count} meter values of {tx} {what}",
    )


async def heartbeats(op: OperatorLike, since: int, count: int, what: str) -> None:
    await op.until(
        lambda: sum(1 for m in op.messages[since:] if m["action"] == "Heartbeat") >= count,
        f"{count} Heartbeats {what}",
    )


async def status_seen(op: OperatorLike, since: int, connector: int, status: str, what: str) -> int:
    version = op.version
    return int(
        await op.until(
            lambda: find(op.messages, lambda m: is_status(version, m, connector, status), since),
            f"StatusNotification {status} of connector {connector} {what}",
        )
    )


async def set_setting(op: OperatorLike, label: str, setting: str, value: str) -> None:
    key16, (component, variable) = SETTINGS[setting]
    if op.version == "1.6":
        await op.call(label, call16.ChangeConfiguration(key=key16, value=value))
    else:
        data = {
            "component": {"name": component},
            "variable": {"name": variable},
            "attribute_value": value,
        }
        await op.call(label, call201.SetVariables(set_variable_data=[data]))
    if op.answered(label) not in ("Accepted", ["Accepted"]):
        raise ScenarioFailed(f"{label} answered {op.answered(label)!r}")


async def get_setting(op: OperatorLike, label: str, setting: str) -> None:
    key16, (component, variable) = SETTINGS[setting]
    if op.version == "1.6":
        await op.call(label, call16.GetConfiguration(key=[key16]))
    else:
        data = {"component": {"name": component}, "variable": {"name": variable}}
        await op.call(label, call201.GetVariables(get_variable_data=[data]))


async def change_availability(
    op: OperatorLike, label: str, connector: int, operative: bool, expect: str
) -> int:
    """ChangeAvailability of a connector (0: all of them); the mark's index."""
    start = op.mark(label)
    kind = "Operative" if operative else "Inoperative"
    if op.version == "1.6":
        await op.call(label, call16.ChangeAvailability(connector_id=connector, type=kind))
    else:
        evse = None if connector == 0 else {"id": connector}
        await op.call(label, call201.ChangeAvailability(operational_status=kind, evse=evse))
    if op.answered(label) != expect:
        raise ScenarioFailed(f"{label} answered {op.answered(label)!r}, expected {expect!r}")
    return int(start)


async def trigger(op: OperatorLike, label: str, message: str, connector: int | None) -> None:
    if op.version == "1.6":
        request: Any = call16.TriggerMessage(requested_message=message, connector_id=connector)
    else:
        evse = None
        if connector is not None:
            evse = {"id": connector}
            if message == "StatusNotification":
                evse["connector_id"] = 1  # F06.FR.12: a status names its connector
        request = call201.TriggerMessage(requested_message=message, evse=evse)
    await op.call(label, request)


async def barrier(op: OperatorLike, label: str) -> int:
    """TriggerMessage FirmwareStatusNotification and wait for it: whatever the charge
    point queued before (answers to earlier triggers) has arrived by then."""
    start = op.mark(label)
    await trigger(op, label, "FirmwareStatusNotification", None)
    return int(
        await op.until(
            lambda: find(op.messages, lambda m: m["action"] == "FirmwareStatusNotification", start),
            f"FirmwareStatusNotification after {label}",
        )
    )


def boots_answered(op: OperatorLike, since: int = 0) -> int:
    return find(op.messages, lambda m: m["action"] == "BootNotification" and answered(m), since)


# -- the scenarios --------------------------------------------------------------------


@scenario("remote-start")
async def _remote_start(op: OperatorLike) -> None:
    await ready(op)
    tx = await remote_start(op, "RemoteStart", REMOTE_CONNECTOR, TAG_REMOTE, REMOTE_START_ID)
    await remote_stop(op, "RemoteStop", tx)
    await set_setting(op, "AuthorizeRemote.true", "authorize_remote", "true")
    tx = await remote_start(
        op, "RemoteStart.authorize", REMOTE_CONNECTOR, TAG_REMOTE_AUTH, REMOTE_START_ID + 1
    )
    await remote_stop(op, "RemoteStop.authorize", tx)
    if op.version != "1.6":  # an idToken is its value and its type: Central, say
        await set_setting(op, "AuthorizeRemote.false", "authorize_remote", "false")
        tx = await remote_start(
            op,
            "RemoteStart.central",
            REMOTE_CONNECTOR,
            TAG_REMOTE_CENTRAL,
            REMOTE_START_ID + 2,
            token_type="Central",
        )
        await remote_stop(op, "RemoteStop.central", tx)


@scenario("app-start")
async def _app_start(op: OperatorLike) -> None:
    """The "cable plugin first" start (2.0.1 F02, 1.6 5.11), run by examples/app_start.py: the
    driver plugs in and waits; the app's remote start, naming no connector, starts the
    session where the EV waits."""
    since = await ready(op)
    version = op.version
    plugged = "Preparing" if version == "1.6" else "Occupied"
    index = await op.until(
        lambda: find(op.messages, lambda m: status_value(version, m) == plugged, since),
        f"StatusNotification {plugged}: the EV plugged in",
    )
    connector = status_connector(version, op.messages[index - 1])
    if connector is None:
        raise ScenarioFailed(f"{plugged} without a connector")
    op.mark("Plugged")
    tx = await remote_start(op, "AppStart", connector, TAG_APP, APP_START_ID, name_connector=False)
    await remote_stop(op, "AppStop", tx)


@scenario("remote-stop")
async def _remote_stop(op: OperatorLike) -> None:
    await ready(op)
    tx = await remote_start(op, "RemoteStart", 1, TAG_STOP, REMOTE_START_ID + 10)
    await meters(op, tx, 2, 0, "while charging")
    end = await remote_stop(op, "RemoteStop", tx)
    # A quiet window: meter values every second would keep the Heartbeats away.
    await heartbeats(op, end, 2, "after the stop")


@scenario("authorization")
async def _authorization(op: OperatorLike) -> None:
    version = op.version
    await ready(op)
    await set_setting(op, "AuthorizeRemote.true", "authorize_remote", "true")
    for n, (label, tag) in enumerate(
        (("RemoteStart.blocked", BLOCKED_TAG), ("RemoteStart.invalid", INVALID_TAG))
    ):
        start = op.mark(label)
        await remote_start(op, label, 1, tag, REMOTE_START_ID + 20 + n, wait_start=False)
        auth = await op.until(
            lambda tag=tag, start=start: find(
                op.messages,
                lambda m: m["action"] == "Authorize" and tag_of(version, m) == tag and answered(m),
                start,
            ),
            f"Authorize {tag}",
        )
        await status_seen(op, auth, 1, "Available", f"after Authorize {tag} was refused")
    await set_setting(op, "AuthorizeRemote.false", "authorize_remote", "false")
    start = op.mark("RemoteStart.deauth")
    tx = await remote_start(op, "RemoteStart.deauth", 1, DEAUTH_TAG, REMOTE_START_ID + 22)
    await wait_end(op, tx, start, "after its start was answered Invalid")


@scenario("reset")
async def _reset(op: OperatorLike) -> None:
    await ready(op)
    kinds = ("Soft", "Hard") if op.version == "1.6" else ("Immediate",)
    for n, kind in enumerate(kinds):
        connection = op.record.connections
        tx = await remote_start(op, f"RemoteStart.{kind}", 1, TAG_SESSION, REMOTE_START_ID + 30 + n)
        label = f"Reset.{kind}"
        start = op.mark(label)
        reset = call16.Reset(type=kind) if op.version == "1.6" else call201.Reset(type=kind)
        await op.call(label, reset)
        await wait_end(op, tx, start, f"after {label}")
        await op.until(lambda c=connection: op.record.connections > c, f"reconnect after {label}")
        await ready(op, start)
    if op.version == "1.6":
        return
    connection = op.record.connections
    tx = await remote_start(op, "RemoteStart.OnIdle", 1, TAG_SESSION, REMOTE_START_ID + 39)
    start = op.mark("Reset.OnIdle")
    await op.call("Reset.OnIdle", call201.Reset(type="OnIdle"))
    await meters(op, tx, 2, start, "after the reset was scheduled")
    op.mark("RequestStop.OnIdle.sent")
    await remote_stop(op, "RequestStop.OnIdle", tx)
    await op.until(lambda: op.record.connections > connection, "reconnect after the session")
    await ready(op, start)


@scenario("availability")
async def _availability(op: OperatorLike) -> None:
    version, every = op.version, every_connector(op.version, op.connectors)
    await ready(op)
    since = await change_availability(op, "Inoperative.2", 2, False, "Accepted")
    await status_seen(op, since, 2, "Unavailable", "after Inoperative")
    await remote_start(op, "RemoteStart.inoperative", 2, TAG_SESSION, 1, expect="Rejected")
    since = await change_availability(op, "Operative.2", 2, True, "Accepted")
    await status_seen(op, since, 2, "Available", "after Operative")
    tx = await remote_start(op, "RemoteStart", 1, TAG_SESSION, REMOTE_START_ID + 40)
    since = await change_availability(op, "Inoperative.busy", 1, False, "Scheduled")
    await meters(op, tx, 1, since, "after the change was scheduled")
    end = await remote_stop(op, "RemoteStop", tx)
    await status_seen(op, end, 1, "Unavailable", "once the session ended")
    since = await change_availability(op, "Operative.1", 1, True, "Accepted")
    await status_seen(op, since, 1, "Available", "after Operative")
    for operative, label, status in (
        (False, "Inoperative.all", "Unavailable"),
        (True, "Operative.all", "Available"),
    ):
        since = await change_availability(op, label, 0, operative, "Accepted")
        await op.until(
            lambda since=since, status=status: all(
                find(op.messages, lambda m, c=c: is_status(version, m, c, status), since)
                for c in every
            ),
            f"{status} of every connector after {label}",
        )


@scenario("unlock")
async def _unlock(op: OperatorLike) -> None:
    await ready(op)
    tx = await remote_start(op, "RemoteStart", 1, TAG_SESSION, REMOTE_START_ID + 50)
    await meters(op, tx, 1, 0, "before the unlock")
    start = op.mark("UnlockConnector")
    if op.version == "1.6":
        await op.call("UnlockConnector", call16.UnlockConnector(connector_id=1))
        await wait_end(op, tx, start, "after UnlockConnector")
    else:
        await op.call("UnlockConnector", call201.UnlockConnector(evse_id=1, connector_id=1))
        await meters(op, tx, 2, start, "after UnlockConnector")
        op.mark("RequestStop.sent")
        await remote_stop(op, "RequestStop", tx)


@scenario("trigger")
async def _trigger(op: OperatorLike) -> None:
    await ready(op)
    op.mark("TriggerMessage.status")
    await trigger(op, "TriggerMessage.status", "StatusNotification", 2)
    await barrier(op, "Barrier.status")
    op.mark("TriggerMessage.meter")
    await trigger(op, "TriggerMessage.meter", "MeterValues", 2)
    await barrier(op, "Barrier.meter")


@scenario("boot", boot_plan=(("Rejected", BOOT_RETRY_S), ("Pending", BOOT_RETRY_S)))
async def _boot(op: OperatorLike) -> None:
    first = await op.until(lambda: boots_answered(op), "BootNotification (to be Rejected)")
    if op.version == "1.6":
        await op.probe("GetConfiguration.rejected", "GetConfiguration", {})
    else:
        data = [variable_data("OCPPCommCtrlr.HeartbeatInterval")]  # the same in camelCase
        await op.probe("GetVariables.rejected", "GetVariables", {"getVariableData": data})
    # An answer to the probe would come before the retried boot: the station answers
    # a call as it reads it, and boots again only once the interval is over.
    second = await op.until(lambda: boots_answered(op, first), "BootNotification (Pending)")
    await get_setting(op, "GetConfiguration.pending", "heartbeat")
    await remote_start(
        op, "RemoteStart.pending", 1, TAG_SESSION, REMOTE_START_ID + 60, expect="Rejected"
    )
    third = await op.until(lambda: boots_answered(op, second), "BootNotification (Accepted)")
    await ready(op, third - 1)
    start = op.mark("TriggerMessage.boot")
    if op.version == "1.6":
        op.record.boot_interval = TRIGGERED_BOOT_INTERVAL_S
        await trigger(op, "TriggerMessage.boot", "BootNotification", None)
        fourth = await op.until(lambda: boots_answered(op, start), "triggered BootNotification")
        await heartbeats(op, fourth, 2, "after the triggered boot")
        await get_setting(op, "GetConfiguration.after", "heartbeat")
    else:
        await trigger(op, "TriggerMessage.boot", "BootNotification", None)


@scenario("config-heartbeat")
async def _config_heartbeat(op: OperatorLike) -> None:
    since = await ready(op)
    if op.version == "1.6":
        await op.call("GetConfiguration.all", call16.GetConfiguration())
    else:
        data = [variable_data(spec) for spec in REQUIRED_VARIABLES_201]
        await op.call("GetVariables.required", call201.GetVariables(get_variable_data=data))
    await heartbeats(op, since, 1, "on the boot's interval")
    start = op.mark("HeartbeatInterval.set")
    await set_setting(op, "HeartbeatInterval.set", "heartbeat", str(NEW_INTERVAL_S))
    await heartbeats(op, start, 2, "on the new interval")
    await get_setting(op, "HeartbeatInterval.get", "heartbeat")
    await certificates(op)


async def certificates(op: OperatorLike) -> None:
    """Install a CSMS root certificate, list it, delete it by the hash data listed, and
    list again (2.0.1 M05, M03, M04; the 1.6 security whitepaper's calls)."""
    pem = certs.ca_pem("loadgen behaviour root")
    if op.version == "1.6":
        kind = "CentralSystemRootCertificate"
        install: Any = call16.InstallCertificate(certificate_type=kind, certificate=pem)
        listing: Any = call16.GetInstalledCertificateIds(certificate_type=kind)
    else:
        kind = "CSMSRootCertificate"
        install = call201.InstallCertificate(certificate_type=kind, certificate=pem)
        listing = call201.GetInstalledCertificateIds(certificate_type=[kind])
    await op.call("InstallCertificate", install)
    listed = await op.call("GetInstalledCertificateIds", listing) or {}
    if op.version == "1.6":
        data = listed.get("certificateHashData", [{}])[0]
        delete: Any = call16.DeleteCertificate(certificate_hash_data=data)
    else:
        data = listed.get("certificateHashDataChain", [{}])[0].get("certificateHashData", {})
        delete = call201.DeleteCertificate(certificate_hash_data=data)
    await op.call("DeleteCertificate", delete)
    await op.call("GetInstalledCertificateIds.after", listing)


@scenario("credentials")
async def _credentials(op: OperatorLike) -> None:
    await ready(op)
    connections = op.record.connections
    start = op.mark("Password.set")
    await set_setting(op, "Password.set", "password", password_value(op.version))
    await op.until(lambda: op.record.connections > connections, "a reconnect")
    await heartbeats(op, start, 1, "after the reconnect with the new password")


@scenario("config-meter")
async def _config_meter(op: OperatorLike) -> None:
    await ready(op)
    tx = await remote_start(op, "RemoteStart", 1, TAG_SESSION, REMOTE_START_ID + 70)
    await meters(op, tx, 2, 0, "on the first interval")
    start = op.mark("MeterInterval.set")
    await set_setting(op, "MeterInterval.set", "meter", str(NEW_INTERVAL_S))
    await meters(op, tx, 2, start, "on the new interval")
    await get_setting(op, "MeterInterval.get", "meter")
    await remote_stop(op, "RemoteStop", tx)


async def _outage(op: OperatorLike, outage_s: float) -> tuple[Any, int]:
    """Wait for the charge point's own session and a sample, then drop the connection
    and refuse reconnects for ``outage_s``; the transaction and the index of its start."""
    version = op.version
    await ready(op)
    index = await op.until(
        lambda: find(op.messages, lambda m: is_start(version, m) and answered(m)),
        "a transaction start",
    )
    tx = tx_of(version, op.messages[index - 1])
    await meters(op, tx, 1, index, "before the drop")
    op.refuse(outage_s)
    op.mark("drop")
    op.drop()
    await op.until(lambda: op.record.connections >= 2, "reconnect after the refusals")
    return tx, index


@scenario("offline")
async def _offline(op: OperatorLike) -> None:
    """Needs a charging fleet: the session ends while the charge point is offline."""
    version = op.version
    tx, index = await _outage(op, OUTAGE_S)
    await wait_end(op, tx, index, "after the reconnect")
    await op.until(
        lambda: find(
            op.messages,
            lambda m: m["conn"] >= 2 and is_start(version, m) and answered(m),
        ),
        "a new transaction after the reconnect",
    )


@scenario("offline-brief")
async def _offline_brief(op: OperatorLike) -> None:
    """Needs a charging fleet: the session goes on across a short outage."""
    tx, index = await _outage(op, BRIEF_OUTAGE_S)
    await wait_end(op, tx, index, "after the reconnect")


@scenario("boot-on-reconnect")
async def _boot_on_reconnect(op: OperatorLike) -> None:
    await ready(op)
    op.mark("drop")
    op.drop()
    await op.until(lambda: op.record.connections >= 2, "reconnect")
    await op.until(
        lambda: find(op.messages, lambda m: m["conn"] >= 2 and m["action"] == "Heartbeat"),
        "a Heartbeat on the new connection",
    )


@scenario("remote-start-config")
async def _remote_start_config(op: OperatorLike) -> None:
    await ready(op)
    await get_setting(op, "AuthorizeRemote.get", "authorize_remote")
    tx = await remote_start(
        op, "RemoteStart", REMOTE_CONNECTOR, TAG_CONFIG_AUTH, REMOTE_START_ID + 80
    )
    await remote_stop(op, "RemoteStop", tx)


# -- network connection profiles (2.0.1 B09, B10) --------------------------------------

#: Where the "migrate" scenarios move their charge point: the test sets these in the
#: CSMS's environment (a second CSMS; a loopback port nobody listens on).
MIGRATE_URL_ENV = "LOADGEN_TEST_MIGRATE_URL"
DEAD_URL_ENV = "LOADGEN_TEST_DEAD_URL"
#: NetworkProfileConnectionAttempts the "migrate" scenarios set.
MIGRATE_ATTEMPTS = 2


async def _migrate_to(op: OperatorLike, url: str) -> int:
    """SetNetworkProfile ``url`` into slot 1, NetworkConfigurationPriority "1,0", then an
    Immediate Reset (B09, B10); the number of messages before the first of them."""
    await ready(op)
    start = op.mark("SetNetworkProfile")
    profile = {
        "ocpp_version": "OCPP20",
        "ocpp_transport": "JSON",
        "ocpp_csms_url": url,
        "message_timeout": 10,
        "security_profile": 0,
        "ocpp_interface": "Wired0",
    }
    await op.call(
        "SetNetworkProfile",
        call201.SetNetworkProfile(configuration_slot=1, connection_data=profile),
    )
    if op.answered("SetNetworkProfile") != "Accepted":
        raise ScenarioFailed(f"SetNetworkProfile answered {op.answered('SetNetworkProfile')!r}")
    comm = {"name": "OCPPCommCtrlr"}
    data = [
        {
            "component": comm,
            "variable": {"name": "NetworkProfileConnectionAttempts"},
            "attribute_value": str(MIGRATE_ATTEMPTS),
        },
        {
            "component": comm,
            "variable": {"name": "NetworkConfigurationPriority"},
            "attribute_value": "1,0",
        },
    ]
    await op.call("Priority.set", call201.SetVariables(set_variable_data=data))
    if op.answered("Priority.set") != ["Accepted", "RebootRequired"]:
        raise ScenarioFailed(f"Priority.set answered {op.answered('Priority.set')!r}")
    await op.call("Reset", call201.Reset(type="Immediate"))
    if op.answered("Reset") != "Accepted":
        raise ScenarioFailed(f"Reset answered {op.answered('Reset')!r}")
    return start


@scenario("migrate")
async def _migrate(op: OperatorLike) -> None:
    """The charge point is sent to the CSMS at $LOADGEN_TEST_MIGRATE_URL."""
    await _migrate_to(op, os.environ[MIGRATE_URL_ENV])


@scenario("migrate-refused")
async def _migrate_refused(op: OperatorLike) -> None:
    """The charge point is sent to a URL that refuses it: it comes back and boots again."""
    start = await _migrate_to(op, os.environ[DEAD_URL_ENV])
    await ready(op, start)


@scenario("migrated")
async def _migrated(op: OperatorLike) -> None:
    """The new CSMS: the charge point boots here."""
    await ready(op)
