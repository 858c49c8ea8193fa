"""``lpd-ipp-gateway db upgrade|status``: the shared job store's schema.

Why: gateways refuse to start on a PostgreSQL schema older than their code
(`gateway.core.spool.migrations`), so that two releases never write one
database in two shapes; the operator moves it forward with this command, once,
before starting the new release. An empty database is also created by the
first gateway that starts on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway import config
from gateway.core.spool import StoreError, migrations, postgres

PROG = "lpd-ipp-gateway"


def add_parser(commands: Any) -> None:
    """Add ``db`` to the command line's sub-commands."""
    db = commands.add_parser(
        "db",
        help="create, upgrade or show the PostgreSQL job store's schema",
        description="Create or upgrade the schema of the shared job store ([spool] store), "
        "or show its version. SQLite spools need nothing.",
        epilog="examples:\n"
        "  lpd-ipp-gateway db upgrade --config /etc/lpd-ipp-gateway/gateway.toml\n"
        "  lpd-ipp-gateway db status --store postgresql://gateway@db.example/print\n\n"
        "exit status: 0 done (status: the schema is current), 1 failed or not current, "
        "2 bad configuration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db.add_argument("action", choices=("upgrade", "status"))
    db.add_argument("--config", metavar="FILE", type=Path, help="the gateway's configuration")
    db.add_argument("--store", metavar="URL", help="postgresql://user@host:port/database")


def main(args: argparse.Namespace) -> int:
    try:
        base = (
            config.load(args.config)
            if args.config is not None
            else config.from_mapping({}, source="<command line>")
        )
        cfg = config.apply_overrides(base, store=args.store)
    except config.ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    url = cfg.spool.store
    if not url:
        print(f"{PROG}: db: no job store named ([spool] store or --store)", file=sys.stderr)
        return 2
    shown = postgres.redact(url)
    try:
        password = postgres.read_password(cfg.spool.store_password_file)
        if args.action == "status":
            version = postgres.status(url, password=password)
            print(f"{shown}: schema version {version}, this gateway's {migrations.LATEST}")
            return 0 if version == migrations.LATEST else 1
        before, after = postgres.upgrade(url, password=password)
    except (StoreError, migrations.SchemaTooOld) as exc:
        print(f"{PROG}: db {args.action}: {shown}: {exc}", file=sys.stderr)
        return 1
    if before == after:
        print(f"{shown}: schema version {after}, up to date")
    else:
        print(f"{shown}: schema upgraded from version {before} to {after}")
    return 0


__all__ = ["add_parser", "main"]
