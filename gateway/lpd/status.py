"""lpq text: render it for LPD clients, parse it from LPD servers.

Why it looks like this
----------------------
RFC 1179 ``\\3``/``\\4`` replies are free text until EOF; clients show it or
scrape it. BSD lpq and LPRng lpq copy it through; Samba and Windows scrape
the short form by *tokens* (rank, owner, job, files..., size, ``bytes``). So
the renderer writes the BSD layout (FreeBSD ``displayq.c``: rank at column 1,
owner at 8, job at 19, files at 24, size at 63; long form with ``[job N
host]``) but always keeps at least one space between fields when a value
overflows its column, and keeps owners free of blanks, so token parsers never
merge two fields. Ranks are ``active`` then ordinals with correct teens
(``11th``, not cups-lpd's ``11st``).

The renderer takes small `StatusEntry` values, not the core job, so this
module stays pure. `filter_entries` applies the request's list: a token
starting with a digit is a job number, anything else a user name
(RFC 1179 section 2, BSD ``inlist``).

The parser (`parse_status`) reads BSD, LPRng, cups-lpd and RFC 2569 output by
tokens and regexes, never by columns (reference/lpd.md 6.5), into printer
state and job entries with IPP keywords (reference/lpd.md 5.6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from gateway.lpd.controlfile import decode_text

__all__ = [
    "ParsedJob",
    "QueueStatus",
    "StatusEntry",
    "filter_entries",
    "ordinal",
    "parse_status",
    "printer_status_lines",
    "render_long",
    "render_short",
    "render_status",
]

# FreeBSD displayq.c layout (0-based string indexes).
_SIZE_COLUMN: Final = 62  # sizes start here ("Total Size" one column left)
_FILES_COLUMN: Final = 23
_LONG_JOB_COLUMN: Final = 40
_SHORT_HEADER: Final = "Rank   Owner      Job  Files".ljust(_SIZE_COLUMN - 1) + "Total Size"


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One job as lpq shows it.

    ``size`` is the single-copy total of all files in bytes; the short form
    prints ``size * copies`` (BSD, RFC 2569). ``file_sizes``, when it has one
    size per file, gives the long form one line per file. ``aliases`` are
    other numbers a request may use for this job (the client's own cfA
    number). ``host`` is shown in the long form's ``[job N host]``.
    """

    owner: str
    job_id: int
    files: tuple[str, ...] = ()
    size: int = 0
    rank_active: bool = False
    host: str = ""
    copies: int = 1
    file_sizes: tuple[int, ...] = ()
    aliases: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.job_id < 0 or self.size < 0 or self.copies < 1:
            raise ValueError("job_id and size must be >= 0, copies >= 1")


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th`` ... ``11th``, ``12th``, ``13th``, ``21st``."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _clean(text: str) -> str:
    """No control characters (they would break lines or columns)."""
    return "".join(c if c.isprintable() else " " for c in text)


def _token(text: str) -> str:
    """A single token: blanks inside become ``_``; empty becomes ``-``."""
    return "_".join(_clean(text).split()) or "-"


def filter_entries(entries: Iterable[StatusEntry], items: Sequence[str]) -> list[StatusEntry]:
    """Keep the entries the request's list names (all if the list is empty).

    A token that starts with a digit is a job number and matches ``job_id``
    or an alias; any other token is a user name matching ``owner``.
    """
    entries = list(entries)
    if not items:
        return entries
    numbers: set[int] = set()
    users: set[str] = set()
    for item in items:
        if item[:1].isdigit():
            digits = re.match(r"\d{1,20}", item)  # int() refuses > 4300 digits
            if digits is not None:
                numbers.add(int(digits.group()))
        else:
            users.add(item)
    return [
        e
        for e in entries
        if e.owner in users or e.job_id in numbers or any(a in numbers for a in e.aliases)
    ]


def printer_status_lines(
    queue: str,
    *,
    printing: bool,
    enabled: bool = True,
    accepting: bool = True,
    message: str = "",
) -> list[str]:
    """Status lines in the BSD/RFC 2569 wording parsers recognise:
    ``Warning: q is down: msg``, ``Warning: q queue is turned off``, then
    ``q is ready and printing`` or ``q is ready``."""
    lines = []
    if not enabled:
        lines.append(f"Warning: {queue} is down: {message or 'printing disabled'}")
    if not accepting:
        lines.append(f"Warning: {queue} queue is turned off")
    if enabled:
        lines.append(f"{queue} is ready and printing" if printing else f"{queue} is ready")
    return [_clean(line) for line in lines]


