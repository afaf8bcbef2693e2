"""The dashboard: live counts from cheap indexed queries, and SVG charts from the daily_stats roll-up."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request

from coachbox.admin import charts, costs
from coachbox.admin import security as sec
from coachbox.admin.pages import render
from coachbox.channels.outbox import describe
from coachbox.core.services import Services
from coachbox.store import schedule as schedule_store
from coachbox.store import stats

bp = Blueprint("admin_dashboard", url_prefix="/admin")
DAYS = 30


def _load(conn, now, tz: str) -> dict:
    today = now.astimezone(ZoneInfo(tz)).date()
    dates = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
    week_ago = (now - timedelta(days=7)).isoformat()
    return {
        "counts": stats.live_counts(conn, now),
        "dates": dates,
        "series": stats.daily_series(conn, dates[0], dates[-1]),
        "streaks": stats.streak_distribution(conn),
        "outbox": stats.outbox_by_status(conn, week_ago),
        "failed_codes": stats.failed_codes(conn, week_ago),
        "window": schedule_store.lesson_days_in_window(conn, dates[0]),
    }


@bp.get("/")
@sec.admin_view("viewer")
async def dashboard(request: Request):
    services = request.app.ctx.services
    data = await services.db.run(_load, services.clock.now(), services.settings.org.default_timezone)
    dates, series = data["dates"], data["series"]
    labels = [d[5:] for d in dates]  # MM-DD

    def values(metric: str) -> list[float]:
        return [series[metric].get(d, 0) for d in dates]

    has_rollup = any(series[m] for m in series)

    figures = {
        "active": charts.bars("Active learners per day", labels, {"active": values("active_learners")}),
        "lessons": charts.bars(
            "Lessons delivered and completed per day",
            labels,
            {"delivered": values("lessons_delivered"), "completed": values("lessons_completed")},
        ),
        "quiz": charts.bars(
            "Average quiz score per day",
            labels,
            {"quiz average": values("quiz_average")},
            unit="%",
            colors=("#009E73",),
        ),
        "messages": charts.bars(
            "Messages per day",
            labels,
            {
                "sent": values("messages_sent"),
                "delivered": values("messages_delivered"),
                "failed": values("messages_failed"),
            },
            colors=("#0072B2", "#009E73", "#a4161a"),
        ),
        "optouts": charts.bars(
            "Opt-outs (STOP) per day", labels, {"opt-outs": values("opt_outs")}, colors=("#D55E00",)
        ),
        "streaks": charts.hbars("Learners by current streak", data["streaks"]),
        "outbox": charts.hbars(
            "Outbound messages in the last 7 days by status", data["outbox"], highlight=("failed", "undelivered")
        ),
    }
    totals = {m: sum(series[m].values()) for m in series}
    cost_line = None
    if sec.role_at_least(request.ctx.admin["role"], costs.ROLE):  # the Costs page's readers see its headline
        settings = services.settings
        cost_line = await costs.read(
            services, costs.headline, services.clock.now(), settings.org.default_timezone, settings.org.default_language
        )
    return render(
        request,
        "dashboard.html",
        counts=data["counts"],
        figures=figures,
        has_rollup=has_rollup,
        totals=totals,
        cost_line=cost_line,
        window=data["window"],
        failed_codes=data["failed_codes"],
        describe=lambda code: describe(services.settings, code),  # Twilio's or Meta's words for the code
        queue_pending=_queue_pending(services),
    )


def _queue_pending(services: Services) -> int | None:
    try:
        return services.huey.pending_count()
    except Exception:  # noqa: BLE001 - the dashboard shows the queue as unknown rather than failing
        return None
