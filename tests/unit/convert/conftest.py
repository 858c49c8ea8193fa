"""Fixtures of the conversion tests (helpers are in `support`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def job_folder(tmp_path: Path) -> Path:
    """A job's spool folder, as the conversion stage hands it to the converter."""
    folder = tmp_path / "spool" / "jobs" / "000001"
    folder.mkdir(parents=True)
    return folder
