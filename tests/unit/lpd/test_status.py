"""lpq text: render (gateway as LPD server) and parse (gateway as LPD client).

The expected strings are reference/lpd.md section 6's examples (FreeBSD
``displayq.c``, cups-lpd ``send_state``, RFC 2569 Appendix A/B).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.lpd.status import (
    QueueStatus,
    StatusEntry,
    filter_entries,
    ordinal,
    parse_status,
    printer_status_lines,
    render_long,
    render_short,
    render_status,
)

FRED = StatusEntry("fred", 123, ("stuff",), 1204, rank_active=True, host="tiger")
SMITH = StatusEntry("smith", 124, ("resume", "foo"), 34576, host="h2")
READY = ["lp is ready and printing"]

# Token parser in the style of Samba's parse_lpq_bsd / reference 6.5.
ROW_RE = re.compile(r"^(active|\d+(?:st|nd|rd|th))\s+(\S+)\s+(\d+)\s+(.*?)\s+(\d+) bytes$")


def test_short_matches_freebsd_layout_exactly() -> None:
    assert render_short(READY, [FRED, SMITH]) == (
        "lp is ready and printing\n"
        "Rank   Owner      Job  Files                                 Total Size\n"
        "active fred       123  stuff                                  1204 bytes\n"
        "1st    smith      124  resume, foo                            34576 bytes\n"
    )


def test_long_form() -> None:
    two = StatusEntry("fred", 123, ("stuff",), 602, rank_active=True, host="tiger", copies=2)
    many = StatusEntry("bob", 7, ("a", "b"), 30, file_sizes=(10, 20))
    assert render_long(READY, [two, many]) == (
        "lp is ready and printing\n"
        "\n"
        "fred: active                             [job 123 tiger]\n"
        "\t2  copies of stuff               602 bytes\n"
        "\n"
        "bob: 1st                                 [job 007]\n"
        "\ta                                10 bytes\n"
        "\tb                                20 bytes\n"
    )


def test_no_entries() -> None:
    assert render_short(["lp is ready"], []) == "lp is ready\nno entries\n"
    assert render_long(["lp is ready"], []) == "lp is ready\nno entries\n"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinals(n: int, text: str) -> None:  # case 44
    assert ordinal(n) == text


def test_ranks_for_many_jobs() -> None:  # case 44
    entries = [StatusEntry("u", i, ("f",), 1) for i in range(1, 15)]
    rows = render_short(READY, entries).splitlines()[2:]
    assert [r.split()[0] for r in rows][10:13] == ["11th", "12th", "13th"]
    active_first = [StatusEntry("u", 0, ("f",), 1, rank_active=True), *entries[:2]]
    assert [r.split()[0] for r in render_short(READY, active_first).splitlines()[2:]] == [
        "active",
        "1st",
        "2nd",
    ]


def test_columns_stay_separated_with_long_values() -> None:
    long = StatusEntry(
        "averyveryverylongusername with space",
        1234567,
        ("a-really-long-file-name-that-overflows-the-column.txt", "b"),
        10**12,
        copies=3,
    )
    row = render_short(READY, [long]).splitlines()[-1]
    match = ROW_RE.match(row)
    assert match is not None
    assert match.group(2) == "averyveryverylongusername_with_space"
    assert match.group(3) == "1234567"
    assert match.group(5) == str(3 * 10**12)
    assert len(match.group(4)) <= 38
    head = render_long(READY, [long]).splitlines()[2]
    assert re.match(r"^\S+: 1st\s+\[job 1234567\]$", head)


def test_control_characters_cannot_break_lines() -> None:
    evil = StatusEntry("ev\nil", 1, ("a\r\nb",), 1)
    text = render_short(["lp\nis ready"], [evil])
    assert len(text.splitlines()) == 3
    assert ROW_RE.match(text.splitlines()[2])


def test_filter_by_users_and_numbers() -> None:  # case 37
    alice = StatusEntry("alice", 12, ("a",), 1, aliases=(5,))
    bob = StatusEntry("bob", 13, ("b",), 1)
    carol = StatusEntry("carol", 14, ("c",), 1)
    every = [alice, bob, carol]
    assert filter_entries(every, []) == every
    assert filter_entries(every, ["bob"]) == [bob]
    assert filter_entries(every, ["14"]) == [carol]
    assert filter_entries(every, ["5"]) == [alice]  # the client's cfA number
    assert filter_entries(every, ["alice", "12", "bob", "5", "9999999"]) == [alice, bob]
    assert filter_entries(every, ["1nobody"]) == []  # starts with a digit: a number
    assert filter_entries(every, ["dave"]) == []


def test_render_status_bytes() -> None:
    out = render_status(READY, [FRED, SMITH], long=False, items=("smith",))
    assert out.endswith(b"34576 bytes\n")
    assert b"fred" not in out
    assert render_status(READY, [FRED], long=True, items=("nobody",)).endswith(b"no entries\n")
    assert "jürgen".encode() in render_status([], [StatusEntry("jürgen", 1)], long=False)


def test_printer_status_lines() -> None:
    assert printer_status_lines("lp", printing=True) == ["lp is ready and printing"]
    assert printer_status_lines("lp", printing=False) == ["lp is ready"]
    assert printer_status_lines("lp", printing=False, enabled=False, accepting=False) == [
        "Warning: lp is down: printing disabled",
        "Warning: lp queue is turned off",
    ]


def test_entry_validation() -> None:
    with pytest.raises(ValueError):
        StatusEntry("u", -1)
    with pytest.raises(ValueError):
        StatusEntry("u", 1, copies=0)


# ---- parse ----

CUPS_SHORT = (
    "lp is ready and printing\n"
    "Rank    Owner   Job     File(s)                         Total Size\n"
    "active  fred    123     stuff                           2048 bytes\n"
    "1st     smith   124     resume                          35840 bytes\n"
    "11st    carol   125     cups rank bug                   1024 bytes\n"
)
CUPS_LONG = (
    "lp is ready and printing\n"
    "\n"
    "fred: active                            [job 123 localhost]\n"
    "        2 copies of stuff                       2048 bytes\n"
)
BSD_LONG = "\nfred: active                             [job 123tiger]\n\tstuff  1204 bytes\n"
RFC_SHORT = (
    "killtree is ready and printing\n"
    "Rank   Owner      Job             Files                       Total Size\n"
    "active fred       123             stuff                       1204 bytes\n"
    "1st    smith      124             resume, foo                 34576 bytes\n"
)
LPRNG_LONG = (
    "Printer: lp@h4 'test' (printing disabled)\n"
    " Queue: 2 printable jobs\n"
    " Server: no server active\n"
    " Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    "1      papowell@h4+955          A   955 (STDIN)                    3 15:12:23\n"
    "hold   bob@h5+12                A    12 report.ps              12345 09:01:02\n"
)


def test_parse_our_own_output_round_trips() -> None:
    status = parse_status(render_short(READY, [FRED, SMITH]).encode())
    assert status.printer_state == "processing"
    assert [(j.owner, j.job_number, j.files, j.size) for j in status.jobs] == [
        ("fred", 123, ("stuff",), 1204),
        ("smith", 124, ("resume", "foo"), 34576),
    ]
    assert [j.job_state for j in status.jobs] == ["processing", "pending"]
    assert [j.intervening for j in status.jobs] == [0, 1]


def test_parse_cups_short_with_rank_bug() -> None:
    status = parse_status(CUPS_SHORT)
    assert [j.rank for j in status.jobs] == ["active", "1st", "11st"]
    assert status.jobs[2].files == ("cups rank bug",)
    assert status.jobs[2].job_state == "pending"


def test_parse_long_forms() -> None:
    cups = parse_status(CUPS_LONG).jobs[0]
    assert (cups.owner, cups.job_number, cups.host, cups.copies, cups.size) == (
        "fred",
        123,
        "localhost",
        2,
        2048,
    )
    bsd = parse_status(BSD_LONG).jobs[0]
    assert (bsd.job_number, bsd.host, bsd.files, bsd.size) == (123, "tiger", ("stuff",), 1204)


def test_parse_rfc2569() -> None:
    status = parse_status(RFC_SHORT)
    assert [j.job_number for j in status.jobs] == [123, 124]


def test_parse_lprng() -> None:
    status = parse_status(LPRNG_LONG)
    assert status.printer_state == "stopped"
    assert "paused" in status.printer_state_reasons
    first, second = status.jobs
    assert (first.owner, first.host, first.job_number, first.size) == ("papowell", "h4", 955, 3)
    assert first.files == ("(STDIN)",)
    assert second.job_state == "pending-held"


@pytest.mark.parametrize(
    ("text", "state", "reason", "accepting"),
    [
        ("lp is ready\nno entries\n", "idle", "none", True),
        ("lp is not ready\n", "stopped", "none", True),
        ("Warning: lp is down: paper jam\nno entries\n", "stopped", "paused", True),
        ("Warning: lp queue is turned off\nlp is ready\n", "idle", "none", False),
        ("Warning: no daemon present\n", "stopped", "other", True),
        ("waiting for lp to become ready (offline?)\n", "stopped", "offline-report", True),
        ("no space on remote; waiting for queue to drain\n", "stopped", "spool-area-full", True),
        ("lp@h4  (spooling disabled) 0 jobs\n", "idle", "none", False),
    ],
)
def test_parse_printer_state(text: str, state: str, reason: str, accepting: bool) -> None:
    status = parse_status(text)
    assert status.printer_state == state
    assert reason in status.printer_state_reasons
    assert status.accepting_jobs is accepting
    assert status.jobs == ()


def test_parse_down_message_and_crlf() -> None:
    status = parse_status(b"Warning: lp is down: paper jam\r\nno entries\r\n")
    assert status.printer_state_message == "paper jam"


def test_parse_caps_input() -> None:
    text = render_short(READY, [FRED] * 3)
    assert len(parse_status(text, max_size=len(text) - 20).jobs) == 2


@given(st.binary(max_size=400))
def test_parse_never_raises(data: bytes) -> None:
    assert isinstance(parse_status(data), QueueStatus)


names = st.text(min_size=1, max_size=30)


@given(
    st.lists(
        st.builds(
            StatusEntry,
            owner=names,
            job_id=st.integers(0, 10**7),
            files=st.lists(names, min_size=1, max_size=3).map(tuple),
            size=st.integers(0, 10**13),
            copies=st.integers(1, 99),
        ),
        max_size=5,
    )
)
def test_render_then_parse_keeps_numbers(entries: list[StatusEntry]) -> None:
    status = parse_status(render_short(READY, entries))
    assert [j.job_number for j in status.jobs] == [e.job_id for e in entries]
    assert [j.size for j in status.jobs] == [e.size * e.copies for e in entries]
