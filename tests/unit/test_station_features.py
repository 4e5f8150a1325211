"""What a back end asks of a real charger, by the station alone: smart charging, firmware
updates, diagnostics and logs, reservations and local authorization lists, in 1.6J and
2.0.1. Every frame is schema-validated by the bench (tests/unit/sim_csms.py)."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import ChargerModel, FirmwareUpdates, FleetSpec, Scenario, Session
from loadgen.failures import Failure
from loadgen.ocpp.dialect import IdInfo, iso
from loadgen.sim.actions import Answered
from loadgen.sim.steps import StepRefused
from tests.unit.sim_csms import (
    WALL_OFFSET_S,
    Bench,
    booted,
    get_setting,
    make,
    profile_request,
    remote_start,
    remote_stop,
    set_setting,
    status_of,
    tx_id,
)

VERSIONS = ["1.6", "2.0.1", "2.1"]  # 2.1: 2.0.1's behaviour under 2.1's schemas
POWER = "Energy.Active.Import.Register,Power.Active.Import,Current.Import"


def wall(bench: Bench, seconds: float = 0.0) -> str:
    """The station's wall clock ``seconds`` from now, as OCPP writes it."""
    return iso(bench.now + WALL_OFFSET_S + seconds)


def charging(version: str, **kwargs: Any) -> Bench:
    """A booted bench of one 22 kW three-phase connector, a session running on it."""
    kwargs.setdefault("connectors", 1)
    kwargs.setdefault("session", Session(meter_interval_s=30, power_w=22_000))
    kwargs.setdefault("configuration", (("meter_values_sampled_data", POWER),))
    bench = booted(version, **kwargs)
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    return bench


def power_of(bench: Bench) -> float:
    """The power of the last sample."""
    for call in reversed(bench.calls):
        p = call.payload
        if call.action == "MeterValues" or (
            call.action == "TransactionEvent" and p["eventType"] == "Updated"
        ):
            for value in p["meterValue"][-1]["sampledValue"]:
                if value["measurand"] == "Power.Active.Import":
                    return float(value["value"])
    raise AssertionError("no sample with power")


def profile(
    version: str,
    connector_id: int,
    purpose: str,
    limit: float,
    *,
    periods: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A SetChargingProfile request of one ``limit`` from the start, or of ``periods``."""
    return profile_request(
        version,
        connector_id,
        purpose,
        periods or [{"startPeriod": 0, "limit": limit}],
        **kwargs,
    )


def set_profile(bench: Bench, request: dict[str, Any]) -> str:
    return status_of(bench.server_call("SetChargingProfile", request))


# -- smart charging ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_default_profile_caps_the_power_within_one_sample(version: str) -> None:
    """A TxDefaultProfile of 7 kW set mid-session shows in the next sample's power (and the
    energy integrates the old power up to the change, the new one after)."""
    bench = charging(version)
    bench.run(30)
    assert power_of(bench) == 22_000
    assert set_profile(bench, profile(version, 0, "TxDefaultProfile", 7000)) == "Accepted"
    bench.run(30)
    assert power_of(bench) == 7000
    assert bench.counters.profiles_set == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_stack_levels_and_amperes(version: str) -> None:
    """The highest stack level prevails (K01.FR.17); a limit in A is per phase (K01.FR.51:
    16 A * 230 V * 3); the station maximum caps everything."""
    bench = charging(version)
    assert set_profile(bench, profile(version, 1, "TxDefaultProfile", 11000)) == "Accepted"
    high = profile(version, 1, "TxDefaultProfile", 16, profile_id=2, stack_level=2, unit="A")
    assert set_profile(bench, high) == "Accepted"
    bench.run(30)
    assert power_of(bench) == 16 * 230 * 3
    start = wall(bench, -10)
    cap = profile(
        version, 0, "ChargingStationMaxProfile", 5000, profile_id=3, kind="Absolute", start=start
    )
    assert set_profile(bench, cap) == "Accepted"
    bench.run(30)
    assert power_of(bench) == 5000


@pytest.mark.parametrize("version", VERSIONS)
def test_schedule_periods_follow_each_other(version: str) -> None:
    """A schedule's periods apply in turn: 20 kW for 60 s from the transaction's start,
    then 4 kW (a Relative TxProfile of the running transaction)."""
    bench = charging(version)
    periods = [{"startPeriod": 0, "limit": 20000}, {"startPeriod": 60, "limit": 4000}]
    request = profile(version, 1, "TxProfile", 0, periods=periods, transaction_id=tx_id(bench))
    assert set_profile(bench, request) == "Accepted"
    bench.run(29.5)
    assert power_of(bench) == 20000
    bench.run(60)
    assert power_of(bench) == 4000


@pytest.mark.parametrize("version", VERSIONS)
def test_a_session_under_a_limit_of_zero_starts_suspended(version: str) -> None:
    """Under a TxDefaultProfile of 0 W a transaction starts SuspendedEVSE: 2.x its Started
    event says so (no Charging, then ChargingStateChanged at the same moment), 1.6 its
    StatusNotification goes from Preparing to SuspendedEVSE."""
    bench = booted(version, session=Session(meter_interval_s=10, duration_s=3600))
    assert set_profile(bench, profile(version, 0, "TxDefaultProfile", 0)) == "Accepted"
    assert remote_start(bench, 1) == "Accepted"
    bench.run(2)
    if version == "1.6":
        assert [s for c, s in bench.statuses() if c == 1][-2:] == ["Preparing", "SuspendedEVSE"]
        return
    events = [
        (c.payload["eventType"], c.payload["triggerReason"], c.payload["transactionInfo"])
        for c in bench.tx_messages()
    ]
    assert [(e, t, i["chargingState"]) for e, t, i in events] == [
        ("Started", "RemoteStart", "SuspendedEVSE")
    ]


def test_a_16_absolute_profile_without_start_runs_from_the_start_of_charging() -> None:
    """1.6 7.13: an Absolute schedule without startSchedule "will be relative to start
    of charging": set 20 s into the session, its second period (from 45 s) limits the
    sample at 60 s, not one 45 s after it was set."""
    bench = charging("1.6")
    bench.run(20)
    periods = [{"startPeriod": 0, "limit": 20000}, {"startPeriod": 45, "limit": 4000}]
    request = profile(
        "1.6", 1, "TxProfile", 0, periods=periods, kind="Absolute", transaction_id=tx_id(bench)
    )
    assert set_profile(bench, request) == "Accepted"
    bench.run(10)
    assert power_of(bench) == 20000
    bench.run(31)
    assert power_of(bench) == 4000


@pytest.mark.parametrize("version", VERSIONS)
def test_profiles_that_cannot_be_installed_are_rejected(version: str) -> None:
    """Rejected: a TxProfile without a transaction (K01.FR.09), of another transaction
    (K01.FR.33), an unknown connector (K01.FR.28; 1.6 errata 3.39: CALLERROR
    PropertyConstraintViolation), a first period not at 0 (K01.FR.31), a stack level over
    the maximum; 2.x: an Absolute profile without startSchedule (K01.FR.40; 1.6 7.13 runs
    it from the start of charging), a TxProfile that names no transaction (K01.FR.03), a
    Relative one with a startSchedule (K01.FR.41)."""
    bench = booted(version, connectors=2)
    assert set_profile(bench, profile(version, 1, "TxProfile", 5000)) == "Rejected"
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    other = 999 if version == "1.6" else "not-this-one"
    assert (
        set_profile(bench, profile(version, 1, "TxProfile", 5000, transaction_id=other))
        == "Rejected"
    )
    unknown = bench.server_call("SetChargingProfile", profile(version, 7, "TxDefaultProfile", 5))
    if version == "1.6":
        assert unknown[0] == 4 and unknown[2] == "PropertyConstraintViolation"
    else:
        assert status_of(unknown) == "Rejected"
    late = [{"startPeriod": 10, "limit": 5000}]
    assert (
        set_profile(bench, profile(version, 1, "TxDefaultProfile", 0, periods=late)) == "Rejected"
    )
    assert (
        set_profile(bench, profile(version, 1, "TxDefaultProfile", 5000, stack_level=99))
        == "Rejected"
    )
    v16 = version == "1.6"
    absolute = profile(version, 1, "TxDefaultProfile", 5000, kind="Absolute", profile_id=4)
    assert set_profile(bench, absolute) == ("Accepted" if v16 else "Rejected")
    relative_at = profile(version, 1, "TxDefaultProfile", 5000, start=wall(bench, 0))
    assert set_profile(bench, relative_at) == ("Accepted" if v16 else "Rejected")
    bare = set_profile(bench, profile(version, 1, "TxProfile", 5000, profile_id=2))
    assert bare == ("Accepted" if v16 else "Rejected")
    named = profile(version, 1, "TxProfile", 5000, profile_id=3, transaction_id=tx_id(bench))
    assert set_profile(bench, named) == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
def test_another_profile_in_the_same_slot(version: str) -> None:
    """1.6 3.13.4: a profile of the same purpose, stack level and connector replaces the
    one there. 2.x: only the same id replaces (K01.FR.05); another id in that slot is
    Rejected, for a TxProfile of the same transaction (K01.FR.39) and for the others
    when their validity overlaps (K01.FR.06)."""
    bench = charging(version)
    tx = tx_id(bench)
    v16 = version == "1.6"
    slots = (("TxProfile", 10, {"transaction_id": tx}), ("TxDefaultProfile", 20, {}))
    for purpose, ids, extra in slots:
        first = profile(version, 1, purpose, 9000, profile_id=ids + 1, stack_level=2, **extra)
        assert set_profile(bench, first) == "Accepted"
        other = profile(version, 1, purpose, 8000, profile_id=ids + 2, stack_level=2, **extra)
        assert set_profile(bench, other) == ("Accepted" if v16 else "Rejected"), purpose
        again = profile(version, 1, purpose, 7000, profile_id=ids + 1, stack_level=2, **extra)
        assert set_profile(bench, again) == "Accepted", purpose
    assert bench.station.ext is not None
    installed = sorted((p.purpose, p.profile_id) for p in bench.station.ext.profiles)
    assert installed == [("TxDefaultProfile", 21), ("TxProfile", 11)]
    if not v16:
        later = (wall(bench, 3600), wall(bench, 7200))
        apart = profile(version, 1, "TxDefaultProfile", 8000, profile_id=23, stack_level=2)
        assert set_profile(bench, apart) == "Rejected"  # valid always: overlaps
        apart["chargingProfile"]["validFrom"], apart["chargingProfile"]["validTo"] = later
        first_until = profile(version, 1, "TxDefaultProfile", 9000, profile_id=21, stack_level=2)
        first_until["chargingProfile"]["validTo"] = wall(bench, 1800)
        assert set_profile(bench, first_until) == "Accepted"  # id 21 again, valid 30 min
        assert set_profile(bench, apart) == "Accepted"  # after it: no overlap


@pytest.mark.parametrize("version", VERSIONS)
def test_clear_charging_profile(version: str) -> None:
    """ClearChargingProfile by id or by criteria: Accepted and the limit is gone; Unknown
    when nothing matches (K10.FR.01)."""
    bench = charging(version)
    assert (
        set_profile(bench, profile(version, 1, "TxDefaultProfile", 6000, profile_id=5))
        == "Accepted"
    )
    bench.run(30)
    assert power_of(bench) == 6000
    by_id = {"id": 5} if version == "1.6" else {"chargingProfileId": 5}
    assert status_of(bench.server_call("ClearChargingProfile", by_id)) == "Accepted"
    assert status_of(bench.server_call("ClearChargingProfile", by_id)) == "Unknown"
    bench.run(30)
    assert power_of(bench) == 22_000


@pytest.mark.parametrize("version", VERSIONS)
def test_composite_schedule(version: str) -> None:
    """GetCompositeSchedule: the limits from now, a period per change, in the asked unit;
    the charger's own maximum where no profile limits (K08.FR.02/04); the start is
    scheduleStart (1.6 errata 3.57: the chargingSchedule carries no startSchedule)."""
    bench = booted(version, connectors=1, session=Session(power_w=22_000))
    start = wall(bench)
    periods = [{"startPeriod": 0, "limit": 11000}, {"startPeriod": 300, "limit": 3680}]
    request = profile(
        version, 1, "TxDefaultProfile", 0, periods=periods, kind="Absolute", start=start
    )
    assert set_profile(bench, request) == "Accepted"
    ask: dict[str, Any] = {"duration": 600, "chargingRateUnit": "A"}
    ask["connectorId" if version == "1.6" else "evseId"] = 1
    answer = bench.server_call("GetCompositeSchedule", ask)[2]
    assert answer["status"] == "Accepted"
    schedule = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
    assert schedule["chargingRateUnit"] == "A" and schedule["duration"] == 600
    assert (answer if version == "1.6" else schedule)["scheduleStart"] == wall(bench)
    assert "startSchedule" not in schedule
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 15.9),
        (300, 5.3),
    ]
    ask["chargingRateUnit"] = "W"
    ask["duration"] = 100
    answer = bench.server_call("GetCompositeSchedule", ask)[2]
    schedule = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
    assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
        (0, 11000)
    ]
    ask["connectorId" if version == "1.6" else "evseId"] = 5
    assert status_of(bench.server_call("GetCompositeSchedule", ask)) == "Rejected"


def test_get_charging_profiles_reports_them() -> None:
    """2.0.1 GetChargingProfiles: Accepted and a ReportChargingProfiles per EVSE with the
    request's id, tbc on all but the last (K09); NoProfiles when none match."""
    bench = booted("2.0.1", connectors=2)
    assert set_profile(bench, profile("2.0.1", 1, "TxDefaultProfile", 7000)) == "Accepted"
    assert (
        set_profile(bench, profile("2.0.1", 2, "TxDefaultProfile", 5000, profile_id=2))
        == "Accepted"
    )
    ask = {"requestId": 77, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}
    assert status_of(bench.server_call("GetChargingProfiles", ask)) == "Accepted"
    bench.run(1)
    reports = [c.payload for c in bench.named("ReportChargingProfiles")]
    assert [(r["requestId"], r["evseId"], r["tbc"], r["chargingLimitSource"]) for r in reports] == [
        (77, 1, True, "CSO"),
        (77, 2, False, "CSO"),
    ]
    assert reports[1]["chargingProfile"][0]["id"] == 2
    none = {"requestId": 78, "chargingProfile": {"stackLevel": 5}}
    assert status_of(bench.server_call("GetChargingProfiles", none)) == "NoProfiles"


