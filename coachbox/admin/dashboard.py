"""The dashboard: a teacher's day at a glance (today live, 30-day charts, classes, courses, learners at risk)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound

from coachbox.admin import charts, costs
from coachbox.admin import security as sec
from coachbox.admin.learners import teacher_message
from coachbox.admin.pages import back, render, times_of
from coachbox.admin.scope import scope_for
from coachbox.channels.outbox import describe, template_sid
from coachbox.core import events
from coachbox.jobs.queue import queue_counts
from coachbox.schedule import rollups
from coachbox.schedule.coach import Coach
from coachbox.store import admins, stats, transaction
from coachbox.store import dashboard as board
from coachbox.store.messages import enqueue_outbound

bp = Blueprint("admin_dashboard", url_prefix="/admin")
log = logging.getLogger("coachbox.admin")
DAYS = 30
GROUP_DAYS = 7  # the classes and courses tables: the last 7 days of the nightly roll-up
# Today's live figures, the at-risk lists, the streaks and the last 7 days' outbox are read at most once a minute
# (bench/admin_bench.py has their cost: ~200 ms at 100,000 learners), on a read connection; once they are older than
# a minute the page shows them as they are and reads them again in the background (issue #16: no teacher waits for
# them but the first of the day, or after STALE_SECONDS without a visit). Whether a learner was nudged is always fresh.
MINUTE_SECONDS = 60
STALE_SECONDS = 15 * 60
# Charts are drawn 360 units wide with 13-unit text: on a 390 px phone (about 330 px for the chart) that is 12 px
# text, and on a computer the figure is never shown wider than 560 px (dashboard.css), so text stays under 21 px.
CHART_WIDTH, CHART_FONT = 360, 13
NUDGE_KIND = "teacher_nudge"  # audit action and locale section


def _local_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def whole_box(rows: list[tuple]) -> dict[str, float]:
    """The roll-up's whole-box metrics (course 0, no class) out of rollups.compute's rows."""
    return {metric: value for _d, course_id, cohort, metric, value in rows if course_id == 0 and cohort == ""}


def _minute(conn, now: datetime, tz: str, scope: tuple[str, list]) -> dict:
    """What is read once a minute: the whole box's part and the learners at risk within `scope` (the bench's)."""
    return {**_box_minute(conn, now, tz), **_risk_minute(conn, now, tz, scope)}


def _box_minute(conn, now: datetime, tz: str) -> dict:
    """The once-a-minute figures every teacher shares (they name nobody): today's (and, until the nightly roll-up
    has run, yesterday's) figures, computed as the roll-up will, learners by streak and the last 7 days' outbound."""
    today = _local_today(now, tz)
    week_ago = (now - timedelta(days=7)).isoformat()
    found = {
        "today": whole_box(rollups.compute(conn, today, tz, groups=False)),
        "as_of": now.isoformat(),
        "streaks": stats.streak_distribution(conn),
        "outbox": stats.outbox_by_status(conn, week_ago),
        "failed_codes": [dict(row) for row in stats.failed_codes(conn, week_ago)],  # kept in diskcache: no Rows
    }
    yesterday = (today - timedelta(days=1)).isoformat()
    has_yesterday = conn.execute(
        "SELECT 1 FROM daily_stats WHERE date = ? AND course_id = 0 AND cohort = '' LIMIT 1", (yesterday,)
    ).fetchone()
    if not has_yesterday:
        found["yesterday"] = whole_box(rollups.compute(conn, today - timedelta(days=1), tz, groups=False))
    return found


def _risk_minute(conn, now: datetime, tz: str, scope: tuple[str, list]) -> dict:
    """The learners at risk a teacher may see: the only once-a-minute figure that depends on their classes."""
    return {"as_of": now.isoformat(), "at_risk": board.at_risk(conn, now, _local_today(now, tz).isoformat(), scope)}


def _load(conn, now: datetime, tz: str, scope: tuple[str, list]) -> dict:
    today = _local_today(now, tz)
    dates = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
    group_start = (today - timedelta(days=GROUP_DAYS)).isoformat()
    group_end = (today - timedelta(days=1)).isoformat()
    courses, classes = board.rollup_by_group(conn, group_start, group_end)
    return {
        "counts": stats.live_counts(conn, now),
        "dates": dates,
        "series": stats.daily_series(conn, dates[0], dates[-1]),
        "courses": courses,
        "classes": classes,
    }


def refreshing(app) -> dict[str, asyncio.Task]:
    """The app's background reads under way, by cache key (one each): per app, not module state."""
    return vars(app.ctx).setdefault("dashboard_refreshing", {})


