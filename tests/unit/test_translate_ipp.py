"""IPP job -> LPD control file (RFC 2569 section 6, reference/lpd.md 5.4).

Every rule of `ipp_to_controlfile`, and a round trip through the LPD -> IPP
half (`controlfile_to_ipp`) to show the two halves read each other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.job import Attributes, Document, Frontend, Job, JobState, Origin
from gateway.core.translate import (
    KEPT_LETTERS,
    LpdDataFile,
    LpdOutputOptions,
    controlfile_to_ipp,
    ipp_to_controlfile,
    lpd_letter,
)
from gateway.lpd.controlfile import (
    control_file_name,
    data_file_name,
    lpd_file_host,
    lpd_user_name,
    parse,
    serialise,
)

OPTS = LpdOutputOptions(host="gw.example.org")


def make_job(
    attributes: Attributes | None = None,
    documents: Sequence[tuple[str, str]] = (("text/plain", "notes.txt"),),
    *,
    job_id: int = 7,
) -> Job:
    docs = tuple(
        Document(number=i + 1, path=f"d{i}", format=fmt, size=10, sha256="", name=name)
        for i, (fmt, name) in enumerate(documents)
    )
    attrs: Attributes = {"requesting-user-name": "alice", "job-name": "Report"}
    if attributes is not None:
        attrs = attributes
    return Job(
        id=job_id,
        queue="lp",
        state=JobState.PENDING,
        attributes=attrs,
        documents=docs,
        origin=Origin(Frontend.API),
    )


def lines(job: Job, number: int = 42, options: LpdOutputOptions = OPTS) -> list[bytes]:
    return serialise(ipp_to_controlfile(job, number, options).control_file).splitlines()


def test_minimal_job_in_rfc2569_order() -> None:
    assert lines(make_job()) == [
        b"Hgw.example.org",
        b"Palice",
        b"JReport",
        b"fdfA042gw.example.org",
        b"UdfA042gw.example.org",
        b"Nnotes.txt",
    ]


def test_names_of_control_and_data_files() -> None:
    ticket = ipp_to_controlfile(
        make_job(), 5, LpdOutputOptions(host="averyveryverylonghost.example")
    )
    assert ticket.control_file_name == "cfA005averyveryverylo"
    assert ticket.data_files == (LpdDataFile("dfA005averyveryverylo", 0, 1),)
    assert control_file_name(999, "h") == "cfA999h"
    with pytest.raises(ValueError):
        control_file_name(1000, "h")


def test_data_file_letters_run_a_to_z_then_next_prefix() -> None:
    assert data_file_name(0, 1, "h") == "dfA001h"
    assert data_file_name(1, 1, "h") == "dfB001h"
    assert data_file_name(25, 1, "h") == "dfZ001h"
    assert data_file_name(26, 1, "h") == "dfa001h"
    assert data_file_name(51, 1, "h") == "dfz001h"
    assert data_file_name(52, 1, "h") == "efA001h"
    with pytest.raises(ValueError):
        data_file_name(52 * 16, 1, "h")


def test_file_host_is_safe_and_cut_to_15() -> None:
    assert lpd_file_host("print/server one.example.com") == "printserverone."
    assert lpd_file_host("") == "gateway"
    assert lpd_file_host("hôte") == "hote"


def test_job_sheets_standard_adds_l_with_the_user() -> None:
    out = lines(make_job({"requesting-user-name": "bob", "job-sheets": "standard"}))
    assert b"Lbob" in out
    assert lines(make_job({"requesting-user-name": "bob", "job-sheets": "none"})) == [
        b"Hgw.example.org",
        b"Pbob",
        b"Jnotes.txt",  # no job-name: the first document-name
        b"fdfA042gw.example.org",
        b"UdfA042gw.example.org",
        b"Nnotes.txt",
    ]
    # CUPS-style 1setOf job-sheets: any value other than none asks for a banner.
    assert b"Lbob" in lines(
        make_job({"requesting-user-name": "bob", "job-sheets": ["none", "classified"]})
    )
    assert b"Lbob" not in lines(
        make_job({"requesting-user-name": "bob", "job-sheets": ["none", "none"]})
    )


def test_banner_option_overrides_job_sheets() -> None:
    on = LpdOutputOptions(host="gw", banner=True)
    off = LpdOutputOptions(host="gw", banner=False)
    assert b"Lalice" in lines(make_job(), options=on)
    assert b"Lalice" not in lines(
        make_job({"job-sheets": "standard", "job-name": "x"}), options=off
    )


def test_copies_repeat_the_print_line_per_document_uncollated() -> None:
    job = make_job(
        {"requesting-user-name": "alice", "job-name": "two", "copies": 3},
        [("text/plain", "a.txt"), ("application/pdf", "b.pdf")],
    )
    assert lines(job, 1)[3:] == [
        b"fdfA001gw.example.org",
        b"fdfA001gw.example.org",
        b"fdfA001gw.example.org",
        b"UdfA001gw.example.org",
        b"Na.txt",
        b"ldfB001gw.example.org",
        b"ldfB001gw.example.org",
        b"ldfB001gw.example.org",
        b"UdfB001gw.example.org",
        b"Nb.pdf",
    ]


def test_collated_copies_repeat_the_sequence() -> None:
    job = make_job(
        {
            "requesting-user-name": "alice",
            "job-name": "two",
            "copies": 2,
            "multiple-document-handling": "separate-documents-collated-copies",
        },
        [("text/plain", "a.txt"), ("text/plain", "b.txt")],
    )
    assert lines(job, 1, LpdOutputOptions(host="h"))[3:] == [
        b"fdfA001h",
        b"Na.txt",
        b"fdfB001h",
        b"Nb.txt",
        b"fdfA001h",
        b"fdfB001h",
        b"UdfA001h",
        b"UdfB001h",
    ]


def test_single_document_handling_is_sent_collated_with_a_note() -> None:
    job = make_job(
        {"copies": 2, "multiple-document-handling": "single-document"},
        [("text/plain", "a"), ("text/plain", "b")],
    )
    ticket = ipp_to_controlfile(job, 1, OPTS)
    assert [r.data_file for r in ticket.control_file.print_requests] == [
        "dfA001gw.example.org",
        "dfB001gw.example.org",
    ] * 2
    assert any("single-document" in n for n in ticket.notes)


@pytest.mark.parametrize(
    ("handling", "expected"),
    [
        (None, "separate-documents-uncollated-copies"),
        ("separate-documents-uncollated-copies", "separate-documents-uncollated-copies"),
        ("separate-documents-collated-copies", "separate-documents-collated-copies"),
    ],
)
def test_round_trip_through_the_lpd_to_ipp_half(handling: str | None, expected: str) -> None:
    attrs: Attributes = {
        "requesting-user-name": "alice",
        "job-name": "Quarterly report",
        "copies": 2,
        "job-sheets": "standard",
    }
    if handling is not None:
        attrs["multiple-document-handling"] = handling
    job = make_job(attrs, [("text/plain", "a.txt"), ("application/pdf", "b.pdf")])
    ticket = ipp_to_controlfile(job, 9, OPTS)
    heads = {f.name: b"%PDF-1.4" if f.document else b"text" for f in ticket.data_files}
    back = controlfile_to_ipp(parse(serialise(ticket.control_file)), heads)
    assert back.attributes["requesting-user-name"] == "alice"
    assert back.attributes["job-originating-host-name"] == "gw.example.org"
    assert back.attributes["job-name"] == "Quarterly report"
    assert back.attributes["job-sheets"] == "standard"
    assert back.attributes["copies"] == 2
    assert back.attributes["multiple-document-handling"] == expected
    assert [(d.document_name, d.document_format) for d in back.documents] == [
        ("a.txt", "text/plain"),
        ("b.pdf", "application/pdf"),
    ]


def test_one_copy_of_one_document_has_one_print_line() -> None:
    assert sum(1 for line in lines(make_job({"copies": 1})) if line[:1] == b"f") == 1


def test_bad_or_huge_copies() -> None:
    assert sum(1 for line in lines(make_job({"copies": 0})) if line[:1] == b"f") == 1
    assert sum(1 for line in lines(make_job({"copies": "3"})) if line[:1] == b"f") == 1
    ticket = ipp_to_controlfile(make_job({"copies": 5000}), 1, OPTS)
    assert len(ticket.control_file.print_requests) == 999
    assert any("999" in n for n in ticket.notes)


def test_manual_copies_repeat_the_data_not_the_line() -> None:
    opts = LpdOutputOptions(host="h", manual_copies=True)
    ticket = ipp_to_controlfile(
        make_job({"copies": 4}, [("text/plain", "a"), ("text/plain", "b")]), 3, opts
    )
    assert len(ticket.control_file.print_requests) == 2
    assert ticket.data_files == (LpdDataFile("dfA003h", 0, 4), LpdDataFile("dfB003h", 1, 4))


@pytest.mark.parametrize(
    ("fmt", "letter"),
    [
        ("text/plain", "f"),
        ("text/plain; charset=utf-8", "f"),
        ("TEXT/PLAIN", "f"),
        ("application/postscript", "l"),
        ("application/pdf", "l"),
        ("application/octet-stream", "l"),
        ("application/vnd.hp-PCL", "l"),
        ("image/pwg-raster", "l"),
    ],
)
def test_letter_from_document_format(fmt: str, letter: str) -> None:
    assert lpd_letter(fmt, OPTS) == letter


@pytest.mark.parametrize("letter", sorted(KEPT_LETTERS))
def test_a_kept_letter_travels_lpd_to_lpd(letter: str) -> None:
    """c g n t v (and d p r) come back out as they came in: the document
    remembers its letter, and the letter's format says it was not converted."""
    cf = parse(b"Hh\nPu\n" + letter.encode() + b"dfA1h\nNplot\n")
    [doc] = controlfile_to_ipp(cf, {"dfA1h": b"data"}).documents
    job = make_job(documents=[(doc.document_format, "plot")])
    job = job.evolve(documents=(replace(job.documents[0], attributes=dict(doc.attributes)),))
    requests = ipp_to_controlfile(job, 1, OPTS).control_file.print_requests
    assert [r.letter for r in requests] == [letter]
    # Without the remembered letter the format alone decides (raw, or f for text).
    assert lpd_letter(doc.document_format, OPTS) in ("l", "f")
    # A document converted to another format since does not keep it.
    assert lpd_letter("application/pdf", OPTS, letter) == "l"
    # format= still forces every letter.
    assert (
        lpd_letter(doc.document_format, LpdOutputOptions(host="h", format_letter="l"), letter)
        == "l"
    )


