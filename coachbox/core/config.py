"""coachbox.toml + COACHBOX_* environment → one frozen, typed Settings object."""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coachbox.core.addresses import parse_networks
from coachbox.core.errors import UserError
from coachbox.core.hours import parse as parse_office_hours
from coachbox.core.plans import load_plans
from coachbox.core.weekdays import parse_lesson_days

ENV_PREFIX = "COACHBOX_"
# Keys that were removed because their old meaning was unsafe: loading refuses them, saying what to write instead.
_REMOVED_KEYS = {
    ("server", "trust_proxy"): (
        "server.trust_proxy was removed: it trusted the left-most X-Forwarded-For address, which the client "
        'chooses. Name your reverse proxy instead: trusted_proxies = "<proxy address>" in [server] '
        '(for example "127.0.0.1"), or delete the line when there is no proxy.'
    ),
}
DEFAULT_CONFIG_NAME = "coachbox.toml"


class ConfigError(UserError):
    """A problem with configuration, phrased for the person who has to fix it."""


def _key(default: Any, help: str, *, secret: bool = False, comma_list: bool = False) -> Any:
    """Declare one setting: its default, its help text and whether it is a secret. comma_list: a comma-separated
    string that the TOML file may also give as a list of strings."""
    metadata = {"help": help, "secret": secret, "comma_list": comma_list}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ServerSettings:
    host: str = _key("127.0.0.1", "Address the web server listens on (0.0.0.0 inside Docker).")
    port: int = _key(8000, "TCP port of the web server.")
    public_url: str = _key(
        "http://127.0.0.1:8000",
        "The URL Twilio and learners reach this box at; Twilio signatures are checked against it.",
    )
    trusted_proxies: str = _key(
        "",
        'Comma-separated addresses or networks (CIDR) of your own reverse proxies, e.g. "127.0.0.1". A request '
        "from one of them is from the right-most X-Forwarded-For address not in this list. Empty = trust no proxy.",
        comma_list=True,
    )
    verify_signatures: bool = _key(
        True, "Check X-Twilio-Signature. Switch off only for a local tunnel; a loud warning is logged."
    )
    secret_key: str = _key(
        "", "Signs /media links and sign-in forms. Empty = generated into [paths] secrets_dir/secret_key.", secret=True
    )
    metrics_token: str = _key(
        "",
        "Bearer token GET /metrics requires (Authorization: Bearer <token>); wrong or missing = 401. Empty = /metrics "
        "is open to anyone who can reach the port (the Docker image listens on 0.0.0.0).",
        secret=True,
    )
    max_body_bytes: int = _key(1_048_576, "Largest request body accepted (bytes); uploads have their own limit.")
    workers: int = _key(1, "Web worker processes.")
    turn_budget_ms: int = _key(
        25,
        "Longest a webhook waits behind other learners' turns: beyond it, the message is stored and acknowledged at "
        "once and its reply follows moments later, in arrival order (see docs/performance.md, bounded latency).",
    )
    worker_silence_seconds: int = _key(
        180,
        "/healthz answers 503 when the Huey worker has written no heartbeat for this long (it beats every minute).",
    )
    min_free_disk_mb: int = _key(
        256,
        "Free space (MB) the data folder's disk must keep: below it /healthz answers 503 and backups refuse to start.",
    )
    warn_free_disk_mb: int = _key(
        1024, "`coachbox check` and the operations page warn when the data folder's disk has less free (MB)."
    )
    warn_free_disk_percent: int = _key(10, "… or less than this share of the disk (%) free, whichever comes first.")


@dataclass(frozen=True)
class PathSettings:
    data_dir: str = _key("data", "Everything that must survive: databases, media, certificates, backups, logs.")
    content_dir: str = _key("content", "Course and locale files imported by `coachbox init` / `coachbox import`.")
    secrets_dir: str = _key(
        "",
        "Folder (0700) of the generated signing key, secret_key (0600), when [server] secret_key is empty; never "
        "inside data_dir, so never in a backup. Empty = secrets/ in the folder that holds data_dir.",
    )


@dataclass(frozen=True)
class OrgSettings:
    name: str = _key("Coachbox Academy", "Your school or NGO, as learners see it.")
    default_language: str = _key("en", "Language for new learners until they choose (a locale file name).")
    default_timezone: str = _key("Africa/Nairobi", "Time zone used when a phone number's country gives none.")
    lesson_time: str = _key("07:00", "Default daily lesson time (HH:MM, the learner's local time).")
    logo_path: str = _key("", "Optional PNG/JPEG logo for certificates (path relative to the repo or absolute).")
    certificate_font: str = _key(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "Unicode TTF for certificates (learners' names in any script it covers; Debian: fonts-dejavu-core).",
    )
    certificate_bold_font: str = _key(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "Bold TTF for names and titles; empty = the regular font.",
    )
    certificate_fallback_fonts: str = _key(
        "", "Comma-separated extra TTFs for scripts the main font lacks (e.g. a Noto Sans Ethiopic path)."
    )


