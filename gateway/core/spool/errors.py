"""What the spool raises at its callers, each error carrying its wire consequence.

Why a module of its own: staging (a full disk while a document streams in), the
change protocol (a job that is gone, a state that forbids the change) and the
commit (a full disk at fsync or in the store) all raise these, and the front-ends
turn each into one answer (an LPD NAK byte, an IPP status code).
"""

from __future__ import annotations


class SpoolError(Exception):
    """A spool operation that cannot be done, with a reason a client can read."""


class NoSpace(SpoolError):
    """The spool has no room: LPD NAK 2 ("no space"), IPP server-error-busy."""


class JobNotFound(SpoolError):
    """No job with that id (perhaps purged from history)."""


class NotPossible(SpoolError):
    """The job's state does not allow this (IPP client-error-not-possible)."""


__all__ = ["JobNotFound", "NoSpace", "NotPossible", "SpoolError"]
