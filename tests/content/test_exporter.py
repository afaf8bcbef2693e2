"""Exporting: the database written back as a content folder that parses to the same courses."""

from __future__ import annotations

from coachbox.content.exporter import export_folder, toml_value
from coachbox.content.importer import import_folder
from coachbox.content.parser import parse_folder
from tests.content.folder import LESSON_ONE, content_folder


def test_it_round_trips_import_export_parse(tmp_path, settings, conn):
    lesson = LESSON_ONE.replace("minutes = 4\n", 'minutes = 4\nmedia = "media/intro.png"\n').replace(
        "Your number", 'Your "number" \\ works\tlike'
    )
    source = content_folder(
        tmp_path / "source",
        {"courses/money/01-what-is-mobile-money.md": lesson, "courses/money/media/intro.png": b"\x89PNG"},
    )
    settings = settings.replace(paths={"content_dir": str(source)})
    import_folder(conn, source, settings)
    written = export_folder(conn, tmp_path / "out", settings)
    # 2 course.toml + 3 lessons + 1 media + badges.toml + 2 locales
    assert written == 9
    original, exported = parse_folder(source), parse_folder(tmp_path / "out")
    assert exported.problems == []
    assert exported.courses == original.courses
    assert exported.badges == original.badges
    assert exported.locales == original.locales
    assert (tmp_path / "out/courses/money/media/intro.png").read_bytes() == b"\x89PNG"
    # Re-importing the export changes nothing: the hashes are of the content, not of the file bytes.
    assert import_folder(conn, tmp_path / "out", settings).rows_changed == 0


def test_it_writes_lessons_in_the_authoring_format(tmp_path, settings, conn):
    import_folder(conn, content_folder(tmp_path), settings)
    export_folder(conn, tmp_path / "out", settings)
    text = (tmp_path / "out/courses/money/01-what-is-mobile-money.md").read_text()
    assert text == (
        '+++\ntitle = "What is mobile money?"\nminutes = 4\n\n[[quiz]]\nkind = "true_false"\n'
        'question = "Your money is kept inside the SIM card."\nanswer = false\n'
        'explanation = "The provider keeps it, linked to your number."\n+++\n'
        "*Mobile money* lets you keep and send money with your phone.\n\nYour number works like an account number.\n"
    )


def test_it_writes_toml_values_that_read_back():
    import tomllib

    value = 'quote " backslash \\ tab \t newline \n del \x7f emoji 🌱 ctrl \x01'
    assert tomllib.loads(f"x = {toml_value(value)}\ny = {toml_value([True, 3, 'a'])}") == {
        "x": value,
        "y": [True, 3, "a"],
    }


def test_it_round_trips_a_course_check_in(tmp_path, settings, conn):
    checkin = (
        '\n[[checkin]]\nkind = "short"\nquestion = "What protects your money?"\naccept = ["PIN", "my PIN"]\n'
        'explanation = "Your PIN."\n'
    )
    source = content_folder(tmp_path / "source")  # the default course.toml, with the check-in added to it
    toml = source / "courses/money/course.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + checkin, encoding="utf-8")
    settings = settings.replace(paths={"content_dir": str(source)})
    import_folder(conn, source, settings)
    export_folder(conn, tmp_path / "out", settings)
    original, exported = parse_folder(source), parse_folder(tmp_path / "out")
    assert exported.problems == []
    money = next(c for c in exported.courses if c.slug == "money")
    assert money.checkin == next(c for c in original.courses if c.slug == "money").checkin
    assert money.checkin[0].answer == ("PIN", "my PIN")
    assert import_folder(conn, tmp_path / "out", settings).rows_changed == 0