def test_postscript_letter_o_only_when_the_queue_allows_it() -> None:
    opts = LpdOutputOptions(host="h", postscript_letter="o")
    assert lpd_letter("application/postscript", opts) == "o"
    assert lpd_letter("application/pdf", opts) == "l"


def test_format_option_forces_every_letter() -> None:
    opts = LpdOutputOptions(host="h", format_letter="o")
    job = make_job(documents=[("text/plain", "a"), ("application/pdf", "b")])
    assert [r.letter for r in ipp_to_controlfile(job, 1, opts).control_file.print_requests] == [
        "o",
        "o",
    ]


def test_bad_options_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="format"):
        LpdOutputOptions(host="h", format_letter="x")
    with pytest.raises(ValueError, match="postscript"):
        LpdOutputOptions(host="h", postscript_letter="p")
    with pytest.raises(ValueError, match="charset"):
        LpdOutputOptions(host="h", charset="ebcdic")


def test_truncation_to_rfc_limits_on_character_boundaries() -> None:
    name = "é" * 80  # 160 octets in UTF-8
    doc = "ü" * 100  # 200 octets
    job = make_job({"requesting-user-name": "alice", "job-name": name}, [("text/plain", doc)])
    cf = ipp_to_controlfile(job, 1, OPTS).control_file
    j = cf.get("J")
    n = cf.get("N")
    assert j is not None and n is not None
    assert len(j) == 98 and j.decode("utf-8") == "é" * 49  # 99 would split a character
    assert len(n) == 130 and n.decode("utf-8") == "ü" * 65
    host = ipp_to_controlfile(job, 1, LpdOutputOptions(host="h" * 40)).control_file.get("H")
    assert host == b"h" * 31


