"""The ``lpd-ipp-gateway`` command (also ``python -m gateway``).

Every failure a person can cause (a bad config, a busy or privileged port, a
spool folder they may not write) ends with one line on stderr and a non-zero
exit, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import hashlib
import logging
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import trio

from gateway import __version__, admin, app, backends, config, dbcommand
from gateway import log as gateway_log
from gateway.ipp.server import auth, tls

PROG = "lpd-ipp-gateway"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

SERVE_EPILOG = """\
With no --config and no --queue the gateway runs its embedded default: one
queue "lp" that writes every job into <spool-dir>/output as files plus a JSON
sidecar. Ports below 1024 need root or CAP_NET_BIND_SERVICE.

examples:
  lpd-ipp-gateway serve --lpd-listen 127.0.0.1:5515 --ipp-listen 127.0.0.1:8631
  lpd-ipp-gateway serve --queue office=ipp://printer.example/ipp/print \\
                        --queue archive=file:///srv/print-archive
  lpd-ipp-gateway serve --config /etc/lpd-ipp-gateway/gateway.toml
"""


def _listen(text: str) -> config.ListenAddress:
    try:
        return config.parse_listen(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _queue(text: str) -> tuple[str, str]:
    try:
        return config.parse_queue_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _level(text: str) -> str:
    if text.lower() not in config.LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(config.LOG_LEVELS)}")
    return text.lower()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A bidirectional LPR/LPD <-> IPP print gateway.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the LPD and IPP listeners and forward jobs to their backends.",
        epilog=SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="TOML configuration file (see conf/gateway.toml)",
    )
    serve.add_argument(
        "--spool-dir",
        metavar="DIR",
        type=Path,
        help="where jobs are spooled (default: /var/spool/lpd-ipp-gateway for "
        "root, else ~/.local/state/lpd-ipp-gateway)",
    )
    serve.add_argument(
        "--store",
        metavar="URL",
        help="a job store shared by several gateways, postgresql://user@host:port/db "
        "(default: SQLite in the spool folder; [spool] store)",
    )
    serve.add_argument(
        "--lpd-listen",
        metavar="HOST:PORT",
        type=_listen,
        action="append",
        default=[],
        help="LPD listener address, repeatable (default *:515); port 0 picks a free port",
    )
    serve.add_argument(
        "--ipp-listen",
        metavar="HOST:PORT",
        type=_listen,
        action="append",
        default=[],
        help="IPP listener address, repeatable (default *:631); port 0 picks a free port",
    )
    serve.add_argument(
        "--queue",
        metavar="NAME=BACKEND_URI",
        type=_queue,
        action="append",
        default=[],
        help="a queue and its backend (file:///dir, ipp://host/path, "
        "ipps://..., lpd://host/queue), repeatable; the first is "
        "the default queue; replaces the config file's queues",
    )
    serve.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=_level,
        help="debug, info, warning or error (default info)",
    )
    serve.add_argument(
        "--log-format",
        choices=config.LOG_FORMATS,
        help="text (default: one readable line per event) or json (one JSON object per "
        "line; job events carry their fields)",
    )

    check = commands.add_parser(
        "check-config",
        help="validate a configuration file and exit",
        epilog="exit status: 0 valid, 2 invalid (one line on stderr: FILE: KEY: REASON)\n\n"
        "example:\n  lpd-ipp-gateway check-config /etc/lpd-ipp-gateway/gateway.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read FILE, report the first problem (file, key and reason) or print a "
        "summary of what the gateway would run. Exit 0 when it is valid.",
    )
    check.add_argument("file", metavar="FILE", type=Path)

    passwd = commands.add_parser(
        "passwd",
        help="add or change a user in an IPP password file",
        epilog="examples:\n  lpd-ipp-gateway passwd /etc/lpd-ipp-gateway/passwd alice\n"
        "  echo 's3cret' | lpd-ipp-gateway passwd /etc/lpd-ipp-gateway/passwd bob\n\n"
        "Then set ipp.password_file to FILE and ipp.auth to jobs or all.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Store USER with a salted scrypt hash of a password in FILE (made with "
        "mode 0600 if missing), for ipp.password_file. The password is asked "
        "twice on a terminal, or read as one line from standard input.",
    )
    passwd.add_argument("file", metavar="FILE", type=Path)
    passwd.add_argument("user", metavar="USER")

    gen_cert = commands.add_parser(
        "gen-cert",
        help="make a self-signed TLS certificate and key for the ipps listener",
        epilog="example:\n  lpd-ipp-gateway gen-cert --out-dir /etc/lpd-ipp-gateway/tls "
        "--hostname print.example.com\n\n"
        "Then set ipp.certificate and ipp.private_key to the two files. Without them the\n"
        "gateway makes and keeps its own self-signed pair in the spool folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write cert.pem and key.pem (EC P-256, SHA-256, 10 years; the host "
        "names given, this machine's name, localhost and the loopback "
        "addresses) into DIR, and print the certificate's SHA-256 fingerprint "
        "(for clients that pin it, like tls_verify = 'pin').",
    )
    gen_cert.add_argument("--out-dir", metavar="DIR", type=Path, required=True)
    gen_cert.add_argument(
        "--hostname",
        metavar="NAME",
        default="",
        help="the name clients use (default: this machine's name)",
    )
    admin.add_parser(commands)
    dbcommand.add_parser(commands)
    return parser


def _load(args: argparse.Namespace) -> config.Config:
    embedded = args.config is None and not args.queue
    base = (
        config.load(args.config)
        if args.config is not None
        else config.from_mapping({}, source="<command line>")
    )
    return config.apply_overrides(
        base,
        spool_dir=args.spool_dir,
        lpd_listen=args.lpd_listen,
        ipp_listen=args.ipp_listen,
        queues=args.queue,
        log_level=args.log_level,
        log_format=args.log_format,
        embedded_default=embedded,
        store=args.store,
    )


def _serve(args: argparse.Namespace) -> int:
    try:
        cfg = _load(args)
    except config.ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    gateway_log.setup(cfg.log_level, cfg.log_format)
    try:
        # A reload (SIGHUP) reads the file again with the same flags.
        trio.run(functools.partial(app.run, cfg, loader=functools.partial(_load, args)))
    except app.StartupError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    try:
        cfg = config.load(args.file)
    except config.ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    context = backends.BackendContext(config.machine_hostname(cfg), cfg.spool_dir)
    for queue in cfg.queues:
        try:
            backends.create(queue, context)  # checks the backend's options; opens nothing
        except backends.BackendUnavailable as exc:
            print(f"{PROG}: {args.file}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    print(f"{args.file}: OK")
    print(f"  spool dir: {cfg.spool_dir}")
    print(f"  LPD listen: {', '.join(map(str, cfg.lpd.listen)) or '(none)'}")
    print(f"  IPP listen: {', '.join(map(str, cfg.ipp.listen)) or '(none)'}")
    if cfg.ipp.tls_listen:
        print(f"  IPPS listen: {', '.join(map(str, cfg.ipp.tls_listen))}")
    for queue in cfg.queues:
        default = " (default)" if queue is cfg.default_queue else ""
        print(f"  queue {queue.name}{default} -> {queue.backend}")
    return EXIT_OK


def _passwd(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != first:
            print(f"{PROG}: the passwords differ; nothing changed", file=sys.stderr)
            return EXIT_FAILURE
        password = first
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print(f"{PROG}: empty password; nothing changed", file=sys.stderr)
        return EXIT_FAILURE
    try:
        auth.set_password(args.file, args.user, password)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"{PROG}: cannot write {args.file}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{args.file}: {args.user} saved")
    return EXIT_OK


def _gen_cert(args: argparse.Namespace) -> int:
    hostname = args.hostname or socket.gethostname()
    cert_pem, key_pem = tls.self_signed(hostname)
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        tls.write_private(args.out_dir / "key.pem", key_pem)
        tls.write_private(args.out_dir / "cert.pem", cert_pem, mode=0o644)
    except OSError as exc:
        print(f"{PROG}: cannot write to {args.out_dir}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
    digest = hashlib.sha256(der).hexdigest().upper()
    print(f"{args.out_dir / 'cert.pem'}: certificate for {hostname}")
    print(f"{args.out_dir / 'key.pem'}: private key (mode 0600)")
    print("sha256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)))
    return EXIT_OK


COMMANDS = {
    "serve": _serve,
    "check-config": _check,
    "passwd": _passwd,
    "gen-cert": _gen_cert,
    "admin": admin.main,
    "db": dbcommand.main,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # the last line of defence: one line, not a traceback
        logging.getLogger("gateway").debug("unexpected error", exc_info=True)
        print(
            f"{PROG}: internal error: {exc!r} (run with --log-level debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
