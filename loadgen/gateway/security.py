"""The gateway's OCPP security profiles: TLS (profile 2/3) and HTTP Basic auth (1/2).

Profile 1: ``ws://`` with Basic auth; profile 2: ``wss://`` with Basic auth; profile 3:
``wss://`` with client certificates (mTLS). Passwords are read from a CSV file
(``id,password``, the same format as the generator's ``ids_file``), compared in constant
time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import ssl
from dataclasses import dataclass
from pathlib import Path


class SecurityConfigError(ValueError):
    """A TLS or auth flag that cannot be used; the message names the flag and the fix."""


def server_ssl_context(
    cert_file: str | None, key_file: str | None, client_ca_file: str | None
) -> ssl.SSLContext | None:
    """A server context from ``--tls-cert`` / ``--tls-key``; ``--tls-client-ca`` asks for
    client certificates signed by that CA (security profile 3). ``None`` without a cert."""
    if not cert_file and not key_file:
        if client_ca_file:
            raise SecurityConfigError(
                "--tls-client-ca: client certificates need TLS; add --tls-cert and --tls-key."
            )
        return None
    if not (cert_file and key_file):
        raise SecurityConfigError("--tls-cert and --tls-key: give both (PEM files).")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
        if client_ca_file:
            context.load_verify_locations(client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise SecurityConfigError(
            f"--tls-cert/--tls-key/--tls-client-ca: cannot load ({exc}). Give readable PEM "
            "files: the certificate, its private key and the CA of the chargers' certificates."
        ) from None
    return context


@dataclass(frozen=True)
class BasicAuth:
    """Per charge point passwords; ``check`` answers whether a request may connect."""

    passwords: dict[str, str]

    @classmethod
    def from_csv(cls, path: str) -> BasicAuth:
        """Read ``id,password`` rows (a header row ``id,password`` is skipped)."""
        passwords: dict[str, str] = {}
        try:
            with Path(path).open(newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.reader(handle), 1):
                    if not row or row[0].startswith("#") or (number == 1 and row[0] == "id"):
                        continue
                    if len(row) < 2 or not row[0] or not row[1]:
                        raise SecurityConfigError(
                            f"--basic-auth-file: line {number} of {path} needs 'id,password'."
                        )
                    passwords[row[0].strip()] = row[1].strip()
        except OSError as exc:
            raise SecurityConfigError(
                f"--basic-auth-file: cannot read {path} ({exc.strerror}); give a CSV of "
                "id,password rows."
            ) from None
        return cls(passwords)

    def check(self, charge_point_id: str, authorization: str | None) -> bool:
        """True when ``authorization`` is Basic for this id with its password."""
        expected = self.passwords.get(charge_point_id)
        if expected is None or not authorization or not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return hmac.compare_digest(user.encode(), charge_point_id.encode()) and hmac.compare_digest(
            password.encode(), expected.encode()
        )
