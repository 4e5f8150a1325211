"""Charge point identities from an ids file: ``id[,password]`` rows of pre-registered chargers.

Each process takes every ``count``-th row starting at its own ``slot``, so ids stay
unique across workers and hosts. Passwords (security profiles 1 and 2) are kept out of
``repr`` so they never reach a log line.

A hostile file gets a one-line :class:`~loadgen.config.ConfigError`, never a traceback:
lines are bounded (:data:`MAX_LINE_BYTES`), so are the rows (:data:`MAX_ROWS`), bytes
that are not UTF-8 are named by line, and a message quotes at most 60 characters of a
bad value.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from loadgen.config import ConfigError

_ID = re.compile(r"^[A-Za-z0-9._:*+-]{1,48}$")
#: Longest line of an ids file (an id is at most 48 characters, a password far less).
MAX_LINE_BYTES = 4096
#: Most ids in one file: every worker reads all of them.
MAX_ROWS = 1_000_000


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, at most ``limit`` characters of it."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


@dataclass(frozen=True, slots=True)
class Identity:
    charge_point_id: str
    password: str | None = field(default=None, repr=False)


def read_ids(path: str) -> tuple[Identity, ...]:
    """Read and check an ids file; raises ConfigError naming the line and the fix."""
    where = "charge_points.ids_file"
    shown = path if len(path) <= 200 else _short(path, 200)
    rows: list[Identity] = []
    seen: set[str] = set()
    try:
        with Path(path).open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                at = f"{where}: line {number} of {shown}"
                if len(raw) > MAX_LINE_BYTES:
                    raise ConfigError(
                        f"{at}: longer than {MAX_LINE_BYTES} bytes. Give one id[,password] "
                        "row a line."
                    )
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise ConfigError(f"{at}: not UTF-8 text. Save the file as UTF-8.") from None
                try:
                    row = next(csv.reader([line]), [])
                except csv.Error as exc:
                    raise ConfigError(f"{at}: not a CSV row ({exc}). Fix the quoting.") from None
                identity = _identity(row, number, at)
                if identity is None:
                    continue
                if identity.charge_point_id in seen:
                    raise ConfigError(f"{at}: id {_short(identity.charge_point_id)} appears twice.")
                if len(rows) >= MAX_ROWS:
                    raise ConfigError(
                        f"{at}: more than {MAX_ROWS:,} ids. Split the fleet over several files."
                    )
                seen.add(identity.charge_point_id)
                rows.append(identity)
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read {shown} ({exc.strerror}). Give a CSV file of id[,password] rows."
        ) from None
    if not rows:
        raise ConfigError(f"{where}: {shown} has no ids. Add id[,password] rows.")
    return tuple(rows)


def _identity(row: list[str], number: int, at: str) -> Identity | None:
    """The identity of one CSV row, or None for a blank, comment or header row."""
    if not row or row[0].strip().startswith("#"):
        return None
    if number == 1 and row[0].strip().lower() == "id":
        return None  # header
    charge_point_id = row[0].strip()
    if not _ID.match(charge_point_id):
        raise ConfigError(
            f"{at}: {_short(charge_point_id)} is not a valid charge point id "
            "(1-48 letters, digits or . _ : * + -)."
        )
    password = row[1].strip() if len(row) > 1 and row[1].strip() else None
    return Identity(charge_point_id, password)


def pick(identities: tuple[Identity, ...], slot: int, count: int, sequence: int) -> Identity | None:
    """The ``sequence``-th (1-based) identity of process ``slot`` of ``count``, or None."""
    index = (sequence - 1) * count + slot % count
    return identities[index] if index < len(identities) else None
