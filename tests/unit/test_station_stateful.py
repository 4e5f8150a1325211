"""Random event orders against the station (hypothesis stateful testing), for 1.6J and
2.0.1: time passing, lost links, refused connects, a silent or erring CSMS, and every kind
of server call, with the protocol's invariants checked after each step and a final
settle phase in which every transaction that started must end."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from loadgen.config import Reconnect, Scenario, Session
from loadgen.failures import Failure
from loadgen.sim.states import ONLINE
from tests.unit.sim_csms import Bench, default_answers, make

NOW = "2026-01-01T00:00:00.000Z"
ID_STATUSES = ["Accepted", "Accepted", "Blocked", "Invalid"]
#: (1.6 key, 2.0.1 Component.Variable[:Instance], values to try)
SETTINGS = [
    ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval", ["5", "30", "0", "x"]),
    ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval", ["0", "3", "11"]),
    ("AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", ["true", "false"]),
    ("StopTransactionOnInvalidId", "TxCtrlr.StopTxOnInvalidId", ["true", "false"]),
    ("TransactionMessageAttempts", "OCPPCommCtrlr.MessageAttempts:TransactionEvent", ["1", "5"]),
    (
        "TransactionMessageRetryInterval",
        "OCPPCommCtrlr.MessageAttemptInterval:TransactionEvent",
        ["1", "4"],
    ),
    ("ConnectionTimeOut", "OCPPCommCtrlr.RetryBackOffWaitMinimum", ["1", "7"]),
    ("NumberOfConnectors", "OCPPCommCtrlr.RetryBackOffRepeatTimes", ["0", "3"]),
]


class StationMachine(RuleBasedStateMachine):
    """One station and a scripted CSMS; the version is the subclass's."""

    version = "1.6"

    def __init__(self) -> None:
        super().__init__()
        self.bench: Bench = None  # type: ignore[assignment]
        self.meters: list[int] = []
        self.id_status = "Accepted"
        self.next_tx = 0

    # -- set-up --------------------------------------------------------------------------

    @initialize(
        connectors=st.integers(1, 3),
        charging=st.booleans(),
        seed=st.integers(0, 99),
        boot_on_reconnect=st.booleans(),
        latency_s=st.sampled_from([0.01, 0.4, 2.0]),
    )
    def power_on(
        self, connectors: int, charging: bool, seed: int, boot_on_reconnect: bool, latency_s: float
    ) -> None:
        self.bench = make(
            self.version,
            latency_s=latency_s,
            connectors=connectors,
            boot_on_reconnect=boot_on_reconnect,
            call_timeout_s=5.0,
            boot_retry_s=4.0,
            reboot_s=3.0,
            session=Session(duration_s=40.0, meter_interval_s=7.0, pause_s=20.0),
            scenario=Scenario(idle=0.0 if charging else 1.0, charging=1.0 if charging else 0.0),
            reconnect=Reconnect(initial_s=2.0, random_range_s=1.0, factor=2.0, max_s=20.0),
            seed=seed,
        )
        self._answer_starts()
        self.meters = [0] * connectors

    def _answer_starts(self) -> None:
        """Start answers with unique ids (1.6) and the current idTag status."""
        if self.version == "1.6":

            def start(_: dict[str, Any]) -> dict[str, Any]:
                self.next_tx += 1
                return {"transactionId": self.next_tx, "idTagInfo": {"status": self.id_status}}

            self.bench.answers["StartTransaction"] = start
        else:

            def event(p: dict[str, Any]) -> dict[str, Any]:
                if p["eventType"] == "Started":
                    return {"idTokenInfo": {"status": self.id_status}}
                return {}

            self.bench.answers["TransactionEvent"] = event

    @property
    def online(self) -> bool:
        return self.bench.connected and not self.bench.stopped

    # -- the world -------------------------------------------------------------------------

    @rule(seconds=st.floats(0.001, 3.0) | st.floats(3.0, 30.0))
    def time_passes(self, seconds: float) -> None:
        """Random steps of time: timers, answers and connects fall due on the way."""
        self.bench.run(seconds)

    @precondition(lambda self: self.online)
    @rule()
    def link_drops(self) -> None:
        self.bench.drop()

    @rule(count=st.integers(1, 4))
    def connects_refused(self, count: int) -> None:
        self.bench.refuse += [Failure("connect_refused")] * count

    @rule(
        action=st.sampled_from(
            ["BootNotification", "Heartbeat", "StatusNotification", "Authorize",
             "StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent"]
        )
    )  # fmt: skip
    def csms_silent_for(self, action: str) -> None:
        self.bench.silent = {action}

    @rule(
        action=st.sampled_from(
            ["BootNotification", "Heartbeat", "StatusNotification", "Authorize",
             "StartTransaction", "MeterValues", "StopTransaction", "TransactionEvent"]
        ),
        code=st.sampled_from(["InternalError", "GenericError", "NoSuchCode"]),
    )  # fmt: skip
    def csms_errs_for(self, action: str, code: str) -> None:
        self.bench.answers[action] = [4, code, "down", {}]

    @rule()
    def csms_recovers(self) -> None:
        self.bench.silent = set()
        self.bench.answers.update(
            {
                k: v
                for k, v in default_answers(self.version).items()
                if k not in ("StartTransaction", "TransactionEvent")
            }
        )
        self._answer_starts()

    @rule(status=st.sampled_from(["Accepted", "Pending", "Rejected"]))
    def csms_boot_answer(self, status: str) -> None:
        self.bench.answers["BootNotification"] = {
            "status": status,
            "currentTime": NOW,
            "interval": 5,
        }

    @rule(status=st.sampled_from(ID_STATUSES))
    def csms_id_status(self, status: str) -> None:
        self.id_status = status

    # -- the server's calls ----------------------------------------------------------------

    def _call(self, action: str, payload: dict[str, Any]) -> None:
        self.bench.server_call(action, payload)

    @precondition(lambda self: self.online)
    @rule(connector=st.none() | st.integers(0, 4), tag=st.sampled_from(["TAG", "OTHER"]))
    def remote_start(self, connector: int | None, tag: str) -> None:
        if self.version == "1.6":
            payload: dict[str, Any] = {"idTag": tag}
            if connector is not None:
                payload["connectorId"] = connector
            self._call("RemoteStartTransaction", payload)
        else:
            payload = {"idToken": {"idToken": tag, "type": "Central"}, "remoteStartId": 1}
            if connector is not None:
                payload["evseId"] = connector
            self._call("RequestStartTransaction", payload)

    @precondition(lambda self: self.online)
    @rule(pick=st.integers(0, 3))
    def remote_stop(self, pick: int) -> None:
        running = [c.tx for c in self.bench.station.connectors if c.tx is not None]
        if self.version == "1.6":
            ids: list[Any] = [t.server_id for t in running if t.server_id is not None] + [999]
            self._call("RemoteStopTransaction", {"transactionId": ids[pick % len(ids)]})
        else:
            ids = [t.local_id for t in running] + ["nope"]
            self._call("RequestStopTransaction", {"transactionId": ids[pick % len(ids)]})

    @precondition(lambda self: self.online)
    @rule(kind=st.integers(0, 2), evse=st.none() | st.integers(1, 2))
    def reset(self, kind: int, evse: int | None) -> None:
        if self.version == "1.6":
            self._call("Reset", {"type": ["Hard", "Soft", "Soft"][kind]})
        else:
            payload: dict[str, Any] = {"type": ["Immediate", "OnIdle", "OnIdle"][kind]}
            if evse is not None and kind == 2:
                payload["evseId"] = evse
            self._call("Reset", payload)

    @precondition(lambda self: self.online)
    @rule(connector=st.integers(0, 4), operative=st.booleans())
    def change_availability(self, connector: int, operative: bool) -> None:
        kind = "Operative" if operative else "Inoperative"
        if self.version == "1.6":
            self._call("ChangeAvailability", {"connectorId": connector, "type": kind})
        else:
            payload: dict[str, Any] = {"operationalStatus": kind}
            if connector:
                payload["evse"] = {"id": connector}
            self._call("ChangeAvailability", payload)

    @precondition(lambda self: self.online)
    @rule(connector=st.integers(0, 4))
    def unlock(self, connector: int) -> None:
        if self.version == "1.6":
            self._call("UnlockConnector", {"connectorId": connector})
        else:
            self._call("UnlockConnector", {"evseId": connector, "connectorId": 1})

    @precondition(lambda self: self.online)
    @rule(
        message=st.sampled_from(
            ["BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
             "TransactionEvent", "FirmwareStatusNotification"]
        ),
        connector=st.none() | st.integers(0, 4),
    )  # fmt: skip
    def trigger(self, message: str, connector: int | None) -> None:
        if self.version == "1.6":
            if message == "TransactionEvent":
                message = "DiagnosticsStatusNotification"
            payload: dict[str, Any] = {"requestedMessage": message}
            if connector is not None:
                payload["connectorId"] = connector
        else:
            payload = {"requestedMessage": message}
            if connector:
                payload["evse"] = {"id": connector}
        self._call("TriggerMessage", payload)

    @precondition(lambda self: self.online)
    @rule(setting=st.sampled_from(SETTINGS), pick=st.integers(0, 3))
    def change_setting(self, setting: tuple[str, str, list[str]], pick: int) -> None:
        key16, var201, values = setting
        value = values[pick % len(values)]
        if self.version == "1.6":
            self._call("ChangeConfiguration", {"key": key16, "value": value})
            return
        component, _, rest = var201.partition(".")
        name, _, instance = rest.partition(":")
        variable: dict[str, Any] = {"name": name}
        if instance:
            variable["instance"] = instance
        data = {"component": {"name": component}, "variable": variable, "attributeValue": value}
        self._call("SetVariables", {"setVariableData": [data]})

    @precondition(lambda self: self.online)
    @rule(
        text=st.sampled_from(
            ["nonsense", "[]", '[2, "h1", "Reset"]', '[3, "h2", []]', '[3, "1", {}]',
             '[4, "2", "GenericError", "", {}]', '[7, "h3", {}]', '[2, "h4", "MakeCoffee", {}]',
             '[2, "h5", "Reset", {"type": 5}]', '[2, "h6", "GetConfiguration", {}]',
             '[2, "h7", "GetVariables", {"getVariableData": [{"component": {"name": '
             '"OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]',
             '[2, "h8", "GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}]']
        )
    )  # fmt: skip
    def server_sends(self, text: str) -> None:
        """Any frame, well-formed or not, of any action (answers land in the bench)."""
        self.bench.text(text)

    @precondition(lambda self: not self.bench.stopped)
    @rule()
    def graceful_stop(self) -> None:
        self.bench.stop(graceful=True)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def link_agrees(self) -> None:
        """The station is ONLINE exactly while the bench holds a connection."""
        if self.bench is None or self.bench.stopped:
            return
        assert (self.bench.station.phase == ONLINE) == self.bench.connected

    @invariant()
    def meters_never_fall(self) -> None:
        if self.bench is None:
            return
        for i, connector in enumerate(self.bench.station.connectors):
            assert connector.meter_wh >= self.meters[i]
            self.meters[i] = connector.meter_wh

    @invariant()
    def csms_view_is_sound(self) -> None:
        """What the CSMS received: one open transaction per connector, gapless seqNo."""
        if self.bench is not None:
            transactions(self.bench)
            registration_respected(self.bench)
            if self.version == "1.6":
                readings_never_fall_16(self.bench)

    def teardown(self) -> None:
        """Settle: a good CSMS and a stable link; then every started transaction ends."""
        bench = self.bench
        if bench is None or bench.stopped:
            return
        stopping = bench.station.stopping  # a graceful stop under way may hit its bound
        bench.refuse = []
        self.csms_recovers()
        self.csms_boot_answer("Accepted")
        self.id_status = "Accepted"
        bench.run(400)
        if not bench.stopped:
            assert bench.connected, "no connection after settling"
            quiet_s = bench.now - bench.calls[-1].at  # the heartbeat keeps the link alive
            assert quiet_s <= bench.station.hb_interval_s + bench.latency_s + 1, quiet_s
            self._csms_knows_each_status()
            self._free_connector_takes_a_remote_start()
            bench.stop(graceful=True)
            bench.run(60)
        assert bench.stopped
        if not stopping:
            started, ended = transactions(bench)
            assert started <= ended, f"never ended: {sorted(started - ended)}"

    def _csms_knows_each_status(self) -> None:
        """The last status the CSMS received of each connector is the station's own (once
        no StatusNotification waits to be sent)."""
        bench = self.bench
        station = bench.station
        for _ in range(100):
            call = station.call
            if call is None or call.purpose != "status":
                if not any(item.purpose == "status" for item in station.queue):
                    break
            bench.run(0.5)
        seen = dict(bench.statuses())
        for connector in station.connectors:
            assert seen.get(connector.id) == station._wire(connector.status), connector.id

    def _free_connector_takes_a_remote_start(self) -> None:
        """Once settled, an idle Available connector accepts a remote start."""
        station = self.bench.station
        free = [
            c
            for c in station.connectors
            if not c.busy and c.status == "Available" and c.next_session_at is None
        ]
        if not free or station.rebooting:
            return
        connector_id = free[-1].id
        if self.version == "1.6":
            payload: dict[str, Any] = {"idTag": "SETTLE", "connectorId": connector_id}
            answer = self.bench.server_call("RemoteStartTransaction", payload)
        else:
            token = {"idToken": "SETTLE", "type": "ISO14443"}
            payload = {"idToken": token, "remoteStartId": 2, "evseId": connector_id}
            answer = self.bench.server_call("RequestStartTransaction", payload)
        assert answer[2] == {"status": "Accepted"}, answer
        self.bench.run(5)


