"""The argparse front of ``lpd-ipp-gateway admin`` and its exit statuses.

Why: the sub-commands (`SUBCOMMANDS`) share one set of connection options
(`--server`, `--user`, credentials, TLS, `--json`), accepted before or after
the sub-command's name; the options' environment variables let a script keep
secrets off the command line (where ``ps`` shows them). Every failure ends
with one line on stderr and its exit status (`gateway.admin.errors`), never a
traceback.
"""

from __future__ import annotations

import argparse
import getpass
import os
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import trio

from gateway.ipp.client import tls_verify

from . import operations, render
from .errors import EXIT_OK, AdminError, Refused, UsageError
from .session import DEFAULT_SERVER, Prompt, Session

PROG = "lpd-ipp-gateway admin"

ENV_SERVER = "LPD_IPP_GATEWAY_SERVER"
ENV_PASSWORD = "LPD_IPP_GATEWAY_PASSWORD"
ENV_TOKEN = "LPD_IPP_GATEWAY_TOKEN"

EPILOG = f"""\
exit status: 0 done, 1 the server refused (its IPP status and message on
stderr), 2 usage error, 3 cannot connect (TLS, HTTP), 4 authentication failed.

Credentials are sent over ipps:// only. The password comes from
--password-file, {ENV_PASSWORD}, or a prompt on a terminal; a bearer token
from --token-file or {ENV_TOKEN}. --server defaults to {ENV_SERVER}, else
{DEFAULT_SERVER}; ipps:// checks the gateway's certificate (--ca-file FILE
for a private CA or the gateway's own, --insecure for none).

examples:
  lpd-ipp-gateway admin queues
  lpd-ipp-gateway admin add floor3 lpd://printer3.example/lp --option reserve=none --start
  lpd-ipp-gateway admin --server ipps://gw.example:631 --user admin jobs --all --json
  lpd-ipp-gateway admin move 42 floor3
"""


def _job_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id")
    return int(text)


def _connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The shared options; below the sub-command their defaults are SUPPRESS, so
    that one given before the sub-command's name is not reset by it."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--server",
        metavar="URI",
        default=default(None),
        help=f"the gateway's System URI (default ${ENV_SERVER} or {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        default=default(None),
        help="requesting-user-name and the user of the password (default: your login name)",
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        type=Path,
        default=default(None),
        help=f"read the password from the first line of FILE (else ${ENV_PASSWORD}, "
        "else a prompt on a terminal)",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        type=Path,
        default=default(None),
        help=f"send the OAuth bearer token in FILE (else ${ENV_TOKEN})",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        type=Path,
        default=default(None),
        help="check the server's certificate against the CAs in FILE (PEM)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=default(False),
        help="do not check the server's certificate (a self-signed gateway)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON document instead of a table",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=default(30.0),
        help="give up on an answer after SECONDS (default 30)",
    )


