"""Quizzes: one question at a time or all in one message, feedback, a score, then streaks, badges and course completion."""

from __future__ import annotations

from dataclasses import replace

from coachbox.conversation.effects import (
    AskTutor,
    AwardBadge,
    CompleteCourse,
    CompleteLesson,
    FinishReview,
    IssueCertificate,
    RecordAnswer,
    RecordReview,
    StartQuiz,
    StartReview,
)
from coachbox.conversation.quizmessage import Item, answered, block, example, find_questions, items, marks, numbers_text
from coachbox.conversation.state import QUIZ_REVIEW, State, with_flow
from coachbox.conversation.turn import Turn
from coachbox.learning.badges import Achievement, new_badges
from coachbox.learning.course import Course, Lesson, Question
from coachbox.learning.grading import grade
from coachbox.learning.learner import Enrollment, Review
from coachbox.learning.progress import (
    LessonResult,
    course_progress,
    needed_to_pass,
    passed,
    percent,
    retry_questions,
    retry_score,
)
from coachbox.learning.quizreply import read_answers
from coachbox.learning.review import rating
from coachbox.learning.streaks import record_completion

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def target_lesson(turn: Turn) -> int | None:
    """The lesson QUIZ means: the one on offer or in progress, else the latest delivered one."""
    return turn.state.lesson_id or turn.learner.last_lesson_id


def start(turn: Turn, lesson_id: int | None, *, intro: str = "quiz.intro", reviews: tuple[int, ...] = ()) -> None:
    """Start a lesson's quiz (a retry of the questions missed after a failed one). reviews: due review question ids
    asked in the same message, numbered first (the daily lesson, when the quiz comes in one message)."""
    found = turn.find_lesson(lesson_id)
    if found is None:
        turn.say("quiz.no_lesson")
        return
    course, lesson = found
    if not lesson.questions:
        turn.say("quiz.no_questions", lesson=lesson.title)
        return
    # After a failed quiz, QUIZ asks only the questions missed (docs/conversation.md, "Retrying a failed quiz").
    result = turn.learner.result(lesson.id)  # none, for a lesson delivered today: no list of ids to make
    retry = retry_questions(result, [q.id for q in lesson.questions]) if result is not None else ()
    turn.do(StartQuiz(lesson.db_id))
    turn.state = with_flow(turn.state, "quiz", lesson_id=lesson.id, question=0, answers=(), options=(), retry=retry)
    if turn.rules.one_message:
        _start_one_message(turn, course, lesson, retry, reviews, intro)
        return
    if retry:
        total = len(lesson.questions)
        turn.say(
            "quiz.retry_intro",
            lesson=lesson.title,
            count=len(retry),
            total=total,
            correct=total - len(retry),
            needed=needed_to_pass(total, course.passing_score),
        )
        ask(turn, lesson, 0, append=True)
        return
    # The intro and the first question: the same for every learner on this lesson in this language, so a fan-out
    # makes them once a batch (Turn.common).
    text, options = turn.common(("quiz_opening", id(lesson), turn.lang, intro), lambda t: _opening(t, lesson, intro))
    turn.send(text, kind="quiz", options=options)


def _opening(turn: Turn, lesson: Lesson, intro: str) -> tuple[str, tuple[str, ...]]:
    """A quiz's intro with its first question in one message (what ask() appends to it), and the options."""
    text, options = question_text(turn, lesson.questions[0], 1, len(lesson.questions))
    return f"{turn.t(intro, lesson=lesson.title, count=len(lesson.questions))}\n\n{text}", options


def asked(state: State, lesson: Lesson) -> tuple[Question, ...]:
    """The questions this attempt asks, in order: the whole quiz, or on a retry only those missed before."""
    if not state.retry:
        return lesson.questions
    by_id = {q.id: q for q in lesson.questions}
    return tuple(by_id[i] for i in state.retry if i in by_id)


def ask(turn: Turn, lesson: Lesson, index: int, *, append: bool = False) -> None:
    questions = asked(turn.state, lesson)
    question = questions[index]
    text, options = question_text(turn, question, index + 1, len(questions))
    if append and turn.replies:
        last = turn.replies[-1]
        turn.replies[-1] = last.evolve(text=f"{last.text}\n\n{text}", kind="quiz", options=options)
    else:
        turn.send(text, kind="quiz", options=options)


