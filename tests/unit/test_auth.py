"""Password records, Basic credentials and the authentication policy."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from gateway.ipp.operations import Operation
from gateway.ipp.server.auth import (
    PasswordFile,
    basic_credentials,
    check_password,
    hash_password,
    needs_user,
    set_password,
)


def test_hash_is_salted_and_checks() -> None:
    a, b = hash_password("s3cret"), hash_password("s3cret")
    assert a != b and a.startswith("scrypt$")
    assert check_password("s3cret", a) and check_password("s3cret", b)
    assert not check_password("s3cret!", a)
    assert not check_password("s3cret", "plain-text-is-never-accepted")


def test_password_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "passwd"
    set_password(path, "alice", "one")
    assert path.stat().st_mode & 0o777 == 0o600
    users = PasswordFile(path)
    assert users.verify("alice", "one") and not users.verify("bob", "one")
    set_password(path, "bob", "two")
    set_password(path, "alice", "three")
    os.utime(path, ns=(1, 1))  # make the change visible even within one mtime tick
    assert users.verify("bob", "two") and users.verify("alice", "three")
    assert not users.verify("alice", "one")
    assert sorted(users.users()) == ["alice", "bob"]


def test_basic_credentials() -> None:
    header = "Basic " + base64.b64encode(b"alice:pa:ss").decode()
    assert basic_credentials(header) == ("alice", "pa:ss")
    assert basic_credentials("Bearer abc") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None


def test_policy() -> None:
    assert not needs_user("none", Operation.PRINT_JOB)
    assert needs_user("jobs", Operation.PRINT_JOB)
    assert needs_user("jobs", Operation.GET_JOBS)
    assert not needs_user("jobs", Operation.GET_PRINTER_ATTRIBUTES)
    assert needs_user("all", Operation.GET_PRINTER_ATTRIBUTES)
