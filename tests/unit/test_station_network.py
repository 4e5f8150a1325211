"""Network connection profiles in 2.0.1 and 2.1 (B09 SetNetworkProfile, B10 migrating
to another CSMS, A05 upgrading the security profile); 1.6 has none."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.config import Reconnect
from tests.unit.sim_csms import Bench, booted, get_setting, set_setting, status_of
from tests.unit.test_station_certificates import ROOT, install, pem

VERSIONS = ["2.0.1", "2.1"]
NEW = "ws://10.0.0.2:9000/ocpp"
NEWER = "ws://10.0.0.3:9000/ocpp"
PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"
ATTEMPTS = "OCPPCommCtrlr.NetworkProfileConnectionAttempts"
SECURITY = "SecurityCtrlr.SecurityProfile"
#: fast reconnects: 1 s, doubling to at most 4 s, no random part
FAST = Reconnect(initial_s=1, max_s=4, factor=2, random_range_s=0)


def data(url: str = NEW, security_profile: int = 0, timeout_s: int = 7, **extra: Any) -> dict:
    """A NetworkConnectionProfileType that a station can use."""
    return {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": timeout_s,
        "securityProfile": security_profile,
        "ocppInterface": "Wired0",
        **extra,
    }


def set_profile(bench: Bench, slot: int, connection: dict[str, Any]) -> tuple[str, str | None]:
    """SetNetworkProfile: the answer's status and statusInfo.reasonCode."""
    payload = {"configurationSlot": slot, "connectionData": connection}
    answer = bench.server_call("SetNetworkProfile", payload)
    status = status_of(answer)
    return status, answer[2].get("statusInfo", {}).get("reasonCode")


def priority(bench: Bench, value: str) -> str:
    return set_setting(bench, "", PRIORITY, value)


def reset(bench: Bench) -> None:
    assert status_of(bench.server_call("Reset", {"type": "Immediate"})) == "Accepted"


def fresh(version: str, **kwargs: Any) -> Bench:
    """A booted station with quick reboots and reconnects, its connects on record."""
    bench = booted(version, reboot_s=1.0, reconnect=FAST, **kwargs)
    assert bench.connect_urls == [None]  # the run's own target
    return bench


