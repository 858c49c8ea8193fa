"""Request checks every IPP server makes before looking at the operation.

Why: RFC 8011 section 4.1 (and Appendix C's processing order, as cupsd,
ippeveprinter and PAPPL apply it; reference/ipp.md section 1.9) fixes which
status answers which malformed-but-parseable request. Each check returns None
when the request passes, else a `RequestProblem` with the status to answer
(in an HTTP 200 IPP response) and a status-message. `check_request` runs them
in the reference order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .message import Message
from .status import StatusCode
from .tags import DelimiterTag, ValueTag

SUPPORTED_MAJOR_VERSIONS = frozenset({1, 2})
"""IPP/1.x and IPP/2.x are answered; anything else gets version-not-supported."""

_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")


@dataclass(frozen=True, slots=True)
class RequestProblem:
    """Why a request is refused: the status to answer and a status-message."""

    status: StatusCode
    message: str


def check_version(
    request: Message, supported_majors: Iterable[int] = SUPPORTED_MAJOR_VERSIONS
) -> RequestProblem | None:
    """RFC 8011 section 4.1.8: unsupported major version -> server-error-version-not-supported."""
    if request.version[0] not in set(supported_majors):
        return RequestProblem(
            StatusCode.SERVER_ERROR_VERSION_NOT_SUPPORTED,
            f"IPP version {request.version[0]}.{request.version[1]} is not supported",
        )
    return None


def check_request_id(request: Message) -> RequestProblem | None:
    """RFC 8011 section 4.1.1: request-id must be 1..2^31-1 -> client-error-bad-request."""
    if request.request_id < 1:
        return RequestProblem(StatusCode.CLIENT_ERROR_BAD_REQUEST, "request-id must be >= 1")
    return None


def check_group_order(request: Message) -> RequestProblem | None:
    """At least one attribute; one operation group, first; groups in non-decreasing
    tag order (cupsd "Attribute groups are out of order") -> client-error-bad-request."""
    if not any(len(g) for g in request.groups):
        return RequestProblem(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no attributes in request")
    previous = 0
    for group in request.groups:
        if group.tag < previous or (group.tag == previous == DelimiterTag.OPERATION_ATTRIBUTES):
            return RequestProblem(
                StatusCode.CLIENT_ERROR_BAD_REQUEST, "attribute groups are out of order"
            )
        previous = group.tag
    return None


def check_operation_attributes(
    request: Message, supported_charsets: Iterable[str] = ("utf-8", "us-ascii")
) -> RequestProblem | None:
    """RFC 8011 section 4.1.4: the first two attributes of the first group are
    attributes-charset (charset) then attributes-natural-language
    (naturalLanguage), each with one value, in the operation group.

    Missing, swapped or wrongly typed -> client-error-bad-request;
    a charset not in `supported_charsets` -> client-error-charset-not-supported;
    a syntactically bad language tag -> client-error-bad-request (as cupsd).
    """
    bad = StatusCode.CLIENT_ERROR_BAD_REQUEST
    if not request.groups or request.groups[0].tag != DelimiterTag.OPERATION_ATTRIBUTES:
        return RequestProblem(bad, "missing operation attributes group")
    attributes = request.groups[0].attributes
    if len(attributes) < 2:
        return RequestProblem(bad, "missing attributes-charset or attributes-natural-language")
    charset, language = attributes[0], attributes[1]
    if (
        charset.name != "attributes-charset"
        or len(charset.values) != 1
        or charset.tag != ValueTag.CHARSET
    ):
        return RequestProblem(bad, "first attribute must be attributes-charset")
    if (
        language.name != "attributes-natural-language"
        or len(language.values) != 1
        or language.tag != ValueTag.NATURAL_LANGUAGE
    ):
        return RequestProblem(bad, "second attribute must be attributes-natural-language")
    if str(charset.value).lower() not in {c.lower() for c in supported_charsets}:
        return RequestProblem(
            StatusCode.CLIENT_ERROR_CHARSET_NOT_SUPPORTED,
            f"attributes-charset {charset.value!r} is not supported",
        )
    if not _LANGUAGE.match(str(language.value)):
        return RequestProblem(bad, f"bad attributes-natural-language {language.value!r}")
    return None


def check_request(request: Message) -> RequestProblem | None:
    """All of the above in RFC 8011 Appendix C order: version, request-id, group
    order, charset/language. Target (printer-uri / job-uri) and operation
    checks are the server's, after this."""
    for check in (check_version, check_request_id, check_group_order, check_operation_attributes):
        problem = check(request)
        if problem is not None:
            return problem
    return None
