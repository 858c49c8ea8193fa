"""IPP authentication: who a request proves to be, and the password file.

A request over the ipps:// listener proves its user in one of three ways,
tried in this order (the first one present decides; a wrong one is refused,
never passed over for the next):

- HTTP Basic against a file of salted password hashes (below);
- an OAuth 2.0 bearer token (PWG 5100.23, RFC 6750), checked in `oauth`
  against the configured authorization server (``[oauth]``): the user is
  the token's subject (or ``oauth.user_claim``);
- with mutual TLS (``ipp.client_ca``), the verified client certificate: the
  user is its subject commonName or e-mail address
  (``oauth.client_certificate_user``; `tls.ClientCertificates`).

A user proved so is the request's user whatever requesting-user-name says
(RFC 8011 section 9.3: job-originating-user-name is the most authenticated
name), and an operator when listed in ``ipp.operators`` (or, for a token,
by ``oauth.operator_scope`` / ``oauth.operator_groups``); the rules that
follow are the core's (`gateway.core.policy`). Names from a token or a
certificate are cleaned by `user_name` first.

The policy (``ipp.auth``, or a queue's own ``auth``) says which operations
need a user:

- ``none``: nobody is asked; requesting-user-name is believed (as in CUPS's
  default for local networks), and loopback clients are the operator.
- ``jobs``: printer reads (Get-Printer-Attributes and friends) stay
  anonymous, every job operation needs a user.
- ``all``: every operation needs a user.

Credentials are only taken over the ipps:// listener (a bearer token too,
from loopback clients as well: it can be replayed like a password): a
request that needs a user on the plain listener is answered
client-error-not-authenticated with a pointer to ipps, never with a challenge
that would send a password or a token in clear. On ipps:// a missing or
wrong password gets HTTP 401 with ``WWW-Authenticate: Basic
realm="lpd-ipp-gateway"``, and, with OAuth configured, a ``Bearer`` challenge
too (`oauth.bearer_challenge`).

The password file holds one ``user:scrypt$N$r$p$SALT$HASH`` line per user
(base64 salt and hash; ``#`` starts a comment); ``lpd-ipp-gateway passwd``
writes it. It is read again when it changes, so users can be added while the
gateway runs.

A check costs 16 MiB and some 50 ms of scrypt, so `PasswordChecks` guards it:
at most `CHECK_CONCURRENCY` run at once (in worker threads; more wait, and
past `CHECK_QUEUE` waiting the answer is HTTP 503), an address that sent
`FREE_FAILURES` wrong passwords is refused for a while without a check (HTTP
429 with Retry-After: 1 s, doubling with each further failure up to
`MAX_BLOCK`, forgotten `FORGET_AFTER` after its last failure; at most
`MAX_SOURCES` addresses are remembered), and a right user and password are
remembered for `CACHE_TTL` (keyed by an HMAC of the pair under a key made at
start, at most `CACHE_SIZE` pairs), since CUPS sends them with every request.
A removed user or changed password therefore stops working within
`CACHE_TTL`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trio

from gateway.ipp.operations import Operation

log = logging.getLogger("gateway.ipp.auth")

REALM = "lpd-ipp-gateway"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'

#: name(MAX) in octets (RFC 8011 section 5.1.3).
NAME_MAX = 255

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1

#: Operations that only read printer description: anonymous under ``jobs``.
PRINTER_READS = frozenset(
    {
        Operation.GET_PRINTER_ATTRIBUTES,
        Operation.GET_PRINTER_SUPPORTED_VALUES,
        Operation.CUPS_GET_PRINTERS,
        Operation.CUPS_GET_DEFAULT,
    }
)


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who a request proved to be, and how (see the module doc)."""

    user: str
    method: str  # basic | oauth | certificate
    operator: bool = False  # an operator by its token (operator_scope, operator_groups)


def needs_user(policy: str, operation: int) -> bool:
    """Whether ``operation`` needs an authenticated user under ``policy``."""
    if policy == "all":
        return True
    if policy == "jobs":
        return operation not in PRINTER_READS
    return False


def user_name(text: str) -> str:
    """A user name from a token claim or a certificate, as IPP keeps one: no
    control or other unprintable characters, no blanks around it, at most
    `NAME_MAX` octets of UTF-8 (cut on a character boundary); "" if nothing
    is left."""
    cleaned = "".join(c for c in text if c.isprintable()).strip()
    data = cleaned.encode("utf-8")
    if len(data) <= NAME_MAX:
        return cleaned
    return data[:NAME_MAX].decode("utf-8", "ignore").rstrip()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A ``scrypt$N$r$p$SALT$HASH`` record for ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, record: str) -> bool:
    """Whether ``password`` matches a record made by `hash_password`."""
    try:
        scheme, n, r, p, salt64, hash64 = record.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt64, validate=True)
        expected = base64.b64decode(hash64, validate=True)
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(digest, expected)


