"""Read a content folder into Course/BadgeDefinition objects, reporting every problem as file:line + hint."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from coachbox.content.locales import parse_locales
from coachbox.content.markup import (
    MESSAGE_LIMIT,
    lesson_text,
    lint_markup,
    split_message,
)
from coachbox.content.problems import ContentProblem, Reporter, TomlDoc, Where, load_toml
from coachbox.core.errors import UserError
from coachbox.learning.course import BadgeDefinition, BadgeRule, Course, Lesson, Question

__all__ = ["ContentError", "ContentProblem", "ParseResult", "parse_folder", "split_front_matter"]

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LESSON_FILE = re.compile(r"^(\d+)-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
FRONT_MATTER_FENCE = "+++"
LESSON_MAX_CHARS = 4000  # beyond this a lesson would arrive as 3+ messages: too long for micro-learning
MEDIA_TYPES = {".jpg", ".jpeg", ".png", ".pdf", ".mp3", ".ogg", ".mp4"}  # what Twilio delivers on WhatsApp
# WhatsApp through Twilio takes images up to 5 MB and other media up to 16 MB; larger files fail at send time.
MEDIA_LIMIT_BYTES = {".jpg": 5_000_000, ".jpeg": 5_000_000, ".png": 5_000_000}
MEDIA_LIMIT_OTHER_BYTES = 16_000_000
# Learners on prepaid data pay for every lesson's file, every day: past this, the import warns.
MEDIA_LIGHT_BYTES = 300_000
COURSE_KEYS = (
    "title",
    "description",
    "language",
    "level",
    "premium",
    "passing_score",
    "position",
    "translation_of",
    "checkin",
)
CHECKIN_MAX = 10  # the check-in is asked twice and never marked: a few questions, not an exam
LESSON_KEYS = ("title", "minutes", "media", "quiz")
QUIZ_KEYS = {
    "choice": ("kind", "question", "choices", "answer", "explanation"),
    "true_false": ("kind", "question", "answer", "explanation"),
    "short": ("kind", "question", "accept", "explanation"),
}
BADGE_KEYS = ("code", "name", "emoji", "description", "rule", "threshold")
BADGE_RULES: tuple[BadgeRule, ...] = ("lessons_completed", "streak", "perfect_quiz", "course_complete", "early_bird")


class ContentError(UserError):
    """The content folder has errors; nothing was imported. The message lists every one, a line each."""

    def __init__(self, problems: list[ContentProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(problem) for problem in self.problems)
        super().__init__(f"content has {count} error{'s' * (count != 1)}, nothing was imported:\n{lines}")


@dataclass
class ParseResult:
    courses: list[Course] = field(default_factory=list)
    badges: list[BadgeDefinition] = field(default_factory=list)
    locales: dict[str, dict] = field(default_factory=dict)
    problems: list[ContentProblem] = field(default_factory=list)
    badges_file: bool = False  # badges.toml exists (so badges missing from it were removed on purpose)

    @property
    def errors(self) -> list[ContentProblem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[ContentProblem]:
        return [p for p in self.problems if p.level == "warning"]


def parse_folder(folder: Path, progress: Callable[[str, int, int], None] | None = None) -> ParseResult:
    """Parse content/ (courses/, locales/, badges.toml). Never raises for bad content: see .problems."""
    folder = Path(folder)
    report = Reporter(folder)
    result = ParseResult()
    if not folder.is_dir():
        report.add(folder, 0, "content folder does not exist", "check [paths] content_dir or the path you gave")
        result.problems = report.problems
        return result
    result.locales, languages = parse_locales(folder / "locales", report)
    result.courses = _parse_courses(folder / "courses", languages, report, progress)
    badges_path = folder / "badges.toml"
    result.badges_file = badges_path.is_file()
    if result.badges_file:
        result.badges = _parse_badges(badges_path, languages, report)
    result.problems = report.problems
    return result


# -- courses -------------------------------------------------------------------------------------


def _parse_courses(
    courses_dir: Path, languages: set[str], report: Reporter, progress: Callable[[str, int, int], None] | None
) -> list[Course]:
    if not courses_dir.is_dir():
        report.add(courses_dir, 0, "no courses folder", "create courses/<course-slug>/course.toml", level="warning")
        return []
    parsed: list[tuple[Course, TomlDoc]] = []
    folders = sorted(p for p in courses_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    for done, course_dir in enumerate(folders, start=1):
        item = _parse_course(course_dir, languages, report)
        if item:
            parsed.append(item)
        if progress:
            progress("Reading courses", done, len(folders))
    slugs = {course.slug: course for course, _ in parsed}
    folder_names = {course_dir.name for course_dir in folders}  # a broken original is reported on its own
    for course, doc in parsed:
        original = course.translation_of
        if original is None or (original in folder_names and original not in slugs):
            continue
        if original == course.slug or original not in slugs:
            doc.error(
                f"translation_of = '{original}' is not another course folder",
                f"use the folder name of the original course, one of: {', '.join(sorted(folder_names - {course.slug}))}",
                key="translation_of",
            )
        elif slugs[original].translation_of:
            doc.error(
                f"translation_of = '{original}' is itself a translation",
                f"point at the original: translation_of = '{slugs[original].translation_of}'",
                key="translation_of",
            )
    return [course for course, _ in parsed]


def _parse_course(course_dir: Path, languages: set[str], report: Reporter) -> tuple[Course, TomlDoc] | None:
    path = course_dir / "course.toml"
    slug = course_dir.name
    ok = True
    if not SLUG.match(slug):
        report.add(
            path,
            1,
            f"course folder name '{slug}' is not a valid slug",
            "use lowercase letters, digits and dashes, e.g. mobile-money-safety",
        )
        ok = False
    lessons = _parse_lessons(course_dir, report)
    if not path.is_file():
        report.add(
            path, 1, "course folder has no course.toml", 'create it with at least title = "…" and language = "en"'
        )
        return None
    doc = load_toml(path, report)
    if doc is None:
        return None
    data = doc.data
    doc.unknown_keys(data, COURSE_KEYS, "course.toml")
    title = doc.text(data, "title", required=True)
    language = doc.text(data, "language", required=True)
    if language is not None and language not in languages:
        doc.error(
            f"language '{language}' has no locale file",
            f"add locales/{language}.toml or use one of: {', '.join(sorted(languages)) or 'none yet'}",
            key="language",
        )
        language = None
    passing = doc.integer(data, "passing_score", default=70, low=0, high=100)
    translation_of = doc.text(data, "translation_of")
    description = doc.text(data, "description", default="", allow_empty=True)
    level = doc.text(data, "level", default="beginner")
    premium = doc.boolean(data, "premium", default=False)
    position = doc.integer(data, "position", default=0)
    checkin = _parse_checkin(doc, data.get("checkin", []))
    if (
        not ok
        or doc.failed
        or title is None
        or language is None
        or passing is None
        or description is None
        or level is None
        or premium is None
        or position is None
        or checkin is None
    ):
        return None
    course = Course(
        slug=slug,
        title=title,
        language=language,
        passing_score=passing,
        translation_of=translation_of,
        lessons=tuple(lessons),
        description=description,
        level=level,
        premium=premium,
        position=position,
        checkin=tuple(checkin),
    )
    return course, doc


def _parse_checkin(doc: TomlDoc, checkin: object) -> list[Question] | None:
    """[[checkin]] tables in course.toml: quiz questions (same keys) asked before lesson 1 and after the last."""
    if not isinstance(checkin, list) or not all(isinstance(item, dict) for item in checkin):
        doc.error(
            "checkin must be a list of [[checkin]] tables",
            "write each check-in question as a [[checkin]] table with the keys of a [[quiz]] question",
            key="checkin",
        )
        return None
    if len(checkin) > CHECKIN_MAX:
        doc.error(
            f"the check-in has {len(checkin)} questions, more than {CHECKIN_MAX}",
            "keep it short (3 to 5 questions): learners answer it twice, before lesson 1 and after the last",
            table="checkin",
            index=CHECKIN_MAX,
        )
        return None
    parsed = [_parse_question(doc, item, index, table="checkin") for index, item in enumerate(checkin)]
    questions = [question for question in parsed if question is not None]
    return questions if len(questions) == len(parsed) else None


# -- lessons -------------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter TOML, body, file line the body starts on). Raises ValueError(line, message, hint)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        raise ValueError(
            1,
            "a lesson must start with a line that is exactly +++",
            'begin the file with +++, then title = "…", then +++ again, then the lesson text',
        )
    for index in range(1, len(lines)):
        if lines[index].rstrip() == FRONT_MATTER_FENCE:
            body_lines = lines[index + 1 :]
            skipped = next((i for i, line in enumerate(body_lines) if line.strip()), 0)
            return "\n".join(lines[1:index]), "\n".join(body_lines).strip(), index + 2 + skipped
    raise ValueError(
        1,
        "the front matter opened with +++ on line 1 is never closed",
        "add a line with exactly +++ between the front matter and the lesson text",
    )


def _parse_lessons(course_dir: Path, report: Reporter) -> list[Lesson]:
    lessons: list[Lesson] = []
    seen_positions: dict[int, str] = {}
    seen_slugs: dict[str, str] = {}
    for path in sorted(course_dir.glob("*.md")):
        match = LESSON_FILE.match(path.name)
        if not match:
            report.add(
                path,
                1,
                f"'{path.name}' is not a lesson file name",
                "name lesson files NN-lesson-slug.md in lowercase with dashes, e.g. 01-what-is-mobile-money.md",
            )
            continue
        position, slug = int(match.group(1)), match.group(2)
        if position < 1:
            report.add(path, 1, "lesson position 0 is not allowed", "number lessons from 01")
        elif position in seen_positions:
            report.add(
                path,
                1,
                f"duplicate lesson position {position}: {seen_positions[position]} has it too",
                "give each lesson file its own number",
            )
        if slug in seen_slugs:
            report.add(
                path,
                1,
                f"duplicate lesson slug '{slug}': {seen_slugs[slug]} has it too",
                "give each lesson file its own name after the number",
            )
        seen_positions.setdefault(position, path.name)
        seen_slugs.setdefault(slug, path.name)
        lesson = _parse_lesson(path, course_dir, position, slug, report)
        if lesson is not None:
            lessons.append(lesson)
    lessons.sort(key=lambda lesson: (lesson.position, lesson.slug))
    return lessons


def _parse_lesson(path: Path, course_dir: Path, position: int, slug: str, report: Reporter) -> Lesson | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        report.add(path, 1, "file is not UTF-8 text", "save it as UTF-8 in your editor")
        return None
    try:
        front, body, body_line = split_front_matter(text)
    except ValueError as exc:
        line, message, hint = exc.args
        report.add(path, line, message, hint)
        return None
    doc = load_toml(path, report, text=front, offset=1)
    if doc is None:
        return None
    data = doc.data
    doc.unknown_keys(data, LESSON_KEYS, "the lesson front matter")
    title = doc.text(data, "title", required=True)
    minutes = doc.integer(data, "minutes", default=5, low=1, high=120)
    media = _check_media(doc, data, course_dir)
    questions = _parse_quiz(doc, data.get("quiz", []))
    if not body:
        report.add(
            path, body_line, "the lesson has no text after the closing +++", "write the lesson below the front matter"
        )
    else:
        _check_body(path, title or "", body, body_line, report)
    if doc.failed or title is None or minutes is None or questions is None or not body:
        return None
    return Lesson(
        slug=slug, position=position, title=title, body=body, minutes=minutes, media=media, questions=tuple(questions)
    )


def _check_body(path: Path, title: str, body: str, body_line: int, report: Reporter) -> None:
    length = len(lesson_text(title, body))
    if length > LESSON_MAX_CHARS:
        report.add(
            path,
            body_line,
            f"lesson is {length:,} characters long, over the {LESSON_MAX_CHARS:,} limit",
            "shorten it or split it into two lessons",
        )
    elif length > MESSAGE_LIMIT:
        parts = len(split_message(lesson_text(title, body)))
        report.add(
            path,
            body_line,
            f"lesson is {length:,} characters long: it will be sent as {parts} WhatsApp messages",
            f"keep title and text under {MESSAGE_LIMIT:,} characters to send it as one",
            level="warning",
        )
    for line, message, hint in lint_markup(body):
        report.add(path, body_line + line - 1, message, hint, level="warning")


def _check_media(doc: TomlDoc, data: dict, course_dir: Path) -> str | None:
    media = doc.text(data, "media")
    if media is None:
        return None
    relative = PurePosixPath(media)
    if relative.is_absolute() or ".." in relative.parts or "\\" in media:
        doc.error(
            f"media path '{media}' must stay inside the course folder",
            'use a relative path like "media/pin.jpg"',
            key="media",
        )
    elif relative.suffix.lower() not in MEDIA_TYPES:
        doc.error(
            f"media type '{relative.suffix or media}' cannot be sent on WhatsApp",
            f"use one of: {', '.join(sorted(t[1:] for t in MEDIA_TYPES))}",
            key="media",
        )
    elif not (course_dir / relative).is_file():
        shown = doc.reporter.relative(course_dir / relative)
        doc.error(f"media file '{media}' does not exist", f"put the file at {shown} or fix the path", key="media")
    else:
        size = (course_dir / relative).stat().st_size
        limit = MEDIA_LIMIT_BYTES.get(relative.suffix.lower(), MEDIA_LIMIT_OTHER_BYTES)
        if size > limit:
            doc.error(
                f"media file '{media}' is {size / 1e6:.1f} MB: WhatsApp takes at most {limit / 1e6:.0f} MB",
                "make it smaller (a picture 1280 px wide, a shorter recording)",
                key="media",
            )
            return None
        if size > MEDIA_LIGHT_BYTES:
            doc.error(
                f"media file '{media}' is {size / 1e3:.0f} KB: learners on prepaid data pay for it with every lesson",
                f"aim for under {MEDIA_LIGHT_BYTES // 1000} KB (a JPEG 1280 px wide at quality 75 usually is)",
                key="media",
                level="warning",
            )
        return media
    return None


def _parse_quiz(doc: TomlDoc, quiz: object) -> list[Question] | None:
    if not isinstance(quiz, list) or not all(isinstance(item, dict) for item in quiz):
        doc.error("quiz must be a list of [[quiz]] tables", "write each question as a [[quiz]] table", key="quiz")
        return None
    parsed = [_parse_question(doc, item, index) for index, item in enumerate(quiz)]
    questions = [question for question in parsed if question is not None]
    return questions if len(questions) == len(parsed) else None


def _parse_question(doc: TomlDoc, item: dict, index: int, *, table: str = "quiz") -> Question | None:
    number = index + 1
    where: Where = {"table": table, "index": index}
    label = f"{'check-in' if table == 'checkin' else 'quiz'} question {number}"
    kind = item.get("kind")
    if kind not in QUIZ_KEYS:
        shown = f"has kind '{kind}'" if kind is not None else "has no kind"
        doc.error(f"{label} {shown}", 'use kind = "choice", "true_false" or "short"', key="kind", **where)
        return None
    doc.unknown_keys(item, QUIZ_KEYS[kind], f"{label}, a {kind} question", **where)
    prompt = doc.text(item, "question", required=True, label=label, **where)
    explanation = doc.text(
        item,
        "explanation",
        required=True,
        label=label,
        hint='add explanation = "…": learners read it after they answer',
        **where,
    )
    choices: tuple[str, ...] = ()
    answer: int | bool | tuple[str, ...] | None = None
    if kind == "choice":
        raw = item.get("choices")
        if (
            not isinstance(raw, list)
            or not 2 <= len(raw) <= 6
            or not all(isinstance(c, str) and c.strip() for c in raw)
        ):
            doc.error(
                f"{label} needs 2 to 6 choices",
                'write choices = ["first", "second", "third"]',
                key="choices" if "choices" in item else None,
                **where,
            )
        else:
            choices = tuple(raw)
        answer = _choice_answer(doc, item, label, len(choices) or None, where)
    elif kind == "true_false":
        if "answer" not in item:
            doc.error(f"{label} has no answer", "add answer = true or answer = false", **where)
        elif not isinstance(item["answer"], bool):
            doc.error(
                f"{label}: answer must be true or false",
                "write answer = true or answer = false, without quotes",
                key="answer",
                **where,
            )
        else:
            answer = item["answer"]
    else:
        raw = item.get("accept")
        if not isinstance(raw, list) or not raw or not all(isinstance(a, str) and a.strip() for a in raw):
            doc.error(
                f"{label} has no accepted answers",
                'add accept = ["answer", "other spelling"]',
                key="accept" if "accept" in item else None,
                **where,
            )
        else:
            answer = tuple(raw)
    if prompt is None or explanation is None or answer is None or (kind == "choice" and not choices):
        return None
    return Question(position=number, kind=kind, prompt=prompt, explanation=explanation, choices=choices, answer=answer)


def _choice_answer(doc: TomlDoc, item: dict, label: str, count: int | None, where: Where) -> int | None:
    span = f"1 to {count}" if count else "1 to the number of choices"
    if "answer" not in item:
        doc.error(f"{label} has no answer", f"add answer = N, the number of the right choice, from {span}", **where)
        return None
    answer = item["answer"]
    if not isinstance(answer, int) or isinstance(answer, bool):
        doc.error(
            f"{label}: answer must be the number of the right choice",
            f"write a number from {span} without quotes, e.g. answer = 2",
            key="answer",
            **where,
        )
        return None
    if count and not 1 <= answer <= count:
        doc.error(
            f"{label}: answer {answer} is not one of the {count} choices",
            f"use a number from {span}",
            key="answer",
            **where,
        )
        return None
    return answer


# -- badges --------------------------------------------------------------------------------------


def _parse_badges(path: Path, languages: set[str], report: Reporter) -> list[BadgeDefinition]:
    doc = load_toml(path, report)
    if doc is None:
        return []
    doc.unknown_keys(doc.data, ("badge",), "badges.toml")
    items = doc.data.get("badge", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        doc.error("badge must be a list of [[badge]] tables", "write each badge as a [[badge]] table", key="badge")
        return []
    badges, codes, warned = [], set(), set(languages)
    for index, item in enumerate(items):
        badge = _parse_badge(doc, item, index, warned)
        if badge is None:
            continue
        if badge.code in codes:
            doc.error(
                f"duplicate badge code '{badge.code}'",
                "give each badge its own code",
                key="code",
                table="badge",
                index=index,
            )
            continue
        codes.add(badge.code)
        badges.append(badge)
    return badges


def _parse_badge(doc: TomlDoc, item: dict, index: int, warned: set[str]) -> BadgeDefinition | None:
    """One [[badge]]; `warned` holds the languages already known or warned about (one warning per language)."""
    where: Where = {"table": "badge", "index": index}
    label = f"badge {index + 1}"
    names: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    translated: dict[str, tuple[str, str]] = {}
    for key in item:
        match = re.fullmatch(r"(name|description)_([a-z]{2,3}(?:[-_][A-Za-z0-9]+)?)", key)
        if match:
            translated[key] = (match.group(1), match.group(2))
            if match.group(2) not in warned:
                warned.add(match.group(2))
                doc.error(
                    f"{label}: {key} is for language '{match.group(2)}', which has no locale file",
                    f"add locales/{match.group(2)}.toml, or remove the _{match.group(2)} keys",
                    key=key,
                    level="warning",
                    **where,
                )
    doc.unknown_keys(item, BADGE_KEYS + tuple(translated), label, **where)
    code = doc.text(item, "code", required=True, label=label, **where)
    if code is not None and not SLUG.match(code):
        doc.error(
            f"{label}: code '{code}' is not a valid code",
            "use lowercase letters, digits and dashes",
            key="code",
            **where,
        )
        code = None
    name = doc.text(item, "name", required=True, label=label, **where)
    rule_text = doc.text(item, "rule", required=True, label=label, **where)
    rule = next((known for known in BADGE_RULES if known == rule_text), None)
    if rule_text is not None and rule is None:
        doc.error(f"{label}: unknown rule '{rule_text}'", f"use one of: {', '.join(BADGE_RULES)}", key="rule", **where)
    threshold = doc.integer(item, "threshold", default=1, low=1, label=label, **where)
    emoji = doc.text(item, "emoji", default="", allow_empty=True, label=label, **where)
    description = doc.text(item, "description", default="", allow_empty=True, label=label, **where)
    for key, (what, lang) in translated.items():
        value = doc.text(item, key, label=label, **where)
        if value is not None:
            (names if what == "name" else descriptions)[lang] = value
    if code is None or name is None or rule is None or threshold is None or emoji is None or description is None:
        return None
    names = {"en": name, **names}
    descriptions = {"en": description, **descriptions} if description else descriptions
    return BadgeDefinition(
        code=code, rule=rule, threshold=threshold, emoji=emoji, names=names, descriptions=descriptions
    )