def question_text(
    turn: Turn, question: Question, number: int, total: int, *, head: str = "quiz.question"
) -> tuple[str, tuple[str, ...]]:
    """A question as one message, with how to answer it, and its quick-reply options (quizzes and reviews)."""
    head = turn.t(head, number=number, total=total, prompt=question.prompt)
    if question.kind == "choice":
        letters = LETTERS[: len(question.choices)]
        lines = "\n".join(f"*{letter}* {choice}" for letter, choice in zip(letters, question.choices))
        how = turn.t("quiz.how_choice", letters=_or_list(turn, list(letters)))
        return f"{head}\n\n{lines}\n\n{how}", tuple(letters)
    if question.kind == "true_false":
        yes, no = turn.t("quiz.true_word"), turn.t("quiz.false_word")
        return f"{head}\n\n{turn.t('quiz.how_true_false', true=yes, false=no)}", (yes, no)
    return f"{head}\n\n{turn.t('quiz.how_short')}", ()


def _or_list(turn: Turn, items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return turn.t("quiz.or_list", first=", ".join(items[:-1]), last=items[-1])


def reprompt(turn: Turn) -> None:
    """Show the question being answered again (after HELP or PROGRESS in the middle of a quiz)."""
    found = turn.find_lesson(turn.state.lesson_id)
    if found and turn.rules.one_message:
        still = _still_open(turn, found[1])
        if still:
            turn.append("quiz.still_waiting")
            _append(turn, f"{block(turn, still)}\n\n{_how(turn, still)}")
        return
    if found and turn.state.question < len(asked(turn.state, found[1])):
        turn.append("quiz.still_waiting")
        ask(turn, found[1], turn.state.question)


def answer(turn: Turn, said: str) -> None:
    found = turn.find_lesson(turn.state.lesson_id)
    if found is None or turn.state.question >= len(asked(turn.state, found[1])):
        turn.state = with_flow(turn.state, "idle")  # the lesson left the catalogue mid-quiz
        turn.say("quiz.no_lesson")
        return
    course, lesson = found
    if turn.rules.one_message:
        _answer_one_message(turn, course, lesson, said)
        return
    questions = asked(turn.state, lesson)
    question = questions[turn.state.question]
    result = grade(question, said, true_words=turn.texts.all_words("true"), false_words=turn.texts.all_words("false"))
    if result.verdict == "unclear":
        if _asks_something(said):
            # A question is open right after every lesson now (lean days), so a learner's own question lands
            # here: it goes to the tutor as it would outside a quiz, and the quiz stays open behind it.
            turn.do(AskTutor(said.strip()[:2000], turn.state.lesson_id))
            turn.say("free.to_teacher")
            reprompt(turn)
            return
        say_unclear(turn, question)
        return
    right = result.verdict == "correct"
    if question.id is not None:
        turn.do(RecordAnswer(question.id, result.given, right))
    feedback = "quiz.correct" if right else "quiz.wrong"
    start = len(turn.replies)
    turn.say(feedback, answer=right_answer(turn, question), explanation=question.explanation, kind="quiz")
    answers = turn.state.answers + (right,)
    if len(answers) < len(questions):
        turn.state = with_flow(turn.state, "quiz", question=len(answers), answers=answers)
        ask(turn, lesson, len(answers), append=True)
        return
    retry = turn.state.retry
    turn.state = with_flow(turn.state, "idle", question=0, answers=())
    finish(turn, course, lesson, answers, retried=questions if retry else None)
    if turn.rules.lean_days:
        turn.fold(start)  # the last feedback, score, streak and badges in one message where they fit


# -- the quiz in one message ([learning] quiz_style = "one_message", docs/conversation.md) --------------------


def _start_one_message(
    turn: Turn, course: Course, lesson: Lesson, retry: tuple[int, ...], reviews: tuple[int, ...], intro: str
) -> None:
    """Every question of the attempt (and the day's due review questions, numbered first) in one message."""
    found = find_questions(turn.catalogue, reviews) if not retry else ()
    turn.state = turn.state.evolve(reviews=tuple(q.db_id for q in found), given=())
    if found:
        # Open until answered or the quiz is over: a lost session is rebuilt as this quiz (state.QUIZ_REVIEW).
        key = f"{turn.today}{QUIZ_REVIEW}"
        turn.do(StartReview(key))
        turn.learner = replace(turn.learner, review=replace(turn.learner.review, open_since=key, asked=0))
    questions = asked(turn.state, lesson)
    if found or retry:
        text = _one_message(turn, course, lesson, questions, retry, found, intro)
    else:  # the same for every learner on this lesson in this language: a fan-out makes it once a batch
        same = ("quiz_one_message", id(lesson), turn.lang, intro == "quiz.followup_intro")
        text = turn.common(same, lambda t: _one_message(t, course, lesson, questions, (), (), intro))
    turn.send(text, kind="quiz")


def _one_message(
    turn: Turn,
    course: Course,
    lesson: Lesson,
    questions: tuple[Question, ...],
    retry: tuple[int, ...],
    found: tuple[Question, ...],
    intro: str,
) -> str:
    total = len(lesson.questions)
    if retry:
        head = turn.t(
            "quiz.retry_intro",
            lesson=lesson.title,
            count=len(retry),
            total=total,
            correct=total - len(retry),
            needed=needed_to_pass(total, course.passing_score),
        )
    elif found:
        head = turn.t(
            "quiz.batch_review_intro",
            count=len(found) + len(questions),
            reviews=len(found),
            lessons=len(questions),
            lesson=lesson.title,
        )
    else:
        head = turn.t(
            "quiz.followup_intro" if intro == "quiz.followup_intro" else "quiz.batch_intro",
            lesson=lesson.title,
            count=len(questions),
        )
    numbered = items(turn.catalogue, turn.state, questions)
    how = turn.t("quiz.batch_how", example=example(turn, numbered))
    return f"{head}\n\n{block(turn, numbered)}\n\n{how}"


def _how(turn: Turn, left: list[Item]) -> str:
    """How to answer what is still open: all in one message, or for a last question, as for any one question."""
    if len(left) > 1:
        return turn.t("quiz.batch_how", example=example(turn, left))
    question = left[0].question
    if question.kind == "choice":
        return turn.t("quiz.how_choice", letters=_or_list(turn, list(LETTERS[: len(question.choices)])))
    if question.kind == "true_false":
        return turn.t("quiz.how_true_false", true=turn.t("quiz.true_word"), false=turn.t("quiz.false_word"))
    return turn.t("quiz.how_short")


def _still_open(turn: Turn, lesson: Lesson) -> list[Item]:
    numbered = items(turn.catalogue, turn.state, asked(turn.state, lesson))
    given = set(answered(turn.state, numbered))
    return [item for item in numbered if item.number not in given]


def _append(turn: Turn, text: str) -> None:
    if turn.replies:
        last = turn.replies[-1]
        turn.replies[-1] = last.evolve(text=f"{last.text}\n\n{text}", options=())
    else:
        turn.send(text, kind="quiz")


def _answer_one_message(turn: Turn, course: Course, lesson: Lesson, said: str) -> None:
    """One reply to the numbered questions: grade every answer it gives (in any sensible form, quizreply), say
    each one's feedback, ask again only for those still open, and finish the quiz once all of its questions are
    answered (score, streak, badges), all in one message where it fits. Nothing readable: the form, once."""
    state = turn.state
    questions = asked(state, lesson)
    numbered = items(turn.catalogue, state, questions)
    given = answered(state, numbered)
    still = [item for item in numbered if item.number not in given]
    if not still:
        turn.state = with_flow(state, "idle", question=0, answers=())
        turn.say("quiz.no_lesson")
        return
    reading = read_answers(
        said,
        [(item.number, item.question) for item in still],
        total=len(numbered),
        true_words=turn.texts.all_words("true"),
        false_words=turn.texts.all_words("false"),
    )
    if reading.empty and _asks_something(said):  # "1b 2 true 3 pin?" is answers; "what is a PIN for?" is not
        turn.do(AskTutor(said.strip()[:2000], state.lesson_id))
        turn.say("free.to_teacher")
        reprompt(turn)
        return
    if reading.empty:
        turn.state = replace(state, unclear=state.unclear + 1)
        key = "quiz.batch_unclear_again" if turn.state.unclear >= 2 else "quiz.batch_unclear"
        turn.say(key, example=example(turn, still))
        return
    by_number = {item.number: item for item in numbered}
    quiz_numbers = [item.number for item in numbered if not item.review]
    was_done = all(n in given for n in quiz_numbers)
    marked = marks(state, numbered)
    start = len(turn.replies)
    lines = []
    for number, result in sorted(reading.graded, key=lambda pair: pair[0]):
        item = by_number[number]
        right = result.verdict == "correct"
        if item.review:
            turn.do(RecordReview(item.question.db_id, rating(right, helped=False), turn.rules.desired_retention))
        else:
            marked[number] = right
            if item.question.id is not None:
                turn.do(RecordAnswer(item.question.id, result.given, right))
        lines.append(
            turn.t(
                "quiz.batch_correct" if right else "quiz.batch_wrong",
                number=number,
                answer=right_answer(turn, item.question),
                explanation=item.question.explanation,
            ).strip()
        )
    if reading.unreadable:
        lines.append(turn.t("quiz.batch_unread", numbers=numbers_text(turn, sorted(reading.unreadable))))
    turn.send("\n\n".join(lines), kind="quiz")
    now_given = given + tuple(n for n, _ in sorted(reading.graded, key=lambda pair: pair[0]))
    answers = tuple(marked[n] for n in now_given if n in marked)
    turn.state = state.evolve(given=now_given, answers=answers, question=len(answers), unclear=0)
    left = [item for item in numbered if item.number not in now_given]
    quiz_over = not was_done and all(n in now_given for n in quiz_numbers)
    opened = turn.learner.review.open_since
    if opened is not None and opened.endswith(QUIZ_REVIEW) and (quiz_over or not any(i.review for i in left)):
        # The reviews in it are over (the rest stay due: another day), so no lost session rebuilds them.
        turn.do(FinishReview(opened))
        turn.learner = replace(turn.learner, review=Review())
    if quiz_over:
        kept = turn.state
        turn.state = with_flow(kept, "idle", question=0, answers=())
        finish(
            turn,
            course,
            lesson,
            tuple(marked[n] for n in quiz_numbers),
            retried=questions if kept.retry else None,
        )
        if left:  # review questions still open: the lesson is done, they may still be answered
            turn.state = kept.evolve(flow="quiz")
    elif not left:
        turn.state = with_flow(turn.state, "idle", question=0, answers=())
    if left:
        how = _how(turn, left)
        missing = turn.t("quiz.batch_missing", numbers=numbers_text(turn, [item.number for item in left]))
        turn.send(f"{missing}\n\n{block(turn, left)}\n\n{how}", kind="quiz")
    turn.fold(start)  # feedback, score, streak, badges and what is still open: one message where they fit


def _asks_something(said: str) -> bool:
    """A learner's own question rather than an unreadable answer: a few words ending in a question mark."""
    text = said.strip()
    return text.endswith(("?", "？", "؟")) and len(text.split()) >= 3


def say_unclear(turn: Turn, question: Question, *, again: str = "quiz.unclear_again") -> None:
    """A gentle re-prompt for an answer we could not read (never a wrong mark); counts it in state.unclear."""
    turn.state = replace(turn.state, unclear=turn.state.unclear + 1)
    key = again if turn.state.unclear >= 2 else "quiz.unclear"
    _, options = question_text(turn, question, 1, 1)
    how = {"choice": "quiz.how_choice", "true_false": "quiz.how_true_false", "short": "quiz.how_short"}[question.kind]
    turn.say(
        key,
        how=turn.t(
            how, letters=_or_list(turn, list(options)), true=turn.t("quiz.true_word"), false=turn.t("quiz.false_word")
        ),
        options=options,
    )


def right_answer(turn: Turn, question: Question) -> str:
    if question.kind == "choice" and isinstance(question.answer, int) and 1 <= question.answer <= len(question.choices):
        return f"{LETTERS[question.answer - 1]}) {question.choices[question.answer - 1]}"
    if question.kind == "true_false":
        return turn.t("quiz.true_word") if question.answer else turn.t("quiz.false_word")
    accepted = question.answer if isinstance(question.answer, tuple) else (str(question.answer),)
    return accepted[0] if accepted else ""


def finish(
    turn: Turn,
    course: Course,
    lesson: Lesson,
    answers: tuple[bool, ...],
    *,
    retried: tuple[Question, ...] | None = None,
) -> None:
    """A finished attempt: score, pass or retry, then the streak, badges and course completion it earns.
    retried: on a retry, the questions it asked (the answers are theirs); the others were right before, so the
    score is the whole quiz less what is still missed, and the same pass rule applies."""
    questions = retried if retried is not None else lesson.questions
    missed = tuple(q.id for q, right in zip(questions, answers) if not right and q.id is not None)
    total = len(lesson.questions) if retried is not None else len(answers)
    correct = retry_score(total, answers.count(False)) if retried is not None else sum(answers)
    ok = passed(correct, total, course.passing_score)
    turn.do(CompleteLesson(lesson.db_id, correct, total, ok, turn.today, missed))
    if total:
        if retried is not None:
            key = "quiz.retry_passed" if ok else "quiz.retry_failed"
        else:
            key = "quiz.score_passed" if ok else "quiz.score_failed"
        turn.say(
            key,
            correct=correct,
            total=total,
            percent=percent(correct, total),
            needed=needed_to_pass(total, course.passing_score),
            kind="quiz",
        )
    _note_result(turn, course, lesson, correct, total, ok, missed)
    change = record_completion(
        turn.learner.streak,
        turn.today,
        freeze_every_days=turn.rules.freeze_every_days,
        lesson_days=turn.rules.lesson_days,
    )
    if change.extended:
        turn.set_streak(change.streak)
        if change.freeze_used:
            turn.say("streak.freeze_used", kind="celebration")
        if change.streak.current >= 2:
            turn.say("streak.extended", days=change.streak.current, kind="celebration")
        if change.freeze_earned:
            turn.say("streak.freeze_earned", days=turn.rules.freeze_every_days, kind="celebration")
    progress = course_progress(course, turn.learner.results)
    enrollment = turn.learner.enrollment(course.id)
    course_done_now = progress.complete and (enrollment is None or enrollment.status != "completed")
    done = Achievement(
        lessons_completed=len(turn.learner.results),
        streak=turn.learner.streak.current,
        perfect_quiz=total > 0 and correct == total and retried is None,  # a retry's full marks took two tries
        course_completed=course_done_now,
        local_hour=turn.hour,
    )
    for badge in new_badges(turn.catalogue.badges, done, turn.learner.badges):
        turn.do(AwardBadge(badge.code, course.id if badge.rule == "course_complete" else None))
        turn.learner = replace(turn.learner, badges=turn.learner.badges | {badge.code})
        turn.say(
            "badge.awarded",
            emoji=badge.emoji or "🏅",
            badge=badge.name(turn.lang),
            description=badge.descriptions.get(turn.lang) or badge.descriptions.get("en", ""),
            kind="badge",
        )
    if course_done_now:
        _complete_course(turn, course, progress.score, progress.certificate_eligible)
    elif ok or not total:
        has_more = any(other.position > lesson.position for other in course.lessons)
        turn.say("quiz.whats_next" if has_more else "quiz.last_lesson_left", time=turn.learner.lesson_time)


def _note_result(
    turn: Turn, course: Course, lesson: Lesson, correct: int, total: int, ok: bool, missed: tuple[int, ...]
) -> None:
    """Keep the best attempt in the turn's snapshot (and the latest one's missed questions), as the service keeps
    it in the progress table."""
    results = [r for r in turn.learner.results if r.lesson_id != lesson.id]
    old = turn.learner.result(lesson.id)
    new = LessonResult(lesson.db_id, course.db_id, correct, total, ok, turn.today, missed)
    if old is not None and percent(old.correct, old.total) > percent(correct, total):
        new = replace(old, passed=old.passed or ok, missed=missed)
    turn.learner = replace(turn.learner, results=tuple(results + [new]))


def _complete_course(turn: Turn, course: Course, score: int, eligible: bool) -> None:
    turn.do(CompleteCourse(course.db_id, score))
    enrollments = [e if e.course_id != course.id else replace(e, status="completed") for e in turn.learner.enrollments]
    if turn.learner.enrollment(course.id) is None:
        enrollments.append(Enrollment(course.db_id, status="completed"))
    turn.learner = replace(turn.learner, enrollments=tuple(enrollments))
    turn.say("course.complete", course=course.title, score=score, lessons=len(course.lessons), kind="celebration")
    if eligible:
        turn.do(IssueCertificate(course.db_id, score))
        turn.say("course.certificate_coming", course=course.title)
    else:
        turn.say("course.certificate_retry", passing=course.passing_score, score=score)
    # With a check-in to ask again (conversation.checkin.asks_after: the same test), its end says this.
    if not (course.checkin and course.id in turn.learner.checked_in):
        turn.say("course.what_next")


def follow_up(turn: Turn, lesson_id: int) -> None:
    """The scheduler's 'quiz 30 minutes after the lesson': only if that quiz is still on offer."""
    learner = turn.learner
    if learner.opted_out or learner.status not in ("active", "finished"):
        return
    if turn.state.flow == "lesson" and turn.state.lesson_id == lesson_id:
        start(turn, lesson_id, intro="quiz.followup_intro")