@dataclass(frozen=True)
class LearningSettings:
    quiz_followup_minutes: int = _key(30, "Minutes after a lesson before its quiz is sent by itself.")
    daily_next_cap: int = _key(3, "Most extra lessons a learner may pull with NEXT in one local day.")
    rate_limit_per_hour: int = _key(100, "Inbound messages per learner per hour before a polite notice.")
    burst_per_minute: int = _key(20, "Inbound messages per learner per minute before a polite notice.")
    streak_freeze_every_days: int = _key(7, "A streak freeze is earned after this many consecutive days.")
    leaderboard: bool = _key(False, "Weekly leaderboard within a learner's cohort (first names only).")
    lean_days: bool = _key(
        True,
        "Fewer messages a lesson day: the quiz starts in the lesson's message; false = a QUIZ invitation and follow-up.",
    )
    quiz_style: str = _key(
        "per_question",
        'How a lesson day asks its quiz: "one_message" = every question (and due review questions) in the '
        'lesson\'s message, answered in one reply; "per_question" = one question per message.',
    )
    session_ttl_hours: int = _key(72, "How long conversation state stays in the cache before it is rebuilt.")
    desired_retention: float = _key(
        0.9, "Review (FSRS-6): the chance of recall a question is asked again at, 0.7-0.97; higher asks more often."
    )


@dataclass(frozen=True)
class ScheduleSettings:
    quiet_hours_start: str = _key("21:00", "Local time (HH:MM) from which no proactive message is sent.")
    quiet_hours_end: str = _key("07:00", "Local time (HH:MM) quiet hours end; lessons set inside them come then.")
    grace_hours: float = _key(2.0, "A lesson late by more than this (worker down) is skipped and recorded, not sent.")
    reminder_hour: int = _key(18, "Local hour (0-23) of the one nudge to a learner who has not done today's lesson.")
    reminder_daily_days: int = _key(2, "Silent days with a daily nudge or reminder (one a day) before they back off.")
    reminder_backoff_days: str = _key(
        "2,4,7", "Comma-separated gaps (days) between later nudges or reminders; then they stop."
    )
    review_per_day: int = _key(3, "Most spaced-repetition review questions sent before a day's lesson.")
    lesson_days: str = _key(
        "mon,tue,wed,thu,fri,sat,sun",
        'Weekdays with a daily lesson, e.g. "mon,tue,wed,thu,fri" or "mon-fri"; reminders follow them and a '
        "streak does not break over a day without a lesson.",
        comma_list=True,
    )
    early_lesson_minutes: int = _key(
        60,
        "Send the daily lesson up to this many minutes early while the learner's 24 h window is open; 0 = off.",
    )
    maintenance_time: str = _key("02:30", "Nightly roll-ups, backup and pruning at this HH:MM in org.default_timezone.")
    backups_keep: int = _key(7, "Automatic nightly backups kept in data/backups/ (older ones are deleted); 0 = none.")
    message_retention_days: int = _key(
        0, "Nightly, blank the text and media of finished messages and tutor questions older than this; 0 = keep all."
    )


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = _key("", "Twilio Account SID (ACxxxx). Empty = built-in simulator channel.", secret=True)
    auth_token: str = _key("", "Twilio Auth Token; set COACHBOX_TWILIO_AUTH_TOKEN, never commit it.", secret=True)
    whatsapp_from: str = _key("", "Your WhatsApp sender, e.g. whatsapp:+14155238886.")
    sms_from: str = _key("", "Optional SMS sender number for learners without WhatsApp.")
    api_base_url: str = _key("https://api.twilio.com", "Twilio REST base URL (change for compatible providers).")
    messages_per_second: float = _key(
        80.0,
        "Most messages sent per second across all processes. Twilio's default per WhatsApp sender is 80 (text or "
        "media; twilio.com/docs/whatsapp/best-practices-and-faqs, read 2026-12); keep at most your sender's.",
    )
    retry_horizon_minutes: int = _key(60, "Stop retrying a failing send after this long.")
    media_max_bytes: int = _key(5_242_880, "Largest inbound media file downloaded (bytes).")
    templates: dict = _key(
        {},
        "Content template SIDs by message kind (lesson_nudge, reminder, certificate, …) for outside 24 h: "
        '"HX…" or {sid = "HX…", category = "marketing"} (billing category; default utility).',
    )