async def _once_a_minute(app, key: str, now: datetime, fn, *args) -> dict:
    """`fn(conn, *args)`'s dict (with "as_of") from the cache; read on a read connection when there is none, and
    read again in the background, for the next visit, when it is older than MINUTE_SECONDS."""
    services, under_way = app.ctx.services, refreshing(app)
    found = services.cache.get(key)
    if not isinstance(found, dict):
        found = await _read_now(services, key, fn, *args)
    elif datetime.fromisoformat(found["as_of"]) <= now - timedelta(seconds=MINUTE_SECONDS) and key not in under_way:
        task = asyncio.ensure_future(_read_now(services, key, fn, *args))
        under_way[key] = task
        task.add_done_callback(lambda done: _refreshed(under_way, key, done))
    return found


def _refreshed(under_way: dict, key: str, task: asyncio.Task) -> None:
    under_way.pop(key, None)
    if not task.cancelled() and task.exception() is not None:  # the next visit reads them again; say why it failed
        log.warning("dashboard figures not read again", exc_info=task.exception(), extra={"key": key})


async def _read_now(services, key: str, fn, *args) -> dict:
    found = await services.db.read(fn, *args)
    services.cache.set(key, found, expire=STALE_SECONDS)
    return found


def _minute_key(now: datetime, tz: str, scope: tuple[str, list] | None) -> str:
    """The cache key of the whole box's once-a-minute figures (scope None) or of a scope's learners at risk."""
    day = _local_today(now, tz).isoformat()
    return f"admin:dashboard-minute:{day}" if scope is None else f"admin:dashboard-risk:{day}:{scope[0]}:{scope[1]}"


async def _read_minute(app, now: datetime, tz: str, scope: tuple[str, list], looked: dict | None = None) -> dict:
    services = app.ctx.services
    if looked is not None:  # the warmer keeps this scope's list fresh from now on (for an hour after the visit)
        looked[(scope[0], tuple(scope[1]))] = now
    # The box's part is shared by every teacher (and kept warm); only the at-risk list is read per scope.
    box, risk = await asyncio.gather(
        _once_a_minute(app, _minute_key(now, tz, None), now, _box_minute, now, tz),
        _once_a_minute(app, _minute_key(now, tz, scope), now, _risk_minute, now, tz, scope),
    )
    found = {**box, "at_risk": risk["at_risk"]}
    listed = found["at_risk"]
    rows = listed["silent"] + listed["failing"]
    today = _local_today(now, tz).isoformat()
    nudged = await services.db.read(board.nudged_on, [r["id"] for r in rows], today)
    for row in rows:
        row["nudged"] = row["id"] in nudged
    return found


WARM_SECONDS = 50  # the warmer's round: under MINUTE_SECONDS, so a visit finds figures read within the minute
WARM_FOR = timedelta(hours=1)  # a scope nobody has looked at for this long is no longer kept warm


async def keep_warm(app) -> None:
    """Read the once-a-minute figures (today's, at risk, streaks, outbox: ~130-200 ms at 100,000 learners) every
    WARM_SECONDS in the background, for the whole box and each scope a teacher looked at in the last hour, so no
    teacher waits for them, not even the first of the day (issue #16: < 200 ms). On a read connection: a learner's
    turn never waits for it."""
    services = app.ctx.services
    looked: dict[tuple, datetime] = app.ctx.dashboard_scopes
    await asyncio.sleep(1)  # after the start-up work; a process stopped at once (tests) never reads
    while True:
        now = services.clock.now()
        tz = services.settings.org.default_timezone
        try:
            await _read_now(services, _minute_key(now, tz, None), _box_minute, now, tz)
            for key, seen in list(looked.items()):
                if seen is not None and now - seen > WARM_FOR:
                    looked.pop(key, None)
                    continue
                scope = (key[0], list(key[1]))
                await _read_now(services, _minute_key(now, tz, scope), _risk_minute, now, tz, scope)
        except Exception:  # noqa: BLE001 - a bad moment (a locked file): the next round, or a visit, reads them
            log.warning("dashboard figures not kept warm", exc_info=True)
        await asyncio.sleep(WARM_SECONDS)


