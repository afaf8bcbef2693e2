"""Course pages: list and create courses, edit and reorder lessons, the quiz editor, media upload, import/export."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from babel import Locale
from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound, PayloadTooLarge
from sanic.request import RequestParameters
from sanic.response import HTTPResponse

from coachbox.admin import learning, review
from coachbox.admin import security as sec
from coachbox.admin.lesson_preview import SAMPLE_NAME, Step, lesson_day
from coachbox.admin.pages import back, confirm_page, confirmed, field, files, form, megabytes, render
from coachbox.admin.scope import scope_for
from coachbox.content.catalogue import decode_answer, encode_answer, read_badges, read_courses
from coachbox.content.exporter import export_folder
from coachbox.content.importer import import_folder
from coachbox.content.markup import MESSAGE_LIMIT, lesson_text, split_message
from coachbox.content.parser import MEDIA_LIGHT_BYTES, MEDIA_LIMIT_BYTES, MEDIA_LIMIT_OTHER_BYTES
from coachbox.core.plans import Plan, plans_for
from coachbox.learning.course import Lesson, Question
from coachbox.learning.progress import needed_to_pass
from coachbox.store import admins, transaction
from coachbox.store import courses as q
from coachbox.turns.runner import resources

bp = Blueprint("admin_courses", url_prefix="/admin")
log = logging.getLogger("coachbox.admin")
# What WhatsApp accepts as lesson media, by the file's first bytes (never trust the name or the browser's type).
MEDIA_TYPES = {
    ".jpg": b"\xff\xd8\xff",
    ".jpeg": b"\xff\xd8\xff",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".pdf": b"%PDF-",
    ".mp3": b"ID3",
    ".ogg": b"OggS",
    ".mp4": None,
}
# The upload takes what WhatsApp through Twilio delivers (the content import checks the same): pictures up to 5 MB,
# other media up to 16 MB. The route reads its own body (stream=True): Sanic's app-wide [server] max_body_bytes
# (1 MB, which keeps every webhook small) does not apply to it. The form's other fields and the multipart
# boundaries take a few hundred bytes.
MEDIA_BODY_MAX_BYTES = max(MEDIA_LIMIT_OTHER_BYTES, *MEDIA_LIMIT_BYTES.values()) + 64 * 1024
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KINDS = ("choice", "true_false", "short")  # the quiz editor's kinds of question


def language_name(code: str | None) -> str:
    """'sw' → 'Swahili': a language code in words (CLDR's English names, through babel), the code when unknown."""
    base = (code or "").split("-")[0].lower()
    return str(Locale.parse("en").languages.get(base, code or ""))


def media_limits() -> str:
    """'pictures (.jpg, .jpeg, .png) up to 5 MB, other files up to 16 MB', from the content checker's limits."""
    pictures = ", ".join(MEDIA_LIMIT_BYTES)
    picture_limit = megabytes(max(MEDIA_LIMIT_BYTES.values()))
    return f"pictures ({pictures}) up to {picture_limit}, other files up to {megabytes(MEDIA_LIMIT_OTHER_BYTES)}"


def _audit(conn, request: Request, action: str, target: str, now, **detail) -> None:
    admins.audit(conn, request.ctx.admin["admin_id"], action, target, now, **detail)


async def _run_change(request: Request, fn, *args):
    """Run fn(conn, now, *args) in one transaction on the writer thread."""
    services = request.app.ctx.services

    def change(conn, now):
        with transaction(conn):
            return fn(conn, now, *args)

    return await services.db.run(change, services.clock.now())


@bp.get("/courses")
@sec.admin_view("viewer")
async def course_list(request: Request):
    return await _render_courses(request)


async def _render_courses(
    request: Request, *, report: str | None = None, new: dict | None = None, status: int = 200
) -> HTTPResponse:
    """The course list; a new-course form that did not validate comes back with its values and problems."""
    services = request.app.ctx.services
    rows = await services.db.run(q.courses)
    plans = plans_for(services.settings)
    return render(
        request,
        "courses.html",
        status=status,
        lang_name=language_name,
        courses=rows,
        premium={row["id"]: premium_status(row, plans) for row in rows if row["premium"]},
        errors=[],
        report=report,
        new=new or {"title": "", "language": "en", "description": "", "errors": {}},
    )


def premium_status(course, plans: dict[str, Plan]) -> dict:
    """What "premium" really means for this course: the plans that sell it, or that nothing does (so it is free)."""
    family = course["translation_of"] or course["slug"]
    selling = [plan for name, plan in plans.items() if plan.covers(family)]
    if not selling:
        return {
            "charged": False,
            "words": "premium, but free for now: no paid plan sells it",
            "fix": "To charge for it, add a [plans.<name>] table to coachbox.toml (see docs/payments.md) and "
            "restart the box.",
        }
    free = max(plan.free_lessons for plan in selling)
    names = ", ".join(plan.title or name for name, plan in plans.items() if plan in selling)
    return {
        "charged": True,
        "words": f"premium: sold by {names}"
        + (f"; the first {free} lesson{'s are' if free != 1 else ' is'} free" if free else ""),
        "fix": "",
    }


@bp.post("/courses")
@sec.admin_view("editor")
async def create_course(request: Request):
    title = field(request, "title").strip()[:120]
    language = (field(request, "language") or "en").strip()[:10]
    description = field(request, "description").strip()
    problems = {}
    if not title:
        problems["title"] = "Give the course a title."
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", language):
        problems["language"] = "Use a language code such as en or sw (two or three small letters)."
    if problems:
        typed = {"title": title, "language": language, "description": description, "errors": problems}
        return await _render_courses(request, new=typed, status=400)

    def create(conn, now):
        course_id = q.create_course(conn, title, language, description, now)
        _audit(conn, request, "course.create", f"course:{course_id}", now, title=title)
        return course_id

    course_id = await _run_change(request, create)
    return back(f"/admin/courses/{course_id}", "saved")


async def _course(request: Request, course_id: int):
    row = await request.app.ctx.services.db.run(q.course, course_id)
    if row is None:
        raise NotFound("No such course.")
    return row


@bp.get("/courses/<course_id:int>")
@sec.admin_view("viewer")
async def course_page(request: Request, course_id: int):
    return await _render_course(request, course_id)


async def _render_course(
    request: Request,
    course_id: int,
    *,
    details: dict | None = None,
    new_lesson: dict | None = None,
    status: int = 200,
) -> HTTPResponse:
    """The course page; a details or new-lesson form that did not validate comes back with its values and
    problems beside the fields."""
    services = request.app.ctx.services
    course = await _course(request, course_id)
    lessons = await services.db.run(q.lessons, course_id)
    originals = await services.db.run(q.original_lessons, course_id)
    original_course = (
        await services.db.run(q.course_by_slug, course["translation_of"]) if course["translation_of"] else None
    )
    translations = await services.db.run(q.translations_of, course["slug"])
    # A teacher limited to classes: the course's figures, and only their own classes' rows (admin.scope).
    figures = learning.for_scope(await learning.figures(services, course), scope_for(request.ctx.admin))
    calibration = await services.db.run(review.load, course_id)
    return render(
        request,
        "course.html",
        status=status,
        lang_name=language_name,
        course=course,
        lessons=lessons,
        stale={lesson_id: row for lesson_id, row in originals.items() if _older(row["own_changed_at"], row)},
        original_course=original_course,
        translations=translations,
        premium=premium_status(course, plans_for(services.settings)),
        limit=MESSAGE_LIMIT,
        learning=figures,
        review=calibration,
        few=review.FEW_REVIEWS,
        details=details or {**dict(course), "errors": {}},
        new_lesson=new_lesson or {"title": "", "errors": {}},
    )


def _older(own: str | None, original) -> bool:
    """Is a translated lesson's text older than its original's (lessons.text_changed_at)?"""
    return bool(own and original["text_changed_at"] and own < original["text_changed_at"])


@bp.post("/courses/<course_id:int>")
@sec.admin_view("editor")
async def update_course(request: Request, course_id: int):
    course = await _course(request, course_id)
    title = field(request, "title").strip()[:120]
    score = field(request, "passing_score", "70").strip()
    fields = {
        "title": title,
        "description": field(request, "description").strip(),
        "level": (field(request, "level") or "beginner")[:30],
        "passing_score": int(score) if score.isdigit() else score,
        "premium": int(field(request, "premium") == "1"),
    }
    problems = {}
    if not title:
        problems["title"] = "Give the course a title."
    if not score.isdigit() or not 0 <= int(score) <= 100:
        problems["passing_score"] = "The passing score is a whole number from 0 to 100 (a percentage)."
    if problems:
        typed = {**dict(course), **fields, "errors": problems}
        return await _render_course(request, course_id, details=typed, status=400)

    def change(conn, now):
        q.update_course(conn, course_id, fields, now)
        _audit(conn, request, "course.update", f"course:{course_id}", now, **fields)

    await _run_change(request, change)
    return back(f"/admin/courses/{course_id}", "saved")


@bp.post("/courses/<course_id:int>/<action:publish|unpublish>")
@sec.admin_view("editor")
async def publish_course(request: Request, course_id: int, action: str):
    course = await _course(request, course_id)
    if action == "unpublish" and course["published"] and not confirmed(request):
        studying = await request.app.ctx.services.db.run(q.current_learners, course_id)
        return confirm_page(
            request,
            heading=f"Unpublish {course['title']}?",
            consequences=[
                "Learners stop receiving its lessons, and it leaves the course menu (COURSES).",
                f"{studying} learner{' has' if studying == 1 else 's have'} it as their current course: they get no "
                "lessons until it is published again or they choose another course."
                if studying
                else "No learner has it as their current course.",
                "Nothing is deleted: lessons, progress and certificates stay, and Publish brings it back as it was.",
            ],
            action=f"/admin/courses/{course_id}/unpublish",
            button="Unpublish",
            cancel=f"/admin/courses/{course_id}",
            danger=True,
        )

    def change(conn, now):
        q.set_published(conn, "courses", course_id, action == "publish", now)
        _audit(conn, request, f"course.{action}", f"course:{course_id}", now)

    await _run_change(request, change)
    return back(f"/admin/courses/{course_id}", f"{action}ed")


@bp.post("/courses/<course_id:int>/lessons")
@sec.admin_view("editor")
async def add_lesson(request: Request, course_id: int):
    await _course(request, course_id)
    title = field(request, "title").strip()[:120]
    if not title:
        typed = {"title": title, "errors": {"title": "Give the lesson a title: you write its text on the next page."}}
        return await _render_course(request, course_id, new_lesson=typed, status=400)

    def change(conn, now):
        lesson_id = q.add_lesson(conn, course_id, title, now)
        _audit(conn, request, "lesson.create", f"lesson:{lesson_id}", now, title=title)
        return lesson_id

    lesson_id = await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}", "saved")


