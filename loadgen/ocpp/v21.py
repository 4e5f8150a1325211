"""OCPP 2.1 as a charging station speaks it: 2.0.1's behaviour under 2.1's schemas, plus
local cost calculation and bidirectional charging (V2X).

2.1 is a superset of 2.0.1 (its schemas add fields and enum values and drop none a
station sends), so :class:`V21` is :class:`~loadgen.ocpp.v201.V201` with what 2.1
changes: the subprotocol, idTokens of any type up to 255 characters, charging profiles
with 2.1's purposes, kinds and periods (operationMode, setpoint, dischargeLimit), and
the new server calls it answers: SetDefaultTariff, GetTariffs, ClearTariffs,
ChangeTransactionTariff and NotifyAllowedEnergyTransfer. What it sends beyond 2.0.1:
``costDetails`` and ``tariffId`` in TransactionEvent (:meth:`V21.tx_details`; no
``operationMode``: docs/ocpp21.md lists it as left out), NotifyEVChargingNeeds for a
V2X-capable EV, and a discharging session's export measurands
(:mod:`loadgen.ocpp.samples`).
docs/ocpp21.md says which 2.1 use cases are here and why.
"""

from __future__ import annotations

from typing import ClassVar

from loadgen.ocpp import profiles, tariffs
from loadgen.ocpp.dialect import (
    ChargePointTarget,
    NetworkProfile,
    Payload,
    Request,
    iso,
)
from loadgen.ocpp.fields import get_field
from loadgen.ocpp.framing import FrameError
from loadgen.ocpp.tariffs import CostDetails
from loadgen.ocpp.v201 import _TYPE_MARK, MAX_TRANSACTION_ID_LEN, V201, Handler

#: 2.1's energy transfer modes in which the EV may discharge (bidirectional power transfer).
BPT_MODES = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})
_TRANSFER_MODES = (
    "AC_single_phase AC_two_phase AC_three_phase DC AC_BPT AC_BPT_DER AC_DER DC_BPT DC_ACDP "
    "DC_ACDP_BPT WPT"
).split()
#: The plain (charging only) AC energy transfer mode of a charger with that many phases.
_AC_MODES = {1: "AC_single_phase", 2: "AC_two_phase", 3: "AC_three_phase"}
_LOG_TYPES_21 = ("DiagnosticsLog", "SecurityLog", "DataCollectorLog")