def test_an_energy_managers_limit_is_notified() -> None:
    """2.0.1: a model whose energy manager limits it sends NotifyChargingLimit (source EMS)
    at power-up (K12.FR.02), reports the limit as ChargingStationExternalConstraints
    (K12.FR.05), and the limit caps the power."""
    model = ChargerModel("ems", max_power_w=22_000, external_limit_w=9000)
    bench = booted(
        "2.0.1",
        fleet=FleetSpec(models=(model,)),
        configuration=(("meter_values_sampled_data", POWER),),
    )
    (notify,) = [c.payload for c in bench.named("NotifyChargingLimit")]
    assert notify["chargingLimit"]["chargingLimitSource"] == "EMS"
    ask = {"requestId": 1, "chargingProfile": {"chargingLimitSource": ["EMS"]}}
    assert status_of(bench.server_call("GetChargingProfiles", ask)) == "Accepted"
    bench.run(1)
    (report,) = [c.payload for c in bench.named("ReportChargingProfiles")]
    assert (
        report["chargingProfile"][0]["chargingProfilePurpose"]
        == "ChargingStationExternalConstraints"
    )
    assert remote_start(bench, 1) == "Accepted"
    bench.run(31)
    assert power_of(bench) == 9000


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("authorize_first", [False, True])
def test_a_remote_starts_profile_applies_to_its_session(
    version: str, authorize_first: bool
) -> None:
    """RemoteStartTransaction / RequestStartTransaction with a TxProfile: it limits that
    session and goes with it (1.6 5.11, F01.FR.08), also when the start Authorizes first
    (AuthorizeRemoteTxRequests / AuthorizeRemoteStart) and the transaction comes later."""
    bench = booted(
        version,
        session=Session(meter_interval_s=30),
        configuration=(
            ("meter_values_sampled_data", POWER),
            ("authorize_remote_start", "true" if authorize_first else "false"),
        ),
    )
    body = profile(version, 1, "TxProfile", 4000)
    if version == "1.6":
        payload: dict[str, Any] = {
            "idTag": "TAG",
            "connectorId": 1,
            "chargingProfile": body["csChargingProfiles"],
        }
        action = "RemoteStartTransaction"
    else:
        payload = {
            "idToken": {"idToken": "TAG", "type": "ISO14443"},
            "remoteStartId": 3,
            "evseId": 1,
            "chargingProfile": body["chargingProfile"],
        }
        action = "RequestStartTransaction"
    assert status_of(bench.server_call(action, payload)) == "Accepted"
    bench.run(31)
    assert len(bench.named("Authorize")) == (1 if authorize_first else 0)
    assert power_of(bench) == 4000
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert bench.station.ext is not None and bench.station.ext.profiles == []