@dataclass(frozen=True)
class MetaSettings:
    phone_number_id: str = _key(
        "", "WhatsApp Cloud API phone number id (Meta's WhatsApp Manager, API setup). Empty = Meta channel off."
    )
    access_token: str = _key(
        "", "Meta access token (a system user's permanent token); set COACHBOX_META_ACCESS_TOKEN.", secret=True
    )
    app_secret: str = _key(
        "", "Meta app secret: checks X-Hub-Signature-256 on /webhooks/meta; set COACHBOX_META_APP_SECRET.", secret=True
    )
    verify_token: str = _key(
        "", "Token you type into Meta's webhook setup; /webhooks/meta answers its challenge only with it.", secret=True
    )
    waba_id: str = _key("", "WhatsApp Business Account id: lists your message templates for coachbox check.")
    api_base_url: str = _key("https://graph.facebook.com", "Graph API base URL (changed only for tests).")
    api_version: str = _key("v23.0", "Graph API version in every request path, e.g. v23.0.")
    messages_per_second: float = _key(
        80.0, "Most messages sent per second across all processes (Cloud API default: 80 per phone number)."
    )
    media_max_bytes: int = _key(5_242_880, "Largest inbound media file downloaded from Meta (bytes).")
    templates: dict = _key(
        {},
        'Approved template per message kind for outside 24 h: name = "lesson_nudge_v1" or '
        '{name = "…", language = "en", category = "utility"} (billing category; default utility).',
    )


@dataclass(frozen=True)
class AiSettings:
    base_url: str = _key("https://api.openai.com/v1", "Any OpenAI-compatible server (OpenAI, Ollama, vLLM…).")
    model: str = _key("gpt-4o-mini", "Model name on that server.")
    api_key: str = _key("", "API key; empty = tutor answers from course excerpts only.", secret=True)
    daily_limit_per_learner: int = _key(10, "Tutor questions per learner per day.")
    monthly_token_budget: int = _key(2_000_000, "Tokens per month for the whole box; 0 = no limit.")
    timeout_seconds: float = _key(8.0, "Give up on the LLM after this long and answer later from the worker.")
    input_price_per_million: float = _key(
        0.15, "Price per million input tokens (for the recorded cost; 0 for a local model)."
    )
    output_price_per_million: float = _key(0.60, "Price per million output tokens (for the recorded cost).")
    transcribe_voice_notes: bool = _key(
        False, "Transcribe learners' voice notes on the same server and treat them as text."
    )
    transcription_model: str = _key("whisper-1", "Model name for audio transcriptions on that server.")
    personalise_lessons: bool = _key(
        False, "Rephrase lessons for a learner's level/learning style (cached per lesson and style)."
    )


@dataclass(frozen=True)
class StripeSettings:
    secret_key: str = _key("", "Stripe secret key (sk_…); empty = card payments off.", secret=True)
    webhook_secret: str = _key("", "Stripe webhook signing secret (whsec_…).", secret=True)
    api_base_url: str = _key("https://api.stripe.com", "Stripe API base URL (for a local double).")


@dataclass(frozen=True)
class MpesaSettings:
    consumer_key: str = _key("", "Daraja consumer key; empty = M-PESA off.", secret=True)
    consumer_secret: str = _key("", "Daraja consumer secret.", secret=True)
    shortcode: str = _key("", "Business short code (paybill/till).")
    passkey: str = _key("", "Lipa na M-PESA online passkey.", secret=True)
    base_url: str = _key("https://sandbox.safaricom.co.ke", "Daraja base URL (sandbox, production or a double).")
    callback_secret: str = _key("", "Long random token in the callback path /webhooks/mpesa/<secret>.", secret=True)
    countries: str = _key("KE", "Comma-separated country codes offered M-PESA.")
    till_number: str = _key("", "Buy Goods till number; empty = paybill (PartyB is the short code).")
    query_after_minutes: int = _key(3, "Ask Daraja about an STK push whose callback has not come after this long.")
    allowed_ips: str = _key(
        "", "Comma-separated IPs allowed to post M-PESA callbacks; empty = any (the path secret still applies)."
    )
    confirm_with_query: bool = _key(
        True,
        "Confirm every M-PESA callback with an STK query before acting on it (Daraja does not sign callbacks, so the path secret would be the only proof); off = trust the callback.",
    )


@dataclass(frozen=True)
class BackupSettings:
    recipients: str = _key(
        "",
        "Comma-separated age public keys (age1…): backups are encrypted to them, and only their identities (kept off "
        "this box) can restore. Empty (and no recipients_file) = backups are NOT encrypted.",
        comma_list=True,
    )
    recipients_file: str = _key(
        "", "A file of age public keys, one per line (# comments), added to recipients; relative to coachbox.toml."
    )