# -- lessons ----------------------------------------------------------------------------------------


async def _lesson(request: Request, lesson_id: int):
    row = await request.app.ctx.services.db.run(q.lesson, lesson_id)
    if row is None:
        raise NotFound("No such lesson.")
    return row


@bp.get("/lessons/<lesson_id:int>")
@sec.admin_view("viewer")
async def lesson_page(request: Request, lesson_id: int) -> HTTPResponse:
    return await _render_lesson(request, lesson_id)


async def _render_lesson(
    request: Request,
    lesson_id: int,
    *,
    typed_lesson: dict | None = None,
    typed_questions: dict[str, dict] | None = None,
    status: int = 200,
) -> HTTPResponse:
    """The lesson page. A form that did not validate comes back with what was typed and each problem beside its
    field: typed_lesson for the text form, typed_questions by "q<id>" or "new" for a quiz form."""
    services = request.app.ctx.services
    lesson = await _lesson(request, lesson_id)
    rows = await services.db.run(q.questions, lesson_id)
    forms = {f"q{row['id']}": question_form(row) for row in rows}
    forms["new"] = question_form(None)
    forms.update(typed_questions or {})
    text = typed_lesson or {
        "title": lesson["title"],
        "minutes": lesson["minutes"],
        "body": lesson["body"],
        "errors": {},
    }
    parts = split_message(lesson_text(lesson["title"], lesson["body"]))
    try:
        sequence = await services.db.run(_preview, lesson, rows, services.clock.now(), resources(services))
    except Exception:  # noqa: BLE001 - the editor must open (and keep what was typed) even when the preview fails
        log.exception("lesson %s: the preview of its day could not be made", lesson_id)
        sequence = None
    original = await services.db.run(q.original_lessons, lesson["course_id"])
    translations = await services.db.run(q.translated_lessons, lesson_id)
    mine = original.get(lesson_id)
    return render(
        request,
        "lesson.html",
        status=status,
        lang_name=language_name,
        lesson=lesson,
        text=text,
        questions=rows,
        forms=forms,
        needed=needed_to_pass(len(rows), lesson["passing_score"]),  # what the course's mark means here
        parts=parts,
        sequence=sequence,
        sample_name=SAMPLE_NAME,
        buttons=resources(services).rules.buttons,
        original=mine,
        original_newer=bool(mine and _older(mine["own_changed_at"], mine)),
        translations=[(row, _older(row["text_changed_at"], lesson)) for row in translations],
        limit=MESSAGE_LIMIT,
        kinds=KINDS,
        errors=[],
        media_types=", ".join(MEDIA_TYPES),
        media_limits=media_limits(),
    )


