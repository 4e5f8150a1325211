"""The gateway's OCPP security profiles: TLS (profile 2/3) and HTTP Basic auth (1/2).

Profile 1: ``ws://`` with Basic auth; profile 2: ``wss://`` with Basic auth; profile 3:
``wss://`` with client certificates (mTLS). Passwords are read from a CSV file
(``id,password``, read by the same rules as the generator's ``ids_file``), compared in
constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hmac
import re
import ssl
from dataclasses import dataclass, field
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


#: The charge point ids the generator accepts (loadgen.ids); the same rule here.
_ID = re.compile(r"^[A-Za-z0-9._:*+-]{1,48}$")


@dataclass(frozen=True)
class BasicAuth:
    """Per charge point passwords; ``check`` answers whether a request may connect."""

    #: charge point id -> the ``id:password`` bytes its Authorization header must carry
    credentials: dict[str, bytes] = field(repr=False)

    @classmethod
    def from_csv(cls, path: str) -> BasicAuth:
        """Read ``id,password`` rows the way the generator reads its ids file.

        As ``loadgen.ids.read_ids``: ``#`` comments and blank rows are skipped, a first
        row whose first cell is ``id`` (any case, spaces around) is a header, cells are
        stripped. Unlike the generator, every row needs a password: a missing or blank one
        raises :class:`SecurityConfigError` naming the line, as do a bad or repeated id.
        """
        where = "--basic-auth-file"
        credentials: dict[str, bytes] = {}
        try:
            with Path(path).open(newline="", encoding="utf-8") as handle:
                for number, row in enumerate(csv.reader(handle), 1):
                    if not row or row[0].strip().startswith("#"):
                        continue
                    charge_point_id = row[0].strip()
                    if number == 1 and charge_point_id.lower() == "id":
                        continue  # header
                    if not _ID.match(charge_point_id):
                        raise SecurityConfigError(
                            f"{where}: line {number} of {path}: {charge_point_id!r} is not a "
                            "valid charge point id (1-48 letters, digits or . _ : * + -)."
                        )
                    if charge_point_id in credentials:
                        raise SecurityConfigError(
                            f"{where}: line {number} of {path}: id {charge_point_id!r} appears "
                            "twice; keep one row per charge point."
                        )
                    password = row[1].strip() if len(row) > 1 else ""
                    if not password:
                        raise SecurityConfigError(
                            f"{where}: line {number} of {path}: charge point "
                            f"{charge_point_id!r} has no password (missing or only spaces); "
                            "give every row as id,password."
                        )
                    credentials[charge_point_id] = f"{charge_point_id}:{password}".encode()
        except OSError as exc:
            raise SecurityConfigError(
                f"{where}: cannot read {path} ({exc.strerror}); give a CSV of id,password rows."
            ) from None
        except UnicodeDecodeError:
            raise SecurityConfigError(
                f"{where}: {path} is not UTF-8 text; give a CSV of id,password rows."
            ) from None
        if not credentials:
            raise SecurityConfigError(f"{where}: {path} has no id,password rows; add some.")
        return cls(credentials)

    def check(self, charge_point_id: str, authorization: str | None) -> bool:
        """True when ``authorization`` is HTTP Basic for this id with its password.

        The scheme is matched in any case (RFC 7617); the decoded ``id:password`` bytes
        are compared with the expected ones in constant time.
        """
        expected = self.credentials.get(charge_point_id)
        if expected is None or not authorization:
            return False
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, expected)
