"""Hypothesis strategies for fuzzing: byte mutations and wire-shaped inputs.

Why: random bytes rarely get past an IPP header or an LPD command line, so
most inputs here are *structure-aware*: recorded fixtures put through a few
mutations (flip, insert, delete, duplicate, truncate, overwrite a length
field), or streams assembled from protocol-shaped pieces with some of their
lengths and delimiters wrong. Interesting values (long digit runs, Unicode
digits, blank runs, boundary lengths) are mixed in on purpose.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import strategies as st

from tests.unit.lpd import captures

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ipp"


def _head(data: bytes) -> bytes:
    """A fixture up to its end-of-attributes-tag plus a little document."""
    from gateway.ipp import decode

    _, tail = decode(data)
    return data[: len(data) - len(tail) + min(32, len(tail))]


IPP_FIXTURES: tuple[bytes, ...] = tuple(
    _head(path.read_bytes()) for path in sorted(FIXTURES.glob("*.bin"))
)
LPD_CAPTURES: tuple[bytes, ...] = tuple(
    value
    for name, value in sorted(vars(captures).items())
    if name.isupper() and isinstance(value, bytes)
)

interesting_u16 = st.sampled_from([0, 1, 2, 3, 4, 8, 11, 0x7FFF, 0x8000, 0xFFFF])
seeds = st.integers(0, 255)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_mutations: int = 4) -> bytes:
    """`base` with 0..max_mutations byte-level mutations applied."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_mutations))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "dup", "cut", "u16"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and pos < len(data):
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x0A, 0x0D, 0x20, 0xFF]))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif kind == "dup":
            piece = data[pos : pos + draw(st.integers(1, 64))]
            data[pos:pos] = piece * draw(st.integers(1, 4))
        elif kind == "cut":
            del data[pos:]
        elif kind == "u16" and pos + 2 <= len(data):
            data[pos : pos + 2] = struct.pack(">H", draw(interesting_u16))
    return bytes(data)


# -- IPP ------------------------------------------------------------------------

ipp_tags = st.one_of(
    st.sampled_from(
        [
            *(0x10, 0x13, 0x21, 0x22, 0x23, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37),
            *(0x41, 0x42, 0x44, 0x45, 0x47, 0x48, 0x49, 0x4A, 0x7F),
        ]
    ),
    st.integers(0x10, 0xFF),
)
ipp_names = st.one_of(
    st.just(b""),
    st.sampled_from([b"attributes-charset", b"attributes-natural-language", b"media-col", b"a"]),
    st.binary(max_size=8),
)


@st.composite
def ipp_value(draw: st.DrawFn) -> bytes:
    """Value bytes that are right for some syntax (or nearly)."""
    size = draw(st.sampled_from([0, 1, 4, 8, 9, 11, 3, 5]))
    return draw(
        st.one_of(
            st.binary(min_size=size, max_size=size),
            st.sampled_from([b"utf-8", b"us-ascii", b"en", b"\xff\xfe", b"a b", b"\x00\x00"]),
            st.builds(
                lambda lang, text, bad: (
                    struct.pack(">H", (len(lang) + bad) & 0xFFFF)
                    + lang
                    + struct.pack(">H", len(text))
                    + text
                ),
                st.binary(max_size=6),
                st.binary(max_size=6),
                st.sampled_from([0, 0, 1, -1, 100]),
            ),
            st.builds(  # RFC 2579 dateTime with fields anywhere in their byte ranges
                lambda y, rest: struct.pack(">H", y) + rest,
                st.integers(0, 0xFFFF),
                st.binary(min_size=9, max_size=9),
            ),
        )
    )


@st.composite
def ipp_item(draw: st.DrawFn) -> bytes:
    """One delimiter or attribute item, its length fields sometimes wrong."""
    if draw(st.integers(0, 5)) == 0:
        return bytes([draw(st.integers(0, 0x0F))])
    tag = draw(ipp_tags)
    name = draw(ipp_names)
    value = draw(ipp_value())
    name_len = len(name) if draw(st.integers(0, 9)) else draw(interesting_u16)
    value_len = len(value) if draw(st.integers(0, 9)) else draw(interesting_u16)
    return bytes([tag]) + struct.pack(">H", name_len) + name + struct.pack(">H", value_len) + value


