"""Parsing a content folder: good content becomes model objects, each mistake a file:line problem with a hint."""

from __future__ import annotations

from pathlib import Path

from coachbox.content.parser import parse_folder
from coachbox.learning.course import BadgeDefinition, Question
from tests.content.folder import COURSE, COURSE_SW, LESSON_ONE, LESSON_TWO, SW, content_folder

L1 = "content/courses/money/01-what-is-mobile-money.md"
L2 = "content/courses/money/02-keep-your-pin-secret.md"


def _problems(tmp_path: Path, changes: dict) -> list[str]:
    return [str(problem) for problem in parse_folder(content_folder(tmp_path, changes)).problems]


def test_it_parses_a_good_folder_without_problems(tmp_path):
    result = parse_folder(content_folder(tmp_path))
    assert result.problems == []
    money, pesa = result.courses
    assert (money.slug, money.title, money.language, money.passing_score, money.position) == (
        "money",
        "Mobile Money Basics",
        "en",
        70,
        1,
    )
    assert (pesa.language, pesa.translation_of, pesa.family) == ("sw", "money", "money")
    assert [(lesson.position, lesson.slug, lesson.minutes) for lesson in money.lessons] == [
        (1, "what-is-mobile-money", 4),
        (2, "keep-your-pin-secret", 5),
    ]
    pin = money.lessons[1]
    assert pin.body == "Your *PIN* is yours alone.\n- Never say it on the phone\n- Cover the keypad"
    assert pin.questions == (
        Question(
            1, "choice", "Who may know your PIN?", "Nobody else, ever.", ("Only you", "The agent", "Your cousin"), 1
        ),
        Question(2, "short", "What do you never share?", "Your PIN protects your money.", (), ("PIN", "my PIN")),
    )
    assert money.lessons[0].questions[0].answer is False
    assert result.badges[0] == BadgeDefinition(
        code="first-lesson",
        rule="lessons_completed",
        threshold=1,
        emoji="🌱",
        names={"en": "First Step", "sw": "Hatua ya Kwanza"},
        descriptions={"en": "Completed your first lesson", "sw": "Umekamilisha somo lako la kwanza"},
    )
    assert result.badges[1].names == {"en": "On a Roll"} and result.badges[1].descriptions == {}
    assert result.locales["sw"]["menu"]["stop"] == ["STOP", "ACHA"]


def test_it_reports_a_missing_quiz_answer_at_its_quiz_table(tmp_path):
    lesson = LESSON_TWO.replace("answer = 1\n", "")
    assert _problems(tmp_path, {"courses/money/02-keep-your-pin-secret.md": lesson}) == [
        f"{L2}:4: quiz question 1 has no answer (add answer = N, the number of the right choice, from 1 to 3)"
    ]


def test_it_reports_an_answer_out_of_range(tmp_path):
    lesson = LESSON_TWO.replace("answer = 1\n", "answer = 4\n")
    assert _problems(tmp_path, {"courses/money/02-keep-your-pin-secret.md": lesson}) == [
        f"{L2}:8: quiz question 1: answer 4 is not one of the 3 choices (use a number from 1 to 3)"
    ]


def test_it_reports_a_true_false_answer_in_quotes(tmp_path):
    lesson = LESSON_ONE.replace("answer = false", 'answer = "false"')
    assert _problems(tmp_path, {"courses/money/01-what-is-mobile-money.md": lesson}) == [
        f"{L1}:8: quiz question 1: answer must be true or false (write answer = true or answer = false, without quotes)"
    ]


def test_it_reports_a_duplicate_position(tmp_path):
    assert _problems(tmp_path, {"courses/money/02-pin-again.md": LESSON_TWO}) == [
        "content/courses/money/02-pin-again.md:1: duplicate lesson position 2: 02-keep-your-pin-secret.md has it too "
        "(give each lesson file its own number)"
    ]


def test_it_reports_an_unknown_key_in_course_toml(tmp_path):
    assert _problems(tmp_path, {"courses/money/course.toml": COURSE + "premuim = true\n"}) == [
        "content/courses/money/course.toml:8: unknown key 'premuim' in course.toml (did you mean 'premium'? allowed: "
        "title, description, language, level, premium, passing_score, position, translation_of, checkin)"
    ]


