"""CustomerInformation (2.0.1 / 2.1 N09 get, N10 clear): the answer, the
NotifyCustomerInformation that follows, and what a clear removes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sim_csms import Bench, booted, remote_start, remote_stop, status_of, tx_id
from tests.unit.test_station_features import send_list

VERSIONS = ["2.0.1", "2.1"]
NOTIFY = {"NotifyCustomerInformation": {}}


def cached(version: str, tag: str = "CACHED") -> Bench:
    """A station whose authorization cache holds ``tag`` (Accepted by an Authorize)."""
    bench = booted(
        version,
        answers=NOTIFY,
        configuration=(("local_pre_authorize", "true"), ("authorize_remote_start", "true")),
    )
    assert remote_start(bench, 1, tag=tag) == "Accepted"
    bench.run(1)
    assert remote_stop(bench, tx_id(bench)) == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 1
    return bench


def ask(bench: Bench, *, report: bool, clear: bool, request_id: int = 9, **ref: Any) -> str:
    """CustomerInformation with the reference ``ref`` (idToken=..., customerIdentifier=...)."""
    if isinstance(ref.get("idToken"), str):
        ref["idToken"] = {"idToken": ref["idToken"], "type": "ISO14443"}
    payload = {"requestId": request_id, "report": report, "clear": clear, **ref}
    return status_of(bench.server_call("CustomerInformation", payload))


def notified(bench: Bench) -> list[dict[str, Any]]:
    bench.run(1)
    return [c.payload for c in bench.named("NotifyCustomerInformation")]


def the_one(bench: Bench, request_id: int = 9) -> str:
    """The data of the single NotifyCustomerInformation sent, checked for its framing."""
    (sent,) = notified(bench)
    assert sent["requestId"] == request_id and sent["seqNo"] == 0 and sent["tbc"] is False
    assert sent["generatedAt"].endswith("Z")
    return str(sent["data"])


@pytest.mark.parametrize("version", VERSIONS)
def test_report_tells_what_the_cache_holds_and_keeps_it(version: str) -> None:
    """N09.FR.02/05: Accepted, then a NotifyCustomerInformation with what the station
    stores of the idToken (its authorization cache entry); a report clears nothing."""
    bench = cached(version)
    assert ask(bench, report=True, clear=False, idToken="cached") == "Accepted"
    data = the_one(bench)
    assert "authorization cache" in data and "Accepted" in data
    assert remote_start(bench, 1, tag="CACHED") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 1  # still started from the cache


@pytest.mark.parametrize("version", VERSIONS)
def test_clear_and_report_removes_the_cache_entry(version: str) -> None:
    """N10.FR.03: the idToken leaves the authorization cache (the next start asks the
    CSMS again) and the NotifyCustomerInformation tells what was cleared."""
    bench = cached(version)
    assert ask(bench, report=True, clear=True, idToken="CACHED") == "Accepted"
    data = the_one(bench)
    assert data.startswith("Cleared") and "authorization cache" in data
    assert remote_start(bench, 1, tag="CACHED") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_clear_without_report_still_says_it_cleared(version: str) -> None:
    """N10.FR.06: clear without report removes the data and sends one
    NotifyCustomerInformation saying the data was cleared."""
    bench = cached(version)
    assert ask(bench, report=False, clear=True, idToken="CACHED") == "Accepted"
    assert "cleared" in the_one(bench).lower()
    assert remote_start(bench, 1, tag="CACHED") == "Accepted"
    bench.run(1)
    assert len(bench.named("Authorize")) == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_clear_keeps_the_local_list(version: str) -> None:
    """N10.FR.03/06: all customer data goes except the local list's entry, which only
    the CSMS changes (N10.FR.02: by SendLocalList); the report says it was kept."""
    bench = booted(version, answers=NOTIFY)
    assert send_list(bench, 1, True, [("LISTED", "Accepted")]) == "Accepted"
    assert ask(bench, report=True, clear=True, idToken="LISTED") == "Accepted"
    data = the_one(bench)
    assert "local authorization list" in data and "kept" in data
    assert bench.station.ext is not None and "listed" in (bench.station.ext.local_list or {})


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("clear", [False, True])
@pytest.mark.parametrize(
    "ref",
    [
        {"idToken": "STRANGER"},
        {"customerIdentifier": "customer-42"},
        {
            "customerCertificate": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "ab" * 32,
                "issuerKeyHash": "cd" * 32,
                "serialNumber": "1f",
            }
        },
    ],
    ids=["idToken", "customerIdentifier", "customerCertificate"],
)
def test_no_data_about_the_customer(version: str, clear: bool, ref: dict[str, Any]) -> None:
    """N09.FR.06 / N10.FR.04: a customer the station stores nothing of gets one
    NotifyCustomerInformation saying no data was found."""
    bench = booted(version, answers=NOTIFY)
    assert ask(bench, report=True, clear=clear, **ref) == "Accepted"
    assert "no information" in the_one(bench).lower()


@pytest.mark.parametrize("version", VERSIONS)
def test_invalid_and_rejected_requests_send_nothing(version: str) -> None:
    """N09.FR.09: Invalid without a reference to a customer or with more than one;
    N09.FR.07 / N10.FR.07: Rejected when neither report nor clear is asked. Nothing
    follows these."""
    bench = booted(version, answers=NOTIFY)
    assert ask(bench, report=True, clear=False) == "Invalid"
    both = {"idToken": "A", "customerIdentifier": "B"}
    assert ask(bench, report=True, clear=True, **both) == "Invalid"
    assert ask(bench, report=False, clear=False, idToken="A") == "Rejected"
    assert notified(bench) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_notification_waits_its_turn(version: str) -> None:
    """NotifyCustomerInformation is one of the station's CALLs: it goes out after the
    one in flight is answered (the bench refuses a second CALL in flight)."""
    bench = booted(version, answers=NOTIFY)
    trigger = {"requestedMessage": "Heartbeat"}
    assert status_of(bench.server_call("TriggerMessage", trigger)) == "Accepted"
    assert ask(bench, report=True, clear=False, idToken="A") == "Accepted"
    bench.run(1)
    assert bench.actions()[-2:] == ["Heartbeat", "NotifyCustomerInformation"]