def test_smart_charging_missing_from_the_model_is_not_supported() -> None:
    """A model without the SmartCharging profile answers CALLERROR NotSupported (K01.FR.29)."""
    model = ChargerModel("basic", feature_profiles=("Core", "RemoteTrigger"))
    bench = booted("1.6", fleet=FleetSpec(models=(model,)))
    answer = bench.server_call("SetChargingProfile", profile("1.6", 1, "TxDefaultProfile", 1000))
    assert answer[0] == 4 and answer[2] == "NotSupported"
    assert bench.server_call("GetLocalListVersion", {})[2] == {"listVersion": -1}


# -- firmware ---------------------------------------------------------------------------------


def update(
    bench: Bench, *, signed: bool = False, location: str = "https://fw.example/fw-2.0.bin"
) -> Any:
    """UpdateFirmware (1.6: SignedUpdateFirmware when ``signed``) to retrieve now."""
    if bench.version == "1.6" and not signed:
        return bench.server_call(
            "UpdateFirmware", {"location": location, "retrieveDate": wall(bench)}
        )
    firmware: dict[str, Any] = {"location": location, "retrieveDateTime": wall(bench)}
    if signed:
        firmware.update(signingCertificate="-----BEGIN CERTIFICATE-----", signature="c2lnbmF0dXJl")
    action = "SignedUpdateFirmware" if bench.version == "1.6" else "UpdateFirmware"
    return bench.server_call(action, {"requestId": 31, "firmware": firmware})


@pytest.mark.parametrize(
    ("kind", "legacy", "signed"),
    [
        ("signed", "NotSupported", "Accepted"),  # security whitepaper, L01: no legacy update
        ("legacy", "Accepted", "NotImplemented"),  # no whitepaper: the call is unknown
        ("both", "Accepted", "Accepted"),
    ],
)
def test_the_models_firmware_update_kind_decides_which_call_it_takes(
    kind: str, legacy: str, signed: str
) -> None:
    """1.6: a charger of the security whitepaper answers a legacy UpdateFirmware with
    CALLERROR NotSupported and starts no update; one without it does not know
    SignedUpdateFirmware. What is refused leaves no FirmwareStatusNotification."""
    for call_signed, expected in ((False, legacy), (True, signed)):
        model = ChargerModel("m", firmware_update=kind)
        spec = FleetSpec(models=(model,), firmware=FirmwareUpdates(download_s=5, install_s=5))
        bench = booted("1.6", fleet=spec, reboot_s=2)
        answer = update(bench, signed=call_signed)
        if expected == "Accepted":
            assert answer[0] == 3
            assert call_signed is False or status_of(answer) == "Accepted"
        else:
            assert answer[0] == 4 and answer[2] == expected
        bench.run(30)
        assert bool(firmware_statuses(bench)) is (expected == "Accepted")
        assert bench.counters.reboots == (1 if expected == "Accepted" else 0)


def firmware_statuses(bench: Bench) -> list[str]:
    return [
        c.payload["status"]
        for c in bench.calls
        if c.action in ("FirmwareStatusNotification", "SignedFirmwareStatusNotification")
    ]