def start_warmer(app) -> None:
    """Keep the whole box's figures warm from the start; a teacher's class scope joins when they look."""
    everyone = scope_for({"role": "owner"}).sql("learners.id")
    app.ctx.dashboard_scopes = {(everyone[0], tuple(everyone[1])): None}  # None: always kept warm
    app.ctx.dashboard_warmer = asyncio.ensure_future(keep_warm(app))


async def stop_warmer(app) -> None:
    task = getattr(app.ctx, "dashboard_warmer", None)
    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        app.ctx.dashboard_warmer = None


def day_labels(dates: list[str], locale) -> list[str]:
    """ "2 Mar" in the organisation's language, the last one "Today"."""
    labels = [format_date(date.fromisoformat(d), "d MMM", locale=locale) for d in dates]
    return [*labels[:-1], "Today"]


@bp.get("/")
@sec.admin_view("viewer")
async def dashboard(request: Request):
    services = request.app.ctx.services
    settings = services.settings
    tz = settings.org.default_timezone
    now = services.clock.now()
    learner_scope = scope_for(request.ctx.admin)
    scope = learner_scope.sql("learners.id")
    # On read connections (never the writer a learner's turn waits for), side by side: the page waits for the
    # slowest, not their sum (issue #16: < 200 ms at 100,000 learners even when nothing is cached yet).
    data, live, cost_line = await asyncio.gather(
        services.db.read(_load, now, tz, scope),
        _read_minute(request.app, now, tz, scope, getattr(request.app.ctx, "dashboard_scopes", None)),
        _cost_line(request, now, tz),
    )
    for part in ("streaks", "outbox", "failed_codes"):
        data[part] = live[part]
    # A teacher limited to classes compares their own classes (the roll-up counts each learner in their main class).
    data["classes"] = [c for c in data["classes"] if learner_scope.allows_class(c["cohort"])]
    dates, series = data["dates"], data["series"]
    for metric, value in live["today"].items():  # today: live, not the (not yet written) roll-up
        if metric in series:
            series[metric][dates[-1]] = value
    for metric, value in live.get("yesterday", {}).items():
        if metric in series:
            series[metric].setdefault(dates[-2], value)
    times = times_of(request)
    labels = day_labels(dates, times.locale)

    def values(metric: str) -> list[float]:
        return [series[metric].get(d, 0) for d in dates]

    def chart(title: str, named: dict[str, Sequence[float]], **kw):
        return charts.bars(title, labels, named, width=CHART_WIDTH, font_size=CHART_FONT, x_labels=5, **kw)

    figures = {
        "active": chart("Active learners per day", {"active": values("active_learners")}, whole=True),
        "lessons": chart(
            "Lessons delivered and completed per day",
            {"delivered": values("lessons_delivered"), "completed": values("lessons_completed")},
            whole=True,
        ),
        "quiz": chart(
            "Average quiz score per day", {"quiz average": values("quiz_average")}, unit="%", colors=("#009E73",)
        ),
        "messages": chart(
            "Messages per day",
            {
                "sent": values("messages_sent"),
                "delivered": values("messages_delivered"),
                "failed": values("messages_failed"),
            },
            colors=("#0072B2", "#009E73", "#a4161a"),
            whole=True,
        ),
        "optouts": chart("Opt-outs (STOP) per day", {"opt-outs": values("opt_outs")}, colors=("#D55E00",), whole=True),
        "streaks": charts.hbars(
            "Learners by current streak", data["streaks"], width=CHART_WIDTH, font_size=CHART_FONT, label_width=70
        ),
        "outbox": charts.hbars(
            "Outbound messages in the last 7 days by status",
            data["outbox"],
            highlight=("failed", "undelivered"),
            width=CHART_WIDTH,
            font_size=CHART_FONT,
            label_width=100,
        ),
    }
    totals = {m: sum(v for d, v in series[m].items() if d >= dates[0]) for m in series}
    # Which charts have anything to show (a row of zeros is no figure: the empty state says why instead).
    shown = {
        "active": totals["active_learners"] > 0,
        "lessons": totals["lessons_delivered"] + totals["lessons_completed"] > 0,
        "quiz": totals["lessons_completed"] > 0,
        "messages": totals["messages_sent"] + totals["messages_failed"] > 0,
        "optouts": totals["opt_outs"] > 0,
        "streaks": any(n for _, n in data["streaks"]),
    }
    return render(
        request,
        "dashboard.html",
        counts=data["counts"],
        today=live["today"],
        today_as_of=live["as_of"],
        figures=figures,
        shown=shown,
        totals=totals,
        cost_line=cost_line,
        # (lesson days, inside the window) of the last 30 days: the roll-up's days, today's (and yesterday's) live
        window=(int(totals["lesson_days"]), int(totals["lesson_days_in_window"])),
        failed_codes=data["failed_codes"],
        describe=lambda code: describe(settings, code),  # Twilio's or Meta's words for the code
        queue=queue_counts(services.huey),
        courses=data["courses"],
        classes=data["classes"],
        group_days=GROUP_DAYS,
        at_risk=live["at_risk"],
        at_risk_rules={
            "silent": board.SILENT_DAYS,
            "silent_until": board.SILENT_UNTIL_DAYS,
            "failed": board.FAILED_IN_A_ROW,
            "failing_days": board.FAILING_DAYS,
        },
        can_nudge=sec.role_at_least(request.ctx.admin["role"], "editor"),
        nudge_template=bool(template_sid(settings, "admin")),
    )


