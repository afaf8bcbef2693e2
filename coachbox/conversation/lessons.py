"""Lesson delivery (first, daily, NEXT with its daily cap), the course menu and switching courses."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from coachbox.content.markup import MESSAGE_LIMIT, lesson_text, split_message
from coachbox.conversation import quiz
from coachbox.conversation.effects import (
    Enroll,
    HoldLesson,
    MoveToTranslation,
    RecordDelivery,
    ScheduleQuiz,
    SettleHeldLesson,
)
from coachbox.conversation.premium import paywall
from coachbox.conversation.state import with_flow
from coachbox.conversation.turn import Reply, Turn
from coachbox.learning.backoff import may_prompt
from coachbox.learning.course import Course, Lesson
from coachbox.learning.grading import damerau_levenshtein, normalise
from coachbox.learning.learner import Enrollment, Learner
from coachbox.learning.progress import course_progress, may_access
from coachbox.learning.timing import hhmm, keep_open, local_instant


def upcoming(turn: Turn, course: Course | None) -> Lesson | None:
    """The next lesson of a course for this learner (None when every lesson has been delivered)."""
    # A daily turn asks this three times of the same snapshot (hold, review, the lesson): the answer is kept on the
    # turn for that very (immutable) snapshot and course object; the objects it holds keep their ids unique.
    last = turn.memo.get("upcoming")
    if last is not None and last[0] is turn.learner and last[1] is course:
        return last[2]
    lesson = next_lesson(turn.learner, course)
    turn.memo["upcoming"] = (turn.learner, course, lesson)
    return lesson


def next_lesson(learner: Learner, course: Course | None) -> Lesson | None:
    """upcoming() for a learner snapshot: the service looks up that lesson's personalised text before the turn."""
    if course is None:
        return None
    enrollment = learner.enrollment(course.id)
    position = enrollment.next_position if enrollment else 1
    return next((lesson for lesson in course.lessons if lesson.position >= position), None)


def deliver_next(turn: Turn, *, kind: str, key: str | None = None) -> bool:
    """Send the current course's next lesson; False (and a friendly word) when there is none."""
    course = turn.course
    lesson = upcoming(turn, course)
    if course is None:
        turn.say("lesson.no_course")
        return False
    if lesson is None:
        turn.say("lesson.course_done", course=course.title)
        return False
    if not may_access(turn.learner, course):
        paywall(turn, course)
        return False
    deliver(turn, course, lesson, kind=kind, key=key or f"{turn.today}:{lesson.id}")
    return True


def deliver(
    turn: Turn,
    course: Course,
    lesson: Lesson,
    *,
    kind: str,
    key: str,
    greeting: str | None = None,
    fold_invite: bool = False,
) -> None:
    """greeting: a line folded into the lesson's first message; fold_invite: the quiz invitation goes at the end
    of the lesson's last message when it fits (the daily lesson is then one WhatsApp message, not three)."""
    minutes = turn.rules.quiz_followup_minutes
    lean = turn.rules.lean_days and bool(lesson.questions)
    parts, invite = _lesson_messages(turn, course, lesson, minutes, fold_invite and not lean)
    if greeting:
        parts = (*split_message(f"{greeting}\n\n{parts[0]}"), *parts[1:]) if parts else (greeting,)
    if invite and parts and len(parts[-1]) + 2 + len(invite) <= MESSAGE_LIMIT:
        parts, invite = (*parts[:-1], f"{parts[-1]}\n\n{invite}"), ""  # folded into the lesson's last message
    for index, part in enumerate(parts):
        media = f"media/{lesson.media}" if lesson.media and index == 0 else None
        turn.send(part, kind="lesson", media=media)
    turn.do(RecordDelivery(lesson.db_id, course.db_id, lesson.position + 1, kind=kind, key=key))
    # One copy of the learner snapshot for both changes: it is large, and a fan-out copies it per learner.
    note_enrollment(turn, course.db_id, next_position=lesson.position + 1, last_lesson_id=lesson.id)
    if not lesson.questions:
        turn.state = with_flow(turn.state, "idle", lesson_id=lesson.id, question=0, answers=())
        quiz.finish(turn, course, lesson, ())
        return
    if lean:
        # Lean day (docs/conversation.md): the quiz starts with the lesson, its first question folded into the
        # lesson's last message when both fit in one WhatsApp message, else a message of its own right after it.
        # No invitation to wait for, no follow-up quiz: one message in and out fewer.
        last = len(turn.replies) - 1
        turn.state = with_flow(turn.state, "lesson", lesson_id=lesson.id, question=0, answers=())
        # The quiz in one message ([learning] quiz_style): the day's due review questions come in it, numbered first.
        reviews = turn.learner.review.due if kind == "daily_lesson" and turn.rules.one_message else ()
        quiz.start(turn, lesson.id, reviews=reviews)
        turn.fold(last)
        return
    if not fold_invite:
        turn.say(
            "lesson.quiz_invite", count=len(lesson.questions), minutes=minutes, options=(turn.words("quiz")[0].upper(),)
        )
    elif invite:  # too long to fold: a message of its own, sent right after the lesson
        turn.send(invite, kind="lesson", options=(turn.words("quiz")[0].upper(),))
    turn.do(ScheduleQuiz(lesson.db_id, turn.now + timedelta(minutes=minutes)))
    turn.state = with_flow(turn.state, "lesson", lesson_id=lesson.id, question=0, answers=())