@pytest.mark.parametrize(
    ("version", "signed", "expected"),
    [
        ("1.6", False, ["Downloading", "Downloaded", "Installing", "Installed"]),
        (
            "1.6",
            True,
            [
                "Downloading",
                "Downloaded",
                "SignatureVerified",
                "Installing",
                "InstallRebooting",
                "Installed",
            ],
        ),
        (
            "2.0.1",
            False,
            ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"],
        ),
        (
            "2.0.1",
            True,
            [
                "Downloading",
                "Downloaded",
                "SignatureVerified",
                "Installing",
                "InstallRebooting",
                "Installed",
            ],
        ),
    ],
)
def test_firmware_update_installs_reboots_and_boots_the_new_version(
    version: str, signed: bool, expected: list[str]
) -> None:
    """UpdateFirmware: each step reported on time (L01.FR.01; 1.6 4.5), a reboot, a boot
    with the new firmware version (2.0.1 reason FirmwareUpdate), then Installed from the
    new firmware (L01.FR.32 (a)) and, in 2.0.1, SecurityEvent FirmwareUpdated (L01.FR.31)
    before the new boot's StartupOfTheDevice (A04.FR.01)."""
    spec = FleetSpec(firmware=FirmwareUpdates(download_s=20, install_s=10))
    bench = booted(version, fleet=spec, reboot_s=2)
    answer = update(bench, signed=signed)
    if version != "1.6" or signed:
        assert status_of(answer) == "Accepted"
    bench.run(60)
    assert firmware_statuses(bench) == expected
    boots = bench.named("BootNotification")
    assert len(boots) == 2 and bench.counters.reboots == 1
    said = boots[1].payload
    firmware = (
        said["firmwareVersion"] if version == "1.6" else said["chargingStation"]["firmwareVersion"]
    )
    assert firmware == "fw-2.0"
    if version != "1.6":
        assert said["reason"] == "FirmwareUpdate"
        assert [c.payload["type"] for c in bench.named("SecurityEventNotification")] == [
            "StartupOfTheDevice",  # the first boot's
            "FirmwareUpdated",
            "StartupOfTheDevice",
        ]
        assert {c.payload["requestId"] for c in bench.named("FirmwareStatusNotification")} == {31}
    times = {c.payload["status"]: c.at for c in bench.calls if "Firmware" in c.action}
    assert times["Downloaded"] - times["Downloading"] == pytest.approx(20, abs=0.1)
    assert bench.counters.firmware_installed == 1


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_an_update_installs_at_its_install_time(version: str) -> None:
    """An installDateTime to come: InstallScheduled after the download, and the install
    at that time (L01.FR.16), not before; sessions may start meanwhile."""
    spec = FleetSpec(firmware=FirmwareUpdates(download_s=5, install_s=5))
    bench = booted(version, fleet=spec, reboot_s=2)
    firmware = {
        "location": "http://127.0.0.1/fw-2.0.bin",
        "retrieveDateTime": wall(bench),
        "installDateTime": wall(bench, 100),
    }
    answer = bench.server_call("UpdateFirmware", {"requestId": 31, "firmware": firmware})
    assert status_of(answer) == "Accepted"
    install_at = bench.now + 100
    bench.run(60)
    assert firmware_statuses(bench) == ["Downloading", "Downloaded", "InstallScheduled"]
    assert remote_start(bench, 1) == "Accepted"  # not held back by the update yet
    bench.run(1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(100)
    assert firmware_statuses(bench) == [
        "Downloading",
        "Downloaded",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    (installing,) = [c.at for c in bench.calls if c.payload.get("status") == "Installing"]
    assert installing == pytest.approx(install_at, abs=0.1)
    assert {c.payload["requestId"] for c in bench.named("FirmwareStatusNotification")} == {31}


@pytest.mark.parametrize(
    ("version", "step", "expected"),
    [
        ("1.6", "download", ["Downloading", "DownloadFailed"]),
        ("1.6", "install", ["Downloading", "Downloaded", "Installing", "InstallationFailed"]),
        ("2.0.1", "signature", ["Downloading", "Downloaded", "InvalidSignature"]),
    ],
)
def test_a_failed_update_says_where_it_failed(version: str, step: str, expected: list[str]) -> None:
    """A failing share of updates reports DownloadFailed, InstallationFailed or (a signed
    update) InvalidSignature with SecurityEvent InvalidFirmwareSignature (L01.FR.03), and
    does not reboot."""
    spec = FleetSpec(
        firmware=FirmwareUpdates(download_s=5, install_s=5, failure_share=1.0, failure_step=step)
    )
    bench = booted(version, fleet=spec)
    update(bench, signed=step == "signature")
    bench.run(30)
    assert firmware_statuses(bench) == expected
    assert len(bench.named("BootNotification")) == 1 and bench.counters.firmware_failed == 1
    if step == "signature":
        assert [c.payload["type"] for c in bench.named("SecurityEventNotification")] == [
            "StartupOfTheDevice",  # the boot's (A04.FR.01)
            "InvalidFirmwareSignature",
        ]


@pytest.mark.parametrize("version", VERSIONS)
def test_installation_waits_for_the_session(version: str) -> None:
    """A downloaded update waits until the session ends before it installs (L01.FR.06);
    meanwhile free connectors are Unavailable and no session starts (L01.FR.07)."""
    spec = FleetSpec(firmware=FirmwareUpdates(download_s=5, install_s=5))
    bench = booted(version, connectors=2, fleet=spec, reboot_s=1)
    assert remote_start(bench, 1) == "Accepted"
    bench.run(1)
    update(bench)
    bench.run(20)
    assert "Installing" not in firmware_statuses(bench)
    assert (2, "Unavailable") in bench.statuses()
    assert remote_start(bench, 2) == "Rejected"
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(30)
    assert "Installed" in firmware_statuses(bench)


@pytest.mark.parametrize("version", VERSIONS)
def test_triggered_firmware_status(version: str) -> None:
    """TriggerMessage FirmwareStatusNotification: Idle when no update runs (1.6 4.5,
    L01.FR.25), the last status while one does (L01.FR.26)."""
    spec = FleetSpec(firmware=FirmwareUpdates(download_s=100))
    bench = booted(version, fleet=spec)
    trigger = {"requestedMessage": "FirmwareStatusNotification"}
    assert status_of(bench.server_call("TriggerMessage", trigger)) == "Accepted"
    bench.run(1)
    update(bench)
    bench.run(5)
    assert status_of(bench.server_call("TriggerMessage", trigger)) == "Accepted"
    bench.run(1)
    assert firmware_statuses(bench) == ["Idle", "Downloading", "Downloading"]


# -- diagnostics and logs ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_log_upload_reports_its_outcome(version: str) -> None:
    """GetDiagnostics (1.6) / GetLog (2.0.1): the file name, Uploading, the driver's
    upload to the URL, then Uploaded; a failed upload is UploadFailed / UploadFailure."""
    bench = booted(version)
    url = "http://127.0.0.1:9/upload/"
    for ok, outcome in (
        (True, "Uploaded"),
        (False, "UploadFailed" if version == "1.6" else "UploadFailure"),
    ):
        if version == "1.6":
            answer = bench.server_call("GetDiagnostics", {"location": url})[2]
            assert answer["fileName"].endswith(".log")
        else:
            ask = {"logType": "DiagnosticsLog", "requestId": 8, "log": {"remoteLocation": url}}
            answer = bench.server_call("GetLog", ask)[2]
            assert answer["status"] == "Accepted" and answer["filename"].endswith(".log")
        bench.run(1)
        upload = bench.uploads[-1]
        assert upload.url == url and upload.size == 4096
        bench.uploaded(ok)
        bench.run(1)
        action = "DiagnosticsStatusNotification" if version == "1.6" else "LogStatusNotification"
        statuses = [c.payload["status"] for c in bench.named(action)][-2:]
        assert statuses == ["Uploading", outcome]
        if version != "1.6":
            assert {c.payload["requestId"] for c in bench.named(action)} == {8}
    assert (bench.counters.uploads_ok, bench.counters.uploads_failed) == (1, 1)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_a_new_get_log_cancels_the_upload_under_way(version: str) -> None:
    """A GetLog during an upload is answered AcceptedCanceled and the cancelled upload is
    reported AcceptedCanceled, with its requestId, before the new one's Uploading
    (N01.FR.12/20); the cancelled upload's end is not reported."""
    bench = booted(version)

    def get_log(request_id: int) -> str:
        log = {"remoteLocation": "http://127.0.0.1:9/upload/"}
        ask = {"logType": "DiagnosticsLog", "requestId": request_id, "log": log}
        return status_of(bench.server_call("GetLog", ask))

    assert get_log(31) == "Accepted"
    bench.run(1)
    first = bench.uploads[-1]
    assert get_log(32) == "AcceptedCanceled"
    bench.run(1)
    bench.uploaded(True, first)
    bench.uploaded(True)
    bench.run(1)
    reported = [
        (c.payload["status"], c.payload["requestId"]) for c in bench.named("LogStatusNotification")
    ]
    assert reported == [
        ("Uploading", 31),
        ("AcceptedCanceled", 31),
        ("Uploading", 32),
        ("Uploaded", 32),
    ]


def test_an_ftp_location_fails_at_once() -> None:
    """A location this charger cannot upload to (FTP) fails without an upload."""
    bench = booted("1.6")
    bench.server_call("GetDiagnostics", {"location": "ftp://csms.example/logs/"})
    bench.run(1)
    assert bench.uploads == []
    assert [c.payload["status"] for c in bench.named("DiagnosticsStatusNotification")] == [
        "Uploading",
        "UploadFailed",
    ]


# -- reservations -----------------------------------------------------------------------------


def reserve(
    bench: Bench, reservation_id: int, connector_id: int | None, tag: str, expiry_s: float
) -> str:
    if bench.version == "1.6":
        payload: dict[str, Any] = {
            "connectorId": connector_id or 0,
            "expiryDate": wall(bench, expiry_s),
            "idTag": tag,
            "reservationId": reservation_id,
        }
    else:
        payload = {
            "id": reservation_id,
            "expiryDateTime": wall(bench, expiry_s),
            "idToken": {"idToken": tag, "type": "ISO14443"},
        }
        if connector_id is not None:
            payload["evseId"] = connector_id
    return status_of(bench.server_call("ReserveNow", payload))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_admits_only_its_tag(version: str) -> None:
    """ReserveNow: Reserved (H01.FR.23); another tag cannot start (F02.FR.23/24), the
    reserved one can, and its start carries the reservationId (H01.FR.15)."""
    bench = booted(version, connectors=2)
    assert reserve(bench, 5, 2, "MINE", 600) == "Accepted"
    bench.run(1)
    assert bench.statuses()[-1] == (2, "Reserved")
    assert remote_start(bench, 2, tag="OTHER") == "Rejected"
    assert reserve(bench, 6, 2, "MINE", 600) == "Occupied"  # H01.FR.11
    assert remote_start(bench, 2, tag="MINE") == "Accepted"
    bench.run(1)
    start = bench.tx_messages()[0].payload
    assert start["reservationId"] == 5
    assert bench.counters.reservations_used == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_refused_session_of_the_reserved_tag_leaves_the_reservation(version: str) -> None:
    """Only a transaction of the reserved tag ends a reservation (1.6 5.13, H01): its
    remote start Authorized first and refused leaves the connector Reserved, for that
    tag only, and the reservation can still be cancelled."""
    key = "idTagInfo" if version == "1.6" else "idTokenInfo"
    bench = booted(version, connectors=1, answers={"Authorize": {key: {"status": "Invalid"}}})
    set_setting(bench, "AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "true")
    assert reserve(bench, 11, 1, "MINE", 600) == "Accepted"
    assert remote_start(bench, 1, tag="MINE") == "Accepted"
    bench.run(2)
    assert [c.action for c in bench.named("Authorize")] == ["Authorize"]
    assert bench.tx_messages() == [] and bench.statuses()[-1] == (1, "Reserved")
    assert remote_start(bench, 1, tag="OTHER") == "Rejected"
    assert status_of(bench.server_call("CancelReservation", {"reservationId": 11})) == "Accepted"
    bench.run(1)
    assert bench.statuses()[-1] == (1, "Available")
    assert bench.counters.reservations_used == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_fault_while_the_reserved_tag_authorizes_removes_the_reservation(
    version: str,
) -> None:
    """A fault while the reserved tag's remote start waits for its Authorize removes the
    reservation (1.6 5.13, H01.FR.16: 2.x ReservationStatusUpdate Removed), and nothing
    of that session is left: the next transaction there names no reservation."""
    bench = make(version, connectors=1, latency_s=3.0)
    bench.run(15)  # the boot and the statuses, 3 s each way
    assert bench.booted == 1
    set_setting(bench, "AuthorizeRemoteTxRequests", "AuthCtrlr.AuthorizeRemoteStart", "true")
    assert reserve(bench, 12, 1, "MINE", 600) == "Accepted"
    bench.run(8)
    assert remote_start(bench, 1, tag="MINE") == "Accepted"
    bench.run(1)  # the Authorize is out, its answer 3 s away
    bench.feed(bench.station.set_status(bench.now, 1, "Faulted"))
    bench.run(5)
    ext = bench.station.ext
    assert ext is not None and ext.claimed == {} and ext.reservations == {}
    if version != "1.6":
        updates = [c.payload for c in bench.named("ReservationStatusUpdate")]
        assert updates == [{"reservationId": 12, "reservationUpdateStatus": "Removed"}]
    bench.feed(bench.station.set_status(bench.now, 1, "Available"))
    assert remote_start(bench, 1, tag="OTHER") == "Accepted"
    bench.run(30)
    (start,) = [c.payload for c in bench.tx_messages()][:1]
    assert "reservationId" not in start and bench.counters.reservations_used == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_expires_on_time(version: str) -> None:
    """At its expiry the connector is Available again; 2.0.1 says so with
    ReservationStatusUpdate Expired. A cancelled one is Available at once."""
    bench = booted(version, connectors=2)
    assert reserve(bench, 7, 1, "MINE", 30) == "Accepted"
    bench.run(29)
    assert bench.statuses()[-1] == (1, "Reserved")
    bench.run(2)
    assert bench.statuses()[-1] == (1, "Available")
    if version != "1.6":
        (update,) = [c.payload for c in bench.named("ReservationStatusUpdate")]
        assert update == {"reservationId": 7, "reservationUpdateStatus": "Expired"}
    assert reserve(bench, 8, 2, "MINE", 300) == "Accepted"
    assert status_of(bench.server_call("CancelReservation", {"reservationId": 8})) == "Accepted"
    assert status_of(bench.server_call("CancelReservation", {"reservationId": 8})) == "Rejected"
    bench.run(1)
    assert bench.statuses()[-1] == (2, "Available")
    assert (bench.counters.reservations_expired, bench.counters.reservations_cancelled) == (1, 1)


@pytest.mark.parametrize("version", VERSIONS)
def test_reservation_refusals(version: str) -> None:
    """Unavailable on an Inoperative connector (H01.FR.14), Rejected for any connector
    unless the charger allows it (H01.FR.19), and replaced when its id comes again."""
    bench = booted(version, connectors=2)
    kind = (
        {"connectorId": 1, "type": "Inoperative"}
        if version == "1.6"
        else {"operationalStatus": "Inoperative", "evse": {"id": 1}}
    )
    assert status_of(bench.server_call("ChangeAvailability", kind)) == "Accepted"
    assert reserve(bench, 1, 1, "MINE", 60) == "Unavailable"
    assert reserve(bench, 1, None, "MINE", 60) == "Rejected"
    assert reserve(bench, 1, 2, "MINE", 60) == "Accepted"
    assert reserve(bench, 1, 2, "YOURS", 60) == "Accepted"  # the same id: replaced
    assert remote_start(bench, 2, tag="YOURS") == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_admits_its_tag_in_any_case(version: str) -> None:
    """idTags are case-insensitive (1.6 7.28, errata 3.74): a reservation for ``R1``
    takes ``r1``."""
    bench = booted(version, connectors=1)
    assert reserve(bench, 3, 1, "R1", 600) == "Accepted"
    assert remote_start(bench, 1, tag="r1") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[0].payload["reservationId"] == 3


ANY = (("reserve_unspecified", "true"),)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_of_connector_zero_holds_no_connector(version: str) -> None:
    """A reservation of connector 0 / no EVSE holds no specific connector: other tags
    start while another connector stays free, the last free one is kept for the reserved
    tag, which starts there. 1.6 reports no connector Reserved (5.13: "SHALL NOT reserve
    a specific connector"); 2.x reports the last free EVSE Reserved once it is the only
    one left for the reservation (H01.FR.20)."""
    bench = booted(version, connectors=2, configuration=ANY)
    since = len(bench.calls)
    assert reserve(bench, 9, None, "MINE", 600) == "Accepted"
    bench.run(1)
    assert [s for s in bench.statuses(since) if s[1] == "Reserved"] == []  # 2 free, 1 held
    assert remote_start(bench, 1, tag="OTHER") == "Accepted"
    bench.run(1)
    reserved = [s for s in bench.statuses(since) if s[1] == "Reserved"]
    assert reserved == ([] if version == "1.6" else [(2, "Reserved")])
    assert remote_start(bench, 2, tag="ANOTHER") == "Rejected"  # the last free one
    assert remote_start(bench, None, tag="ANOTHER") == "Rejected"
    with pytest.raises(StepRefused):
        bench.station.plug_in(bench.now, 2, "ANOTHER")
    assert remote_start(bench, 2, tag="mine") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[-1].payload["reservationId"] == 9
    assert bench.counters.reservations_used == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_remote_start_for_an_ev_plugged_in_leaves_the_reserved_connector(version: str) -> None:
    """With a reservation of connector 0 / no EVSE, an EV plugged in on one connector
    ("cable plugin first") takes the server's start for another tag: its connector is in
    use already, and the other one stays free for the reservation."""
    bench = booted(version, connectors=2, configuration=ANY)
    assert reserve(bench, 9, None, "MINE", 600) == "Accepted"
    bench.feed(bench.station.plug_in(bench.now, 1, "DRIVER"))
    bench.run(1)
    assert remote_start(bench, 1, tag="APP") == "Accepted"
    bench.run(1)
    assert bench.station.connectors[0].tx is not None
    assert remote_start(bench, 2, tag="ANOTHER") == "Rejected"  # kept for the reservation
    assert remote_start(bench, 2, tag="MINE") == "Accepted"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_reservations_of_no_evse_mark_the_evses_left(version: str) -> None:
    """Two reservations without evseId on two Available EVSEs are Accepted (H01.FR.04)
    and both EVSEs are reported Reserved (H01.FR.20); a third is Occupied (H01.FR.11).
    One used by its tag leaves the other EVSE Reserved only while the Available EVSEs are
    as many as the reservations; cancelling the last one makes it Available."""
    bench = booted(version, connectors=2, configuration=ANY)
    since = len(bench.calls)
    assert reserve(bench, 1, None, "R1", 600) == "Accepted"
    bench.run(1)
    assert bench.statuses(since) == []  # 2 Available, 1 held
    assert reserve(bench, 2, None, "R2", 600) == "Accepted"
    bench.run(1)
    assert sorted(bench.statuses(since)) == [(1, "Reserved"), (2, "Reserved")]
    assert reserve(bench, 3, None, "R3", 600) == "Occupied"
    assert remote_start(bench, 1, tag="OTHER") == "Rejected"
    since = len(bench.calls)
    assert remote_start(bench, 1, tag="R1") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[-1].payload["reservationId"] == 1
    assert bench.statuses(since) == [(1, "Occupied")]  # EVSE 2 stays Reserved, for R2
    assert remote_start(bench, 2, tag="OTHER") == "Rejected"
    since = len(bench.calls)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(5)
    assert bench.statuses(since) == [(1, "Available"), (2, "Available")]  # 2 for 1
    since = len(bench.calls)
    assert remote_start(bench, 1, tag="OTHER") == "Accepted"
    bench.run(1)
    assert bench.statuses(since) == [(1, "Occupied"), (2, "Reserved")]
    since = len(bench.calls)
    assert status_of(bench.server_call("CancelReservation", {"reservationId": 2})) == "Accepted"
    bench.run(1)
    assert bench.statuses(since) == [(2, "Available")]
    assert remote_start(bench, 2, tag="ANOTHER") == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_of_no_connector_is_replaced_by_its_id(version: str) -> None:
    """ReserveNow with the id of a held reservation replaces it (H01.FR.02; 1.6 5.13),
    also without a connector: the second is Accepted, and only its tag may use the last
    connector."""
    bench = booted(version, connectors=1, configuration=ANY)
    assert reserve(bench, 4, None, "FIRST", 600) == "Accepted"
    assert reserve(bench, 4, None, "SECOND", 600) == "Accepted"
    assert reserve(bench, 5, None, "THIRD", 600) == "Occupied"
    assert remote_start(bench, 1, tag="FIRST") == "Rejected"
    assert remote_start(bench, 1, tag="SECOND") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[-1].payload["reservationId"] == 4
    assert bench.counters.reservations_used == 1


def test_two_reservations_of_connector_zero_keep_two_connectors() -> None:
    """1.6 5.13: two reservations of connector 0 on two connectors are both Accepted and
    no connector is reported Reserved; another tag is refused while it would take a
    connector one of them needs; a reserved tag starts on any; once the other reservation
    is cancelled, the last free connector serves anyone."""
    bench = booted("1.6", connectors=2, configuration=ANY)
    since = len(bench.calls)
    assert reserve(bench, 1, None, "R1", 600) == "Accepted"
    assert reserve(bench, 2, None, "R2", 600) == "Accepted"
    assert reserve(bench, 3, None, "R3", 600) == "Occupied"
    assert remote_start(bench, 1, tag="OTHER") == "Rejected"
    assert remote_start(bench, 2, tag="R1") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[-1].payload["reservationId"] == 1
    assert remote_start(bench, 1, tag="OTHER") == "Rejected"  # the last free one, for R2
    assert [s for s in bench.statuses(since) if s[1] == "Reserved"] == []
    assert status_of(bench.server_call("CancelReservation", {"reservationId": 2})) == "Accepted"
    assert remote_start(bench, 1, tag="OTHER") == "Accepted"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_of_no_connector_expires(version: str) -> None:
    """At its expiry a reservation of no connector ends: 2.x sends ReservationStatusUpdate
    Expired and the EVSE it kept Reserved is Available again; another tag may start."""
    bench = booted(version, connectors=1, configuration=ANY)
    since = len(bench.calls)
    assert reserve(bench, 6, None, "MINE", 30) == "Accepted"
    bench.run(29)
    assert remote_start(bench, 1, tag="OTHER") == "Rejected"
    bench.run(2)
    expected = [] if version == "1.6" else [(1, "Reserved"), (1, "Available")]
    assert bench.statuses(since) == expected
    if version != "1.6":
        (update,) = [c.payload for c in bench.named("ReservationStatusUpdate")]
        assert update == {"reservationId": 6, "reservationUpdateStatus": "Expired"}
    assert bench.counters.reservations_expired == 1
    assert remote_start(bench, 1, tag="OTHER") == "Accepted"


def test_a_group_reservation_admits_the_group() -> None:
    """A reservation with a parentIdTag takes a tag whose parent (from the local list)
    is that parentIdTag (1.6 5.13, 3.10); a tag of another group is refused."""
    bench = booted("1.6", connectors=1)
    entries = [("CHILD", "Accepted"), ("STRANGER", "Accepted")]
    parents = {"CHILD": (None, "GROUP"), "STRANGER": (None, "ELSEWHERE")}
    assert send_list(bench, 1, True, entries, **parents) == "Accepted"
    payload = {
        "connectorId": 1,
        "expiryDate": wall(bench, 600),
        "idTag": "OWNER",
        "parentIdTag": "GROUP",
        "reservationId": 4,
    }
    assert status_of(bench.server_call("ReserveNow", payload)) == "Accepted"
    assert remote_start(bench, 1, tag="STRANGER") == "Rejected"
    assert remote_start(bench, 1, tag="CHILD") == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[0].payload["reservationId"] == 4


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
@pytest.mark.parametrize("evse_id", [1, None])
def test_a_group_reservation_admits_a_remote_start_of_the_group(
    version: str, evse_id: int | None
) -> None:
    """RequestStartTransaction with the reservation's groupIdToken may use a reservation
    of another idToken (F01.FR.21/22, F02.FR.23/24: refused only when neither matches);
    one of another group, or none, is refused; the start ends the reservation."""
    configuration = (("reserve_unspecified", "true"),)
    bench = booted(version, connectors=1, configuration=configuration)
    group = {"idToken": "G8", "type": "Central"}
    payload = {
        "id": 4,
        "expiryDateTime": wall(bench, 600),
        "idToken": {"idToken": "R8", "type": "ISO14443"},
        "groupIdToken": group,
    }
    if evse_id is not None:
        payload["evseId"] = evse_id
    assert status_of(bench.server_call("ReserveNow", payload)) == "Accepted"

    def start(group_token: dict[str, str] | None) -> str:
        request: dict[str, Any] = {
            "idToken": {"idToken": "OTHER", "type": "ISO14443"},
            "remoteStartId": 3,
        }
        if evse_id is not None:
            request["evseId"] = evse_id
        if group_token is not None:
            request["groupIdToken"] = group_token
        return status_of(bench.server_call("RequestStartTransaction", request))

    assert start(None) == "Rejected"
    assert start({"idToken": "G9", "type": "Central"}) == "Rejected"
    assert start({"idToken": "G8", "type": "Local"}) == "Rejected"  # another IdToken
    assert start(group) == "Accepted"
    bench.run(1)
    assert bench.tx_messages()[0].payload["reservationId"] == 4
    assert bench.counters.reservations_used == 1


# -- local authorization list and cache -------------------------------------------------------


def id_info(bench: Bench, status: str, expiry: str | None = None, parent: str | None = None) -> Any:
    """An idTagInfo (1.6) / idTokenInfo (2.0.1) with an optional expiry and parent tag."""
    info: dict[str, Any] = {"status": status}
    if bench.version == "1.6":
        if expiry is not None:
            info["expiryDate"] = expiry
        if parent is not None:
            info["parentIdTag"] = parent
    else:
        if expiry is not None:
            info["cacheExpiryDateTime"] = expiry
        if parent is not None:
            info["groupIdToken"] = {"idToken": parent, "type": "Central"}
    return info


def send_list(
    bench: Bench,
    version_number: int,
    full: bool,
    entries: list[tuple[str, str | None]],
    **extra: tuple[str | None, str | None],
) -> str:
    """SendLocalList of (tag, status or None); ``extra``: a tag's (expiry, parent)."""
    infos = {t: id_info(bench, s, *extra.get(t, (None, None))) for t, s in entries if s}
    if bench.version == "1.6":
        items = [{"idTag": t, **({"idTagInfo": infos[t]} if s else {})} for t, s in entries]
        payload: dict[str, Any] = {
            "listVersion": version_number,
            "updateType": "Full" if full else "Differential",
        }
        if items:
            payload["localAuthorizationList"] = items
    else:
        items = [
            {
                "idToken": {"idToken": t, "type": "ISO14443"},
                **({"idTokenInfo": infos[t]} if s else {}),
            }
            for t, s in entries
        ]
        payload = {
            "versionNumber": version_number,
            "updateType": "Full" if full else "Differential",
        }
        if items:
            payload["localAuthorizationList"] = items
    return status_of(bench.server_call("SendLocalList", payload))


def list_version(bench: Bench) -> int:
    answer = bench.server_call("GetLocalListVersion", {})[2]
    return int(answer["listVersion" if bench.version == "1.6" else "versionNumber"])


@pytest.mark.parametrize("version", VERSIONS)
def test_local_list_full_and_differential(version: str) -> None:
    """SendLocalList Full replaces the list, Differential adds, updates and removes; a
    Differential at or below the version is VersionMismatch (D01.FR.15-19)."""
    bench = booted(version)
    assert list_version(bench) == 0
    assert send_list(bench, 3, True, [("A", "Accepted"), ("B", "Blocked")]) == "Accepted"
    assert list_version(bench) == 3
    assert send_list(bench, 3, False, [("C", "Accepted")]) == "VersionMismatch"
    assert (
        send_list(bench, 4, False, [("C", "Accepted"), ("A", None), ("B", "Accepted")])
        == "Accepted"
    )
    assert bench.station.ext is not None
    # by casefolded tag (idTags are case-insensitive)
    assert bench.station.ext.local_list == {"b": IdInfo("Accepted"), "c": IdInfo("Accepted")}
    assert list_version(bench) == 4
    assert send_list(bench, 5, True, []) == "Accepted"  # D01.FR.04: emptied, versioned
    # 1.6 5.10: "0 SHALL be used to indicate that the local authorization list is empty"
    emptied = 0 if version == "1.6" else 5
    assert bench.station.ext.local_list is None and list_version(bench) == emptied
    assert send_list(bench, 5, False, [("D", "Accepted")]) == "VersionMismatch"
    assert send_list(bench, 6, False, [("D", "Accepted")]) == "Accepted"
    assert list_version(bench) == 6
    assert send_list(bench, 7, False, [("D", None)]) == "Accepted"
    assert list_version(bench) == (0 if version == "1.6" else 7)


@pytest.mark.parametrize("version", VERSIONS)
def test_local_list_version_while_the_list_is_disabled(version: str) -> None:
    """2.x: with LocalAuthListCtrlr.Enabled false the version is 0 (D02.FR.03), and the
    list's own again once enabled; 1.6 (5.10) answers its list's version either way."""
    bench = booted(version)
    assert send_list(bench, 5, True, [("A", "Accepted")]) == "Accepted"
    key, variable = "LocalAuthListEnabled", "LocalAuthListCtrlr.Enabled"
    assert set_setting(bench, key, variable, "false") == "Accepted"
    assert list_version(bench) == (5 if version == "1.6" else 0)
    assert set_setting(bench, key, variable, "true") == "Accepted"
    assert list_version(bench) == 5


@pytest.mark.parametrize("version", VERSIONS)
def test_local_pre_authorize_skips_authorize(version: str) -> None:
    """With LocalPreAuthorize, a tag Accepted in the local list starts without Authorize
    (C14.FR.02); one listed otherwise is Authorized with the CSMS (C14.FR.03)."""
    bench = booted(
        version, configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true"))
    )
    assert send_list(bench, 1, True, [("LISTED", "Accepted"), ("OLD", "Expired")]) == "Accepted"
    assert remote_start(bench, 1, tag="LISTED") == "Accepted"
    bench.run(1)
    assert bench.named("Authorize") == [] and len(bench.tx_messages()) == 1
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert remote_start(bench, 1, tag="OLD") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 1
    assert bench.counters.authorized_locally == 1


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_authorization_disabled_starts_without_authorize(version: str) -> None:
    """With AuthCtrlr.Enabled false no authorization is done: a remote start that
    AuthorizeRemoteStart would authorize starts at once, the token in its Started event."""
    bench = booted(version, configuration=(("authorize_remote_start", "true"),))
    assert set_setting(bench, "", "AuthCtrlr.Enabled", "false") == "Accepted"
    assert remote_start(bench, 1, tag="NOAUTH") == "Accepted"
    bench.run(1)
    (started,) = [c.payload for c in bench.tx_messages()]
    assert bench.named("Authorize") == []
    assert started["eventType"] == "Started" and started["idToken"]["idToken"] == "NOAUTH"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_cache_authorizes_and_clear_cache_empties_it(version: str) -> None:
    """With LocalPreAuthorize, a tag the CSMS accepted before starts from the cache
    (C12.FR.02); ClearCache empties it (C11.FR.03), so the next start asks again."""
    bench = booted(
        version, configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true"))
    )
    for _ in range(2):
        assert remote_start(bench, 1, tag="CACHED") == "Accepted"
        bench.run(1)
        assert remote_stop(bench, tx_id(bench)) == "Accepted"
        bench.run(1)
    assert len(bench.named("Authorize")) == 1
    assert status_of(bench.server_call("ClearCache", {})) == "Accepted"
    assert remote_start(bench, 1, tag="CACHED") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 2
    assert (
        set_setting(bench, "AuthorizationCacheEnabled", "AuthCacheCtrlr.Enabled", "false")
        == "Accepted"
    )
    assert status_of(bench.server_call("ClearCache", {})) == "Rejected"  # C11.FR.04


@pytest.mark.parametrize("version", VERSIONS)
def test_the_stops_answer_updates_the_cache(version: str) -> None:
    """The idTagInfo of StopTransaction.conf (1.6 4.10) / the idTokenInfo of the Ended
    event's answer (2.x C10) goes into the cache: a tag Blocked there is not started from
    the cache again (LocalPreAuthorize), it is Authorized with the CSMS."""

    def stop_answer(request: dict[str, Any]) -> dict[str, Any]:
        if version == "1.6":
            return {"idTagInfo": {"status": "Blocked"}}
        return {"idTokenInfo": {"status": "Blocked"}} if request["eventType"] == "Ended" else {}

    action = "StopTransaction" if version == "1.6" else "TransactionEvent"
    bench = booted(
        version,
        configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true")),
        answers={action: stop_answer},
    )
    assert remote_start(bench, 1, tag="LATER-BLOCKED") == "Accepted"
    bench.run(1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert remote_start(bench, 1, tag="LATER-BLOCKED") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 2


def authorize_offline(bench: Bench, tag: str) -> tuple[object, str | None]:
    """Lose the connection, then present ``tag``: the authorize step's (value, error)."""
    bench.drop()
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, tag, token))
    (answer,) = [a for a in bench.heard if isinstance(a, Answered) and a.token == token]
    return answer.value, answer.error


@pytest.mark.parametrize("version", VERSIONS)
def test_local_authorize_offline_governs_offline_authorization(version: str) -> None:
    """Offline, LocalAuthorizeOffline (not LocalPreAuthorize) decides whether the list
    and cache authorize a tag; online, LocalPreAuthorize decides (1.6 3.5)."""
    offline_only = (("local_authorize_offline", "true"), ("local_pre_authorize", "false"))
    bench = booted(version, configuration=offline_only)
    assert send_list(bench, 1, True, [("LISTED", "Accepted")]) == "Accepted"
    assert remote_start(bench, 1, tag="LISTED") == "Accepted"
    bench.run(1)
    assert bench.named("Authorize") == []  # a remote start needs none here
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, "LISTED", token))
    bench.run(1)
    assert len(bench.named("Authorize")) == 1  # online: no LocalPreAuthorize, so asked
    assert authorize_offline(bench, "LISTED") == ("Accepted", None)
    assert authorize_offline_after(version, (("local_pre_authorize", "true"),)) == (
        None,
        "not connected",
    )


