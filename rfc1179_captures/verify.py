#!/usr/bin/env python3
"""Check every capture against its own "expect" block (stdlib only).

    python3 rfc1179_captures/verify.py [capture.json ...]   # default: all
    python3 rfc1179_captures/verify.py --show NAME.json     # print the session

This is a small, independent RFC 1179 reader (it shares no code with the
gateway). It re-parses the client bytes of each recorded connection, pulls
out the command, the control and data files, and compares what it finds with
"expect", which record-all.sh wrote from the command line that was run and the
sample files that were sent. Exit status 1 if anything differs.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def streams(rec):
    """{conn: (client_bytes, server_bytes)}"""
    out = {}
    for ex in rec["exchanges"]:
        c, s = out.setdefault(ex.get("conn", 0), (bytearray(), bytearray()))
        (c if ex["from"] == "client" else s).extend(base64.b64decode(ex["data_b64"]))
    return out


def parse_connection(data: bytes):
    """Return a dict describing one connection's client bytes."""
    nl = data.index(b"\n")
    code, rest = data[0], data[1:nl].decode("latin-1")
    conn = {"code": code, "operands": rest.split(), "files": []}
    if code != 2:
        return conn
    pos = nl + 1
    while pos < len(data):
        sub = data[pos]
        if sub == 0:  # stray NUL
            pos += 1
            continue
        nl = data.index(b"\n", pos)
        count_txt, _, name = data[pos + 1:nl].decode("latin-1").partition(" ")
        count = int(count_txt)
        pos = nl + 1
        if count <= 0:
            body, pos, trailer = data[pos:], len(data), None
        else:
            body = data[pos:pos + count]
            pos += len(body)
            trailer = data[pos:pos + 1] or None
            if trailer is not None:
                pos += 1
        conn["files"].append({"kind": "control" if sub == 2 else "data", "name": name,
                              "count": count, "body": bytes(body), "trailer": trailer})
    return conn


def parse_control(text: str):
    lines = [ln for ln in text.split("\n") if ln]
    fields, fmt_lines, names = {}, [], {}
    pending_n, last_df = None, None
    for ln in lines:
        letter, value = ln[0], ln[1:]
        if letter.islower():
            fmt_lines.append((letter, value))
            if value not in names and pending_n is not None:
                names[value] = pending_n
                pending_n = None
            last_df = value
        elif letter == "N":
            if last_df is not None and last_df not in names:
                names[last_df] = value
            else:
                pending_n = value
        else:
            fields.setdefault(letter, value)
    return fields, fmt_lines, names


def check(path: str) -> list[str]:
    rec = json.load(open(path))
    exp = dict(rec["expect"])
    errs: list[str] = []
    got: dict = {}
    conns = [parse_connection(bytes(c)) for c, _ in streams(rec).values()]
    first = conns[0]
    kind = {2: "print", 3: "queue-short", 4: "queue-long", 5: "remove", 1: "print-waiting"}
    got["kind"] = kind.get(first["code"], f"code {first['code']}")
    got["queue"] = first["operands"][0]
    if first["code"] in (3, 4):
        got["list"] = first["operands"][1:]
    elif first["code"] == 5:
        got["agent"] = first["operands"][1]
        got["list"] = first["operands"][2:]
    else:
        jobs, docs = [], []
        for conn in conns:
            files = conn["files"]
            cfs = [f for f in files if f["kind"] == "control"]
            dfs = {f["name"]: f for f in files if f["kind"] == "data"}
            got["order"] = "control-first" if files[0]["kind"] == "control" else "data-first"
            for cf in cfs:
                fields, fmt_lines, names = parse_control(cf["body"].decode("latin-1"))
                jobs.append(fields.get("J"))
                got.update({
                    "user": fields.get("P"), "host": fields.get("H"),
                    "job_name": fields.get("J"), "banner": "L" in fields,
                    "cf_letter": cf["name"][2],
                })
                for key, letter in (("class", "C"), ("mail", "M"), ("title", "T"),
                                    ("width", "W"), ("indent", "I"),
                                    ("options", "Z"), ("accounting", "R")):
                    if letter in fields:
                        v = fields[letter]
                        got[key] = int(v) if key in ("width", "indent") else v
                order = []
                for letter, df in fmt_lines:
                    if df not in order:
                        order.append(df)
                seq = [df for _, df in fmt_lines]
                got["collated"] = len(order) > 1 and seq[:len(order)] == order
                for df in order:
                    body = dfs[df]["body"]
                    docs.append({"name": names.get(df),
                                 "format": next(l for l, d in fmt_lines if d == df),
                                 "copies": seq.count(df), "size": len(body),
                                 "sha256": hashlib.sha256(body).hexdigest()})
                    if dfs[df]["count"] == 0:
                        got["data_size_zero"] = True
                    if dfs[df]["trailer"] is None:
                        got["stream"] = True
        got["documents"] = docs
        got["copies"] = max(d["copies"] for d in docs) if docs else 0
        got["jobs"] = len(jobs)
        got["job_names"] = jobs
    got["source_port_reserved"] = rec["connections"][0]["client_source_port"] < 1024
    if "requested_copies" in exp:  # what the client was asked for, not on the wire
        exp.pop("requested_copies")
    for key, want in exp.items():
        if want is None:  # null: the line must be absent
            if got.get(key) is not None:
                errs.append(f"{key}: expected absent, got {got[key]!r}")
        elif key not in got:
            errs.append(f"{key}: expected {want!r}, not found")
        elif got[key] != want:
            errs.append(f"{key}: expected {want!r}, got {got[key]!r}")
    return errs


def show(path: str) -> None:
    rec = json.load(open(path))
    print(f"# {rec['name']}  ({rec['client']})\n$ {rec['command']}")
    for ex in rec["exchanges"]:
        data = base64.b64decode(ex["data_b64"])
        text = repr(data if len(data) <= 600 else data[:600] + b"...")
        print(f"[{ex.get('conn', 0)}] {ex['from']:6} {len(data):5}  {text}")


def main(argv):
    if argv[:1] == ["--show"]:
        for p in argv[1:]:
            show(p)
        return 0
    paths = argv or sorted(glob.glob(os.path.join(HERE, "*.json")))
    bad = 0
    for p in paths:
        try:
            errs = check(p)
        except Exception as exc:  # a capture that cannot be parsed is a failure
            errs = [f"cannot parse: {exc!r}"]
        print(f"{'ok  ' if not errs else 'FAIL'} {os.path.basename(p)}")
        for e in errs:
            print(f"       {e}")
        bad += bool(errs)
    print(f"{len(paths) - bad}/{len(paths)} captures match their expect block")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