def note_enrollment(turn: Turn, course_id: int, *, next_position: int | None = None, **changes) -> None:
    """Keep the turn's learner snapshot in step with Enroll / RecordDelivery effects (and other `changes` to it)."""
    learner = turn.learner
    enrollments = learner.enrollments
    current = learner.enrollment(course_id)
    if current is None:
        enrollments = (*enrollments, Enrollment(course_id, next_position=next_position or 1))
    elif next_position is not None and next_position > current.next_position:
        moved = Enrollment(current.course_id, current.status, next_position)
        enrollments = tuple(moved if e is current else e for e in enrollments)
    turn.learner = learner.evolve(enrollments=enrollments, **changes)


def next_now(turn: Turn) -> None:
    """NEXT: a lesson right away, at most daily_next_cap times per local day."""
    today = turn.today
    taken = turn.learner.next_taken_count if turn.learner.next_taken_date == today else 0
    if taken >= turn.rules.daily_next_cap:
        turn.say("lesson.cap_reached", cap=turn.rules.daily_next_cap, time=turn.learner.lesson_time)
        return
    if deliver_next(turn, kind="next_lesson"):
        turn.update(next_taken_date=today, next_taken_count=taken + 1)


def daily(turn: Turn, *, greeting: str = "lesson.daily_greeting") -> bool:
    """The daily lesson (greeting, lesson and quiz invitation in one message), for active learners who have not
    opted out; False when there is nothing to send. The window is hold()'s business: here it is open."""
    course, lesson = _daily_lesson(turn)
    if course is None or lesson is None:
        return False
    deliver(turn, course, lesson, kind="daily_lesson", key=turn.today, greeting=turn.t(greeting), fold_invite=True)
    return True


def hold(turn: Turn) -> bool:
    """The daily event when WhatsApp's window will not stay open: hold the lesson and send one nudge instead
    (the lesson_nudge template outside the window: "your lesson is ready, reply to get it"), or none when the
    silent learner's back-off says not today (learning.backoff). True when held.

    Nothing of the lesson is written now: the turn on the learner's reply decides it (release), as the daily
    event would have, so it is never sent twice, never lost in a waiting row, and never stale."""
    course, lesson = _daily_lesson(turn)
    if lesson is None or window_open_at(turn.learner, turn.now + _keep_open(turn)):
        return False
    held = turn.learner.held
    if held is not None and held != turn.today:
        turn.do(SettleHeldLesson(held, "skipped_unanswered"))  # never two lessons at once when they reply
    # A learner who does not write back gets fewer nudges, then none (learning.backoff, shared with reminders):
    # on the other days the lesson is held all the same, without a word, and their next message brings it.
    rules, prompts = turn.rules, turn.learner.prompts
    nudge = may_prompt(turn.today, prompts, daily_days=rules.prompt_daily_days, gaps=rules.prompt_gaps)
    turn.do(HoldLesson(turn.today, lesson.db_id, nudge=nudge))
    turn.learner = replace(turn.learner, held=turn.today, prompts=prompts.after(turn.today) if nudge else prompts)
    if nudge:
        turn.replies.append(
            Reply(
                turn.t("lesson.nudge", lesson=lesson.title),
                kind="nudge",
                template=NUDGE_TEMPLATE,
                variables=(turn.learner.first_name, lesson.title),
            )
        )
    return True


def settle_held(turn: Turn, status: str) -> None:
    """The held lesson, if any, is over: done (released), skipped_unanswered or cancelled."""
    if turn.learner.held is not None:
        turn.do(SettleHeldLesson(turn.learner.held, status))
        turn.learner = replace(turn.learner, held=None)


def hold_released(turn: Turn) -> bool:
    """The learner replied to a nudge: settle the held lesson as done (True), or cancelled when there is no longer
    a lesson to send (paused, course finished, access ended: False, and the message is handled as usual)."""
    _, lesson = _daily_lesson(turn)
    settle_held(turn, "done" if lesson is not None else "cancelled")
    return lesson is not None


