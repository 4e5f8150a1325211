"""The certificate store: InstallCertificate, GetInstalledCertificateIds and
DeleteCertificate in 2.0.1 / 2.1 (M03, M04, M05) and 1.6 (security whitepaper)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from loadgen.config import ChargerModel, FleetSpec
from tests.unit.sim_csms import WALL_OFFSET_S, Bench, booted, get_setting, set_setting, status_of

#: The bench's wall clock at power-up (its events' clock is 0 then).
NOW = datetime.datetime.fromtimestamp(WALL_OFFSET_S, datetime.UTC)
DAY = datetime.timedelta(days=1)
_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(
    name: str,
    *,
    serial: int = 0x0ABC,
    issuer: x509.Certificate | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
    key: ec.EllipticCurvePrivateKey = _KEY,
    valid_from: datetime.datetime = NOW - DAY,
    valid_to: datetime.datetime = NOW + 365 * DAY,
) -> x509.Certificate:
    """A CA certificate for ``name``: self-signed, or signed by ``issuer`` (its key)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> dict[str, str]:
    """The CertificateHashDataType of ``cert`` as OCSP's CertID computes it (RFC 6960),
    the definition OCPP's fields repeat: SHA256 of the issuer's name and key bits."""
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(cert, issuer or cert, hashes.SHA256()).build()
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": request.issuer_name_hash.hex(),
        "issuerKeyHash": request.issuer_key_hash.hex(),
        "serialNumber": format(request.serial_number, "x"),
    }


def install(bench: Bench, kind: str, text: str) -> str:
    answer = bench.server_call("InstallCertificate", {"certificateType": kind, "certificate": text})
    return status_of(answer)


def installed(bench: Bench, *kinds: str) -> tuple[str, list[dict[str, Any]]]:
    """GetInstalledCertificateIds for ``kinds`` (none: all): (status, chain entries)."""
    payload: dict[str, Any] = {"certificateType": list(kinds)} if kinds else {}
    answer = bench.server_call("GetInstalledCertificateIds", payload)
    assert answer is not None and answer[0] == 3, answer
    return answer[2]["status"], answer[2].get("certificateHashDataChain", [])


def delete(bench: Bench, data: dict[str, str]) -> str:
    return status_of(bench.server_call("DeleteCertificate", {"certificateHashData": data}))


ROOT = certificate("CSMS root")
MAKER = certificate(
    "Maker root", serial=0x01_0000_0000_0000_0001, key=ec.generate_private_key(ec.SECP256R1())
)


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_installed_certificates_are_listed_by_type_and_deleted_201(version: str) -> None:
    """M05: a valid CA certificate is Accepted and kept under its type; M03: the hash
    data of the installed ones (all types when none is asked), NotFound and no chain
    when none matches; M04: Accepted, then NotFound once gone. CertificateEntries
    counts them."""
    bench = booted(version)
    assert installed(bench) == ("NotFound", [])
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "ManufacturerRootCertificate", pem(MAKER)) == "Accepted"
    assert get_setting(bench, "", "SecurityCtrlr.CertificateEntries") == "2"
    status, chain = installed(bench)
    assert status == "Accepted"
    assert sorted((e["certificateType"], e["certificateHashData"]) for e in chain) == [
        ("CSMSRootCertificate", hash_data(ROOT)),
        ("ManufacturerRootCertificate", hash_data(MAKER)),
    ]
    assert installed(bench, "ManufacturerRootCertificate", "V2GRootCertificate") == (
        "Accepted",
        [
            {
                "certificateType": "ManufacturerRootCertificate",
                "certificateHashData": hash_data(MAKER),
            }
        ],
    )
    assert installed(bench, "MORootCertificate") == ("NotFound", [])
    assert delete(bench, hash_data(ROOT)) == "Accepted"
    assert delete(bench, hash_data(ROOT)) == "NotFound"
    assert [e["certificateType"] for e in installed(bench)[1]] == ["ManufacturerRootCertificate"]
    assert get_setting(bench, "", "SecurityCtrlr.CertificateEntries") == "1"


def test_hash_data_spelling() -> None:
    """CertificateHashDataType: the serial number in hex without leading zeroes, the
    hashes matched whatever the case of their hex digits (what the CSMS sends back
    came from GetInstalledCertificateIds, M04.FR.07)."""
    bench = booted("2.0.1")
    low = certificate("Low serial", serial=0x00_0F)
    assert install(bench, "V2GRootCertificate", pem(low)) == "Accepted"
    data = installed(bench)[1][0]["certificateHashData"]
    assert data["serialNumber"] == "f"
    shouted = {k: v.upper() if k != "hashAlgorithm" else v for k, v in data.items()}
    assert delete(bench, shouted) == "Accepted"