def _preview(conn, lesson, rows, now, res) -> list[Step]:
    """The lesson day as the engine sends it, for the saved lesson (a draft lesson as it will be once published)."""
    found = [course for course in read_courses(conn, published_only=False) if course.id == lesson["course_id"]]
    if not found:
        return []
    this = Lesson(
        slug=lesson["slug"],
        position=lesson["position"],
        title=lesson["title"],
        body=lesson["body"],
        minutes=lesson["minutes"],
        media=lesson["media"],
        questions=tuple(
            Question(
                id=row["id"],
                position=row["position"],
                kind=row["kind"],
                prompt=row["prompt"],
                choices=tuple(row["choices"]),
                answer=decode_answer(row["kind"], row["answer"]),
                explanation=row["explanation"],
            )
            for row in rows
        ),
        id=lesson["id"],
    )
    return lesson_day(found[0], this, res.texts, res.rules, now, tuple(read_badges(conn)))


@bp.post("/lessons/<lesson_id:int>")
@sec.admin_view("editor")
async def save_lesson(request: Request, lesson_id: int):
    lesson = await _lesson(request, lesson_id)
    title = field(request, "title").strip()[:120]
    body = field(request, "body").replace("\r\n", "\n").strip()
    minutes = field(request, "minutes", "5").strip()
    problems = {}
    if not title:
        problems["title"] = "Give the lesson a title: learners see it in bold above the text."
    if not minutes.isdigit() or not 1 <= int(minutes) <= 120:
        problems["minutes"] = "Minutes is a whole number from 1 to 120: how long the lesson takes to read."
    if problems:
        typed = {"title": title, "minutes": minutes, "body": body, "errors": problems}
        return await _render_lesson(request, lesson_id, typed_lesson=typed, status=400)

    def change(conn, now):
        q.update_lesson(conn, lesson_id, title, int(minutes), body, now)
        if lesson["course_translation_of"]:  # a translation saved, changed or not, is checked against its original
            q.touch_lesson_text(conn, lesson_id, now)
        _audit(conn, request, "lesson.update", f"lesson:{lesson_id}", now, title=title, chars=len(body))

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}", "saved")