def authorize_offline_after(version: str, configuration: Any) -> tuple[object, str | None]:
    """A tag the local list accepts, presented offline under ``configuration``."""
    bench = booted(version, configuration=configuration)
    assert send_list(bench, 1, True, [("LISTED", "Accepted")]) == "Accepted"
    return authorize_offline(bench, "LISTED")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_cache_serves_offline_authorization(version: str) -> None:
    """With LocalAuthorizeOffline alone, the cache still learns what the CSMS said of a
    tag (1.6 3.5.1), and authorizes that tag once offline."""
    bench = booted(version, configuration=(("local_authorize_offline", "true"),))
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, "CACHED", token))
    bench.run(1)
    assert len(bench.named("Authorize")) == 1
    assert authorize_offline(bench, "cached") == ("Accepted", None)  # case-insensitive


def present_offline(bench: Bench, tag: str) -> object:
    """Present ``tag`` while the link is down: the authorize step's value (None: refused,
    "not connected")."""
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, tag, token))
    (answer,) = [a for a in bench.heard if isinstance(a, Answered) and a.token == token]
    return answer.value


@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_tag_allowance_takes_the_accepted_entries_too(version: str) -> None:
    """Offline with AllowOfflineTxForUnknownId / OfflineTxForUnknownIdEnabled and without
    LocalAuthorizeOffline, a tag the local list (C13.FR.04) or the cache holds as Accepted
    is authorized like an unknown one; an entry Blocked or past its expiry refuses its tag
    (1.6 3.5.4, C13.FR.06)."""
    bench = booted(
        version,
        configuration=(
            ("allow_offline_tx_for_unknown_id", "true"),
            ("local_pre_authorize", "true"),
        ),
    )
    entries = [("LISTED", "Accepted"), ("BARRED", "Blocked"), ("OLD", "Accepted")]
    assert send_list(bench, 1, True, entries, OLD=(wall(bench, -5), None)) == "Accepted"
    token = bench.station.next_token()
    bench.feed(bench.station.authorize(bench.now, "CACHED", token))  # the cache learns it
    bench.run(1)
    assert len(bench.named("Authorize")) == 1
    bench.drop()
    assert present_offline(bench, "listed") == "Accepted"
    assert present_offline(bench, "CACHED") == "Accepted"
    assert present_offline(bench, "STRANGER") == "Accepted"
    assert present_offline(bench, "BARRED") is None
    assert present_offline(bench, "OLD") is None


