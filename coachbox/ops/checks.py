"""`coachbox check`: every probe of settings, data folder, SQLite, content, channel, AI and fonts, as findings."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from coachbox import store
from coachbox.certificates.fonts import fonts_from_settings
from coachbox.channels import clock_skew
from coachbox.channels.base import ChannelError
from coachbox.channels.costs import budget_state
from coachbox.channels.templates import TEMPLATES, configured
from coachbox.content.parser import parse_folder
from coachbox.content.rates import card_path, load_rate_card
from coachbox.core.clock import clock_from_environment
from coachbox.core.config import ConfigError, Settings, template_category
from coachbox.core.costs import NON_ESSENTIAL_KINDS, RateCardError, format_usd
from coachbox.core.disk import judge
from coachbox.ops.backup import SUFFIXES, backup_recipients
from coachbox.store import queue_file
from coachbox.store.secret_key import file_mode_problem, secret_key_path


@dataclass(frozen=True)
class Finding:
    level: str  # ok | info | warn | error
    what: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Finding]:
    """Everything `coachbox check` reports; errors make it exit 1."""
    findings = [Finding("ok", f"configuration loaded (channel: {settings.channel_kind})")]
    findings += _check_data_dir(settings)
    findings += check_at_rest(settings)
    findings += check_backups(settings)
    findings += check_metrics(settings)
    findings += check_disk(settings)
    findings += _check_sqlite()
    findings += _check_queue(settings)
    findings += _check_content(settings)
    findings += _check_channel(settings)
    findings += _check_ai(settings)
    findings += _check_fonts(settings)
    findings += check_costs(settings)
    return findings


def _check_data_dir(settings: Settings) -> list[Finding]:
    data = settings.data_dir
    target = data if data.exists() else data.parent
    if not os.access(target, os.W_OK):
        return [Finding("error", f"data folder {data} is not writable", f"chown -R $(id -u) {data}")]
    return [Finding("ok", f"data folder {data} is writable")]


def check_at_rest(settings: Settings) -> list[Finding]:
    """data/ closed to other users, and where the signing key lives (never inside data/)."""
    findings = []
    data = settings.data_dir
    try:
        mode = data.stat().st_mode & 0o777
    except OSError:
        mode = None
    if mode is not None and mode & 0o077:
        findings.append(
            Finding(
                "warn",
                f"data folder {data} is open to other users of this machine (mode {mode:o})",
                f"chmod 700 {data} (coachbox also does it at start)",
            )
        )
    if settings.server.secret_key:
        findings.append(Finding("ok", "signing key from [server] secret_key (the environment), not stored in data/"))
        return findings
    path = secret_key_path(settings)
    problem = file_mode_problem(path)
    if not path.exists():
        findings.append(Finding("info", f"signing key file {path} does not exist yet: it is generated at start"))
    elif problem:
        findings.append(Finding("warn", f"signing key file {problem}", f"chmod 600 {path}"))
    else:
        findings.append(Finding("ok", f"signing key in {path} (0600, outside data/: never in a backup)"))
    return findings


def check_backups(settings: Settings) -> list[Finding]:
    """Whether backups are encrypted ([backup] recipients), and plain ones left over in data/backups/."""
    try:
        recipients = backup_recipients(settings)
    except ConfigError as exc:
        return [Finding("error", f"backup encryption is misconfigured: {exc}", "fix the key named above")]
    if not recipients:
        return [
            Finding(
                "warn",
                "backups are NOT encrypted: anyone with a backup file reads every learner's messages, photos and "
                "voice notes",
                "make a key pair on another machine (`coachbox backup-key FILE` or `age-keygen -o FILE`), keep FILE "
                "off this box, and set COACHBOX_BACKUP_RECIPIENTS=age1… (its public key); restore with "
                "`coachbox restore --identity FILE`",
            )
        ]
    findings = [Finding("ok", f"backups are encrypted with age to {len(recipients)} key(s)")]
    folder = settings.data_dir / "backups"
    plain = sorted(p.name for p in folder.glob("coachbox-backup-*") if p.name.endswith(SUFFIXES[0]))
    if plain:
        findings.append(
            Finding(
                "warn",
                f"{len(plain)} unencrypted backup(s) from before are still in {folder} (e.g. {plain[0]})",
                "move them somewhere safe or delete them; the nightly pruning removes them in time",
            )
        )
    return findings


def check_metrics(settings: Settings) -> list[Finding]:
    """/metrics is open to whoever reaches the port unless a token guards it (the Docker image binds 0.0.0.0)."""
    if settings.server.metrics_token:
        return [Finding("ok", "/metrics requires [server] metrics_token")]
    if settings.server.host in {"127.0.0.1", "::1", "localhost"}:
        return [Finding("ok", f"/metrics is open but the server listens on {settings.server.host} only")]
    return [
        Finding(
            "warn",
            f"/metrics is open to anyone who can reach {settings.server.host}:{settings.server.port}",
            "set COACHBOX_SERVER_METRICS_TOKEN (Prometheus: bearer_token) or firewall the port",
        )
    ]


def check_disk(settings: Settings) -> list[Finding]:
    """Free space on the data folder's disk: an error below [server] min_free_disk_mb (/healthz answers 503 and
    backups refuse there), a warning well before it."""
    try:
        verdict = judge(settings)
    except OSError as exc:
        return [Finding("warn", f"cannot read the free space of {settings.data_dir} ({exc.strerror})")]
    fix = {
        "error": "free space now: delete old files in data/backups/ (keep copies elsewhere), empty data/cache/, "
        "or grow the disk; webhooks fail while the disk is full",
        "warn": "free space soon: old backups in data/backups/, data/cache/, logs outside data/; or grow the disk",
    }.get(verdict.level, "")
    return [Finding(verdict.level, verdict.message, fix)]


def _check_queue(settings: Settings) -> list[Finding]:
    path = settings.queue_path
    if not path.exists():
        return [Finding("ok", f"queue database {path} does not exist yet: it is made on start")]
    reason = queue_file.problem(path, read_only=True)
    if reason is not None:
        return [
            Finding(
                "error",
                f"queue database {path} is unusable: {reason}",
                "restart coachbox: on start it moves a broken queue aside (queue.db.corrupt-<time>) and makes a "
                f"new one; or stop it and delete {path.name}, {path.name}-wal, {path.name}-shm. No learner data "
                "is lost: the outbox and schedules are in coachbox.db",
            )
        ]
    return [Finding("ok", f"queue database {path} passes quick_check")]


def _check_sqlite() -> list[Finding]:
    version = sqlite3.sqlite_version
    if store.wal_reset_bug_affected():
        return [
            Finding(
                "info",
                f"SQLite {version} is inside the WAL-reset bug range (3.7.0-3.51.2); mitigated: auto-checkpoints are "
                "off and only TRUNCATE checkpoints (which hold the writer lock) run",
                "nothing to do; a Python linked to SQLite >= 3.51.3 removes the issue",
            )
        ]
    return [Finding("ok", f"SQLite {version} is not affected by the WAL-reset bug")]


def _check_content(settings: Settings) -> list[Finding]:
    if not settings.content_dir.exists():
        return [Finding("warn", f"content folder {settings.content_dir} does not exist", "set [paths] content_dir")]
    result = parse_folder(settings.content_dir)
    findings = [Finding("error", str(problem)) for problem in result.errors]
    findings += [Finding("warn", str(problem)) for problem in result.warnings]
    if not result.errors:
        lessons = sum(len(c.lessons) for c in result.courses)
        findings.insert(
            0,
            Finding(
                "ok",
                f"content: {len(result.courses)} courses, {lessons} lessons, locales {', '.join(sorted(result.locales))}",
            ),
        )
    return findings


def _check_channel(settings: Settings) -> list[Finding]:
    if settings.channel_kind == "simulator":
        return [
            Finding(
                "info",
                "no Twilio or Meta credentials: running on the built-in simulator channel",
                "set COACHBOX_TWILIO_ACCOUNT_SID and COACHBOX_TWILIO_AUTH_TOKEN to use WhatsApp through Twilio, or "
                "the [meta] keys for Meta's Cloud API (docs/meta.md)",
            )
        ]
    if settings.channel_kind == "meta":
        return check_meta(settings)
    finding, provider_time = _fetch_twilio_account(settings)  # one request: the account, and Twilio's clock
    box_time = clock_from_environment(os.environ).now()
    return [finding, *_check_templates(settings), *check_clock(provider_time, box_time)]


def check_meta(settings: Settings) -> list[Finding]:
    """Meta's Cloud API: the token and phone number id (GET /{version}/{phone_number_id}), the webhook's verify
    token, and the WABA's templates against [meta.templates]."""
    # lazy: only a Meta box's check talks to the Graph API
    from coachbox.channels.meta import transport

    meta = settings.meta
    findings: list[Finding] = []
    try:
        number = transport.fetch_phone_number(settings)
    except ChannelError as exc:
        findings.append(_meta_error(settings, exc))
        return findings  # nothing else can be checked with a token or number Meta refuses
    quality = f", quality {number.quality_rating}" if number.quality_rating else ""
    findings.append(
        Finding(
            "ok",
            f"Meta accepts the access token; sending from {number.display_phone_number} "
            f"({number.verified_name or 'no verified name'}{quality}), phone number id {meta.phone_number_id}",
        )
    )
    if not meta.verify_token:
        findings.append(
            Finding(
                "warn",
                "[meta] verify_token is empty: Meta cannot verify the webhook /webhooks/meta",
                "set COACHBOX_META_VERIFY_TOKEN to a long random string and type the same in Meta's webhook setup",
            )
        )
    if not meta.waba_id:
        findings.append(
            Finding(
                "warn",
                "[meta] waba_id is empty: the message templates cannot be checked",
                "set [meta] waba_id (WhatsApp Manager → Account tools → your WhatsApp Business Account id)",
            )
        )
        return findings
    try:
        templates = transport.list_templates(settings)
    except ChannelError as exc:
        findings.append(
            Finding(
                "warn",
                f"cannot list the WABA's message templates: {exc}",
                "check [meta] waba_id and the token's permissions",
            )
        )
        return findings
    return findings + meta_template_findings(templates, meta.templates, settings.org.default_language)


