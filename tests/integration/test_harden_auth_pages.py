"""The status pages and /metrics follow IPP's policy (gateway/core/policy.py).

With ipp.auth = "all", Get-Jobs over ipps hides other users' job names; so do
/, /status.json and /printers/NAME: they need a password (HTTP Basic over
TLS, the IPP password file), a user sees their own jobs' names only, an
operator every job's. /metrics carries no job or user name, and a listener of
its own ([metrics] listen) serves it to a scraper without a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from gateway import config
from gateway.ipp import Operation, ValueTag
from gateway.ipp.server.auth import set_password
from tests.integration.test_harden_auth_identity import PASSWORDS, print_over_ipps
from tests.ipp_harness import post, printer_uri, request, running_gateway, tls_context, url
from tests.lpd_harness import LogWatch

PAGES = ("/", "/status.json", "/printers/lp", "/printers/lp/status.json", "/metrics")


def auth_all(tmp_path: Path, **sections: Any) -> config.Config:
    """ipp.auth = "all" with alice, bob and carol (an operator); queue lp stopped
    (jobs stay pending); IPP and IPPS on loopback."""
    passwd = tmp_path / "passwd"
    for user, password in PASSWORDS.items():
        set_password(passwd, user, password)
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {
                "listen": ["127.0.0.1:0"],
                "tls_listen": ["127.0.0.1:0"],
                "auth": "all",
                "password_file": str(passwd),
                "operators": ["carol"],
            },
            "queues": {"lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False}},
            **sections,
        }
    )


def client(user: str | None = None, password: str | None = None) -> httpx.AsyncClient:
    auth = (user, password or PASSWORDS[user]) if user else None
    return httpx.AsyncClient(verify=tls_context(), auth=auth, timeout=10)


def names(snapshot: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {row["id"]: (row["owner"], row["name"]) for row in snapshot["jobs"]}


async def test_pages_need_a_password_and_show_only_ones_own_job_names(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with running_gateway(auth_all(tmp_path)) as running:
            alice_job = await print_over_ipps(running, "alice")
            bob_job = await print_over_ipps(running, "bob")
            https = "https://{}:{}".format(*running.ipps[0])
            # Nobody, or a wrong password: 401 with a Basic challenge, nothing else.
            # (Three wrong ones only: IPP's password checks, which the pages use,
            # refuse an address that keeps trying.)
            with LogWatch() as logs:
                for who, paths in ((client(), PAGES), (client("alice", "wrong"), PAGES[:3])):
                    async with who as http:
                        for path in paths:
                            answer = await http.get(https + path)
                            assert answer.status_code == 401, path
                            assert answer.headers["www-authenticate"].startswith("Basic realm=")
                            assert b"plans" not in answer.content
                # A wrong password: one line, not one per request.
                wrong = [line for line in logs.lines if "wrong user name or password" in line]
                assert len(wrong) == 1 and "127.0.0.1" in wrong[0] and "'alice'" in wrong[0]
            # Over plain http, never a challenge (a password would go in clear).
            async with httpx.AsyncClient(auth=("alice", PASSWORDS["alice"])) as http:
                for path in PAGES:
                    answer = await http.get(url(running, path))
                    assert answer.status_code == 403, path
                    assert "www-authenticate" not in answer.headers
                    assert "https://" in answer.text
                # The script and stylesheet hold no data.
                assert (await http.get(url(running, "/static/status.js"))).status_code == 200
            # Alice: her job's name and owner, of Bob's only that it exists.
            async with client("alice") as alice:
                data = (await alice.get(https + "/status.json")).json()
                page = (await alice.get(https + "/")).text
                queue_page = (await alice.get(https + "/printers/lp")).text
                metrics = (await alice.get(https + "/metrics")).text
                get_jobs = request(Operation.GET_JOBS, printer_uri(running, tls=True))
                get_jobs.operation.add("requested-attributes", ValueTag.KEYWORD, "all")
                ipp = await post(alice, url(running, "/ipp/print", tls=True), get_jobs)
            assert names(data) == {alice_job: ("alice", "alice plans"), bob_job: ("", "")}
            row = next(r for r in data["jobs"] if r["id"] == bob_job)
            assert row["state"] == "pending" and row["origin"] == "" and row["size"] is None
            assert data["queues"][0]["backend"] == ""  # backends: operators only
            for html in (page, queue_page):
                assert "alice plans" in html and "bob plans" not in html and ">bob<" not in html
            # The same as Get-Jobs over ipps shows her.
            shown = {g.value("job-id"): g.get("job-name") for g in ipp.jobs()}
            assert shown[alice_job].value == "alice plans" and shown[bob_job] is None
            # /metrics: counts, never a job or user name.
            assert "gateway_jobs_received_total" in metrics
            for secret in ("alice", "bob", "plans"):
                assert secret not in metrics
            # Carol, an operator, sees every job and the backends.
            async with client("carol") as carol:
                data = (await carol.get(https + "/printers/lp/status.json")).json()
            assert names(data) == {
                alice_job: ("alice", "alice plans"),
                bob_job: ("bob", "bob plans"),
            }
            assert data["queues"][0]["backend"].startswith("file://")


async def test_metrics_listener_answers_without_a_password(tmp_path: Path) -> None:
    cfg = auth_all(tmp_path, metrics={"listen": ["127.0.0.1:0"]})
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            await print_over_ipps(running, "alice")
            [(host, port)] = running.metrics
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.get(f"http://{host}:{port}/metrics")
                other = [await http.get(f"http://{host}:{port}{p}") for p in PAGES[:4]]
                head = await http.head(f"http://{host}:{port}/metrics")
                post_answer = await http.post(f"http://{host}:{port}/metrics", content=b"x")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'gateway_jobs_received_total{frontend="ipp",queue="lp"} 1.0' in answer.text
    assert "alice" not in answer.text and "plans" not in answer.text
    assert [o.status_code for o in other] == [404] * 4  # no page, no job list here
    assert head.status_code == 200 and head.content == b""
    assert post_answer.status_code == 405
