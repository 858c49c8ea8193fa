"""Proxy and Infrastructure Printer, gateway to gateway (IPP INFRA, PWG 5100.18).

Gateway A holds the jobs of its queue ``infra`` (``infrastructure = true``) and
serves ipps:// with HTTP Basic authentication; gateway B is its proxy: its queue
``office`` fetches from A (``fetch_from``, user ``proxy`` of A's proxy_users,
A's certificate as ``fetch_ca_file``) and prints to a file:// folder. B only
connects out: A is never told B's address and B listens on nothing A uses.
ipptool submits at A, as an ordinary client would.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.ipp.server.auth import set_password
from gateway.ipp.server.tls import self_signed
from tests import peers
from tests.gateway_process import GatewayProcess

DEADLINE = 60.0


def _toml(data: dict[str, Any]) -> str:
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {json.dumps(value)}")
        for key, value in values.items():
            if isinstance(value, dict):
                table(f"{prefix}.{key}" if prefix else key, value)

    table("", data)
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # the test's own check that it wrote TOML
    return text


@contextmanager
def gateways(
    tmp_path: Path, *proxies: str
) -> Iterator[tuple[GatewayProcess, dict[str, GatewayProcess], dict[str, Path]]]:
    """A (the Infrastructure Printer) and one proxy gateway per name in
    ``proxies``; yields A, the proxies and each proxy's output folder."""
    cert, key = self_signed("localhost")
    (tmp_path / "a.crt").write_bytes(cert)
    (tmp_path / "a.key").write_bytes(key)
    passwd = tmp_path / "passwd"
    set_password(passwd, "proxy", "fetch-secret")
    a_config = tmp_path / "a.toml"
    a_config.write_text(
        _toml(
            {
                "gateway": {"spool_dir": str(tmp_path / "spool-a")},
                "lpd": {"listen": ["127.0.0.1:0"]},
                "ipp": {
                    "listen": ["127.0.0.1:0"],
                    "tls_listen": ["127.0.0.1:0"],
                    "certificate": str(tmp_path / "a.crt"),
                    "private_key": str(tmp_path / "a.key"),
                    "auth": "jobs",
                    "password_file": str(passwd),
                },
                "infra": {"proxy_users": ["proxy"]},
                "queues": {"infra": {"infrastructure": True, "auth": "none"}},
            }
        )
    )
    secret = tmp_path / "proxy-password"
    secret.write_text("fetch-secret\n")
    with GatewayProcess(["--config", str(a_config)]) as a:
        a.ready(DEADLINE)
        ipps = a.ports["IPPS"][0]
        outs: dict[str, Path] = {}
        running: list[GatewayProcess] = []
        named: dict[str, GatewayProcess] = {}
        try:
            for name in proxies:
                out = tmp_path / f"out-{name}"
                out.mkdir()
                outs[name] = out
                config = tmp_path / f"{name}.toml"
                config.write_text(
                    _toml(
                        {
                            "gateway": {"spool_dir": str(tmp_path / f"spool-{name}")},
                            "lpd": {"listen": ["127.0.0.1:0"]},
                            "ipp": {"listen": ["127.0.0.1:0"]},
                            "queues": {
                                "office": {
                                    "backend": out.as_uri(),
                                    "fetch_from": f"ipps://127.0.0.1:{ipps}/printers/infra",
                                    "fetch_user": "proxy",
                                    "fetch_password_file": str(secret),
                                    "fetch_ca_file": str(tmp_path / "a.crt"),
                                }
                            },
                        }
                    )
                )
                proxy = GatewayProcess(["--config", str(config)])
                running.append(proxy)
                named[name] = proxy
                proxy.ready(DEADLINE)
                proxy.wait_for(
                    r"queue office: proxy of ipps://127\.0\.0\.1:\d+/printers/infra", DEADLINE
                )
            try:
                yield a, named, outs
            except BaseException:
                for proxy in running:  # shown by pytest with the failure
                    proxy.signal(signal.SIGTERM)
                    print(f"--- proxy log ---\n{proxy.finish()[1]}")
                raise
        finally:
            for proxy in running:
                proxy.__exit__()
            if any(p.proc.returncode not in (None, 0, -signal.SIGKILL) for p in running):
                raise AssertionError(
                    "a proxy gateway failed:\n" + "\n".join(p.log for p in running)
                )


