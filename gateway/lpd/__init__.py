"""RFC 1179 (LPD), sans-I/O: bytes in, events out; events in, bytes out.

`protocol` (the server and client connection machines), `events`, `errors`,
`controlfile` (control files and the LPD naming rules) and `status` (lpq
text) import no trio and no gateway layer. `client` is the trio client the
LPD backend uses; the front-end that serves LPD is `gateway.lpd.server`.
"""
