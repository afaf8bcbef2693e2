"""Tutor fixtures: the sample content imported, and a local OpenAI-compatible double the real client talks to."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachbox.core.config import Settings
from tests.certificates import seed
from tests.tutor.openai_double import OpenAIDouble


@pytest.fixture
def double():
    with OpenAIDouble() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, double: OpenAIDouble) -> Settings:
    environ = {
        "COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"),
        "COACHBOX_PATHS_CONTENT_DIR": str(seed.content_copy(tmp_path)),
        "COACHBOX_LOG_LEVEL": "WARNING",
        "COACHBOX_AI_BASE_URL": double.base_url,
        "COACHBOX_AI_API_KEY": "test-key",
        "COACHBOX_AI_MODEL": "tiny-tutor",
        "COACHBOX_AI_TIMEOUT_SECONDS": "0.4",
    }
    return Settings.load(seed.REPO / "coachbox.toml", environ)


@pytest.fixture
def courses(conn, settings) -> dict[str, int]:
    return seed.import_content(conn, settings)


@pytest.fixture
def learner(conn, courses) -> int:
    return seed.add_learner(conn, name="Amina Wanjiru", course_id=courses["mobile-money-safety"])


def configure(services, **ai) -> None:
    """Change [ai] keys for one test (before the first model call: the client is built once)."""
    services.settings = services.settings.replace(ai=ai)
    services.tutor_llm = None