@bp.post("/lessons/<lesson_id:int>/<action:publish|unpublish>")
@sec.admin_view("editor")
async def publish_lesson(request: Request, lesson_id: int, action: str):
    lesson = await _lesson(request, lesson_id)
    if action == "unpublish" and lesson["published"] and not confirmed(request):
        scope = scope_for(request.ctx.admin)
        waiting = await request.app.ctx.services.db.run(q.learners_before_lesson, lesson_id, scope.sql("learners.id"))
        whose = "" if scope.everyone else " of your classes"
        return confirm_page(
            request,
            heading=f"Unpublish the lesson {lesson['title']}?",
            consequences=[
                f"{waiting} learner{' is' if waiting == 1 else 's are'}{whose} on {lesson['course_title']} and "
                f"{'has' if waiting == 1 else 'have'} not had this lesson yet: they skip it and get the next "
                "published lesson instead."
                if waiting
                else f"No learner{whose} on {lesson['course_title']} is waiting for this lesson.",
                "Learners who had it keep their progress and answers; its quiz is no longer offered.",
                "Nothing is deleted: Publish brings it back as it was.",
            ],
            action=f"/admin/lessons/{lesson_id}/unpublish",
            button="Unpublish lesson",
            cancel=f"/admin/lessons/{lesson_id}",
            danger=True,
        )

    def change(conn, now):
        q.set_published(conn, "lessons", lesson_id, action == "publish", now)
        _audit(conn, request, f"lesson.{action}", f"lesson:{lesson_id}", now)

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}", f"{action}ed")