def _meta_error(settings: Settings, exc: ChannelError) -> Finding:
    if exc.code == "network":
        return Finding(
            "error",
            f"cannot reach Meta's Graph API at {settings.meta.api_base_url}: {exc}",
            "check the box's internet connection and [meta] api_base_url",
        )
    if exc.code in ("190", "102") or exc.status == 401:
        return Finding(
            "error",
            f"Meta refused the access token: {exc}",
            "make a system user's permanent token (docs/meta.md, step 4) and set COACHBOX_META_ACCESS_TOKEN",
        )
    if exc.code in ("100", "803", "10", "200"):
        return Finding(
            "error",
            f"Meta does not know phone number id {settings.meta.phone_number_id!r} for this token: {exc}",
            "copy the id from WhatsApp Manager → API setup into [meta] phone_number_id (it is not the phone number)",
        )
    return Finding("error", f"Meta answered {exc.status}: {exc}", "try again later; see metastatus.com")


def meta_template_findings(templates: list, configured_templates: dict, default_language: str) -> list[Finding]:
    """The WABA's templates (name, language, status, category) against what [meta.templates] names: missing,
    rejected, paused or disabled ones and MARKETING ones (several times a utility template's price) warn."""
    listing = ", ".join(f"{t.name} ({t.language}, {t.status}, {t.category})" for t in templates) or "none"
    findings = [Finding("ok" if templates else "info", f"WhatsApp templates in the WABA: {listing}")]
    by_key = {(t.name, t.language): t for t in templates}
    for key, entry in sorted(configured_templates.items()):
        name = entry.get("name") if isinstance(entry, dict) else entry
        language = (entry.get("language") if isinstance(entry, dict) else None) or default_language
        found = by_key.get((name, language))
        where = f"[meta.templates] {key} = {name!r} ({language})"
        if found is None:
            others = sorted(t.language for t in templates if t.name == name)
            hint = f"; it exists in {', '.join(others)}" if others else ""
            findings.append(
                Finding(
                    "warn",
                    f"{where} is not in the WABA{hint}",
                    "create and submit it in WhatsApp Manager (docs/meta.md, 'Templates')",
                )
            )
        elif found.status != "APPROVED":
            findings.append(
                Finding(
                    "warn",
                    f"{where} is {found.status}: WhatsApp will not send it",
                    "fix and resubmit it in WhatsApp Manager → Message templates, or name another approved one",
                )
            )
        elif found.category == "MARKETING":
            findings.append(
                Finding(
                    "warn",
                    f"{where} is categorised MARKETING: each one costs several times a UTILITY template",
                    "reword it as a utility message (about the learner's own course) and resubmit, or appeal the category",
                )
            )
    waits = [t.key for t in TEMPLATES if t.waits and t.key not in configured_templates]
    if waits:
        findings.append(
            Finding(
                "warn",
                f"WhatsApp templates missing: {', '.join(waits)} (outside the 24-hour window these messages wait "
                "until the learner writes)",
                "create them and set [meta.templates] (docs/meta.md, 'Templates')",
            )
        )
    return findings


