"""What a CSMS sees a fleet like a real one do: charger models, EV sessions and coherent
meters, smart charging, firmware and log uploads, reservations, local lists, security
events, DataTransfer answers and faults, in OCPP 1.6J and 2.0.1.

As in ``test_behaviour.py``: the reference CSMS (``csms_ocpp.py``, the ``ocpp``
package's, validating every frame in both directions against the official schemas) runs
one operator scenario per charge point (``csms_fleet_scenarios.py``) while plain Locust
runs loadgen's charge points. Per version four runs go side by side: ``fleet-ops`` (an
idle fleet of several models the operator drives), ``fleet-charging`` (chargers that run
their own EV sessions, small batteries that reach the taper within seconds; 2.0.1
reports connector states with NotifyEvent), ``fleet-faults`` (every charger faulty,
every firmware download failing) and ``fleet-firmware`` (every update failing at the
signature, an unsigned one at the install).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest

from tests.integration import csms_fleet_scenarios as fs
from tests.integration import csms_scenarios as sc
from tests.integration.behaviour_runs import (
    RunResult,
    RunSpec,
    call,
    calls_from_cp,
    end_reasons,
    epoch,
    execute,
    first_start,
    frames,
    index_of,
    mark,
    sample_time,
    statuses,
)

pytestmark = pytest.mark.integration

VERSIONS = ("1.6", "2.0.1")
ALL = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
AC22 = {
    "name": "ac22",
    "vendor": "Acme",
    "model": "Street22",
    "firmware_version": "st-3.0",
    "connectors": 2,
    "max_power_w": 22000,
    "phases": 3,
}
DC150 = {
    "name": "dc150",
    "vendor": "Volt",
    "model": "Fast150",
    "firmware_version": "dc-7.2",
    "connectors": 2,
    "max_power_w": 150000,
    "dc": True,
    "voltage_v": 400,
    "soc": True,
}
EMS = {**AC22, "name": "ems", "model": "Managed22", "external_limit_w": 9000}
#: setting defaults of its own, over charge_points' (which sample every measurand)
TUNED = {
    **AC22,
    "name": "tuned",
    "model": "Tuned22",
    "configuration": {
        "MeterValuesSampledData": fs.MODEL_MEASURANDS,
        "MeterValueSampleInterval": fs.MODEL_INTERVAL_S,
        "ConnectionTimeOut": fs.MODEL_CONNECTION_TIMEOUT_S,
    },
}
#: 1.6: a charger of the security whitepaper, which takes signed firmware updates only
SECURE = {**AC22, "name": "secure", "model": "Secure22", "firmware_update": "signed"}
#: no SmartCharging, Reservation or LocalAuthListManagement
BARE = {**AC22, "name": "bare", "model": "Bare22", "feature_profiles": ["Core", "RemoteTrigger"]}
EV = {
    "battery_wh": [40000, 40000],
    "soc_start_percent": [20, 30],
    "taper_from_percent": 80,
    "ev_max_power_w": [50000, 50000],
}


def _metering(version: str) -> dict[str, Any]:
    """Every measurand sampled; the session's readings in its end."""
    return {
        "configuration": {
            "meter_values_sampled_data": ALL,
            "stop_txn_sampled_data": "Energy.Active.Import.Register,SoC",
            "tx_started_measurands": "Energy.Active.Import.Register,SoC",
        }
    }


def _ops(version: str) -> dict[str, Any]:
    return {
        "models": [AC22, DC150, EMS, TUNED, BARE, SECURE],
        "sessions": {"duration_s": [600, 600], **EV},
        "firmware": {"download_s": 1, "install_s": 1},
        "security_events": True,
        "data_transfer": [
            {"vendor_id": fs.VENDOR, "message_id": "Ping", "status": "Accepted", "data": "pong"}
        ],
    }


def _charging_points(version: str) -> dict[str, Any]:
    return {**_metering(version), "scenario": {"idle": 0, "charging": 1}}


#: EVs of 231 Wh at 70-72% that take 50 kW: constant power for about 1.5 s, then the
#: taper from 80% (the power falls by a quarter a second), full only after some 20 s.
SMALL_EV = {
    "battery_wh": [231, 231],
    "soc_start_percent": [70, 72],
    "taper_from_percent": 80,
    "ev_max_power_w": [50000, 50000],
}


def _charging(version: str) -> dict[str, Any]:
    return {
        "models": [DC150],
        "sessions": {
            "arrival": "exponential",
            "mean_pause_s": 1,
            "duration_s": [3, 5],
            **SMALL_EV,
        },
        "notify_event": True,
    }


def _faulty(version: str) -> dict[str, Any]:
    return {
        "models": [AC22],
        "faults": {
            "share": 1,
            "mean_interval_s": 2,
            "recover_s": 2,
            "error_code": "HighTemperature",
        },
        "firmware": {"download_s": 1, "failure_share": 1, "failure_step": "download"},
    }


def _broken_firmware(version: str) -> dict[str, Any]:
    return {
        "models": [AC22],
        "firmware": {
            "download_s": 0.5,
            "install_s": 0.5,
            "failure_share": 1,
            "failure_step": "signature",
        },
    }


