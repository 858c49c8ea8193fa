"""The one access policy (gateway/core/policy.py): who owns, sees, changes a job."""

from __future__ import annotations

import json
import ssl

import pytest
import trio

from gateway import config
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.policy import AccessPolicy, is_loopback, owns
from gateway.core.spool.records import from_record, to_record
from gateway.ipp.server.tls import refusal_reason
from gateway.throttle import Throttle

HERE, ELSEWHERE = "10.0.0.7", "10.0.0.8"


def job(user: str, *, peer: str = HERE, authenticated: bool = False, job_id: int = 1) -> Job:
    frontend = Frontend.IPP if authenticated else Frontend.LPD
    return Job(
        id=job_id,
        queue="lp",
        state=JobState.PENDING,
        attributes={"job-originating-user-name": user, "job-name": "plans"},
        documents=(),
        origin=Origin(frontend, peer=peer, user=user, authenticated=authenticated),
    )


OPEN = AccessPolicy()
PRIVATE = AccessPolicy(authenticates=True, operators=frozenset({"carol"}))


def test_a_claimed_name_never_owns_a_job_sent_with_a_password() -> None:
    sent = job("alice", authenticated=True)
    claimed = OPEN.ipp_requester(user=None, claimed="alice", peer=HERE)
    signed_in = OPEN.ipp_requester(user="alice", claimed=None, peer=ELSEWHERE)
    assert not owns(claimed, sent) and owns(signed_in, sent)
    assert not owns(OPEN.lpd_agent("alice", HERE, trusted_host=False), sent)
    assert owns(claimed, job("alice"))  # unauthenticated jobs: as before


def test_lpd_names_are_host_scoped() -> None:
    assert owns(OPEN.lpd_agent("alice", HERE, trusted_host=False), job("alice"))
    assert not owns(OPEN.lpd_agent("alice", ELSEWHERE, trusted_host=False), job("alice"))
    assert owns(OPEN.lpd_agent("-all", HERE, trusted_host=False), job("bob"))
    assert not owns(OPEN.lpd_agent("-all", ELSEWHERE, trusted_host=False), job("bob"))


@pytest.mark.parametrize("remove_authenticated", [False, True])
def test_trusted_root_and_jobs_sent_with_a_password(remove_authenticated: bool) -> None:
    policy = AccessPolicy(trusted_hosts_remove_authenticated=remove_authenticated)
    root = policy.lpd_agent("root", ELSEWHERE, trusted_host=True)
    assert root.operator and policy.may_change(root, job("bob"))
    assert policy.may_change(root, job("alice", authenticated=True)) is remove_authenticated
    untrusted = policy.lpd_agent("root", ELSEWHERE, trusted_host=False)
    assert not untrusted.operator and not policy.may_change(untrusted, job("bob"))


def test_operators() -> None:
    # Without IPP authentication, loopback clients are operators, for unauthenticated jobs.
    local = OPEN.ipp_requester(user=None, claimed="x", peer="::1")
    assert local.operator and OPEN.may_change(local, job("bob"))
    assert not OPEN.may_change(local, job("alice", authenticated=True))
    # With it, listed users who signed in, for every job; loopback is nothing special.
    carol = PRIVATE.ipp_requester(user="carol", claimed=None, peer=ELSEWHERE)
    assert carol.operator and PRIVATE.may_change(carol, job("alice", authenticated=True))
    assert not PRIVATE.ipp_requester(user=None, claimed="carol", peer="127.0.0.1").operator


def test_refusal_says_why_and_hides_the_owner_when_private() -> None:
    bob = PRIVATE.ipp_requester(user="bob", claimed=None, peer=HERE)
    assert PRIVATE.refusal(bob, job("alice", authenticated=True)) == "job 1 is not yours"
    assert OPEN.refusal(bob, job("alice")) == "job 1 belongs to alice"
    claimed = OPEN.ipp_requester(user=None, claimed="alice", peer=HERE)
    assert "sent with a password" in str(OPEN.refusal(claimed, job("alice", authenticated=True)))
    # No name at all is "anonymous", which owns only anonymous jobs.
    nobody = OPEN.ipp_requester(user=None, claimed=None, peer=HERE)
    assert nobody.name == "anonymous" and not OPEN.may_change(nobody, job("alice"))


def test_who_sees_details() -> None:
    bob = PRIVATE.ipp_requester(user="bob", claimed=None, peer=HERE)
    carol = PRIVATE.ipp_requester(user="carol", claimed=None, peer=HERE)
    assert PRIVATE.may_see(bob, job("bob", authenticated=True))
    assert not PRIVATE.may_see(bob, job("alice", authenticated=True))
    assert PRIVATE.may_see(carol, job("alice", authenticated=True))
    assert OPEN.may_see(bob, job("alice", authenticated=True))  # nothing is hidden


def test_policy_of_config() -> None:
    cfg = config.from_mapping(
        {
            "ipp": {
                "password_file": "/etc/passwd-gw",
                "tls_listen": ["127.0.0.1:0"],
                "operators": ["carol"],
            },
            "lpd": {"trusted_hosts_remove_authenticated": True},
            "queues": {"lp": {"backend": "file:///tmp/x", "auth": "jobs"}},
        }
    )
    policy = AccessPolicy.of(cfg)
    assert policy.authenticates  # a queue's own policy counts
    assert policy.operators == {"carol"} and policy.trusted_hosts_remove_authenticated
    assert not AccessPolicy.of(config.from_mapping({})).authenticates


def test_old_records_load_as_unauthenticated() -> None:
    sent = job("alice", authenticated=True)
    assert from_record(1, to_record(sent).data).origin.authenticated
    data = json.loads(to_record(sent).data)
    del data["origin"]["authenticated"]  # a record written before the field existed
    assert from_record(1, json.dumps(data)).origin.authenticated is False
    assert Origin.from_json({"frontend": "ipp"}).authenticated is False


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::1%lo")
    assert not is_loopback("10.0.0.1") and not is_loopback("not an address")


def test_throttle_one_line_a_minute_per_key_with_the_count() -> None:
    throttle = Throttle(every=60.0)
    assert throttle("a", now=0.0) == 0
    assert throttle("a", now=1.0) is None
    assert throttle("a", now=59.0) is None
    assert throttle("b", now=2.0) == 0  # another address has its own minute
    assert throttle("a", now=60.5) == 2  # two were held back
    assert Throttle.more(2) == " (2 more since the last such line)" and Throttle.more(0) == ""


def test_refusal_reasons_for_a_person() -> None:
    def broken(reason: str | None) -> trio.BrokenResourceError:
        error = trio.BrokenResourceError()
        if reason is not None:
            cause = ssl.SSLError(1, reason)
            cause.reason = reason  # type: ignore[misc]
            error.__cause__ = cause
        return error

    assert refusal_reason(broken("PEER_DID_NOT_RETURN_A_CERTIFICATE")) == (
        "no client certificate (ipp.client_ca)"
    )
    assert refusal_reason(broken("HTTP_REQUEST")) == "plain HTTP sent to the TLS port"
    assert refusal_reason(broken("SOME_NEW_REASON")) == "some new reason"
    assert refusal_reason(broken(None)) is None  # the client just went away
