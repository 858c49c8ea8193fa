"""``lpd-ipp-gateway admin``: the operator command, an IPP client of the gateway.

Why: an operator manages a running gateway from a shell or a script with the
same requests any IPP client sends, so the command needs no access to the
spool and works from another host: the System Service (PWG 5100.22) at
``ipp://HOST:PORT/ipp/system`` for queues (Get-Printers, Create-Printer,
Delete-Printer, Startup-One-Printer), the printer URIs for Pause-, Resume-,
Enable- and Disable-Printer, and job operations for jobs (Get-Jobs,
Cancel-Job, Hold-Job, Release-Job, CUPS-Move-Job).

It is built only on the IPP codec and `gateway.ipp.client`, never on the core
or the servers: `session` sends a request and sorts its failures by exit
status (`errors`), `operations` is one function per sub-command returning
plain data, `render` turns that data into aligned tables or one JSON document,
and `command` is the argparse front.
"""

from __future__ import annotations

from .command import add_parser, main

__all__ = ["add_parser", "main"]