@bp.post("/lessons/<lesson_id:int>/move")
@sec.admin_view("editor")
async def move_lesson(request: Request, lesson_id: int):
    lesson = await _lesson(request, lesson_id)
    direction = -1 if field(request, "direction") == "up" else 1

    def change(conn, now):
        if q.move_lesson(conn, lesson_id, direction):
            _audit(conn, request, "lesson.move", f"lesson:{lesson_id}", now, direction=direction)

    await _run_change(request, change)
    return back(f"/admin/courses/{lesson['course_id']}", "saved")


@bp.post("/lessons/<lesson_id:int>/media", stream=True)
@sec.admin_view("editor", max_body=MEDIA_BODY_MAX_BYTES)
async def upload_media(request: Request, lesson_id: int):
    lesson = await _lesson(request, lesson_id)
    upload = files(request).get("media")
    if upload is None or not upload.name:
        raise BadRequest("Choose a file.")
    name = upload.name  # browsers send the bare name; anything with a path in it is refused, not cleaned
    suffix = Path(name).suffix.lower()
    if not SAFE_NAME.match(name) or ".." in name or suffix not in MEDIA_TYPES:
        raise BadRequest(f"Use a plain file name (letters, digits, . _ -) ending in one of: {', '.join(MEDIA_TYPES)}.")
    limit = MEDIA_LIMIT_BYTES.get(suffix, MEDIA_LIMIT_OTHER_BYTES)
    if len(upload.body) > limit:
        raise PayloadTooLarge(
            f"{name} is {megabytes(len(upload.body))}: WhatsApp takes {suffix} files of at most {megabytes(limit)} "
            f"({media_limits()}). Make it smaller and upload it again."
        )
    magic = MEDIA_TYPES[suffix]
    if (magic and not upload.body.startswith(magic)) or (magic is None and upload.body[4:8] != b"ftyp"):
        raise BadRequest(f"The file's content is not a {suffix} file.")
    services = request.app.ctx.services
    media_root = (services.settings.data_dir / "media").resolve()
    relative = f"courses/{lesson['course_slug']}/{name}"
    target = (media_root / relative).resolve()
    if media_root not in target.parents:
        raise BadRequest("That file name is not allowed.")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(upload.body)

    def change(conn, now):
        q.set_lesson_media(conn, lesson_id, relative, now)
        _audit(conn, request, "lesson.media", f"lesson:{lesson_id}", now, media=relative, bytes=len(upload.body))

    await _run_change(request, change)
    heavy = len(upload.body) > MEDIA_LIGHT_BYTES  # the same line the content import warns at
    return back(f"/admin/lessons/{lesson_id}", "saved_heavy" if heavy else "saved")


# -- quiz editor ------------------------------------------------------------------------------------

CHOICE_SLOTS = 4  # empty choice boxes a new multiple-choice question starts with (one more than filled, later)
MAX_CHOICES = 8


def question_form(row: dict | None) -> dict:
    """A question (a store.courses.questions row, or None for a new one) as its form's values."""
    if row is None:
        return {
            "kind": "choice",
            "prompt": "",
            "choices": [""] * CHOICE_SLOTS,
            "right": 0,
            "truth": "",
            "accepted": "",
            "explanation": "",
            "errors": {},
        }
    answer = decode_answer(row["kind"], row["answer"])
    choices = list(row["choices"])
    return {
        "kind": row["kind"],
        "prompt": row["prompt"],
        "choices": choices + [""] * max(1, CHOICE_SLOTS - len(choices)) if len(choices) < MAX_CHOICES else choices,
        "right": answer if row["kind"] == "choice" and isinstance(answer, int) else 0,
        "truth": ("true" if answer else "false") if row["kind"] == "true_false" else "",
        "accepted": "\n".join(answer) if isinstance(answer, tuple) else "",
        "explanation": row["explanation"],
        "errors": {},
    }


