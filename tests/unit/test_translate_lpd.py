"""LPD control file -> IPP job ticket (RFC 2569 section 4, reference/lpd.md 5.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.translate import (
    FORMAT_RULES,
    KEPT_LETTERS,
    LINE_RULES,
    LPD_LETTER_ATTRIBUTE,
    UNPRINTABLE_LETTERS,
    DocumentTicket,
    controlfile_to_ipp,
    sniff_document_format,
)
from gateway.lpd.controlfile import PrintRequest, parse

BSD = (
    b"Hclient\nPalice\nCclient\nJreport.txt\nLalice\n"
    b"fdfA042client\nfdfA042client\nUdfA042client\nNreport.txt\n"
)
LPRNG = (
    b"Hh4\nPpapowell\nJ(STDIN)\nCA\nLpapowell\nApapowell@h4+955\n"
    b"D2004-09-24-15:12:04.012\nN(STDIN)\nfdfA955h4\nUdfA955h4\n"
)
CUPS = b"Hprintsrv\nPbob\nJTest Page\nldfA123printsrv\nUdfA123printsrv\nNTest Page\n"
TEXT = b"hello\n"


def test_bsd_two_copies() -> None:
    t = controlfile_to_ipp(parse(BSD), {"dfA042client": TEXT})
    assert t.attributes == {
        "requesting-user-name": "alice",
        "job-originating-host-name": "client",
        "job-name": "report.txt",
        "job-sheets": "standard",
        "copies": 2,
    }
    assert t.documents == [
        DocumentTicket("dfA042client", "report.txt", "text/plain", {LPD_LETTER_ATTRIBUTE: "f"})
    ]
    assert t.rejected == ()
    assert t.missing_data_files == ()


def test_lprng_stdin_postscript() -> None:
    t = controlfile_to_ipp(parse(LPRNG), {"dfA955h4": b"%!PS-Adobe-3.0\n"})
    assert t.attributes["job-name"] == "(STDIN)"
    assert t.documents == [
        DocumentTicket("dfA955h4", "(STDIN)", "application/postscript", {LPD_LETTER_ATTRIBUTE: "f"})
    ]
    assert "copies" not in t.attributes


def test_cups_l_is_octet_stream_unless_sniffed() -> None:
    t = controlfile_to_ipp(parse(CUPS), {"dfA123printsrv": b"\x00\x01binary"})
    assert t.documents[0].document_format == "application/octet-stream"
    assert t.attributes["job-sheets"] == "none"
    t = controlfile_to_ipp(parse(CUPS), {"dfA123printsrv": b"%PDF-1.7\n"})
    assert t.documents[0].document_format == "application/pdf"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"%!PS-Adobe-3.0", "application/postscript"),
        (b"\x04%!PS-Adobe", "application/postscript"),
        (b"%PDF-1.4", "application/pdf"),
        (b"\x1b%-12345X@PJL ENTER LANGUAGE=PCL\r\n", "application/vnd.hp-PCL"),
        (b"\x1bE\x1b&l0O", "application/vnd.hp-PCL"),
        (b"\xef\xbb\xbf%!PS", "application/postscript"),
        (b"plain text", None),
        (b"", None),
    ],
)
def test_sniffing(head: bytes, mime: str | None) -> None:
    assert sniff_document_format(head) == mime


@pytest.mark.parametrize(
    ("letter", "head", "mime"),
    [
        ("f", TEXT, "text/plain"),
        ("f", b"%!PS", "application/postscript"),
        ("f", b"\x1bE", "application/vnd.hp-PCL"),
        ("l", TEXT, "application/octet-stream"),
        ("o", TEXT, "application/postscript"),
        ("p", b"%PDF-", "text/plain"),
        ("r", TEXT, "text/plain"),
        ("d", TEXT, "application/x-dvi"),
        ("c", b"%PDF-", "application/x-cif"),
        ("g", TEXT, "application/x-plot"),
        ("n", TEXT, "application/x-ditroff"),
        ("t", TEXT, "application/x-troff"),
        ("v", b"\x59\xa6\x6a\x95", "image/x-sun-raster"),
        ("x", b"%PDF-", "application/pdf"),
        ("x", TEXT, "application/octet-stream"),
    ],
)
def test_format_letters(letter: str, head: bytes, mime: str) -> None:  # case 27
    cf = parse(b"Hh\nPu\n" + letter.encode() + b"dfA1h\n")
    [doc] = controlfile_to_ipp(cf, {"dfA1h": head}).documents
    assert doc.document_format == mime
    assert doc.attributes == {LPD_LETTER_ATTRIBUTE: letter}  # the letter is remembered


@pytest.mark.parametrize("letter", sorted(UNPRINTABLE_LETTERS))
def test_unprintable_letters_rejected(letter: str) -> None:
    cf = parse(b"Hh\nPu\n" + letter.encode() + b"dfA1h\nfdfB1h\n")
    t = controlfile_to_ipp(cf, {"dfA1h": TEXT, "dfB1h": TEXT})
    assert t.rejected == (PrintRequest(letter, "dfA1h"),)
    assert [d.data_file for d in t.documents] == ["dfB1h"]


def test_only_the_reserved_letters_are_unprintable() -> None:
    """RFC 2569 rejects c g n t v too; like cups-lpd the gateway prints them
    (keeping the letter for LPD printers). Kerberos k and Palladium z are reserved."""
    assert {"k", "z"} == UNPRINTABLE_LETTERS
    assert set(FORMAT_RULES) >= {"f", "l", "o", "p", "r", "d", "c", "g", "n", "t", "v"}
    assert set(FORMAT_RULES) >= KEPT_LETTERS


def test_collated_copies_lprng() -> None:  # case 29
    cf = parse(b"Hh\nPu\nNa\nfdfAh\nNb\nfdfBh\nNa\nfdfAh\nNb\nfdfBh\nNa\nfdfAh\nNb\nfdfBh\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT, "dfBh": TEXT})
    assert t.attributes["copies"] == 3
    assert t.attributes["multiple-document-handling"] == "separate-documents-collated-copies"
    assert [(d.data_file, d.document_name) for d in t.documents] == [("dfAh", "a"), ("dfBh", "b")]


def test_uncollated_copies_bsd() -> None:  # case 29
    cf = parse(b"Hh\nPu\nfdfAh\nfdfAh\nUdfAh\nNa\nfdfBh\nfdfBh\nUdfBh\nNb\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT, "dfBh": TEXT})
    assert t.attributes["copies"] == 2
    assert t.attributes["multiple-document-handling"] == "separate-documents-uncollated-copies"
    assert [(d.data_file, d.document_name) for d in t.documents] == [("dfAh", "a"), ("dfBh", "b")]


def test_uneven_copies_fall_back_to_repeated_documents() -> None:
    cf = parse(b"Hh\nPu\nfdfAh\nfdfAh\nfdfBh\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT, "dfBh": TEXT})
    assert "copies" not in t.attributes
    assert [d.data_file for d in t.documents] == ["dfAh", "dfAh", "dfBh"]
    scrambled = parse(b"Hh\nPu\nfdfAh\nfdfBh\nfdfBh\nfdfAh\n")
    t = controlfile_to_ipp(scrambled, {"dfAh": TEXT, "dfBh": TEXT})
    assert "copies" not in t.attributes
    assert [d.data_file for d in t.documents] == ["dfAh", "dfBh", "dfBh", "dfAh"]


def test_job_name_fallbacks() -> None:
    t = controlfile_to_ipp(parse(b"Pu\nfdfAh\nUdfAh\nNfirst.txt\n"), {"dfAh": TEXT})
    assert t.attributes["job-name"] == "first.txt"
    t = controlfile_to_ipp(parse(b"Pu\nTpr title\nfdfAh\n"), {"dfAh": TEXT})
    assert t.attributes["job-name"] == "pr title"
    t = controlfile_to_ipp(parse(b"Pu\nfdfAh\n"), {"dfAh": TEXT})
    assert "job-name" not in t.attributes
    assert t.documents[0].document_name is None


def test_stdin_n_is_standard_input() -> None:
    t = controlfile_to_ipp(parse(b"Pu\nfdfAh\nUdfAh\nN \n"), {"dfAh": TEXT})
    assert t.documents[0].document_name == "(standard input)"


def test_missing_user_and_host() -> None:  # case 21
    t = controlfile_to_ipp(parse(b"fdfAh\n"), {"dfAh": TEXT}, peer_host="192.0.2.7")
    assert t.attributes["requesting-user-name"] == "anonymous"
    assert t.attributes["job-originating-host-name"] == "192.0.2.7"
    t = controlfile_to_ipp(parse(b"Hlocalhost\nP-oFoo\nfdfAh\n"), {"dfAh": TEXT}, peer_host="::1")
    assert t.attributes["requesting-user-name"] == "_oFoo"
    assert t.attributes["job-originating-host-name"] == "::1"
    t = controlfile_to_ipp(parse(b"H\nP \nfdfAh\n"), {"dfAh": TEXT})
    assert t.attributes["requesting-user-name"] == "anonymous"
    assert "job-originating-host-name" not in t.attributes


def test_non_utf8_decoding_chain() -> None:  # case 30
    cf = parse(b"Hh\nPj\xc3\xbcrgen\nJcaf\xe9 \x80\nfdfAh\nNna\xefve\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT})
    assert t.attributes["requesting-user-name"] == "jürgen"
    assert t.attributes["job-name"] == "café €"
    assert t.documents[0].document_name == "naïve"
    t = controlfile_to_ipp(cf, {"dfAh": TEXT}, legacy_encoding="cp1251")
    assert t.attributes["job-name"] == "cafй Ђ"
    assert t.documents[0].document_name == "naпve"


def test_nul_and_controls_stripped_and_long_names_truncated() -> None:  # cases 18, 30
    cf = parse(b"Pu\x00ser\nJ" + "é".encode() * 200 + b"\nfdfAh\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT})
    assert t.attributes["requesting-user-name"] == "user"
    assert t.attributes["job-name"] == "é" * 127  # 254 octets; 256 would split a character


def test_extensions() -> None:
    cf = parse(
        b"Hh\nPu\n5P1-3,7\n5q0\nG4\nKtwo_sided_tumble\n<upper\n>face-up\nOlandscape\nfdfAh\n"
    )
    t = controlfile_to_ipp(cf, {"dfAh": TEXT})
    assert t.attributes["page-ranges"] == [[1, 3], [7, 7]]
    assert t.attributes["job-priority"] == 100
    assert t.attributes["number-up"] == 4
    assert t.attributes["sides"] == "two-sided-short-edge"
    assert t.attributes["media-source"] == "top"
    assert t.attributes["output-bin"] == "face-up"
    assert t.attributes["orientation-requested"] == 4


def test_bad_extensions_are_noted_not_mapped() -> None:
    cf = parse(b"Pu\n5P3-1\nG3\nKwhatever\nO-o media=a4\n<Bad Tray!\nfdfAh\n")
    t = controlfile_to_ipp(cf, {"dfAh": TEXT})
    for attr in ("page-ranges", "number-up", "sides", "orientation-requested", "media-source"):
        assert attr not in t.attributes
    assert len(t.notes) == 5


def test_sun_content_type_forces_format() -> None:
    cf = parse(b"Pu\n5Tpostscript\nldfAh\n")
    t = controlfile_to_ipp(cf, {"dfAh": b"%PDF-"})
    assert t.documents[0].document_format == "application/postscript"


def test_missing_data_file_reported() -> None:  # case 23
    t = controlfile_to_ipp(parse(b"Pu\nfdfAh\nfdfBh\n"), {"dfAh": TEXT})
    assert t.missing_data_files == ("dfBh",)


def test_rules_table_is_documented() -> None:
    assert all(rule.rule for rule in LINE_RULES)
    codes = {rule.code for rule in LINE_RULES}
    assert {"P", "H", "J", "L", "N", "G", "K", "<", ">", "O", "5P"} <= codes


@given(st.binary(max_size=400), st.binary(max_size=16))
def test_never_raises(data: bytes, head: bytes) -> None:
    cf = parse(data)
    t = controlfile_to_ipp(cf, dict.fromkeys(cf.data_files, head))
    assert isinstance(t.attributes["requesting-user-name"], str)
    assert t.attributes["job-sheets"] in ("standard", "none")


def test_more_than_52_data_files() -> None:  # case 25
    names = [
        f"{p}{chr(c)}001h" for p in ("df", "ef", "dg") for c in (*range(65, 91), *range(97, 123))
    ]
    cf = parse(b"Pu\n" + b"".join(b"f%s\n" % n.encode() for n in names))
    t = controlfile_to_ipp(cf, dict.fromkeys(names, TEXT))
    assert [d.data_file for d in t.documents] == names
    assert "copies" not in t.attributes


def test_pret_injection_lines_are_inert() -> None:  # case 22
    cf = parse(b"Hh\nPu\nM-oQ/tmp/x\nU/etc/passwd\nJ() { :;}; /bin/id\nf/etc/passwd\n")
    t = controlfile_to_ipp(cf, {})
    assert t.attributes["job-name"] == "() { :;}; /bin/id"  # text only, never executed
    assert not any("mail" in k or "notify" in k for k in t.attributes)
    # a print line naming a server path is only a name: no such file was sent
    assert t.missing_data_files == ("/etc/passwd",)
