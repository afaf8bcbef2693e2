"""Review (spaced repetition): questions due again are asked before the day's lesson, graded, then the lesson
(and on their own once the course is finished).

The service reads the due questions (learner.review) from review_items; each graded answer leaves as a
RecordReview effect whose rating (learning.review.rating) moves the question's FSRS card on
(coachbox.store.reviews.record_review).
"""

from __future__ import annotations

from dataclasses import replace

from coachbox.conversation import lessons, quiz
from coachbox.conversation.effects import FinishReview, RecordReview, StartReview
from coachbox.conversation.state import with_flow
from coachbox.conversation.turn import Turn
from coachbox.learning.course import Question
from coachbox.learning.grading import grade, normalise
from coachbox.learning.learner import Review
from coachbox.learning.progress import may_access
from coachbox.learning.review import rating


def close_stale(turn: Turn) -> bool:
    """At the next day's lesson time: a review left unanswered holds one lesson only, never a second day's. It is
    closed (its questions stay due: asked again another day); True when there was one."""
    stale = turn.learner.review.open_since
    if stale is None or stale == turn.today:
        return False
    turn.do(FinishReview(stale))
    turn.learner = replace(turn.learner, review=replace(turn.learner.review, open_since=None, asked=0))
    return True


def daily(turn: Turn) -> bool:
    """The daily lesson's turn (or the reply that releases a held one): with questions due, ask the first one and
    hold the lesson until the review is over (True); False: the lesson goes out as usual. The window is open
    here: outside it the daily event holds the whole day (lessons.hold) until the learner replies."""
    learner = turn.learner
    due = _due(turn)
    course = turn.course
    lesson = lessons.upcoming(turn, course)
    if not due or learner.opted_out or learner.status != "active" or course is None or not may_access(learner, course):
        return False
    if lesson is not None and lesson.questions and turn.rules.one_message:
        return False  # the quiz in one message: the lesson's message asks them, numbered first (quiz.start)
    if lesson is None and not lessons.window_open_at(learner, turn.now + lessons.FOLD_MARGIN):
        # The course is finished, yet its tricky questions still come back (that is when spaced repetition
        # matters most). With no lesson there is nothing to hold behind a nudge template, so only a learner the
        # window still lets us write to gets the review; the others get it on a day they have written.
        return False
    turn.do(StartReview(turn.today))
    turn.learner = replace(learner, review=replace(learner.review, open_since=turn.today, asked=0))
    turn.state = with_flow(turn.state, "review", options=())
    greeting, intro = (
        ("review.daily_greeting", "review.intro")
        if lesson is not None
        else ("review.finished_greeting", "review.finished_intro")
    )
    turn.send(f"{turn.t(greeting)}\n\n{turn.t(intro)}", kind="review")
    _ask(turn, due[0], append=True)
    return True


def answer(turn: Turn, said: str) -> None:
    """A reply during a review: graded like a quiz answer; unclear ones get a re-prompt, never a wrong mark."""
    due = _due(turn)
    if not due:
        _finish(turn, "review.done")
        return
    if turn.texts.is_word(turn.lang, "skip", normalise(said)):
        skip(turn)
        return
    question = due[0]
    result = grade(question, said, true_words=turn.texts.all_words("true"), false_words=turn.texts.all_words("false"))
    if result.verdict == "unclear":
        finished = lessons.upcoming(turn, turn.course) is None  # no lesson waits behind this review
        quiz.say_unclear(turn, question, again="review.finished_unclear_again" if finished else "review.unclear_again")
        return
    right = result.verdict == "correct"
    # A right answer after a re-prompt (an unclear reply first) is a retry: Hard (learning.review.rating).
    given = rating(right, helped=turn.state.unclear > 0)
    turn.do(RecordReview(question.db_id, given, turn.rules.desired_retention))
    start = len(turn.replies)
    turn.say(
        "quiz.correct" if right else "quiz.wrong",
        answer=quiz.right_answer(turn, question),
        explanation=question.explanation,
        kind="review",
    )
    review = turn.learner.review
    turn.learner = replace(
        turn.learner, review=replace(review, due=tuple(q.db_id for q in due[1:]), asked=review.asked + 1)
    )
    turn.state = with_flow(turn.state, "review")
    if len(due) > 1:
        _ask(turn, due[1], append=True)
    else:
        _finish(turn, "review.done")
        if turn.rules.lean_days:
            turn.fold(start)  # the last feedback, "review done" and the lesson in one message where they fit


def skip(turn: Turn) -> None:
    """SKIP or NEXT in a review: the rest waits for another day (no wrong mark), the held lesson comes now."""
    _finish(turn, "review.skipped")


def reprompt(turn: Turn) -> None:
    """Show the review question again (after HELP or PROGRESS in the middle of a review)."""
    due = _due(turn)
    if due:
        turn.append("review.still_waiting")
        _ask(turn, due[0])


def _finish(turn: Turn, key: str) -> None:
    """The review is over: the lesson it held follows, as that day's daily lesson."""
    learner = turn.learner
    held = learner.review.open_since
    turn.state = with_flow(turn.state, "idle", options=())
    if held is not None:
        turn.do(FinishReview(held))
    turn.learner = replace(learner, review=Review())
    course = turn.course
    lesson = lessons.upcoming(turn, course)
    if (
        held is None
        or learner.opted_out
        or learner.status != "active"
        or course is None
        or lesson is None
        or not may_access(learner, course)
    ):
        turn.say(f"{key}_only", kind="review")  # paused, stopped or nothing left to learn: no lesson follows
        return
    lessons.deliver(turn, course, lesson, kind="daily_lesson", key=held, greeting=turn.t(key), fold_invite=True)


def _ask(turn: Turn, question: Question, *, append: bool = False) -> None:
    review = turn.learner.review
    total = review.asked + len(_due(turn))
    text, options = quiz.question_text(
        turn, question, review.asked + 1, max(total, review.asked + 1), head="review.question"
    )
    if append and turn.replies:
        last = turn.replies[-1]
        turn.replies[-1] = replace(last, text=f"{last.text}\n\n{text}", kind="review", options=options)
    else:
        turn.send(text, kind="review", options=options)


def _due(turn: Turn) -> tuple[Question, ...]:
    """The learner's due questions that are still in the catalogue, in order (a removed question is passed over)."""
    wanted = turn.learner.review.due
    if not wanted:
        return ()
    found: dict[int, Question] = {}
    for course in turn.catalogue.courses:
        for lesson in course.lessons:
            for question in lesson.questions:
                if question.id in wanted:
                    found[question.id] = question
    return tuple(found[i] for i in wanted if i in found)
