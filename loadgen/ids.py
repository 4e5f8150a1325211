"""Charge point identities from an ids file: ``id[,password]`` rows of pre-registered chargers.

Each process takes every ``count``-th row starting at its own ``slot``, so ids stay
unique across workers and hosts. Passwords (security profiles 1 and 2) are kept out of
``repr`` so they never reach a log line. A header row names the columns and may add
``serial_number``, ``model`` (a ``fleet.models`` name) and ``id_tags`` (idTags the
charger draws its sessions' tags from, separated by spaces, ``;`` or ``|``)::

    id,password,serial_number,model,id_tags
    CP-0001,s3cret,SN-0001,ac-22,TAG-A;TAG-B

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
#: Columns a header may name (``serial`` and ``tags`` are accepted for the long names).
COLUMNS = ("id", "password", "serial_number", "model", "id_tags")
_ALIASES = {"serial": "serial_number", "tags": "id_tags", "idtags": "id_tags"}
#: Most idTags one charger may have, and the longest (2.0.1's idToken; 1.6 sends 20).
MAX_TAGS = 32
_TAG = re.compile(r"^[^\s;|,]{1,36}$")
_TAG_SPLIT = re.compile(r"[\s;|]+")


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, at most ``limit`` characters of it."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


@dataclass(frozen=True, slots=True)
class Identity:
    charge_point_id: str
    password: str | None = field(default=None, repr=False)
    serial_number: str | None = None
    model: str | None = None  # a fleet.models name; None: drawn by weight
    id_tags: tuple[str, ...] = ()


def read_ids(path: str) -> tuple[Identity, ...]:
    """Read and check an ids file; raises ConfigError naming the line and the fix."""
    where = "charge_points.ids_file"
    shown = path if len(path) <= 200 else _short(path, 200)
    rows: list[Identity] = []
    seen: set[str] = set()
    columns: tuple[str, ...] = ("id", "password")
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
                if number == 1 and row and row[0].strip().lower() == "id":
                    columns = _header(row, at)
                    continue
                identity = _identity(row, columns, at)
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


def _header(row: list[str], at: str) -> tuple[str, ...]:
    """The column names of a header row; ConfigError for a name it does not know."""
    names = []
    for cell in row:
        name = cell.strip().lower()
        name = _ALIASES.get(name, name)
        if name not in COLUMNS or name in names:
            raise ConfigError(
                f"{at}: {_short(cell.strip())} is not a column an ids file may have (once). "
                f"Use: {', '.join(COLUMNS)}."
            )
        names.append(name)
    return tuple(names)


def _identity(row: list[str], columns: tuple[str, ...], at: str) -> Identity | None:
    """The identity of one CSV row, or None for a blank or comment row."""
    if not row or row[0].strip().startswith("#"):
        return None
    cells = {name: row[i].strip() for i, name in enumerate(columns) if i < len(row)}
    charge_point_id = cells.get("id", "")
    if not _ID.match(charge_point_id):
        raise ConfigError(
            f"{at}: {_short(charge_point_id)} is not a valid charge point id "
            "(1-48 letters, digits or . _ : * + -)."
        )
    password = cells.get("password") or None
    serial = cells.get("serial_number") or None
    if serial is not None and len(serial) > 25:
        raise ConfigError(f"{at}: serial number {_short(serial)} is longer than 25 characters.")
    model = cells.get("model") or None
    if model is not None and len(model) > 64:
        raise ConfigError(f"{at}: model {_short(model)} is longer than 64 characters.")
    tags = tuple(t for t in _TAG_SPLIT.split(cells.get("id_tags", "")) if t)
    if len(tags) > MAX_TAGS or not all(_TAG.match(t) for t in tags):
        raise ConfigError(
            f"{at}: id_tags must be at most {MAX_TAGS} tags of 1-36 characters, separated by "
            "spaces, ';' or '|'."
        )
    return Identity(charge_point_id, password, serial, model, tags)


def pick(identities: tuple[Identity, ...], slot: int, count: int, sequence: int) -> Identity | None:
    """The ``sequence``-th (1-based) identity of process ``slot`` of ``count``, or None."""
    index = (sequence - 1) * count + slot % count
    return identities[index] if index < len(identities) else None
