"""Why a sub-command failed, each with the exit status the command ends with.

Scripts branch on the exit status, so each class of failure has its own: the
server refused the request (1), the command line was wrong (2), the server
could not be reached or spoke broken HTTP, TLS or IPP (3), the credentials
were missing or refused (4).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4


class AdminError(Exception):
    """A failure shown as one line on stderr, ending the command with `exit_code`."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(AdminError):
    """The server answered the request with an IPP error status."""

    exit_code = EXIT_REFUSED

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}" if message else status)
        self.status = status
        self.status_message = message


class UsageError(AdminError):
    """The command line (or a file it names) cannot be used."""

    exit_code = EXIT_USAGE


class Unreachable(AdminError):
    """No IPP answer: connection, TLS, HTTP or a malformed response."""

    exit_code = EXIT_UNREACHABLE


class AuthFailed(AdminError):
    """The server wants credentials the command does not have, or refused them."""

    exit_code = EXIT_AUTH