@pytest.mark.parametrize("version", VERSIONS)
def test_an_entry_that_expires_during_an_outage_authorizes_nothing(version: str) -> None:
    """Expiry is judged at the moment the tag is presented, also when the CSMS has been
    silent since long before (offline: no server call brings the time): a list entry
    valid when the link dropped and expired since refuses its tag (1.6 3.5.4, C13)."""
    bench = booted(version, configuration=(("local_authorize_offline", "true"),))
    entries = [("SOON", "Accepted"), ("LATER", "Accepted")]
    expiries = {"SOON": (wall(bench, 60), None), "LATER": (wall(bench, 3600), None)}
    assert send_list(bench, 1, True, entries, **expiries) == "Accepted"
    bench.run(10)
    bench.refuse = [Failure("connect_refused")] * 100  # the link stays down
    bench.drop()
    assert present_offline(bench, "SOON") == "Accepted"  # valid yet
    bench.run(120)
    assert not bench.connected
    assert present_offline(bench, "LATER") == "Accepted"
    assert present_offline(bench, "SOON") is None  # expired at 60 s


@pytest.mark.parametrize("version", VERSIONS)
def test_expired_entries_authorize_nothing(version: str) -> None:
    """A list or cache entry past its expiryDate / cacheExpiryDateTime counts as Expired
    (1.6 3.5.1, 3.5.4): the tag is authorized with the CSMS again."""
    bench = booted(
        version, configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true"))
    )
    entries = [("OLD", "Accepted"), ("FRESH", "Accepted")]
    expiries = {"OLD": (wall(bench, 5), None), "FRESH": (wall(bench, 3600), None)}
    assert send_list(bench, 1, True, entries, **expiries) == "Accepted"
    for tag in ("OLD", "FRESH"):
        assert remote_start(bench, 1, tag=tag) == "Accepted"
        bench.run(1)
        assert remote_stop(bench, tx_id(bench)) == "Accepted"
        bench.run(1)
    assert bench.named("Authorize") == []  # both valid yet
    if version != "1.6":  # and says it checks expiry (C13.FR.05/06, C14.FR.04/05)
        variable = "LocalAuthListCtrlr.SupportsExpiryDateTime"
        assert get_setting(bench, "", variable) == "true"
        assert set_setting(bench, "", variable, "false") == "Rejected"  # read-only
    bench.run(10)
    for tag in ("OLD", "FRESH"):
        assert remote_start(bench, 1, tag=tag) == "Accepted"
        bench.run(1)
        assert remote_stop(bench, tx_id(bench)) == "Accepted"
        bench.run(1)
    assert [bench.station.dialect.authorize("OLD")[1]] == [
        c.payload for c in bench.named("Authorize")
    ]
    expiry = wall(bench, 5)
    if version == "1.6":  # every answer updates the cache: the start's too
        bench.answers["Authorize"] = {"idTagInfo": id_info(bench, "Accepted", expiry)}
        ids = iter(range(100, 200))
        bench.answers["StartTransaction"] = lambda p: {
            "transactionId": next(ids),
            "idTagInfo": id_info(bench, "Accepted", expiry),
        }
    else:
        bench.answers["Authorize"] = {"idTokenInfo": id_info(bench, "Accepted", expiry)}
    for _ in range(2):  # cached with its expiry: the second start is local
        assert remote_start(bench, 1, tag="NEW") == "Accepted"
        bench.run(1)
        assert remote_stop(bench, tx_id(bench)) == "Accepted"
        bench.run(1)
    assert len(bench.named("Authorize")) == 2
    bench.run(10)
    assert remote_start(bench, 1, tag="NEW") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 3  # expired in the cache