OPS = (
    "smart-charging",
    "external-limit",
    "firmware",
    "firmware-signed-only",
    "diagnostics",
    "reservation",
    "local-list",
    "security-events",
    "data-transfer",
    "model-settings",
    "station-max",
    "auth-cache",
    "no-features",
)
MODEL_OF = {
    "external-limit": "ems",
    "model-settings": "tuned",
    "no-features": "bare",
    "firmware-signed-only": "secure",
}
RUNS = (
    RunSpec(
        "fleet-ops",
        OPS,
        charge_points=_metering,
        fleet=_ops,
        rows={name: (f"SN-{n:03d}", MODEL_OF.get(name, "ac22"), "") for n, name in enumerate(OPS)},
    ),
    RunSpec(
        "fleet-charging",
        ("fleet-sessions",),
        charge_points=_charging_points,
        fleet=_charging,
        rows={"fleet-sessions": ("SN-CHG", "dc150", "OWN-1;OWN-2")},
    ),
    RunSpec("fleet-faults", ("faults", "firmware-fail"), fleet=_faulty),
    RunSpec("fleet-firmware", ("firmware-broken",), fleet=_broken_firmware),
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """``runs(version)``: the results of that version's runs, run once for the module."""
    done: dict[str, dict[str, RunResult]] = {}

    def get(version: str) -> dict[str, RunResult]:
        if version not in done:
            done[version] = execute(RUNS, version, tmp_path_factory.mktemp(f"fleet-{version}"))
        return done[version]

    yield get


version_param = pytest.mark.parametrize("version", VERSIONS)


def meter_values(version: str, m: dict[str, Any]) -> list[dict[str, Any]]:
    """The meterValue entries of a sample, a start or an end."""
    return list(m["payload"].get("meterValue") or m["payload"].get("transactionData") or [])


def values(meter_value: dict[str, Any]) -> dict[tuple[str, Any], float]:
    return {
        (v["measurand"], v.get("phase")): float(v["value"]) for v in meter_value["sampledValue"]
    }


def samples_of(version: str, cp: dict[str, Any], tx: Any) -> list[dict[str, Any]]:
    return [m for m in cp["messages"] if sc.is_meter(version, m, tx)]


# -- 1. models and sessions -------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_chargers_are_their_models_and_charge_on_every_connector(runs: Any, version: str) -> None:
    """A charger boots as its model (the ids file names it, and its serial number) and
    runs sessions of its own on each connector, with the ids file's idTags, ended Local
    after the drawn duration (3 to 5 s), one after the other on each connector."""
    cp = runs(version)["fleet-charging"].charger("fleet-sessions")
    evidence = frames(cp)
    boot = cp["messages"][0]["payload"]
    if version == "1.6":
        said = (boot["chargePointVendor"], boot["chargePointModel"], boot["firmwareVersion"])
        serial = boot["chargePointSerialNumber"]
    else:
        station = boot["chargingStation"]
        said = (station["vendorName"], station["model"], station["firmwareVersion"])
        serial = station["serialNumber"]
    assert (said, serial) == (("Volt", "Fast150", "dc-7.2"), "SN-CHG"), evidence
    starts = [m for m in cp["messages"] if sc.is_start(version, m)]
    assert {sc.start_connector(version, m) for m in starts} == {1, 2}, evidence
    assert {sc.tag_of(version, m) for m in starts} <= {"OWN-1", "OWN-2"}, evidence
    for start in starts:
        tx = sc.tx_of(version, start)
        ends = [m for m in cp["messages"] if sc.is_end(version, m, tx)]
        if not ends:
            continue  # still charging when the run ended
        expected = ("Local",) if version == "1.6" else ("StopAuthorized", "Local")
        assert end_reasons(version, ends[0]) == expected, evidence
        lasted = sample_time(version, ends[0]) - sample_time(version, start)
        assert 2.9 <= lasted <= 5.5, (lasted, evidence)


def _register(version: str, m: dict[str, Any], context: str) -> float:
    """The energy register a start (``Transaction.Begin``) or an end (``Transaction.End``)
    reports: 1.6 meterStart / meterStop, 2.0.1 the event's Energy.Active.Import.Register."""
    if version == "1.6":
        return float(m["payload"]["meterStart" if context == "Transaction.Begin" else "meterStop"])
    (value,) = [
        v["value"]
        for mv in m["payload"]["meterValue"]
        for v in mv["sampledValue"]
        if v["measurand"] == "Energy.Active.Import.Register" and v["context"] == context
    ]
    return float(value)


@pytest.mark.timeout(240)
@version_param
def test_every_connector_has_its_own_register(runs: Any, version: str) -> None:
    """Each connector's sessions read its own energy register: from 0 at the first
    session, each session beginning where that connector's last one ended, whatever the
    other connector charged meanwhile."""
    cp = runs(version)["fleet-charging"].charger("fleet-sessions")
    evidence = frames(cp)
    chains: dict[Any, list[tuple[float, float]]] = {1: [], 2: []}
    for start in [m for m in cp["messages"] if sc.is_start(version, m)]:
        ends = [m for m in cp["messages"] if sc.is_end(version, m, sc.tx_of(version, start))]
        if ends:
            begin = _register(version, start, "Transaction.Begin")
            end = _register(version, ends[0], "Transaction.End")
            chains[sc.start_connector(version, start)].append((begin, end))
    for connector, chain in chains.items():
        assert len(chain) >= 2 and chain[0][0] == 0, (connector, chains, evidence)
        assert all(b[0] == a[1] > a[0] for a, b in pairwise(chain)), (chains, evidence)


# -- 2. metering ------------------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_meter_values_are_coherent(runs: Any, version: str) -> None:
    """Samples carry every measurand, P = V * I (DC: one current), SoC and energy never
    fall within a session, a sample a second; the start carries Transaction.Begin (2.0.1)
    and the end the session's readings and Transaction.End (1.6 transactionData)."""
    cp = runs(version)["fleet-charging"].charger("fleet-sessions")
    evidence = frames(cp)
    checked = 0
    for start in [m for m in cp["messages"] if sc.is_start(version, m)]:
        tx = sc.tx_of(version, start)
        samples = samples_of(version, cp, tx)
        readings = [values(mv) for m in samples for mv in meter_values(version, m)]
        for reading in readings:
            watts = reading[("Voltage", None)] * reading[("Current.Import", None)]
            assert abs(watts - reading[("Power.Active.Import", None)]) <= 1, (reading, evidence)
        soc = [r[("SoC", None)] for r in readings]
        energy = [r[("Energy.Active.Import.Register", None)] for r in readings]
        assert soc == sorted(soc) and energy == sorted(energy), evidence
        times = [sample_time(version, m) for m in samples]
        assert all(0.9 <= b - a <= 1.45 for a, b in pairwise(times)), (times, evidence)
        ends = [m for m in cp["messages"] if sc.is_end(version, m, tx)]
        if ends:
            data = meter_values(version, ends[0])
            contexts = [mv["sampledValue"][0]["context"] for mv in data]
            assert contexts[-1] == "Transaction.End", evidence
            if version == "1.6":
                assert contexts[0] == "Transaction.Begin", evidence
            measured = {v["measurand"] for mv in data for v in mv["sampledValue"]}
            assert measured == {"Energy.Active.Import.Register", "SoC"}, evidence
            checked += 1
        if version != "1.6":
            begin = start["payload"]["meterValue"][0]["sampledValue"]
            assert {v["context"] for v in begin} == {"Transaction.Begin"}, evidence
    assert checked >= 2, evidence


def _settings(version: str, response: dict[str, Any]) -> dict[str, str]:
    """A GetConfiguration / GetVariables answer as {1.6 key or Component.Variable: value}."""
    if version == "1.6":
        return {k["key"]: k["value"] for k in response["configurationKey"]}
    return {
        f"{r['component']['name']}.{r['variable']['name']}": r.get("attributeValue")
        for r in response["getVariableResult"]
    }


def _measured(version: str, m: dict[str, Any]) -> set[tuple[str, Any]]:
    """The (measurand, phase) pairs of a sample."""
    return {
        (v["measurand"], v.get("phase"))
        for mv in meter_values(version, m)
        for v in mv["sampledValue"]
    }


PHASES = ("L1", "L2", "L3")


@pytest.mark.timeout(240)
@version_param
def test_a_models_setting_defaults_reach_the_charger(runs: Any, version: str) -> None:
    """A model's ``configuration`` is the charger's: GetConfiguration / GetVariables read
    back its measurands, sample interval and connection timeout (over charge_points',
    which samples every measurand each second), and its samples follow them."""
    cp = runs(version)["fleet-ops"].charger("model-settings")
    evidence = frames(cp)
    keys = {
        k16 if version == "1.6" else k201
        for k16, k201 in (fs.MEASURANDS, fs.INTERVAL, fs.CONNECTION_TIMEOUT)
    }
    got = _settings(version, call(cp, "Settings.model")["response"])
    assert set(got) == keys, evidence
    measurands, interval, timeout = (
        got[k16 if version == "1.6" else k201]
        for k16, k201 in (fs.MEASURANDS, fs.INTERVAL, fs.CONNECTION_TIMEOUT)
    )
    assert (measurands, interval, timeout) == (
        fs.MODEL_MEASURANDS,
        str(fs.MODEL_INTERVAL_S),
        str(fs.MODEL_CONNECTION_TIMEOUT_S),
    ), evidence
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    changed = call(cp, "Measurands.set")["wall_sent"]
    before = [m for m in samples_of(version, cp, tx) if sample_time(version, m) < changed]
    assert len(before) >= 2, evidence
    expected = {("Energy.Active.Import.Register", None), ("Power.Active.Import", None)}
    assert all(_measured(version, m) == expected for m in before), evidence
    times = [sample_time(version, m) for m in before]
    assert all(1.9 <= b - a <= 2.45 for a, b in pairwise(times)), (times, evidence)


@pytest.mark.timeout(240)
@version_param
def test_measurands_and_interval_changed_at_run_time(runs: Any, version: str) -> None:
    """The CSMS sets MeterValuesSampledData (1.6 ChangeConfiguration) /
    SampledDataCtrlr.TxUpdatedMeasurands (2.0.1 SetVariables) during a session: every
    sample after the answer carries exactly the new measurands (per phase on a 3-phase
    model), every one before the old; then MeterValueSampleInterval /
    TxUpdatedInterval 1 s: the samples after it come a second apart (1.6 section 9.1, 2.0.1
    J02 and the SampledDataCtrlr variables), and both read back changed."""
    cp = runs(version)["fleet-ops"].charger("model-settings")
    evidence = frames(cp)
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    samples = samples_of(version, cp, tx)
    measurands = call(cp, "Measurands.set")
    interval = call(cp, "Interval.set")
    old = {("Energy.Active.Import.Register", None), ("Power.Active.Import", None)}
    new = {("Current.Import", p) for p in PHASES} | {("Voltage", f"{p}-N") for p in PHASES}
    for m in samples:
        at = sample_time(version, m)
        if at < measurands["wall_sent"]:
            assert _measured(version, m) == old, evidence
        elif at > measurands["wall_answered"]:
            assert _measured(version, m) == new, evidence
    after = [
        sample_time(version, m)
        for m in samples
        if sample_time(version, m) > measurands["wall_answered"]
    ]
    assert len(after) >= 2, evidence
    faster = [t for t in after if t > interval["wall_answered"]]
    assert len(faster) >= 3, evidence
    assert all(0.9 <= b - a <= 1.45 for a, b in pairwise(faster)), (faster, evidence)
    slower = [t for t in after if t < interval["wall_sent"]]
    assert all(1.9 <= b - a <= 2.45 for a, b in pairwise(slower)), (slower, evidence)
    got = _settings(version, call(cp, "Settings.changed")["response"])
    k = 0 if version == "1.6" else 1
    assert got == {fs.MEASURANDS[k]: fs.NEW_MEASURANDS, fs.INTERVAL[k]: str(fs.NEW_INTERVAL_S)}


@pytest.mark.timeout(240)
@version_param
def test_three_phase_currents(runs: Any, version: str) -> None:
    """A 3-phase AC model meters Current.Import and Voltage per phase (L1..L3, L1-N..L3-N,
    none without a phase), the power is the sum of V * I over the phases (within a
    watt), and a TxProfile of 10 A gives 10 A on every phase."""
    cp = runs(version)["fleet-ops"].charger("smart-charging")
    evidence = frames(cp)
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    samples = samples_of(version, cp, tx)
    assert len(samples) >= 10, evidence
    for m in samples:
        reading = values(meter_values(version, m)[0])
        assert ("Current.Import", None) not in reading and ("Voltage", None) not in reading
        amps = [reading[("Current.Import", p)] for p in PHASES]
        volts = [reading[("Voltage", f"{p}-N")] for p in PHASES]
        assert volts == [230.0] * 3 and len(set(amps)) == 1, (reading, evidence)
        watts = sum(v * i for v, i in zip(volts, amps, strict=True))
        assert abs(watts - reading[("Power.Active.Import", None)]) <= 1, (reading, evidence)
    tx_set = call(cp, "SetChargingProfile.tx")["wall_answered"]
    limited = [
        values(meter_values(version, m)[0]) for m in samples if sample_time(version, m) > tx_set
    ]
    assert limited and all(
        [r[("Current.Import", p)] for p in PHASES] == [fs.TX_LIMIT_A] * 3 for r in limited
    ), evidence


@pytest.mark.timeout(240)
@version_param
def test_the_power_tapers_near_full(runs: Any, version: str) -> None:
    """With a small EV (231 Wh from 70-72%, 50 kW at most, taper from 80%): the samples
    below 80% show the EV's 50 kW, those above it less and less power (in proportion to
    what is left to fill), while the state of charge only rises, in every session."""
    cp = runs(version)["fleet-charging"].charger("fleet-sessions")
    evidence = frames(cp)
    tapered = 0
    for start in [m for m in cp["messages"] if sc.is_start(version, m)]:
        tx = sc.tx_of(version, start)
        readings = [
            values(mv) for m in samples_of(version, cp, tx) for mv in meter_values(version, m)
        ]
        soc = [r[("SoC", None)] for r in readings]
        power = [r[("Power.Active.Import", None)] for r in readings]
        assert all(a < b for a, b in pairwise(soc)), (soc, evidence)
        full = [p for s, p in zip(soc, power, strict=True) if s < 80]
        taper = [p for s, p in zip(soc, power, strict=True) if s >= 80]
        assert all(p == 50000 for p in full), (soc, power, evidence)
        assert all(p < 50000 for p in taper), (soc, power, evidence)
        assert all(a > b for a, b in pairwise(taper)), (soc, power, evidence)
        # in proportion to what is left to fill: 50 kW x (100 - SoC) / (100 - 80), within
        # the rounding of the SoC to 0.1%
        curve = [abs(p - 2500 * (100 - s)) for s, p in zip(soc, power, strict=True) if s >= 80]
        assert all(d <= 130 for d in curve), (soc, power, evidence)
        if full and len(taper) >= 2:
            tapered += 1
    assert tapered >= 2, evidence


# -- 3. smart charging ------------------------------------------------------------------------


def _power(version: str, m: dict[str, Any]) -> float:
    (reading,) = [values(mv) for mv in meter_values(version, m)]
    return reading[("Power.Active.Import", None)]


@pytest.mark.timeout(240)
@version_param
def test_smart_charging_limits_the_metered_power(runs: Any, version: str) -> None:
    """SetChargingProfile TxDefaultProfile 7 kW: every sample taken after it is answered
    shows at most 7 kW (K01, 1.6 3.13); GetCompositeSchedule reports the limit (K08);
    2.0.1 GetChargingProfiles brings ReportChargingProfiles (K09); after
    ClearChargingProfile the full 22 kW; a TxProfile of 10 A gives 3 x 230 V x 10 A."""
    cp = runs(version)["fleet-ops"].charger("smart-charging")
    evidence = frames(cp)
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    samples = samples_of(version, cp, tx)
    set_at = call(cp, "SetChargingProfile.default")["wall_answered"]
    clear = call(cp, "ClearChargingProfile")
    tx_set = call(cp, "SetChargingProfile.tx")["wall_answered"]
    before = [_power(version, m) for m in samples if sample_time(version, m) < set_at - 0.05]
    limited = [
        _power(version, m) for m in samples if set_at < sample_time(version, m) < clear["wall_sent"]
    ]
    cleared = [
        _power(version, m)
        for m in samples
        if clear["wall_answered"]
        < sample_time(version, m)
        < call(cp, "SetChargingProfile.tx")["wall_sent"]
    ]
    tx_limited = [_power(version, m) for m in samples if sample_time(version, m) > tx_set]
    assert before and set(before) == {22000}, evidence
    assert limited and set(limited) == {fs.LIMIT_W}, evidence
    assert cleared and set(cleared) == {22000}, evidence
    assert tx_limited and set(tx_limited) == {fs.TX_LIMIT_A * 230 * 3}, evidence
    composite = call(cp, "GetCompositeSchedule")["response"]
    schedule = composite["chargingSchedule"] if version == "1.6" else composite["schedule"]
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": fs.LIMIT_W}]
    if version != "1.6":
        begin = mark(cp, "GetChargingProfiles")
        report = cp["messages"][
            index_of(cp, lambda m: m["action"] == "ReportChargingProfiles", begin)
        ]
        assert report["payload"]["requestId"] == 61, evidence
        assert report["payload"]["chargingProfile"][0]["id"] == 1, evidence


@pytest.mark.timeout(240)
@version_param
def test_an_energy_managers_limit(runs: Any, version: str) -> None:
    """A model an energy manager limits (external_limit_w) charges at that limit; 2.0.1
    tells the CSMS with NotifyChargingLimit, source EMS, after its boot (K12.FR.02/04)."""
    cp = runs(version)["fleet-ops"].charger("external-limit")
    evidence = frames(cp)
    tx = sc.tx_of(version, cp["messages"][first_start(version, cp, 0)])
    assert {_power(version, m) for m in samples_of(version, cp, tx)} == {9000}, evidence
    notified = [m["payload"] for m in cp["messages"] if m["action"] == "NotifyChargingLimit"]
    if version == "1.6":
        assert notified == [], evidence
    else:
        assert [n["chargingLimit"]["chargingLimitSource"] for n in notified] == ["EMS"], evidence


def _max_profile_start(version: str, request: dict[str, Any]) -> float:
    """The startSchedule of a station maximum's SetChargingProfile, as epoch seconds."""
    if version == "1.6":
        schedule = request["csChargingProfiles"]["chargingSchedule"]
    else:
        schedule = request["chargingProfile"]["chargingSchedule"][0]
    return epoch(schedule["startSchedule"])


@pytest.mark.timeout(240)
@version_param
def test_the_station_maximum_stack_levels_and_periods(runs: Any, version: str) -> None:
    """ChargePointMaxProfile (1.6 3.13.1) / ChargingStationMaxProfile (K01) caps the
    station, shared by its two charging connectors: 8 kW at stack level 0 gives 4 kW
    each; 16 kW at stack level 1 prevails over it (K01.FR.17, 1.6 3.13.2) though it is
    higher: 8 kW each; stack level 2's schedule of 30 kW then, after 3 s, 12 kW gives
    15 kW each until the second period starts and 6 kW each from then on."""
    cp = runs(version)["fleet-ops"].charger("station-max")
    evidence = frames(cp)
    txs = [
        sc.tx_of(version, cp["messages"][first_start(version, cp, mark(cp, f"RemoteStart.{n}"))])
        for n in (1, 2)
    ]
    low, high, periods = (call(cp, f"MaxProfile.{step}") for step in ("low", "high", "periods"))
    second = _max_profile_start(version, periods["request"]) + fs.PERIOD_S
    stop_sent = call(cp, "RemoteStop.1")["wall_sent"]
    windows = (
        (low["wall_answered"], high["wall_sent"], fs.STATION_LOW_W),
        (high["wall_answered"], periods["wall_sent"], fs.STATION_HIGH_W),
        (periods["wall_answered"], second - 0.05, fs.STATION_FIRST_W),
        (second + 0.05, stop_sent, fs.STATION_SECOND_W),
    )
    for tx in txs:
        samples = samples_of(version, cp, tx)
        for begin, end, station_w in windows:
            seen = [_power(version, m) for m in samples if begin < sample_time(version, m) < end]
            assert seen and set(seen) == {station_w / 2}, (begin, end, seen, evidence)


# -- 4. firmware and diagnostics --------------------------------------------------------------


#: the statuses of a signed update that installs, in order
SIGNED_STEPS = (
    "Downloading",
    "Downloaded",
    "SignatureVerified",
    "Installing",
    "InstallRebooting",
    "Installed",
)


def _firmware_statuses(
    cp: dict[str, Any], start: int, end: int | None = None
) -> list[tuple[str, Any]]:
    return [
        (m["payload"]["status"], m["payload"].get("requestId"))
        for m in cp["messages"][start:end]
        if m["action"] in ("FirmwareStatusNotification", "SignedFirmwareStatusNotification")
    ]


@pytest.mark.timeout(240)
@version_param
def test_firmware_update_reboots_into_the_new_version(runs: Any, version: str) -> None:
    """UpdateFirmware: Downloading, Downloaded, [SignatureVerified], Installing,
    [InstallRebooting], then a reboot: a new connection whose BootNotification reports the
    new firmware (2.0.1 reason FirmwareUpdate), then Installed with the request's id
    (L01.FR.10/32) and, 2.0.1, SecurityEvent FirmwareUpdated (L01.FR.31). 1.6's
    SignedUpdateFirmware goes the same way with SignedFirmwareStatusNotification."""
    cp = runs(version)["fleet-ops"].charger("firmware")
    evidence = frames(cp)
    begin = mark(cp, "UpdateFirmware")
    end = mark(cp, "SignedUpdateFirmware") if version == "1.6" else None
    got = _firmware_statuses(cp, begin, end)
    if version == "1.6":
        expected = [(s, None) for s in ("Downloading", "Downloaded", "Installing", "Installed")]
    else:
        expected = [(s, 71) for s in SIGNED_STEPS]
    assert got == expected, evidence
    boot = cp["messages"][
        index_of(cp, lambda m: m["action"] == "BootNotification" and m["conn"] == 2, begin)
    ]
    installed = index_of(cp, lambda m: m["payload"].get("status") == "Installed", begin)
    assert boot["conn"] == 2 and cp["messages"].index(boot) < installed, evidence
    if version == "1.6":
        assert boot["payload"]["firmwareVersion"] == "fw-2.0", evidence
        signed = _firmware_statuses(cp, end)
        assert signed == [(s, 72) for s in SIGNED_STEPS], evidence
        later = [m for m in cp["messages"][end:] if m["action"] == "BootNotification"]
        assert later and later[0]["payload"]["firmwareVersion"] == "fw-2.1", evidence
        return
    station = boot["payload"]["chargingStation"]
    assert (station["firmwareVersion"], boot["payload"]["reason"]) == ("fw-2.0", "FirmwareUpdate")
    events = [
        m["payload"]["type"]
        for m in cp["messages"][begin:]
        if m["action"] == "SecurityEventNotification"
    ]
    assert "FirmwareUpdated" in events, evidence


@pytest.mark.timeout(240)
def test_a_security_whitepaper_charger_takes_signed_updates_only(runs: Any) -> None:
    """1.6, a model with ``firmware_update: signed``: the legacy UpdateFirmware gets
    CALLERROR NotSupported and starts no update (security whitepaper, L01); the
    SignedUpdateFirmware after it runs its steps and reboots into the new firmware."""
    cp = runs("1.6")["fleet-ops"].charger("firmware-signed-only")
    evidence = frames(cp)
    assert call(cp, "UpdateFirmware.legacy")["status"] == "CallError:NotSupported", evidence
    refused = mark(cp, "UpdateFirmware.legacy")
    legacy = [m for m in cp["messages"][refused:] if m["action"] == "FirmwareStatusNotification"]
    assert legacy == [], evidence
    signed = mark(cp, "SignedUpdateFirmware")
    assert _firmware_statuses(cp, signed) == [(s, 76) for s in SIGNED_STEPS], evidence
    boots = [m for m in cp["messages"][signed:] if m["action"] == "BootNotification"]
    assert boots and boots[0]["payload"]["firmwareVersion"] == "fw-2.1", evidence


@pytest.mark.timeout(240)
@version_param
def test_a_failed_download_does_not_reboot(runs: Any, version: str) -> None:
    """With every download failing: Downloading, DownloadFailed, and the charger stays on
    its connection, heartbeating (L01.FR.30)."""
    cp = runs(version)["fleet-faults"].charger("firmware-fail")
    evidence = frames(cp)
    got = [s for s, _ in _firmware_statuses(cp, mark(cp, "UpdateFirmware"))]
    assert got == ["Downloading", "DownloadFailed"], evidence
    assert cp["connections"] == 1, evidence


@pytest.mark.timeout(240)
@version_param
def test_a_failed_install_and_a_bad_signature(runs: Any, version: str) -> None:
    """An update that fails to install: Downloading, Downloaded, Installing,
    InstallationFailed (1.6 FirmwareStatusNotification; 2.0.1 with the request's id).
    A signed one whose signature is bad: Downloading, Downloaded, InvalidSignature
    and SecurityEventNotification InvalidFirmwareSignature (2.0.1 L01.FR.03; 1.6's
    security whitepaper, SignedUpdateFirmware and its SignedFirmwareStatusNotification).
    Neither reboots the charger."""
    cp = runs(version)["fleet-firmware"].charger("firmware-broken")
    evidence = frames(cp)
    begin, signed = mark(cp, "UpdateFirmware"), mark(cp, "UpdateFirmware.signed")
    install = [
        (m["action"], m["payload"]["status"], m["payload"].get("requestId"))
        for m in cp["messages"][begin:signed]
        if m["action"].endswith("FirmwareStatusNotification")
    ]
    action = "FirmwareStatusNotification"
    request_id = None if version == "1.6" else 74
    steps = ("Downloading", "Downloaded", "Installing", "InstallationFailed")
    assert install == [(action, s, request_id) for s in steps], evidence
    signature = [
        (m["action"], m["payload"]["status"], m["payload"].get("requestId"))
        for m in cp["messages"][signed:]
        if m["action"].endswith("FirmwareStatusNotification")
    ]
    action = "SignedFirmwareStatusNotification" if version == "1.6" else action
    steps = ("Downloading", "Downloaded", "InvalidSignature")
    assert signature == [(action, s, 75) for s in steps], evidence
    events = [
        (cp["messages"].index(m) >= signed, m["payload"]["type"])
        for m in cp["messages"]
        if m["action"] == "SecurityEventNotification"
    ]
    # 2.0.1 reports its boot (A04.FR.01: critical); 1.6 without security_events does not
    booted = [] if version == "1.6" else [(False, "StartupOfTheDevice")]
    assert events == [*booted, (True, "InvalidFirmwareSignature")], evidence
    assert cp["connections"] == 1 and cp["boots"] == 1, evidence


@pytest.mark.timeout(240)
@version_param
def test_logs_are_uploaded_or_fail(runs: Any, version: str) -> None:
    """GetDiagnostics (1.6) and GetLog: Uploading then Uploaded once the file reached the
    CSMS's URL (an HTTP PUT of the configured size); UploadFailed / UploadFailure for a
    URL nobody listens on (1.6 4.4, N01); 1.6's ExtendedTriggerMessage of
    LogStatusNotification brings Idle."""
    result = runs(version)["fleet-ops"]
    cp = result.charger("diagnostics")
    evidence = frames(cp)
    uploads = [u for u in result.report["uploads"] if "diagnostics" in u["path"]]
    assert len(uploads) == (2 if version == "1.6" else 1), (result.report["uploads"], evidence)
    assert {(u["method"], u["bytes"]) for u in uploads} == {("PUT", 4096)}
    logs = [
        (m["action"], m["payload"]["status"], m["payload"].get("requestId"))
        for m in cp["messages"]
        if m["action"] in ("DiagnosticsStatusNotification", "LogStatusNotification")
    ]
    expected = [
        *([("LogStatusNotification", "Idle", None)] if version == "1.6" else []),
        ("LogStatusNotification", "Uploading", 81),
        ("LogStatusNotification", "Uploaded", 81),
        ("LogStatusNotification", "Uploading", 82),
        ("LogStatusNotification", "UploadFailure", 82),
    ]
    if version == "1.6":
        diagnostics = "DiagnosticsStatusNotification"
        expected = [
            (diagnostics, "Uploading", None),
            (diagnostics, "Uploaded", None),
            (diagnostics, "Uploading", None),
            (diagnostics, "UploadFailed", None),
            *expected,
        ]
        assert call(cp, "GetDiagnostics")["response"]["fileName"].endswith(".log")
    assert logs == expected, evidence


# -- 5. reservations --------------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_reservations(runs: Any, version: str) -> None:
    """ReserveNow makes the connector Reserved; another tag is refused there, the reserved
    one starts with the reservationId (H01.FR.15; 1.6 5.13); a reservation expires on time
    (2.0.1 ReservationStatusUpdate Expired) and a cancelled one frees the connector."""
    cp = runs(version)["fleet-ops"].charger("reservation")
    evidence = frames(cp)
    assert call(cp, "RemoteStart.other")["status"] == "Rejected", evidence
    start = cp["messages"][
        first_start(version, cp, mark(cp, "RemoteStart.reserved"), fs.RESERVED_TAG)
    ]
    assert start["payload"]["reservationId"] == 91, evidence
    reserved = mark(cp, "ReserveNow.expiring")
    request = call(cp, "ReserveNow.expiring")["request"]
    expiry = epoch(request["expiryDate" if version == "1.6" else "expiryDateTime"])
    freed = index_of(cp, lambda m: sc.is_status(version, m, 1, "Available"), reserved + 1)
    late = cp["messages"][freed]["wall"] - expiry  # the expiry is in whole seconds
    assert -0.1 <= late <= 1.5, (late, evidence)
    if version != "1.6":
        updates = [m["payload"] for m in cp["messages"] if m["action"] == "ReservationStatusUpdate"]
        assert updates == [{"reservationId": 92, "reservationUpdateStatus": "Expired"}], evidence
    assert call(cp, "CancelReservation")["status"] == "Accepted", evidence


# -- 6. local authorization -------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_local_list_and_cache(runs: Any, version: str) -> None:
    """SendLocalList Full, then a stale Differential (VersionMismatch) and a newer one;
    GetLocalListVersion follows. With LocalPreAuthorize a tag the list accepts starts
    without Authorize (C14.FR.02), a Blocked one is Authorized first (C14.FR.03);
    ClearCache is Accepted."""
    cp = runs(version)["fleet-ops"].charger("local-list")
    evidence = frames(cp)
    key = "listVersion" if version == "1.6" else "versionNumber"
    assert call(cp, "GetLocalListVersion.empty")["response"] == {key: 0}, evidence
    assert call(cp, "GetLocalListVersion.full")["response"] == {key: 1}, evidence
    listed = calls_from_cp(cp, mark(cp, "RemoteStart.listed"), mark(cp, "RemoteStop.listed"))
    assert "Authorize" not in listed and listed, evidence
    blocked = calls_from_cp(cp, mark(cp, "RemoteStart.blocked"), mark(cp, "RemoteStop.blocked"))
    assert "Authorize" in blocked, evidence
    assert call(cp, "ClearCache")["status"] == "Accepted"


@pytest.mark.timeout(240)
@version_param
def test_clear_cache_empties_the_authorization_cache(runs: Any, version: str) -> None:
    """With AuthorizationCacheEnabled / AuthCacheCtrlr.Enabled and LocalPreAuthorize: a
    tag is Authorized the first time, starts from the cache the second (C12.FR.02, 1.6
    3.5.1), and after ClearCache (C11.FR.03, 1.6 5.4) needs Authorize again."""
    cp = runs(version)["fleet-ops"].charger("auth-cache")
    evidence = frames(cp)
    authorized = {}
    for label in ("first", "cached", "cleared"):
        sent = calls_from_cp(cp, mark(cp, f"RemoteStart.{label}"), mark(cp, f"RemoteStop.{label}"))
        assert any(a in sent for a in ("StartTransaction", "TransactionEvent")), evidence
        authorized[label] = sent.count("Authorize")
    assert authorized == {"first": 1, "cached": 0, "cleared": 1}, evidence
    assert call(cp, "ClearCache")["status"] == "Accepted", evidence


@pytest.mark.timeout(240)
@version_param
def test_a_missing_feature_profile_is_not_supported(runs: Any, version: str) -> None:
    """A model without SmartCharging, Reservation and LocalAuthListManagement says so
    (1.6 SupportedFeatureProfiles; 2.0.1 <Ctrlr>.Available false) and answers their calls
    with CALLERROR NotSupported, the error for an action known but not supported (1.6J
    and 2.0.1 OCPP-J section 4.2.3); 1.6 GetLocalListVersion answers -1 instead (5.10:
    local lists not supported)."""
    cp = runs(version)["fleet-ops"].charger("no-features")
    evidence = frames(cp)
    got = _settings(version, call(cp, "Settings.features")["response"])
    if version == "1.6":
        assert got == {"SupportedFeatureProfiles": "Core,RemoteTrigger"}, evidence
    else:
        assert got == {
            "SmartChargingCtrlr.Available": "false",
            "ReservationCtrlr.Available": "false",
            "LocalAuthListCtrlr.Available": "false",
        }, evidence
    for label in (
        "SetChargingProfile",
        "GetCompositeSchedule",
        "ReserveNow",
        "CancelReservation",
        "SendLocalList",
    ):
        assert call(cp, label)["status"] == "CallError:NotSupported", (label, evidence)
    listed = call(cp, "GetLocalListVersion")
    if version == "1.6":
        assert listed["response"] == {"listVersion": -1}, evidence
    else:
        assert listed["status"] == "CallError:NotSupported", evidence


# -- 7. security events, DataTransfer, NotifyEvent -------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_security_events(runs: Any, version: str) -> None:
    """SecurityEventNotification StartupOfTheDevice after each boot, ResetOrReboot before
    it after a reset's boot, and the failed authentication once connected again after
    HTTP 401s (1.6 security extension, A04)."""
    cp = runs(version)["fleet-ops"].charger("security-events")
    evidence = frames(cp)
    events = [
        m["payload"]["type"] for m in cp["messages"] if m["action"] == "SecurityEventNotification"
    ]
    refused = (
        "FailedToAuthenticateAtCentralSystem" if version == "1.6" else "FailedToAuthenticateAtCsms"
    )
    booted = "StartupOfTheDevice"
    assert events[-1] == refused and set(events[:-1]) == {booted, "ResetOrReboot"}, evidence
    # each boot's event, delivered at least once: one that the reset or the drop took
    # unanswered is sent again after the reconnect (A04.FR.02)
    reset = events.index("ResetOrReboot")
    assert booted in events[:reset] and booted in events[reset + 1 : -1], evidence
    assert cp["refused"], evidence


@pytest.mark.timeout(240)
@version_param
def test_data_transfer_answers(runs: Any, version: str) -> None:
    """DataTransfer gets the configured answer (status and data) for its vendorId and
    messageId, UnknownVendorId for others."""
    cp = runs(version)["fleet-ops"].charger("data-transfer")
    assert call(cp, "DataTransfer.known")["response"] == {"status": "Accepted", "data": "pong"}
    assert call(cp, "DataTransfer.unknown")["status"] == "UnknownVendorId"


@pytest.mark.timeout(240)
def test_connector_states_as_notify_event(runs: Any) -> None:
    """2.0.1 with notify_event: connector states arrive as NotifyEvent of the Connector's
    AvailabilityState (trigger Delta), instead of StatusNotification (G01.FR.03/04)."""
    cp = runs("2.0.1")["fleet-charging"].charger("fleet-sessions")
    evidence = frames(cp)
    events = [m for m in cp["messages"] if m["action"] == "NotifyEvent"]
    assert not [m for m in cp["messages"] if m["action"] == "StatusNotification"], evidence
    seen = {(sc.status_connector("2.0.1", m), sc.status_value("2.0.1", m)) for m in events}
    assert {(1, "Occupied"), (2, "Occupied"), (1, "Available"), (2, "Available")} <= seen, evidence
    assert all(m["payload"]["eventData"][0]["trigger"] == "Delta" for m in events)


# -- 8. faults --------------------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_faults_are_reported_and_recover(runs: Any, version: str) -> None:
    """A faulty charger reports a connector Faulted (1.6 with the configured error code)
    and Available again after recover_s (2 s, by the statuses' timestamps)."""
    cp = runs(version)["fleet-faults"].charger("faults")
    evidence = frames(cp)
    faulted = index_of(cp, lambda m: sc.status_value(version, m) == "Faulted")
    fault = cp["messages"][faulted]
    connector = sc.status_connector(version, fault)
    if version == "1.6":
        assert fault["payload"]["errorCode"] == "HighTemperature", evidence
    back = index_of(cp, lambda m: sc.is_status(version, m, connector, "Available"), faulted + 1)
    # The charger's own times: a status may wait for the answer to an earlier call.
    took = epoch(cp["messages"][back]["payload"]["timestamp"]) - epoch(
        fault["payload"]["timestamp"]
    )
    assert 1.95 <= took <= 3.0, (took, evidence)


# -- 9. the results ---------------------------------------------------------------------------


@pytest.mark.timeout(240)
@version_param
def test_summary_counts_the_flows(runs: Any, version: str) -> None:
    """summary.json's fleet section counts the flows: sessions started and ended (by
    reason), energy, firmware outcomes, uploads, reservations, profiles, faults."""
    result = runs(version)
    ops, charging, faults = (
        result[n].summary for n in ("fleet-ops", "fleet-charging", "fleet-faults")
    )
    assert ops and charging and faults
    fleet = charging["fleet"]
    assert fleet["sessions"]["started"] >= 2 and fleet["sessions"]["ended"]["Local"] >= 2, fleet
    assert fleet["energy_wh"] > 0, fleet
    fleet = ops["fleet"]
    # 1.6: the firmware charger's UpdateFirmware and SignedUpdateFirmware, and the
    # signed-only charger's SignedUpdateFirmware (its refused UpdateFirmware starts nothing)
    installed = 3 if version == "1.6" else 1
    assert fleet["firmware"]["installed"] == installed, fleet
    assert fleet["firmware"]["updates"] == installed, fleet
    assert fleet["uploads"] == {
        "ok": 2 if version == "1.6" else 1,
        "failed": 2 if version == "1.6" else 1,
    }
    assert fleet["reservations"]["made"] == 3 and fleet["reservations"]["used"] == 1, fleet
    assert fleet["reservations"]["expired"] == 1 and fleet["reservations"]["cancelled"] == 1
    assert fleet["profiles_set"] == 5 and fleet["authorized_locally"] == 2, fleet
    # what the CSMS received: the security-events charger's reset and refused credentials,
    # a FirmwareUpdated for each installed update, a StartupOfTheDevice for every boot
    # after power-up or a reboot (at least one per charger)
    received = [
        m["payload"]["type"]
        for cp in result["fleet-ops"].report["chargers"].values()
        for m in cp["messages"]
        if m["action"] == "SecurityEventNotification"
    ]
    refused = (
        "FailedToAuthenticateAtCentralSystem" if version == "1.6" else "FailedToAuthenticateAtCsms"
    )
    assert set(received) == {"StartupOfTheDevice", "ResetOrReboot", refused, "FirmwareUpdated"}
    assert received.count("FirmwareUpdated") == installed, received
    # each counted once; one a reset or a drop took unanswered is sent again
    least = len(OPS) + 2 + installed
    assert least <= fleet["security_events"] <= len(received), (fleet, received)
    fleet = faults["fleet"]
    assert fleet["faults"]["reported"] >= 1 and fleet["firmware"]["failed"] == 1, fleet
    fleet = result["fleet-firmware"].summary["fleet"]
    assert fleet["firmware"] == {"updates": 2, "installed": 0, "failed": 2}, fleet
    assert statuses  # (imported for symmetry with test_behaviour's readers)
