"""Shared pieces of the conversion tests: where the sample documents are, the
printer attributes of a real IPP Everywhere printer, page counts by the real
tools, and a mark for tests that need one of the gateway's own converter
programs (written alongside; a test that needs a missing one is reported as
skipped, never as passed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from gateway.ipp.attributes import Attribute
from gateway.ipp.parser import decode
from gateway.ipp.tags import DelimiterTag

#: CUPS's sample documents, in the shared/ folder beside this checkout.
IPPTOOL_FILES = Path(__file__).resolve().parents[4] / "shared" / "ipptool-files"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "convert"


def own_tool(name: str) -> pytest.MarkDecorator:
    """Skip unless ``gateway.convert.<name>`` exists."""
    present = importlib.util.find_spec(f"gateway.convert.{name}") is not None
    return pytest.mark.skipif(not present, reason=f"gateway.convert.{name} is not written yet")


def ippeveprinter_attributes() -> dict[str, Attribute]:
    """The printer group of a real color duplex IPP Everywhere printer
    (tests/fixtures/convert/README.md)."""
    message, _ = decode((FIXTURES / "ippeveprinter-color-duplex-attributes.bin").read_bytes())
    group = message.group(DelimiterTag.PRINTER_ATTRIBUTES)
    assert group is not None
    return {attribute.name: attribute for attribute in group}


def pdf_pages(path: Path) -> int:
    """pdfinfo's page count, asked directly (not through the code under test)."""
    out = subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    match = re.search(r"^Pages:\s+(\d+)$", out, re.M)
    assert match is not None, out
    return int(match.group(1))


def files_under(folder: Path) -> Mapping[str, int]:
    """Every file under `folder` (relative name -> size), hidden ones too."""
    found: dict[str, int] = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = path.stat().st_size
    return found