@dataclass(frozen=True)
class LogSettings:
    level: str = _key("INFO", "DEBUG, INFO, WARNING or ERROR.")
    json: bool = _key(
        False,
        "JSON lines on standard output too, for a log collector (data/logs/coachbox.log is always JSON lines; "
        "the console otherwise shows short human lines).",
    )


@dataclass(frozen=True)
class CostsSettings:
    rate_card: str = _key(
        "",
        "Your own WhatsApp rate card (a TOML file laid out like content/rates/whatsapp-2026-07.toml); empty = the "
        "shipped one. Relative paths are against the folder coachbox.toml is in.",
    )
    rates: dict = _key(
        {},
        "Per-figure overrides laid over the rate card, in US dollars, e.g. [costs.rates.markets.KE] utility = 0.0042 "
        "or [costs.rates.providers.twilio] outbound = 0.0045.",
    )
    monthly_budget_usd: float = _key(
        0.0, "Monthly messaging budget in US dollars (estimate, actual where known); 0 = none. Warns at 80 %."
    )
    stop_proactive_at_budget: bool = _key(
        False,
        "At 100 % of the monthly budget, hold broadcasts and reminders (status 'held', sent when the month turns or "
        "the budget is raised); lessons, quizzes and replies continue.",
    )
    price_lookups_per_minute: int = _key(
        30, "Most Twilio message look-ups a minute for the price Twilio charged (0 = never ask; estimates only)."
    )


@dataclass(frozen=True)
class HandoverSettings:
    office_hours: str = _key(
        "mon-fri 08:00-16:00",
        "When teachers answer learners who asked for a person, in org.default_timezone: weekdays and HH:MM-HH:MM, "
        'several separated by ";" (e.g. "mon-fri 08:00-16:00; sat 09:00-12:00"). Learners are told it in their language.',
    )
    safeguarding_words: str = _key(
        "abused, abusing me, beats me, beat me, beaten, hurts me, hurt me, touched me, unsafe at home, "
        "scared to go home, bullied, bullying, threatened me, kidnapped, "
        "ananipiga, wananipiga, ananinyanyasa, ninanyanyaswa, unyanyasaji, nimedhulumiwa, ananitishia, "
        "naogopa kwenda nyumbani, nimetekwa, uonevu",
        "Words and phrases (any language, matched as whole words) that hand a learner's message to a teacher at once "
        "as a safeguarding concern, besides the tutor's emergency check.",
        comma_list=True,
    )


@dataclass(frozen=True)
class InboxSettings:
    notify: str = _key(
        "",
        'Tell a teacher that a learner waits in the inbox: "email", "whatsapp", both ("email,whatsapp") or empty = '
        "nobody is told (the admin menu still counts them). Once per conversation, gathered into one message.",
        comma_list=True,
    )
    duty_email: str = _key(
        "",
        "E-mail of the teacher on duty: told about unassigned conversations (an assigned one goes to its teacher's "
        "admin e-mail). Needs [smtp] host.",
    )
    duty_whatsapp: str = _key(
        "",
        'WhatsApp number of the teacher on duty ("+2547…"), told about every new conversation; outside their 24-hour '
        "window it goes inside the [twilio.templates] admin template, else waits until they write to the box.",
    )
    notify_gap_minutes: int = _key(
        10, "At least this long between two notices to the same teacher: new conversations meanwhile share the next."
    )


@dataclass(frozen=True)
class SmtpSettings:
    host: str = _key("", "SMTP server for the inbox's e-mails (e.g. smtp.gmail.com); empty = no e-mail.")
    port: int = _key(587, "SMTP port: 587 with starttls, 465 for TLS from the start, 25 or 1025 for a local relay.")
    username: str = _key("", "SMTP user name; empty = send without signing in (a local relay).")
    password: str = _key("", "SMTP password; set COACHBOX_SMTP_PASSWORD, never commit it.", secret=True)
    from_address: str = _key(
        "", "The From address of the box's e-mails (the SMTP account's address); empty = the username."
    )
    starttls: bool = _key(True, "Upgrade the connection with STARTTLS before signing in (keep it on over a network).")