# -- SetNetworkProfile (B09) ---------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_usable_profile_is_stored_in_its_slot(version: str) -> None:
    """B09.FR.01: a valid profile for a slot of NetworkConfigurationPriority's valuesList
    is Accepted; the connection in use goes on (no move before a reboot)."""
    bench = fresh(version)
    assert set_profile(bench, 1, data()) == ("Accepted", None)
    assert set_profile(bench, 2, data("wss://csms.example:443/ocpp/", 2)) == ("Accepted", None)
    bench.run(5)
    assert bench.connected and bench.closes == [] and bench.connect_urls == [None]
    assert get_setting(bench, "", "OCPPCommCtrlr.ActiveNetworkProfile") == "0"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        (data(ocppTransport="SOAP"), "InvalidNetworkConf"),  # 2.0.1 speaks JSON only
        (data("http://10.0.0.2/ocpp"), "InvalidNetworkConf"),
        (data("ws://"), "InvalidNetworkConf"),  # no host
        (data("ws://10.0.0.2:99999/ocpp"), "InvalidNetworkConf"),  # no such port
        (data("ws://[::1/ocpp"), "InvalidNetworkConf"),
        (data("ws://10.0.0.2/ocpp?x=1"), "InvalidNetworkConf"),  # the id goes at the end
        (data("wss://10.0.0.2/ocpp", 1), "InvalidNetworkConf"),  # 0 and 1: ws://
        (data("ws://10.0.0.2/ocpp", 2), "InvalidNetworkConf"),  # 2 and 3: wss://
        (data(security_profile=4), "InvalidNetworkConf"),
        (data(security_profile=-1), "InvalidNetworkConf"),
        (data(timeout_s=0), "InvalidNetworkConf"),
        (
            data(vpn={"server": "vpn", "user": "u", "password": "p", "key": "k", "type": "IPSec"}),
            "UnsupportedParam",  # the station connects through the host's network
        ),
    ],
)
def test_content_the_station_cannot_use_is_rejected(
    version: str, connection: dict[str, Any], reason: str
) -> None:
    """B09.FR.02: invalid content is Rejected (reasonCode as errata 2025-09 gives it),
    and nothing is stored: a priority naming the slot is Rejected (B10.FR.02)."""
    bench = fresh(version)
    assert set_profile(bench, 1, connection) == ("Rejected", reason)
    assert priority(bench, "1,0") == "Rejected"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_slot_not_in_the_values_list_is_rejected(version: str) -> None:
    """B09.FR.05: a configurationSlot that NetworkConfigurationPriority's valuesList does
    not have is Rejected (reasonCode InvalidConfSlot); it has three (B09.FR.06)."""
    bench = fresh(version)
    for slot in (3, 999, -1):
        assert set_profile(bench, slot, data()) == ("Rejected", "InvalidConfSlot")
    answer = bench.server_call("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    found = [
        item
        for report in bench.named("NotifyReport")
        for item in report.payload.get("reportData", [])
        if item["variable"]["name"] == "NetworkConfigurationPriority"
    ]
    assert found[0]["variableCharacteristics"]["valuesList"] == "0,1,2"
    assert found[0]["variableAttribute"][0] == {
        "type": "Actual",
        "value": "0",
        "mutability": "ReadWrite",
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_a_lower_security_profile_is_rejected(version: str) -> None:
    """B09.FR.04: a profile below SecurityCtrlr.SecurityProfile is Rejected
    (NoSecurityDowngrade); the same one or a higher is Accepted."""
    bench = fresh(version, configuration=(("security_profile", "1"),))
    assert set_profile(bench, 1, data(security_profile=0)) == ("Rejected", "NoSecurityDowngrade")
    assert set_profile(bench, 1, data(security_profile=1)) == ("Accepted", None)
    assert set_profile(bench, 2, data("wss://h/ocpp", 2)) == ("Accepted", None)


@pytest.mark.parametrize("version", VERSIONS)
def test_profile_3_needs_a_client_certificate(version: str) -> None:
    """Security profile 3 authenticates the station with a TLS client certificate: with
    none in the run's TLS settings the profile is Rejected, with one Accepted."""
    bench = fresh(version)
    assert set_profile(bench, 1, data("wss://h/ocpp", 3)) == ("Rejected", "InvalidNetworkConf")
    bench = fresh(version, client_certificate=True)
    assert set_profile(bench, 1, data("wss://h/ocpp", 3)) == ("Accepted", None)


@pytest.mark.parametrize("version", VERSIONS)
def test_malformed_profiles_get_a_call_error(version: str) -> None:
    """A field of the wrong type or a missing required one is a CALLERROR, as for any
    call (Part 4 4.3)."""
    bench = fresh(version)
    answer = bench.server_call(
        "SetNetworkProfile", {"configurationSlot": 1, "connectionData": data(timeout_s="7")}
    )
    assert answer[0] == 4 and answer[2] == "TypeConstraintViolation"
    connection = data()
    del connection["ocppCsmsUrl"]
    answer = bench.server_call(
        "SetNetworkProfile", {"configurationSlot": 1, "connectionData": connection}
    )
    assert answer[0] == 4 and answer[2] == "FormatViolation"


def test_2_1_takes_its_own_identity_and_no_password() -> None:
    """2.1's NetworkConnectionProfileType: ocppVersion may be left out, identity may be
    the station's own id; another identity or a basicAuthPassword is not supported
    (UnsupportedParam), and the password shows nowhere."""
    bench = fresh("2.1")
    connection = data(identity="CP-1")
    del connection["ocppVersion"]
    assert set_profile(bench, 1, connection) == ("Accepted", None)
    assert set_profile(bench, 2, data(identity="CP-2")) == ("Rejected", "UnsupportedParam")
    secret = "s3cret-Passw0rd-0123"
    assert set_profile(bench, 2, data(basicAuthPassword=secret)) == (
        "Rejected",
        "UnsupportedParam",
    )
    assert secret not in repr(bench.answers_to_server) + repr(bench.reports)
    assert bench.passwords == []


def test_1_6_has_no_network_profiles() -> None:
    """1.6 knows no SetNetworkProfile: NotImplemented, as before."""
    bench = booted("1.6")
    answer = bench.server_call("SetNetworkProfile", {"configurationSlot": 1})
    assert answer[0] == 4 and answer[2] == "NotImplemented"


# -- NetworkConfigurationPriority (B10.FR.01/02, A05.FR.02) --------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_priority_lists_only_slots_with_profiles(version: str) -> None:
    """B10.FR.02: a priority naming an empty slot is Rejected (as a repeated slot or an
    empty list); B10.FR.01: else RebootRequired (the list is used after a reboot), and
    the same list again Accepted."""
    bench = fresh(version)
    assert priority(bench, "1,0") == "Rejected"
    assert priority(bench, "") == "Rejected"
    assert set_profile(bench, 1, data()) == ("Accepted", None)
    assert priority(bench, "1,1") == "Rejected"
    assert priority(bench, "3,0") == "Rejected"  # no such slot (B05.FR.07)
    assert get_setting(bench, "", PRIORITY) == "0"
    assert priority(bench, "1,0") == "RebootRequired"
    assert get_setting(bench, "", PRIORITY) == "1,0"
    assert priority(bench, "1,0") == "Accepted"
    bench.run(5)
    assert bench.connect_urls == [None] and bench.closes == []  # no move before a reboot


@pytest.mark.parametrize("version", VERSIONS)
def test_a_higher_tls_profile_needs_a_csms_root_certificate(version: str) -> None:
    """A05.FR.02: a slot of security profile 2 or 3 above the current one is Rejected in
    the priority while no CSMSRootCertificate is installed; with one it is taken."""
    bench = fresh(version)
    assert set_profile(bench, 1, data("wss://10.0.0.2/ocpp", 2)) == ("Accepted", None)
    assert priority(bench, "1,0") == "Rejected"
    assert get_setting(bench, "", PRIORITY) == "0"
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert priority(bench, "1,0") == "RebootRequired"


# -- moving (B10.FR.03/04/06/07, A05.FR.05/06) ----------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_after_a_reset_the_station_connects_to_the_first_entry(version: str) -> None:
    """B10.FR.04/06: after the reboot the station closes the old connection, connects to
    the first entry's URL and boots there (RemoteReset), with its messageTimeout for its
    calls; ActiveNetworkProfile names the slot."""
    bench = fresh(version)
    assert set_profile(bench, 1, data(timeout_s=7)) == ("Accepted", None)
    assert priority(bench, "1,0") == "RebootRequired"
    reset(bench)
    assert bench.closes == ["reset"] and bench.url == NEW  # told while offline
    bench.silent = {"BootNotification"}
    bench.run(2)
    assert bench.connect_urls == [None, NEW] and bench.connected
    boot = bench.named("BootNotification")[-1]
    assert boot.payload["reason"] == "RemoteReset"
    bench.run(7.5)
    timeouts = [r for r in bench.failures() if r.failure.category == "call_timeout"]
    assert [(r.name, round(r.response_time_ms)) for r in timeouts] == [("BootNotification", 7000)]
    bench.silent = set()
    bench.run(60)
    assert bench.booted == 2
    assert get_setting(bench, "", "OCPPCommCtrlr.ActiveNetworkProfile") == "1"
    assert get_setting(bench, "", "OCPPCommCtrlr.MessageTimeout:Default") == "7"


@pytest.mark.parametrize("version", VERSIONS)
def test_failed_entries_are_tried_in_turn_then_the_last_good_profile(version: str) -> None:
    """B10.FR.03: NetworkProfileConnectionAttempts connects per entry, then the next;
    B10.FR.07: when every entry failed, the profile of the last successful connection
    (here the run's target, not in the list any more), with the backoff, until it gets
    through."""
    bench = fresh(version)
    bench.refuse_urls = {NEW, NEWER, None}
    assert set_setting(bench, "", ATTEMPTS, "2") == "Accepted"
    assert set_profile(bench, 1, data(NEW)) == ("Accepted", None)
    assert set_profile(bench, 2, data(NEWER, timeout_s=9)) == ("Accepted", None)
    assert priority(bench, "2,1") == "RebootRequired"
    reset(bench)
    bench.run(30)
    urls = bench.connect_urls
    assert urls[:6] == [None, NEWER, NEWER, NEW, NEW, None]
    assert set(urls[6:]) == {None} and len(urls) > 7  # the last good one, again and again
    waits = [b - a for a, b in zip(bench.connect_tries[5:], bench.connect_tries[6:], strict=False)]
    assert waits == sorted(waits) and waits[-1] >= 4  # backing off to RetryBackOff's max
    bench.refuse_urls = set()
    bench.run(10)
    assert bench.connected and bench.booted == 2
    assert get_setting(bench, "", "OCPPCommCtrlr.ActiveNetworkProfile") == "0"
    assert get_setting(bench, "", "OCPPCommCtrlr.MessageTimeout:Default") == "30"
    assert get_setting(bench, "", PRIORITY) == "2,1"  # the list stays as the CSMS set it


@pytest.mark.parametrize("version", VERSIONS)
def test_a_lost_connection_walks_the_list_and_boots_where_it_lands(version: str) -> None:
    """B10.FR.03 (2025 errata: "After a reboot OR When connection to CSMS is lost"): the
    link to the CSMS the station moved to drops and that CSMS stays down; after
    NetworkProfileConnectionAttempts tries the station goes on to the next entry, the
    run's target, and boots there though it did not reboot (B10.FR.10). A lost
    connection whose first entry answers comes back to it, with no new boot."""
    bench = fresh(version)
    assert set_setting(bench, "", ATTEMPTS, "2") == "Accepted"
    assert set_profile(bench, 1, data()) == ("Accepted", None)
    assert priority(bench, "1,0") == "RebootRequired"
    reset(bench)
    bench.run(5)
    assert bench.connected and bench.booted == 2 and bench.connect_urls == [None, NEW]
    bench.drop()
    bench.run(5)
    assert bench.connect_urls == [None, NEW, NEW] and bench.booted == 2  # back, no boot
    bench.refuse_urls = {NEW}
    bench.drop()
    bench.run(20)
    assert bench.connect_urls == [None, NEW, NEW, NEW, NEW, None]
    assert bench.connected and bench.booted == 3, "a BootNotification where it landed"
    assert get_setting(bench, "", "OCPPCommCtrlr.ActiveNetworkProfile") == "0"
    bench.refuse_urls = set()
    bench.drop()  # the first entry again, and back on it: another move, another boot
    bench.run(5)
    assert bench.connect_urls[-1] == NEW and bench.connected and bench.booted == 4


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_url_for_the_slot_in_use_is_a_move_after_a_lost_connection(version: str) -> None:
    """The slot in use gets a new URL; the link drops and the station reconnects there:
    another back end, so a BootNotification, then every connector's status once Accepted
    (B10.FR.10, B01.FR.05)."""
    bench = fresh(version, connectors=2)
    assert set_profile(bench, 0, data(NEW)) == ("Accepted", None)
    statuses = len(bench.named("StatusNotification"))
    bench.drop()
    bench.run(5)
    assert bench.connect_urls == [None, NEW] and bench.connected and bench.booted == 2
    reported = {c.payload["evseId"] for c in bench.named("StatusNotification")[statuses:]}
    assert reported == {1, 2}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_password_reconnect_that_fails_goes_on_down_the_list(version: str) -> None:
    """The reconnect with a new password starts with the profile in use; when that CSMS
    does not answer, NetworkProfileConnectionAttempts later the next entry (B10.FR.03):
    the station is not stranded, and boots where it lands (B10.FR.10)."""
    bench = fresh(version)
    assert set_setting(bench, "", ATTEMPTS, "2") == "Accepted"
    assert set_profile(bench, 1, data(NEW, security_profile=1)) == ("Accepted", None)
    assert priority(bench, "0,1") == "RebootRequired"
    bench.refuse_urls = {None}
    assert (
        set_setting(bench, "", "SecurityCtrlr.BasicAuthPassword", "A-Fresh-Password-2026")
        == "Accepted"
    )
    bench.run(20)
    assert bench.connect_urls == [None, None, None, NEW], bench.connect_urls
    assert bench.connected and bench.booted == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_a_password_drops_the_slots_of_profile_0(version: str) -> None:
    """SecurityProfile 1 once a password came: a profile-0 slot would be a downgrade
    (A05.FR.06/07), so it goes, from the priority list too."""
    bench = fresh(version)
    assert set_profile(bench, 1, data(NEW)) == ("Accepted", None)
    assert priority(bench, "1,0") == "RebootRequired"
    assert (
        set_setting(bench, "", "SecurityCtrlr.BasicAuthPassword", "A-Fresh-Password-2026")
        == "Accepted"
    )
    bench.run(5)
    assert get_setting(bench, "", SECURITY) == "1"
    assert get_setting(bench, "", PRIORITY) == "0"
    reset(bench)
    bench.run(5)
    assert bench.connect_urls[-1] is None and bench.connected  # not the profile-0 slot


@pytest.mark.parametrize("version", VERSIONS)
def test_a_password_keeps_the_slot_in_use_though_rewritten(version: str) -> None:
    """The slot in use was given a new profile-0 profile; a password then raises
    SecurityProfile to 1. The slot stays (at profile 1), its new URL with it, and the
    priority naming it is still accepted (B10.FR.01)."""
    bench = fresh(version)
    assert set_profile(bench, 0, data(NEW)) == ("Accepted", None)
    password = "A-Fresh-Password-2026"
    assert set_setting(bench, "", "SecurityCtrlr.BasicAuthPassword", password) == "Accepted"
    bench.run(5)
    assert get_setting(bench, "", SECURITY) == "1" and bench.connected
    assert priority(bench, "0") == "Accepted"
    reset(bench)
    bench.run(5)
    assert bench.connect_urls[-1] == NEW and bench.connected


@pytest.mark.parametrize("version", VERSIONS)
def test_a_password_reconnect_outside_the_list_walks_it(version: str) -> None:
    """The slot in use is not in the priority list any more and its CSMS is down when a
    password makes the station reconnect: it walks the list, as a lost connection does
    (B10.FR.03), instead of retrying the dead URL."""
    bench = fresh(version)
    assert set_setting(bench, "", ATTEMPTS, "2") == "Accepted"
    assert set_profile(bench, 1, data(NEW, security_profile=1)) == ("Accepted", None)
    assert priority(bench, "1") == "RebootRequired"
    bench.refuse_urls = {None}
    password = "A-Fresh-Password-2026"
    assert set_setting(bench, "", "SecurityCtrlr.BasicAuthPassword", password) == "Accepted"
    bench.run(20)
    assert bench.connect_urls[-1] == NEW and bench.connected, bench.connect_urls


@pytest.mark.parametrize("version", VERSIONS)
def test_a_password_raises_the_profile_in_use_with_the_station_s(version: str) -> None:
    """A05 as TC_A_19_CS runs it on a station of profile 0: the new profile-1 slot, then
    the password (SecurityProfile 1), then the priority "1,0". The slot in use got the
    password too, so it is no downgrade (A05.FR.04, A05.FR.10): the order of the two
    first calls does not matter."""
    bench = fresh(version)
    assert set_profile(bench, 1, data(security_profile=1)) == ("Accepted", None)
    assert (
        set_setting(bench, "", "SecurityCtrlr.BasicAuthPassword", "A-Fresh-Password-2026")
        == "Accepted"
    )
    bench.run(5)
    assert get_setting(bench, "", SECURITY) == "1" and bench.connected
    assert priority(bench, "1,0") == "RebootRequired"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_profile_for_the_slot_in_use_applies_after_the_reboot(version: str) -> None:
    """The slot in use takes a new profile (the connection goes on); after the reboot the
    station uses it, and when that fails falls back to the profile it last connected
    with (B10.FR.07)."""
    bench = fresh(version)
    assert set_profile(bench, 0, data(NEW)) == ("Accepted", None)
    bench.run(2)
    assert bench.connect_urls == [None] and bench.connected
    reset(bench)
    bench.run(2)
    assert bench.connect_urls == [None, NEW] and bench.booted == 2
    assert set_profile(bench, 0, data(NEWER)) == ("Accepted", None)
    bench.refuse_urls = {NEWER}
    reset(bench)
    bench.run(30)
    assert bench.connect_urls == [None, NEW, NEWER, NEWER, NEWER, NEW] and bench.booted == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_connecting_with_a_higher_profile_raises_the_station_s(version: str) -> None:
    """A05.FR.05/06: after the reboot the station connects with the higher profile; then
    SecurityCtrlr.SecurityProfile is its value and the slots with a lower one are gone,
    from the priority list too: the old profile is refused from then on (B09.FR.04)."""
    bench = fresh(version)
    assert set_profile(bench, 1, data(security_profile=1)) == ("Accepted", None)
    assert priority(bench, "1,0") == "RebootRequired"
    assert get_setting(bench, "", SECURITY) == "0"
    reset(bench)
    bench.run(5)
    assert bench.connect_urls == [None, NEW] and bench.booted == 2
    assert get_setting(bench, "", SECURITY) == "1"
    assert get_setting(bench, "", PRIORITY) == "1"
    assert priority(bench, "1,0") == "Rejected"  # slot 0 holds nothing now
    assert set_profile(bench, 0, data(NEWER)) == ("Rejected", "NoSecurityDowngrade")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_upgrade_to_tls_with_a_csms_root(version: str) -> None:
    """TC_A_19: with a CSMSRootCertificate installed the station moves from profile 0 to
    a wss:// profile 2 and reports SecurityProfile 2."""
    bench = fresh(version)
    url = "wss://10.0.0.2:9443/ocpp"
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert set_profile(bench, 1, data(url, 2)) == ("Accepted", None)
    assert priority(bench, "1,0") == "RebootRequired"
    reset(bench)
    bench.run(5)
    assert bench.connect_urls == [None, url] and bench.booted == 2
    assert get_setting(bench, "", SECURITY) == "2"
