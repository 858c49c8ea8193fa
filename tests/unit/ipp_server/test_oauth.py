"""Bearer-token validation (gateway/ipp/server/oauth.py): the claims, the
signature attacks, the key set and when it is fetched again.

Tokens and keys are real (PyJWT and `cryptography`, tests/oauth_server.py);
only the network is replaced: `Published` answers the validator's fetches
with the test issuer's metadata and JWKS and counts them (the same fetches
over real HTTPS are in tests/integration/test_ipp_oauth.py). Time for the
refetch rules is trio's clock (``autojump_clock``); the time claims are
checked against the wall clock, as PyJWT does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import trio

from gateway.config import OAuthConfig
from gateway.ipp.server.oauth import (
    MIN_REFETCH,
    AuthorizationServer,
    BearerTokens,
    FetchError,
    KeySet,
    TokenError,
    TokenUser,
    bearer_challenge,
    bearer_token,
    discovery_uris,
)
from tests.oauth_server import (
    Issuer,
    SigningKey,
    b64url,
    hs256_with_public_key,
    tampered_payload,
    tampered_signature,
    unsigned,
)

ISSUER = "https://as.example"
PRINTER = "ipps://printer.example:631/ipp/print"
STEP = 5.0


def ours(audience: str) -> bool:
    return audience == PRINTER


class Published:
    """The issuer's documents, as the validator's fetch sees them."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.fetched: Counter[str] = Counter()
        self.down = False

    async def __call__(self, url: str) -> Any:
        self.fetched[urlsplit(url).path] += 1
        await trio.sleep(0)
        if self.down:
            raise FetchError(f"{url}: connection refused")
        path = urlsplit(url).path
        if path in self.issuer.metadata_paths:
            return self.issuer.metadata()
        if path == "/jwks":
            return self.issuer.jwks()
        raise FetchError(f"{url}: HTTP 404")

    @property
    def jwks_fetches(self) -> int:
        return self.fetched["/jwks"]


