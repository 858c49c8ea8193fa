"""Control-file model, parser and serialiser.

Fixtures are the line sets real clients send (reference/lpd.md 2.3).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.lpd.controlfile import (
    FIELD_LIMITS,
    LETTERS,
    ControlFile,
    ControlFileName,
    ControlLine,
    PrintRequest,
    decode_text,
    make_line,
    parse,
    parse_file_name,
    serialise,
    truncate,
)

# FreeBSD lpr -#2 report.txt (banner on): format lines repeated consecutively, N after.
BSD = (
    b"Hclient\nPalice\nCclient\nJreport.txt\nLalice\n"
    b"fdfA042client\nfdfA042client\nUdfA042client\nNreport.txt\n"
)
# LPRng 3.8 lpr from stdin: N before its format line, U last.
LPRNG = (
    b"Hh4\nPpapowell\nJ(STDIN)\nCA\nLpapowell\nApapowell@h4+955\n"
    b"D2004-09-24-15:12:04.012\nN(STDIN)\nfdfA955h4\nUdfA955h4\n"
)
# CUPS lpd backend, defaults (format l, manual_copies).
CUPS = b"Hprintsrv\nPbob\nJTest Page\nldfA123printsrv\nUdfA123printsrv\nNTest Page\n"


def test_bsd_fixture() -> None:
    cf = parse(BSD)
    assert cf.host == "client"
    assert cf.user == "alice"
    assert cf.class_name == "client"
    assert cf.job_name == "report.txt"
    assert cf.banner_user == "alice"
    assert cf.print_requests == (
        PrintRequest("f", "dfA042client", "report.txt"),
        PrintRequest("f", "dfA042client", "report.txt"),
    )
    assert cf.unlink_files == ("dfA042client",)
    assert cf.data_files == ("dfA042client",)
    assert serialise(cf) == BSD


def test_lprng_fixture() -> None:
    cf = parse(LPRNG)
    assert cf.lprng_job_id == "papowell@h4+955"
    assert cf.submit_date == "2004-09-24-15:12:04.012"
    assert cf.print_requests == (PrintRequest("f", "dfA955h4", "(STDIN)"),)
    assert serialise(cf) == LPRNG


def test_cups_fixture() -> None:
    cf = parse(CUPS)
    assert cf.print_requests == (PrintRequest("l", "dfA123printsrv", "Test Page"),)
    assert cf.banner_user is None


def test_n_association_two_files_both_orders() -> None:  # case 28
    bsd = parse(b"HhPu\nfdfAh\nUdfAh\nNa.txt\nfdfBh\nUdfBh\nNb.txt\n".replace(b"HhPu", b"Hh\nPu"))
    assert [(r.data_file, r.document_name) for r in bsd.print_requests] == [
        ("dfAh", "a.txt"),
        ("dfBh", "b.txt"),
    ]
    lprng = parse(b"Hh\nPu\nNa.txt\nfdfAh\nNb.txt\nfdfBh\nNa.txt\nfdfAh\nNb.txt\nfdfBh\n")
    assert [(r.data_file, r.document_name) for r in lprng.print_requests] == [
        ("dfAh", "a.txt"),
        ("dfBh", "b.txt"),
        ("dfAh", "a.txt"),
        ("dfBh", "b.txt"),
    ]
    nameless = parse(b"fdfAh\nfdfBh\nNb.txt\n")
    assert [r.document_name for r in nameless.print_requests] == [None, "b.txt"]


def test_stdin_name_is_single_space() -> None:
    assert parse(b"fdfAh\nUdfAh\nN \n").print_requests[0].document_name == " "


@pytest.mark.parametrize("sep", [b"\r\n", b"\r", b"\n"])
def test_line_endings(sep: bytes) -> None:  # case 20
    cf = parse(sep.join([b"Hh", b"Palice", b"fdfA1h", b""]))
    assert cf.user == "alice"
    assert cf.print_requests == (PrintRequest("f", "dfA1h"),)


def test_unknown_and_extension_lines_kept() -> None:  # case 27
    data = (
        b"Hh\nPu\nOlandscape\n5P1-3,7\n5qhigh\n6L66\n<upper\n>top\nG2\nKduplex\n"
        b"Zmedia=a4,duplex\nQraw\nRacct\n8PPR --responder x\n#3\n9\nxdfA1h\n"
    )
    cf = parse(data)
    assert serialise(cf) == data
    assert cf.get("O") == b"landscape"
    assert cf.sun_features == {"P": "1-3,7", "q": "high"}
    assert cf.get("<") == b"upper"
    assert cf.get(">") == b"top"
    assert cf.get("G") == b"2"
    assert cf.get("K") == b"duplex"
    assert cf.filter_options == "media=a4,duplex"
    assert cf.get("8") == b"PPR --responder x"
    assert cf.print_requests == (PrintRequest("x", "dfA1h"),)


def test_blank_lines_skipped_and_no_trailing_lf() -> None:
    cf = parse(b"\n\nHh\n\nPu")
    assert [line.code for line in cf.lines] == ["H", "P"]


def test_digits_and_get_all() -> None:
    cf = parse(b"I8\nW132\nWabc\n1R\n4S\nMfoo\nTtitle\nSdev ino\n")
    assert cf.indent == 8
    assert cf.width == 132
    assert cf.get_all("W") == (b"132", b"abc")
    assert cf.get("1") == b"R"
    assert cf.mail_user == "foo"
    assert cf.title == "title"
    assert parse(b"Wabc\n").width is None
    assert cf.get("J") is None
    assert cf.text("J") is None


def test_non_utf8_operands() -> None:  # case 30
    cf = parse(b"Jcaf\xe9\nPj\xc3\xbcrgen\nN\x80uro\n")
    assert cf.job_name == "café"
    assert cf.user == "jürgen"
    assert cf.source_names == ("€uro",)
    assert cf.text("J", "latin-1") == "café"


def test_decode_text_never_fails() -> None:
    for b in range(256):
        assert len(decode_text(bytes([b]))) == 1
    assert decode_text(b"\xc0\xaf") == "À¯"  # overlong UTF-8 is not UTF-8


def test_letters_table_covers_rfc_and_extensions() -> None:
    for code in "CHIJLMNPSTUW1234cdfgklnoprtvzADQRZO56<>GK":
        assert code in LETTERS


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("cfA123host", ControlFileName("cf", "A", 123, "host")),
        ("cfB123h", ControlFileName("cf", "B", 123, "h")),
        ("cfZ589h", ControlFileName("cf", "Z", 589, "h")),
        ("cfA12345host", ControlFileName("cf", "A", 12345, "host")),
        ("cfA955123h4", ControlFileName("cf", "A", 955123, "h4")),
        ("cfA1234567h", ControlFileName("cf", "A", 123456, "7h")),
        ("cfA123192.168.1.5", ControlFileName("cf", "A", 123, "192.168.1.5")),
        ("cfA12", ControlFileName("cf", "A", 12, "")),
        ("cfAa123h", ControlFileName("cf", "A", 123, "h")),
        ("dfA042client", ControlFileName("df", "A", 42, "client")),
        ("cf", ControlFileName("cf", "", None, "")),
        ("", ControlFileName("", "", None, "")),
        ("cfAhost", ControlFileName("cf", "A", None, "host")),
    ],
)
def test_parse_file_name(name: str, parsed: ControlFileName) -> None:  # case 26
    assert parse_file_name(name) == parsed


def test_truncate_on_character_boundaries() -> None:
    assert truncate("abcdef", 3) == b"abc"
    assert truncate("ééé", 5) == "éé".encode()  # 6 bytes would split a character
    assert truncate("ééé", 5, "latin-1") == "ééé".encode("latin-1")
    assert truncate("a\nb", 10) == b"a b"
    assert truncate("日本語", 7) == "日本".encode()


def test_make_line_applies_rfc_limits() -> None:
    assert make_line("J", "x" * 200).value == b"x" * 99
    assert make_line("P", "u" * 40).value == b"u" * FIELD_LIMITS["P"]
    assert make_line("N", "n" * 200).value == b"n" * 131
    assert make_line("f", "dfA001host").value == b"dfA001host"
    assert make_line("O", "a\r\nb").value == b"a  b"
    assert make_line("H", b"h" * 40).value == b"h" * 31


def test_control_line_validation() -> None:
    with pytest.raises(ValueError):
        ControlLine("", b"x")
    with pytest.raises(ValueError):
        ControlLine("HP", b"x")
    with pytest.raises(ValueError):
        ControlLine("H", b"a\nb")
    with pytest.raises(ValueError):
        ControlLine("\n", b"")


def test_build() -> None:
    cf = ControlFile.build([("H", "gw"), ("P", "é"), ("f", b"dfA001gw")])
    assert serialise(cf) == "Hgw\nPé\nfdfA001gw\n".encode()


codes = st.characters(min_codepoint=0, max_codepoint=255).filter(lambda c: c not in "\r\n")
values = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
control_files = st.lists(st.builds(ControlLine, codes, values), max_size=20).map(
    lambda lines: ControlFile(tuple(lines))
)


@given(control_files)
def test_round_trip(cf: ControlFile) -> None:
    assert parse(serialise(cf)) == cf


@given(st.binary(max_size=500))
def test_parse_never_raises(data: bytes) -> None:
    cf = parse(data)
    assert parse(serialise(cf)) == cf
    cf.print_requests  # noqa: B018 - must not raise either
    cf.sun_features  # noqa: B018