def registration_respected(bench: Bench) -> None:
    """B02.FR.02/04, B03.FR.02 (1.6 4.2): after Rejected nothing but the next boot, and not
    before the interval; while Pending no transaction message nor Authorize."""
    rejected_until: float | None = None
    pending = False
    for call in bench.calls:
        if rejected_until is not None:
            assert call.action == "BootNotification", f"{call.action} while Rejected"
            assert call.at >= rejected_until - 1e-9, "boot before the interval"
            rejected_until = None
        if pending and call.action in TX_AND_AUTHORIZE:
            context = call.payload.get("meterValue", [{}])[0].get("sampledValue", [{}])[0]
            assert context.get("context") == "Trigger", f"{call.action} while Pending"
        if call.action == "BootNotification" and call.delivered and isinstance(call.answer, dict):
            status = call.answer["status"]
            pending = status == "Pending"
            if status == "Rejected":
                rejected_until = call.at + bench.latency_s + call.answer["interval"]


def readings_never_fall_16(bench: Bench) -> None:
    """1.6: meterStart, periodic samples and meterStop of each connector, in the order the
    Central System received them, never fall."""
    last: dict[int, int] = {}
    connector_of: dict[int, int] = {}
    for call in bench.calls:
        p = call.payload
        if call.action == "StartTransaction":
            connector, value = p["connectorId"], p["meterStart"]
            if call.delivered and isinstance(call.answer, dict):
                connector_of[call.answer["transactionId"]] = connector
        elif call.action == "MeterValues" and "transactionId" in p:
            sample = p["meterValue"][0]["sampledValue"][0]
            if sample["context"] != "Sample.Periodic":
                continue
            connector, value = p["connectorId"], int(sample["value"])
        elif call.action == "StopTransaction":
            if p["transactionId"] == -1:
                continue  # its start never got an id through (errata 3.18): no connector
            connector, value = connector_of[p["transactionId"]], p["meterStop"]
        else:
            continue
        assert value >= last.get(connector, 0), f"connector {connector}: {value} after {last}"
        last[connector] = value


