"""Charge point identities from an ids file: ``id[,password]`` rows of pre-registered chargers.

Each process takes every ``count``-th row starting at its own ``slot``, so ids stay
unique across workers and hosts. Passwords (security profiles 1 and 2) are kept out of
``repr`` so they never reach a log line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from loadgen.config import ConfigError

_ID = re.compile(r"^[A-Za-z0-9._:*+-]{1,48}$")


@dataclass(frozen=True, slots=True)
class Identity:
    charge_point_id: str
    password: str | None = field(default=None, repr=False)


def read_ids(path: str) -> tuple[Identity, ...]:
    """Read and check an ids file; raises ConfigError naming the line and the fix."""
    where = "charge_points.ids_file"
    rows: list[Identity] = []
    seen: set[str] = set()
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), 1):
                if not row or row[0].strip().startswith("#"):
                    continue
                if number == 1 and row[0].strip().lower() == "id":
                    continue  # header
                charge_point_id = row[0].strip()
                if not _ID.match(charge_point_id):
                    raise ConfigError(
                        f"{where}: line {number} of {path}: {charge_point_id!r} is not a valid "
                        "charge point id (1-48 letters, digits or . _ : * + -)."
                    )
                if charge_point_id in seen:
                    raise ConfigError(
                        f"{where}: line {number} of {path}: id {charge_point_id!r} appears twice."
                    )
                seen.add(charge_point_id)
                password = row[1].strip() if len(row) > 1 and row[1].strip() else None
                rows.append(Identity(charge_point_id, password))
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read {path} ({exc.strerror}). Give a CSV file of id[,password] rows."
        ) from None
    if not rows:
        raise ConfigError(f"{where}: {path} has no ids. Add id[,password] rows.")
    return tuple(rows)


def pick(identities: tuple[Identity, ...], slot: int, count: int, sequence: int) -> Identity | None:
    """The ``sequence``-th (1-based) identity of process ``slot`` of ``count``, or None."""
    index = (sequence - 1) * count + slot % count
    return identities[index] if index < len(identities) else None
