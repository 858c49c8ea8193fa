"""The IPP front-end: the gateway as an IPP Printer (RFC 8011) for each queue.

Why: the codec (`gateway.ipp`) turns bytes into messages; this package answers
them. It writes jobs into the spool and answers status from the spool; it never
talks to a backend (DESIGN.md). A request passes through, in order:

- `serving`: the sockets gateway.app bound, accepted by `connections` (caps
  in total and per address) and served by hypercorn per connection
  (`hypercorn_hooks` holds every use of hypercorn beyond its public API);
- `asgi`: the ASGI app (Host allow-list, status pages, framing the message,
  RFC 8011 Appendix C checks, `auth`, dispatch, errors to answers);
- `handlers`: the one table from operation to handler, which lives in
  `printer`, `job`, `document` or `subscription` (by IPP object);
- `request`: what every handler shares (the request, its target, the answer,
  `OperationError`, attribute readers, permission checks);
- `intake`: document data from the request body into the spool;
- `printer_attributes`, `job_attributes`: rendering the attribute groups;
- `subscription_store`: subscriptions and their event logs; `tls`: the ipps
  certificate.
"""

from __future__ import annotations

from .serving import answer_held, serve

__all__ = ["answer_held", "serve"]
