"""[meta] settings: environment overrides, the channel it selects, and refusing a half or double configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachbox.channels import build_channel
from coachbox.channels.meta.transport import MetaChannel
from coachbox.core.config import ConfigError, Settings

REPO = Path(__file__).resolve().parents[2]
META = {
    "COACHBOX_META_PHONE_NUMBER_ID": "106540352242922",
    "COACHBOX_META_ACCESS_TOKEN": "EAAtoken",
    "COACHBOX_META_APP_SECRET": "app-secret",
}


def test_every_contract_key_comes_from_the_environment():
    settings = Settings.load(
        REPO / "coachbox.toml",
        {
            **META,
            "COACHBOX_META_VERIFY_TOKEN": "verify",
            "COACHBOX_META_WABA_ID": "102290129340398",
            "COACHBOX_META_API_BASE_URL": "http://127.0.0.1:1",
            "COACHBOX_META_API_VERSION": "v24.0",
            "COACHBOX_META_MESSAGES_PER_SECOND": "20",
        },
    )
    meta = settings.meta
    assert (meta.phone_number_id, meta.access_token, meta.app_secret, meta.verify_token, meta.waba_id) == (
        "106540352242922",
        "EAAtoken",
        "app-secret",
        "verify",
        "102290129340398",
    )
    assert (meta.api_base_url, meta.api_version) == ("http://127.0.0.1:1", "v24.0")
    assert settings.channel_kind == "meta" and settings.messages_per_second == 20.0
    assert isinstance(build_channel(settings), MetaChannel)


def test_the_defaults_name_the_real_graph_api():
    settings = Settings.load(REPO / "coachbox.toml", {})
    assert settings.meta.api_base_url == "https://graph.facebook.com" and settings.meta.api_version == "v23.0"
    assert settings.meta.messages_per_second == 80.0 and settings.channel_kind == "simulator"


@pytest.mark.parametrize("missing", sorted(META))
def test_a_half_configuration_is_refused_naming_what_is_missing(missing):
    environ = {k: v for k, v in META.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        Settings.load(REPO / "coachbox.toml", environ)
    assert missing in str(caught.value) and "half configured" in str(caught.value)


def test_twilio_and_meta_together_are_refused_with_the_way_out():
    environ = {**META, "COACHBOX_TWILIO_ACCOUNT_SID": "AC1", "COACHBOX_TWILIO_AUTH_TOKEN": "tok"}
    with pytest.raises(ConfigError) as caught:
        Settings.load(REPO / "coachbox.toml", environ)
    assert "COACHBOX_TWILIO_ACCOUNT_SID" in str(caught.value) and "docs/meta.md" in str(caught.value)