@pytest.mark.parametrize("version", VERSIONS)
def test_local_list_refuses_versions_below_one_and_full_entries_without_status(
    version: str,
) -> None:
    """SendLocalList with a version of 0 or -1 (the answers GetLocalListVersion keeps for
    no list and no support, 1.6 5.10) or a Full entry without a status (required when
    Full) is Failed, and the list stays as it was."""
    bench = booted(version)
    assert send_list(bench, 2, True, [("A", "Accepted")]) == "Accepted"
    assert send_list(bench, 0, True, [("B", "Accepted")]) == "Failed"
    assert send_list(bench, -1, True, [("B", "Accepted")]) == "Failed"
    assert send_list(bench, 3, True, [("B", "Accepted"), ("C", None)]) == "Failed"
    assert list_version(bench) == 2
    assert bench.station.ext is not None and bench.station.ext.local_list is not None
    assert set(bench.station.ext.local_list) == {"a"}


@pytest.mark.parametrize("version", VERSIONS)
def test_local_list_tags_are_case_insensitive(version: str) -> None:
    """idTags are CiString20 (1.6 7.28, errata 3.74): a tag listed as ``X`` authorizes
    ``x`` locally, and a Full list naming one tag twice in two cases is Failed."""
    bench = booted(
        version, configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true"))
    )
    assert send_list(bench, 1, True, [("X", "Accepted"), ("x", "Blocked")]) == "Failed"
    assert send_list(bench, 1, True, [("X", "Accepted")]) == "Accepted"
    assert remote_start(bench, 1, tag="x") == "Accepted"
    bench.run(1)
    assert bench.named("Authorize") == [] and len(bench.tx_messages()) == 1