def _daily_lesson(turn: Turn) -> tuple[Course | None, Lesson | None]:
    learner = turn.learner
    if learner.opted_out or learner.status != "active":
        return None, None
    # Asked by hold() then daily() of the same snapshot: kept on the turn for that snapshot and catalogue.
    last = turn.memo.get("daily")
    if last is not None and last[0] is learner and last[1] is turn.catalogue:
        return last[2]
    course = turn.course
    lesson = upcoming(turn, course)
    found = (None, None) if course is None or lesson is None or not may_access(learner, course) else (course, lesson)
    turn.memo["daily"] = (learner, turn.catalogue, found)
    return found


NUDGE_TEMPLATE = "lesson_nudge"  # [twilio.templates] key; ContentVariables {"1": first name, "2": lesson title}
# WhatsApp takes free-form messages only within 24 hours of the learner's last message. The daily lesson's
# rows are sent later than they are written (a 100,000-learner fan-out drains in ~21 minutes at 80 messages/s),
# so the lesson goes out only when the window is still open well after now; otherwise it is held (hold()).
WINDOW = timedelta(hours=24)
FOLD_MARGIN = keep_open(lean=False)  # 2 hours: the follow-up quiz comes 30 minutes after the lesson
LEAN_KEEP_OPEN = keep_open(lean=True)  # 30 minutes: a 100,000-learner fan-out drains in ~21
EARLY_KEEP_OPEN = timedelta(minutes=5)  # an early lesson is sent at least 15 minutes before the window closes


def _keep_open(turn: Turn) -> timedelta:
    """How long the window must stay open for the daily lesson to go now: FOLD_MARGIN (the follow-up quiz comes
    30 minutes after the lesson), or on lean days only the fan-out's drain (LEAN_KEEP_OPEN: the quiz starts in the
    lesson, and each answer reopens the window); for a lesson the scheduler sends early, before today's lesson
    time, because the window closes soon (learning.timing.early_lesson_at, at least 15 minutes before it closes),
    a few minutes."""
    learner = turn.learner
    # The same for every learner of a batch in one zone with one lesson time (and asked for each one).
    return turn.kept(("keep_open", turn.now, learner.lesson_time, learner.timezone), lambda: _margin(turn))


def _margin(turn: Turn) -> timedelta:
    learner = turn.learner
    due = local_instant(date.fromisoformat(turn.today), hhmm(learner.lesson_time), learner.timezone)
    if turn.now < due:
        return EARLY_KEEP_OPEN
    return LEAN_KEEP_OPEN if turn.rules.lean_days else FOLD_MARGIN


def window_open_at(learner, when) -> bool:
    last = learner.last_inbound_at
    return bool(last) and datetime.fromisoformat(last) + WINDOW > when


def _lesson_messages(
    turn: Turn, course: Course, lesson: Lesson, minutes: int, fold_invite: bool
) -> tuple[tuple[str, ...], str]:
    """A lesson's messages with their header, and the quiz invitation to fold in ("" for none): the same for every
    learner on that lesson in that language, so a fan-out makes them once a batch (unless a locale's header or
    invitation names the learner: then every time)."""
    key = ("lesson_messages", id(lesson), turn.lang, len(course.lessons), minutes, fold_invite)
    return turn.common(key, lambda t: _make_messages(t, course, lesson, minutes, fold_invite))


def _make_messages(
    turn: Turn, course: Course, lesson: Lesson, minutes: int, fold_invite: bool
) -> tuple[tuple[str, ...], str]:
    header = turn.t("lesson.header", number=lesson.position, total=len(course.lessons), minutes=lesson.minutes)
    parts = tuple(split_message(f"{header}\n{lesson_text(lesson.title, lesson.body)}"))
    invite = ""
    if fold_invite and lesson.questions:
        invite = turn.t("lesson.quiz_invite", count=len(lesson.questions), minutes=minutes)
    return parts, invite


def course_menu(turn: Turn, courses: tuple[Course, ...]) -> str:
    lines = []
    for number, course in enumerate(courses, start=1):
        progress = course_progress(course, turn.learner.results)
        mark = "✅ " if progress.complete else ("▶️ " if course.id == turn.learner.current_course_id else "")
        premium = f" {turn.t('courses.premium_mark')}" if course.premium else ""
        lines.append(
            turn.t(
                "courses.line",
                number=number,
                mark=mark,
                course=course.title,
                lessons=len(course.lessons),
                premium=premium,
            )
        )
    return "\n".join(lines)


