"""The cost ledger's pure rules and its rate card: parsing, overrides, errors naming file/line/key, estimates."""

from __future__ import annotations

import pytest

from coachbox.content.rates import SHIPPED, card_path, load_rate_card, read_rate_card
from coachbox.core.config import ConfigError, Settings
from coachbox.core.costs import (
    BudgetState,
    RateCardError,
    actual_from_pricing,
    estimate,
    market_of,
    must_hold,
    outbound_category,
    usd_to_micros,
)
from tests.conftest import REPO

CARD = """source = "test card"
effective = "2026-07-01"

[providers.twilio]
inbound = 0.005
outbound = 0.005
refused = 0.001

[markets.KE]
utility = 0.0040
marketing = 0.0225

[markets."*"]
utility = 0.0077
marketing = 0.0604
"""


def _settings(tmp_path, toml: str = "", **environ) -> Settings:
    path = tmp_path / "coachbox.toml"
    path.write_text(toml, encoding="utf-8")
    env = {"COACHBOX_PATHS_DATA_DIR": str(tmp_path / "data"), "COACHBOX_PATHS_CONTENT_DIR": str(REPO / "content")}
    return Settings.load(path, {**env, **environ})


def test_the_shipped_card_has_the_issues_reference_figures_and_its_source():
    card = read_rate_card(SHIPPED)
    assert card.effective == "2026-07-01" and card.source
    assert card.rates["KE"] == {"utility": 4000, "marketing": 22500, "authentication": 4000}
    assert card.rates["NG"]["utility"] == 6700 and card.rates["NG"]["marketing"] == 51600
    assert card.fees("twilio").inbound_micros == card.fees("twilio").outbound_micros == 5000
    assert card.fees("twilio").refused_micros == 1000 and card.fees("meta").outbound_micros == 0
    assert card.service_billed_as == "utility"  # since 1 Oct 2026 (issue #19)


def test_estimates_follow_the_issues_examples():
    card = read_rate_card(SHIPPED)
    # A service reply inside the window, Kenya on Twilio: utility rate + Twilio's fee.
    assert estimate(card, "twilio", "KE", "out", "service") == 9000
    assert estimate(card, "meta", "KE", "out", "service") == 4000
    assert estimate(card, "twilio", "NG", "out", "marketing") == 56600
    # Receiving costs only the provider's fee.
    assert estimate(card, "twilio", "KE", "in", "free") == 5000
    assert estimate(card, "meta", "NG", "in", "free") == 0
    # An unknown market (a BSUID learner) is billed at the rest-of-world row; the simulator is never billed.
    assert estimate(card, "twilio", None, "out", "utility") == 7700 + 5000
    assert estimate(card, "simulator", "KE", "out", "service") is None
    # A lean Kenyan lesson day on Meta direct (2 sent at the utility rate, 1 received) is $0.24 a 30-day month.
    assert (
        30 * (2 * estimate(card, "meta", "KE", "out", "service") + estimate(card, "meta", "KE", "in", "free"))
        == 240_000
    )


def test_categories_templates_and_the_service_rule():
    assert outbound_category(None, is_template=False) == "service"
    assert outbound_category("marketing", is_template=True) == "marketing"
    assert outbound_category(None, is_template=True) == "utility"  # a plain "HX…" entry declares nothing
    card = read_rate_card(SHIPPED)
    free_service = type(card)(**{**card.__dict__, "service_billed_as": "free"})
    assert estimate(free_service, "meta", "KE", "out", "service") == 0  # the rule before 1 Oct 2026


def test_market_of_a_number_and_of_what_is_not_one():
    assert market_of("whatsapp:+254712345678") == "KE"
    assert market_of("whatsapp:+2348031234567") == "NG"
    assert market_of("whatsapp:US.13491208655302741918") is None  # a BSUID: no number, no country
    assert market_of("sim:alice") is None and market_of(None) is None


def test_twilio_prices_become_micros():
    assert usd_to_micros("-0.00900") == 9000 and usd_to_micros(0.0225) == 22500


def test_meta_pricing_is_costed_through_the_card():
    card = read_rate_card(SHIPPED)
    assert actual_from_pricing(card, "meta", "KE", "utility", True) == 4000
    assert actual_from_pricing(card, "meta", "NG", "marketing", True) == 51600
    assert actual_from_pricing(card, "meta", "KE", "service", False) == 0  # not billable: free
    assert actual_from_pricing(card, "meta", "KE", "free_entry_point", True) == 0
    assert actual_from_pricing(card, "meta", "KE", None, None) is None