@st.composite
def ipp_messages(draw: st.DrawFn) -> bytes:
    """A header, a run of items (collections included), maybe an end tag and data."""
    header = draw(
        st.one_of(
            st.just(bytes.fromhex("0200000b00000001")),
            st.binary(min_size=8, max_size=8),
            st.binary(max_size=8),
        )
    )
    items = draw(st.lists(ipp_item(), max_size=24))
    if draw(st.booleans()):
        items.insert(0, b"\x01")
    end = draw(st.sampled_from([b"\x03", b"\x03", b"", b"\x03trailing document"]))
    return header + b"".join(items) + end


ipp_inputs = st.one_of(
    st.binary(max_size=200),
    ipp_messages(),
    mutated(st.sampled_from(IPP_FIXTURES)),
    mutated(ipp_messages(), max_mutations=2),
)

# -- LPD ------------------------------------------------------------------------

blank = st.sampled_from([b" ", b"\t", b"\x0b", b"\x0c", b"  ", b""])
line_end = st.sampled_from([b"\n", b"\n", b"\r\n", b"\r", b""])
operands = st.one_of(
    st.sampled_from([b"q", b"lp", b"root", b"12", b"alice", b"\xe9t\xe9", b"\xff", b""]),
    st.binary(max_size=12),
)
counts = st.one_of(
    st.integers(0, 40).map(lambda n: str(n).encode()),
    st.sampled_from([b"0", b"00", b"+3", b"-1", b"0x10", b"9" * 19, b"9" * 20, b"\xb2", b""]),
)


@st.composite
def lpd_piece(draw: st.DrawFn) -> bytes:
    """A daemon command, a subcommand (file header), a file body, a trailer or junk."""
    kind = draw(st.sampled_from(["command", "header", "header", "body", "trailer", "junk"]))
    if kind == "command":
        code = draw(st.sampled_from([1, 2, 3, 4, 5, 0, 6, 0xFF]))
        words = draw(st.lists(operands, max_size=4))
        return bytes([code]) + draw(blank).join(words) + draw(line_end)
    if kind == "header":
        code = draw(st.sampled_from([1, 2, 3, 2, 3, 0, 4]))
        name = draw(st.one_of(st.just(b"cfA001host"), st.just(b"dfA001host"), operands))
        return bytes([code]) + draw(counts) + draw(blank) + name + draw(line_end)
    if kind == "body":
        return draw(st.binary(max_size=40))
    if kind == "trailer":
        return draw(st.sampled_from([b"\x00", b"\x00", b"\x01", b"\xff"]))
    return draw(st.binary(max_size=8))


@st.composite
def lpd_job(draw: st.DrawFn) -> bytes:
    """A receive-job stream whose file sizes are right most of the time."""
    out = bytearray(b"\x02" + draw(operands) + b"\n")
    for _ in range(draw(st.integers(0, 4))):
        code = draw(st.sampled_from([2, 3, 3]))
        body = draw(st.binary(max_size=30))
        size = len(body) + (0 if draw(st.integers(0, 4)) else draw(st.integers(-3, 3)))
        if code == 3 and draw(st.integers(0, 5)) == 0:
            size = 0
        out += bytes([code]) + str(max(size, 0)).encode() + b" " + draw(operands) + b"\n"
        out += body + draw(st.sampled_from([b"\x00", b"\x00", b"\x00", b"\x02", b""]))
    if draw(st.booleans()):
        out += draw(st.sampled_from([b"\x01\n", b"\x00", b"\x02q\n"]))
    return bytes(out)


