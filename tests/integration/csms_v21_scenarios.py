"""Operator scripts of an OCPP 2.1 CSMS: a default tariff and the cost of a transaction, and
a bidirectional (V2X) session discharging at the CSMS's setpoint (registered with
``csms_scenarios.SCENARIOS``; judged by ``test_ocpp21.py``)."""

from __future__ import annotations

from typing import Any

from ocpp.v21 import call as call21

try:  # run as a script (csms_ocpp.py): this folder is on sys.path
    import csms_scenarios as sc
except ImportError:  # imported as a module of the tests package
    from tests.integration import csms_scenarios as sc

OperatorLike = sc.OperatorLike

TARIFF_ID = "CSMS-DEFAULT"
NIGHT_ID = "CSMS-NIGHT"
#: 0.30 a kWh plus 21% VAT, a start fee of 1.00 (snake_case, as the ocpp package takes it).
TARIFF: dict[str, Any] = {
    "tariff_id": TARIFF_ID,
    "currency": "EUR",
    "energy": {"prices": [{"price_kwh": 0.3}], "tax_rates": [{"type": "VAT", "tax": 21.0}]},
    "fixed_fee": {"prices": [{"price_fixed": 1.0}]},
}
NIGHT: dict[str, Any] = {
    "tariff_id": NIGHT_ID,
    "currency": "EUR",
    "energy": {"prices": [{"price_kwh": 0.1}]},
}
SETPOINT_W = -7000.0
START_IDS = 2100


def _status(op: OperatorLike, label: str, expected: Any) -> None:
    got = op.answered(label)
    if got != expected:
        raise sc.ScenarioFailed(f"{label} answered {got!r}, expected {expected!r}")


@sc.scenario("tariff")
async def _tariff(op: OperatorLike) -> None:
    """SetDefaultTariff, GetTariffs; a session priced at it, then changed to another
    tariff; the final cost in Ended; ClearTariffs."""
    await sc.ready(op)
    await op.call("SetDefaultTariff", call21.SetDefaultTariff(evse_id=0, tariff=TARIFF))
    _status(op, "SetDefaultTariff", "Accepted")
    await op.call("GetTariffs", call21.GetTariffs(evse_id=1))
    _status(op, "GetTariffs", "Accepted")
    tx = await sc.remote_start(op, "RemoteStart", 1, sc.TAG_SESSION, START_IDS)
    start = op.mark("priced")
    await sc.meters(op, tx, 2, start, "under the default tariff")
    await op.call(
        "ChangeTransactionTariff",
        call21.ChangeTransactionTariff(transaction_id=tx, tariff=NIGHT),
    )
    _status(op, "ChangeTransactionTariff", "Accepted")
    start = op.mark("changed")
    await sc.meters(op, tx, 1, start, "under the changed tariff")
    await sc.remote_stop(op, "RemoteStop", tx)
    await op.call("ClearTariffs", call21.ClearTariffs(tariff_ids=[TARIFF_ID]))
    op.mark("cleared")


@sc.scenario("discharge")
async def _discharge(op: OperatorLike) -> None:
    """A bidirectional EV's session: its NotifyEVChargingNeeds (answered Accepted), a
    TxProfile with a CentralSetpoint of -7 kW, samples while it discharges, then
    NotifyAllowedEnergyTransfer without BPT and the end."""
    await sc.ready(op)
    tx = await sc.remote_start(op, "RemoteStart", 1, sc.TAG_SESSION, START_IDS + 1)
    await op.until(
        lambda: sc.find(op.messages, lambda m: m["action"] == "NotifyEVChargingNeeds"),
        "NotifyEVChargingNeeds",
    )
    profile = {
        "id": 71,
        "stack_level": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": tx,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [
                    {"start_period": 0, "operation_mode": "CentralSetpoint", "setpoint": SETPOINT_W}
                ],
            }
        ],
    }
    start = op.mark("SetChargingProfile.discharge")
    await op.call(
        "SetChargingProfile.discharge",
        call21.SetChargingProfile(evse_id=1, charging_profile=profile),
    )
    _status(op, "SetChargingProfile.discharge", "Accepted")
    await sc.meters(op, tx, 3, start, "while discharging")
    await op.call(
        "NotifyAllowedEnergyTransfer",
        call21.NotifyAllowedEnergyTransfer(transaction_id=tx, allowed_energy_transfer=["DC"]),
    )
    _status(op, "NotifyAllowedEnergyTransfer", "Accepted")
    start = op.mark("charging only")
    await sc.meters(op, tx, 2, start, "charging only")
    await sc.remote_stop(op, "RemoteStop", tx)