def test_charsets() -> None:
    job = make_job(
        {"requesting-user-name": "alice", "job-name": "Café \u2013 Ωmega"},
        [("text/plain", "naïve.txt")],
    )
    latin = ipp_to_controlfile(job, 1, LpdOutputOptions(host="h", charset="latin-1")).control_file
    assert latin.get("J") == "Café ? ?mega".encode("latin-1")
    assert latin.get("N") == "naïve.txt".encode("latin-1")
    ascii_ = ipp_to_controlfile(job, 1, LpdOutputOptions(host="h", charset="ascii")).control_file
    assert ascii_.get("J") == b"Cafe ? ?mega"
    assert ascii_.get("N") == b"naive.txt"
    utf8 = ipp_to_controlfile(job, 1, OPTS).control_file
    assert utf8.get("J") == "Café \u2013 Ωmega".encode()


def test_control_characters_never_reach_the_control_file() -> None:
    job = make_job(
        {"requesting-user-name": "al ice\n", "job-name": "a\nb\rc\x00d"}, [("text/plain", "x\ny")]
    )
    cf = ipp_to_controlfile(job, 1, OPTS).control_file
    assert cf.get("J") == b"a b c d"
    assert cf.get("N") == b"x y"
    assert cf.get("P") == b"al_ice"


