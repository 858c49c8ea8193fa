"""RFC 8011 section 4.1 request checks (ipp-1.1.test tests 1-6 in spirit)."""

from __future__ import annotations

from gateway.ipp import (
    DelimiterTag,
    Group,
    Message,
    Operation,
    StatusCode,
    ValueTag,
    check_group_order,
    check_operation_attributes,
    check_request,
    check_request_id,
    check_version,
)

BAD = StatusCode.CLIENT_ERROR_BAD_REQUEST


def good() -> Message:
    return Message.request(Operation.GET_PRINTER_ATTRIBUTES, 1, printer_uri="ipp://h/ipp/print")


def test_good_request_passes() -> None:
    assert check_request(good()) is None


def test_version() -> None:
    message = good()
    message.version = (0, 0)
    problem = check_request(message)
    assert problem is not None
    assert problem.status == StatusCode.SERVER_ERROR_VERSION_NOT_SUPPORTED
    message.version = (2, 9)
    assert check_version(message) is None


def test_request_id_zero() -> None:
    message = good()
    message.request_id = 0
    problem = check_request_id(message)
    assert problem is not None
    assert problem.status == BAD


def _ops(*attrs: tuple[str, int, str]) -> Message:
    message = Message(operation_id_or_status=Operation.GET_PRINTER_ATTRIBUTES, request_id=1)
    group = message.add_group(DelimiterTag.OPERATION_ATTRIBUTES)
    for name, tag, value in attrs:
        group.add(name, tag, value)
    return message


CHARSET = ("attributes-charset", ValueTag.CHARSET, "utf-8")
LANGUAGE = ("attributes-natural-language", ValueTag.NATURAL_LANGUAGE, "en")
URI = ("printer-uri", ValueTag.URI, "ipp://h/ipp/print")


def test_charset_and_language_permutations() -> None:
    for attrs in [
        (URI,),
        (LANGUAGE, URI),
        (CHARSET, URI),
        (LANGUAGE, CHARSET, URI),
        (URI, CHARSET, LANGUAGE),
    ]:
        problem = check_operation_attributes(_ops(*attrs))
        assert problem is not None
        assert problem.status == BAD, attrs
    assert check_operation_attributes(_ops(CHARSET, LANGUAGE, URI)) is None


def test_wrong_syntax_or_two_values() -> None:
    wrong_tag = _ops(("attributes-charset", ValueTag.KEYWORD, "utf-8"), LANGUAGE)
    assert check_operation_attributes(wrong_tag) is not None
    two = _ops(CHARSET, LANGUAGE)
    two.operation.attributes[1] = two.operation.attributes[1].of(
        "attributes-natural-language", ValueTag.NATURAL_LANGUAGE, "en", "fr"
    )
    assert check_operation_attributes(two) is not None


def test_charset_not_supported_and_bad_language() -> None:
    latin = _ops(("attributes-charset", ValueTag.CHARSET, "iso-8859-1"), LANGUAGE)
    problem = check_operation_attributes(latin)
    assert problem is not None
    assert problem.status == StatusCode.CLIENT_ERROR_CHARSET_NOT_SUPPORTED
    assert (
        check_operation_attributes(
            _ops(("attributes-charset", ValueTag.CHARSET, "UTF-8"), LANGUAGE)
        )
        is None
    )
    bad_language = _ops(
        CHARSET, ("attributes-natural-language", ValueTag.NATURAL_LANGUAGE, "en_US!")
    )
    problem = check_operation_attributes(bad_language)
    assert problem is not None
    assert problem.status == BAD


def test_group_order() -> None:
    message = good()
    message.groups.append(Group(DelimiterTag.JOB_ATTRIBUTES, message.operation.attributes[:1]))
    assert check_group_order(message) is None
    message.groups.append(
        Group(DelimiterTag.OPERATION_ATTRIBUTES, message.operation.attributes[:1])
    )
    problem = check_group_order(message)
    assert problem is not None
    assert problem.status == BAD
    empty = Message(operation_id_or_status=2, request_id=1)
    assert check_request(empty) is not None
    no_op_group = Message(operation_id_or_status=2, request_id=1)
    no_op_group.add_group(DelimiterTag.JOB_ATTRIBUTES).add_integer("copies", 1)
    assert check_request(no_op_group) is not None