def _ranks(entries: Sequence[StatusEntry]) -> list[str]:
    out = []
    n = 0
    for entry in entries:
        if entry.rank_active:
            out.append("active")
        else:
            n += 1
            out.append(ordinal(n))
    return out


def render_short(status_lines: Sequence[str], entries: Sequence[StatusEntry]) -> str:
    """The short form (``\\3``): status lines, header, one row per job."""
    out = [_clean(line) for line in status_lines]
    if not entries:
        out.append("no entries")
        return "\n".join(out) + "\n"
    out.append(_SHORT_HEADER)
    width = _SIZE_COLUMN - _FILES_COLUMN - 1
    for rank, e in zip(_ranks(entries), entries, strict=True):
        files = ", ".join(_clean(f) for f in e.files) or "-"
        if len(files) > width:
            files = files[: width - 3] + "..."
        left = f"{rank:<6} {_token(e.owner):<10} {e.job_id:<3}  {files}"
        left = left.ljust(_SIZE_COLUMN) if len(left) < _SIZE_COLUMN else left + " "
        out.append(f"{left}{e.size * e.copies} bytes")
    return "\n".join(out) + "\n"


def render_long(status_lines: Sequence[str], entries: Sequence[StatusEntry]) -> str:
    """The long form (``\\4``): per job a blank line, ``owner: rank`` and
    ``[job N host]``, then one line per file (``N copies of name`` when
    copies > 1) with its single-copy size."""
    out = [_clean(line) for line in status_lines]
    if not entries:
        out.append("no entries")
        return "\n".join(out) + "\n"
    for rank, e in zip(_ranks(entries), entries, strict=True):
        head = f"{_token(e.owner)}: {rank}"
        head = head.ljust(_LONG_JOB_COLUMN) if len(head) < _LONG_JOB_COLUMN else head
        host = f" {_token(e.host)}" if e.host else ""
        out.append("")
        out.append(f"{head} [job {e.job_id:03d}{host}]")
        files = [_clean(f) or "-" for f in e.files] or ["-"]
        if len(e.file_sizes) == len(files):
            pairs = list(zip(files, e.file_sizes, strict=True))
        else:
            pairs = [(", ".join(files), e.size)]
        for name, size in pairs:
            if e.copies > 1:
                out.append(f"\t{e.copies:<2} copies of {name:<19} {size} bytes")
            else:
                out.append(f"\t{name:<32} {size} bytes")
    return "\n".join(out) + "\n"


def render_status(
    status_lines: Sequence[str],
    entries: Iterable[StatusEntry],
    *,
    long: bool,
    items: Sequence[str] = (),
    encoding: str = "utf-8",
) -> bytes:
    """Filter by the request's ``items`` and render the short or long form
    as the bytes to send (the server then closes the connection)."""
    selected = filter_entries(entries, items)
    text = render_long(status_lines, selected) if long else render_short(status_lines, selected)
    return text.encode(encoding, "replace")


# --------------------------------------------------------------------------
# Parsing (the gateway as an LPD client)
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedJob:
    """One job read from lpq text.

    ``job_state`` is an IPP job-state keyword; ``intervening`` the number of
    jobs ahead of it (its list position, or its rank number - 1 when that is
    larger, since filtered listings hide jobs). ``size`` is the short form's total (size x copies)
    or the long form's single-copy sum; ``None`` when not shown.
    """

    rank: str
    owner: str
    job_number: int
    files: tuple[str, ...] = ()
    size: int | None = None
    host: str = ""
    copies: int = 1
    job_state: str = "pending"
    job_state_reasons: tuple[str, ...] = ()
    intervening: int = 0


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """Printer state and jobs read from lpq text (IPP keywords)."""

    printer_state: str = "idle"  # idle | processing | stopped
    printer_state_reasons: tuple[str, ...] = ()
    printer_state_message: str = ""
    accepting_jobs: bool = True
    jobs: tuple[ParsedJob, ...] = ()
    status_lines: tuple[str, ...] = field(default=())


