"""OAuth 2.0 bearer tokens for the IPP front-end (PWG 5100.23, RFC 6750, RFC 9068).

Why: an IPP client that signed in at the site's authorization server (CUPS
2.5 / libcups3 and PAPPL follow PWG 5100.23) sends ``Authorization: Bearer
<token>`` instead of a password. The gateway never sees a password then: it
checks that the token is a JWT signed by one of the keys the authorization
server publishes, issued by it (``iss``), for this gateway (``aud``), not
expired (``exp``, required), already valid (``nbf``, ``iat``), and carrying the
scope the gateway asks for (``scope``, space-separated; ``scp`` as a list is
read too). The user is the token's ``sub`` (or ``oauth.user_claim``), an
operator when the token has ``oauth.operator_scope`` or its
``oauth.operator_claim`` lists one of ``oauth.operator_groups``.

The JWT work (base64url, JSON, signatures, the time claims) is PyJWT's, a
maintained library; this module chooses what is accepted:

- Algorithms: only the configured ones, which are asymmetric (the config
  refuses ``none`` and HMAC): an unsigned token, or one "signed" with HS256
  under the server's public key as the secret, never verifies. The key must
  fit the algorithm (an RSA key for RS*/PS*, P-256 for ES256, ...), and a key
  that names its ``alg`` is used with that one only.
- Keys: `AuthorizationServer` finds the JWKS through the server's metadata
  (RFC 8414 ``/.well-known/oauth-authorization-server``, then OpenID
  discovery), fetches it with httpx (TLS verified against ``oauth.ca_file``
  or the system store; no redirects; at most `MAX_DOCUMENT` bytes within
  `FETCH_TIMEOUT` each), and keeps it for ``oauth.keys_refresh`` (fetched
  again on the first token after that; the old set serves meanwhile). A
  token signed with a key id not in the set makes it fetch again at once,
  but at most once per `MIN_REFETCH` seconds, so a key rotation is followed
  without a restart and a stream of made-up key ids costs one fetch per
  `MIN_REFETCH`. A failed fetch keeps the keys it had, and the next try
  waits `MIN_REFETCH`; with no keys at all, tokens get HTTP 503.
- Audience: one of ``oauth.audience``, or, when that is empty, one of this
  gateway's printer URIs (the caller says which: `asgi.IppApp.names_us`).

Failures are `TokenError`, which carries its RFC 6750 answer: HTTP 401 with
``error="invalid_token"`` and a short description that never repeats the
token, HTTP 403 ``insufficient_scope``, or HTTP 503.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import trio
from jwt.types import Options

from gateway.config import OAuthConfig
from gateway.throttle import Throttle

from .auth import user_name

log = logging.getLogger("gateway.ipp.oauth")

#: Seconds one GET of the metadata or the key set may take.
FETCH_TIMEOUT = 10.0
#: The largest metadata or key-set document read.
MAX_DOCUMENT = 1024 * 1024
#: At most one fetch per this many seconds for an unknown key id (or after a failure).
MIN_REFETCH = 10.0
#: Keys kept from one key set (the rest are ignored).
MAX_KEYS = 64
#: The longest bearer token looked at (hypercorn caps the header anyway).
MAX_TOKEN = 16 * 1024

WELL_KNOWN_OAUTH = "/.well-known/oauth-authorization-server"
WELL_KNOWN_OPENID = "/.well-known/openid-configuration"

#: RFC 6750 section 2.1: ``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: Which key type (and curve) each asymmetric JWS algorithm needs (RFC 7518, RFC 8037).
KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

FetchJson = Callable[[str], Awaitable[Any]]
"""GET a URL and decode its JSON body; raises `FetchError`."""


class FetchError(Exception):
    """The metadata or the key set could not be fetched or read."""


class TokenError(Exception):
    """A bearer token that is not accepted, with its RFC 6750 answer."""

    def __init__(self, status: int, error: str | None, description: str) -> None:
        super().__init__(description)
        self.status = status  # HTTP 401, 403 or 503
        self.error = error  # invalid_token, insufficient_scope, or None (503)
        self.description = description


def invalid_token(description: str) -> TokenError:
    """HTTP 401 ``error="invalid_token"``."""
    return TokenError(401, "invalid_token", description)


def keys_unavailable() -> TokenError:
    """HTTP 503: no key set to check tokens with (the server cannot be reached)."""
    return TokenError(503, None, "the authorization server's keys cannot be fetched")


@dataclass(frozen=True, slots=True)
class TokenUser:
    """Who a valid token says the client is."""

    name: str  # the user, cleaned and cut as an IPP name
    operator: bool  # by oauth.operator_scope or oauth.operator_groups
    scopes: frozenset[str]
    expires: float  # its exp, seconds since the epoch


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 section
    2.1), else None; a Bearer header whose token is not b64token syntax is ``""``
    (a malformed token, not a missing one)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    if len(value) > MAX_TOKEN or not B64TOKEN.fullmatch(value):
        return ""
    return value


def _quoted(text: str) -> str:
    """An RFC 7235 quoted-string of `text` (which holds no control characters)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    realm: str, *, scope: str = "", error: str | None = None, description: str = ""
) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 section 3): with no
    `error` when the request had no token, else with the error code and its
    description."""
    parts = [f"realm={_quoted(realm)}"]
    if scope:
        parts.append(f"scope={_quoted(scope)}")
    if error:
        parts.append(f"error={_quoted(error)}")
        if description:
            parts.append(f"error_description={_quoted(description)}")
    return "Bearer " + ", ".join(parts)


def discovery_uris(issuer: str) -> list[str]:
    """Where the metadata of `issuer` may be: RFC 8414 section 3 (the well-known
    part goes between host and path), then OpenID Connect Discovery (appended)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    oauth = urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN_OAUTH + path, "", ""))
    openid = issuer.rstrip("/") + WELL_KNOWN_OPENID
    return [oauth, openid]