def check_clock(provider_time: datetime | None, box_time: datetime) -> list[Finding]:
    """The box's clock against Twilio's (its answer's Date header): a warning past 30 s."""
    if provider_time is None:
        return []
    offset = clock_skew.offset_seconds(provider_time, box_time)
    if clock_skew.is_skewed(offset):
        return [
            Finding(
                "warn",
                f"{clock_skew.describe(offset)} (Twilio's Date header): quiet hours, schedules and logs are off "
                "by as much",
                "turn on NTP (timedatectl set-ntp true; in a container, fix the host's clock)",
            )
        ]
    return [Finding("ok", f"the box's clock is within {clock_skew.WARN_SECONDS:.0f} s of Twilio's")]


def _check_templates(settings: Settings) -> list[Finding]:
    """Which [twilio.templates] keys are set: without one, that kind of message waits for the learner outside the
    24-hour window (quick replies fall back to numbered text). docs/twilio.md says how to create each."""
    if not settings.twilio.whatsapp_from:
        return []  # SMS only: no window, no templates
    have, missing = configured(settings.twilio.templates)
    waits = [t.key for t in TEMPLATES if t.key in missing and t.waits]
    findings = [Finding("ok" if not missing else "info", f"WhatsApp templates configured: {', '.join(have) or 'none'}")]
    if waits:
        findings.append(
            Finding(
                "warn",
                f"WhatsApp templates missing: {', '.join(waits)} (outside the 24-hour window "
                "these messages wait until the learner writes)",
                "create them and set [twilio.templates] (docs/twilio.md, section 3)",
            )
        )
    buttons = [k for k in missing if k not in waits]
    if buttons:
        findings.append(
            Finding(
                "info",
                f"no quick-reply templates {', '.join(buttons)}: choices go as numbered text",
                "optional: docs/twilio.md, 'Quick-reply buttons'",
            )
        )
    return findings