_RANK_STATES: Final[tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]] = (
    (re.compile(r"active(\(attempt-\d+\))?$"), "processing", ()),
    (re.compile(r"\d+(st|nd|rd|th)$"), "pending", ()),
    (re.compile(r"\d+$"), "pending", ()),
    (re.compile(r"hold(class)?$"), "pending-held", ()),
    (re.compile(r"incoming$"), "pending", ("job-incoming",)),
    (re.compile(r"stalled\(\d+sec\)$"), "processing-stopped", ()),
    (re.compile(r"error$"), "aborted", ()),
    (re.compile(r"done$"), "completed", ()),
    (re.compile(r"removed$"), "canceled", ()),
    (re.compile(r"moved->\S*$"), "completed", ()),
)

# Numbers are at most _MAX_DIGITS digits: int() refuses more than 4300, and
# no job number or byte count is longer. Possessive quantifiers (*+, ++) and
# a file name that ends in a non-blank keep both long-form regexes linear on
# one long line of blanks or digits (they backtracked quadratically, head, and
# cubically, file line). An empty file name still needs two blanks, as before.
_MAX_DIGITS: Final = 20
_LONG_HEAD_RE: Final = re.compile(
    r"^(\S+): (\S+(?: \(orphan\))?)\s+\[job (\d{1,20})(?!\d)\s*+([^\]]*+)\]\s*$"
)
# Debian's BSD lpd appends " -- <date>" after "bytes".
_LONG_FILE_RE: Final = re.compile(
    r"^\s++(?:(\d{1,20})\s+copies of\s++)?(?:(?<=\s\s)|(.*?\S)\s++)"
    r"(\d{1,20}|\?\?\?) bytes(?:\s+--.*)?\s*$"
)
_TIME_RE: Final = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?(\.\d+)?$")
# Found in the lowercased line, so split the line itself case-blind.
_IS_DOWN: Final = re.compile(" is down", re.IGNORECASE)


def _is_number(token: str) -> bool:
    """Decimal digits that int() reads (not ``²``, which isdigit() accepts)."""
    return token.isdecimal() and len(token) <= _MAX_DIGITS


def _rank_state(rank: str) -> tuple[str, tuple[str, ...]] | None:
    for pattern, state, reasons in _RANK_STATES:
        if pattern.match(rank):
            return state, reasons
    return None


def _normalise(text: str) -> list[str]:
    text = re.sub(r"\r\n|\n\r|\r", "\n", text)
    return ["".join(c for c in line if c.isprintable() or c == "\t") for line in text.split("\n")]


def _split_owner(owner: str) -> tuple[str, str]:
    """LPRng ``user@host+123`` -> (user, host); anything else unchanged."""
    match = re.match(r"^([^@]+)@([^+]+)(?:\+\d+)?$", owner)
    if match:
        return match.group(1), match.group(2)
    return owner, ""


def _short_row(tokens: list[str]) -> ParsedJob | None:
    """A short-form job row, read by tokens (BSD, cups-lpd, RFC 2569, LPRng)."""
    rank = tokens[0]
    if rank == "incoming" and len(tokens) > 1 and tokens[1] == "(orphan)":
        tokens = [rank, *tokens[2:]]
    state = _rank_state(rank)
    if state is None or len(tokens) < 4:
        return None
    if tokens[-1] == "bytes" and _is_number(tokens[-2]) and _is_number(tokens[2]):
        owner, host = _split_owner(tokens[1])
        return ParsedJob(
            rank=rank,
            owner=owner,
            job_number=int(tokens[2]),
            files=tuple(f.strip() for f in " ".join(tokens[3:-2]).split(", ") if f.strip()),
            size=int(tokens[-2]),
            host=host,
            job_state=state[0],
            job_state_reasons=state[1],
        )
    # LPRng: rank owner [class] job files... size time
    if _TIME_RE.match(tokens[-1]) and _is_number(tokens[-2]) and len(tokens) >= 5:
        if _is_number(tokens[3]) and len(tokens) >= 6:
            job, rest = tokens[3], tokens[4:-2]
        elif _is_number(tokens[2]):
            job, rest = tokens[2], tokens[3:-2]
        else:
            return None
        owner, host = _split_owner(tokens[1])
        return ParsedJob(
            rank=rank,
            owner=owner,
            job_number=int(job),
            files=(" ".join(rest),) if rest else (),
            size=int(tokens[-2]),
            host=host,
            job_state=state[0],
            job_state_reasons=state[1],
        )
    return None