def test_it_reports_an_unknown_key_in_a_quiz_and_what_it_leaves_missing(tmp_path):
    lesson = LESSON_TWO.replace("accept = ", "accepts = ")
    assert _problems(tmp_path, {"courses/money/02-keep-your-pin-secret.md": lesson}) == [
        f"{L2}:14: unknown key 'accepts' in quiz question 2, a short question (did you mean 'accept'? allowed: kind, question, "
        "accept, explanation)",
        f'{L2}:11: quiz question 2 has no accepted answers (add accept = ["answer", "other spelling"])',
    ]


def test_it_reports_a_lesson_that_is_too_long(tmp_path):
    lesson = '+++\ntitle = "Long"\n+++\n' + "word " * 900
    assert _problems(tmp_path, {"courses/money/03-long.md": lesson}) == [
        "content/courses/money/03-long.md:4: lesson is 4,507 characters long, over the 4,000 limit "
        "(shorten it or split it into two lessons)"
    ]


def test_it_warns_when_a_lesson_needs_more_than_one_message(tmp_path):
    paragraph = ("A short sentence here. " * 37).strip()
    lesson = '+++\ntitle = "Longish"\n+++\n\n' + paragraph + "\n\n" + paragraph + "\n"
    result = parse_folder(content_folder(tmp_path, {"courses/money/03-longish.md": lesson}))
    assert result.errors == []
    assert [str(p) for p in result.warnings] == [
        "content/courses/money/03-longish.md:5: lesson is 1,713 characters long: it will be sent as 2 WhatsApp "
        "messages (keep title and text under 1,600 characters to send it as one)"
    ]
    assert len(result.courses[0].lessons) == 3


def test_it_reports_missing_media(tmp_path):
    lesson = LESSON_ONE.replace("minutes = 4\n", 'minutes = 4\nmedia = "media/intro.jpg"\n')
    assert _problems(tmp_path, {"courses/money/01-what-is-mobile-money.md": lesson}) == [
        f"{L1}:4: media file 'media/intro.jpg' does not exist "
        "(put the file at content/courses/money/media/intro.jpg or fix the path)"
    ]


def test_it_accepts_media_that_exists_and_refuses_paths_outside_the_course(tmp_path):
    lesson = LESSON_ONE.replace("minutes = 4\n", 'minutes = 4\nmedia = "media/intro.jpg"\n')
    result = parse_folder(
        content_folder(
            tmp_path,
            {"courses/money/01-what-is-mobile-money.md": lesson, "courses/money/media/intro.jpg": b"\xff\xd8jpeg"},
        )
    )
    assert result.problems == [] and result.courses[0].lessons[0].media == "media/intro.jpg"
    escaping = lesson.replace("media/intro.jpg", "../pesa/course.toml")
    assert _problems(tmp_path, {"courses/money/01-what-is-mobile-money.md": escaping}) == [
        f"{L1}:4: media path '../pesa/course.toml' must stay inside the course folder "
        '(use a relative path like "media/pin.jpg")'
    ]


def test_it_refuses_media_whatsapp_would_refuse_and_warns_about_heavy_files(tmp_path):
    """A learner on prepaid data pays for every lesson's picture: past 300 KB the import warns (it still imports);
    past WhatsApp's limit (5 MB for images) the lesson could never be sent, so it is an error."""
    lesson = LESSON_ONE.replace("minutes = 4\n", 'minutes = 4\nmedia = "media/intro.jpg"\n')
    heavy = parse_folder(
        content_folder(
            tmp_path / "heavy",
            {"courses/money/01-what-is-mobile-money.md": lesson, "courses/money/media/intro.jpg": b"x" * 400_000},
        )
    )
    assert [str(p) for p in heavy.problems] == [
        f"{L1}:4: media file 'media/intro.jpg' is 400 KB: learners on prepaid data pay for it with every lesson "
        "(aim for under 300 KB (a JPEG 1280 px wide at quality 75 usually is))"
    ]
    assert heavy.errors == [] and heavy.courses[0].lessons[0].media == "media/intro.jpg"
    huge = parse_folder(
        content_folder(
            tmp_path / "huge",
            {"courses/money/01-what-is-mobile-money.md": lesson, "courses/money/media/intro.jpg": b"x" * 5_200_000},
        )
    )
    assert [str(p) for p in huge.errors] == [
        f"{L1}:4: media file 'media/intro.jpg' is 5.2 MB: WhatsApp takes at most 5 MB "
        "(make it smaller (a picture 1280 px wide, a shorter recording))"
    ]


