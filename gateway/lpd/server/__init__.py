"""The LPD front-end: RFC 1179 over trio, writing jobs into the spool.

The codec (`gateway.lpd.protocol`, `gateway.lpd.controlfile`,
`gateway.lpd.status`) frames and renders; the modules here do the I/O around
it and talk to the core, never to a backend:

- `listener`: the listening sockets, connection slots and per-source limits,
  and the daemon command of each connection (`serve`, `serve_stream`);
- `session`: one connection's socket bytes <-> codec events, with deadlines;
- `receive`: ``\\2`` receive a printer job, files into durable spool jobs;
- `query`: ``\\3``/``\\4`` queue state and ``\\5`` remove jobs, from the spool.
"""

from __future__ import annotations

from gateway.lpd.server.listener import serve, serve_stream

__all__ = ["serve", "serve_stream"]
