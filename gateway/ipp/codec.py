"""The codec entry points in one place: `encode`, `decode`, `MessageParser`.

Why: callers that only need "bytes <-> Message" import from here (or from the
package); the work is split by concept into `encoder` and `parser`.
"""

from __future__ import annotations

from .encoder import encode
from .parser import MessageParser, ParserLimits, decode

__all__ = ["MessageParser", "ParserLimits", "decode", "encode"]
