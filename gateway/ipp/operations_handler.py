"""The IPP operations of RFC 8011, RFC 3380/3995/3996/3998 and PWG 5100.x.

Why: one place that imports every handler module, so that `HANDLERS` (operation
-> handler) is complete; the server dispatches on it and
operations-supported is built from it. The handlers themselves live in
`job_creation`, `job_operations`, `printer_operations` and
`subscription_operations`; what they share is in `handler_base`.
"""

from __future__ import annotations

from . import job_creation, job_operations, printer_operations, subscription_operations
from .handler_base import HANDLERS, Handler, respond

__all__ = [
    "HANDLERS",
    "Handler",
    "job_creation",
    "job_operations",
    "printer_operations",
    "respond",
    "subscription_operations",
]
