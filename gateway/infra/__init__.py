"""The proxy role of IPP INFRA (PWG 5100.18): fetch jobs from an Infrastructure Printer.

Why a package of its own: a proxy queue talks IPP to a remote server as a
client (`upstream`) and writes the jobs it fetches into the spool as a
front-end does (`fetcher`); the dispatcher then forwards them to the queue's
backend as any other job. It builds on the IPP codec and client and on the
core, never on the backends or the servers (an import-linter contract).

Only outgoing connections are made: the Infrastructure Printer may be in a
cloud the printer's network can reach but not the other way round.
"""

from .fetcher import Fetcher, FetchSettings, device_uuid_key

__all__ = ["FetchSettings", "Fetcher", "device_uuid_key"]