def conflicts(bench: Bench) -> list[dict[str, Any]]:
    return [
        c.payload
        for c in bench.named("StatusNotification")
        if c.payload.get("errorCode") == "LocalListConflict"
    ]


def test_an_answer_the_local_list_contradicts_is_a_local_list_conflict() -> None:
    """1.6 3.5.2: a StartTransaction.conf or Authorize.conf whose status contradicts the
    local list gives a StatusNotification of connector 0 with LocalListConflict; one
    that agrees (ConcurrentTx counts as valid) gives none."""
    verdicts = {"LISTED": "Invalid", "AGREED": "ConcurrentTx"}
    ids = iter(range(1, 100))
    bench = booted(
        "1.6",
        answers={
            "StartTransaction": lambda p: {
                "transactionId": next(ids),
                "idTagInfo": {"status": verdicts.get(p["idTag"], "Accepted")},
            }
        },
        configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true")),
    )
    entries = [("LISTED", "Accepted"), ("AGREED", "Accepted"), ("BLOCKED", "Blocked")]
    assert send_list(bench, 1, True, entries) == "Accepted"
    assert remote_start(bench, 1, tag="AGREED") == "Accepted"
    bench.run(2)  # ConcurrentTx ends it (DeAuthorized)
    assert conflicts(bench) == []
    assert remote_start(bench, 1, tag="LISTED") == "Accepted"  # started locally
    bench.run(1)
    (conflict,) = conflicts(bench)
    assert (conflict["connectorId"], conflict["status"]) == (0, "Available")
    assert bench.named("StopTransaction")[-1].payload["reason"] == "DeAuthorized"
    assert remote_start(bench, 1, tag="BLOCKED") == "Accepted"  # asked: the CSMS accepts
    bench.run(1)
    assert len(bench.named("Authorize")) == 1
    assert len(conflicts(bench)) == 3  # the Authorize.conf and the StartTransaction.conf


@pytest.mark.parametrize("version", VERSIONS)
def test_the_reserved_driver_arrives(version: str) -> None:
    """On a charging charger, the next session on a Reserved connector is the reserved
    tag's: its start carries the reservationId and ends the reservation."""
    bench = booted(
        version,
        connectors=1,
        scenario=Scenario(idle=0, charging=1),
        session=Session(pause_s=20, duration_s=30),
    )
    assert bench.tx_messages() == []
    assert reserve(bench, 11, 1, "DRIVER", 600) == "Accepted"
    bench.run(30)
    (start,) = [c.payload for c in bench.tx_messages()][:1]
    tag = start["idTag"] if version == "1.6" else start["idToken"]["idToken"]
    assert (tag, start["reservationId"]) == ("DRIVER", 11)
    assert bench.counters.reservations_used == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reservation_outlives_a_reboot(version: str) -> None:
    """A reset's reboot keeps a reservation: the connector is reported Reserved after the
    boot, and the reservation still expires on time."""
    bench = booted(version, connectors=1, reboot_s=1)
    assert reserve(bench, 12, 1, "MINE", 60) == "Accepted"
    kind = "Soft" if version == "1.6" else "Immediate"
    assert status_of(bench.server_call("Reset", {"type": kind})) == "Accepted"
    bench.run(10)
    boot = bench.calls.index(bench.named("BootNotification")[-1])
    assert (1, "Reserved") in bench.statuses(boot)
    bench.run(60)
    assert bench.statuses()[-1] == (1, "Available")
    assert bench.counters.reservations_expired == 1