async def _cost_line(request: Request, now: datetime, tz: str):
    """The Costs page's headline, for the accounts that may read that page (None for the others): a month of
    messages, read from cost_totals (~20 ms at 5,000,000 messages), once a minute like today's figures."""
    services = request.app.ctx.services
    if not sec.role_at_least(request.ctx.admin["role"], costs.ROLE):
        return None
    language = services.settings.org.default_language
    key = f"admin:dashboard-costs:{costs.month_of(now, tz).first():%Y-%m}:{language}"
    return await _once_a_minute(request.app, key, now, _cost_headline, now, tz, language)


def _cost_headline(conn, now: datetime, tz: str, language: str) -> dict:
    return {**costs.headline(conn, now, tz, language), "as_of": now.isoformat()}


def nudge_text(services, learner, why: str) -> str:
    """The nudge in the learner's language (content/locales: [teacher_nudge] silent / failing)."""
    name = (learner["name"] or "").split(" ")[0] or "there"
    return Coach.of(services).texts.t(learner["language"], f"{NUDGE_KIND}.{why}", name=name)


@bp.post("/dashboard/nudge/<learner_id:int>")
@sec.admin_view("editor")
async def nudge(request: Request, learner_id: int):
    """One click on the at-risk list: a short message from the teacher, through the outbox like any teacher's
    message (now, whatever the hour; the admin template outside the 24-hour window). Once per learner per day:
    a double click (or a second teacher) finds the day's key taken and sends nothing more."""
    services = request.app.ctx.services
    why = request.form.get("why", "") if request.form else ""
    if why not in ("silent", "failing"):
        raise BadRequest("Choose a nudge from the dashboard's list of learners at risk (silent or failing).")
    scope = scope_for(request.ctx.admin).sql("learners.id")
    learner = await services.db.run(board.learner_in_scope, learner_id, scope)
    if learner is None:
        raise NotFound("No such learner (or not one of your classes).")
    if learner["opted_out"]:
        raise BadRequest("This learner sent STOP: WhatsApp rules forbid messaging them until they send START.")
    now = services.clock.now()
    today = _local_today(now, services.settings.org.default_timezone).isoformat()
    body = nudge_text(services, learner, why)
    draft, _ = teacher_message(learner, body, board.nudge_key(learner_id, today), now, services.settings, later=False)
    admin_id = request.ctx.admin["admin_id"]

    def enqueue(conn):
        with transaction(conn):
            message_id = enqueue_outbound(
                conn,
                learner_id=learner_id,
                channel=learner["channel"],
                address=learner["channel_key"],
                draft=draft,
                now=now,
            )
            if message_id is not None:  # the second click of a double click changes nothing
                admins.audit(
                    conn,
                    admin_id,
                    f"learner.{NUDGE_KIND}",
                    f"learner:{learner_id}",
                    now,
                    why=why,
                    message_id=message_id,
                )
        return message_id

    message_id = await services.db.run(enqueue)
    if message_id is None:
        return back("/admin/#at-risk-h", "nudged_already")
    events.publish(services, f"learner:{learner_id}", "outbox")
    if services.sender is not None:
        services.sender.kick()
    return back("/admin/#at-risk-h", "nudged")