def claim(payload: Mapping[str, Any], name: str) -> Any:
    """The claim `name`; a dotted name (``realm_access.roles``) walks into
    objects when no claim has the whole name."""
    if name in payload:
        return payload[name]
    value: Any = payload
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def scopes_of(payload: Mapping[str, Any]) -> frozenset[str]:
    """The token's scopes: ``scope`` (RFC 9068: space-separated), else ``scp``
    (a list, as Entra ID and Okta send it, or a string)."""
    value = payload.get("scope", payload.get("scp"))
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {v for v in value if isinstance(v, str)}
    return set()


# --------------------------------------------------------------------------
# The key set


@dataclass(frozen=True, slots=True)
class KeySet:
    """The signing keys of a JWKS (RFC 7517) the gateway may verify with."""

    keys: tuple[Mapping[str, Any], ...] = ()
    _prepared: dict[tuple[int, str], jwt.PyJWK] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def parse(cls, document: Any, algorithms: Iterable[str]) -> KeySet:
        """The usable keys of a JWKS document: asymmetric (``RSA``, ``EC``,
        ``OKP``), for signatures (``use`` absent or ``sig``, ``key_ops``
        absent or with ``verify``), and for one of `algorithms` when they name
        an ``alg``. Others (``oct`` secrets among them) are left out."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise FetchError("the key set is not a JWKS (no keys list)")
        allowed = set(algorithms)
        kept: list[Mapping[str, Any]] = []
        for key in document["keys"]:
            if not isinstance(key, Mapping) or key.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            if key.get("use", "sig") != "sig":
                continue
            ops = key.get("key_ops")
            if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
                continue
            if "alg" in key and key["alg"] not in allowed:
                continue
            kept.append(dict(key))
            if len(kept) == MAX_KEYS:
                break
        return cls(tuple(kept))

    def kids(self) -> set[str]:
        return {str(k["kid"]) for k in self.keys if "kid" in k}

    def has(self, kid: str) -> bool:
        return any(k.get("kid") == kid for k in self.keys)

    def candidates(self, kid: str | None, alg: str) -> list[jwt.PyJWK]:
        """The keys a token with header `kid` and `alg` may be verified with:
        the one with that id (every key, for a token without one) whose type
        and curve fit `alg` and that names no other ``alg``."""
        need = KEY_TYPES.get(alg)
        if need is None:
            return []
        kty, curves = need
        found: list[jwt.PyJWK] = []
        for index, key in enumerate(self.keys):
            if kid is not None and key.get("kid") != kid:
                continue
            if key.get("kty") != kty or (curves is not None and key.get("crv") not in curves):
                continue
            if key.get("alg", alg) != alg:
                continue
            prepared = self._prepared.get((index, alg))
            if prepared is None:
                try:
                    prepared = jwt.PyJWK(dict(key), algorithm=alg)
                except jwt.PyJWTError as exc:
                    log.debug("oauth: key %s unusable: %s", key.get("kid", index), exc)
                    continue
                self._prepared[(index, alg)] = prepared
            found.append(prepared)
        return found


# --------------------------------------------------------------------------
# Fetching the metadata and the keys


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: only `ca_file`'s CAs when given, else the system's."""
    return ssl.create_default_context(cafile=ca_file)