lpd_server_inputs = st.one_of(
    st.binary(max_size=200),
    st.lists(lpd_piece(), max_size=8).map(b"".join),
    lpd_job(),
    mutated(st.sampled_from(LPD_CAPTURES)),
    mutated(lpd_job(), max_mutations=2),
)

lpd_reply_inputs = st.one_of(
    st.binary(max_size=100),
    st.lists(
        st.one_of(
            st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x03", b"l", b"\n", b"\r\n"]),
            st.binary(max_size=80),
        ),
        max_size=10,
    ).map(b"".join),
    mutated(st.sampled_from(LPD_CAPTURES)),
)

# -- control files and lpq text -----------------------------------------------

short_digit_runs = st.integers(0, 25).map(lambda n: b"7" * n)
digit_runs = st.one_of(  # one in five around int()'s 4300-digit limit
    *[short_digit_runs] * 4, st.integers(4250, 4400).map(lambda n: b"1" * n)
)
control_codes = st.one_of(
    st.sampled_from(list(b"CHIJLMNPSTUW1234cdfglnoprtvzADQRZEBO56<>GKx")), st.integers(0, 255)
)
cf_operands = st.one_of(
    operands,
    digit_runs,
    st.sampled_from([b"dfA001host", b"5", b" 12 ", b"\xb2", b"\xef\xbb\xbf"]),
)


@st.composite
def control_file(draw: st.DrawFn) -> bytes:
    """Control-file lines with any code, odd operands and mixed line ends."""
    lines = draw(st.lists(st.tuples(control_codes, cf_operands, line_end), min_size=0, max_size=12))
    return b"".join(bytes([code]) + value + end for code, value, end in lines)


controlfile_inputs = st.one_of(
    st.binary(max_size=300),
    control_file(),
    mutated(st.sampled_from(LPD_CAPTURES)),
)

plain_numbers = st.integers(0, 20000).map(str)
status_numbers = st.one_of(  # plain three times in five; odd digits; over int()'s limit
    *[plain_numbers] * 3,
    st.sampled_from(["\u00b2", "\u0663", "\u00b9\u00b2", "\uff11", "???", "-1", "", "9" * 21]),
    st.integers(4290, 4320).map(lambda n: "9" * n),
)
STATUS_WORDS = (
    *("active", "1st", "2nd", "11th", "hold", "done", "error", "stalled(3sec)", "moved->q"),
    *("root@localhost+461", "alice", "(orphan)", "incoming", "bytes", "copies", "of"),
    *("02:52:36", "[job", "]", "is", "down:", "ready", "and", "printing", "Rank"),
    *("IS", "Down:", "Warning:", "queue", "turned", "off", "offline", "disabled"),
)
status_words = st.one_of(st.sampled_from(STATUS_WORDS), status_numbers, st.text(max_size=6))


@st.composite
def status_line(draw: st.DrawFn) -> str:
    """An lpq line: a short row, a long-form head or file line, or a status line."""
    kind = draw(st.sampled_from(["short", "head", "file", "words"]))
    words = st.lists(status_words, max_size=5).map(" ".join)
    gap = draw(st.sampled_from([" ", "  ", "\t", " " * 30]))
    if kind == "short":
        parts = [draw(status_words), draw(status_words), draw(status_numbers), draw(words)]
        return gap.join([*parts, draw(status_numbers), "bytes"])
    if kind == "head":
        head = f"{draw(status_words)}: {draw(status_words)}{gap}"
        return f"{head}[job {draw(status_numbers)}{draw(words)}]"
    if kind == "file":
        copies = draw(st.sampled_from(["", f"{draw(status_numbers)} copies of "]))
        return f"\t{copies}{draw(words)}{gap}{draw(status_numbers)} bytes"
    return draw(words)


status_texts = st.lists(status_line(), max_size=10).map("\n".join)

status_inputs = st.one_of(
    st.binary(max_size=300),
    status_texts.map(lambda t: t.encode("utf-8")),
    status_texts.map(lambda t: t.encode("cp1252", "replace")),
    mutated(st.sampled_from(LPD_CAPTURES)),
)