TX_AND_AUTHORIZE = frozenset(
    {"Authorize", "StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}
)


def transactions(bench: Bench) -> tuple[set[Any], set[Any]]:
    """Transactions the CSMS saw start and end; asserts the per-connector and seqNo rules."""
    started: set[Any] = set()
    ended: set[Any] = set()
    open_on: dict[int, Any] = {}
    where: dict[Any, int] = {}
    if bench.version == "1.6":
        lost_starts = 0  # StartTransactions whose id never reached the station
        for call in bench.calls:
            p = call.payload
            if call.action == "StartTransaction":
                if not (call.delivered and isinstance(call.answer, dict)):
                    lost_starts += 1
                    continue  # no id reached the station: no transaction for either side
                tx = call.answer["transactionId"]
                assert open_on.get(p["connectorId"]) is None, f"two on {p['connectorId']}"
                open_on[p["connectorId"]] = tx
                where[tx] = p["connectorId"]
                started.add(tx)
            elif call.action == "StopTransaction":
                tx = p["transactionId"]
                if tx == -1:  # errata 3.18: the end of a start that never got its id
                    assert lost_starts, "StopTransaction -1 with every start answered"
                    continue
                assert tx in where, f"StopTransaction of unknown {tx}"
                if open_on.get(where[tx]) == tx:
                    open_on[where[tx]] = None
                ended.add(tx)
        return started, ended
    seqs: dict[str, list[int]] = {}
    for call in bench.calls:
        if call.action != "TransactionEvent":
            continue
        p = call.payload
        tx = p["transactionInfo"]["transactionId"]
        got = seqs.setdefault(tx, [])
        if got and got[-1] == p["seqNo"]:
            continue  # the same event again (a retry, or resent after a lost link)
        assert p["seqNo"] == len(got), f"{tx}: seqNo {p['seqNo']} after {got}"
        got.append(p["seqNo"])
        if p["eventType"] == "Started":
            evse = p["evse"]["id"]
            assert open_on.get(evse) is None, f"two on EVSE {evse}"
            open_on[evse] = tx
            where[tx] = evse
            started.add(tx)
        elif p["eventType"] == "Ended":
            if open_on.get(where.get(tx)) == tx:  # type: ignore[arg-type]
                open_on[where[tx]] = None
            ended.add(tx)
    return started, ended


SETTINGS_HYPOTHESIS = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Station16(StationMachine):
    """The machine speaking OCPP 1.6J."""

    version = "1.6"


class Station201(StationMachine):
    """The machine speaking OCPP 2.0.1."""

    version = "2.0.1"


TestStation16 = Station16.TestCase
TestStation16.settings = SETTINGS_HYPOTHESIS
TestStation201 = Station201.TestCase
TestStation201.settings = SETTINGS_HYPOTHESIS
