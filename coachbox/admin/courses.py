"""Course pages: list and create courses, edit and reorder lessons, the quiz editor, media upload, import/export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from sanic import Blueprint, Request
from sanic.exceptions import BadRequest, NotFound, PayloadTooLarge
from sanic.response import HTTPResponse

from coachbox.admin import learning, review
from coachbox.admin import security as sec
from coachbox.admin.pages import back, confirm_page, confirmed, field, files, form, megabytes, render
from coachbox.content.catalogue import encode_answer
from coachbox.content.exporter import export_folder
from coachbox.content.importer import import_folder
from coachbox.content.markup import MESSAGE_LIMIT, lesson_text, split_message
from coachbox.content.parser import MEDIA_LIGHT_BYTES, MEDIA_LIMIT_BYTES, MEDIA_LIMIT_OTHER_BYTES
from coachbox.learning.progress import needed_to_pass
from coachbox.store import admins, transaction
from coachbox.store import courses as q

bp = Blueprint("admin_courses", url_prefix="/admin")
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
    rows = await request.app.ctx.services.db.run(q.courses)
    return render(request, "courses.html", courses=rows, errors=[], report=None)


@bp.post("/courses")
@sec.admin_view("editor")
async def create_course(request: Request):
    title = field(request, "title").strip()[:120]
    language = (field(request, "language") or "en").strip()[:10]
    if not title or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", language):
        raise BadRequest("A course needs a title and a language code such as en or sw.")

    def create(conn, now):
        course_id = q.create_course(conn, title, language, field(request, "description").strip(), now)
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
    course = await _course(request, course_id)
    lessons = await request.app.ctx.services.db.run(q.lessons, course_id)
    figures = await learning.figures(request.app.ctx.services, course)
    calibration = await request.app.ctx.services.db.run(review.load, course_id)
    return render(
        request,
        "course.html",
        course=course,
        lessons=lessons,
        limit=MESSAGE_LIMIT,
        learning=figures,
        review=calibration,
        few=review.FEW_REVIEWS,
    )


@bp.post("/courses/<course_id:int>")
@sec.admin_view("editor")
async def update_course(request: Request, course_id: int):
    await _course(request, course_id)
    title = field(request, "title").strip()[:120]
    score = field(request, "passing_score", "70")
    if not title or not score.isdigit() or not 0 <= int(score) <= 100:
        raise BadRequest("A course needs a title, and a passing score from 0 to 100.")
    fields = {
        "title": title,
        "description": field(request, "description").strip(),
        "level": (field(request, "level") or "beginner")[:30],
        "passing_score": int(score),
        "premium": int(field(request, "premium") == "1"),
    }

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
        raise BadRequest("A lesson needs a title.")

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
    request: Request, lesson_id: int, *, errors: Iterable[str] = (), status: int = 200
) -> HTTPResponse:
    """The lesson page; a quiz form that did not validate shows it again with its problems."""
    lesson = await _lesson(request, lesson_id)
    questions = await request.app.ctx.services.db.run(q.questions, lesson_id)
    parts = split_message(lesson_text(lesson["title"], lesson["body"]))
    return render(
        request,
        "lesson.html",
        status=status,
        lesson=lesson,
        questions=questions,
        needed=needed_to_pass(len(questions), lesson["passing_score"]),  # what the course's mark means here
        parts=parts,
        limit=MESSAGE_LIMIT,
        kinds=KINDS,
        errors=list(errors),
        media_types=", ".join(MEDIA_TYPES),
        media_limits=media_limits(),
    )


@bp.post("/lessons/<lesson_id:int>")
@sec.admin_view("editor")
async def save_lesson(request: Request, lesson_id: int):
    await _lesson(request, lesson_id)
    title = field(request, "title").strip()[:120]
    body = field(request, "body").replace("\r\n", "\n").strip()
    minutes = field(request, "minutes", "5")
    if not title or not minutes.isdigit() or not 1 <= int(minutes) <= 120:
        raise BadRequest("A lesson needs a title and 1 to 120 minutes.")

    def change(conn, now):
        q.update_lesson(conn, lesson_id, title, int(minutes), body, now)
        _audit(conn, request, "lesson.update", f"lesson:{lesson_id}", now, title=title, chars=len(body))

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}", "saved")


@bp.post("/lessons/<lesson_id:int>/<action:publish|unpublish>")
@sec.admin_view("editor")
async def publish_lesson(request: Request, lesson_id: int, action: str):
    await _lesson(request, lesson_id)

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


def _question_fields(request: Request) -> dict[str, str | None]:
    """The posted quiz form, first value of each field."""
    posted = form(request)
    return {k: posted.get(k) for k in posted}


def parse_question(fields: dict) -> tuple[dict | None, list[str]]:
    """Form fields → question values, or the problems in words."""
    kind = fields.get("kind", "")
    prompt = (fields.get("prompt") or "").strip()
    explanation = (fields.get("explanation") or "").strip()
    answer_text = (fields.get("answer") or "").strip()
    choices = [c.strip() for c in (fields.get("choices") or "").splitlines() if c.strip()]
    problems = []
    if kind not in KINDS:
        problems.append("Choose the kind of question.")
    if not prompt:
        problems.append("Write the question.")
    answer: int | bool | tuple[str, ...] = ()
    if kind == "choice":
        if len(choices) < 2:
            problems.append("A multiple-choice question needs at least two choices, one per line.")
        if not answer_text.isdigit() or not 1 <= int(answer_text) <= max(1, len(choices)):
            problems.append("The answer of a multiple-choice question is the number of the right choice (1, 2, …).")
        else:
            answer = int(answer_text)
    elif kind == "true_false":
        if answer_text.lower() not in ("true", "false"):
            problems.append("The answer of a true/false question is true or false.")
        answer = answer_text.lower() == "true"
        choices = []
    elif kind == "short":
        accepted = tuple(a.strip() for a in answer_text.splitlines() if a.strip())
        if not accepted:
            problems.append("List the accepted answers, one per line.")
        answer, choices = accepted, []
    if problems:
        return None, problems
    return {
        "kind": kind,
        "prompt": prompt,
        "choices": json.dumps(choices, ensure_ascii=False),
        "answer": encode_answer(answer),
        "explanation": explanation,
    }, []


@bp.post("/lessons/<lesson_id:int>/questions")
@sec.admin_view("editor")
async def add_question(request: Request, lesson_id: int):
    await _lesson(request, lesson_id)
    values, problems = parse_question(_question_fields(request))
    if values is None:
        return await _render_lesson(request, lesson_id, errors=problems, status=400)

    def change(conn, now):
        question_id = q.add_question(conn, lesson_id, values)
        _audit(conn, request, "question.create", f"question:{question_id}", now, lesson_id=lesson_id)

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}#quiz", "saved")


@bp.post("/questions/<question_id:int>")
@sec.admin_view("editor")
async def edit_question(request: Request, question_id: int):
    services = request.app.ctx.services
    row = await services.db.run(
        lambda conn: conn.execute("SELECT lesson_id FROM questions WHERE id = ?", (question_id,)).fetchone()
    )
    if row is None:
        raise NotFound("No such question.")
    lesson_id = row["lesson_id"]
    if field(request, "delete") == "1":

        def remove(conn, now):
            q.remove_question(conn, question_id)
            _audit(conn, request, "question.delete", f"question:{question_id}", now)

        await _run_change(request, remove)
        return back(f"/admin/lessons/{lesson_id}#quiz", "deleted")
    values, problems = parse_question(_question_fields(request))
    if values is None:
        return await _render_lesson(request, lesson_id, errors=problems, status=400)

    def change(conn, now):
        q.update_question(conn, question_id, values)
        _audit(conn, request, "question.update", f"question:{question_id}", now)

    await _run_change(request, change)
    return back(f"/admin/lessons/{lesson_id}#quiz", "saved")


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
    rows = await services.db.run(q.courses)
    return render(request, "courses.html", courses=rows, errors=[], report=summary)


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
    rows = await services.db.run(q.courses)
    return render(request, "courses.html", courses=rows, errors=[], report=f"Exported {written} files to {dest}")
