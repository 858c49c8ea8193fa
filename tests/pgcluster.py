"""A private PostgreSQL server for the tests, from Debian's packages.

Why: the PostgreSQL job store (`gateway.core.spool.postgres`) is tested against
a real server, never a mock, and the tests must not touch a system cluster.
`PgCluster.start` runs ``initdb`` (the newest ``/usr/lib/postgresql/*/bin``)
in a temporary folder and starts ``postgres`` on loopback with a free port and
its socket in that folder; `create_database` gives each test a fresh database.

PostgreSQL refuses to run as root (the tests run as root in CI), so when root
the server runs as ``nobody``, which owns the cluster's folder. Authentication
is ``trust`` on loopback only: the cluster lives as long as the test session.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
START_TIMEOUT = 60.0


def pg_bindir() -> Path | None:
    """The bin folder of the newest PostgreSQL installed, or None."""
    found = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        if (candidate / "postgres").exists() and (candidate / "initdb").exists():
            try:
                found.append((int(candidate.parent.name), candidate))
            except ValueError:
                continue
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _as_user(ids: tuple[int, int] | None) -> dict[str, Any]:
    """`subprocess` arguments that run a program as ``ids`` (uid, gid)."""
    if ids is None:
        return {}
    return {"user": ids[0], "group": ids[1], "extra_groups": []}


def _spawn(bindir: Path, root: Path, port: int) -> subprocess.Popen[bytes]:
    """Start ``postgres`` on the cluster in ``root`` (its log: ``root/server.log``)."""
    ids = _as_server_user()
    with open(root / "server.log", "ab") as log:
        if ids is not None:
            os.chown(root / "server.log", *ids)
        options = {
            "listen_addresses": "127.0.0.1",
            "fsync": "on",
            "synchronous_commit": "on",
            "max_connections": "300",
            "shared_buffers": "32MB",
        }
        argv = [str(bindir / "postgres"), "-D", str(root / "data"), "-k", str(root)]
        argv += ["-p", str(port)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            **_as_user(ids),
            env=dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8"),
            cwd=root,
        )


@dataclass
class PgCluster:
    """A running private cluster; `stop` ends it and removes its folder."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @classmethod
    def start(cls, bindir: Path | None = None) -> PgCluster:
        bindir = bindir or pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (tests/peers/install.sh installs it)")
        root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        ids = _as_server_user()
        data = root / "data"
        data.mkdir()
        if ids is not None:
            os.chown(root, *ids)
            os.chown(data, *ids)
        root.chmod(0o755)

        env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **_as_user(ids),
            env=env,
            cwd=root,
            timeout=120,
        )
        port = _free_port()
        process = _spawn(bindir, root, port)
        cluster = cls(root, port, process)
        try:
            cluster._wait_ready()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.server_log()}")
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not start: {self.server_log()}") from None
                time.sleep(0.05)  # polling a server start, not synchronising tests

    def server_log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; its DSN."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast": open sessions are cut
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server (fast shutdown) to simulate an outage; `resume` restarts it."""
        self.process.send_signal(signal.SIGINT)  # fast shutdown: connections are cut
        self.process.wait(timeout=30)

    def resume(self) -> None:
        """Start the server again on the same port and data folder."""
        bindir = pg_bindir()
        assert bindir is not None
        self.process = _spawn(bindir, self.root, self.port)
        self._wait_ready()


def selected_store() -> str:
    """The store the whole suite runs with: ``sqlite`` (default) or ``postgresql``
    (environment variable ``GATEWAY_TEST_STORE``)."""
    return os.environ.get("GATEWAY_TEST_STORE", "sqlite").strip().lower() or "sqlite"


_shared: PgCluster | None = None


def shared_cluster() -> PgCluster:
    """The session's cluster, started on first use (stopped by `stop_shared`)."""
    global _shared
    if _shared is None:
        _shared = PgCluster.start()
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


def create_database() -> str:
    """A fresh database on the session's cluster: its DSN."""
    return shared_cluster().create_database()


#: In PostgreSQL mode: the database of each spool folder opened by a test.
_databases: dict[Path, str] = {}


def database_for(root: Path) -> str:
    """The database the spool at ``root`` uses in PostgreSQL mode (made on first use)."""
    key = root.absolute()
    if key not in _databases:
        _databases[key] = create_database()
    return _databases[key]


def meta(dsn: str, key: str) -> str | None:
    """A key of the key/value state in the database at ``dsn``, read afresh."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as db:
        row = db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return None if row is None else str(row[0])


def rows(dsn: str) -> list[tuple[int, str]]:
    """(id, data) of every job row in the database at ``dsn``, read afresh."""
    import psycopg

    with psycopg.connect(dsn, connect_timeout=10) as db:
        return [(int(i), str(d)) for i, d in db.execute("SELECT id, data FROM jobs ORDER BY id")]


__all__ = [
    "PgCluster",
    "create_database",
    "database_for",
    "meta",
    "pg_bindir",
    "rows",
    "selected_store",
    "shared_cluster",
    "stop_shared",
]
