"""OAuth 2.0 bearer tokens (PWG 5100.23, RFC 6750) on a running gateway.

A test authorization server (tests/oauth_server.py: RFC 8414 metadata and a
JWKS over HTTPS on loopback, with a certificate from a CA the test makes and
gives the gateway as ``oauth.ca_file``) issues the tokens; the gateway is the
real command in a subprocess (tests/gateway_process.py); requests are IPP
over httpx with ``Authorization: Bearer``. One server and one gateway serve
the module's tests (the server runs in a thread of its own, so it outlives
each test's trio run); the tests that change them (rotation, pausing) put
things back.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from gateway.ipp import DelimiterTag, Message, Operation, StatusCode, ValueTag, decode, encode
from gateway.ipp.server import oauth
from gateway.ipp.server.auth import set_password
from tests.gateway_process import GatewayProcess
from tests.ipp_harness import tls_context
from tests.oauth_server import (
    Issuer,
    ServerTls,
    hs256_with_public_key,
    make_server_tls,
    serving,
    serving_in_thread,
    tampered_payload,
    tampered_signature,
    unsigned,
)

STEP = 20.0
PASSWORDS = {"carol": "admin"}


@dataclass
class World:
    """The authorization server, the gateway, and where to reach them."""

    issuer: Issuer
    tls: ServerTls
    gateway: GatewayProcess
    ipps_port: int
    ipp_port: int
    out: Path

    def printer(self, path: str = "/printers/lp", *, host: str = "127.0.0.1") -> str:
        return f"ipps://{host}:{self.ipps_port}{path}"

    def url(self, path: str = "/printers/lp") -> str:
        return f"https://127.0.0.1:{self.ipps_port}{path}"

    def token(self, **claims: Any) -> str:
        """A good token for printer ``lp`` (alice, scope print), but for `claims`."""
        audience = claims.pop("aud", self.printer())
        return self.issuer.token(audience, **claims)


def gateway_toml(tmp: Path, issuer: Issuer, tls: ServerTls, **oauth_extra: str) -> Path:
    passwd = tmp / "passwd"
    for user, password in PASSWORDS.items():
        set_password(passwd, user, password)
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    extra = "".join(f"{key} = {value}\n" for key, value in oauth_extra.items())
    conf = tmp / "gateway.toml"
    conf.write_text(
        f'[gateway]\nspool_dir = "{tmp / "spool"}"\n'
        "[lpd]\nlisten = []\n"
        '[ipp]\nlisten = ["127.0.0.1:0"]\ntls_listen = ["127.0.0.1:0"]\nauth = "jobs"\n'
        f'password_file = "{passwd}"\noperators = ["carol"]\n'
        f'[oauth]\nissuer = "{issuer.url}"\nca_file = "{tls.ca}"\nscope = "print"\n'
        'operator_scope = "print:admin"\noperator_claim = "groups"\n'
        'operator_groups = ["printer-admins"]\n'
        f"{extra}"
        f'[queues.lp]\nbackend = "{out.as_uri()}"\n'
    )
    return conf


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("oauth")
    tls = make_server_tls(tmp / "as")
    issuer = Issuer("ES256")
    with serving_in_thread(issuer, tls):
        conf = gateway_toml(tmp, issuer, tls)
        with GatewayProcess(["--config", str(conf)]) as gateway:
            gateway.ready()
            yield World(
                issuer, tls, gateway, gateway.ports["IPPS"][0], gateway.ports["IPP"][0], tmp / "out"
            )
            gateway.signal(15)
            code, log = gateway.finish()
    assert code == 0, log
    assert "Traceback" not in log


def ipp_request(operation: Operation, uri: str, *, user: str = "mallory") -> Message:
    return Message.request(operation, 1, printer_uri=uri, requesting_user_name=user)


def print_job(world: World, *, user: str = "mallory") -> bytes:
    message = ipp_request(Operation.PRINT_JOB, world.printer(), user=user)
    message.operation.add("job-name", ValueTag.NAME, "token plans")
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    return encode(message) + b"printed with a token\n"


async def send(
    world: World, body: bytes, token: str | None = None, *, url: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/ipp"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    verify: ssl.SSLContext | bool = tls_context()
    async with httpx.AsyncClient(verify=verify, timeout=STEP) as client:
        return await client.post(url or world.url(), content=body, headers=headers)


def ipp_status(response: httpx.Response) -> int:
    assert response.status_code == 200, (response.status_code, response.text)
    return decode(response.content)[0].operation_id_or_status


def group(response: httpx.Response, tag: DelimiterTag) -> Any:
    """The first `tag` group of an IPP response (it must be there)."""
    found = decode(response.content)[0].group(tag)
    assert found is not None, response.content
    return found


def job_id_of(response: httpx.Response) -> int:
    return int(group(response, DelimiterTag.JOB_ATTRIBUTES).value("job-id"))


def challenges(response: httpx.Response) -> list[str]:
    return response.headers.get_list("www-authenticate")


def invalid(world: World, description: str) -> str:
    return (
        f'Bearer realm="{world.issuer.url}", scope="print", error="invalid_token", '
        f'error_description="{description}"'
    )


def basic() -> str:
    return 'Basic realm="lpd-ipp-gateway", charset="UTF-8"'


async def job_attributes(world: World, job_id: int, token: str) -> Any:
    message = ipp_request(Operation.GET_JOB_ATTRIBUTES, world.printer())
    message.operation.add("job-id", ValueTag.INTEGER, job_id)
    answer = await send(world, encode(message), token)
    assert ipp_status(answer) == StatusCode.SUCCESSFUL_OK
    return group(answer, DelimiterTag.JOB_ATTRIBUTES)


# --------------------------------------------------------------------------


async def test_print_job_with_a_valid_token_prints_as_the_token_user(world: World) -> None:
    with trio.fail_after(60):
        # No token: 401 offering a token (realm: the issuer, scope) and a password.
        anonymous = await send(world, print_job(world))
        assert anonymous.status_code == 401
        assert challenges(anonymous) == [
            f'Bearer realm="{world.issuer.url}", scope="print"',
            basic(),
        ]
        token = world.token(sub="dana")
        answer = await send(world, print_job(world, user="mallory"), token)
        assert ipp_status(answer) == StatusCode.SUCCESSFUL_OK
        job_id = job_id_of(answer)
        attributes = await job_attributes(world, job_id, token)
        # The token's user, whatever requesting-user-name claimed.
        assert attributes.value("job-originating-user-name") == "dana"
        # Another token user sees that the job exists, not whose it is.
        other = await job_attributes(world, job_id, world.token(sub="erin"))
        assert other.get("job-originating-user-name") is None
        for _ in range(200):  # the file backend delivers it: the sidecar names dana too
            state = (await job_attributes(world, job_id, token)).value("job-state")
            if state == 9:  # completed
                break
            await trio.sleep(0.05)
        assert state == 9
        sidecar = json.loads((world.out / f"job-{job_id}.json").read_text())
        assert sidecar["job-originating-user-name"] == "dana"
        # Printer URIs under another name of this gateway are its audience too.
        localhost = world.token(aud=world.printer("/ipp/print", host="localhost"))
        assert (
            ipp_status(await send(world, print_job(world), localhost)) == StatusCode.SUCCESSFUL_OK
        )
    # The gateway fetched the metadata and the keys once for all these tokens.
    assert world.issuer.requests["/.well-known/oauth-authorization-server"] >= 1
    assert world.issuer.requests["/jwks"] == 1


async def test_bad_tokens_get_401_invalid_token(world: World) -> None:
    issuer = world.issuer
    now = int(time.time())
    claims = issuer.claims(world.printer())
    good = world.token()
    cases = {
        "expired": (world.token(exp=now - 3600, iat=now - 7200), "the token has expired"),
        "not yet valid": (world.token(nbf=now + 3600), "the token is not valid yet"),
        "wrong audience": (
            world.token(aud="ipps://printer.elsewhere.example/ipp/print"),
            "the token is not for this printer",
        ),
        "another port of this host": (
            world.token(aud=f"ipps://127.0.0.1:{world.ipps_port + 1}/printers/lp"),
            "the token is not for this printer",
        ),
        "wrong issuer": (
            world.token(iss="https://evil.example"),
            "the token is from another issuer",
        ),
        "alg none": (
            unsigned(claims, kid=issuer.current.kid),
            "the token's signature algorithm is not accepted",
        ),
        "HS256 with the public key": (
            hs256_with_public_key(issuer.current, claims),
            "the token's signature algorithm is not accepted",
        ),
        "tampered payload": (
            tampered_payload(good, sub="carol", scope="print print:admin"),
            "the token's signature is wrong",
        ),
        "tampered signature": (tampered_signature(good), "the token's signature is wrong"),
        "not a JWT": ("abc.def", "the token is malformed"),
    }
    with trio.fail_after(60):
        for name, (token, description) in cases.items():
            answer = await send(world, print_job(world), token)
            assert answer.status_code == 401, name
            assert challenges(answer) == [invalid(world, description), basic()], name
            assert token not in answer.text
        # A token without the scope the gateway needs: 403 insufficient_scope.
        lacking = await send(world, print_job(world), world.token(scope="openid"))
        assert lacking.status_code == 403
        assert challenges(lacking)[0] == (
            f'Bearer realm="{issuer.url}", scope="print", error="insufficient_scope", '
            'error_description="the token lacks the scope print"'
        )
    lines = world.gateway.wait_for(r"bearer token refused: the token has expired")
    assert good not in world.gateway.log and lines


async def test_a_key_rotation_is_followed_without_restart(world: World) -> None:
    issuer = world.issuer
    with trio.fail_after(60):
        before = world.token(sub="frank")
        assert ipp_status(await send(world, print_job(world), before)) == StatusCode.SUCCESSFUL_OK
        fetched = issuer.requests["/jwks"]
        old = issuer.current
        issuer.rotate()  # the old key is withdrawn, a new one published
        after = world.token(sub="grace")
        assert ipp_status(await send(world, print_job(world), after)) == StatusCode.SUCCESSFUL_OK
        assert issuer.requests["/jwks"] == fetched + 1
        # The withdrawn key no longer signs anything the gateway accepts.
        stale = issuer.token(world.printer(), key=old)
        refused = await send(world, print_job(world), stale)
        assert refused.status_code == 401
        assert challenges(refused)[0] == invalid(world, "the token is signed with an unknown key")
        # Made-up key ids do not make the gateway fetch again and again.
        for _ in range(5):
            made_up = issuer.token(world.printer(), key=type(old).new("ES256"))
            assert (await send(world, print_job(world), made_up)).status_code == 401
        assert issuer.requests["/jwks"] <= fetched + 2
    world.gateway.wait_for(r"oauth: a token names key .*not in the key set: fetching it")


async def test_operators_by_scope_or_group(world: World) -> None:
    pause = encode(ipp_request(Operation.PAUSE_PRINTER, world.printer()))
    resume = encode(ipp_request(Operation.RESUME_PRINTER, world.printer()))
    with trio.fail_after(60):
        plain = world.token(sub="heidi")
        assert ipp_status(await send(world, pause, plain)) == StatusCode.CLIENT_ERROR_FORBIDDEN
        admin = world.token(sub="heidi", scope="print print:admin")
        assert ipp_status(await send(world, pause, admin)) == StatusCode.SUCCESSFUL_OK
        grouped = world.token(sub="ivan", groups=["staff", "printer-admins"])
        assert ipp_status(await send(world, resume, grouped)) == StatusCode.SUCCESSFUL_OK
        staff = world.token(sub="ivan", groups=["staff"])
        assert ipp_status(await send(world, pause, staff)) == StatusCode.CLIENT_ERROR_FORBIDDEN
        # An operator may cancel another user's job (held, so it stays); others may not.
        message = ipp_request(Operation.PRINT_JOB, world.printer())
        message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
        held = message.add_group(DelimiterTag.JOB_ATTRIBUTES)
        held.add("job-hold-until", ValueTag.KEYWORD, "indefinite")
        answer = await send(world, encode(message) + b"held\n", world.token(sub="judy"))
        assert ipp_status(answer) == StatusCode.SUCCESSFUL_OK
        job_id = job_id_of(answer)
        cancel = ipp_request(Operation.CANCEL_JOB, world.printer())
        cancel.operation.add("job-id", ValueTag.INTEGER, job_id)
        body = encode(cancel)
        assert ipp_status(await send(world, body, plain)) == StatusCode.CLIENT_ERROR_NOT_AUTHORIZED
        assert ipp_status(await send(world, body, admin)) == StatusCode.SUCCESSFUL_OK


async def test_tokens_are_taken_over_tls_only(world: World) -> None:
    with trio.fail_after(STEP):
        uri = f"ipp://127.0.0.1:{world.ipp_port}/printers/lp"
        message = ipp_request(Operation.PRINT_JOB, uri)
        message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
        async with httpx.AsyncClient(timeout=STEP) as client:
            answer = await client.post(
                f"http://127.0.0.1:{world.ipp_port}/printers/lp",
                content=encode(message) + b"in clear\n",
                headers={
                    "Content-Type": "application/ipp",
                    "Authorization": f"Bearer {world.token()}",
                },
            )
    # No challenge in clear text: IPP's own not-authenticated, pointing to ipps.
    response = decode(answer.content)[0]
    assert response.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED
    text = str(response.operation.value("status-message"))
    assert "a user name and password or an OAuth token, accepted over ipps:// only" in text


async def test_printer_attributes_advertise_oauth(world: World) -> None:
    with trio.fail_after(STEP):
        message = ipp_request(Operation.GET_PRINTER_ATTRIBUTES, world.printer())
        answer = await send(world, encode(message))
    printer = group(answer, DelimiterTag.PRINTER_ATTRIBUTES)
    uris = printer.values("printer-uri-supported")
    methods = printer.values("uri-authentication-supported")
    assert methods[uris.index(world.printer())] == "oauth"
    assert printer.value("oauth-authorization-server-uri") == world.issuer.url


# --------------------------------------------------------------------------
# Fetching over TLS, and a gateway with OAuth only


async def test_the_authorization_server_is_verified_by_its_ca(tmp_path: Path) -> None:
    tls = make_server_tls(tmp_path / "as")
    issuer = Issuer("ES256")
    with trio.fail_after(STEP):
        async with serving(issuer, tls):
            url = f"{issuer.url}/.well-known/oauth-authorization-server"
            trusted = oauth.tls_context(str(tls.ca))
            assert (await oauth.fetch_json(url, trusted))["issuer"] == issuer.url
            system = oauth.tls_context(None)  # the system's CAs do not know the test CA
            with pytest.raises(oauth.FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                await oauth.fetch_json(url, system)
            with pytest.raises(oauth.FetchError, match="HTTP 404"):
                await oauth.fetch_json(f"{issuer.url}/nowhere", trusted)


async def test_oauth_without_a_password_file(tmp_path: Path) -> None:
    """OAuth alone: no ipp.password_file needed, and a 401 offers Bearer only."""
    tls = make_server_tls(tmp_path / "as")
    issuer = Issuer("ES256")
    out = tmp_path / "out"
    out.mkdir()
    conf = tmp_path / "gateway.toml"
    conf.write_text(
        f'[gateway]\nspool_dir = "{tmp_path / "spool"}"\n[lpd]\nlisten = []\n'
        '[ipp]\nlisten = []\ntls_listen = ["127.0.0.1:0"]\nauth = "all"\n'
        f'[oauth]\nissuer = "{{ISSUER}}"\nca_file = "{tls.ca}"\n'
        f'[queues.lp]\nbackend = "{out.as_uri()}"\n'
    )
    with serving_in_thread(issuer, tls):
        conf.write_text(conf.read_text().replace("{ISSUER}", issuer.url))
        with GatewayProcess(["--config", str(conf)]) as gateway:
            gateway.ready()
            port = gateway.ports["IPPS"][0]
            world = World(issuer, tls, gateway, port, 0, out)
            with trio.fail_after(60):
                gpa = encode(ipp_request(Operation.GET_PRINTER_ATTRIBUTES, world.printer()))
                nothing = await send(world, gpa)
                assert nothing.status_code == 401
                assert challenges(nothing) == [f'Bearer realm="{issuer.url}"']
                token = world.token(sub="kim", scope=None)  # no scope is required here
                answer = await send(world, print_job(world), token)
                assert ipp_status(answer) == StatusCode.SUCCESSFUL_OK
                expired = world.token(exp=int(time.time()) - 3600)
                refused = await send(world, gpa, expired)
                assert challenges(refused) == [
                    f'Bearer realm="{issuer.url}", error="invalid_token", '
                    'error_description="the token has expired"'
                ]
            gateway.signal(15)
            code, log = gateway.finish()
    assert code == 0, log
