"""Certificates fixtures: settings on a copy of the sample content, imported, with learners to certify."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coachbox.core.config import Settings
from tests.certificates import seed

needs_poppler = pytest.mark.skipif(
    not shutil.which("pdftotext") or not shutil.which("pdftoppm"),
    reason="poppler-utils (pdftotext, pdftoppm) not installed: make browser-deps",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(seed.content_copy(tmp_path)),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_SERVER_PUBLIC_URL": "https://learn.example.org",
        "COACHBOX_ORG_NAME": "Tumaini Learning Centre",
    }
    return Settings.load(seed.REPO / "coachbox.toml", environ)


@pytest.fixture
def courses(conn, settings) -> dict[str, int]:
    return seed.import_content(conn, settings)
