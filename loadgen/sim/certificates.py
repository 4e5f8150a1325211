"""The station's store of CA certificates, and the part of the station that manages it.

InstallCertificate, GetInstalledCertificateIds and DeleteCertificate (2.0.1 M05, M03,
M04; the 1.6 security whitepaper's same calls) work on one store per station, made on
the first certificate (it lives on the station's :class:`~loadgen.sim.extras.Extras`):

* A certificate is installed when its PEM reads as an X.509 certificate valid now (else
  Rejected, M05.FR.07), under the type the server gives, while the store has room
  (CertificateEntries' maxLimit, the 1.6 key CertificateStoreMaxLength: else Rejected,
  M05.FR.06). The same certificate again (issuer and serial number) replaces the one
  installed (M05.FR.17).
* Certificates are named by their hash data (CertificateHashDataType): the hashes of
  the DER of the issuer's name and of the issuer's public key bits, which OCSP's CertID
  has too (RFC 6960), and the serial number in hex without leading zeroes. The issuer is
  the installed certificate whose subject is the issuer's name (a self-signed root is
  its own): its key is taken when either of the two is installed and kept, so a
  certificate keeps its hash data when its issuer is deleted (M04). Until the issuer is
  installed, the certificate's own key stands in. The station reports SHA256 and
  matches a DeleteCertificate in any of the three algorithms.

The store only keeps and reports: the connection's TLS does not use what is installed
(the driver's TLS settings decide what it trusts), and the station has no certificate
of its own in it (CertificateSigned is not supported), so a request to delete that one
finds nothing. The PEM is read with ``cryptography``, imported when the first
certificate arrives: a charger that never gets one does not load it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loadgen.ocpp.dialect import CertificateId
from loadgen.sim.part import StationPart

if TYPE_CHECKING:
    from loadgen.sim.extras import Extras

#: HashAlgorithmEnumType -> hashlib's name
_ALGORITHMS = {"SHA256": "sha256", "SHA384": "sha384", "SHA512": "sha512"}
#: The algorithm the station reports hash data in.
REPORTED = "SHA256"


class Installed:
    """One installed certificate: what its hash data and its issuer are made of."""

    __slots__ = ("issuer_key_bits", "issuer_name", "key_bits", "serial", "subject_name", "use")

    def __init__(
        self, use: str, issuer_name: bytes, subject_name: bytes, key_bits: bytes, serial: int
    ) -> None:
        self.use = use  # 2.0.1 InstallCertificateUseEnumType (1.6's names mapped to it)
        self.issuer_name = issuer_name  # DER of the issuer's name ...
        self.subject_name = subject_name  # ... and of its own
        self.key_bits = key_bits  # its subjectPublicKey's bits (without the unused-bits octet)
        self.serial = serial
        #: the issuer's key bits, once known (a self-signed certificate is its own issuer)
        self.issuer_key_bits = key_bits if issuer_name == subject_name else None


def read_certificate(use: str, pem: str, at: float) -> Installed | None:
    """The certificate in ``pem`` if it is one and valid at ``at`` (epoch seconds), else
    None (unreadable, damaged, an unsupported key, expired or not yet valid)."""
    from cryptography import x509  # here: only a charger that gets a certificate loads it
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
        if not cert.not_valid_before_utc.timestamp() <= at <= cert.not_valid_after_utc.timestamp():
            return None
        key = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return Installed(
            use,
            cert.issuer.public_bytes(),
            cert.subject.public_bytes(),
            _key_bits(key),
            cert.serial_number,
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def certificate_id(cert: Installed, algorithm: str = REPORTED) -> CertificateId:
    """The hash data of ``cert`` (see the module docstring)."""
    name = _ALGORITHMS[algorithm]
    issuer_key = cert.issuer_key_bits if cert.issuer_key_bits is not None else cert.key_bits
    return CertificateId(
        algorithm,
        hashlib.new(name, cert.issuer_name).hexdigest(),
        hashlib.new(name, issuer_key).hexdigest(),
        format(cert.serial, "x"),
    )


class CertificateStore:
    """The installed certificates of one station, in the order they came."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[Installed] = []

    def __len__(self) -> int:
        return len(self.entries)

    def install(self, use: str, pem: str, at: float, limit: int) -> str:
        """Accepted (installed, or replaced: the same issuer and serial number) or
        Rejected (invalid, or a new certificate beyond ``limit``)."""
        cert = read_certificate(use, pem, at)
        if cert is None:
            return "Rejected"  # M05.FR.07
        entries = self.entries
        for index, held in enumerate(entries):
            if held.issuer_name == cert.issuer_name and held.serial == cert.serial:
                entries[index] = cert  # M05.FR.17
                break
        else:
            if len(entries) >= limit:
                return "Rejected"  # M05.FR.06
            entries.append(cert)
        for held in entries:  # the issuer's key, for whichever of the two lacks it
            if cert.issuer_key_bits is None and held.subject_name == cert.issuer_name:
                cert.issuer_key_bits = held.key_bits
            if held.issuer_key_bits is None and held.issuer_name == cert.subject_name:
                held.issuer_key_bits = cert.key_bits
        return "Accepted"

    def ids(self, uses: Sequence[str] | None) -> list[tuple[str, CertificateId]]:
        """(type, hash data) of each certificate of ``uses`` (None: all)."""
        return [
            (cert.use, certificate_id(cert))
            for cert in self.entries
            if uses is None or cert.use in uses
        ]

    def delete(self, wanted: CertificateId) -> str:
        """Accepted once the certificate is removed, NotFound when none has that hash
        data (M04.FR.02/04)."""
        serial = _serial(wanted.serial_number)
        name_hash = wanted.issuer_name_hash.lower()
        key_hash = wanted.issuer_key_hash.lower()
        for cert in self.entries:
            if format(cert.serial, "x") != serial:
                continue
            found = certificate_id(cert, wanted.algorithm)
            if found.issuer_name_hash == name_hash and found.issuer_key_hash == key_hash:
                self.entries.remove(cert)
                return "Accepted"
        return "NotFound"


