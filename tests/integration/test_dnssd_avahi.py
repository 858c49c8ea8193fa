"""DNS-SD: avahi-browse (Debian avahi-utils) lists the gateway's queues with their TXT
keys while it runs, and stops listing them after it exits. Announced on loopback only."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from tests.gateway_process import GatewayProcess
from tests.peers import require
from tests.peers.eve import ensure_system_daemons


def browse() -> str:
    result = subprocess.run(
        [str(require("avahi-browse")), "-rtp", "_ipp._tcp"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.replace("\\032", " ")  # avahi-browse -p escapes blanks


def test_avahi_browse_sees_queues_while_running(tmp_path: Path) -> None:
    ensure_system_daemons()
    conf = tmp_path / "gw.toml"
    out = tmp_path / "out"
    conf.write_text(
        f"""
[gateway]
spool_dir = "{tmp_path / "spool"}"
hostname = "gwtest"
[lpd]
listen = ["127.0.0.1:0"]
[ipp]
listen = ["127.0.0.1:0"]
[dnssd]
enabled = true
interfaces = ["127.0.0.1"]
[queues.dnssd-office]
backend = "{out.as_uri()}"
info = "DNS-SD office test"
location = "Room 101"
"""
    )
    with GatewayProcess(["--config", str(conf)]) as gw:
        gw.ready()
        gw.wait_for(r"DNS-SD: advertising DNS-SD office test\._ipp\._tcp")
        ipp_port = gw.ports["IPP"][0]
        seen = ""
        # avahi-browse -t answers with what the daemon has resolved so far; each call
        # waits for the daemon's "all for now", so this is bounded by the daemon.
        for _ in range(30):
            seen = browse()
            if any(
                line.startswith("=") and "DNS-SD office test" in line for line in seen.splitlines()
            ):
                break
        gw.signal(signal.SIGTERM)
        code, log = gw.finish()
    assert code == 0, log
    resolved = [
        line for line in seen.splitlines() if line.startswith("=") and "DNS-SD office test" in line
    ]
    assert resolved, seen
    fields = resolved[0].split(";")
    assert fields[8] == str(ipp_port)
    txt = dict(re.findall(r'"([^"=]+)=([^"]*)"', fields[9]))
    assert txt["rp"] == "printers/dnssd-office"
    assert txt["note"] == "Room 101"
    assert txt["txtvers"] == "1" and txt["qtotal"] == "1"
    assert "application/pdf" in txt["pdl"]
    assert len(txt["UUID"]) == 36
    assert txt["adminurl"].endswith(f":{ipp_port}/printers/dnssd-office")
    after = ""
    for _ in range(30):  # the goodbye packets remove the records from avahi's cache
        after = browse()
        if "DNS-SD office test" not in after:
            break
    assert "DNS-SD office test" not in after, after
