"""The LPD settings added for hardening, and the old byte-count key."""

from __future__ import annotations

import pytest

from gateway import config
from gateway.config import ConfigError


def lpd(**table: object) -> config.LpdConfig:
    return config.from_mapping({"lpd": table}).lpd


def test_defaults() -> None:
    cfg = lpd()
    assert cfg.strict_byte_count is False  # files that end with the connection are taken
    assert cfg.lenient_byte_count is None
    assert cfg.command_timeout == 30.0
    assert cfg.job_timeout == 3600.0


@pytest.mark.parametrize(("lenient", "strict"), [(True, False), (False, True)])
def test_the_old_lenient_key_is_read_as_not_strict(lenient: bool, strict: bool) -> None:
    cfg = lpd(lenient_byte_count=lenient)
    assert cfg.strict_byte_count is strict
    assert cfg.lenient_byte_count is lenient  # kept, so the listener can name it deprecated


def test_both_keys_must_agree() -> None:
    assert lpd(lenient_byte_count=False, strict_byte_count=True).strict_byte_count is True
    with pytest.raises(ConfigError, match=r"lpd\.lenient_byte_count: contradicts"):
        lpd(lenient_byte_count=True, strict_byte_count=True)


def test_command_timeout_is_a_duration() -> None:
    assert lpd(command_timeout="2m").command_timeout == 120.0
    with pytest.raises(ConfigError, match=r"lpd\.command_timeout"):
        lpd(command_timeout="soon")