@dataclass(frozen=True)
class Settings:
    """All configuration; build with Settings.load()."""

    server: ServerSettings = field(default_factory=ServerSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    org: OrgSettings = field(default_factory=OrgSettings)
    learning: LearningSettings = field(default_factory=LearningSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    ai: AiSettings = field(default_factory=AiSettings)
    stripe: StripeSettings = field(default_factory=StripeSettings)
    mpesa: MpesaSettings = field(default_factory=MpesaSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    log: LogSettings = field(default_factory=LogSettings)
    costs: CostsSettings = field(default_factory=CostsSettings)
    inbox: InboxSettings = field(default_factory=InboxSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    handover: HandoverSettings = field(default_factory=HandoverSettings)
    plans: dict = field(default_factory=dict, metadata={"help": "Paid plans, one [plans.<name>] table each."})
    root: str = field(default=".", metadata={"help": "Folder relative paths are resolved against (not a key)."})

    # -- derived paths -------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.resolve(self.paths.data_dir)

    @property
    def content_dir(self) -> Path:
        return self.resolve(self.paths.content_dir)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "coachbox.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def channel_kind(self) -> str:
        """'meta' or 'twilio' when that channel's credentials are set (never both: see _validate), else the
        built-in simulator."""
        if self.meta.phone_number_id and self.meta.access_token:
            return "meta"
        return "twilio" if self.twilio.account_sid and self.twilio.auth_token else "simulator"

    @property
    def messages_per_second(self) -> float:
        """The send cap of the configured channel ([meta] or [twilio] messages_per_second)."""
        return self.meta.messages_per_second if self.channel_kind == "meta" else self.twilio.messages_per_second

    @property
    def secrets_dir(self) -> Path:
        """Where the generated signing key lives: [paths] secrets_dir, by default secrets/ beside the data folder."""
        return self.resolve(self.paths.secrets_dir) if self.paths.secrets_dir else self.data_dir.parent / "secrets"

    def resolve(self, value: str) -> Path:
        """A path from a setting: absolute as given, relative against the folder coachbox.toml is in."""
        path = Path(value)
        return path if path.is_absolute() else (Path(self.root) / path).resolve()

    def with_address(self, host: str | None = None, port: int | None = None) -> Settings:
        """A copy listening elsewhere; a loopback public_url follows the port (so links printed stay right)."""
        server = dataclasses.replace(self.server, host=host or self.server.host, port=port or self.server.port)
        return dataclasses.replace(self, server=_follow_port(server))

    def replace(self, **sections: Any) -> Settings:
        """A copy with some sections' keys changed: s.replace(server={"port": 9000})."""
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            current = getattr(self, name)
            changes[name] = (
                dataclasses.replace(current, **value)
                if isinstance(value, dict) and dataclasses.is_dataclass(current) and not isinstance(current, type)
                else value
            )
        return dataclasses.replace(self, **changes)

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the TOML file (if any) and apply COACHBOX_<SECTION>_<KEY> overrides."""
        environ = os.environ if environ is None else environ
        explicit = path or environ.get(ENV_PREFIX + "CONFIG")
        config_path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_NAME)
        raw: dict[str, Any] = {}
        if config_path.exists():
            raw = _read_toml(config_path)
        elif explicit:
            raise ConfigError(f"{config_path}: config file not found. Check --config or COACHBOX_CONFIG.")
        root = str(config_path.resolve().parent) if config_path.exists() else str(Path.cwd())
        return _build(raw, environ, source=str(config_path), root=root)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts "(at line N, column M)" in its message; keep it, and say what to do.
        raise ConfigError(
            f"{path}: invalid TOML: {exc}. Fix the syntax on that line (quotes, = signs, [sections])."
        ) from None


_SECTION_TYPES: dict[str, type] = {
    "server": ServerSettings,
    "paths": PathSettings,
    "org": OrgSettings,
    "learning": LearningSettings,
    "schedule": ScheduleSettings,
    "twilio": TwilioSettings,
    "meta": MetaSettings,
    "ai": AiSettings,
    "stripe": StripeSettings,
    "mpesa": MpesaSettings,
    "backup": BackupSettings,
    "log": LogSettings,
    "costs": CostsSettings,
    "inbox": InboxSettings,
    "smtp": SmtpSettings,
    "handover": HandoverSettings,
}


def _build(raw: dict[str, Any], environ: Mapping[str, str], *, source: str, root: str) -> Settings:
    unknown = set(raw) - set(_SECTION_TYPES) - {"plans"}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(
            f"{source}: unknown section [{name}]. Known sections: {', '.join(sorted(_SECTION_TYPES))}, plans."
        )
    built: dict[str, Any] = {"root": root}
    for section, klass in _SECTION_TYPES.items():
        values = raw.get(section, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys, not a single value.")
        kwargs: dict[str, Any] = {}
        known = {f.name: f for f in dataclasses.fields(klass)}
        for removed_section, removed_key in _REMOVED_KEYS:
            env_name = f"{ENV_PREFIX}{removed_section.upper()}_{removed_key.upper()}"
            if removed_section == section and removed_key in values:
                raise ConfigError(f"{source}: {_REMOVED_KEYS[(section, removed_key)]}")
            if removed_section == section and (env_name in environ or env_name + "_FILE" in environ):
                raise ConfigError(f"environment variable {env_name}: {_REMOVED_KEYS[(section, removed_key)]}")
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}. Known keys in [{section}]: {', '.join(known)}."
                )
            kwargs[key] = _coerce(value, known[key], f"{source}: {section}.{key}")
        for key, fld in known.items():
            env_name = f"{ENV_PREFIX}{section.upper()}_{key.upper()}"
            if env_name in environ:
                kwargs[key] = _coerce(environ[env_name], fld, f"environment variable {env_name}", from_env=True)
            elif env_name + "_FILE" in environ:
                file_name = environ[env_name + "_FILE"]
                try:
                    text = Path(file_name).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ConfigError(f"{env_name}_FILE: cannot read {file_name} ({exc.strerror}).") from None
                kwargs[key] = _coerce(text, fld, f"{env_name}_FILE", from_env=True)
        built[section] = klass(**kwargs)
    plans = raw.get("plans", {})
    if not isinstance(plans, dict) or any(not isinstance(v, dict) for v in plans.values()):
        raise ConfigError(f"{source}: plans must be tables like [plans.monthly] with price and period_days keys.")
    built["plans"] = plans
    built["server"] = _follow_port(built["server"])
    settings = Settings(**built)
    _validate(settings, source)
    return settings


def _follow_port(server: ServerSettings) -> ServerSettings:
    """The default loopback public_url names port 8000; when only the port changed, follow it."""
    parts = server.public_url.rstrip("/").rsplit(":", 1)
    if parts[0] in {"http://127.0.0.1", "http://localhost"} and parts[-1].isdigit() and int(parts[-1]) != server.port:
        return dataclasses.replace(server, public_url=f"{parts[0]}:{server.port}")
    return server


def _coerce(value: Any, fld: dataclasses.Field, where: str, *, from_env: bool = False) -> Any:
    expected = (
        fld.type
        if isinstance(fld.type, type)
        else {"str": str, "int": int, "float": float, "bool": bool, "dict": dict}[fld.type]
    )
    if fld.metadata.get("comma_list") and isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{where}: expected a string or a list of strings, got {value!r}.")
        return ", ".join(value)
    if from_env and isinstance(value, str):
        try:
            if expected is bool:
                lowered = value.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError
                return lowered in {"1", "true", "yes", "on"}
            if expected is int:
                return int(value)
            if expected is float:
                return float(value)
            if expected is dict:
                # Tables come from the environment as a JSON object of strings, e.g.
                # COACHBOX_TWILIO_TEMPLATES='{"lesson_nudge": "HX…"}' (Docker/compose users configure by env).
                parsed = json.loads(value)
                if not isinstance(parsed, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
                ):
                    raise ValueError
                return parsed
        except ValueError:
            hint = ' (a JSON object of strings, e.g. {"lesson_nudge": "HX…"})' if expected is dict else ""
            raise ConfigError(f"{where}: expected {expected.__name__}{hint}, got {value!r}.") from None
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is bool and not isinstance(value, bool) or expected is not bool and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {value!r}.")
    if not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__} {value!r}.")
    return value


def _validate(settings: Settings, source: str) -> None:
    if not 0 < settings.server.port < 65536:
        raise ConfigError(f"{source}: server.port must be between 1 and 65535, got {settings.server.port}.")
    if settings.server.worker_silence_seconds < 1:
        raise ConfigError(f"{source}: server.worker_silence_seconds must be at least 1.")
    if settings.paths.secrets_dir and settings.secrets_dir.is_relative_to(settings.data_dir):
        raise ConfigError(
            f"{source}: paths.secrets_dir {settings.paths.secrets_dir!r} is inside the data folder "
            f"{settings.data_dir}, so every backup would carry the signing key. Choose a folder outside it (e.g. "
            '"secrets"), or leave it empty.'
        )
    if not settings.server.public_url.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: server.public_url must start with http:// or https://.")
    try:
        parse_networks(settings.server.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(
            f"{source}: server.trusted_proxies: {str(exc)!r} is not an IP address or network "
            '(write addresses or CIDR networks separated by commas, e.g. "127.0.0.1, 10.0.0.0/8").'
        ) from None
    try:
        ZoneInfo(settings.org.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{source}: org.default_timezone {settings.org.default_timezone!r} is not a time zone name "
            "(use one like Africa/Nairobi)."
        ) from None
    hh, _, mm = settings.org.lesson_time.partition(":")
    if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ConfigError(f"{source}: org.lesson_time must be HH:MM, got {settings.org.lesson_time!r}.")
    _validate_schedule(settings, source)
    if settings.twilio.messages_per_second <= 0:
        raise ConfigError(f"{source}: twilio.messages_per_second must be above 0.")
    if settings.log.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{source}: log.level must be DEBUG, INFO, WARNING or ERROR.")
    if settings.mpesa.query_after_minutes < 1:
        raise ConfigError(f"{source}: mpesa.query_after_minutes must be at least 1.")
    if settings.plans:
        try:
            load_plans(settings.plans)
        except UserError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    if bool(settings.twilio.account_sid) != bool(settings.twilio.auth_token):
        missing = "COACHBOX_TWILIO_AUTH_TOKEN" if settings.twilio.account_sid else "COACHBOX_TWILIO_ACCOUNT_SID"
        raise ConfigError(f"Twilio is half configured: set {missing} too, or unset both to use the simulator.")
    _validate_meta(settings, source)
    _validate_costs(settings, source)
    _validate_inbox(settings, source)
    try:
        parse_office_hours(settings.handover.office_hours)
    except ValueError as exc:
        raise ConfigError(f"{source}: handover.office_hours: {exc}.") from None


def _validate_inbox(settings: Settings, source: str) -> None:
    """[inbox] notify names ways the box can tell a teacher, each with what it needs."""
    ways = [w.strip() for w in settings.inbox.notify.split(",") if w.strip()]
    for way in ways:
        if way not in ("email", "whatsapp"):
            raise ConfigError(f'{source}: inbox.notify: unknown way {way!r}: write "email", "whatsapp" or both.')
    if "email" in ways and not settings.smtp.host:
        raise ConfigError(f"{source}: inbox.notify includes email but smtp.host is empty: set [smtp] host (and port).")
    if "whatsapp" in ways and not settings.inbox.duty_whatsapp.strip().startswith("+"):
        raise ConfigError(
            f'{source}: inbox.notify includes whatsapp: set inbox.duty_whatsapp to a number in +country form ("+2547…").'
        )


_META_REQUIRED = ("phone_number_id", "access_token", "app_secret")


def _validate_meta(settings: Settings, source: str) -> None:
    """Meta's channel needs all of phone_number_id, access_token and app_secret, and is not combined with Twilio."""
    meta = settings.meta
    if meta.messages_per_second <= 0:
        raise ConfigError(f"{source}: meta.messages_per_second must be above 0.")
    given = [key for key in _META_REQUIRED if getattr(meta, key)]
    if not given:
        return
    missing = [key for key in _META_REQUIRED if not getattr(meta, key)]
    if missing:
        names = ", ".join(f"meta.{key} (COACHBOX_META_{key.upper()})" for key in missing)
        raise ConfigError(
            f"Meta's WhatsApp Cloud API is half configured: set {names} too, or unset "
            f"{', '.join('meta.' + key for key in given)} to go back to Twilio or the simulator."
        )
    if settings.twilio.account_sid or settings.twilio.auth_token:
        # One WhatsApp channel per box: a learner's replies must leave by the channel their messages came in on,
        # and the outbox, its pacing and its crash look-ups are per channel. Moving to Meta: docs/meta.md.
        raise ConfigError(
            "Both Twilio ([twilio] account_sid/auth_token) and Meta ([meta] phone_number_id/access_token/"
            "app_secret) are configured: a box uses one WhatsApp channel. Unset COACHBOX_TWILIO_ACCOUNT_SID and "
            "COACHBOX_TWILIO_AUTH_TOKEN to use Meta, or the [meta] keys to stay on Twilio (docs/meta.md)."
        )


# Learning messages must never be billed as marketing (issue #19): the keys a lesson nudge or reminder goes by.
UTILITY_ONLY_TEMPLATES = ("lesson_nudge", "reminder")


def template_category(entry: Any) -> str:
    """A [twilio.templates] / [meta.templates] entry's declared billing category: a table's `category`, else
    utility (a plain "HX…" string or name)."""
    if isinstance(entry, dict):
        return str(entry.get("category") or "utility").lower()
    return "utility"


def _validate_costs(settings: Settings, source: str) -> None:
    """Budgets are not negative; template categories are known; learning templates are utility."""
    costs = settings.costs
    if costs.monthly_budget_usd < 0:
        raise ConfigError(f"{source}: costs.monthly_budget_usd cannot be negative; write 0 for no budget.")
    if costs.price_lookups_per_minute < 0:
        raise ConfigError(f"{source}: costs.price_lookups_per_minute cannot be negative; write 0 to never ask.")
    for section, templates in (("twilio", settings.twilio.templates), ("meta", settings.meta.templates)):
        for key, entry in templates.items():
            category = template_category(entry)
            if category not in ("utility", "marketing", "authentication"):
                raise ConfigError(
                    f'{source}: {section}.templates.{key}.category = {category!r}; write "utility", '
                    f'"marketing" or "authentication" (the category the template was approved in).'
                )
            if key in UTILITY_ONLY_TEMPLATES and category != "utility":
                raise ConfigError(
                    f"{source}: {section}.templates.{key} is declared {category}: lesson nudges and reminders must "
                    "be utility templates (marketing costs several times more and is not for learning messages). "
                    'Submit the template as utility and write category = "utility".'
                )


def _validate_schedule(settings: Settings, source: str) -> None:
    retention = settings.learning.desired_retention
    if not 0.7 <= retention <= 0.97:
        raise ConfigError(
            f"{source}: learning.desired_retention must be between 0.7 and 0.97 (0.9 is the usual choice), "
            f"got {retention}."
        )
    if settings.learning.quiz_style not in ("one_message", "per_question"):
        raise ConfigError(
            f'{source}: learning.quiz_style must be "one_message" or "per_question", '
            f"got {settings.learning.quiz_style!r}."
        )
    schedule = settings.schedule
    try:
        parse_lesson_days(schedule.lesson_days)
    except ValueError as error:
        raise ConfigError(
            f"{source}: schedule.lesson_days: {error}. Write the days with a lesson, "
            'e.g. "mon,tue,wed,thu,fri" or "mon-fri".'
        ) from None
    for key in ("quiet_hours_start", "quiet_hours_end", "maintenance_time"):
        hh, _, mm = getattr(schedule, key).partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ConfigError(f"{source}: schedule.{key} must be HH:MM, got {getattr(schedule, key)!r}.")
    if not 0 <= schedule.reminder_hour < 24:
        raise ConfigError(f"{source}: schedule.reminder_hour must be 0-23, got {schedule.reminder_hour}.")
    gaps = [g.strip() for g in schedule.reminder_backoff_days.split(",") if g.strip()]
    if not all(g.isdigit() and int(g) > 0 for g in gaps):
        raise ConfigError(
            f'{source}: schedule.reminder_backoff_days must be whole days like "2,4,7", '
            f"got {schedule.reminder_backoff_days!r}."
        )
    if schedule.grace_hours < 0 or schedule.backups_keep < 0 or schedule.reminder_daily_days < 0:
        raise ConfigError(f"{source}: schedule.grace_hours, backups_keep and reminder_daily_days cannot be negative.")
    if not 0 <= schedule.early_lesson_minutes <= 720:
        raise ConfigError(
            f"{source}: schedule.early_lesson_minutes must be 0 (off) to 720 minutes, "
            f"got {schedule.early_lesson_minutes}."
        )
    if schedule.message_retention_days < 0:
        raise ConfigError(
            f"{source}: schedule.message_retention_days must be 0 (keep every message) or a number of "
            f"days, got {schedule.message_retention_days}."
        )
    if _in_quiet_hours(schedule.reminder_hour * 60, schedule.quiet_hours_start, schedule.quiet_hours_end):
        # A reminder inside quiet hours would never be sent: say so now rather than let reminders silently stop.
        raise ConfigError(
            f"{source}: schedule.reminder_hour {schedule.reminder_hour}:00 falls inside quiet hours "
            f"({schedule.quiet_hours_start}-{schedule.quiet_hours_end}), so no reminder would ever be sent. "
            "Choose an hour outside them."
        )


def _in_quiet_hours(minute_of_day: int, start: str, end: str) -> bool:
    def minutes(text: str) -> int:
        hh, _, mm = text.partition(":")
        return int(hh) * 60 + int(mm)

    first, last = minutes(start), minutes(end)
    if first == last:
        return False  # no quiet hours
    if first < last:
        return first <= minute_of_day < last
    return minute_of_day >= first or minute_of_day < last  # quiet hours span midnight


def documented_keys() -> list[tuple[str, str, Any, str, bool]]:
    """(section, key, default, help, secret) for every setting: feeds `coachbox check` and the docs test."""
    rows = []
    for section, klass in _SECTION_TYPES.items():
        instance = klass()
        for fld in dataclasses.fields(klass):
            rows.append((section, fld.name, getattr(instance, fld.name), fld.metadata["help"], fld.metadata["secret"]))
    return rows
