"""Ids files: reading id[,password] rows, errors naming the line, each worker's share."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.config import ConfigError
from loadgen.ids import Identity, pick, read_ids


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ids.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_rows_with_and_without_passwords(tmp_path: Path) -> None:
    """A header, comments and blank lines are skipped; a missing password is None."""
    ids = read_ids(write(tmp_path, "id,password\n# comment\nCP-1,secret\n\nCP-2\n"))
    assert ids == (Identity("CP-1", "secret"), Identity("CP-2", None))


def test_passwords_stay_out_of_repr(tmp_path: Path) -> None:
    """An identity's repr never shows its password, so it cannot reach a log line."""
    (identity,) = read_ids(write(tmp_path, "CP-1,hunter2\n"))
    assert "hunter2" not in repr(identity)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CP 1,x\n", "line 1"),
        ("CP-1,x\nCP-1,y\n", "appears twice"),
        ("# only a comment\n", "no ids"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    """A bad ids file raises ConfigError naming charge_points.ids_file and the problem."""
    with pytest.raises(ConfigError, match=message) as info:
        read_ids(write(tmp_path, text))
    assert str(info.value).startswith("charge_points.ids_file")


def test_workers_share_the_rows_without_overlap() -> None:
    """Three workers taking their sequences get disjoint rows that cover the file."""
    ids = tuple(Identity(f"CP-{i}") for i in range(10))
    taken = [pick(ids, slot, 3, seq) for slot in range(3) for seq in range(1, 5)]
    got = [i.charge_point_id for i in taken if i is not None]
    assert sorted(got) == sorted(i.charge_point_id for i in ids)
    assert pick(ids, 0, 3, 5) is None