def pick_course(turn: Turn, said: str) -> Course | None:
    """A course from the numbered list on screen: by number or by (nearly) its title."""
    offered = [c for c in (turn.catalogue.course(i) for i in turn.state.options) if c is not None]
    answer = normalise(said)
    if answer.isdigit():
        index = int(answer)
        return offered[index - 1] if 1 <= index <= len(offered) else None
    for course in offered:
        title = normalise(course.title)
        if answer and (
            answer == title
            or answer == normalise(course.slug)
            or (len(answer) >= 4 and (title.startswith(answer) or damerau_levenshtein(answer, title, 2) <= 2))
        ):
            return course
    return None


def show_courses(turn: Turn) -> None:
    offered = turn.courses_offered()
    if not offered:
        turn.say("onboarding.no_courses")
        return
    turn.state = with_flow(
        turn.state, "choose_course", options=tuple(c.id for c in offered), return_flow=_resting(turn)
    )
    turn.say("courses.menu", menu=course_menu(turn, offered), options=tuple(str(i) for i in range(1, len(offered) + 1)))


def choose_course(turn: Turn, said: str) -> bool:
    """Switch to the picked course; False when the answer is not a course on the list."""
    course = pick_course(turn, said)
    if course is None:
        return False
    enrollment = turn.learner.enrollment(course.id)
    if enrollment is None:
        turn.do(Enroll(course.db_id))
        note_enrollment(turn, course.db_id)
    elif enrollment.status == "dropped":  # left it (an admin moved them on): back to it, at the same place
        turn.do(Enroll(course.db_id))
        enrollments = tuple(replace(e, status="active") if e is enrollment else e for e in turn.learner.enrollments)
        turn.learner = turn.learner.evolve(enrollments=enrollments)
    changes: dict = {"current_course_id": course.id}
    if turn.learner.status == "finished":
        changes["status"] = "active"
    turn.update(**changes)
    turn.state = with_flow(turn.state, "idle", options=(), lesson_id=turn.learner.last_lesson_id)
    lesson = upcoming(turn, course)
    if lesson is None:
        turn.say("courses.already_done", course=course.title)
    else:
        turn.say("courses.switched", course=course.title, lesson=lesson.title, time=turn.learner.lesson_time)
    return True


def move_to_translation(turn: Turn, course: Course, target: Course) -> None:
    """LANGUAGE: carry on the same course in the new language, at the same lesson, with the progress so far.
    Lessons and questions are matched by position (translated folders keep the original's numbering)."""
    by_position = {lesson.position: lesson for lesson in target.lessons}
    lesson_map: dict[int, int] = {}
    question_map: list[tuple[int, int]] = []
    for lesson in course.lessons:
        twin = by_position.get(lesson.position)
        if twin is None:
            continue
        lesson_map[lesson.db_id] = twin.db_id
        twin_questions = {q.position: q.db_id for q in twin.questions}
        question_map += [
            (q.db_id, twin_questions[q.position]) for q in lesson.questions if q.position in twin_questions
        ]
    turn.do(MoveToTranslation(course.db_id, target.db_id, tuple(lesson_map.items()), tuple(question_map)))
    learner = turn.learner
    old, new = learner.enrollment(course.id), learner.enrollment(target.id)
    enrollments = [e for e in learner.enrollments if e.course_id not in (course.id, target.id)]
    kept = old or new
    if kept is not None:
        merged = replace(
            kept, course_id=target.db_id, next_position=max(e.next_position for e in (old, new) if e is not None)
        )
        enrollments.append(merged)
    done = {r.lesson_id for r in learner.results}
    results = tuple(
        replace(r, lesson_id=lesson_map[r.lesson_id], course_id=target.db_id)
        if r.lesson_id in lesson_map and lesson_map[r.lesson_id] not in done
        else r
        for r in learner.results
    )
    last = learner.last_lesson_id
    turn.learner = replace(
        learner,
        enrollments=tuple(enrollments),
        results=results,
        last_lesson_id=lesson_map.get(last, last) if last is not None else None,
    )
    turn.update(current_course_id=target.id)
    if turn.state.lesson_id in lesson_map:  # a lesson or quiz in progress goes on in the new language
        turn.state = replace(turn.state, lesson_id=lesson_map[turn.state.lesson_id])
    progress = course_progress(target, turn.learner.results)
    following = upcoming(turn, target)
    if following is None:
        turn.append("language.course_moved_done", course=target.title, total=progress.total)
    else:
        turn.append(
            "language.course_moved",
            course=target.title,
            done=progress.done,
            total=progress.total,
            lesson=following.title,
        )


def _resting(turn: Turn) -> str:
    """The flow to come back to after a side question (a quiz in progress is not lost)."""
    flow = turn.state.flow
    return flow if flow in ("lesson", "quiz", "review") else "idle"
