#!/usr/bin/env python3
"""Write the seed corpora of the atheris harnesses into a folder.

Seeds come from the recorded fixtures: ``tests/fixtures/ipp/*.bin`` (document
tails cut short), the LPD captures in ``tests/unit/lpd/captures.py`` (client
streams, the control files inside them, lpq/lprm replies), plus a few
messages built with the codecs for syntaxes the fixtures lack. The corpora
are small and regenerated on demand; do not commit them.

    python tests/fuzz/make_corpus.py /tmp/lpd-ipp-fuzz
    # -> /tmp/lpd-ipp-fuzz/{ipp,lpd_server,controlfile,lpd_status}/
"""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.ipp import (  # noqa: E402
    Collection,
    DelimiterTag,
    Message,
    NameWithLanguage,
    Operation,
    OutOfBand,
    Resolution,
    StatusCode,
    TextWithLanguage,
    decode,
    encode,
)
from gateway.lpd.events import ControlFileHeader, FileData  # noqa: E402
from gateway.lpd.status import StatusEntry, render_status  # noqa: E402
from tests.unit.fuzz.oracles import drive_server  # noqa: E402
from tests.unit.lpd import captures  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "ipp"
SEED_BYTES = (0, 1, 7, 200)
"""First bytes of the IPP / LPD-server seeds (they pick chunking and limits)."""


def ipp_bodies() -> list[bytes]:
    """Fixture bodies (tail cut to 16 bytes) and built messages of every syntax."""
    out = []
    for path in sorted(FIXTURES.glob("*.bin")):
        data = path.read_bytes()
        _, tail = decode(data)
        out.append(data[: len(data) - len(tail) + min(16, len(tail))])
    request = Message.request(
        Operation.PRINT_JOB, 7, printer_uri="ipp://h/ipp/print", requesting_user_name="u"
    )
    job = request.add_group(DelimiterTag.JOB_ATTRIBUTES)
    job.add_text("job-name", TextWithLanguage("t", "fr"), "plain")
    job.add_name("x-name", NameWithLanguage("n", "de-CH"))
    job.add_integer("copies", 2).add_enum("print-quality", 4).add_boolean("b", True)
    job.add_range("page-ranges", (1, 3), (5, 5))
    job.add_resolution("printer-resolution", Resolution(600, 600))
    job.add_datetime("date-time-at-creation", datetime(2026, 11, 22, 3, 0, tzinfo=UTC))
    job.add_octet_string("o", b"\x00\xff").add_out_of_band("media", OutOfBand.NO_VALUE)
    size = Collection().add_integer("x-dimension", 21000).add_integer("y-dimension", 29700)
    job.add_collection("media-col", Collection().add_collection("media-size", size))
    out.append(encode(request) + b"%!PS")
    response = Message.response(request, StatusCode.CLIENT_ERROR_BAD_REQUEST, status_message="x")
    out.append(encode(response))
    return out


def lpd_streams() -> dict[str, bytes]:
    """Every bytes constant of the captures module (client streams and replies)."""
    return {
        name: value
        for name, value in vars(captures).items()
        if name.isupper() and isinstance(value, bytes)
    }


def control_files(streams: dict[str, bytes]) -> list[bytes]:
    """The control files inside the captured client streams."""
    out = []
    for data in streams.values():
        run = drive_server(data, random.Random(0), refuse_rate=0.0)
        current: bytearray | None = None
        for event in run.events:
            if isinstance(event, ControlFileHeader):
                current = bytearray()
                out.append(current)
            elif isinstance(event, FileData):
                if current is not None:
                    current += event.data
            else:
                current = None
    cfs = [bytes(cf) for cf in out]
    cfs.append(b"Hh\r\nPp\rJj\n5fform\n6L66\nI8\nW132\nldfA001h\nNname\n\n")
    return cfs


def status_texts(streams: dict[str, bytes]) -> list[bytes]:
    """Captured lpq/lprm replies and the gateway's own rendering."""
    out = [v for k, v in streams.items() if "STATUS" in k or "REMOVE" in k or "LONG" in k]
    entries = [
        StatusEntry("alice", 12, ("a.txt", "b.ps"), 100, rank_active=True, host="h"),
        StatusEntry("bob smith", 13, ("c",), 5, copies=2, file_sizes=(5,)),
    ]
    for long in (False, True):
        out.append(render_status(["lp is ready and printing"], entries, long=long))
    return out


def write(folder: Path, seeds: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    base = Path(argv[1])
    streams = lpd_streams()
    synthetic = [
        b"\x01q\n",
        b"\x03q 12 alice\n",
        b"\x04q\n",
        b"\x05q root 12\n",
        b"\x02q\n\x023 cfA001h\nHh\n\x00\x030 dfA001h\n\x00\x01\n\x00",
        b"\x02q\n\x030 dfA001h\nstreamed until EOF",
    ]
    lpd = [*streams.values(), *synthetic]
    write(base / "ipp", [bytes([b]) + body for body in ipp_bodies() for b in SEED_BYTES])
    write(base / "lpd_server", [bytes([b]) + s for s in lpd for b in SEED_BYTES])
    write(base / "controlfile", control_files(streams))
    write(base / "lpd_status", status_texts(streams))
    for name in ("ipp", "lpd_server", "controlfile", "lpd_status"):
        print(f"{base / name}: {len(list((base / name).iterdir()))} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