def test_a_sub_ca_is_hashed_with_its_installed_issuers_key() -> None:
    """issuerKeyHash is of the issuer's public key: the installed root's for a
    certificate it signed (a self-signed root's own)."""
    bench = booted("2.0.1")
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = certificate("Sub CA", serial=77, issuer=ROOT, issuer_key=_KEY, key=sub_key)
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "CSMSRootCertificate", pem(sub)) == "Accepted"
    chain = [e["certificateHashData"] for e in installed(bench, "CSMSRootCertificate")[1]]
    assert sorted(chain, key=lambda d: d["serialNumber"]) == sorted(
        [hash_data(ROOT), hash_data(sub, ROOT)], key=lambda d: d["serialNumber"]
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("root_first", [True, False])
def test_a_certificate_keeps_its_hash_data_when_its_issuer_goes(
    version: str, root_first: bool
) -> None:
    """A sub-CA is named with its issuer's key whichever of the two came first, and
    keeps that name once the root is deleted: the hash data the station reported
    deletes it (M03.FR.04, M04.FR.02; the 1.6 whitepaper's same calls)."""
    bench = booted(version)
    kind = "CSMSRootCertificate" if version != "1.6" else "CentralSystemRootCertificate"

    def listed() -> list[dict[str, str]]:
        if version != "1.6":
            return [e["certificateHashData"] for e in installed(bench)[1]]
        answer = bench.server_call("GetInstalledCertificateIds", {"certificateType": kind})
        assert answer is not None and answer[0] == 3, answer
        return list(answer[2].get("certificateHashData", []))

    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = certificate("Sub CA", serial=77, issuer=ROOT, issuer_key=_KEY, key=sub_key)
    for cert in (ROOT, sub) if root_first else (sub, ROOT):
        assert install(bench, kind, pem(cert)) == "Accepted"
    assert hash_data(sub, ROOT) in listed()
    assert delete(bench, hash_data(ROOT)) == "Accepted"
    assert listed() == [hash_data(sub, ROOT)]
    assert delete(bench, hash_data(sub, ROOT)) == "Accepted"
    assert listed() == []


@pytest.mark.parametrize(
    "text",
    [
        "not a certificate",
        pem(certificate("Expired", valid_from=NOW - 30 * DAY, valid_to=NOW - DAY)),
        pem(certificate("Not yet", valid_from=NOW + DAY)),
        pem(ROOT)[:200] + "\n-----END CERTIFICATE-----\n",
    ],
    ids=["garbage", "expired", "not-yet-valid", "truncated"],
)
def test_an_invalid_certificate_is_rejected_and_not_kept(text: str) -> None:
    """M05.FR.07 (TC_M_07_CS): an unreadable, expired or not yet valid certificate is
    Rejected and not listed."""
    bench = booted("2.0.1")
    assert install(bench, "CSMSRootCertificate", text) == "Rejected"
    assert installed(bench) == ("NotFound", [])
    assert get_setting(bench, "", "SecurityCtrlr.CertificateEntries") == "0"


def test_the_same_certificate_again_replaces_it() -> None:
    """M05.FR.17: a certificate already installed is replaced, Accepted, not doubled."""
    bench = booted("2.0.1")
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert len(installed(bench)[1]) == 1
    assert get_setting(bench, "", "SecurityCtrlr.CertificateEntries") == "1"


def test_a_full_store_rejects_a_new_certificate() -> None:
    """M05.FR.06: beyond CertificateEntries' maxLimit (the 1.6 whitepaper's
    CertificateStoreMaxLength, the same setting) a new certificate is Rejected; a full
    base report gives that maxLimit."""
    bench = booted("2.0.1", configuration=(("certificate_store_max_length", "1"),))
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "ManufacturerRootCertificate", pem(MAKER)) == "Rejected"
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"  # not a new one
    assert [e["certificateType"] for e in installed(bench)[1]] == ["CSMSRootCertificate"]
    answer = bench.server_call("GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"})
    assert status_of(answer) == "Accepted"
    bench.run(1)
    entries = [
        d
        for c in bench.named("NotifyReport")
        for d in c.payload["reportData"]
        if d["variable"]["name"] == "CertificateEntries"
    ]
    assert [e["variableCharacteristics"].get("maxLimit") for e in entries] == [1]
    assert entries[0]["variableAttribute"][0]["value"] == "1"


def test_the_charging_station_certificate_is_not_deleted() -> None:
    """M04.FR.06 (TC_M_23_CS: NotFound or Failed): the station's own certificate is not
    in the store of CA certificates, so a request to delete it finds nothing."""
    bench = booted("2.0.1")
    assert install(bench, "CSMSRootCertificate", pem(ROOT)) == "Accepted"
    own = certificate(
        "CP-1", serial=5, issuer=ROOT, issuer_key=_KEY, key=ec.generate_private_key(ec.SECP256R1())
    )
    assert delete(bench, hash_data(own, ROOT)) == "NotFound"
    assert len(installed(bench)[1]) == 1