def test_it_reports_broken_toml_front_matter_at_its_file_line(tmp_path):
    lesson = LESSON_ONE.replace("minutes = 4", "minutes = four")
    assert _problems(tmp_path, {"courses/money/01-what-is-mobile-money.md": lesson}) == [
        f"{L1}:3: front matter is not valid TOML: Invalid value at column 11 "
        '(check the quotes, commas and brackets on this line; text needs "quotes")'
    ]


def test_it_reports_a_missing_closing_fence(tmp_path):
    lesson = LESSON_ONE.replace('number."\n+++\n', 'number."\n')
    assert _problems(tmp_path, {"courses/money/01-what-is-mobile-money.md": lesson}) == [
        f"{L1}:1: the front matter opened with +++ on line 1 is never closed "
        "(add a line with exactly +++ between the front matter and the lesson text)"
    ]


def test_it_reports_a_lesson_without_front_matter_and_a_bad_file_name(tmp_path):
    assert _problems(tmp_path, {"courses/money/03-plain.md": "Just text\n", "courses/money/Notes.md": "x"}) == [
        "content/courses/money/03-plain.md:1: a lesson must start with a line that is exactly +++ "
        '(begin the file with +++, then title = "…", then +++ again, then the lesson text)',
        "content/courses/money/Notes.md:1: 'Notes.md' is not a lesson file name "
        "(name lesson files NN-lesson-slug.md in lowercase with dashes, e.g. 01-what-is-mobile-money.md)",
    ]


def test_it_reports_a_locale_missing_a_key(tmp_path):
    sw = SW.replace('help = "Tuma MSAADA kupata menyu"\n', "")
    assert _problems(tmp_path, {"locales/sw.toml": sw}) == [
        "content/locales/sw.toml:3: missing key 'menu.help' that en.toml has (copy it from en.toml and translate it)"
    ]


def test_it_reports_a_placeholder_the_reference_locale_does_not_have(tmp_path):
    sw = SW.replace("Habari {name}!", "Habari {jina}!")
    assert _problems(tmp_path, {"locales/sw.toml": sw}) == [
        "content/locales/sw.toml:1: 'greeting' uses {jina}, which en.toml does not have "
        "(placeholders must be spelled as in en.toml; allowed here: {name})"
    ]


def test_it_reports_a_course_language_without_a_locale_file(tmp_path):
    assert _problems(tmp_path, {"locales/sw.toml": None}) == [
        "content/courses/pesa/course.toml:2: language 'sw' has no locale file (add locales/sw.toml or use one of: en)",
        "content/badges.toml:4: badge 1: name_sw is for language 'sw', which has no locale file "
        "(add locales/sw.toml, or remove the _sw keys)",
    ]


def test_it_reports_a_translation_of_an_unknown_course(tmp_path):
    course = COURSE_SW.replace('"money"', '"mony"')
    assert _problems(tmp_path, {"courses/pesa/course.toml": course}) == [
        "content/courses/pesa/course.toml:4: translation_of = 'mony' is not another course folder "
        "(use the folder name of the original course, one of: money)"
    ]


def test_it_reports_badge_mistakes(tmp_path):
    badges = '[[badge]]\ncode = "x"\nname = "X"\nrule = "streaks"\nthreshold = 0\n'
    assert _problems(tmp_path, {"badges.toml": badges}) == [
        "content/badges.toml:4: badge 1: unknown rule 'streaks' (use one of: lessons_completed, streak, "
        "perfect_quiz, course_complete, early_bird)",
        "content/badges.toml:5: badge 1: threshold = 0 is out of range (use a number of at least 1)",
    ]