def parse_question(posted: RequestParameters) -> tuple[dict | None, dict]:
    """The posted quiz form → (question values, None) or (None, the form as typed with its problems by field).

    Each kind has its own fields: `choice-1`, `choice-2`… (one box per choice; empty ones are left out) and
    `right` (the number of the box picked as right) for multiple choice, `truth` (true or false) for true/false, `accepted` (one answer per line) for short
    answers. The older single `choices` / `answer` fields are still read when those are absent."""

    def one(name: str) -> str:
        value = posted.get(name)
        return value.strip() if isinstance(value, str) else ""

    kind = one("kind")
    prompt = one("prompt")
    explanation = one("explanation")
    numbered = sorted(
        (int(name.removeprefix("choice-")), name) for name in posted if re.fullmatch(r"choice-[1-9]\d?", name)
    )
    slots = [""] * min(MAX_CHOICES, max((n for n, _ in numbered), default=0))
    for n, name in numbered:
        if n <= MAX_CHOICES:
            slots[n - 1] = one(name)
    right = one("right")
    if not slots and "choices" in posted:  # the older form: choices one per line, the answer as a number
        slots = [c.strip() for c in one("choices").splitlines() if c.strip()]
        right = one("answer") if kind == "choice" else right
    truth = (one("truth") or (one("answer") if kind == "true_false" else "")).lower()
    accepted_text = one("accepted") or (one("answer") if kind == "short" else "")
    accepted = tuple(a.strip() for a in accepted_text.splitlines() if a.strip())
    problems: dict[str, str] = {}
    if kind not in KINDS:
        problems["kind"] = "Choose the kind of question."
    if not prompt:
        problems["prompt"] = "Write the question."
    answer: int | bool | tuple[str, ...] = ()
    choices: list[str] = []
    if kind == "choice":
        filled = [(slot, text) for slot, text in enumerate(slots, start=1) if text]
        choices = [text for _, text in filled]
        if len(choices) < 2:
            problems["choices"] = "Write at least two choices, one in each box."
        picked = [number for number, (slot, _) in enumerate(filled, start=1) if str(slot) == right]
        if not picked:
            problems["right"] = "Pick the right choice: click its letter."
        else:
            answer = picked[0]
    elif kind == "true_false":
        if truth not in ("true", "false"):
            problems["truth"] = "Say whether the statement is TRUE or FALSE."
        answer = truth == "true"
    elif kind == "short":
        if not accepted:
            problems["accepted"] = "Write the accepted answers, one per line (close spellings are accepted too)."
        answer = accepted
    if problems:
        padded = slots + [""] * max(1, CHOICE_SLOTS - len(slots)) if len(slots) < MAX_CHOICES else slots
        right_slot = int(right) if right.isdigit() else 0
        return None, {
            "kind": kind or "choice",
            "prompt": prompt,
            "choices": padded,
            "right": right_slot,
            "truth": truth,
            "accepted": accepted_text,
            "explanation": explanation,
            "errors": problems,
        }
    return {
        "kind": kind,
        "prompt": prompt,
        "choices": json.dumps(choices, ensure_ascii=False),
        "answer": encode_answer(answer),
        "explanation": explanation,
    }, {}


@bp.post("/lessons/<lesson_id:int>/questions")
@sec.admin_view("editor")
async def add_question(request: Request, lesson_id: int):
    await _lesson(request, lesson_id)
    values, typed = parse_question(form(request))
    if values is None:
        return await _render_lesson(request, lesson_id, typed_questions={"new": typed}, status=400)

    def change(conn, now):
        question_id = q.add_question(conn, lesson_id, values)
        q.touch_lesson_text(conn, lesson_id, now)
        _audit(conn, request, "question.create", f"question:{question_id}", now, lesson_id=lesson_id)

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}#quiz", "saved")


