"""Where the real protocol peers are: Debian packages installed by
``tests/peers/install.sh``, some of them unpacked under ``PEERS_ROOT`` because they
conflict with LPRng. A missing peer fails the test that needs it, with the fix:
the suite is only complete when every peer really ran."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PEERS_ROOT = Path(os.environ.get("PEERS_ROOT", "/opt/lpd-ipp-gateway-peers"))

#: Unpacked packages and the folders in them that hold programs.
UNPACKED = {
    "cups-client": ("usr/bin", "usr/sbin"),
    "cups": ("usr/lib/cups/backend-available", "usr/lib/cups/daemon", "usr/sbin"),
    "lpr": ("usr/bin", "usr/sbin"),
}


def find(name: str, package: str | None = None) -> Path | None:
    """The path of program ``name``: from the unpacked ``package`` when one is
    named (cups, cups-client, lpr), else from PATH (and /usr/sbin)."""
    if package is not None:
        for sub in UNPACKED[package]:
            candidate = PEERS_ROOT / package / sub / name
            if candidate.is_file():
                return candidate
        return None
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    return Path(found) if found else None


def require(name: str, package: str | None = None) -> Path:
    """Like `find`, but fail the test (never skip it) when the peer is missing."""
    path = find(name, package)
    if path is None:
        pytest.fail(f"peer program {name!r} is missing: run 'sudo bash tests/peers/install.sh'")
    return path