class PasswordFile:
    """The users and their password records, read again when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, str] = {}

    def _load(self) -> None:
        try:
            info = os.stat(self.path)
        except OSError as exc:
            log.warning("ipp: cannot read password file %s: %s", self.path, exc.strerror)
            self._users = {}
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        users: dict[str, str] = {}
        for number, raw in enumerate(self.path.read_text("utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, record = line.partition(":")
            if not sep or not user:
                log.warning("ipp: %s line %d is not USER:HASH; ignored", self.path, number)
                continue
            users[user] = record
        self._users = users
        self._stamp = stamp

    def verify(self, user: str, password: str) -> bool:
        """Whether ``user`` exists and ``password`` is theirs."""
        self._load()
        record = self._users.get(user)
        if record is None:
            hash_password(password, salt=b"\0" * 16)  # same cost whether or not the user exists
            return False
        return check_password(password, record)

    def users(self) -> Iterable[str]:
        self._load()
        return list(self._users)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def set_password(path: Path, user: str, password: str) -> None:
    """Add or replace ``user`` in the password file (atomically, mode 0600)."""
    if not user or ":" in user or any(c.isspace() for c in user):
        raise ValueError(f"{user!r} is not a valid user name (no ':' or blanks)")
    lines: list[str] = []
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            if line.partition(":")[0].strip() != user:
                lines.append(line)
    lines.append(f"{user}:{hash_password(password)}")
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Guarding the checks

CHECK_CONCURRENCY = 2
CHECK_QUEUE = 64
FREE_FAILURES = 5
MAX_BLOCK = 60.0
FORGET_AFTER = 900.0
MAX_SOURCES = 10_000
CACHE_TTL = 60.0
CACHE_SIZE = 1024


class Verdict(enum.Enum):
    """How a password check ended."""

    OK = "ok"
    WRONG = "wrong"  # HTTP 401
    BLOCKED = "blocked"  # too many failures from this address: HTTP 429
    BUSY = "busy"  # too many checks waiting: HTTP 503


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    blocked_until: float = 0.0


class PasswordChecks:
    """Password checks with bounded cost (see the module doc)."""

    def __init__(self, passwords: PasswordFile) -> None:
        self.passwords = passwords
        self._key = secrets.token_bytes(32)
        self._limiter = trio.CapacityLimiter(CHECK_CONCURRENCY)
        self._waiting = 0
        self._cache: dict[bytes, float] = {}  # HMAC(user, password) -> expiry
        self._failures: dict[str, _Failures] = {}  # by address, oldest first

    def retry_after(self, source: str) -> float:
        """Seconds until `source` may try again (0 if it may now)."""
        entry = self._failures.get(source)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - trio.current_time())

    async def check(self, source: str, user: str, password: str) -> Verdict:
        """Whether `user` / `password`, sent from address `source`, are right."""
        key = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        now = trio.current_time()
        if self._cache.get(key, 0.0) > now:
            return Verdict.OK
        if self.retry_after(source) > 0:
            return Verdict.BLOCKED
        if self._waiting >= CHECK_QUEUE:
            return Verdict.BUSY
        self._waiting += 1
        try:
            ok = await trio.to_thread.run_sync(
                self.passwords.verify, user, password, limiter=self._limiter
            )
        finally:
            self._waiting -= 1
        if ok:
            self._remember(key)
            return Verdict.OK
        self._failed(source)
        return Verdict.WRONG

    def _remember(self, key: bytes) -> None:
        now = trio.current_time()
        if len(self._cache) >= CACHE_SIZE:
            self._cache = {k: t for k, t in self._cache.items() if t > now}
            while len(self._cache) >= CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = now + CACHE_TTL

    def _failed(self, source: str) -> None:
        now = trio.current_time()
        entry = self._failures.pop(source, None)
        if entry is None or now - entry.last > FORGET_AFTER:
            entry = _Failures(0, now)
        entry.count += 1
        entry.last = now
        if entry.count >= FREE_FAILURES:
            block = min(MAX_BLOCK, 2.0 ** (entry.count - FREE_FAILURES))
            entry.blocked_until = now + block
            log.warning(
                "ipp: %s: %d wrong passwords; its password checks are refused for %gs",
                source,
                entry.count,
                block,
            )
        self._failures[source] = entry  # now the newest
        if len(self._failures) > MAX_SOURCES:
            self._failures = {
                s: e for s, e in self._failures.items() if now - e.last <= FORGET_AFTER
            }
            while len(self._failures) > MAX_SOURCES:
                del self._failures[next(iter(self._failures))]
