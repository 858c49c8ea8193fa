"""Configuration: every error names the file, the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import config
from gateway.config import ConfigError, ListenAddress

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_example_config_is_complete_and_valid() -> None:
    cfg = config.load(REPO / "conf" / "gateway.toml")
    defaults = config.from_mapping({})
    assert cfg.lpd == defaults.lpd
    assert cfg.ipp == defaults.ipp
    assert cfg.limits == defaults.limits
    assert cfg.history == defaults.history
    assert cfg.dispatch == defaults.dispatch
    assert cfg.default_queue.name == "lp"


def test_every_option_appears_in_the_example() -> None:
    text = (REPO / "conf" / "gateway.toml").read_text()
    for section, (_cls, keys) in config._SECTIONS.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key}"
    for key in [*config._GATEWAY_KEYS, *config._QUEUE_KEYS]:
        assert f"\n{key} =" in text, key


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[lpd]\nlisten = ['*:515']\nidle_timout = '5s'\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: lpd.idle_timout: unknown key")
    assert "\n" not in message


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gateway.toml: lpdd: unknown section"):
        config.load(write(tmp_path, "[lpdd]\n"))


def test_mistyped_value_names_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lpd.max_connections: expected a whole number"):
        config.load(write(tmp_path, "[lpd]\nmax_connections = 'many'\n"))
    with pytest.raises(ConfigError, match=r"history.max_age: .* is not a duration"):
        config.load(write(tmp_path, "[history]\nmax_age = 'a week'\n"))


def test_queue_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"queues.bad name: .* not a valid queue name"):
        config.load(write(tmp_path, "[queues.'bad name']\nbackend = 'file:///tmp/x'\n"))
    with pytest.raises(ConfigError, match=r"queues.q.backend: unknown backend scheme"):
        config.load(write(tmp_path, "[queues.q]\nbackend = 'smb://host/share'\n"))
    with pytest.raises(ConfigError, match=r"queues.q.backend: missing"):
        config.load(write(tmp_path, "[queues.q]\ninfo = 'x'\n"))
    with pytest.raises(ConfigError, match=r"queues.q.colour: unknown key"):
        config.load(write(tmp_path, "[queues.q]\nbackend = 'file:///x'\ncolour = 'red'\n"))


def test_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gateway.toml: not valid TOML"):
        config.load(write(tmp_path, "[lpd\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.toml: no such file"):
        config.load(tmp_path / "nope.toml")


def test_queues_keep_order_and_first_is_default(tmp_path: Path) -> None:
    cfg = config.load(
        write(
            tmp_path,
            "[queues.office]\nbackend = 'ipp://printer.example/ipp/print'\n"
            "[queues.archive]\nbackend = 'file:///srv/archive'\n",
        )
    )
    assert [q.name for q in cfg.queues] == ["office", "archive"]
    assert cfg.default_queue.name == "office"


def test_command_line_overrides(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[queues.office]\nbackend = 'file:///srv/a'\n"))
    cfg = config.apply_overrides(
        cfg,
        spool_dir=tmp_path / "spool",
        lpd_listen=[ListenAddress("127.0.0.1", 0)],
        queues=[("a", "file:///tmp/a"), ("b", "lpd://host/q")],
        log_level="DEBUG",
    )
    assert cfg.spool_dir == tmp_path / "spool"
    assert cfg.lpd.listen == (ListenAddress("127.0.0.1", 0),)
    assert cfg.ipp.listen == (ListenAddress("", 631),)
    assert [q.name for q in cfg.queues] == ["a", "b"]
    assert cfg.log_level == "debug"


def test_embedded_default_follows_spool_dir(tmp_path: Path) -> None:
    cfg = config.apply_overrides(
        config.from_mapping({}), spool_dir=tmp_path / "s", embedded_default=True
    )
    (queue,) = cfg.queues
    assert queue.name == "lp"
    assert queue.backend == (tmp_path / "s" / "output").as_uri()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:515", ListenAddress("127.0.0.1", 515)),
        ("*:631", ListenAddress("", 631)),
        (":0", ListenAddress("", 0)),
        ("[::1]:5515", ListenAddress("::1", 5515)),
        ("localhost:8631", ListenAddress("localhost", 8631)),
    ],
)
def test_parse_listen(text: str, expected: ListenAddress) -> None:
    assert config.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["515", "host:", "host:99999", "::1:515", "[::1]515"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        config.parse_listen(text)


def test_sizes_and_durations() -> None:
    assert config.parse_size("64KiB") == 65536
    assert config.parse_size("10GiB") == 10 * 1024**3
    assert config.parse_size("500MB") == 500_000_000
    assert config.parse_duration("5m") == 300
    assert config.parse_duration("500ms") == 0.5
    assert config.parse_duration(7) == 7
    for bad in ("-5s", "5 weeks", True):
        with pytest.raises(ValueError):
            config.parse_duration(bad)


@pytest.mark.parametrize(
    "text",
    [
        "lp",
        "lp=",
        "=file:///x",
        "lp=file://relative",
        "lp=ipp://",
        "lp=lpd://host",
        "l p=file:///x",
    ],
)
def test_queue_option_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        config.parse_queue_option(text)


def test_metrics_per_queue(tmp_path: Path) -> None:
    assert config.from_mapping({}).metrics.per_queue is None  # automatic
    cfg = config.load(write(tmp_path, "[metrics]\nper_queue = ['lp', 'office-*']\n"))
    assert cfg.metrics.per_queue == ("lp", "office-*")
    assert cfg.metrics.queue_series(["lp", "office-2", "shop"]) == {"lp", "office-2"}
    automatic = config.MetricsConfig()
    small = [f"q{i}" for i in range(config.PER_QUEUE_AUTO_MAX)]
    assert automatic.queue_series(small) == set(small)
    assert automatic.queue_series([*small, "one-more"]) == set()
    with pytest.raises(ConfigError, match=r"metrics.per_queue: expected a list"):
        config.load(write(tmp_path, "[metrics]\nper_queue = 'lp'\n"))