async def fetch_json(url: str, verify: ssl.SSLContext) -> Any:
    """GET `url` over verified TLS (no redirects), at most `MAX_DOCUMENT` bytes
    within `FETCH_TIMEOUT`, and decode its JSON."""
    body = bytearray()
    try:
        with trio.fail_after(FETCH_TIMEOUT):
            async with (
                httpx.AsyncClient(verify=verify, timeout=FETCH_TIMEOUT) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT:
                        raise FetchError(f"{url}: more than {MAX_DOCUMENT} bytes")
    except trio.TooSlowError:
        raise FetchError(f"{url}: no answer within {FETCH_TIMEOUT:g}s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {_reason(exc)}") from None
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{url}: not JSON") from None


def _reason(exc: BaseException) -> str:
    """What went wrong, from the first exception in the chain that says
    (httpx's TLS errors say nothing themselves; their ssl cause does)."""
    seen: BaseException | None = exc
    while seen is not None:
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


class AuthorizationServer:
    """The configured authorization server's key set, fetched and kept fresh.

    Fetches run one at a time (others wait for it and use its result); see
    the module doc for when they happen.
    """

    def __init__(self, config: OAuthConfig, fetch: FetchJson | None = None) -> None:
        self.config = config
        self._fetch = fetch
        self._keys: KeySet | None = None
        self._fetched_at = -float("inf")  # when the keys were last fetched (trio clock)
        self._failed_at = -float("inf")  # when a fetch last failed
        self._unknown_at = -float("inf")  # when an unknown key id last made it fetch
        self._attempts = 0  # fetches tried, to tell waiters that one ended
        self._lock = trio.Lock()
        self._failures = Throttle()
        self.fetches = 0  # key-set fetches done (tests and logs)

    async def keys(self) -> KeySet:
        """The key set, fetched when there is none or it is older than
        ``oauth.keys_refresh`` (while that fetch runs, the old set serves);
        `TokenError` 503 when none can be had."""
        keys = self._keys
        if keys is not None and (
            trio.current_time() - self._fetched_at < self.config.keys_refresh or self._lock.locked()
        ):
            return keys
        return await self._refresh(wanted=None)

    async def keys_with(self, kid: str) -> KeySet:
        """The key set, fetched again first when it lacks key `kid` (at most once
        per `MIN_REFETCH` seconds): a rotated key."""
        keys = await self.keys()
        if keys.has(kid):
            return keys
        return await self._refresh(wanted=kid)

    async def _refresh(self, wanted: str | None) -> KeySet:
        """Fetch the key set (for an unknown key id `wanted`, or because there
        is none or it is old), unless a fetch just ended or one may not run yet."""
        attempts = self._attempts
        async with self._lock:
            keys = self._keys
            now = trio.current_time()
            # Not again: another task fetched while this one waited; a fetch failed
            # a moment ago; an unknown key id made one fetch a moment ago.
            if (
                self._attempts != attempts
                or now - self._failed_at < MIN_REFETCH
                or (wanted is not None and now - self._unknown_at < MIN_REFETCH)
            ):
                if keys is None:
                    raise keys_unavailable()
                return keys
            if wanted is not None:
                self._unknown_at = now
                log.info("oauth: a token names key %r, not in the key set: fetching it", wanted)
            try:
                fresh = await self._fetch_keys()
            except FetchError as exc:
                # (Only an attempt that ended counts: a cancelled one, its client
                # gone, leaves the next waiter to fetch.)
                self._attempts += 1
                self._failed_at = trio.current_time()
                if self._failures("fetch") is not None:
                    log.warning(
                        "oauth: cannot fetch the keys of %s: %s%s",
                        self.config.issuer,
                        exc,
                        " (keeping the keys fetched before)" if keys is not None else "",
                    )
                if keys is None:
                    raise keys_unavailable() from None
                return keys
            self._attempts += 1
            self.fetches += 1
            if keys is None or fresh.kids() != keys.kids():
                log.info(
                    "oauth: %d signing keys of %s: %s",
                    len(fresh.keys),
                    self.config.issuer,
                    ", ".join(sorted(fresh.kids())) or "(no key ids)",
                )
            self._keys, self._fetched_at = fresh, trio.current_time()
            return fresh

    async def _fetch_keys(self) -> KeySet:
        fetch = self._fetch
        if fetch is None:
            ca = str(self.config.ca_file) if self.config.ca_file else None
            try:
                context = await trio.to_thread.run_sync(tls_context, ca)
            except (OSError, ssl.SSLError) as exc:
                raise FetchError(f"oauth.ca_file {ca}: {_reason(exc)}") from None

            async def fetch(url: str) -> Any:
                return await fetch_json(url, context)

            self._fetch = fetch
        jwks_uri = self.config.jwks_uri or await self._discover(fetch)
        return KeySet.parse(await fetch(jwks_uri), self.config.algorithms)

    async def _discover(self, fetch: FetchJson) -> str:
        """The jwks_uri of the server's metadata (RFC 8414 section 3.3: the
        metadata must name the configured issuer)."""
        issuer = self.config.issuer
        uris = [self.config.metadata_uri] if self.config.metadata_uri else discovery_uris(issuer)
        problems: list[str] = []
        for uri in uris:
            try:
                metadata = await fetch(uri)
            except FetchError as exc:
                problems.append(str(exc))
                continue
            if not isinstance(metadata, Mapping):
                problems.append(f"{uri}: not a JSON object")
                continue
            if metadata.get("issuer") != issuer:
                raise FetchError(f"{uri} names issuer {metadata.get('issuer')!r}, not {issuer!r}")
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme != "https":
                raise FetchError(f"{uri} has no https jwks_uri")
            return jwks_uri
        raise FetchError("; ".join(problems))


# --------------------------------------------------------------------------
# Validating a token


class BearerTokens:
    """Checks bearer tokens against the configured authorization server."""

    def __init__(self, config: OAuthConfig, server: AuthorizationServer | None = None) -> None:
        self.config = config
        self.server = server or AuthorizationServer(config)

    def challenge(self, error: TokenError | None = None) -> str:
        """The ``WWW-Authenticate: Bearer`` value for a 401 or 403: realm is the
        issuer (where CUPS asks for a token, ``cups/auth.c``), scope the one
        needed; with `error`, its code and description."""
        return bearer_challenge(
            self.config.issuer,
            scope=self.config.scope,
            error=error.error if error is not None else None,
            description=error.description if error is not None else "",
        )

    async def validate(self, token: str, audience_ok: Callable[[str], bool]) -> TokenUser:
        """The user of `token`, or `TokenError`. `audience_ok` says whether an
        ``aud`` value names this gateway (used when ``oauth.audience`` is empty)."""
        if not token:
            raise invalid_token("the token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid_token("the token is malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms or alg not in KEY_TYPES:
            raise invalid_token("the token's signature algorithm is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("the token is malformed")
        keys = await (self.server.keys_with(kid) if kid is not None else self.server.keys())
        candidates = keys.candidates(kid, alg)
        if not candidates:
            if kid is not None and keys.has(kid):
                raise invalid_token("the token's key is not for its algorithm")
            raise invalid_token("the token is signed with an unknown key")
        payload = self._verified(token, alg, candidates)
        self._check_audience(payload, audience_ok)
        return self._user(payload)

    def _verified(self, token: str, alg: str, candidates: list[jwt.PyJWK]) -> dict[str, Any]:
        """The payload once one of `candidates` verifies the signature and the
        time and issuer claims hold."""
        options: Options = {
            "require": ["exp", "iss"],
            "verify_aud": False,  # checked by _check_audience
            "enforce_minimum_key_length": True,
        }
        for key in candidates:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    issuer=self.config.issuer,
                    leeway=self.config.leeway,
                    options=options,
                )
            except jwt.InvalidSignatureError:
                continue  # a token without kid: try the next key
            except jwt.ExpiredSignatureError:
                raise invalid_token("the token has expired") from None
            except jwt.ImmatureSignatureError:
                raise invalid_token("the token is not valid yet") from None
            except jwt.InvalidIssuerError:
                raise invalid_token("the token is from another issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                what = {"exp": "expiry", "iss": "issuer"}.get(exc.claim, exc.claim)
                raise invalid_token(f"the token has no {what}") from None
            except jwt.InvalidKeyError:
                raise invalid_token("the token's key is too weak") from None
            except jwt.PyJWTError:
                raise invalid_token("the token is malformed") from None
        raise invalid_token("the token's signature is wrong")

    def _check_audience(
        self, payload: Mapping[str, Any], audience_ok: Callable[[str], bool]
    ) -> None:
        values = _strings(payload.get("aud"))
        if not values:
            raise invalid_token("the token has no audience")
        configured = self.config.audience
        if configured:
            accepted = any(value in configured for value in values)
        else:
            accepted = any(audience_ok(value) for value in values)
        if not accepted:
            raise invalid_token("the token is not for this printer")

    def _user(self, payload: Mapping[str, Any]) -> TokenUser:
        config = self.config
        scopes = scopes_of(payload)
        if config.scope and config.scope not in scopes:
            raise TokenError(403, "insufficient_scope", f"the token lacks the scope {config.scope}")
        value = claim(payload, config.user_claim)
        name = user_name(value) if isinstance(value, str) else ""
        if not name:
            raise invalid_token(f"the token names no user ({config.user_claim})")
        operator = bool(config.operator_scope) and config.operator_scope in scopes
        if not operator and config.operator_claim:
            groups = _strings(claim(payload, config.operator_claim))
            operator = bool(groups & set(config.operator_groups))
        exp = payload.get("exp")
        return TokenUser(
            name, operator, scopes, float(exp) if isinstance(exp, int | float) else 0.0
        )


__all__ = [
    "AuthorizationServer",
    "BearerTokens",
    "FetchError",
    "KeySet",
    "TokenError",
    "TokenUser",
    "bearer_challenge",
    "bearer_token",
    "discovery_uris",
    "fetch_json",
    "tls_context",
]