class V21(V201):
    """OCPP 2.1 (subprotocol ``ocpp2.1``)."""

    version = "2.1"
    subprotocol = "ocpp2.1"
    server_actions = V201.server_actions | frozenset(
        "AFRRSignal AdjustPeriodicEventStream ChangeTransactionTariff ClearDERControl "
        "ClearTariffs ClosePeriodicEventStream GetCertificateChainStatus GetDERControl "
        "GetPeriodicEventStream GetTariffs NotifyAllowedEnergyTransfer "
        "NotifyWebPaymentStarted RequestBatterySwap SetDERControl SetDefaultTariff "
        "UpdateDynamicSchedule UsePriorityCharging VatNumberValidation".split()
    )
    purposes = profiles.PURPOSES_21
    certificate_uses = (*V201.certificate_uses, "OEMRootCertificate")
    certificate_max_len = 10000
    ocpp_versions = (*V201.ocpp_versions, "OCPP201", "OCPP21")
    ocpp_version_required = False
    ocpp_interfaces = (*V201.ocpp_interfaces, "Any")
    csms_url_max_len = 2000

    def _profile(self, evse_id: int, raw: Payload) -> profiles.ChargingProfile:
        return profiles.parse_21(evse_id, raw)

    def _token(self, token: Payload) -> str:
        """2.1's IdTokenType: any type of up to 20 characters, a value of up to 255."""
        kind = get_field(token, "type", str, max_len=20)
        value = str(get_field(token, "idToken", str, max_len=255))
        return value if kind == "ISO14443" else f"{kind}{_TYPE_MARK}{value}"

    def _wire_token(self, id_tag: str) -> Payload:
        """A tag the CSMS gave with another type keeps it (any of up to 20 characters)."""
        kind, mark, value = id_tag.partition(_TYPE_MARK)
        if not mark or not kind or len(kind) > 20:  # a plain tag (from the config, say)
            return {"idToken": id_tag[:255], "type": "ISO14443"}
        return {"idToken": value[:255], "type": kind}

    # -- requests -----------------------------------------------------------------------

    def tx_details(
        self,
        payload: Payload,
        cost: CostDetails | None,
        tariff_id: str | None,
    ) -> None:
        """transactionInfo's tariffId, and ``costDetails``: the running cost so far (the
        Ended event's is the final one), one charging period per tariff."""
        info = payload["transactionInfo"]
        if tariff_id is not None:
            info["tariffId"] = tariff_id[:60]
        if cost is not None:
            payload["costDetails"] = cost_details(cost)

    def charging_needs(
        self, connector_id: int, phases: int, max_power_w: float, battery_wh: float, soc: float
    ) -> Request:
        """NotifyEVChargingNeeds of a bidirectional EV (ISO 15118-20 BPT): it asks for
        DC_BPT / AC_BPT and offers to discharge as fast as it charges. ``max_power_w`` is
        min(EV, EVSE), which is what V2XChargingParametersType's maxChargePower and
        maxDischargePower report."""
        mode = "DC_BPT" if not phases else "AC_BPT"
        power = float(round(max_power_w))
        plain = "DC" if not phases else _AC_MODES.get(phases, "AC_three_phase")
        needs: Payload = {
            "requestedEnergyTransfer": mode,
            "availableEnergyTransfer": [mode, plain],
            "controlMode": "DynamicControl",
            "v2xChargingParameters": {
                "maxChargePower": power,
                "maxDischargePower": power,
                "evTargetEnergyRequest": float(round(battery_wh * (100 - soc) / 100)),
                "targetSoC": 100,
            },
        }
        return "NotifyEVChargingNeeds", {"evseId": connector_id, "chargingNeeds": needs}

    # -- the server's calls --------------------------------------------------------------

    def _reset_21(self, p: Payload, target: ChargePointTarget) -> Payload:
        """ImmediateAndResume (resume the transactions after the reboot) is not supported."""
        kind = get_field(p, "type", str, choices=("Immediate", "OnIdle", "ImmediateAndResume"))
        if kind == "ImmediateAndResume":
            get_field(p, "evseId", int, required=False)
            return {"status": "Rejected"}
        return self._reset(p, target)

    def _get_log_21(self, p: Payload, target: ChargePointTarget) -> Payload:
        """2.1's DataCollectorLog is a log this station does not keep."""
        if get_field(p, "logType", str, choices=_LOG_TYPES_21) == "DataCollectorLog":
            return {"status": "Rejected"}
        return self._get_log(p, target)

    def _network_profile(
        self, data: Payload, target: ChargePointTarget
    ) -> tuple[NetworkProfile | None, str | None]:
        """2.1's profile may name the Basic-auth user (``identity``): only the station's
        own id, which its URL ends with too, is taken. Its ``basicAuthPassword`` is not
        supported (UnsupportedParam): the station's password changes through
        SecurityCtrlr.BasicAuthPassword, and a password is neither kept nor shown here."""
        identity = get_field(data, "identity", str, required=False, max_len=48)
        password = get_field(data, "basicAuthPassword", str, required=False, max_len=64)
        profile, reason = super()._network_profile(data, target)
        if profile is not None and (
            password is not None or (identity is not None and identity != target.charge_point_id)
        ):
            return None, "UnsupportedParam"
        return profile, reason

    def _set_default_tariff(self, p: Payload, target: ChargePointTarget) -> Payload:
        evse_id = get_field(p, "evseId", int)
        raw = get_field(p, "tariff", dict)
        tariff = tariffs.parse(raw)
        status = tariffs.unsupported(raw) or target.set_default_tariff(evse_id, tariff)
        return {"status": status}

    def _get_tariffs(self, p: Payload, target: ChargePointTarget) -> Payload:
        found = target.tariffs(get_field(p, "evseId", int))
        if not found:
            return {"status": "NoTariff"}
        assignments = []
        for tariff, evse_ids in found:
            entry: Payload = {"tariffId": tariff.tariff_id, "tariffKind": "DefaultTariff"}
            if tariff.valid_from is not None:
                entry["validFrom"] = iso(tariff.valid_from)
            if evse_ids:
                entry["evseIds"] = evse_ids
            assignments.append(entry)
        return {"status": "Accepted", "tariffAssignments": assignments}

    def _clear_tariffs(self, p: Payload, target: ChargePointTarget) -> Payload:
        ids = get_field(p, "tariffIds", list, required=False)
        if ids is not None and (not ids or not all(type(i) is str and len(i) <= 60 for i in ids)):
            raise FrameError("'tariffIds' must hold tariff ids", code="TypeConstraintViolation")
        evse_id = get_field(p, "evseId", int, required=False)
        results = []
        for tariff_id, status in target.clear_tariffs(ids, evse_id):
            result: Payload = {"status": status}
            if tariff_id is not None:
                result["tariffId"] = tariff_id
            results.append(result)
        return {"clearTariffsResult": results}

    def _change_transaction_tariff(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(p, "transactionId", str, max_len=MAX_TRANSACTION_ID_LEN)
        raw = get_field(p, "tariff", dict)
        tariff = tariffs.parse(raw)
        status = tariffs.unsupported(raw) or target.change_transaction_tariff(
            transaction_id, tariff
        )
        return {"status": status}

    def _allowed_energy_transfer(self, p: Payload, target: ChargePointTarget) -> Payload:
        transaction_id = get_field(p, "transactionId", str, max_len=MAX_TRANSACTION_ID_LEN)
        modes = get_field(p, "allowedEnergyTransfer", list)
        if not modes or not all(m in _TRANSFER_MODES for m in modes):
            raise FrameError(
                "'allowedEnergyTransfer' must hold energy transfer modes",
                code="PropertyConstraintViolation",
            )
        return {"status": target.allow_energy_transfer(transaction_id, modes)}

    _handlers: ClassVar[dict[str, Handler]] = {
        **V201._handlers,
        "Reset": _reset_21,  # type: ignore[dict-item]
        "GetLog": _get_log_21,  # type: ignore[dict-item]
        "SetDefaultTariff": _set_default_tariff,  # type: ignore[dict-item]
        "GetTariffs": _get_tariffs,  # type: ignore[dict-item]
        "ClearTariffs": _clear_tariffs,  # type: ignore[dict-item]
        "ChangeTransactionTariff": _change_transaction_tariff,  # type: ignore[dict-item]
        "NotifyAllowedEnergyTransfer": _allowed_energy_transfer,  # type: ignore[dict-item]
    }


def cost_details(cost: CostDetails) -> Payload:
    """CostDetailsType: the total cost by element and in all, the usage (its chargingTime
    the whole session, charging and idle), and a charging period per tariff segment
    (energy in Wh, times in seconds)."""
    total: Payload = {"currency": cost.currency, "typeOfCost": cost.type_of_cost}
    for name, excl, incl in cost.costs:
        total[name] = {"exclTax": excl, "inclTax": incl}
    total["total"] = {"exclTax": cost.total[0], "inclTax": cost.total[1]}
    usage = cost.usage
    periods = []
    for segment in cost.segments:
        used = segment.usage
        periods.append(
            {
                "tariffId": segment.tariff.tariff_id,
                "startPeriod": iso(segment.start_at),
                "dimensions": [
                    {"type": "Energy", "volume": round(used.energy_wh, 3)},
                    {"type": "ChargingTime", "volume": round(used.charging_s)},
                    {"type": "IdleTIme", "volume": round(used.idle_s)},  # the schema's spelling
                ],
            }
        )
    return {
        "chargingPeriods": periods,
        "totalCost": total,
        "totalUsage": {
            "energy": round(usage.energy_wh, 3),
            # TotalUsageType: "Total duration of the charging session (including the
            # duration of charging and not charging)"; the ChargingTime dimension above
            # and its price count only the time energy flowed
            "chargingTime": round(usage.charging_s + usage.idle_s),
            "idleTime": round(usage.idle_s),
        },
    }