@pytest.fixture(scope="module")
def issuer_keys() -> dict[str, SigningKey]:
    """Keys are slow to make (RSA): one set for the module."""
    return {alg: SigningKey.new(alg) for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture
def issuer(issuer_keys: dict[str, SigningKey]) -> Issuer:
    """An issuer at `ISSUER` publishing the module's RS256 key."""
    made = Issuer("ES256")  # a cheap key of its own, replaced by the module's RS256 one
    made.url = ISSUER
    made.current = issuer_keys["RS256"]
    made.published = [made.current]
    return made


def validator(published: Published, **settings: Any) -> BearerTokens:
    config = OAuthConfig(issuer=ISSUER, **settings)
    return BearerTokens(config, AuthorizationServer(config, published))


async def check(tokens: BearerTokens, token: str) -> TokenUser:
    with trio.fail_after(STEP):
        return await tokens.validate(token, ours)


async def refused(tokens: BearerTokens, token: str) -> TokenError:
    with trio.fail_after(STEP), pytest.raises(TokenError) as info:
        await tokens.validate(token, ours)
    return info.value


# --------------------------------------------------------------------------
# A good token, and the claims


async def test_a_good_token_names_its_user(issuer: Issuer) -> None:
    published = Published(issuer)
    user = await check(validator(published), issuer.token(PRINTER))
    assert user.name == "alice" and not user.operator
    assert user.scopes == {"print"}
    assert user.expires == pytest.approx(time.time() + 300, abs=10)
    # Metadata first (RFC 8414), then the key set it names.
    assert published.fetched == {"/.well-known/oauth-authorization-server": 1, "/jwks": 1}


async def test_time_claims_with_leeway(issuer: Issuer) -> None:
    tokens = validator(Published(issuer), leeway=30.0)
    now = int(time.time())
    expired = await refused(tokens, issuer.token(PRINTER, exp=now - 3600, iat=now - 7200))
    assert (expired.status, expired.error) == (401, "invalid_token")
    assert expired.description == "the token has expired"
    # Within the leeway (clock skew) it is still good.
    assert (await check(tokens, issuer.token(PRINTER, exp=now - 10))).name == "alice"
    early = await refused(tokens, issuer.token(PRINTER, nbf=now + 3600))
    assert early.description == "the token is not valid yet"
    assert (await refused(tokens, issuer.token(PRINTER, iat=now + 3600))).description == (
        "the token is not valid yet"
    )
    assert (await check(tokens, issuer.token(PRINTER, nbf=now + 10))).name == "alice"
    never = await refused(tokens, issuer.token(PRINTER, exp=None))
    assert never.description == "the token has no expiry"


async def test_audience(issuer: Issuer) -> None:
    tokens = validator(Published(issuer))
    other = await refused(tokens, issuer.token("ipps://elsewhere.example/ipp/print"))
    assert other.description == "the token is not for this printer"
    assert (await refused(tokens, issuer.token(PRINTER, aud=None))).description == (
        "the token has no audience"
    )
    # A list of audiences is fine when one of them is this printer.
    both = issuer.token(["https://api.example", PRINTER])
    assert (await check(tokens, both)).name == "alice"
    # Configured audiences replace the printer URIs.
    configured = validator(Published(issuer), audience=("urn:print-gateway",))
    assert (await check(configured, issuer.token("urn:print-gateway"))).name == "alice"
    assert (await refused(configured, issuer.token(PRINTER))).error == "invalid_token"


async def test_issuer(issuer: Issuer) -> None:
    tokens = validator(Published(issuer))
    wrong = await refused(tokens, issuer.token(PRINTER, iss="https://evil.example"))
    assert wrong.description == "the token is from another issuer"
    assert (await refused(tokens, issuer.token(PRINTER, iss=None))).description == (
        "the token has no issuer"
    )


async def test_scope_user_claim_and_operators(issuer: Issuer) -> None:
    published = Published(issuer)
    tokens = validator(
        published,
        scope="print",
        operator_scope="print:admin",
        operator_claim="realm_access.roles",
        operator_groups=("printer-admins",),
    )
    lacking = await refused(tokens, issuer.token(PRINTER, scope="openid profile"))
    assert (lacking.status, lacking.error) == (403, "insufficient_scope")
    assert lacking.description == "the token lacks the scope print"
    assert tokens.challenge(lacking) == (
        f'Bearer realm="{ISSUER}", scope="print", error="insufficient_scope", '
        'error_description="the token lacks the scope print"'
    )
    admin = await check(tokens, issuer.token(PRINTER, scope="print print:admin"))
    assert admin.operator
    grouped = issuer.token(PRINTER, realm_access={"roles": ["printer-admins", "staff"]})
    assert (await check(tokens, grouped)).operator
    staff = issuer.token(PRINTER, realm_access={"roles": ["staff"]})
    assert not (await check(tokens, staff)).operator
    # scp as a list (Entra ID, Okta) counts as the scopes.
    listed = issuer.token(PRINTER, scope=None, scp=["print", "print:admin"])
    assert (await check(tokens, listed)).operator

    by_name = validator(published, user_claim="preferred_username")
    named = issuer.token(PRINTER, preferred_username="Bob Builder")
    assert (await check(by_name, named)).name == "Bob Builder"
    nameless = await refused(by_name, issuer.token(PRINTER))
    assert nameless.description == "the token names no user (preferred_username)"
    # Names are cleaned and cut as IPP names (255 octets, on a character boundary).
    messy = issuer.token(PRINTER, sub=" carol\x00\x1b[31m ")
    assert (await check(tokens, messy)).name == "carol[31m"
    long = issuer.token(PRINTER, sub="é" * 200)
    assert (await check(tokens, long)).name == "é" * 127
    numeric = await refused(tokens, issuer.token(PRINTER, sub=12345))  # sub must be a string
    assert (numeric.error, numeric.description) == ("invalid_token", "the token is malformed")


# --------------------------------------------------------------------------
# Signatures


async def test_signature_attacks(issuer: Issuer) -> None:
    tokens = validator(Published(issuer))
    claims = issuer.claims(PRINTER)
    none = await refused(tokens, unsigned(claims, kid=issuer.current.kid))
    assert none.description == "the token's signature algorithm is not accepted"
    confusion = await refused(tokens, hs256_with_public_key(issuer.current, claims))
    assert confusion.description == "the token's signature algorithm is not accepted"
    good = issuer.token(PRINTER)
    promoted = await refused(tokens, tampered_payload(good, sub="root", scope="print:admin"))
    assert promoted.description == "the token's signature is wrong"
    flipped = await refused(tokens, tampered_signature(good))
    assert flipped.description == "the token's signature is wrong"
    for garbage in ("", "not-a-jwt", "a.b.c", good.replace(".", "", 1)):
        assert (await refused(tokens, garbage)).error == "invalid_token"
    # Never the token in what goes back to the client.
    assert good not in flipped.description and good.split(".")[2] not in str(flipped)


async def test_an_hmac_key_in_the_key_set_is_never_used(issuer: Issuer) -> None:
    """A JWKS that (by mistake or malice) holds a shared secret under the
    token's kid: HS256 is not accepted, and the key is not even kept."""
    secret = b"shared secret"
    document = {
        "keys": [
            {"kty": "oct", "kid": "k1", "k": "c2hhcmVkIHNlY3JldA", "alg": "HS256"},
            issuer.current.jwk(),
        ]
    }
    keys = KeySet.parse(document, OAuthConfig().algorithms)
    assert keys.kids() == {issuer.current.kid}
    head = b64url(b'{"alg":"HS256","kid":"k1"}')
    body = b64url(json.dumps(issuer.claims(PRINTER)).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    tokens = validator(Published(issuer), algorithms=("RS256", "HS256"))  # even if listed
    assert (await refused(tokens, f"{head}.{body}.{b64url(mac)}")).error == "invalid_token"


async def test_the_key_must_fit_the_algorithm(
    issuer: Issuer, issuer_keys: dict[str, SigningKey]
) -> None:
    rsa = issuer.current
    published = Published(issuer)
    # A key that names RS256 is not used for PS256, even with the same RSA key.
    as_ps256 = dataclasses.replace(rsa, alg="PS256")
    tokens = validator(published, algorithms=("RS256", "PS256"))
    wrong = await refused(tokens, as_ps256.sign(issuer.claims(PRINTER)))
    assert wrong.description == "the token's key is not for its algorithm"
    # Without an alg in the JWK, the key's type decides: PS256 with an RSA key is fine.
    issuer.published = []
    plain_jwk = rsa.jwk(with_alg=False)

    async def fetch(url: str) -> Any:
        return {"keys": [plain_jwk]} if url.endswith("/jwks") else issuer.metadata()

    config = OAuthConfig(issuer=ISSUER, algorithms=("RS256", "PS256"))
    lenient = BearerTokens(config, AuthorizationServer(config, fetch))
    assert (await check(lenient, as_ps256.sign(issuer.claims(PRINTER)))).name == "alice"
    # An ES256 token naming the RSA key's id is not verified with it.
    ec_key = dataclasses.replace(issuer_keys["ES256"], kid=rsa.kid)
    mixed = await refused(lenient, ec_key.sign(issuer.claims(PRINTER)))
    assert mixed.description == "the token's signature algorithm is not accepted"
    config = OAuthConfig(issuer=ISSUER, algorithms=("RS256", "ES256"))
    lenient = BearerTokens(config, AuthorizationServer(config, fetch))
    mixed = await refused(lenient, ec_key.sign(issuer.claims(PRINTER)))
    assert mixed.description == "the token's key is not for its algorithm"


async def test_other_key_types(issuer: Issuer, issuer_keys: dict[str, SigningKey]) -> None:
    issuer.published = [issuer_keys["ES256"], issuer_keys["EdDSA"], issuer.current]
    tokens = validator(Published(issuer))
    for alg in ("ES256", "EdDSA", "RS256"):
        key = issuer_keys[alg]
        assert (await check(tokens, key.sign(issuer.claims(PRINTER, sub=alg)))).name == alg
    # A token without a kid is tried with each key that fits its algorithm.
    unnamed = jwt.encode(issuer.claims(PRINTER), issuer_keys["ES256"].private, algorithm="ES256")
    assert "kid" not in jwt.get_unverified_header(unnamed)
    assert (await check(tokens, unnamed)).name == "alice"
    stranger = SigningKey.new("ES256")
    unknown = jwt.encode(issuer.claims(PRINTER), stranger.private, algorithm="ES256")
    assert (await refused(tokens, unknown)).description == "the token's signature is wrong"


# --------------------------------------------------------------------------
# The key set: rotation, refetch limits, failures


async def test_a_rotated_key_is_fetched_at_once(issuer: Issuer, autojump_clock: Any) -> None:
    published = Published(issuer)
    tokens = validator(published)
    assert (await check(tokens, issuer.token(PRINTER))).name == "alice"
    assert published.jwks_fetches == 1
    issuer.published = [issuer.current, SigningKey.new("ES256")]
    new = issuer.published[1]
    issuer.current = new
    # Not in the keys fetched before: fetched again, and the token is good.
    assert (await check(tokens, issuer.token(PRINTER, sub="bob"))).name == "bob"
    assert published.jwks_fetches == 2
    # Known keys need no fetch.
    assert (await check(tokens, issuer.token(PRINTER))).name == "alice"
    assert published.jwks_fetches == 2


async def test_unknown_key_ids_refetch_at_most_every_few_seconds(
    issuer: Issuer, autojump_clock: Any
) -> None:
    published = Published(issuer)
    tokens = validator(published)
    await check(tokens, issuer.token(PRINTER))
    stranger = SigningKey.new("ES256")  # never published
    for _ in range(20):
        made_up = stranger.sign(issuer.claims(PRINTER))
        assert (await refused(tokens, made_up)).description == (
            "the token is signed with an unknown key"
        )
    assert published.jwks_fetches == 2  # the first, and one for the unknown kid
    await trio.sleep(MIN_REFETCH + 1)
    await refused(tokens, stranger.sign(issuer.claims(PRINTER)))
    assert published.jwks_fetches == 3
    # Many at once with a cold cache: one fetch, all served.
    cold = Published(issuer)
    many = validator(cold)
    results: list[str] = []

    async def one() -> None:
        results.append((await check(many, issuer.token(PRINTER))).name)

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(one)
    assert results == ["alice"] * 10 and cold.jwks_fetches == 1


async def test_keys_are_refreshed_every_keys_refresh(issuer: Issuer, autojump_clock: Any) -> None:
    published = Published(issuer)
    tokens = validator(published, keys_refresh=600.0)
    await check(tokens, issuer.token(PRINTER))
    await trio.sleep(300)
    await check(tokens, issuer.token(PRINTER))
    assert published.jwks_fetches == 1
    await trio.sleep(301)
    await check(tokens, issuer.token(PRINTER))
    assert published.jwks_fetches == 2
    # A withdrawn key stops working at the next refresh.
    old = issuer.current
    issuer.published = [SigningKey.new("ES256")]
    await trio.sleep(601)
    gone = await refused(tokens, old.sign(issuer.claims(PRINTER)))
    assert gone.description == "the token is signed with an unknown key"


async def test_a_failed_fetch_keeps_the_keys_and_without_keys_it_is_503(
    issuer: Issuer, autojump_clock: Any
) -> None:
    published = Published(issuer)
    tokens = validator(published, keys_refresh=60.0)
    published.down = True
    down = await refused(tokens, issuer.token(PRINTER))
    assert (down.status, down.error) == (503, None)
    # Within MIN_REFETCH nobody waits for another try.
    await refused(tokens, issuer.token(PRINTER))
    assert published.fetched["/.well-known/oauth-authorization-server"] == 1
    published.down = False
    await trio.sleep(MIN_REFETCH + 1)
    assert (await check(tokens, issuer.token(PRINTER))).name == "alice"
    published.down = True
    await trio.sleep(120)  # past keys_refresh: the fetch fails, the old keys serve
    assert (await check(tokens, issuer.token(PRINTER))).name == "alice"


async def test_metadata_discovery(issuer: Issuer) -> None:
    assert discovery_uris("https://as.example") == [
        "https://as.example/.well-known/oauth-authorization-server",
        "https://as.example/.well-known/openid-configuration",
    ]
    # RFC 8414 section 3: the well-known part goes before the issuer's path.
    assert discovery_uris("https://as.example/realms/print/") == [
        "https://as.example/.well-known/oauth-authorization-server/realms/print",
        "https://as.example/realms/print/.well-known/openid-configuration",
    ]
    # Only OpenID discovery answers: it is used.
    published = Published(issuer)
    issuer.metadata_paths = {"/.well-known/openid-configuration"}
    assert (await check(validator(published), issuer.token(PRINTER))).name == "alice"
    assert published.fetched["/.well-known/openid-configuration"] == 1
    # Metadata that names another issuer is not believed (RFC 8414 section 3.3).
    issuer.metadata_paths = {"/.well-known/oauth-authorization-server"}
    impostor = Published(issuer)
    tokens = validator(impostor)
    issuer.url = "https://evil.example"
    token = issuer.token(PRINTER, iss=ISSUER)
    assert (await refused(tokens, token)).status == 503
    assert impostor.jwks_fetches == 0
    # A configured jwks_uri needs no metadata.
    issuer.url = ISSUER
    direct = Published(issuer)
    config = {"jwks_uri": f"{ISSUER}/jwks"}
    assert (await check(validator(direct, **config), token)).name == "alice"
    assert direct.fetched == {"/jwks": 1}


def test_authorization_header_and_challenges() -> None:
    assert bearer_token("Bearer abc.DEF-_~+/=") == "abc.DEF-_~+/="
    assert bearer_token("bearer   abc.def.ghi  ") == "abc.def.ghi"
    assert bearer_token("Basic YWxpY2U6eA==") is None
    assert bearer_token("") is None
    assert bearer_token('Bearer a"b') == ""  # malformed, not missing
    assert bearer_token("Bearer " + "a" * 20000) == ""
    assert bearer_challenge("https://as.example") == 'Bearer realm="https://as.example"'
    assert bearer_challenge("https://as.example", scope="print") == (
        'Bearer realm="https://as.example", scope="print"'
    )
    assert bearer_challenge(
        "https://as.example", error="invalid_token", description="the token has expired"
    ) == (
        'Bearer realm="https://as.example", error="invalid_token", '
        'error_description="the token has expired"'
    )


async def test_an_unreadable_ca_file_is_a_fetch_failure(tmp_path: Path) -> None:
    config = OAuthConfig(issuer=ISSUER, ca_file=tmp_path / "missing-ca.pem")
    tokens = BearerTokens(config)  # the real fetch: it stops at the CA file
    error = await refused(tokens, "e30.e30.sig")
    assert error.status == 401  # malformed: never gets as far as the keys
    key = SigningKey.new("ES256")
    key_token = key.sign({"iss": ISSUER, "aud": PRINTER, "sub": "a", "exp": time.time() + 60})
    unavailable = await refused(tokens, key_token)
    assert (unavailable.status, unavailable.error) == (503, None)
    assert unavailable.description == "the authorization server's keys cannot be fetched"
