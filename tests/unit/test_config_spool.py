"""The ``[spool]`` section and ``--store``: the job store shared by several gateways."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import config
from gateway.config import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_the_default_is_sqlite_in_the_spool_folder() -> None:
    spool = config.from_mapping({}).spool
    assert (spool.store, spool.documents, spool.poll_interval) == ("", None, 1.0)


def test_a_postgresql_store_and_a_shared_documents_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[spool]\nstore = "postgresql://gw@db:5432/print"\ndocuments = "/srv/jobs"\n'
        'poll_interval = "500ms"\nstore_password_file = "/etc/pw"\n',
    )
    spool = config.load(path).spool
    assert spool.store == "postgresql://gw@db:5432/print"
    assert spool.documents == Path("/srv/jobs")
    assert spool.poll_interval == 0.5
    assert spool.store_password_file == Path("/etc/pw")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('store = "mysql://db/x"', "postgresql://"),
        ('store = "postgresql://db:99999/x"', "not a valid URL"),
        ('store = "postgresql://db"', "names no database"),
        ('documents = "relative/jobs"', "absolute path"),
        ("poll_interval = 0", "between 0.05 and 60"),
    ],
)
def test_bad_values_name_file_key_and_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, f"[spool]\n{text}\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    key = text.split(" ", 1)[0]
    assert str(info.value).startswith(f"{path}: spool.{key}: ")
    assert reason in str(info.value)


def test_the_store_flag_overrides_the_file() -> None:
    base = config.from_mapping({"spool": {"store": "postgresql://a/x"}})
    assert config.apply_overrides(base, store="postgres://b/y").spool.store == "postgres://b/y"
    with pytest.raises(ConfigError, match="--store"):
        config.apply_overrides(base, store="http://b/y")