def _check_ai(settings: Settings) -> list[Finding]:
    if not settings.ai.api_key:
        return [
            Finding(
                "info",
                "no AI key: the tutor answers with lesson excerpts only",
                "set COACHBOX_AI_API_KEY (and [ai] base_url / model) for full answers",
            )
        ]
    return [Finding("ok", f"AI tutor configured: {settings.ai.model} at {settings.ai.base_url}")]


def _check_fonts(settings: Settings) -> list[Finding]:
    fonts = fonts_from_settings(settings)
    missing = fonts.missing()
    if fonts.regular in missing:
        return [
            Finding(
                "warn",
                f"certificate font {fonts.regular} is missing: names outside Latin-1 cannot be drawn",
                "apt-get install fonts-dejavu-core, or set [org] certificate_font to a Unicode TTF",
            )
        ]
    findings = [Finding("ok", f"certificate font found: {fonts.regular}")]
    findings += [
        Finding(
            "warn",
            f"certificate font {path} is missing (configured in [org])",
            "install it or fix [org] certificate_bold_font / certificate_fallback_fonts",
        )
        for path in missing
    ]
    try:
        # lazy: only `coachbox check` loads the shaping library, to test that Arabic-script names can be drawn
        import uharfbuzz  # noqa: F401 - only checking that Arabic-script names can be shaped
    except ImportError:
        findings.append(
            Finding(
                "warn", "uharfbuzz is not installed: Arabic-script names are drawn unjoined", "pip install uharfbuzz"
            )
        )
    return findings


def check_twilio_credentials(settings: Settings) -> Finding:
    """Fetch the account at Twilio and say what to fix if that fails."""
    return _fetch_twilio_account(settings)[0]