def test_the_budget_warns_at_80_percent_and_holds_only_broadcasts_and_reminders_at_100():
    assert BudgetState(790_000, 1_000_000).level == "ok"
    assert BudgetState(800_000, 1_000_000).level == "warning"
    spent = BudgetState(1_000_000, 1_000_000)
    assert spent.level == "exhausted" and BudgetState(5, 0).level == "none"
    assert must_hold("broadcast", spent, True) and must_hold("reminder", spent, True)
    assert not any(must_hold(kind, spent, True) for kind in ("lesson", "quiz", "reply", "tutor", "payment"))
    assert not must_hold("broadcast", spent, False)  # no stop asked for: a warning only
    assert not must_hold("broadcast", BudgetState(999_999, 1_000_000), True)


def test_operators_override_single_figures_in_settings(tmp_path):
    settings = _settings(
        tmp_path,
        '[costs.rates]\nservice_billed_as = "free"\n[costs.rates.markets.KE]\nutility = 0.0042\n'
        "[costs.rates.providers.twilio]\noutbound = 0.0045\n",
    )
    card = load_rate_card(settings)
    assert card.rates["KE"] == {"utility": 4200, "marketing": 22500, "authentication": 4000}
    assert card.fees("twilio").outbound_micros == 4500 and card.fees("twilio").inbound_micros == 5000
    assert card.service_billed_as == "free"


def test_operators_can_point_at_their_own_card(tmp_path):
    (tmp_path / "ours.toml").write_text(CARD, encoding="utf-8")
    settings = _settings(tmp_path, '[costs]\nrate_card = "ours.toml"\n')
    assert card_path(settings) == tmp_path / "ours.toml"
    assert load_rate_card(settings).source == "test card"


@pytest.mark.parametrize(
    "broken,words",
    [
        (CARD.replace("marketing = 0.0225", 'marketing = "cheap"'), r"ours\.toml:11: markets\.KE\.marketing"),
        (CARD.replace("utility = 0.0040", "utlity = 0.0040"), r"ours\.toml:10: markets\.KE\.utlity is not a category"),
        (CARD.replace("refused = 0.001", "refused = -0.001"), r"ours\.toml:7: providers\.twilio\.refused.*negative"),
        (
            CARD.replace('[markets."*"]', "[markets.ROW]"),
            r"ours\.toml:13: markets\.ROW \(\[markets\.ROW\]\) is not a two-letter",
        ),
        (CARD.replace('effective = "2026-07-01"\n', ""), r"ours\.toml: `effective` is missing"),
        (CARD.replace("inbound = 0.005", "inbound = = 0.005"), r"ours\.toml: not valid TOML .*line 5"),
    ],
)
def test_a_broken_card_names_its_file_line_and_key(tmp_path, broken, words):
    (tmp_path / "ours.toml").write_text(broken, encoding="utf-8")
    with pytest.raises(RateCardError, match=words):
        load_rate_card(_settings(tmp_path, '[costs]\nrate_card = "ours.toml"\n'))


def test_a_missing_card_file_says_which_key_points_at_it(tmp_path):
    with pytest.raises(RateCardError, match=r"nope\.toml: cannot read costs\.rate_card"):
        load_rate_card(_settings(tmp_path, '[costs]\nrate_card = "nope.toml"\n'))


def test_a_bad_override_names_the_override(tmp_path):
    settings = _settings(tmp_path, "[costs.rates.markets.KE]\nutility = -1\n")
    with pytest.raises(RateCardError, match=r"\[costs\.rates\] over .*markets\.KE\.utility.*negative"):
        load_rate_card(settings)


def test_templates_declare_their_category_and_learning_ones_must_be_utility(tmp_path):
    settings = _settings(
        tmp_path,
        '[twilio.templates]\nlesson_nudge = "HX1"\nbroadcast = { sid = "HX2", category = "marketing" }\n',
    )
    assert settings.twilio.templates["lesson_nudge"] == "HX1"  # the plain form keeps working (utility)
    with pytest.raises(ConfigError, match=r"twilio\.templates\.reminder is declared marketing.*must be utility"):
        _settings(tmp_path, '[twilio.templates]\nreminder = { sid = "HX3", category = "marketing" }\n')
    with pytest.raises(ConfigError, match=r"meta\.templates\.lesson_nudge is declared marketing"):
        _settings(tmp_path, '[meta.templates]\nlesson_nudge = { name = "x", category = "MARKETING" }\n')
    with pytest.raises(ConfigError, match=r"twilio\.templates\.summary\.category = 'promo'"):
        _settings(tmp_path, '[twilio.templates]\nsummary = { sid = "HX4", category = "promo" }\n')


def test_budget_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"costs\.monthly_budget_usd cannot be negative"):
        _settings(tmp_path, "[costs]\nmonthly_budget_usd = -5\n")
