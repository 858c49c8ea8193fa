# ruff: noqa: E501
"""Real bytes recorded from real LPD peers on 127.0.0.1 (Debian packages).

Client captures (``*.bin`` names) were recorded by a throwaway Python listener that
acked everything with `gateway.lpd.protocol.Connection` and saved the raw bytes the
client sent. Status replies were read from a real LPRng 3.8 lpd and Debian's BSD lpd
(package lpr) with a raw socket. Each constant has a note saying how it was made.
Dates and job numbers are whatever the run produced.
"""

from __future__ import annotations

#: LPRng 3.8.B (Debian lprng) `lpr -P q@127.0.0.1%PORT hello.txt`: control file first, N before f, A/D/Q lines.
LPRNG_PLAIN = (
    b"\x02q\n"
    b"\x02130 cfA227localhost\n"
    b"Hlocalhost\n"
    b"Proot\n"
    b"Jhello.txt\n"
    b"CA\n"
    b"Lroot\n"
    b"Aroot@localhost+227\n"
    b"D2026-11-22-02:54:14.567\n"
    b"Qq\n"
    b"Nhello.txt\n"
    b"fdfA227localhost\n"
    b"UdfA227localhost\n"
    b"\x00\x0312 dfA227localhost\n"
    b"hello world\n"
    b"\x00"
)

#: LPRng `lpr -#2 hello.txt a.ps`: collated copies (N+f block repeated per copy), U lines last.
LPRNG_COPIES2_TWO_FILES = (
    b"\x02q\n"
    b"\x02226 cfA949localhost\n"
    b"Hlocalhost\n"
    b"Proot\n"
    b"Jhello.txt,a.ps\n"
    b"CA\n"
    b"Lroot\n"
    b"Aroot@localhost+949\n"
    b"D2026-11-22-02:51:45.270\n"
    b"Qq\n"
    b"Nhello.txt\n"
    b"fdfA949localhost\n"
    b"Na.ps\n"
    b"fdfB949localhost\n"
    b"Nhello.txt\n"
    b"fdfA949localhost\n"
    b"Na.ps\n"
    b"fdfB949localhost\n"
    b"UdfA949localhost\n"
    b"UdfB949localhost\n"
    b"\x00\x0312 dfA949localhost\n"
    b"hello world\n"
    b"\x00\x0324 dfB949localhost\n"
    b"%!PS-Adobe-3.0\n"
    b"showpage\n"
    b"\x00"
)

#: LPRng `printf ... | lpr -h -l -Zduplex,media=a4 -C B -J 'caf\\xe9 job'`: no banner (no L), l format, cfB (class letter), Z options.
LPRNG_STDIN_L_CLASS_Z = (
    b"\x02q\n"
    b"\x02141 cfB704localhost\n"
    b"Hlocalhost\n"
    b"Proot\n"
    b"Jcaf\\xe9 job\n"
    b"CB\n"
    b"Aroot@localhost+704\n"
    b"D2026-11-22-02:51:37.931\n"
    b"Qq\n"
    b"Zduplex,media=a4\n"
    b"N(STDIN)\n"
    b"ldfA704localhost\n"
    b"UdfA704localhost\n"
    b"\x00\x0311 dfA704localhost\n"
    b"from stdin\n"
    b"\x00"
)

#: LPRng `printf ... | lpr -k`: data file announced with size 0 and streamed until close, no NUL trailer.
LPRNG_K_STREAM = (
    b"\x02q\n"
    b"\x02126 cfA710localhost\n"
    b"Hlocalhost\n"
    b"Proot\n"
    b"J(STDIN)\n"
    b"CA\n"
    b"Lroot\n"
    b"Aroot@localhost+710\n"
    b"D2026-11-22-02:51:38.499\n"
    b"Qq\n"
    b"N(STDIN)\n"
    b"fdfA710localhost\n"
    b"UdfA710localhost\n"
    b"\x00\x030 dfA710localhost\n"
    b"streamed stdin\n"
)

