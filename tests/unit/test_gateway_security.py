"""The gateway's HTTP Basic auth: its ids file read like the generator's, its header checked."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from loadgen.gateway.security import BasicAuth, SecurityConfigError
from loadgen.ids import read_ids


def basic(credentials: bytes, scheme: str = "Basic") -> str:
    return f"{scheme} {base64.b64encode(credentials).decode()}"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("header", ["ID,Password", " id , password", "Id,pw"])
def test_a_header_row_in_any_case_is_not_a_login(tmp_path: Path, header: str) -> None:
    """A first row naming the columns (any case, spaces around) is skipped, never a login."""
    auth = BasicAuth.from_csv(str(write(tmp_path, f"{header}\nCP-1,pw-1\n")))
    first, second = (cell.strip() for cell in header.split(","))
    assert not auth.check(first, basic(f"{first}:{second}".encode()))
    assert auth.check("CP-1", basic(b"CP-1:pw-1"))
    assert set(auth.credentials) == {"CP-1"}


@pytest.mark.parametrize("password", ["", "   ", "\t"])
def test_a_blank_password_rejects_the_file_naming_the_line(tmp_path: Path, password: str) -> None:
    """A row whose password is missing or only spaces makes the file unusable, naming its line."""
    path = write(tmp_path, f"id,password\nCP-1,pw-1\nCP-2,{password}\n")
    with pytest.raises(SecurityConfigError, match=r"line 3 of .*CP-2.*no password"):
        BasicAuth.from_csv(str(path))
    with pytest.raises(SecurityConfigError, match="line 1"):
        BasicAuth.from_csv(str(write(tmp_path, "CP-9\n")))


def test_the_file_is_read_like_the_generators_ids_file(tmp_path: Path) -> None:
    """Comments, blank lines, spaces and the header give the same ids and passwords as
    loadgen.ids.read_ids."""
    text = (
        " ID , Password \n"
        "# pre-registered chargers\n"
        "\n"
        " CP-1 , pw-1 \n"
        "  # an indented comment\n"
        "CP-2,pw 2\n"
        "CP-3,p,ignored\n"
    )
    path = write(tmp_path, text)
    generator = {i.charge_point_id: i.password for i in read_ids(str(path))}
    gateway = BasicAuth.from_csv(str(path)).credentials
    assert {k: v.decode() for k, v in gateway.items()} == {
        k: f"{k}:{v}" for k, v in generator.items()
    }
    assert generator == {"CP-1": "pw-1", "CP-2": "pw 2", "CP-3": "p"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CP-1,a\nCP-1,b\n", "line 2 .*appears twice"),
        ("bad id,a\n", "line 1 .*not a valid charge point id"),
        ("# only a comment\n", "no id,password rows"),
    ],
)
def test_other_bad_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    """A repeated or invalid id, or a file without rows, is refused with the reason."""
    with pytest.raises(SecurityConfigError, match=message):
        BasicAuth.from_csv(str(write(tmp_path, text)))


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_the_scheme_matches_in_any_case(tmp_path: Path, scheme: str) -> None:
    """RFC 7617: the auth scheme is case-insensitive."""
    auth = BasicAuth.from_csv(str(write(tmp_path, "CP-1,pw-1\n")))
    assert auth.check("CP-1", basic(b"CP-1:pw-1", scheme))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "Basic",
        "Basic !!!not-base64",
        basic(b"CP-1:pw-2"),
        basic(b"CP-2:pw-1"),
        basic(b"CP-1:pw-1 "),
        basic(b"CP-1"),
        basic(b"CP-1:pw-1\xff"),
    ],
)
def test_anything_but_the_exact_credentials_is_refused(tmp_path: Path, header: str | None) -> None:
    """Wrong, partial or malformed credentials, or another scheme, never pass."""
    auth = BasicAuth.from_csv(str(write(tmp_path, "CP-1,pw-1\nCP-2,pw-2\n")))
    assert not auth.check("CP-1", header)


def test_unicode_passwords_compare_as_their_utf8_bytes(tmp_path: Path) -> None:
    """A non-ASCII password matches the UTF-8 bytes a charger sends, and nothing else."""
    auth = BasicAuth.from_csv(str(write(tmp_path, "CP-1,pässwörd\n")))
    assert auth.check("CP-1", basic("CP-1:pässwörd".encode()))
    assert not auth.check("CP-1", basic("CP-1:pässwörd".encode("latin-1")))
    assert "pässwörd" not in repr(auth)