def _fetch_twilio_account(settings: Settings) -> tuple[Finding, datetime | None]:
    """check_twilio_credentials's finding, and Twilio's clock when it answered (None: no answer, no Date header)."""
    # lazy: the twilio client and aiohttp cost ~25 MB, and only a Twilio box's check calls Twilio
    from coachbox.channels.twilio.transport import fetch_account_and_time

    try:
        account, provider_time = fetch_account_and_time(settings)
    except ChannelError as exc:
        if exc.code == "network":
            finding = Finding(
                "error",
                f"cannot reach Twilio at {settings.twilio.api_base_url}: {exc}",
                "check the box's internet connection and [twilio] api_base_url",
            )
        elif exc.permanent:
            finding = Finding(
                "error",
                f"Twilio rejected the credentials ({exc.status}, code {exc.code})",
                "check COACHBOX_TWILIO_ACCOUNT_SID (AC…) and COACHBOX_TWILIO_AUTH_TOKEN in the Twilio Console",
            )
        else:
            finding = Finding("error", f"Twilio answered {exc.status}: {exc}", "try again later; see status.twilio.com")
        return finding, None
    if (account.status or "active") != "active":
        finding = Finding(
            "error",
            f"Twilio account {account.friendly_name!r} is {account.status}",
            "reactivate it in the Twilio Console (Billing)",
        )
    elif not settings.twilio.whatsapp_from:
        finding = Finding(
            "warn",
            f"Twilio account {account.friendly_name!r} is active but no WhatsApp sender is set",
            "set [twilio] whatsapp_from, e.g. whatsapp:+14155238886 for the sandbox",
        )
    else:
        finding = Finding(
            "ok", f"Twilio account {account.friendly_name!r} is active; sending from {settings.twilio.whatsapp_from}"
        )
    return finding, provider_time


def check_costs(settings: Settings, now: datetime | None = None) -> list[Finding]:
    """The cost ledger: the rate card in use (or why it cannot be read), each template's billing category, and the
    month's spending against [costs] monthly_budget_usd (a warning from 80 %)."""
    findings: list[Finding] = []
    try:
        card = load_rate_card(settings)
    except RateCardError as exc:
        return [Finding("error", f"rate card unusable, messages are not costed: {exc}", "fix the file or key named")]
    findings.append(
        Finding(
            "ok",
            f"rate card {card_path(settings)}: effective {card.effective}, {len(card.rates) - 1} markets and the "
            "rest of the world (its source is in the file)",
        )
    )
    section = "meta" if settings.channel_kind == "meta" else "twilio"
    templates = settings.meta.templates if section == "meta" else settings.twilio.templates
    if templates:
        listing = ", ".join(f"{key} {template_category(entry)}" for key, entry in sorted(templates.items()))
        marketing = sorted(key for key, entry in templates.items() if template_category(entry) == "marketing")
        findings.append(Finding("ok", f"[{section}.templates] billing categories: {listing}"))
        if marketing:
            findings.append(
                Finding(
                    "info",
                    f"marketing templates cost several times a utility one: {', '.join(marketing)}",
                    "keep marketing for messages that are not about the learner's own course",
                )
            )
    if settings.costs.monthly_budget_usd <= 0 or not settings.db_path.exists():
        return findings
    now = now if now is not None else clock_from_environment(os.environ).now()
    try:
        conn = sqlite3.connect(f"file:{settings.db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            state = budget_state(conn, settings, now)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [*findings, Finding("warn", f"cannot read this month's costs: {exc}")]
    words = f"{format_usd(state.spent_micros)} of the {format_usd(state.budget_micros)} monthly budget spent"
    held = ", ".join(sorted(NON_ESSENTIAL_KINDS))
    if state.exhausted:
        stop = (
            f"{held} are held until the month turns"
            if settings.costs.stop_proactive_at_budget
            else "nothing is held ([costs] stop_proactive_at_budget is off)"
        )
        findings.append(Finding("warn", f"{words}: {stop}", "raise [costs] monthly_budget_usd or wait for next month"))
    elif state.warning:
        findings.append(Finding("warn", f"{words} ({state.share:.0%}, over 80 %)", "see the Costs page"))
    else:
        findings.append(Finding("ok", f"{words} ({state.share:.0%})"))
    return findings
