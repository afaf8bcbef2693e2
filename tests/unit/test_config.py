"""Configuration: TOML + environment, typed, with errors that name the file, line or key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coachbox.core.config import ConfigError, Settings, documented_keys

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "coachbox.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_it_loads_the_committed_file_with_defaults():
    settings = Settings.load(REPO / "coachbox.toml", {})
    assert settings.server.port == 8000
    assert settings.channel_kind == "simulator"
    assert settings.data_dir == (REPO / "data").resolve()


def test_it_applies_environment_overrides_with_types():
    settings = Settings.load(
        REPO / "coachbox.toml",
        {
            "COACHBOX_SERVER_PORT": "9001",
            "COACHBOX_TWILIO_MESSAGES_PER_SECOND": "2.5",
            "COACHBOX_SERVER_VERIFY_SIGNATURES": "no",
            "COACHBOX_TWILIO_ACCOUNT_SID": "AC123",
            "COACHBOX_TWILIO_AUTH_TOKEN": "secret",
        },
    )
    assert settings.server.port == 9001
    assert settings.twilio.messages_per_second == 2.5
    assert settings.server.verify_signatures is False
    assert settings.channel_kind == "twilio"


def test_it_reads_trusted_proxies_as_a_string_or_a_list(tmp_path):
    listed = Settings.load(_write(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'), {})
    assert listed.server.trusted_proxies == "127.0.0.1, 10.0.0.0/8"
    from_env = Settings.load(REPO / "coachbox.toml", {"COACHBOX_SERVER_TRUSTED_PROXIES": "::1, 192.168.1.5"})
    assert from_env.server.trusted_proxies == "::1, 192.168.1.5"
    assert Settings.load(REPO / "coachbox.toml", {}).server.trusted_proxies == ""


def test_it_names_a_trusted_proxy_that_is_not_an_address(tmp_path):
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: 'proxy\.local' is not an IP address"):
        Settings.load(_write(tmp_path, '[server]\ntrusted_proxies = "127.0.0.1, proxy.local"\n'), {})
    with pytest.raises(ConfigError, match="a string or a list of strings"):
        Settings.load(_write(tmp_path, "[server]\ntrusted_proxies = [1]\n"), {})


def test_it_refuses_the_old_trust_proxy_key_and_says_what_to_write(tmp_path):
    with pytest.raises(ConfigError, match=r'server\.trust_proxy was removed.*trusted_proxies = "<proxy address>"'):
        Settings.load(_write(tmp_path, "[server]\ntrust_proxy = true\n"), {})
    with pytest.raises(ConfigError, match=r"COACHBOX_SERVER_TRUST_PROXY: server\.trust_proxy was removed"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_SERVER_TRUST_PROXY": "yes"})


def test_it_reads_secrets_from_file_variants(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    settings = Settings.load(REPO / "coachbox.toml", {"COACHBOX_AI_API_KEY_FILE": str(secret)})
    assert settings.ai.api_key == "from-a-file"


def test_it_names_the_line_of_broken_toml(tmp_path):
    path = _write(tmp_path, '[server]\nport = 8000\nhost = "unterminated\n')
    with pytest.raises(ConfigError, match=r"coachbox\.toml: invalid TOML: .*line 3"):
        Settings.load(path, {})


def test_it_rejects_unknown_keys_and_sections(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key server\.prot"):
        Settings.load(_write(tmp_path, "[server]\nprot = 1\n"), {})
    with pytest.raises(ConfigError, match=r"unknown section \[sevrer\]"):
        Settings.load(_write(tmp_path, "[sevrer]\nport = 1\n"), {})


def test_it_rejects_wrong_types_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"server\.port: expected int"):
        Settings.load(_write(tmp_path, '[server]\nport = "eighty"\n'), {})
    with pytest.raises(ConfigError, match=r"COACHBOX_SERVER_PORT: expected int"):
        Settings.load(_write(tmp_path, ""), {"COACHBOX_SERVER_PORT": "eighty"})
    with pytest.raises(ConfigError, match=r"org\.default_timezone"):
        Settings.load(_write(tmp_path, '[org]\ndefault_timezone = "Mars/Olympus"\n'), {})


def test_it_refuses_half_configured_twilio(tmp_path):
    with pytest.raises(ConfigError, match="COACHBOX_TWILIO_AUTH_TOKEN"):
        Settings.load(_write(tmp_path, ""), {"COACHBOX_TWILIO_ACCOUNT_SID": "AC1"})


def test_it_says_when_an_explicit_config_file_is_missing(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        Settings.load(tmp_path / "nope.toml", {})


def test_it_documents_every_key_in_the_committed_file_and_the_docs():
    """A setting nobody can find is a setting nobody can use (datasette's rule)."""
    committed = (REPO / "coachbox.toml").read_text(encoding="utf-8")
    docs = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    for section, key, _default, help_text, secret in documented_keys():
        assert help_text, f"{section}.{key} has no help text"
        assert f"`{section}.{key}`" in docs, f"{section}.{key} missing from docs/configuration.md"
        if not secret and key != "templates":
            assert re.search(rf"^#?\s*{key}\s*=", committed, re.M), f"{section}.{key} missing from coachbox.toml"


def test_it_keeps_secrets_out_of_the_committed_file():
    committed = (REPO / "coachbox.toml").read_text(encoding="utf-8")
    for section, key, _default, _help, secret in documented_keys():
        if secret:
            assert not re.search(rf"^{key}\s*=", committed, re.M), f"{section}.{key} is a secret"


def test_it_keeps_the_loopback_public_url_on_the_chosen_port():
    settings = Settings.load(REPO / "coachbox.toml", {"COACHBOX_SERVER_PORT": "9005"})
    assert settings.server.public_url == "http://127.0.0.1:9005"
    assert settings.with_address(port=9100).server.public_url == "http://127.0.0.1:9100"
    public = Settings.load(
        REPO / "coachbox.toml",
        {"COACHBOX_SERVER_PUBLIC_URL": "https://coach.example.org", "COACHBOX_SERVER_PORT": "9005"},
    )
    assert public.server.public_url == "https://coach.example.org"


def test_it_refuses_a_reminder_hour_inside_quiet_hours(tmp_path):
    with pytest.raises(ConfigError, match=r"schedule\.reminder_hour 22:00 falls inside quiet hours"):
        Settings.load(_write(tmp_path, "[schedule]\nreminder_hour = 22\n"), {})
    with pytest.raises(ConfigError, match=r"reminder_hour 6:00"):
        Settings.load(_write(tmp_path, "[schedule]\nreminder_hour = 6\n"), {})
    ok = Settings.load(_write(tmp_path, '[schedule]\nreminder_hour = 22\nquiet_hours_start = "23:00"\n'), {})
    assert ok.schedule.reminder_hour == 22


def test_it_reads_template_tables_from_the_environment_as_json():
    settings = Settings.load(REPO / "coachbox.toml", {"COACHBOX_TWILIO_TEMPLATES": '{"lesson_nudge": "HX123"}'})
    assert settings.twilio.templates == {"lesson_nudge": "HX123"}
    with pytest.raises(ConfigError, match=r"COACHBOX_TWILIO_TEMPLATES: expected dict \(a JSON object of strings"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_TWILIO_TEMPLATES": "HX123"})
    with pytest.raises(ConfigError, match=r"COACHBOX_TWILIO_TEMPLATES"):
        Settings.load(REPO / "coachbox.toml", {"COACHBOX_TWILIO_TEMPLATES": '{"lesson_nudge": 5}'})


def test_it_refuses_a_negative_message_retention_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"schedule\.message_retention_days must be 0 \(keep every message\)"):
        Settings.load(_write(tmp_path, "[schedule]\nmessage_retention_days = -1\n"), {})
    with pytest.raises(ConfigError, match=r"COACHBOX_SCHEDULE_MESSAGE_RETENTION_DAYS: expected int"):
        Settings.load(_write(tmp_path, ""), {"COACHBOX_SCHEDULE_MESSAGE_RETENTION_DAYS": "30 days"})
    assert Settings.load(REPO / "coachbox.toml", {}).schedule.message_retention_days == 0  # keeps everything
    kept = Settings.load(_write(tmp_path, ""), {"COACHBOX_SCHEDULE_MESSAGE_RETENTION_DAYS": "90"})
    assert kept.schedule.message_retention_days == 90


def test_it_keeps_the_review_retention_between_70_and_97_percent(tmp_path):
    assert Settings.load(_write(tmp_path, ""), {}).learning.desired_retention == 0.9
    for wrong in ("0.5", "0.99", "1"):
        with pytest.raises(ConfigError, match=r"coachbox\.toml: learning\.desired_retention must be between 0\.7 and"):
            Settings.load(_write(tmp_path, f"[learning]\ndesired_retention = {wrong}\n"), {})
    with pytest.raises(ConfigError, match=r"learning\.desired_retention must be between .* got 0\.6"):
        Settings.load(_write(tmp_path, ""), {"COACHBOX_LEARNING_DESIRED_RETENTION": "0.6"})
    ok = Settings.load(_write(tmp_path, "[learning]\ndesired_retention = 0.85\n"), {})
    assert ok.learning.desired_retention == 0.85