# -- 1.6 (security whitepaper) -------------------------------------------------------------


def _16(bench: Bench, action: str, payload: dict[str, Any]) -> Any:
    answer = bench.server_call(action, payload)
    assert answer is not None and answer[0] == 3, answer
    return answer[2]


def test_the_16_whitepaper_store() -> None:
    """1.6 security whitepaper: InstallCertificate of a CentralSystemRootCertificate or
    ManufacturerRootCertificate, GetInstalledCertificateIds of one type (NotFound when
    none), DeleteCertificate; an invalid one Rejected; the same hash data as 2.0.1."""
    bench = booted("1.6")
    kinds = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
    for kind in kinds:
        assert _16(bench, "GetInstalledCertificateIds", {"certificateType": kind}) == {
            "status": "NotFound"
        }
    assert install(bench, "CentralSystemRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "ManufacturerRootCertificate", "garbage") == "Rejected"
    assert _16(bench, "GetInstalledCertificateIds", {"certificateType": kinds[0]}) == {
        "status": "Accepted",
        "certificateHashData": [hash_data(ROOT)],
    }
    assert _16(bench, "GetInstalledCertificateIds", {"certificateType": kinds[1]}) == {
        "status": "NotFound"
    }
    assert delete(bench, hash_data(ROOT)) == "Accepted"
    assert delete(bench, hash_data(ROOT)) == "NotFound"


def test_the_16_store_maximum_is_a_configuration_key() -> None:
    """1.6 whitepaper CertificateStoreMaxLength: read-only, the store's size; a new
    certificate beyond it is Rejected."""
    bench = booted("1.6", configuration=(("certificate_store_max_length", "1"),))
    assert get_setting(bench, "CertificateStoreMaxLength", "") == "1"
    answer = bench.server_call(
        "ChangeConfiguration", {"key": "CertificateStoreMaxLength", "value": "5"}
    )
    assert status_of(answer) == "Rejected"
    assert install(bench, "CentralSystemRootCertificate", pem(ROOT)) == "Accepted"
    assert install(bench, "ManufacturerRootCertificate", pem(MAKER)) == "Rejected"


@pytest.mark.parametrize("kind", ["legacy", "signed"])
def test_16_certificate_calls_need_the_whitepaper(kind: str) -> None:
    """1.6: a charger without the security whitepaper (legacy firmware updates only)
    does not know the certificate calls (NotImplemented); one with it answers them."""
    spec = FleetSpec(models=(ChargerModel("m", firmware_update=kind),))
    bench = booted("1.6", fleet=spec)
    calls = [
        (
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": pem(ROOT)},
        ),
        ("GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}),
        ("DeleteCertificate", {"certificateHashData": hash_data(ROOT)}),
    ]
    for action, payload in calls:
        answer = bench.server_call(action, payload)
        if kind == "legacy":
            assert answer[0] == 4 and answer[2] == "NotImplemented", answer
        else:
            assert answer[0] == 3, answer


def test_an_idle_charger_does_not_load_cryptography() -> None:
    """The certificate parser is imported when the first certificate arrives: importing
    the station and its dialects (a charger that never gets one) loads no cryptography."""
    code = (
        "import sys, loadgen.sim.station, loadgen.sim.certificates, loadgen.ocpp.v16,"
        " loadgen.ocpp.v201, loadgen.ocpp.v21;"
        "print(any(m.split('.')[0] == 'cryptography' for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_the_additional_root_check_is_reported_off(version: str) -> None:
    """AdditionalRootCertificateCheck is present and false: the station does not check a new
    CSMS root against the old one (M05.FR.09-16), and says so (Part 2 appendix 2.2.6:
    present unless only security profile 1 is; the 1.6 whitepaper key); read-only."""
    bench = booted(version)
    key, variable = "AdditionalRootCertificateCheck", "SecurityCtrlr.AdditionalRootCertificateCheck"
    assert get_setting(bench, key, variable) == "false"
    assert set_setting(bench, key, variable, "true") == "Rejected"
    assert get_setting(bench, key, variable) == "false"
    if version != "1.6":  # a boolean's characteristics carry no valuesList (list types only)
        answer = bench.server_call("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"})
        assert status_of(answer) == "Accepted"
        bench.run(1)
        found = [
            d["variableCharacteristics"]
            for c in bench.named("NotifyReport")
            for d in c.payload["reportData"]
            if d["variable"]["name"] == key
        ]
        assert found == [{"dataType": "boolean", "supportsMonitoring": False}]
