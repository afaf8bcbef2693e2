"""What the learner asks to see or say: HELP, PROGRESS, CERTIFICATE, ASK, greetings and free text."""

from __future__ import annotations

from dataclasses import replace

from coachbox.conversation.effects import AskTutor, IssueCertificate
from coachbox.conversation.turn import Turn
from coachbox.learning.grading import normalise
from coachbox.learning.progress import course_progress, quiz_average
from coachbox.learning.streaks import as_of


def help_menu(turn: Turn) -> None:
    turn.say("help.menu")
    if turn.rules.leaderboard:
        turn.append("help.leaderboard")


def progress(turn: Turn) -> None:
    learner = turn.learner
    streak = as_of(learner.streak, turn.today, turn.rules.lesson_days)
    lines = [
        turn.t("progress.title"),
        # A lapsed streak shows what is kept and what comes next, never a bare 0.
        turn.t(
            "progress.streak" if streak.current or not streak.best else "progress.streak_new",
            days=streak.current,
            best=streak.best,
            freezes=streak.freezes,
        ),
    ]
    for enrollment in learner.enrollments:
        course = turn.catalogue.course(enrollment.course_id)
        if course is None:
            continue
        done = course_progress(course, learner.results)
        lines.append(turn.t("progress.course", course=course.title, done=done.done, total=done.total))
    average = quiz_average(learner.results)
    lines.append(
        turn.t("progress.quiz_average", percent=average) if average is not None else turn.t("progress.no_quiz")
    )
    owned = [b for b in turn.catalogue.badges if b.code in learner.badges]
    if owned:
        lines.append(
            turn.t("progress.badges", badges=", ".join(f"{b.emoji} {b.name(turn.lang)}".strip() for b in owned))
        )
    else:
        lines.append(turn.t("progress.no_badges"))
    if turn.rules.leaderboard and learner.rank:
        lines.append(_board(turn))
    turn.send("\n".join(lines))


def leaderboard(turn: Turn) -> None:
    """LEADERBOARD / UBAO: this week's top 5 in the learner's group and their own place (when the school wants it)."""
    if not turn.rules.leaderboard:
        turn.say("leaderboard.off")
    elif not turn.learner.cohort or not turn.learner.rank:
        turn.say("leaderboard.no_group")
    else:
        turn.send(_board(turn))


def _board(turn: Turn) -> str:
    lines = [
        turn.t(
            "progress.rank_line",
            position=row.position,
            first=row.first_name,
            lessons=row.lessons,
            me=" ⬅️" if row.is_me else "",
        )
        for row in turn.learner.rank
    ]
    if len(lines) > 5:  # a sixth row is the learner's own, further down: the gap says so
        lines.insert(5, "…")
    return turn.t("progress.leaderboard", board="\n".join(lines))


def certificate(turn: Turn) -> None:
    learner = turn.learner
    lines: list[str] = []
    eligible = []
    for enrollment in learner.enrollments:
        course = turn.catalogue.course(enrollment.course_id)
        if course is None:
            continue
        done = course_progress(course, learner.results)
        if done.certificate_eligible:
            eligible.append((course, done.score))
            lines.append(turn.t("certificate.earned", course=course.title, score=done.score))
        else:
            lines.append(
                turn.t(
                    "certificate.toward",
                    course=course.title,
                    done=done.done,
                    total=done.total,
                    score=done.score,
                    passing=done.passing_score,
                )
            )
    if not lines:
        turn.say("certificate.none")
        return
    turn.send("\n".join([turn.t("certificate.title")] + lines))
    for course, score in eligible:
        turn.do(IssueCertificate(course.db_id, score))
    if eligible:
        turn.say("certificate.coming")


def ask(turn: Turn, question: str) -> None:
    if not question.strip():
        turn.say("ask.how")
        return
    turn.do(AskTutor(question.strip(), turn.state.lesson_id or turn.learner.last_lesson_id))
    turn.say("ask.sent", lesson=_lesson_title(turn))


def _lesson_title(turn: Turn) -> str:
    found = turn.find_lesson(turn.state.lesson_id or turn.learner.last_lesson_id)
    return found[1].title if found else "-"


def free_text(turn: Turn, said: str, media_count: int) -> None:
    """Anything outside a flow. Greetings and thanks get a warm word; questions go to the tutor seam.
    The menu comes with every second message in a row we could not act on, so nobody is left guessing."""
    words = normalise(said)
    if not words:
        turn.say("free.media" if media_count else "free.empty")
    elif turn.texts.is_word(turn.lang, "greetings", words) or words in {
        normalise(w) for w in turn.texts.all_words("greetings")
    }:
        streak = as_of(turn.learner.streak, turn.today, turn.rules.lesson_days).current
        turn.say("free.greeting_streak" if streak >= 2 else "free.greeting", days=streak)
        turn.state = replace(turn.state, confused=0)
        return
    elif turn.texts.is_word(turn.lang, "thanks", words):
        turn.say("free.thanks")
        turn.state = replace(turn.state, confused=0)
        return
    elif _looks_like_an_answer(turn, words):
        # "B", "2", "true" with no question open: they think a quiz is still running (it ended, or timed out).
        # Telling them beats sending one letter to the tutor (and spending its budget on it).
        turn.say("free.no_question_open")
    else:
        turn.do(AskTutor(said.strip()[:2000], turn.state.lesson_id or turn.learner.last_lesson_id))
        turn.say("free.to_teacher")
    confused = turn.state.confused + 1
    turn.state = replace(turn.state, confused=confused)
    if confused >= 2:
        turn.append("help.menu")
    else:
        turn.append("free.menu_hint")


def _looks_like_an_answer(turn: Turn, words: str) -> bool:
    """A lone choice letter or number, or a true/false word in any language."""
    if len(words) == 1 and (words.isdigit() or "a" <= words <= "f"):
        return True
    return words in {normalise(w) for w in (*turn.texts.all_words("true"), *turn.texts.all_words("false"))}