def add_parser(
    commands: argparse._SubParsersAction[Any],
) -> argparse.ArgumentParser:
    """Add ``admin`` and its sub-commands to the command's sub-parsers."""
    admin: argparse.ArgumentParser = commands.add_parser(
        "admin",
        help="manage a running gateway over IPP (queues, jobs)",
        description="Manage a running gateway with IPP requests to its System Service "
        "and printers: list, add, remove, pause and resume queues; list, cancel, hold, "
        "release and move jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_options(admin, top=True)
    sub = admin.add_subparsers(dest="admin_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        _connection_options(parser, top=False)
        return parser

    command("queues", "list the queues (Get-Printers)")
    add = command("add", "add a queue (Create-Printer); it starts stopped unless --start")
    add.add_argument("name", metavar="NAME")
    add.add_argument("uri", metavar="URI", help="the backend: lpd://, ipp://, ipps:// or file:///")
    add.add_argument(
        "--option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a backend option, repeatable (as backend_options in the config file)",
    )
    add.add_argument("--info", metavar="TEXT", help="printer-info")
    add.add_argument("--location", metavar="TEXT", help="printer-location")
    add.add_argument("--start", action="store_true", help="start it at once (Startup-One-Printer)")
    remove = command("remove", "remove a queue created at run time (Delete-Printer)")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument(
        "--cancel-jobs", action="store_true", help="cancel its unfinished jobs instead of refusing"
    )
    for name, text in (
        ("pause", "stop sending the queue's jobs (Pause-Printer)"),
        ("resume", "send the queue's jobs again (Resume-Printer)"),
        ("enable", "accept new jobs on the queue (Enable-Printer)"),
        ("disable", "refuse new jobs on the queue (Disable-Printer)"),
    ):
        command(name, text).add_argument("name", metavar="NAME")
    jobs = command("jobs", "list jobs, of one queue or of all (Get-Jobs)")
    jobs.add_argument("name", metavar="NAME", nargs="?")
    which = jobs.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="unfinished and ended jobs")
    which.add_argument("--completed", action="store_true", help="ended jobs only")
    for name, text in (
        ("cancel", "cancel a job (Cancel-Job)"),
        ("hold", "hold a job that has not been sent yet (Hold-Job)"),
        ("release", "release a held job (Release-Job)"),
    ):
        command(name, text).add_argument("job_id", metavar="ID", type=_job_id)
    move = command("move", "move a job not yet sent to another queue (CUPS-Move-Job)")
    move.add_argument("job_id", metavar="ID", type=_job_id)
    move.add_argument("name", metavar="NAME")
    return admin


# --------------------------------------------------------------------------
# Running


def _first_line(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the {what} file {path}: {exc}") from None
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line:
        raise UsageError(f"the {what} file {path} is empty")
    return line


def _tty_prompt(text: str) -> str:
    return getpass.getpass(text)


def make_session(
    args: argparse.Namespace,
    env: Mapping[str, str] = os.environ,
    prompt: Prompt | None = None,
) -> Session:
    """The session the options ask for (`UsageError` for unusable ones)."""
    password = (
        _first_line(args.password_file, "password")
        if args.password_file is not None
        else env.get(ENV_PASSWORD) or None
    )
    token = (
        _first_line(args.token_file, "token")
        if args.token_file is not None
        else env.get(ENV_TOKEN) or None
    )
    try:
        verify = tls_verify(args.ca_file, insecure=args.insecure)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot use the CA file {args.ca_file}: {exc}") from None
    return Session(
        args.server or env.get(ENV_SERVER) or DEFAULT_SERVER,
        args.user or getpass.getuser(),
        verify=verify,
        password=password,
        token=token,
        prompt=prompt,
        timeout=args.timeout,
    )


Result = tuple[Any, str]  # (the JSON document, the text)


async def _queues(session: Session, args: argparse.Namespace) -> Result:
    queues = await operations.list_queues(session)
    return {"queues": queues}, render.queues_text(queues)


async def _jobs(session: Session, args: argparse.Namespace) -> Result:
    which = "all" if args.all else "completed" if args.completed else "not-completed"
    jobs = await operations.list_jobs(session, args.name, which=which)
    return {"jobs": jobs}, render.jobs_text(jobs)


async def _add(session: Session, args: argparse.Namespace) -> Result:
    return _action(
        await operations.add_queue(
            session,
            args.name,
            args.uri,
            options=args.option,
            info=args.info,
            location=args.location,
            start=args.start,
        )
    )


async def _remove(session: Session, args: argparse.Namespace) -> Result:
    return _action(await operations.remove_queue(session, args.name, cancel_jobs=args.cancel_jobs))


async def _printer(session: Session, args: argparse.Namespace) -> Result:
    return _action(await operations.printer_operation(session, args.admin_command, args.name))


async def _job(session: Session, args: argparse.Namespace) -> Result:
    return _action(await operations.job_operation(session, args.admin_command, args.job_id))


async def _move(session: Session, args: argparse.Namespace) -> Result:
    return _action(await operations.move_job(session, args.job_id, args.name))


def _action(result: dict[str, Any]) -> Result:
    return {"ok": True, **result}, render.action_text(result)


SUBCOMMANDS: dict[str, Callable[[Session, argparse.Namespace], Awaitable[Result]]] = {
    "queues": _queues,
    "add": _add,
    "remove": _remove,
    "pause": _printer,
    "resume": _printer,
    "enable": _printer,
    "disable": _printer,
    "jobs": _jobs,
    "cancel": _job,
    "hold": _job,
    "release": _job,
    "move": _move,
}


async def run(session: Session, args: argparse.Namespace) -> Result:
    """Run the sub-command `args` names; its result. The session is closed after."""
    try:
        return await SUBCOMMANDS[args.admin_command](session, args)
    finally:
        await session.aclose()


def main(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run ``admin`` as parsed; the exit status (`gateway.admin.errors`)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    prompt = _tty_prompt if sys.stdin is not None and sys.stdin.isatty() else None
    try:
        session = make_session(args, env, prompt)
        document, text = trio.run(run, session, args)
    except AdminError as exc:
        print(f"{PROG}: {exc.message}", file=err)
        if args.json:
            failure: dict[str, Any] = {"ok": False, "error": exc.message, "exit": exc.exit_code}
            if isinstance(exc, Refused):
                failure["status"] = exc.status
                failure["status_message"] = exc.status_message
            out.write(render.json_document(failure))
        return exc.exit_code
    out.write(render.json_document(document) if args.json else text)
    return EXIT_OK