def _serial(text: str) -> str:
    """A serial number in hex as the station writes it: lower case, no leading zeroes."""
    return text.lower().lstrip("0") or "0"


def _key_bits(spki: bytes) -> bytes:
    """The subjectPublicKey bits of a DER SubjectPublicKeyInfo, ``SEQUENCE { algorithm
    SEQUENCE, subjectPublicKey BIT STRING }``: the BIT STRING's value after its
    unused-bits octet (OCSP's issuerKeyHash is of these, RFC 6960 4.1.1)."""
    _, info, _ = _der(spki, 0)
    _, _, after_algorithm = _der(info, 0)
    tag, bits, _ = _der(info, after_algorithm)
    if tag != 0x03 or not bits:
        raise ValueError("no subjectPublicKey BIT STRING")
    return bits[1:]


def _der(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, end) of the DER element at ``at``."""
    if at + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[at : at + size], "big")
        at += size
    if at + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[at : at + length], at + length


class Certificates(StationPart):
    """The certificate calls, answered (a part of :class:`Station`)."""

    if not TYPE_CHECKING:  # no __dict__; to mypy the Station's attributes below are ours
        __slots__ = ()

    if TYPE_CHECKING:  # more of the Station this is a part of (StationPart: the common ones)

        def _extras(self) -> Extras: ...
        def _int_setting(self, name: str, default: int) -> int: ...

    def install_certificate(self, use: str, pem: str) -> str:
        """Install a CA certificate (see the module docstring)."""
        ext = self._extras()
        store = ext.certificates
        if store is None:
            store = ext.certificates = CertificateStore()
        limit = self._int_setting("certificate_store_max_length", 20)
        return store.install(use, pem, self.now_s + self.wall_offset_s, limit)

    def installed_certificates(self, uses: Sequence[str] | None) -> list[tuple[str, CertificateId]]:
        """The installed certificates of ``uses`` (None: all) and their hash data."""
        store = None if self.ext is None else self.ext.certificates
        return [] if store is None else store.ids(uses)

    def delete_certificate(self, certificate: CertificateId) -> str:
        """Remove the certificate with that hash data: Accepted, or NotFound."""
        store = None if self.ext is None else self.ext.certificates
        return "NotFound" if store is None else store.delete(certificate)

    def certificate_count(self) -> int:
        """How many certificates are installed (SecurityCtrlr.CertificateEntries)."""
        store = None if self.ext is None else self.ext.certificates
        return 0 if store is None else len(store)
