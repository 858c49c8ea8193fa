#!/usr/bin/env python3
"""Fake RFC 1179 (LPD) server that records one session from a real client.

Standard library only. It listens on 127.0.0.1 (``--port``, 0 picks a free
port; the bound port is written to ``--ready-file`` and printed), accepts ONE
connection, speaks just enough LPD to keep a real client going, records every
byte each side sent, in order, and writes ``<out>/<name>.json``.

What it answers:
  \\1 queue LF          (print waiting jobs)  -> \\0, close
  \\2 queue LF          (receive job)         -> \\0, then per subcommand:
        \\2 count SP name LF  (control file)  -> \\0, read count bytes, read the
        \\3 count SP name LF  (data file)         trailing byte, \\0 if it was NUL
        count 0 (LPRng "until close") or a count larger than what arrives
        (CUPS mode=stream): read until the client closes / half-closes; for
        count 0 an ack \\0 is sent after EOF (the client may be waiting), for a
        short stream nothing is sent
        \\1 LF (abort)                        -> \\0
        a lone NUL between files             -> recorded, nothing sent
  \\3 / \\4 queue [list] LF (queue state)     -> --status-text, close
  \\5 queue agent [list] LF (remove jobs)    -> --remove-text (default none), close
  anything else                            -> \\1, close

Recording: bytes are logged in the order they crossed the wire. Consecutive
bytes from the same side are merged into one exchange, so ``exchanges``
alternates client/server within a connection and does not depend on recv()
boundaries. Each exchange names its connection (``conn``, 0-based); the
connections follow one another (the clients recorded here never overlap).

Metadata (how it was recorded, what the session should carry) comes from the
command line; see record-all.sh. ``--doc`` entries name the file that was
printed; the recorder adds its size and sha256 (of the bytes the client read
from disk, repeated ``repeat`` times when the client concatenates copies).
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import time

READ_TIMEOUT = 60.0  # seconds without a byte before the recorder gives up


class Closed(Exception):
    """The client closed its side of the connection."""


class Session:
    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.exchanges: list[list] = []  # [side, bytearray]
        self.notes: list[str] = []
        self.closed_by = None

    # ---- recording primitives -------------------------------------------
    def _log(self, side: str, data: bytes) -> None:
        if not data:
            return
        if self.exchanges and self.exchanges[-1][0] == side:
            self.exchanges[-1][1].extend(data)
        else:
            self.exchanges.append([side, bytearray(data)])

    def send(self, data: bytes) -> bool:
        try:
            self.conn.sendall(data)
        except OSError as exc:
            self.notes.append(f"server send of {data!r} failed: {exc}")
            return False
        self._log("server", data)
        return True

    def recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.conn.recv(min(65536, n - len(buf)))
            if not chunk:
                self._log("client", buf)
                raise Closed(bytes(buf))
            buf.extend(chunk)
        self._log("client", buf)
        return bytes(buf)

    def recv_line(self, limit: int = 65536) -> bytes:
        buf = bytearray()
        while True:
            b = self.conn.recv(1)
            if not b:
                self._log("client", buf)
                raise Closed(bytes(buf))
            buf.extend(b)
            if b == b"\n" or len(buf) >= limit:
                self._log("client", buf)
                return bytes(buf)

    def recv_until_eof(self, limit: int | None = None) -> int:
        """Read until EOF (or `limit` bytes); return the count read."""
        total = 0
        while limit is None or total < limit:
            want = 65536 if limit is None else min(65536, limit - total)
            chunk = self.conn.recv(want)
            if not chunk:
                break
            self._log("client", chunk)
            total += len(chunk)
        return total

    # ---- protocol ------------------------------------------------------
    def run(self, status_text: bytes, remove_text: bytes) -> None:
        try:
            line = self.recv_line()
        except Closed:
            self.closed_by = "client"
            self.notes.append("client closed before sending a command")
            return
        code = line[:1]
        if code == b"\x02":
            self.send(b"\x00")
            self.receive_job()
        elif code in (b"\x03", b"\x04"):
            self.send(status_text)
            self.closed_by = "server"
        elif code == b"\x05":
            self.send(remove_text)
            self.closed_by = "server"
        elif code == b"\x01":
            self.send(b"\x00")
            self.closed_by = "server"
        else:
            self.send(b"\x01")
            self.closed_by = "server"
            self.notes.append(f"unknown command byte {code!r}")

    def receive_job(self) -> None:
        while True:
            try:
                first = self.recv_exact(1)
            except Closed:
                self.closed_by = "client"
                return
            if first == b"\x00":
                self.notes.append("lone NUL byte between subcommands")
                continue
            if first == b"\x01":
                try:
                    self.recv_line()
                except Closed:
                    self.closed_by = "client"
                    return
                self.notes.append("abort subcommand")
                self.send(b"\x00")
                continue
            if first not in (b"\x02", b"\x03"):
                self.notes.append(f"unexpected subcommand byte {first!r}; stopped")
                self.send(b"\x01")
                self.closed_by = "server"
                return
            try:
                line = self.recv_line()
            except Closed:
                self.closed_by = "client"
                return
            count_txt = line.split(b" ", 1)[0].strip()
            try:
                count = int(count_txt)
            except ValueError:
                count = -1
            kind = "control" if first == b"\x02" else "data"
            self.send(b"\x00")
            if count <= 0:
                # LPRng: 0 means "until the connection closes".
                n = self.recv_until_eof()
                self.notes.append(
                    f"{kind} file announced with count {count_txt.decode(errors='replace')}; "
                    f"read {n} bytes until EOF; ack sent after EOF")
                self.send(b"\x00")
                self.closed_by = "client"
                return
            try:
                self.recv_exact(count)
            except Closed as exc:
                self.notes.append(
                    f"{kind} file announced with count {count}; client closed after "
                    f"{len(exc.args[0])} bytes (streamed, no trailer, no ack sent)")
                self.closed_by = "client"
                return
            try:
                trailer = self.recv_exact(1)
            except Closed:
                self.notes.append(f"{kind} file: client closed before the trailing byte")
                self.closed_by = "client"
                return
            if trailer == b"\x00":
                self.send(b"\x00")
            else:
                self.notes.append(f"{kind} file: trailer {trailer!r} instead of NUL; no ack")


def parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file", help="write the bound port here once listening")
    ap.add_argument("--client", default="", help="package and version of the client")
    ap.add_argument("--command", default="", help="exact client command line")
    ap.add_argument("--how", default="", help="one paragraph: how it was recorded")
    ap.add_argument("--expect", action="append", default=[], metavar="KEY=JSON|TEXT")
    ap.add_argument("--doc", action="append", default=[], metavar="JSON",
                    help='{"name":..,"format":..,"copies":..,"file":PATH,"repeat":N}')
    ap.add_argument("--status-text", default="no entries\n")
    ap.add_argument("--remove-text", default="")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="give up if no client connects within this many seconds")
    ap.add_argument("--connections", type=int, default=1,
                    help="record up to this many consecutive connections (default 1)")
    ap.add_argument("--next-timeout", type=float, default=10.0,
                    help="wait this long for each further connection")
    args = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.ready_file)
    print(f"recorder {args.name}: listening on {args.host}:{port}", flush=True)

    sessions = []
    for index in range(args.connections):
        lsock.settimeout(args.timeout if index == 0 else args.next_timeout)
        try:
            conn, peer = lsock.accept()
        except socket.timeout:
            if index == 0:
                print(f"recorder {args.name}: no connection within {args.timeout}s",
                      file=sys.stderr)
                return 2
            break
        if index == 0:
            started = time.time()
        conn.settimeout(READ_TIMEOUT)
        sess = Session(conn)
        sess.peer_port = peer[1]
        try:
            sess.run(args.status_text.encode("latin-1"), args.remove_text.encode("latin-1"))
        except socket.timeout:
            sess.notes.append(f"no byte from client for {READ_TIMEOUT}s; recorder closed")
            sess.closed_by = "server(timeout)"
        finally:
            conn.close()
        sessions.append(sess)
    # One more connection within a short grace period (a client retrying) is
    # noted, not recorded.
    notes = []
    lsock.settimeout(1.0)
    try:
        extra, _ = lsock.accept()
        notes.append("client opened one more connection (not recorded)")
        extra.close()
    except socket.timeout:
        pass
    lsock.close()

    expect: dict = {}
    for item in args.expect:
        key, _, val = item.partition("=")
        expect[key] = parse_value(val)
    docs = []
    for d in args.doc:
        spec = json.loads(d)
        path = spec.pop("file")
        repeat = int(spec.pop("repeat", 1))
        with open(path, "rb") as fh:
            data = fh.read() * repeat
        spec["size"] = len(data)
        spec["sha256"] = hashlib.sha256(data).hexdigest()
        docs.append(spec)
    if docs:
        expect["documents"] = docs

    record = {
        "name": args.name,
        "client": args.client,
        "command": args.command,
        "how": args.how,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "connections": [
            {"client_source_port": sess.peer_port, "closed_by": sess.closed_by,
             "recorder_notes": sess.notes}
            for sess in sessions
        ],
        "recorder_notes": notes,
        "exchanges": [
            {"conn": index, "from": side,
             "data_b64": base64.b64encode(bytes(data)).decode("ascii")}
            for index, sess in enumerate(sessions)
            for side, data in sess.exchanges
        ],
        "expect": expect,
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.name}.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=False)
        fh.write("\n")
    os.replace(path + ".tmp", path)
    print(f"recorder {args.name}: wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
