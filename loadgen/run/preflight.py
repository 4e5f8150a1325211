"""What a config needs from this host before the first charge point starts: its files.

:func:`check` reads the ids file (every row valid, no duplicates, enough ids for the
peak stage) and builds the TLS client context once, as the engine will
(:func:`loadgen.sim.transport.client_ssl_context`), so a bad CA, certificate or key is a
config error at start (exit 2) rather than a run that connects nothing. ``loadgen run``,
``loadgen doctor``, every Locust process (master and workers) and the web UI's start
form call it.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

from loadgen.config import Config, ConfigError, Tls
from loadgen.ids import Identity, read_ids
from loadgen.run.configfile import quote
from loadgen.sim.transport import client_ssl_context


def check(config: Config) -> None:
    """Raise :class:`ConfigError` naming the field and the fix when a file the config
    names cannot serve the run."""
    path = config.charge_points.ids_file
    if path:
        count = len(identities(path))
        if count < config.max_users:
            raise ConfigError(
                f"charge_points.ids_file: {quote(path)} has {count:,} ids but the stages "
                f"need up to {config.max_users:,} charge points at once. Add rows to the "
                "file, or lower the stages' users (or --users)."
            )
    tls = config.tls
    if tls.ca_file or tls.cert_file or config.target.startswith("wss://"):
        check_tls(tls)


def identities(path: str) -> tuple[Identity, ...]:
    """The ids file's rows; read again only when the file changed (workers read it too)."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise ConfigError(
            f"charge_points.ids_file: cannot read {quote(path)} ({exc.strerror}). "
            "Give a CSV file of id[,password] rows."
        ) from None
    return _read(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read(path: str, _mtime_ns: int, _size: int) -> tuple[Identity, ...]:
    return read_ids(path)


def _no_password() -> bytes:
    raise ConfigError(
        "tls.key_file: the key is encrypted. Give an unencrypted PEM key "
        "(openssl pkey -in KEY -out plain.key), kept readable by this user only."
    )


def check_tls(tls: Tls) -> ssl.SSLContext:
    """The client TLS context of ``tls``, or :class:`ConfigError` naming the bad file."""
    if tls.ca_file:
        try:
            ssl.create_default_context(cafile=tls.ca_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"tls.ca_file: {quote(tls.ca_file)} is not a PEM CA certificate "
                f"({_reason(exc)}). Give the CA that signed the CSMS's certificate, in PEM."
            ) from None
    if tls.cert_file and tls.key_file:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            probe.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"tls.cert_file / tls.key_file: cannot load the client certificate "
                f"{quote(tls.cert_file)} with the key {quote(tls.key_file)} ({_reason(exc)}). "
                "Both must be PEM, and the key must belong to the certificate."
            ) from None
    try:
        return client_ssl_context(tls)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"tls: cannot build the TLS client context ({_reason(exc)}). Check the tls files."
        ) from None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(reason)[:120]
