"""Real queue-state and remove replies captured from the peers the
integration tests run, for the status parser and the LPD backend.

How they were recorded (2026-11-22): tests/peers/lprng.py (Debian lprng
3.8.B-6, queue ``lp`` printing to a file) and tests/peers/bsdlpd.py (Debian
lpr, BSD lpd, queue ``lp`` with a held input filter), driven by
`gateway.lpd.client.LpdClient`: jobs 101/102 (LPRng) and 201/202 (BSD) sent
by users alice (2 copies) and bob from host ``gateway.test``; LPRng states
after ``lpc stop``, ``lpc start`` (jobs printed, kept as ``done`` by
``save_when_done``) and ``lpc disable``; BSD states while job 201 was active
and after ``lpc down lp paper jam``. Replies are the bytes as received.

``CUPS_LPD_*`` are not captures: they follow cups-lpd's documented
``send_state`` format (reference/lpd.md 6.4).
"""

from __future__ import annotations

LPRNG_EMPTY_LONG = b"Printer: lp@localhost\n Queue: no printable jobs in queue\n"
LPRNG_STOPPED_LONG = (
    b"Printer: lp@localhost (printing disabled)\n"
    b" Queue: 2 printable jobs\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"1      alice@gateway+101            A   101 Report 101            2400 03:21:12\n"
    b"2      bob@gateway+102              A   102 Report 102            1200 03:21:12\n"
)
LPRNG_STOPPED_SHORT = b"lp@localhost 2 jobs (printing disabled)\n"
LPRNG_DONE_LONG = (
    b"Printer: lp@localhost\n"
    b" Queue: no printable jobs in queue\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"done   alice@gateway+101            A   101 Report 101            2400 03:21:12\n"
    b"done   bob@gateway+102              A   102 Report 102            1200 03:21:12\n"
)
LPRNG_SPOOLING_DISABLED_LONG = (
    b"Printer: lp@localhost (spooling disabled)\n"
    b" Queue: no printable jobs in queue\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"done   alice@gateway+101            A   101 Report 101            2400 03:21:12\n"
    b"done   bob@gateway+102              A   102 Report 102            1200 03:21:12\n"
)
LPRNG_REMOVE_REPLY = (
    b"Printer lp@localhost:\n  checking perms 'alice@gateway+101'\n  dequeued 'alice@gateway+101'\n"
)
BSD_EMPTY_LONG = b"no entries\n"
BSD_ACTIVE_LONG = (
    b"lp is ready and printing\n"
    b"\n"
    b"alice: active                            [job 201localhost]\n"
    b"\t2  copies of doc.txt                 1200 bytes -- Sun Nov 22 03:21:13 2026\n"
    b"\n"
    b"bob: 1st                                 [job 202localhost]\n"
    b"\tdoc.txt                              1200 bytes -- Sun Nov 22 03:21:13 2026\n"
)
BSD_ACTIVE_SHORT = (
    b"lp is ready and printing\n"
    b"Rank   Owner      Job  Files                                 Total Size\n"
    b"active alice      201  doc.txt                               2400 bytes\n"
    b"1st    bob        202  doc.txt                               1200 bytes\n"
)
BSD_REMOVE_REPLY = b"vm: dfA202gateway.test dequeued\nvm: cfA202localhost dequeued\n"
BSD_DOWN_LONG = (
    b"Warning: lp is down: paper jam\n"
    b"Warning: lp queue is turned off\n"
    b"paper jam\n"
    b"\n"
    b"alice: active                            [job 201localhost]\n"
    b"\t2  copies of doc.txt                 1200 bytes -- Sun Nov 22 03:21:13 2026\n"
)

CUPS_LPD_SHORT = (
    b"lp is ready and printing\n"
    b"Rank    Owner   Job     File(s)                         Total Size\n"
    b"active  alice   123     Quarterly report                2048 bytes\n"
    b"1st     bob     124     notes                           35840 bytes\n"
)
CUPS_LPD_LONG = (
    b"lp is not ready\n"
    b"\n"
    b"alice: active                            [job 123 localhost]\n"
    b"        2 copies of Quarterly report            2048 bytes\n"
)