def test_sanitize_title() -> None:
    opts = LpdOutputOptions(host="h", sanitize_title=True)
    job = make_job({"job-name": "Q3/report (final).pdf"}, [("text/plain", "a-b.txt")])
    cf = ipp_to_controlfile(job, 1, opts).control_file
    assert cf.get("J") == b"Q3_report _final__pdf"
    assert cf.get("N") == b"a_b_txt"


@pytest.mark.parametrize(
    ("user", "token"),
    [
        ("alice", "alice"),
        ("Jürgen Müller", "Jurgen_Muller"),
        ("-rf", "_rf"),
        ("", "anonymous"),
        ("DOMAIN\\bob", "DOMAIN_bob"),
        ("x" * 40, "x" * 31),
        ("42", "42"),
    ],
)
def test_user_token(user: str, token: str) -> None:
    assert lpd_user_name(user) == token


def test_user_falls_back_to_the_origin_and_is_noted_when_changed() -> None:
    job = make_job({"requesting-user-name": "Jürgen Müller"})
    ticket = ipp_to_controlfile(job, 1, OPTS)
    assert ticket.control_file.get("P") == b"Jurgen_Muller"
    assert any("Jurgen_Muller" in n for n in ticket.notes)


def test_unnamed_document_has_no_n_line_and_no_job_name_no_j() -> None:
    job = make_job({"requesting-user-name": "alice"}, [("application/pdf", "")])
    out = lines(job, 3, LpdOutputOptions(host="h"))
    assert out == [b"Hh", b"Palice", b"ldfA003h", b"UdfA003h"]


def test_job_without_documents_is_refused() -> None:
    with pytest.raises(ValueError, match="no documents"):
        ipp_to_controlfile(make_job(documents=()), 1, OPTS)


@given(
    name=st.text(max_size=300),
    doc=st.text(max_size=300),
    user=st.text(max_size=60),
    charset=st.sampled_from(["utf-8", "latin-1", "ascii"]),
)
def test_any_text_gives_a_parseable_control_file_within_limits(
    name: str, doc: str, user: str, charset: str
) -> None:
    job = make_job({"requesting-user-name": user, "job-name": name}, [("text/plain", doc)])
    ticket = ipp_to_controlfile(job, 1, LpdOutputOptions(host="h", charset=charset))
    raw = serialise(ticket.control_file)
    assert parse(raw) == ticket.control_file
    for line in ticket.control_file.lines:
        limit = {"H": 31, "P": 31, "L": 31, "J": 99, "N": 131}.get(line.code)
        if limit is not None:
            assert len(line.value) <= limit
            line.value.decode(charset)  # whole characters only
