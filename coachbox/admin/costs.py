"""The Costs page: what messaging cost this month (or a chosen one), per learner, course, class, kind and day; CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import raw

from coachbox.admin import charts
from coachbox.admin import security as sec
from coachbox.admin.pages import render
from coachbox.admin.scope import LearnerScope, scope_for
from coachbox.core.config import Settings
from coachbox.core.costs import MICROS_PER_USD, NON_ESSENTIAL_KINDS, BudgetState
from coachbox.core.hostile import csv_row
from coachbox.core.services import Services
from coachbox.store import costs as store

bp = Blueprint("admin_costs", url_prefix="/admin")
ROLE = "editor"  # owners and editors: what the programme spends is not for every viewer account
RUN_RATE_DAYS = 7
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

# What each message kind is, in a programme manager's words (a kind not listed shows as it is stored).
KIND_LABELS = {
    "inbound": "Learners' messages (received)",
    "lesson": "Lessons",
    "quiz": "Quiz questions and feedback",
    "reply": "Replies",
    "review": "Review questions",
    "reminder": "Reminders",
    "nudge": "Lesson nudges",
    "broadcast": "Broadcasts",
    "summary": "Weekly summaries",
    "celebration": "Streaks and celebrations",
    "badge": "Badges",
    "certificate": "Certificates",
    "tutor": "Tutor (teacher's answers)",
    "tutor_ai": "Tutor (AI answers)",
    "payment": "Payments",
    "farewell": "Goodbyes",
}
CATEGORY_LABELS = {
    "service": "Service (inside the 24-hour window)",
    "utility": "Utility templates",
    "marketing": "Marketing templates",
    "authentication": "Authentication templates",
    "free": "Not billed by WhatsApp",
}


@dataclass(frozen=True)
class Month:
    """A calendar month in the org's time zone, with its local days' bounds in UTC."""

    year: int
    month: int
    tz: str

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def first(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1, self.tz)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1, self.tz)

    def midnight(self, day: date) -> datetime:
        """The local midnight starting `day`, in UTC."""
        return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.tz)).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.midnight(self.first())

    @property
    def stop(self) -> datetime:
        return self.midnight(self.next().first())

    def days(self) -> list[tuple[str, str, str]]:
        """(YYYY-MM-DD, start, stop) for each local day of the month, as stored ISO instants."""
        out = []
        day = self.first()
        while day.month == self.month:
            after = day + timedelta(days=1)
            out.append((day.isoformat(), self.midnight(day).isoformat(), self.midnight(after).isoformat()))
            day = after
        return out


def month_of(now: datetime, tz: str) -> Month:
    local = now.astimezone(ZoneInfo(tz))
    return Month(local.year, local.month, tz)


def chosen_month(value: str | None, now: datetime, tz: str) -> Month:
    """?month=YYYY-MM, or this month when it is absent or not a month."""
    match = _MONTH.match(value or "")
    if match and 1 <= int(match.group(2)) <= 12 and 2000 <= int(match.group(1)) <= 2100:
        return Month(int(match.group(1)), int(match.group(2)), tz)
    return month_of(now, tz)


def money(micros: int | float | None, language: str = "en") -> str:
    """US dollars in the org's language: 1_950_000 → '$1.95'; under ten cents up to four decimals ('$0.0045')."""
    if micros is None:
        return "–"
    from babel import Locale, UnknownLocaleError  # lazy: ~3 MB per process, for the Costs page and dashboard only
    from babel.numbers import format_currency  # lazy: as above

    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        locale = Locale.parse("en")
    amount = Decimal(round(micros)) / MICROS_PER_USD
    pattern = locale.currency_formats["standard"].pattern  # where the symbol and spaces go in this language
    if abs(amount) < Decimal("0.1"):
        pattern = pattern.replace("0.00", "0.00##")  # a message costs fractions of a cent: show them
    return format_currency(amount, "USD", format=pattern, locale=locale, currency_digits=False)


def axis_money(usd: float) -> str:
    """A chart axis's dollars, short: 0 → '$0', 0.025 → '$0.025', 1.5 → '$1.5', 20 → '$20', 1500 → '$1.5k'."""
    if usd >= 1000:
        return f"${usd / 1000:,.1f}".removesuffix(".0") + "k"
    text = f"{usd:,.4f}".rstrip("0").rstrip(".")
    return f"${text}"


def budget_settings(settings: Settings) -> tuple[int, bool]:
    """([costs] monthly_budget_usd in micros (0 = none), [costs] stop_proactive_at_budget)."""
    return round(settings.costs.monthly_budget_usd * MICROS_PER_USD), settings.costs.stop_proactive_at_budget


