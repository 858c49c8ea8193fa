"""IPP (RFC 8010/8011) for the gateway: a sans-I/O message codec.

Why: the IPP listener and the IPP backend both speak ``application/ipp``; this
package turns bytes into `Message` objects and back without any I/O, so both
sides (and the tests) share one strict, bounded implementation. The package
holds the codec only, plus `client` (IPP over HTTP, for the IPP backend); the
IPP front-end that answers requests is the `server` subpackage beside it, and
no codec module imports it, an event loop or the job core.

Quick tour::

    from gateway.ipp import DelimiterTag, Message, MessageParser, StatusCode, ValueTag, encode

    parser = MessageParser()
    request = parser.feed(body_chunk)       # None until end-of-attributes-tag
    document_start = parser.tail            # bytes after it, untouched

    response = Message.response(request, StatusCode.SUCCESSFUL_OK)
    printer = response.add_group(DelimiterTag.PRINTER_ATTRIBUTES)
    printer.add("printer-name", ValueTag.NAME_WITHOUT_LANGUAGE, "lp")
    body = encode(response)
"""

from .attributes import Attribute, AttributeList, Collection, Group, PyValue, Value
from .encoder import encode
from .errors import IppDecodeError, IppEncodeError, IppError, IppUsageError
from .message import Message
from .operations import Operation
from .parser import SUPPORTED_CHARSETS, MessageParser, ParserLimits, decode
from .status import StatusCode, is_successful
from .syntax import MAX_VALUE_LENGTH
from .tags import DelimiterTag, ValueTag
from .validate import (
    RequestProblem,
    check_group_order,
    check_operation_attributes,
    check_request,
    check_request_id,
    check_version,
)
from .values import (
    NameWithLanguage,
    OutOfBand,
    RangeOfInteger,
    Resolution,
    ResolutionUnits,
    TextWithLanguage,
)

__all__ = [
    "MAX_VALUE_LENGTH",
    "SUPPORTED_CHARSETS",
    "Attribute",
    "AttributeList",
    "Collection",
    "DelimiterTag",
    "Group",
    "IppDecodeError",
    "IppEncodeError",
    "IppError",
    "IppUsageError",
    "Message",
    "MessageParser",
    "NameWithLanguage",
    "Operation",
    "OutOfBand",
    "ParserLimits",
    "PyValue",
    "RangeOfInteger",
    "RequestProblem",
    "Resolution",
    "ResolutionUnits",
    "StatusCode",
    "TextWithLanguage",
    "Value",
    "ValueTag",
    "check_group_order",
    "check_operation_attributes",
    "check_request",
    "check_request_id",
    "check_version",
    "decode",
    "encode",
    "is_successful",
]