@bp.post("/questions/<question_id:int>")
@sec.admin_view("editor")
async def edit_question(request: Request, question_id: int):
    services = request.app.ctx.services
    lesson_id = await services.db.run(q.question_lesson, question_id)
    if lesson_id is None:
        raise NotFound("No such question.")
    if field(request, "delete") == "1":
        if not confirmed(request):
            return await _confirm_remove(request, question_id, lesson_id)

        def remove(conn, now):
            q.remove_question(conn, question_id)
            q.touch_lesson_text(conn, lesson_id, now)
            _audit(conn, request, "question.delete", f"question:{question_id}", now)

        await _run_change(request, remove)
        return back(f"/admin/lessons/{lesson_id}#quiz", "deleted")
    values, typed = parse_question(form(request))
    if values is None:
        return await _render_lesson(request, lesson_id, typed_questions={f"q{question_id}": typed}, status=400)

    def change(conn, now):
        q.update_question(conn, question_id, values)
        q.touch_lesson_text(conn, lesson_id, now)
        _audit(conn, request, "question.update", f"question:{question_id}", now)

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}#q{question_id}", "saved")


async def _confirm_remove(request: Request, question_id: int, lesson_id: int) -> HTTPResponse:
    """Removing a question: first say what happens to the quiz and to the answers already given."""
    services = request.app.ctx.services
    lesson = await _lesson(request, lesson_id)
    rows = await services.db.run(q.questions, lesson_id)
    question = next((row for row in rows if row["id"] == question_id), None)
    if question is None:
        raise NotFound("That question was removed already.")
    scope = scope_for(request.ctx.admin)
    answers = await services.db.run(q.question_answer_count, question_id, scope.sql("learners.id"))
    answered = await services.db.run(q.question_answered, question_id)
    left = len(rows) - 1
    return confirm_page(
        request,
        heading="Remove this question?",
        consequences=[
            f"“{question['prompt']}” leaves the quiz of {lesson['title']}: learners who take it from now on get "
            f"{left} question{'' if left == 1 else 's'}"
            + (f", and {needed_to_pass(left, lesson['passing_score'])} right answers pass." if left else "."),
            (
                f"Learners{'' if scope.everyone else ' in your classes'} answered it {answers} "
                f"time{'' if answers == 1 else 's'}. "
                if answers
                else ""
            )
            + "Answers already given stay in the learners' progress and scores (the question is retired, not deleted)."
            if answered
            else "Nobody has answered it yet: it is deleted.",
        ],
        action=f"/admin/questions/{question_id}",
        button="Remove question",
        cancel=f"/admin/lessons/{lesson_id}#q{question_id}",
        fields={"delete": "1"},
        danger=True,
    )


# -- import / export --------------------------------------------------------------------------------


@bp.post("/courses/import")
@sec.admin_view("owner")
async def import_content(request: Request):
    """Re-import the content folder (files win over database edits for courses that exist on disk)."""

    services = request.app.ctx.services
    try:
        report = await services.db.run(import_folder, services.settings.content_dir, services.settings)
        summary = report.summary()
    except Exception as exc:  # noqa: BLE001 - ContentError lists file:line problems; show them, do not 500
        summary = f"Nothing imported:\n{exc}"
    await services.db.run(
        lambda conn, now: admins.audit(
            conn, request.ctx.admin["admin_id"], "content.import", str(services.settings.content_dir), now
        ),
        services.clock.now(),
    )
    return await _render_courses(request, report=summary)


@bp.post("/courses/export")
@sec.admin_view("owner")
async def export_content(request: Request):
    """Write the courses as files under data/exports/<time>/ (the content folder format)."""

    services = request.app.ctx.services
    now = services.clock.now()
    dest = services.settings.data_dir / "exports" / now.strftime("%Y%m%d-%H%M%S")
    written = await services.db.run(export_folder, dest, services.settings)
    await services.db.run(
        lambda conn: admins.audit(conn, request.ctx.admin["admin_id"], "content.export", str(dest), now)
    )
    return await _render_courses(request, report=f"Exported {written} files to {dest}")