#: LPRng `lpr -J $'caf\\xe9 \\xc3\\xa9' -T title` from stdin: J mixes Latin-1 and UTF-8 bytes.
LPRNG_MIXED_CHARSET_TITLE = (
    b"\x02q\n"
    b"\x02133 cfA956localhost\n"
    b"Hlocalhost\n"
    b"Proot\n"
    b"Jcaf\xe9 \xc3\xa9\n"
    b"CA\n"
    b"Lroot\n"
    b"Ttitle\n"
    b"Aroot@localhost+956\n"
    b"D2026-11-22-02:51:45.892\n"
    b"Qq\n"
    b"N(STDIN)\n"
    b"fdfA956localhost\n"
    b"UdfA956localhost\n"
    b"\x00\x032 dfA956localhost\n"
    b"x\n"
    b"\x00"
)

#: LPRng `lpq -P q@127.0.0.1%PORT` (long form request).
LPRNG_LPQ = b"\x04q\n"

#: LPRng `lpq -s -P q@... alice 12`.
LPRNG_LPQ_S_LIST = b"\x03q alice 12\n"

#: LPRng `lprm -P q@... 12` as root.
LPRNG_LPRM = b"\x05q root 12\n"

#: CUPS 2.4 lpd backend, `lpd://127.0.0.1:PORT/q?reserve=none`, job 42 alice 'My Title': l format, control first.
CUPS_BACKEND_DEFAULT = (
    b"\x02q\n"
    b"\x0251 cfA087vm\n"
    b"Hvm\n"
    b"Palice\n"
    b"JMy Title\n"
    b"ldfA087vm\n"
    b"UdfA087vm\n"
    b"NMy Title\n"
    b"\x00\x0312 dfA087vm\n"
    b"hello world\n"
    b"\x00"
)

#: CUPS lpd backend `?reserve=none&manual_copies=no&format=f&banner=on&order=data,control`, 3 copies: data first, f repeated 3 times, C and L.
CUPS_BACKEND_DATA_FIRST_COPIES3_BANNER = (
    b"\x02q\n"
    b"\x0324 dfA090vm\n"
    b"%!PS-Adobe-3.0\n"
    b"showpage\n"
    b"\x00\x0268 cfA090vm\n"
    b"Hvm\n"
    b"Pbob\n"
    b"JTwo\n"
    b"Cvm\n"
    b"Lbob\n"
    b"fdfA090vm\n"
    b"fdfA090vm\n"
    b"fdfA090vm\n"
    b"UdfA090vm\n"
    b"NTwo\n"
    b"\x00"
)

#: CUPS lpd backend `?reserve=none&mode=stream`: data file sent with its real size but no NUL trailer, then close.
CUPS_BACKEND_MODE_STREAM = (
    b"\x02q\n"
    b"\x0247 cfA093vm\n"
    b"Hvm\n"
    b"Pcarol\n"
    b"JStream\n"
    b"ldfA093vm\n"
    b"UdfA093vm\n"
    b"NStream\n"
    b"\x00\x0324 dfA093vm\n"
    b"%!PS-Adobe-3.0\n"
    b"showpage\n"
)

#: LPRng lpd 3.8 reply to `\\3q` (printing stopped with lpc stop, 4 jobs).
LPRNG_STATUS_SHORT = b"q@localhost 4 jobs (printing disabled)\n"

#: LPRng lpd reply to `\\4q` (same queue).
LPRNG_STATUS_LONG = (
    b"Printer: q@localhost (printing disabled)\n"
    b" Queue: 4 printable jobs\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"1      root@localhost+461           A   461 hello.txt               12 02:52:36\n"
    b"2      root@localhost+464           A   464 a.ps,hello.txt          72 02:52:36\n"
    b"3      alice@localhost+467          A   467 (STDIN)                  2 02:52:36\n"
    b"4      root@localhost+470           A   470 averyveryverylongjobnam 24 02:52:36\n"
)

#: LPRng lpd reply to `\\4q` after `lpc hold q 467`.
LPRNG_LONG_HELD = (
    b"Printer: q@localhost (printing disabled)\n"
    b" Queue: 3 printable jobs\n"
    b" Holding: 1 held jobs in queue\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"1      root@localhost+461           A   461 hello.txt               12 02:52:36\n"
    b"2      root@localhost+464           A   464 a.ps,hello.txt          72 02:52:36\n"
    b"3      root@localhost+470           A   470 averyveryverylongjobnam 24 02:52:36\n"
    b"hold   alice@localhost+467          A   467 (STDIN)                  2 02:52:36\n"
)

