"""The reference gateway as an operator, without sockets: scripts read and checked, the
payloads it builds (valid against the official schemas, both versions), which chargers
a share picks, answers counted, and the schema check of what chargers send."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadgen.gateway.answers import AnswerConfig, Answers
from loadgen.gateway.operator import (
    Operator,
    Payloads,
    ScriptError,
    Step,
    parse_script,
    picked,
    read_script,
)
from loadgen.gateway.server import Gateway
from loadgen.ocpp.framing import CallError, CallResult
from loadgen.ocpp.schemas import validate

VERSIONS = ["1.6", "2.0.1", "2.1"]
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("UpdateFirmware", {}),
    ("UpdateFirmware", {"signed": True, "retrieve_in_s": 30}),
    ("SignedUpdateFirmware", {}),
    ("GetDiagnostics", {}),
    ("GetLog", {"log": "SecurityLog"}),
    ("SetChargingProfile", {"limit_w": 7000}),
    ("SetChargingProfile", {"limit_a": 16, "purpose": "ChargePointMaxProfile", "duration_s": 600}),
    ("ClearChargingProfile", {}),
    ("ClearChargingProfile", {"profile_id": 2}),
    ("GetCompositeSchedule", {"unit": "A"}),
    ("GetChargingProfiles", {}),
    ("ReserveNow", {"expiry_s": 60, "tag": "T1"}),
    ("CancelReservation", {"reservation_id": 4}),
    ("SendLocalList", {"tags": "A,B", "version": 3}),
    ("SendLocalList", {"update": "Differential", "version": 4}),
    ("GetLocalListVersion", {}),
    ("ClearCache", {}),
    ("TriggerMessage", {"message": "StatusNotification"}),
    ("Reset", {}),
    ("ChangeAvailability", {"connector": 1, "operative": False}),
    ("DataTransfer", {"vendor_id": "com.acme", "message_id": "Ping", "data": "x"}),
    ("RemoteStartTransaction", {"tag": "OPS"}),
    ("SetDefaultTariff", {"price_kwh": 0.35, "price_minute": 0.02, "tax_percent": 21}),
    ("SetDefaultTariff", {"fixed_fee": 1, "currency": "USD", "evse": 1}),
    ("GetTariffs", {}),
    ("ClearTariffs", {"tariff_ids": "A,B"}),
    ("ClearTariffs", {}),
    ("SetChargingProfile", {"setpoint_w": -7000, "discharge_limit_w": 7000}),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("call", "params"), STEPS)
def test_every_scripted_call_is_schema_valid(
    version: str, call: str, params: dict[str, Any]
) -> None:
    """Each call a script may name is built for every version and validates against its
    official schema (or is left out where the version lacks it: 2.1's tariffs and
    setpoints before 2.1, GetChargingProfiles in 1.6)."""
    built = Payloads("http://127.0.0.1:1/upload/").build(Step(0, call, 1.0, params), version)
    only_21 = call in ("SetDefaultTariff", "GetTariffs", "ClearTariffs") or "setpoint_w" in params
    if built is None:
        assert (version, call) == ("1.6", "GetChargingProfiles") or (only_21 and version != "2.1")
        return
    assert not only_21 or version == "2.1"
    action, payload = built
    validate(version, action, payload, response=False)


def test_a_raw_payload_goes_as_it_is() -> None:
    """``params.payload`` (JSON text) is sent unchanged, for any action."""
    step = Step(0, "GetConfiguration", 1.0, {"payload": json.dumps({"key": ["HeartbeatInterval"]})})
    assert Payloads(None).build(step, "1.6") == ("GetConfiguration", {"key": ["HeartbeatInterval"]})


def test_scripts_are_checked(tmp_path: Any) -> None:
    """A script is a list of steps with a time, an OCPP action and a share; anything else
    is a ScriptError naming the step; steps run in time order."""
    path = tmp_path / "ops.yaml"
    path.write_text("- {at: 90s, call: Reset}\n- {at: 1m, call: ClearCache, share: 0.5}\n")
    steps = read_script(str(path))
    assert [(s.at_s, s.call, s.share) for s in steps] == [
        (60, "ClearCache", 0.5),
        (90, "Reset", 1.0),
    ]
    for bad, message in (
        ([{"at": 1, "call": "Nonsense"}], "not an OCPP action"),
        ([{"at": "soon", "call": "Reset"}], "a time like"),
        ([{"at": 1, "call": "Reset", "share": 2}], "share"),
        ([{"at": 1, "call": "Reset", "pick": 5}], "pick"),
        ({"at": 1}, "a list"),
    ):
        with pytest.raises(ScriptError, match=message):
            parse_script(bad)


def test_a_share_picks_that_share_of_the_chargers_every_time() -> None:
    """``share`` picks about that share of the ids, the same ids every run."""
    ids = [f"CP-{n}" for n in range(20_000)]
    chosen = [i for i in ids if picked(i, 0.1)]
    assert 0.09 < len(chosen) / len(ids) < 0.11
    assert chosen == [i for i in ids if picked(i, 0.1)]
    assert all(picked(i, 0.2) for i in chosen)


class _Charger:
    def __init__(self, version: str) -> None:
        self.id = "CP-1"
        self.version = version
        self.booted = True


def test_answers_are_counted_by_status_and_code() -> None:
    """Answers to the operator's calls are counted by action and status, CALLERRORs by
    code; frames that answer none of its calls are not its."""
    operator = Operator((), Payloads(None))
    operator.pending.update(
        {
            "a": ("ReserveNow", 0.0),
            "b": ("ReserveNow", 0.0),
            "c": ("Reset", 0.0),
            "d": ("ClearTariffs", 0.0),
        }
    )
    charger: Any = _Charger("1.6")
    assert operator.answer(charger, CallResult("a", {"status": "Accepted"})) == "ReserveNow"
    assert operator.answer(charger, CallResult("b", {"status": "Occupied"})) == "ReserveNow"
    assert operator.answer(charger, CallError("c", "NotSupported")) == "Reset"
    cleared = {"clearTariffsResult": [{"status": "NoTariff"}]}  # 2.1: a list of statuses
    assert operator.answer(charger, CallResult("d", cleared)) == "ClearTariffs"
    assert operator.answer(charger, CallResult("zz", {})) is None
    status = operator.status()
    assert status["answered"] == {
        "ReserveNow": {"Accepted": 1, "Occupied": 1},
        "ClearTariffs": {"NoTariff": 1},
    }
    assert status["errors"] == {"Reset": {"NotSupported": 1}} and status["waiting"] == 0


def test_the_gateway_counts_schema_errors_when_it_validates() -> None:
    """With validation on, a charger frame that breaks its schema is counted (by action,
    with an example) and still answered; without it nothing is checked."""
    boot = json.dumps([2, "1", "BootNotification", {"chargePointVendor": "x"}])  # no model
    for validating in (False, True):
        gateway = Gateway(Answers(AnswerConfig()), validate=validating)
        table = gateway.answers.tables["1.6"]
        answer = gateway.reply(_Charger("1.6"), table, boot)  # type: ignore[arg-type]
        assert answer is not None and json.loads(answer)[0] == 3
        if validating:
            schema = gateway.status()["schema"]
            assert schema["errors"] == 1 and schema["by_action"] == {"BootNotification": 1}
            assert "chargePointModel" in schema["examples"][0]
        else:
            assert "schema" not in gateway.status()


def test_the_gateway_counts_the_fleets_notifications() -> None:
    """Firmware, log and reservation notifications are counted by status."""
    gateway = Gateway(Answers(AnswerConfig()))
    table = gateway.answers.tables["2.0.1"]
    for n, status in enumerate(("Downloading", "Downloaded", "Downloading")):
        frame = json.dumps(
            [2, str(n), "FirmwareStatusNotification", {"status": status, "requestId": 1}]
        )
        gateway.reply(_Charger("2.0.1"), table, frame)  # type: ignore[arg-type]
    counted = gateway.status()["notifications"]
    assert counted == {"FirmwareStatusNotification": {"Downloading": 2, "Downloaded": 1}}


class _Connection:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)


@pytest.mark.timeout(20)
def test_the_scripts_clock_starts_with_the_first_booted_charger() -> None:
    """A step is timed from the first charger booted, not from the gateway's start: a
    generator that starts late still gets every step (none goes to nobody)."""
    import asyncio

    step_s, late_s = 0.3, 0.8

    async def scenario() -> tuple[float, float, list[str]]:
        gateway = Gateway(Answers(AnswerConfig()))
        script = parse_script([{"at": f"{step_s}s", "call": "TriggerMessage", "share": 1.0}])
        operator = Operator(script, Payloads(None))
        loop = asyncio.get_running_loop()
        task = loop.create_task(operator.run(gateway))
        deadline = loop.time() + late_s
        while loop.time() < deadline:  # no charger yet, well past the step's time
            await asyncio.sleep(0.05)
        assert operator.steps_done == 0 and not operator.sent
        charger: Any = _Charger("1.6")
        charger.connection = _Connection()
        gateway.registry[charger.id] = charger
        booted_at = loop.time()
        deadline = booted_at + 10
        while not charger.connection.sent and loop.time() < deadline:
            await asyncio.sleep(0.01)
        sent_at = loop.time()
        task.cancel()
        return booted_at, sent_at, charger.connection.sent

    booted_at, sent_at, sent = asyncio.run(scenario())
    assert len(sent) == 1 and json.loads(sent[0])[2] == "TriggerMessage"
    assert step_s - 0.05 <= sent_at - booted_at <= step_s + 1.0


@pytest.mark.timeout(20)
def test_steps_with_one_pick_name_reach_the_same_chargers() -> None:
    """A SetChargingProfile and the ClearChargingProfile that undoes it, both with
    ``pick: capped``, reach the same chargers (a smaller share: a subset of them); a step
    without a pick name draws its own."""
    import asyncio

    script = parse_script(
        [
            {"at": "0.05s", "call": "SetChargingProfile", "share": 0.2, "pick": "capped"},
            # profile_id tells the three ClearChargingProfile steps apart in what is sent
            {"at": "0.1s", "call": "ClearChargingProfile", "share": 0.2, "pick": "capped",
             "params": {"profile_id": 1}},
            {"at": "0.15s", "call": "ClearChargingProfile", "share": 0.1, "pick": "capped",
             "params": {"profile_id": 2}},
            {"at": "0.2s", "call": "ClearChargingProfile", "share": 0.2,
             "params": {"profile_id": 3}},
        ]
    )  # fmt: skip
    assert [s.pick for s in script] == ["capped", "capped", "capped", None]

    async def scenario() -> dict[str, list[str]]:
        gateway = Gateway(Answers(AnswerConfig()))
        chargers = []
        for n in range(1000):
            charger: Any = _Charger("1.6")
            charger.id, charger.connection = f"CP-{n}", _Connection()
            gateway.registry[charger.id] = charger
            chargers.append(charger)
        operator = Operator(script, Payloads(None))
        loop = asyncio.get_running_loop()
        task = loop.create_task(operator.run(gateway))
        deadline = loop.time() + 10
        while operator.steps_done < len(script) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        task.cancel()
        return {c.id: c.connection.sent for c in chargers}

    reached: dict[str, set[str]] = {"set": set(), "1": set(), "2": set(), "3": set()}
    for charger_id, frames in asyncio.run(scenario()).items():
        for frame in frames:
            _, _, action, payload = json.loads(frame)
            step = "set" if action == "SetChargingProfile" else str(payload["id"])
            reached[step].add(charger_id)
    capped = reached["set"]
    assert 150 < len(capped) < 250
    assert reached["1"] == capped
    assert reached["2"] < capped and 50 < len(reached["2"]) < 150
    assert 150 < len(reached["3"]) < 250 and reached["3"] != capped
