"""Who may see a job's details, who may cancel or remove it, who is an operator.

Why: an LPD remove and an IPP Cancel-Job of the same job must get the same
answer, and the status pages must hide what Get-Jobs hides (DESIGN.md: one
policy for both front-ends). A front-end only says who is asking, as a
`Requester` made by `AccessPolicy.ipp_requester` (IPP and the status pages) or
`AccessPolicy.lpd_agent` (LPD ``\\5``); the rules are here, once:

- **Owner.** A requester owns a job submitted under its name. A name that is
  only claimed (requesting-user-name without a password, an LPD agent) never
  owns a job that was submitted with a password (``Origin.authenticated``):
  only that user, authenticated, does. LPD agent names count only for jobs
  from the agent's own address, as in BSD lpd; agent ``-all`` owns every job
  from its address.
- **Operator.** An authenticated user listed in ``ipp.operators``; when the
  gateway does not authenticate IPP users, also any loopback IPP client (as in
  CUPS's default); over LPD, agent ``root`` from ``lpd.trusted_hosts``.
- **Change** (cancel, hold, release, set attributes, LPD remove): the owner
  or an operator; but an operator who is not authenticated (a loopback client,
  a trusted LPD host) may change a job sent with a password only when its host
  is trusted for that (``lpd.trusted_hosts_remove_authenticated``, off by
  default).
- **See details** (owner, name, origin, documents, messages): everyone when
  the gateway does not authenticate users; when it does, only those who may
  change the job. Everyone else sees that the job exists, its queue, state and
  times.

The rules are pure functions of the requester and the job's record.
"""

from __future__ import annotations

import grp
import ipaddress
import pwd
from dataclasses import dataclass

from gateway.config import Config
from gateway.core.job import Job

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks, as the rules need to know it."""

    name: str  # the authenticated user, else the claimed one ("anonymous" if none)
    peer: str  # the client's network address
    authenticated: bool = False  # the name was proven (a password over TLS)
    operator: bool = False
    host_scoped: bool = False  # the name counts only for jobs from `peer` (LPD agents)
    any_name: bool = False  # owns every job from `peer` (LPD agent ``-all``)
    trusted_for_authenticated: bool = False  # an unauthenticated operator trusted with them


def authenticates_users(config: Config) -> bool:
    """Whether the gateway authenticates IPP users (``ipp.auth`` or any queue's
    ``auth`` is not ``none``): others' job details are then hidden."""
    return config.ipp.auth != "none" or any(q.auth not in ("", "none") for q in config.queues)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The settings the rules read, and the rules."""

    authenticates: bool = False  # see `authenticates_users`
    operators: frozenset[str] = frozenset()  # ipp.operators
    trusted_hosts_remove_authenticated: bool = False  # lpd.trusted_hosts_remove_authenticated

    @classmethod
    def of(cls, config: Config) -> AccessPolicy:
        return cls(
            authenticates=authenticates_users(config),
            operators=frozenset(config.ipp.operators),
            trusted_hosts_remove_authenticated=config.lpd.trusted_hosts_remove_authenticated,
        )

    # -- who asks ------------------------------------------------------

    def ipp_requester(self, *, user: str | None, claimed: str | None, peer: str) -> Requester:
        """An IPP client (or a status-page reader) at address `peer`: `user`
        authenticated by a password (None if not), `claimed` its
        requesting-user-name."""
        operator = (user is not None and user in self.operators) or (
            not self.authenticates and is_loopback(peer)
        )
        return Requester(
            name=user or claimed or ANONYMOUS,
            peer=peer,
            authenticated=user is not None,
            operator=operator,
        )

    def lpd_agent(self, name: str, peer: str, *, trusted_host: bool) -> Requester:
        """An LPD remove's agent from `peer` (`trusted_host`: in lpd.trusted_hosts)."""
        root = name == "root" and trusted_host
        return Requester(
            name=name,
            peer=peer,
            operator=root,
            host_scoped=not root,
            any_name=name == "-all",
            trusted_for_authenticated=root and self.trusted_hosts_remove_authenticated,
        )

    # -- the rules -----------------------------------------------------

    def refusal(self, who: Requester, job: Job) -> str | None:
        """Why `who` may not change (cancel, hold, remove, ...) `job`; None if it may."""
        if owns(who, job):
            return None
        sent_with_password = job.origin.authenticated
        if who.operator and (
            who.authenticated or who.trusted_for_authenticated or not sent_with_password
        ):
            return None
        if sent_with_password and not who.authenticated:
            return (
                f"job {job.id} was sent with a password: only its owner, signed in, "
                "or an operator may change it"
            )
        if self.authenticates:
            return f"job {job.id} is not yours"
        return f"job {job.id} belongs to {job.user}"

    def may_change(self, who: Requester, job: Job) -> bool:
        """Whether `who` may cancel, hold, release, set or remove `job`."""
        return self.refusal(who, job) is None

    def may_see(self, who: Requester, job: Job) -> bool:
        """Whether `who` may see `job`'s details (owner, name, origin, documents,
        messages), not only its id, queue, state and times."""
        return not self.authenticates or self.may_change(who, job)


def proxy_refusal(config: Config, *, user: str | None, peer: str) -> str | None:
    """Why a client may not use the proxy operations of PWG 5100.18 (Fetch-Job,
    Acknowledge-Job, Update-Job-Status, Register-Output-Device, ...); None if it
    may. `user`: the authenticated user (None if the request proved none).

    A proxy is an authenticated user listed in ``infra.proxy_users`` or a member
    of the Unix group ``infra.proxy_group``; when the gateway authenticates
    nobody, a loopback client (as for operator operations)."""
    if user is None:
        if not authenticates_users(config) and is_loopback(peer):
            return None
        return "the proxy operations are for authenticated proxies only"
    if user in config.infra.proxy_users or _in_unix_group(user, config.infra.proxy_group):
        return None
    return f"{user} is not a proxy (infra.proxy_users, infra.proxy_group)"


def _in_unix_group(user: str, group: str) -> bool:
    if not group:
        return False
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    if user in entry.gr_mem:
        return True
    try:
        return pwd.getpwnam(user).pw_gid == entry.gr_gid
    except KeyError:
        return False


def is_loopback(peer: str) -> bool:
    """Whether the address `peer` is a loopback one (never for a non-IP peer)."""
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def owns(who: Requester, job: Job) -> bool:
    """Whether `job` is `who`'s own (see the module doc)."""
    if job.origin.authenticated and not who.authenticated:
        return False
    if who.host_scoped and job.origin.peer != who.peer:
        return False
    return who.any_name or who.name == job.user