#: LPRng lpd reply to `\\4q 464`.
LPRNG_LONG_FILTER_NUM = (
    b"Printer: q@localhost (printing disabled)\n"
    b" Queue: 3 printable jobs\n"
    b" Holding: 1 held jobs in queue\n"
    b" Server: no server active\n"
    b" Rank   Owner/ID               Pr/Class Job Files                 Size Time\n"
    b"2      root@localhost+464           A   464 a.ps,hello.txt          72 02:52:36\n"
)

#: LPRng lpd reply to `\\5q root 461`.
LPRNG_REMOVE = (
    b"Printer q@localhost:\n"
    b"  checking perms 'root@localhost+461'\n"
    b"  dequeued 'root@localhost+461'\n"
)

#: Debian lpr (BSD lpd) reply to `\\3q`, 13 jobs, printing disabled (status file text 'printing disabled by test').
BSD_STATUS_SHORT = (
    b"printing disabled by test\n"
    b"Rank   Owner      Job  Files                                 Total Size\n"
    b"1st    u7         107  f7                                    7 bytes\n"
    b"2nd    u8         108  f8                                    8 bytes\n"
    b"3rd    u9         109  f9                                    9 bytes\n"
    b"4th    u11        111  f11                                   11 bytes\n"
    b"5th    u5         105  f5                                    5 bytes\n"
    b"6th    fred       101  stuff                                 1204 bytes\n"
    b"7th    u13        113  f13                                   13 bytes\n"
    b"8th    u10        110  f10                                   10 bytes\n"
    b"9th    u12        112  f12                                   12 bytes\n"
    b"10th   u4         104  f4                                    4 bytes\n"
    b"11th   alice      103   ...                                  10 bytes\n"
    b"12th   u6         106  f6                                    6 bytes\n"
    b"13th   smith      102  resume, foo                           69152 bytes\n"
)

#: BSD lpd reply to `\\4q` (same queue): note the ' -- date' after 'bytes'.
BSD_STATUS_LONG = (
    b"printing disabled by test\n"
    b"\n"
    b"u7: 1st                                  [job 107localhost]\n"
    b"\tf7                                      7 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u8: 2nd                                  [job 108localhost]\n"
    b"\tf8                                      8 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u9: 3rd                                  [job 109localhost]\n"
    b"\tf9                                      9 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u11: 4th                                 [job 111localhost]\n"
    b"\tf11                                    11 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u5: 5th                                  [job 105localhost]\n"
    b"\tf5                                      5 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"fred: 6th                                [job 101localhost]\n"
    b"\tstuff                                1204 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u13: 7th                                 [job 113localhost]\n"
    b"\tf13                                    13 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u10: 8th                                 [job 110localhost]\n"
    b"\tf10                                    10 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u12: 9th                                 [job 112localhost]\n"
    b"\tf12                                    12 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u4: 10th                                 [job 104localhost]\n"
    b"\tf4                                      4 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"alice: 11th                              [job 103localhost]\n"
    b"\ta-really-long-file-name-that-overflows-the-column.txt       10 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"u6: 12th                                 [job 106localhost]\n"
    b"\tf6                                      6 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\n"
    b"smith: 13th                              [job 102localhost]\n"
    b"\t2  copies of resume                 30000 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\t2  copies of foo                     4576 bytes -- Sun Nov 22 02:53:39 2026\n"
)

#: BSD lpd reply to `\\3q alice 102`.
BSD_STATUS_SHORT_FILTER = (
    b"printing disabled by test\n"
    b"Rank   Owner      Job  Files                                 Total Size\n"
    b"11th   alice      103   ...                                  10 bytes\n"
    b"13th   smith      102  resume, foo                           69152 bytes\n"
)

#: BSD lpd reply to `\\4q smith`.
BSD_STATUS_LONG_FILTER = (
    b"printing disabled by test\n"
    b"\n"
    b"smith: 13th                              [job 102localhost]\n"
    b"\t2  copies of resume                 30000 bytes -- Sun Nov 22 02:53:39 2026\n"
    b"\t2  copies of foo                     4576 bytes -- Sun Nov 22 02:53:39 2026\n"
)

#: BSD lpd reply to `\\3q` with lock mode 0754 (lpc down + disable), status 'paper jam', empty queue.
BSD_STATUS_DOWN_OFF = b"Warning: q is down: paper jam\nWarning: q queue is turned off\nno entries\n"