async def read(services: Services, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(conn, *args)` on one of the web worker's read connections (`services.db.read`), not on the writer
    thread: a month's figures read ~5,000 kept rows (migration 0028; the whole month of messages where the zone is
    not a whole number of hours from UTC), which no webhook's write should wait behind. WAL lets the two run side
    by side."""
    return await services.db.read(fn, *args)


def load(conn, month: Month, now: datetime) -> dict[str, Any]:
    """Every figure the page and the CSV show for `month`, in one read."""
    start, stop = month.start.isoformat(), month.stop.isoformat()
    days = month.days()
    # The kept per-hour totals (migration 0028) whenever the month's local days begin on the hour (every zone a whole
    # number of hours from UTC); the messages themselves otherwise (India's +05:30, Nepal's +05:45).
    kept = store.on_the_hour(*(bound for _, day_start, day_stop in days for bound in (day_start, day_stop)))
    dimensions = ("kind", "category", "course", "class", "channel")
    data: dict[str, Any] = (store.kept_breakdowns if kept else store.breakdowns)(conn, start, stop, dimensions)
    total = store.no_figures()
    for row in data["channel"]:  # every message has one channel: the month's total without another scan
        for key in total:
            total[key] += row[key]
    data.update(
        total=total,
        days=(store.kept_by_day if kept else store.by_day)(conn, days),
        active=store.kept_active_learners(conn, start, stop),
        first_at=store.first_message_at(conn),
        held=store.held_for_budget(conn) if month.start <= now < month.stop else {},
    )
    # The forecast's run-rate: the last 7 days up to now, or the whole days since the first message when the box
    # is younger than that (a box two days old divided by 7 would forecast a third of its real rate).
    age = now - datetime.fromisoformat(data["first_at"]) if data["first_at"] else timedelta(0)
    data["run_rate_days"] = min(RUN_RATE_DAYS, max(1, age.days + (1 if age % timedelta(days=1) else 0)))
    since = now - timedelta(days=data["run_rate_days"])
    data["last_days"] = store.kept_costed_since(conn, since.isoformat(), now.isoformat())
    return data


def for_scope(data: dict[str, Any], scope: LearnerScope) -> dict[str, Any]:
    """What a teacher (or API token) limited to classes sees: the month's totals, forecast and budget of the whole
    box (the school's one bill; they name no learner), and among the rows by class only their own classes."""
    if scope.everyone:
        return data
    return {**data, "class": [row for row in data["class"] if row["label"] and scope.allows_class(row["label"])]}


def figures(data: dict[str, Any], month: Month, now: datetime, budget_micros: int) -> dict[str, Any]:
    """The page's numbers from the loaded rows (pure): forecast, per learner, the actual-vs-estimate comparison."""
    total = data["total"]
    current = month.start <= now < month.stop
    forecast = None
    if current:
        days_left = (month.stop - now).total_seconds() / 86400
        days = data["run_rate_days"]
        per_day = data["last_days"] / days
        forecast = {
            "micros": total["cost"] + per_day * days_left,
            "per_day": per_day,
            "days_left": days_left,
            "days": days,
        }
    active = data["active"]
    priced = total["with_actual"]
    difference = total["actual"] - total["estimate_of_actual"]
    comparison = {
        "priced": priced,
        "share": priced / total["costed"] if total["costed"] else 0.0,
        "actual": total["actual"],
        "estimate": total["estimate_of_actual"],
        "difference": difference,
        "relative": difference / total["estimate_of_actual"] if total["estimate_of_actual"] else None,
    }
    spent = total["cost"]
    state = BudgetState(spent_micros=spent if current or month.stop <= now else 0, budget_micros=budget_micros)
    return {
        "current": current,
        "future": now < month.start,
        "forecast": forecast,
        "per_learner": spent / active if active else None,
        "comparison": comparison,
        "budget": state,
        "forecast_over_budget": bool(
            budget_micros and forecast and forecast["micros"] > budget_micros and not state.exhausted
        ),
    }


def _label(dimension: str, value: str | None) -> str:
    if dimension == "kind":
        return KIND_LABELS.get(value or "", value or "—")
    if dimension == "category":
        return CATEGORY_LABELS.get(value or "", value or "Not recorded")
    if dimension == "course":
        return value or "No course"
    if dimension == "class":
        return value or "No class"
    return value or "—"


def headline(conn, now: datetime, tz: str, language: str) -> dict[str, Any]:
    """The dashboard's line: this month so far and per active learner, formatted."""
    month = month_of(now, tz)
    start, stop = month.start.isoformat(), month.stop.isoformat()
    spent = store.kept_costed_since(conn, start, stop)  # the kept hourly totals (migration 0028), not every message
    active = store.kept_active_learners(conn, start, stop)
    return {
        "spent": money(spent, language),
        "per_learner": money(spent / active, language) if active else None,
        "active": active,
    }


@bp.get("/costs")
@sec.admin_view(ROLE)
async def costs_page(request: Request):
    services = request.app.ctx.services
    settings = services.settings
    now = services.clock.now()
    tz = settings.org.default_timezone
    month = chosen_month(request.args.get("month"), now, tz)
    scope = scope_for(request.ctx.admin)
    data = for_scope(await read(services, load, month, now), scope)
    budget_micros, stop_at_budget = budget_settings(settings)
    numbers = figures(data, month, now, budget_micros)
    language = settings.org.default_language

    dates = [day for day, _, _ in month.days()]
    per_day = [data["days"].get(day, {}).get("cost", 0) / MICROS_PER_USD for day in dates]
    title = f"Cost per day in {month.first():%B %Y}, US dollars"
    labels = [d[5:] for d in dates]

    def tip(usd: float) -> str:
        return money(usd * MICROS_PER_USD, language)

    # Two drawings of one chart: a phone shows the narrow one (its text stays readable), a wider screen the other.
    chart = {
        "wide": charts.bars(title, labels, {"cost": per_day}, fmt=axis_money, tip_fmt=tip),
        "narrow": charts.bars(  # day numbers only: "12-01" eleven times does not fit 360 px
            title,
            [d[8:].lstrip("0") for d in dates],
            {"cost": per_day},
            width=360,
            height=240,
            fmt=axis_money,
            tip_fmt=tip,
        ),
    }
    this_month = month_of(now, tz)
    first_at = data["first_at"]
    first_month = month_of(datetime.fromisoformat(first_at), tz) if first_at else this_month
    breakdowns = {
        dimension: [{**row, "name": _label(dimension, row["label"])} for row in data[dimension]]
        for dimension in ("kind", "category", "course", "class")
    }
    channels = {row["label"]: row for row in data["channel"]}
    simulator_only = bool(channels) and set(channels) <= {"simulator"}
    return render(
        request,
        "costs.html",
        month=month,
        month_name=f"{month.first():%B %Y}",
        previous=month.previous() if month.first() > first_month.first() else None,
        following=month.next() if month.first() < this_month.first() else None,
        this_month=this_month,
        total=data["total"],
        active=data["active"],
        n=numbers,
        chart=chart,
        breakdowns=breakdowns,
        channel_kind=settings.channel_kind,
        simulator_messages=channels.get("simulator", {}).get("messages", 0),
        simulator_only=simulator_only,
        budget_micros=budget_micros,
        stop_at_budget=stop_at_budget,
        held_kinds=" and ".join(KIND_LABELS.get(kind, kind).lower() for kind in sorted(NON_ESSENTIAL_KINDS)),
        held=[(KIND_LABELS.get(kind, kind).lower(), n) for kind, n in data["held"].items()],
        held_total=sum(data["held"].values()),
        money=lambda micros: money(micros, language),
        percent=lambda share: f"{share:.0%}" if share is not None else "–",
        limited=scope.classes if not scope.everyone else (),
    )


@bp.get("/costs.csv")
@sec.admin_view(ROLE)
async def costs_csv(request: Request):
    services = request.app.ctx.services
    now = services.clock.now()
    month = chosen_month(request.args.get("month"), now, services.settings.org.default_timezone)
    data = for_scope(await read(services, load, month, now), scope_for(request.ctx.admin))
    out = io.StringIO()
    writer = csv.writer(out)
    # Micros are the exact integers; the *_usd columns are the same figures for people (exact decimals, no float).
    writer.writerow(
        [
            "section",
            "item",
            "messages",
            "sent",
            "received",
            "cost_usd",
            "estimate_usd",
            "messages_with_actual",
            "actual_usd",
            "cost_micros",
            "estimate_micros",
            "actual_micros",
        ]
    )

    def usd(micros: int) -> Decimal:
        return (Decimal(micros) / MICROS_PER_USD).quantize(Decimal("0.000001"))

    def row(section: str, item: str | None, f: dict) -> list[Any]:
        # Every cell through csv_row (core.hostile): a class or course name someone typed as "=…" gets a quote.
        return csv_row(
            [
                section,
                item,
                f["messages"],
                f["sent"],
                f["received"],
                usd(f["cost"]),
                usd(f["estimate"]),
                f["with_actual"],
                usd(f["actual"]),
                f["cost"],
                f["estimate"],
                f["actual"],
            ]
        )

    writer.writerow(row("month", month.key, data["total"]))
    empty = store.no_figures()
    for day, _, _ in month.days():
        writer.writerow(row("day", day, data["days"].get(day, empty)))
    for dimension in ("kind", "category", "course", "class"):
        for figures_row in data[dimension]:
            writer.writerow(row(dimension, figures_row["label"], figures_row))
    return raw(
        out.getvalue().encode("utf-8-sig"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="costs-{month.key}.csv"'},
    )
