"""Configuration: a TOML file plus command-line overrides, validated at start-up.

Everything a running gateway reads from its configuration is a frozen
dataclass built here. Validation happens once, before anything binds or
opens, so a bad setting fails at start with one line that names the file,
the key and the reason (`ConfigError`), never deep inside a request.

The file's schema is written as data (`_SCHEMA`): each section lists its keys
with a parser and a default. Unknown sections and keys are errors, because a
misspelt key silently ignored is a setting silently not applied.
"""

from __future__ import annotations

import codecs
import fnmatch
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_QUEUE = "lp"
LPD_PORT = 515
IPP_PORT = 631
KNOWN_SCHEMES = ("file", "ipp", "ipps", "lpd")
LOG_LEVELS = ("debug", "info", "warning", "error")
AUTH_POLICIES = ("none", "jobs", "all")
LOG_FORMATS = ("text", "json")
#: [metrics] per_queue not set: series per queue when there are at most this many.
PER_QUEUE_AUTO_MAX = 50

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,126}$")


class ConfigError(Exception):
    """A configuration problem, rendered as ``FILE: KEY: REASON`` on one line."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


# --------------------------------------------------------------------------
# Value types


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A ``HOST:PORT`` to listen on; an empty host means every address."""

    host: str
    port: int

    def __str__(self) -> str:
        host = self.host or "*"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def parse_listen(text: str) -> ListenAddress:
    """Parse ``HOST:PORT``, ``[V6]:PORT``, ``*:PORT`` or ``:PORT``."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} is not HOST:PORT ([::1]:631 for IPv6)")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:5515)")
        if ":" in host:
            raise ValueError(f"{text!r}: put an IPv6 address in brackets, like [::1]:631")
    if host in ("*", "0.0.0.0/0"):
        host = ""
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return ListenAddress(host, int(port_text))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``30s``, ``5m``, ``2h``, ``7d``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 5m, 2h or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration like 30s, 5m, 2h or 7d")


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "tib": 1024**4,
}


def parse_size(value: object) -> int:
    """Bytes from an integer or a string like ``64KiB``, ``10GiB``, ``500MB``."""
    if isinstance(value, bool):
        raise ValueError("expected a size like 64KiB or 10GiB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = (match.group(2) or "b").lower()
            return int(match.group(1)) * _SIZE_UNITS[unit]
    raise ValueError(f"{value!r} is not a size like 64KiB, 500MB or 10GiB")


#: Words `parse_bool` reads as on and as off (an empty value is a bare option name).
TRUE_WORDS = frozenset({"", "on", "yes", "true", "1"})
FALSE_WORDS = frozenset({"off", "no", "false", "0"})


def parse_bool(value: object, *, words: bool = False) -> bool:
    """A yes/no setting: the one boolean parser of the gateway.

    A TOML boolean is taken as it is. With ``words`` (values that come as text,
    like a backend URI's query), `TRUE_WORDS` and `FALSE_WORDS` are read too,
    in any case; without, anything but a boolean is refused.
    """
    if isinstance(value, bool):
        return value
    if not words:
        raise ValueError(f"expected true or false, got {type(value).__name__} {value!r}")
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{value!r}: not on/off, yes/no or true/false")


def check_queue_name(name: str) -> str:
    """Queue names are used in URIs and LPD commands: letters, digits, ``_ . -``."""
    if not _QUEUE_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid queue name (1-127 letters, digits, '_', '.', '-', "
            "starting with a letter or digit)"
        )
    return name


def name_matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether a queue name matches one of the glob `patterns` (``[dnssd] queues``,
    ``[metrics] per_queue``; case-sensitive, like queue names)."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_backend_uri(uri: str) -> str:
    """Check the shape of a backend URI; the backend checks its own options later."""
    if not isinstance(uri, str):
        raise ValueError(f"expected a URI (text), got {type(uri).__name__} {uri!r}")
    parts = urlsplit(uri)
    if parts.scheme not in KNOWN_SCHEMES:
        known = ", ".join(f"{s}://" for s in KNOWN_SCHEMES)
        raise ValueError(f"unknown backend scheme in {uri!r} (known: {known})")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"{uri!r}: a file backend needs an absolute path, file:///dir")
    else:
        if not parts.hostname:
            raise ValueError(f"{uri!r}: no host")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"{uri!r}: bad port") from exc
        if parts.scheme == "lpd" and not parts.path.strip("/"):
            raise ValueError(f"{uri!r}: an lpd backend needs a queue, lpd://host/queue")
    return uri


def parse_queue_option(text: str) -> tuple[str, str]:
    """``NAME=URI`` from the ``--queue`` flag."""
    name, sep, uri = text.partition("=")
    if not sep or not uri:
        raise ValueError(f"{text!r} is not NAME=BACKEND_URI (for example lp=file:///tmp/out)")
    return check_queue_name(name.strip()), check_backend_uri(uri.strip())


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an address or network like 10.0.0.0/8") from exc


# --------------------------------------------------------------------------
# The configuration model


#: The backend URI of an infrastructure queue (`QueueConfig.infrastructure`): its jobs
#: are held for proxies (gateway/core/infra.py), never sent anywhere by the gateway.
INFRA_BACKEND = "infra:hold"


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One print queue: its name, its backend and how it presents itself."""

    name: str
    backend: str
    accepting: bool = True  # takes new jobs (IPP printer-is-accepting-jobs, LPD NAK if not)
    enabled: bool = True  # forwards jobs (CUPS "started"; LPRng "lpc start")
    info: str = ""
    location: str = ""
    make_and_model: str = ""
    auth: str = ""  # IPP authentication policy for this queue; "" = ipp.auth
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    # What the printer behind the queue can do, for LPD and file backends (an IPP
    # backend reports its own): media by PWG self-describing name, the default one
    # ("" = convert.default_media), color, two-sided printing (None: the backend's
    # default), and where the printer is on the map / in the organisation.
    media: tuple[str, ...] = ()
    media_default: str = ""
    color: bool | None = None
    duplex: bool | None = None
    organization: str = ""
    organizational_unit: str = ""
    geo_location: str = ""  # a geo: URI (RFC 5870), "" = unknown
    # Proxy role (PWG 5100.18, gateway/infra/): fetch jobs from an Infrastructure
    # Printer (its printer URI), or from the one a System Service assigns
    # (Register-Output-Device); "" = not a proxy queue. Credentials are read
    # from files (never written in the configuration); fetch_ca_file: the CAs
    # to verify the Infrastructure Printer's certificate with (None: the system's).
    fetch_from: str = ""
    fetch_system: str = ""
    fetch_user: str = ""
    fetch_password_file: Path | None = None
    fetch_token_file: Path | None = None
    fetch_ca_file: Path | None = None
    # Infrastructure Printer role (PWG 5100.18, gateway/core/infra.py): the queue holds
    # its jobs for proxies to fetch instead of forwarding them (no backend of its own).
    infrastructure: bool = False


@dataclass(frozen=True, slots=True)
class LpdConfig:
    listen: tuple[ListenAddress, ...] = (ListenAddress("", LPD_PORT),)
    strict_byte_count: bool = False  # refuse files that end with the connection
    lenient_byte_count: bool | None = None  # deprecated: not strict_byte_count
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trusted_hosts: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    trusted_hosts_remove_authenticated: bool = False  # root may remove jobs sent with a password
    max_connections: int = 256
    max_connections_per_source: int = 32  # every source, trusted_hosts too
    rate_limit: float = 20.0  # new connections/s per source (0: no limit); trusted_hosts exempt
    idle_timeout: float = 60.0
    command_timeout: float = 30.0  # a command line, or the next subcommand line
    job_timeout: float = 3600.0  # a whole receive-job (\2) connection
    max_control_file: int = 64 * 1024
    max_line: int = 1024
    legacy_encoding: str = "cp1252"


@dataclass(frozen=True, slots=True)
class IppConfig:
    listen: tuple[ListenAddress, ...] = (ListenAddress("", IPP_PORT),)
    tls_listen: tuple[ListenAddress, ...] = ()
    certificate: Path | None = None
    private_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    max_connections: int = 256  # requests being served at once
    max_open_connections: int = 1024  # TCP connections, idle ones included
    max_connections_per_source: int = 32  # connections (and requests) per client address
    idle_timeout: float = 60.0
    request_timeout: float = 3600.0  # one request, headers to end of body; 0: none
    min_body_rate: int = 1024  # bytes/s, over body_rate_window of waiting; 0: none
    body_rate_window: float = 60.0
    multiple_operation_timeout: float = 300.0
    notify_wait_max: float = 30.0  # longest held Get-Notifications (notify-wait); 0: none
    auth: str = "none"  # none | jobs | all (gateway/ipp/server/auth.py)
    password_file: Path | None = None
    operators: tuple[str, ...] = ()
    client_ca: Path | None = None  # mutual TLS: only clients with a certificate from this CA
    require_tls: bool = False  # no plain listener: IPP and metrics are served over TLS only


@dataclass(frozen=True, slots=True)
class DnssdConfig:
    enabled: bool = False  # like CUPS, queues are not announced until asked to
    interfaces: tuple[str, ...] = ()  # IPv4 addresses to announce on; empty = all
    queues: tuple[str, ...] = ("*",)  # glob patterns of the queue names announced
    announce_per_second: float = 20.0  # services registered per second at start


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: tuple[ListenAddress, ...] = ()  # a listener of its own for GET /metrics
    #: Glob patterns of the queues with series of their own; None (not set): every
    #: queue when there are at most PER_QUEUE_AUTO_MAX, none otherwise.
    per_queue: tuple[str, ...] | None = None

    def queue_series(self, names: Sequence[str]) -> set[str]:
        """Which of the queue `names` get series of their own."""
        if self.per_queue is None:
            return set(names) if len(names) <= PER_QUEUE_AUTO_MAX else set()
        patterns = self.per_queue
        return {n for n in names if name_matches(n, patterns)}


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    max_job_size: int = 0  # 0: no limit but free space
    min_free_space: int = 64 * 1024**2


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """Where job records and documents live (``[spool]``)."""

    store: str = ""  # "" = SQLite in the spool folder; postgresql://user@host:port/db
    store_password_file: Path | None = None  # else the URL's password, PGPASSWORD or .pgpass
    documents: Path | None = None  # job folders; None = <spool_dir>/jobs (shared: a shared folder)
    poll_interval: float = 1.0  # seconds between reads of the shared store without NOTIFY


def parse_store_url(value: object) -> str:
    """A ``postgresql://`` (or ``postgres://``) URL naming the shared job store."""
    if not isinstance(value, str):
        raise ValueError("expected a postgresql://user@host:port/database URL")
    text = value.strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (validates the port)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("must be a postgresql://user@host:port/database URL")
    if not parts.path.strip("/"):
        raise ValueError("names no database (postgresql://user@host:port/DATABASE)")
    return text


def _poll_interval(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0.05 <= seconds <= 60:
        raise ValueError("must be between 0.05 and 60 seconds")
    return seconds


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Several gateways on one shared store (gateway/core/leases.py); unused with SQLite."""

    lease_time: float = 10.0  # a dead holder's queues are forwarded by another within this
    instance_id: str = ""  # "" = made once and kept in <spool_dir>/instance-id


def _lease_time(value: Any) -> float:
    seconds = parse_duration(value)
    if not 1.0 <= seconds <= 600.0:
        raise ValueError("must be between 1 and 600 seconds")
    return seconds


def _instance_id(value: Any) -> str:
    text = _str(value).strip()
    if len(text) > 64 or not all(c.isalnum() or c in "-_.:" for c in text):
        raise ValueError("must be up to 64 letters, digits or - _ . : (empty: made at start)")
    return text


@dataclass(frozen=True, slots=True)
class InfraConfig:
    """The Infrastructure Printer role (gateway/core/infra.py): who may act as a proxy."""

    proxy_users: tuple[str, ...] = ()  # authenticated users allowed the proxy operations
    proxy_group: str = ""  # and the members of this Unix group ("" = none)
    max_output_devices: int = 16  # registered output devices, all queues together


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    max_jobs: int = 1000
    max_age: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    retry_initial: float = 5.0
    retry_max: float = 300.0
    status_interval_busy: float = 30.0  # ask a printer with work for its state
    status_interval_idle: float = 300.0  # ask an idle printer (+-10% at random)
    status_polls_per_second: float = 2.0  # at most, to all remote printers together


@dataclass(frozen=True, slots=True)
class ConvertConfig:
    """Document conversion (gateway/convert/): limits of each converter process."""

    enabled: bool = True  # off: documents go to the backend as they came
    max_concurrent: int = 0  # conversions at once; 0 = the number of cores
    time_limit: float = 300.0  # wall-clock seconds per converter process
    cpu_limit: float = 240.0  # CPU seconds per converter process (RLIMIT_CPU)
    memory_limit: int = 1024**3  # address space per converter process (RLIMIT_AS)
    nice: int = 10  # added CPU niceness
    default_media: str = "iso_a4_210x297mm"  # text and images when the job names none
    text_font: Path | None = None  # a monospace TTF; None = DejaVu Sans Mono


@dataclass(frozen=True, slots=True)
class AccountingConfig:
    """One record per ended job (gateway/core/accounting.py)."""

    file: Path | None = None  # JSON lines; None = <spool_dir>/accounting.jsonl
    enabled: bool = True
    page_log: Path | None = None  # also CUPS's page_log format, when set
    max_size: int = 0  # rotate when a file passes this size; 0 = never (SIGUSR1 rotates)
    keep: int = 10  # rotated files kept (file.1 ... file.N)


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    """OAuth 2.0 bearer tokens (PWG 5100.23, RFC 6750); off while issuer is ""."""

    issuer: str = ""  # the authorization server (its "iss")
    audience: tuple[str, ...] = ()  # accepted "aud" values; empty = the printer URIs
    metadata_uri: str = ""  # "" = issuer + /.well-known/oauth-authorization-server
    jwks_uri: str = ""  # "" = from the metadata
    user_claim: str = "sub"  # the claim that names the user
    scope: str = ""  # a scope every token must carry; "" = none required
    operator_scope: str = ""  # tokens with this scope are operators
    operator_claim: str = ""  # a claim (e.g. "groups") listing the operator groups
    operator_groups: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    leeway: float = 30.0  # seconds of clock skew accepted on exp/nbf/iat
    keys_refresh: float = 3600.0  # refetch the keys this often, and on an unknown kid
    ca_file: Path | None = None  # verify the authorization server with this CA
    client_certificate_user: str = "cn"  # mTLS: cn | email | off, the user a client cert names


@dataclass(frozen=True, slots=True)
class Config:
    """The whole, validated configuration."""

    spool_dir: Path
    queues: tuple[QueueConfig, ...]
    lpd: LpdConfig = LpdConfig()
    ipp: IppConfig = IppConfig()
    limits: LimitsConfig = LimitsConfig()
    history: HistoryConfig = HistoryConfig()
    spool: SpoolConfig = SpoolConfig()
    fleet: FleetConfig = FleetConfig()
    infra: InfraConfig = InfraConfig()
    dispatch: DispatchConfig = DispatchConfig()
    dnssd: DnssdConfig = DnssdConfig()
    metrics: MetricsConfig = MetricsConfig()
    convert: ConvertConfig = ConvertConfig()
    accounting: AccountingConfig = AccountingConfig()
    oauth: OAuthConfig = OAuthConfig()
    log_level: str = "info"
    log_format: str = "text"  # text | json
    hostname: str = ""
    user: str = ""  # drop root for this user after binding
    group: str = ""
    source: str = "<defaults>"

    @property
    def default_queue(self) -> QueueConfig:
        return self.queues[0]

    def queue(self, name: str) -> QueueConfig | None:
        for queue in self.queues:
            if queue.name == name:
                return queue
        return None


def default_spool_dir() -> Path:
    """/var/spool/lpd-ipp-gateway for root, else a folder in the user's state dir."""
    if os.geteuid() == 0:
        return Path("/var/spool/lpd-ipp-gateway")
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "lpd-ipp-gateway"


def embedded_queue(spool_dir: Path) -> QueueConfig:
    """The embedded default: queue ``lp`` writing to ``<spool-dir>/output``."""
    return QueueConfig(name=DEFAULT_QUEUE, backend=(spool_dir / "output").absolute().as_uri())


# --------------------------------------------------------------------------
# Reading the TOML file

Parser = Callable[[Any], Any]


def _typed(kind: type | tuple[type, ...], what: str) -> Parser:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}")
        return value

    return parse


def _str(value: Any) -> str:
    return str(_typed(str, "a string")(value))


def _positive_int(value: Any) -> int:
    value = _typed(int, "a whole number")(value)
    if value < 1:
        raise ValueError("must be at least 1")
    return int(value)


def _non_negative_number(value: Any) -> float:
    number = _typed((int, float), "a number")(value)
    if number < 0:
        raise ValueError("cannot be negative")
    return float(number)


def _positive_number(value: Any) -> float:
    number = _non_negative_number(value)
    if number == 0:
        raise ValueError("must be more than 0")
    return number


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a whole number of 0 or more")
    return value


def _nice(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 19:
        raise ValueError(f"{value!r} is not a niceness from 0 to 19")
    return value


#: A PWG 5101.1 self-describing media name: class_name_WIDTHxHEIGHTunit.
_MEDIA_NAME = re.compile(r"^[a-z0-9]+_[a-z0-9.-]+_\d+(\.\d+)?x\d+(\.\d+)?(mm|in)$")


def _media_name(value: Any) -> str:
    text = _str(value)
    if not _MEDIA_NAME.match(text):
        raise ValueError(
            f"{text!r} is not a PWG media name (like iso_a4_210x297mm or na_letter_8.5x11in)"
        )
    return text


def _geo_uri(value: Any) -> str:
    text = _str(value)
    if text and not re.match(r"^geo:-?\d+(\.\d+)?,-?\d+(\.\d+)?(,-?\d+(\.\d+)?)?(;.*)?$", text):
        raise ValueError(f"{text!r} is not a geo: URI (like geo:52.52,13.405)")
    return text


def _auto_bool(value: Any) -> bool | None:
    """A switch that may also be "auto" (None: the backend's default)."""
    return None if value == "auto" else parse_bool(value)


def _https_url(value: Any) -> str:
    text = _str(value)
    if not text:
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{text!r} is not an https:// URL")
    return text


#: Asymmetric JWS algorithms only: "none" and the HMAC ones (a shared secret) never.
JWT_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def _jwt_algorithm(value: Any) -> str:
    return _one_of(value, JWT_ALGORITHMS)


def _list_of(item: Parser) -> Parser:
    def parse(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return tuple(item(v) for v in value)

    return parse


def _listen_item(value: Any) -> ListenAddress:
    return parse_listen(_str(value))


def _network_item(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return _network(_str(value))


def _path(value: Any) -> Path:
    path = Path(_str(value)).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{value!r} must be an absolute path")
    return path


def _log_level(value: Any) -> str:
    level = _str(value).lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


def _encoding(value: Any) -> str:
    name = _str(value)
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise ValueError(f"{name!r} is not a known text encoding") from exc
    return name


def _one_of(value: Any, choices: Sequence[str]) -> str:
    text = _str(value)
    if text not in choices:
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return text


def _ipv4(value: Any) -> str:
    text = _str(value)
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IPv4 address") from None
    return text


def _auth_policy(value: Any) -> str:
    return _one_of(value, AUTH_POLICIES)


def _queue_auth_policy(value: Any) -> str:
    """A queue's policy; empty means the ipp.auth default."""
    return "" if _str(value) == "" else _auth_policy(value)


def _old_byte_count_key(source: str, table: Mapping[str, Any], lpd: LpdConfig) -> LpdConfig:
    """The deprecated ``lpd.lenient_byte_count`` read as ``strict_byte_count = not it``
    (the LPD listener logs that it is deprecated)."""
    if lpd.lenient_byte_count is None:
        return lpd
    if "strict_byte_count" in table and lpd.strict_byte_count == lpd.lenient_byte_count:
        raise ConfigError(
            source,
            "lpd.lenient_byte_count",
            "contradicts lpd.strict_byte_count; remove it (it is deprecated)",
        )
    return replace(lpd, strict_byte_count=not lpd.lenient_byte_count)


def _tls_only(source: str, table: Mapping[str, Any], ipp: IppConfig) -> IppConfig:
    """``ipp.require_tls``: no plain IPP listener (``ipp.listen`` is then empty
    unless set, and an address set there is an error), and a TLS one is needed."""
    if not ipp.require_tls:
        return ipp
    if not ipp.tls_listen:
        raise ConfigError(
            source, "ipp.tls_listen", "needed when ipp.require_tls is true (IPP is ipps:// only)"
        )
    if "listen" in table and ipp.listen:
        raise ConfigError(
            source,
            "ipp.listen",
            "must be empty when ipp.require_tls is true: a plain listener serves IPP without "
            "TLS (move its addresses to ipp.tls_listen)",
        )
    return replace(ipp, listen=())


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {type(value).__name__}")
    return dict(value)


# Section -> key -> (attribute name in the dataclass, parser).
_SECTIONS: dict[str, tuple[type, dict[str, tuple[str, Parser]]]] = {
    "lpd": (
        LpdConfig,
        {
            "listen": ("listen", _list_of(_listen_item)),
            "strict_byte_count": ("strict_byte_count", parse_bool),
            "lenient_byte_count": ("lenient_byte_count", parse_bool),
            "allow_networks": ("allow_networks", _list_of(_network_item)),
            "trusted_hosts": ("trusted_hosts", _list_of(_network_item)),
            "trusted_hosts_remove_authenticated": (
                "trusted_hosts_remove_authenticated",
                parse_bool,
            ),
            "max_connections": ("max_connections", _positive_int),
            "max_connections_per_source": ("max_connections_per_source", _positive_int),
            "rate_limit": ("rate_limit", _non_negative_number),
            "idle_timeout": ("idle_timeout", parse_duration),
            "command_timeout": ("command_timeout", parse_duration),
            "job_timeout": ("job_timeout", parse_duration),
            "max_control_file": ("max_control_file", parse_size),
            "max_line": ("max_line", parse_size),
            "legacy_encoding": ("legacy_encoding", _encoding),
        },
    ),
    "ipp": (
        IppConfig,
        {
            "listen": ("listen", _list_of(_listen_item)),
            "tls_listen": ("tls_listen", _list_of(_listen_item)),
            "certificate": ("certificate", _path),
            "private_key": ("private_key", _path),
            "allowed_hosts": ("allowed_hosts", _list_of(_str)),
            "max_connections": ("max_connections", _positive_int),
            "max_open_connections": ("max_open_connections", _positive_int),
            "max_connections_per_source": ("max_connections_per_source", _positive_int),
            "idle_timeout": ("idle_timeout", parse_duration),
            "request_timeout": ("request_timeout", parse_duration),
            "min_body_rate": ("min_body_rate", parse_size),
            "body_rate_window": ("body_rate_window", parse_duration),
            "multiple_operation_timeout": ("multiple_operation_timeout", parse_duration),
            "notify_wait_max": ("notify_wait_max", parse_duration),
            "auth": ("auth", _auth_policy),
            "password_file": ("password_file", _path),
            "operators": ("operators", _list_of(_str)),
            "client_ca": ("client_ca", _path),
            "require_tls": ("require_tls", parse_bool),
        },
    ),
    "limits": (
        LimitsConfig,
        {
            "max_job_size": ("max_job_size", parse_size),
            "min_free_space": ("min_free_space", parse_size),
        },
    ),
    "spool": (
        SpoolConfig,
        {
            "store": ("store", parse_store_url),
            "store_password_file": ("store_password_file", _path),
            "documents": ("documents", _path),
            "poll_interval": ("poll_interval", _poll_interval),
        },
    ),
    "fleet": (
        FleetConfig,
        {
            "lease_time": ("lease_time", _lease_time),
            "instance_id": ("instance_id", _instance_id),
        },
    ),
    "infra": (
        InfraConfig,
        {
            "proxy_users": ("proxy_users", _list_of(_str)),
            "proxy_group": ("proxy_group", _str),
            "max_output_devices": ("max_output_devices", _positive_int),
        },
    ),
    "history": (
        HistoryConfig,
        {
            "max_jobs": ("max_jobs", _positive_int),
            "max_age": ("max_age", parse_duration),
        },
    ),
    "dnssd": (
        DnssdConfig,
        {
            "enabled": ("enabled", parse_bool),
            "interfaces": ("interfaces", _list_of(_ipv4)),
            "queues": ("queues", _list_of(_str)),
            "announce_per_second": ("announce_per_second", _positive_number),
        },
    ),
    "metrics": (
        MetricsConfig,
        {
            "listen": ("listen", _list_of(_listen_item)),
            "per_queue": ("per_queue", _list_of(_str)),
        },
    ),
    "convert": (
        ConvertConfig,
        {
            "enabled": ("enabled", parse_bool),
            "max_concurrent": ("max_concurrent", _non_negative_int),
            "time_limit": ("time_limit", parse_duration),
            "cpu_limit": ("cpu_limit", parse_duration),
            "memory_limit": ("memory_limit", parse_size),
            "nice": ("nice", _nice),
            "default_media": ("default_media", _media_name),
            "text_font": ("text_font", _path),
        },
    ),
    "accounting": (
        AccountingConfig,
        {
            "file": ("file", _path),
            "enabled": ("enabled", parse_bool),
            "page_log": ("page_log", _path),
            "max_size": ("max_size", parse_size),
            "keep": ("keep", _positive_int),
        },
    ),
    "oauth": (
        OAuthConfig,
        {
            "issuer": ("issuer", _https_url),
            "audience": ("audience", _list_of(_str)),
            "metadata_uri": ("metadata_uri", _https_url),
            "jwks_uri": ("jwks_uri", _https_url),
            "user_claim": ("user_claim", _str),
            "scope": ("scope", _str),
            "operator_scope": ("operator_scope", _str),
            "operator_claim": ("operator_claim", _str),
            "operator_groups": ("operator_groups", _list_of(_str)),
            "algorithms": ("algorithms", _list_of(_jwt_algorithm)),
            "leeway": ("leeway", parse_duration),
            "keys_refresh": ("keys_refresh", parse_duration),
            "ca_file": ("ca_file", _path),
            "client_certificate_user": (
                "client_certificate_user",
                lambda v: _one_of(v, ("cn", "email", "off")),
            ),
        },
    ),
    "dispatch": (
        DispatchConfig,
        {
            "retry_initial": ("retry_initial", parse_duration),
            "retry_max": ("retry_max", parse_duration),
            "status_interval_busy": ("status_interval_busy", parse_duration),
            "status_interval_idle": ("status_interval_idle", parse_duration),
            "status_polls_per_second": ("status_polls_per_second", _positive_number),
        },
    ),
}

_GATEWAY_KEYS: dict[str, Parser] = {
    "spool_dir": _path,
    "log_level": _log_level,
    "log_format": lambda v: _one_of(v, LOG_FORMATS),
    "hostname": _str,
    "user": _str,
    "group": _str,
}

_QUEUE_KEYS: dict[str, Parser] = {
    "backend": check_backend_uri,
    "accepting": parse_bool,
    "enabled": parse_bool,
    "info": _str,
    "location": _str,
    "make_and_model": _str,
    "auth": _queue_auth_policy,
    "backend_options": _table,
    "media": _list_of(_media_name),
    "media_default": lambda v: _media_name(v) if v != "" else "",
    "color": _auto_bool,
    "duplex": _auto_bool,
    "organization": _str,
    "organizational_unit": _str,
    "geo_location": _geo_uri,
    "fetch_from": lambda v: _infra_uri(v) if v != "" else "",
    "fetch_system": lambda v: _infra_uri(v) if v != "" else "",
    "fetch_user": _str,
    "fetch_password_file": lambda v: _path(v) if v != "" else None,
    "fetch_token_file": lambda v: _path(v) if v != "" else None,
    "fetch_ca_file": lambda v: _path(v) if v != "" else None,
    "infrastructure": parse_bool,
}


def _infra_uri(value: Any) -> str:
    """An Infrastructure Printer or System Service URI (ipp:// or ipps://)."""
    text = _str(value)
    parts = urlsplit(text)
    if parts.scheme not in ("ipp", "ipps") or not parts.hostname:
        raise ValueError(f"{text!r} is not an ipp:// or ipps:// URI with a host")
    if parts.username or parts.password:
        raise ValueError(
            f"{parts.scheme}://{parts.hostname}...: no credentials in the URI "
            "(use fetch_user and fetch_password_file or fetch_token_file)"
        )
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError(f"{text!r}: bad port") from exc
    return text


def _check_fetch(source: str, name: str, fields: Mapping[str, Any]) -> None:
    """The proxy keys of one queue, taken together."""
    where = f"queues.{name}"
    if fields.get("fetch_from") and fields.get("fetch_system"):
        raise ConfigError(
            source, f"{where}.fetch_system", "set fetch_from or fetch_system, not both"
        )
    uri = fields.get("fetch_from") or fields.get("fetch_system") or ""
    password, token = fields.get("fetch_password_file"), fields.get("fetch_token_file")
    if password is not None and token is not None:
        raise ConfigError(
            source, f"{where}.fetch_token_file", "set fetch_password_file or fetch_token_file"
        )
    if password is not None and not fields.get("fetch_user"):
        raise ConfigError(source, f"{where}.fetch_user", "needed with fetch_password_file")
    if (password is not None or token is not None) and not uri.startswith("ipps://"):
        raise ConfigError(
            source,
            f"{where}.fetch_from" if fields.get("fetch_from") else f"{where}.fetch_system",
            "credentials are only sent over ipps:// (set an ipps:// URI)",
        )
    for key in ("fetch_password_file", "fetch_token_file", "fetch_ca_file"):
        path = fields.get(key)
        if path is not None and not uri:
            raise ConfigError(source, f"{where}.{key}", "needs fetch_from or fetch_system")
        if path is not None and not Path(path).is_file():
            raise ConfigError(source, f"{where}.{key}", f"{path} is not a readable file")


def _parse_section(
    source: str, prefix: str, data: Any, keys: Mapping[str, tuple[str, Parser]]
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(source, prefix, "must be a table ([" + prefix + "])")
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in keys:
            known = ", ".join(sorted(keys))
            raise ConfigError(source, f"{prefix}.{key}", f"unknown key (known: {known})")
        attr, parser = keys[key]
        try:
            values[attr] = parser(raw)
        except ValueError as exc:
            raise ConfigError(source, f"{prefix}.{key}", str(exc)) from None
    return values


def load(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML configuration file."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except PermissionError:
        raise ConfigError(source, "", "permission denied") from None
    except IsADirectoryError:
        raise ConfigError(source, "", "is a directory, not a file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    return from_mapping(data, source=source)


def from_mapping(data: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Validate an already-parsed configuration (a TOML document as a dict)."""
    known_top = {"gateway", "queues", *_SECTIONS}
    for key in data:
        if key not in known_top:
            raise ConfigError(
                source, key, f"unknown section (known: {', '.join(sorted(known_top))})"
            )

    gateway_keys = {k: (k, p) for k, p in _GATEWAY_KEYS.items()}
    top = _parse_section(source, "gateway", data.get("gateway", {}), gateway_keys)
    spool_dir: Path = top.get("spool_dir") or default_spool_dir()

    sections: dict[str, Any] = {}
    for name, (cls, keys) in _SECTIONS.items():
        sections[name] = cls(**_parse_section(source, name, data.get(name, {}), keys))
    sections["lpd"] = _old_byte_count_key(source, data.get("lpd", {}), sections["lpd"])

    queues_data = data.get("queues", {})
    if not isinstance(queues_data, dict):
        raise ConfigError(source, "queues", "must be a table of [queues.NAME] tables")
    queues: list[QueueConfig] = []
    for name, table in queues_data.items():
        try:
            check_queue_name(name)
        except ValueError as exc:
            raise ConfigError(source, f"queues.{name}", str(exc)) from None
        fields = _parse_section(
            source, f"queues.{name}", table, {k: (k, p) for k, p in _QUEUE_KEYS.items()}
        )
        _check_fetch(source, name, fields)
        if fields.get("infrastructure"):
            if "backend" in fields:
                raise ConfigError(
                    source,
                    f"queues.{name}.backend",
                    "an infrastructure queue holds its jobs for proxies: leave backend out",
                )
            fields["backend"] = INFRA_BACKEND
        if "backend" not in fields:
            raise ConfigError(source, f"queues.{name}.backend", "missing (a backend URI)")
        queues.append(QueueConfig(name=name, **fields))
    if not queues:
        queues.append(embedded_queue(spool_dir))
    sections["ipp"] = _tls_only(source, data.get("ipp", {}), sections["ipp"])
    ipp: IppConfig = sections["ipp"]
    policies = {ipp.auth, *(q.auth for q in queues if q.auth)}
    if policies - {"none"}:
        oauth: OAuthConfig = sections["oauth"]
        certificates = ipp.client_ca is not None and oauth.client_certificate_user != "off"
        if ipp.password_file is None and not oauth.issuer and not certificates:
            raise ConfigError(
                source,
                "ipp.password_file",
                "needed when IPP authentication is on (ipp.auth), unless oauth.issuer "
                "or ipp.client_ca (with oauth.client_certificate_user) names the users",
            )
        if not ipp.tls_listen:
            raise ConfigError(
                source,
                "ipp.tls_listen",
                "needed when IPP authentication is on: passwords and tokens are only "
                "accepted over ipps://",
            )

    return Config(
        spool_dir=spool_dir,
        queues=tuple(queues),
        lpd=sections["lpd"],
        ipp=sections["ipp"],
        limits=sections["limits"],
        history=sections["history"],
        spool=sections["spool"],
        fleet=sections["fleet"],
        infra=sections["infra"],
        dispatch=sections["dispatch"],
        dnssd=sections["dnssd"],
        metrics=sections["metrics"],
        convert=sections["convert"],
        accounting=sections["accounting"],
        oauth=sections["oauth"],
        log_level=top.get("log_level", "info"),
        log_format=top.get("log_format", "text"),
        hostname=top.get("hostname", ""),
        user=top.get("user", ""),
        group=top.get("group", ""),
        source=source,
    )


def apply_overrides(
    config: Config,
    *,
    spool_dir: Path | None = None,
    lpd_listen: Sequence[ListenAddress] = (),
    ipp_listen: Sequence[ListenAddress] = (),
    queues: Sequence[tuple[str, str]] = (),
    log_level: str | None = None,
    log_format: str | None = None,
    embedded_default: bool = False,
    store: str | None = None,
) -> Config:
    """Command-line flags override the file.

    ``--queue`` flags replace the file's queues as a whole (the first one is
    the default queue). With the embedded default (no file, no ``--queue``),
    the ``lp`` queue follows ``--spool-dir``.
    """
    changes: dict[str, Any] = {}
    if spool_dir is not None:
        changes["spool_dir"] = spool_dir.absolute()
    if lpd_listen:
        changes["lpd"] = replace(config.lpd, listen=tuple(lpd_listen))
    if ipp_listen:
        if config.ipp.require_tls:
            raise ConfigError(
                "--ipp-listen",
                "",
                f"not allowed: {config.source} sets ipp.require_tls = true "
                "(plain IPP is off; clients use the ipp.tls_listen addresses)",
            )
        changes["ipp"] = replace(config.ipp, listen=tuple(ipp_listen))
    if store is not None:
        try:
            changes["spool"] = replace(config.spool, store=parse_store_url(store))
        except ValueError as exc:
            raise ConfigError("--store", "", str(exc)) from None
    if log_level is not None:
        changes["log_level"] = _log_level(log_level)
    if log_format is not None:
        changes["log_format"] = _one_of(log_format, LOG_FORMATS)
    if queues:
        seen: set[str] = set()
        for name, _uri in queues:
            if name in seen:
                raise ConfigError("--queue", name, "queue named twice")
            seen.add(name)
        changes["queues"] = tuple(QueueConfig(name=n, backend=u) for n, u in queues)
    elif embedded_default:
        changes["queues"] = (embedded_queue(changes.get("spool_dir", config.spool_dir)),)
    return replace(config, **changes)


def machine_hostname(config: Config) -> str:
    """The host name the gateway calls itself (LPD ``H`` lines, URIs)."""
    return config.hostname or socket.gethostname()