def ipptool_print(a: GatewayProcess, path: Path, user: str, name: str) -> int:
    """Print-Job at A's plain IPP listener (the queue takes jobs without a password)."""
    ipptool = peers.require("ipptool")
    test = path.parent / f"print-{name}.test"
    test.write_text(
        "{ OPERATION Print-Job GROUP operation-attributes-tag "
        "ATTR charset attributes-charset utf-8 "
        "ATTR naturalLanguage attributes-natural-language en "
        "ATTR uri printer-uri $uri "
        f'ATTR name requesting-user-name "{user}" ATTR name job-name "{name}" '
        "ATTR mimeMediaType document-format application/octet-stream "
        "FILE $filename STATUS successful-ok }\n"
    )
    uri = f"ipp://127.0.0.1:{a.ports['IPP'][0]}/printers/infra"
    result = subprocess.run(
        [str(ipptool), "-tv", "-f", str(path), uri, str(test)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"job-id \(integer\) = (\d+)", result.stdout)
    assert found, result.stdout
    return int(found.group(1))


def a_jobs(a: GatewayProcess, which: str) -> dict[int, str]:
    """job-id -> job-state keyword, from Get-Jobs at A (ipptool)."""
    ipptool = peers.require("ipptool")
    uri = f"ipp://127.0.0.1:{a.ports['IPP'][0]}/printers/infra"
    result = subprocess.run(
        [str(ipptool), "-tv", "-d", f"which={which}", uri, "/dev/stdin"],
        input=(
            "{ OPERATION Get-Jobs GROUP operation-attributes-tag "
            "ATTR charset attributes-charset utf-8 "
            "ATTR naturalLanguage attributes-natural-language en "
            "ATTR uri printer-uri $uri ATTR keyword which-jobs $which "
            "ATTR keyword requested-attributes job-id,job-state STATUS successful-ok }\n"
        ),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [int(x) for x in re.findall(r"job-id \(integer\) = (\d+)", result.stdout)]
    states = re.findall(r"job-state \(enum\) = ([a-z-]+)", result.stdout)
    return dict(zip(ids, states, strict=True))


def sidecar(out: Path, job_id: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"job-{job_id}.json").read_text())
    return data


def test_ipptool_job_at_a_is_printed_behind_b_and_completes_at_a(tmp_path: Path) -> None:
    with gateways(tmp_path, "b") as (a, proxies, outs):
        b_out = outs["b"]
        payloads = {}
        for n, size in enumerate((1, 70_000, 3_000_000), start=1):
            data = bytes((i * 7 + n) % 251 for i in range(size))
            path = tmp_path / f"doc-{n}.bin"
            path.write_bytes(data)
            remote = ipptool_print(a, path, f"user{n}", f"name-{n}")
            payloads[remote] = (data, f"user{n}", f"name-{n}")
        # B reports in job order: once the last is reported, all are. (One wait
        # only: GatewayProcess.wait_for drops the lines after a match in its chunk.)
        last = max(payloads)
        proxies["b"].wait_for(rf"reported: queue=office completed to \S+ job {last}$", DEADLINE)
        finished = a_jobs(a, "completed")
        assert all(finished.get(remote) == "completed" for remote in payloads), finished
        by_name = {}
        for side in b_out.glob("job-*.json"):
            data = json.loads(side.read_text())
            by_name[data["job-name"]] = data
        for data, user, name in payloads.values():
            job = by_name[name]
            assert job["job-originating-user-name"] == user
            [doc] = job["documents"]
            assert (b_out / doc["file"]).read_bytes() == data