@dataclass(slots=True)
class _PrinterState:
    state: str = "idle"
    reasons: list[str] = field(default_factory=list)
    message: str = ""
    accepting: bool = True

    def stop(self, reason: str | None = None) -> None:
        self.state = "stopped"
        if reason is not None:
            self.reasons.append(reason)


def _printer_line(line: str, st: _PrinterState) -> None:
    """Read printer state from a status line (reference/lpd.md 5.6)."""
    low = line.lower()
    if "queue is turned off" in low or "spooling disabled" in low:
        st.accepting = False
    if " is down" in low:
        st.stop("paused")
        st.message = _IS_DOWN.split(line, 1)[-1].lstrip(": ").strip()
    elif "printing disabled" in low:
        st.stop("paused")
    elif "printing aborted" in low:
        st.stop()
    elif "no daemon present" in low:
        st.stop("other")
    elif "offline" in low or "to become ready" in low:
        st.stop("offline-report")
    elif "no space on remote" in low:
        st.stop("spool-area-full")
    elif "waiting for queue to be enabled" in low or ("connection to" in low and "down" in low):
        st.stop("other")
    elif low.startswith(("unable to get printer", "get-jobs failed")):
        st.stop("other")
        st.message = line.strip()
    elif "is not ready" in low:
        st.stop()
    elif ("is ready and printing" in low or low.startswith("sending to")) and st.state != "stopped":
        st.state = "processing"


def _intervening(rank: str, position: int) -> int:
    """Jobs ahead: the list position, or more if the rank says so (a
    filtered listing hides jobs, and RFC 2569 prefers the server's count)."""
    match = re.match(r"(\d{1,20})(st|nd|rd|th)?$", rank)
    if match is None:
        return position
    return max(position, int(match.group(1)) - 1)


def parse_status(text: bytes | str, *, max_size: int = 2**20) -> QueueStatus:
    """Parse ``\\3``/``\\4`` reply text from any known server; never raises.

    Only the first ``max_size`` bytes (characters for ``str``) are read.
    Lines that are neither headers nor job lines are kept in
    ``status_lines`` and read for printer state.
    """
    text = decode_text(text[:max_size]) if isinstance(text, bytes) else text[:max_size]
    printer = _PrinterState()
    jobs: list[ParsedJob] = []
    status_lines: list[str] = []
    long_job: ParsedJob | None = None

    def close_long() -> None:
        nonlocal long_job
        if long_job is not None:
            jobs.append(long_job)
        long_job = None

    for line in _normalise(text):
        if not line.strip():
            continue
        head = _LONG_HEAD_RE.match(line)
        if head:
            close_long()
            rank = head.group(2)
            state, reasons = _rank_state(rank.split()[0]) or ("pending", ())
            owner, host = _split_owner(head.group(1))
            long_job = ParsedJob(
                rank=rank,
                owner=owner,
                job_number=int(head.group(3)),
                host=head.group(4).strip() or host,
                job_state=state,
                job_state_reasons=reasons,
            )
            continue
        if long_job is not None and line[:1] in (" ", "\t"):
            file_match = _LONG_FILE_RE.match(line)
            if file_match:
                copies, name, size = file_match.groups()
                total = long_job.size
                if size.isdigit():
                    total = (total or 0) + int(size)
                long_job = replace(
                    long_job,
                    files=(*long_job.files, (name or "").strip()),
                    size=total,
                    copies=int(copies) if copies else long_job.copies,
                )
                continue
        close_long()
        stripped = line.strip()
        if stripped.startswith("Rank"):
            continue
        row = _short_row(stripped.split())
        if row is not None:
            jobs.append(row)
            continue
        _printer_line(stripped, printer)
        status_lines.append(stripped)
    close_long()

    numbered = tuple(
        replace(job, intervening=_intervening(job.rank, i)) for i, job in enumerate(jobs)
    )
    state = printer.state
    if state == "idle" and any(j.job_state == "processing" for j in numbered):
        state = "processing"
    return QueueStatus(
        printer_state=state,
        printer_state_reasons=tuple(dict.fromkeys(printer.reasons)) or ("none",),
        printer_state_message=printer.message,
        accepting_jobs=printer.accepting,
        jobs=numbered,
        status_lines=tuple(status_lines),
    )