def test_it_reports_every_problem_of_a_folder_not_just_the_first(tmp_path):
    problems = _problems(
        tmp_path,
        {
            "courses/money/course.toml": COURSE.replace('title = "Mobile Money Basics"\n', ""),
            "courses/money/01-what-is-mobile-money.md": LESSON_ONE.replace("explanation =", "explain ="),
            "courses/money/02-keep-your-pin-secret.md": LESSON_TWO.replace('kind = "choice"', 'kind = "multiple"'),
            "locales/sw.toml": SW.replace("greeting", "greting"),
        },
    )
    assert problems == [
        "content/locales/sw.toml:1: missing key 'greeting' that en.toml has (copy it from en.toml and translate it)",
        "content/locales/sw.toml:1: key 'greting' is not in en.toml, so it is never used "
        "(remove it, or add it to en.toml first)",
        f"{L1}:9: unknown key 'explain' in quiz question 1, a true_false question (did you mean 'explanation'? allowed: kind, "
        "question, answer, explanation)",
        f'{L1}:5: quiz question 1 has no explanation (add explanation = "…": learners read it after they answer)',
        f'{L2}:5: quiz question 1 has kind \'multiple\' (use kind = "choice", "true_false" or "short")',
        "content/courses/money/course.toml:1: missing required key 'title' (add title = \"…\")",
    ]
    assert parse_folder(tmp_path / "content").courses[0].slug == "pesa"  # the good course still parses


def test_it_warns_about_markdown_that_whatsapp_shows_literally(tmp_path):
    lesson = LESSON_ONE.replace("Your number works", "**Your** number works")
    result = parse_folder(content_folder(tmp_path, {"courses/money/01-what-is-mobile-money.md": lesson}))
    assert [str(p) for p in result.warnings] == [
        f"{L1}:13: '**' shows as two asterisks on WhatsApp (use *single asterisks* for bold)"
    ]


CHECKIN = """
[[checkin]]
kind = "true_false"
question = "Your money is kept inside the SIM card."
answer = false
explanation = "The provider keeps it."

[[checkin]]
kind = "choice"
question = "Who may know your PIN?"
choices = ["The agent", "Only you"]
answer = 2
explanation = "Nobody else."
"""


def test_it_reads_a_check_in_from_course_toml(tmp_path):
    result = parse_folder(content_folder(tmp_path, {"courses/money/course.toml": COURSE + CHECKIN}))
    assert result.problems == []
    money = next(course for course in result.courses if course.slug == "money")
    assert [(q.position, q.kind, q.answer) for q in money.checkin] == [(1, "true_false", False), (2, "choice", 2)]


def test_a_broken_check_in_names_the_file_and_line(tmp_path):
    broken = COURSE + CHECKIN.replace("answer = 2", "answer = 3").replace('kind = "true_false"', 'kind = "yes_no"')
    assert _problems(tmp_path, {"courses/money/course.toml": broken}) == [
        "content/courses/money/course.toml:10: check-in question 1 has kind 'yes_no' "
        '(use kind = "choice", "true_false" or "short")',
        "content/courses/money/course.toml:19: check-in question 2: answer 3 is not one of the 2 choices "
        "(use a number from 1 to 2)",
    ]


def test_a_check_in_that_is_not_a_list_of_tables_or_too_long_is_an_error(tmp_path):
    assert _problems(tmp_path, {"courses/money/course.toml": COURSE + 'checkin = "yes"\n'}) == [
        "content/courses/money/course.toml:8: checkin must be a list of [[checkin]] tables "
        "(write each check-in question as a [[checkin]] table with the keys of a [[quiz]] question)"
    ]
    twelve = COURSE + CHECKIN * 6  # the error points at the 11th [[checkin]]
    assert _problems(tmp_path / "long", {"courses/money/course.toml": twelve}) == [
        "content/courses/money/course.toml:74: the check-in has 12 questions, more than 10 (keep it short (3 to 5 "
        "questions): learners answer it twice, before lesson 1 and after the last)"
    ]
