"""The IPP message: header fields and attribute groups (RFC 8010 section 3.1.1).

Why: requests and responses share one layout; only the meaning of the second
header field differs (operation-id or status-code). Factories build the
boilerplate every request and response needs (charset and natural language
first, RFC 8011 section 4.1.4; version and request-id echoed in responses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .attributes import Attribute, Group, PyValue
from .operations import Operation
from .status import StatusCode
from .tags import DelimiterTag, ValueTag

DEFAULT_CHARSET = "utf-8"
DEFAULT_NATURAL_LANGUAGE = "en"


@dataclass(kw_only=True, slots=True)
class Message:
    """An IPP request or response, without its document data.

    `operation_id_or_status` is an `Operation` in a request and a `StatusCode`
    in a response (kept as a plain int when not in the enum). `request_id` is
    a signed 32-bit int. Groups keep wire order; a tag may repeat (one job group
    per job in a Get-Jobs response).
    """

    version: tuple[int, int] = (2, 0)
    operation_id_or_status: int
    request_id: int
    groups: list[Group] = field(default_factory=list)

    # -- factories ---------------------------------------------------------

    @classmethod
    def request(
        cls,
        operation: int,
        request_id: int = 1,
        *,
        version: tuple[int, int] = (2, 0),
        natural_language: str = DEFAULT_NATURAL_LANGUAGE,
        printer_uri: str | None = None,
        requesting_user_name: str | None = None,
    ) -> Message:
        """A request whose operation group starts with attributes-charset (utf-8),
        attributes-natural-language and, if given, printer-uri and
        requesting-user-name."""
        message = cls(version=version, operation_id_or_status=operation, request_id=request_id)
        group = message.add_group(DelimiterTag.OPERATION_ATTRIBUTES)
        group.add_charset("attributes-charset", DEFAULT_CHARSET)
        group.add_natural_language("attributes-natural-language", natural_language)
        if printer_uri is not None:
            group.add_uri("printer-uri", printer_uri)
        if requesting_user_name is not None:
            group.add_name("requesting-user-name", requesting_user_name)
        return message

    @classmethod
    def response(
        cls,
        request: Message | None = None,
        status: int = StatusCode.SUCCESSFUL_OK,
        *,
        status_message: str | None = None,
        natural_language: str | None = None,
        version: tuple[int, int] | None = None,
        request_id: int | None = None,
    ) -> Message:
        """A response echoing `request`'s version and request-id (RFC 8011 4.1.1,
        4.1.8), with attributes-charset utf-8, attributes-natural-language (the
        request's if it sent a sensible one, else ``en``) and optional
        status-message. Without a request (e.g. after an `IppDecodeError`), pass
        `version` and `request_id` (defaults (1, 1) and 0)."""
        if request is not None:
            version = version or request.version
            request_id = request.request_id if request_id is None else request_id
            if natural_language is None:
                requested = request.get(
                    DelimiterTag.OPERATION_ATTRIBUTES, "attributes-natural-language"
                )
                if requested is not None and requested.tag == ValueTag.NATURAL_LANGUAGE:
                    natural_language = str(requested.value)
        message = cls(
            version=version or (1, 1),
            operation_id_or_status=status,
            request_id=0 if request_id is None else request_id,
        )
        group = message.add_group(DelimiterTag.OPERATION_ATTRIBUTES)
        group.add_charset("attributes-charset", DEFAULT_CHARSET)
        group.add_natural_language(
            "attributes-natural-language", natural_language or DEFAULT_NATURAL_LANGUAGE
        )
        if status_message is not None:
            group.add_text("status-message", status_message)
        return message

    # -- header views ------------------------------------------------------

    @property
    def operation_id(self) -> Operation | int:
        """The second header field read as an operation id (requests)."""
        try:
            return Operation(self.operation_id_or_status)
        except ValueError:
            return self.operation_id_or_status

    @property
    def status_code(self) -> StatusCode | int:
        """The second header field read as a status code (responses)."""
        try:
            return StatusCode(self.operation_id_or_status)
        except ValueError:
            return self.operation_id_or_status

    # -- groups ------------------------------------------------------------

    @property
    def operation(self) -> Group:
        """The (first) operation-attributes group; created at the front if missing."""
        group = self.group(DelimiterTag.OPERATION_ATTRIBUTES)
        if group is None:
            group = Group(DelimiterTag.OPERATION_ATTRIBUTES)
            self.groups.insert(0, group)
        return group

    def group(self, tag: int) -> Group | None:
        """The first group with delimiter `tag`, or None."""
        for group in self.groups:
            if group.tag == tag:
                return group
        return None

    def groups_of(self, tag: int) -> list[Group]:
        """Every group with delimiter `tag`, in order (e.g. one per job)."""
        return [g for g in self.groups if g.tag == tag]

    def add_group(self, tag: int) -> Group:
        """Append a new, empty group and return it (the encoder skips no group:
        do not leave it empty)."""
        group = Group(tag)
        self.groups.append(group)
        return group

    def get(self, group_tag: int, name: str) -> Attribute | None:
        """The first attribute `name` in any group tagged `group_tag`, or None."""
        for group in self.groups:
            if group.tag == group_tag:
                attribute = group.get(name)
                if attribute is not None:
                    return attribute
        return None

    def value(self, group_tag: int, name: str, default: PyValue | None = None) -> PyValue | None:
        """The first value of `get(group_tag, name)`, or `default`."""
        attribute = self.get(group_tag, name)
        return default if attribute is None else attribute.value
