"""Import figures: a generated library of 100 courses x 50 lessons (x 3 questions), imported then re-imported.

Run: .venv/bin/python bench/import_bench.py [--courses 100 --lessons 50]
Prints one JSON object per line. Targets (issue 2): import < 10 s, re-import < 5 s with 0 rows changed.
The baseline is a bare executemany of the same number of rows into an empty table, measured in the same run
on the same disk, so the ratio says how much the parsing, validation and bookkeeping cost on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coachbox import store  # noqa: E402
from coachbox.content.catalogue import catalogue_version, load_catalogue  # noqa: E402
from coachbox.content.importer import import_folder  # noqa: E402
from coachbox.content.parser import parse_folder  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402

BODY = (
    "*Lesson {n}* of course {c}. Mobile money is safe when you keep your PIN to yourself. "
    "Never share it with callers, agents or family.\n\n"
    "- Check the name before you send\n- Keep the SMS receipts\n- Call the official line if unsure\n\n"
    + "This paragraph pads the lesson to a realistic length for a five-minute read on a phone. "
    * 4
)

LESSON = """+++
title = "Lesson {n} of course {c}"
minutes = 5

[[quiz]]
kind = "choice"
question = "Question one of lesson {n}?"
choices = ["Right", "Wrong", "Also wrong"]
answer = 1
explanation = "Because the first one is right."

[[quiz]]
kind = "true_false"
question = "Lesson {n} is about money."
answer = true
explanation = "It is."

[[quiz]]
kind = "short"
question = "Type PIN."
accept = ["PIN", "pin number"]
explanation = "PIN is the word."
+++
{body}
"""


def generate(folder: Path, courses: int, lessons: int) -> None:
    (folder / "locales").mkdir(parents=True)
    (folder / "locales" / "en.toml").write_text('hello = "Hello {name}"\n', encoding="utf-8")
    for c in range(1, courses + 1):
        course = folder / "courses" / f"course-{c:03d}"
        course.mkdir(parents=True)
        (course / "course.toml").write_text(
            f'title = "Course {c}"\nlanguage = "en"\nposition = {c}\n', encoding="utf-8"
        )
        for n in range(1, lessons + 1):
            text = LESSON.format(n=n, c=c, body=BODY.format(n=n, c=c))
            (course / f"{n:02d}-lesson-{n}.md").write_text(text, encoding="utf-8")


def baseline(path: Path, rows: int) -> float:
    """A bare executemany of `rows` small rows into an empty table, one transaction, same pragmas."""
    conn = store.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, c INTEGER)")
    data = [(f"title {i}", "x" * 300, i) for i in range(rows)]
    started = time.perf_counter()
    with store.transaction(conn):
        conn.executemany("INSERT INTO t (a, b, c) VALUES (?, ?, ?)", data)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=100)
    parser.add_argument("--lessons", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coachbox-import-bench-") as tmp:
        root = Path(tmp)
        content = root / "content"
        started = time.perf_counter()
        generate(content, args.courses, args.lessons)
        print(
            json.dumps(
                {
                    "step": "generate",
                    "courses": args.courses,
                    "lessons": args.courses * args.lessons,
                    "questions": args.courses * args.lessons * 3,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            ),
            flush=True,
        )
        settings = Settings.load(
            Path(__file__).resolve().parent.parent / "coachbox.toml",
            {
                **{k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")},
                "COACHBOX_PATHS_DATA_DIR": str(root / "data"),
                "COACHBOX_PATHS_CONTENT_DIR": str(content),
            },
        )
        conn = store.open_database(settings.db_path)

        started = time.perf_counter()
        parsed = parse_folder(content)
        parse_seconds = time.perf_counter() - started
        assert not parsed.errors, parsed.errors[:3]
        print(json.dumps({"step": "parse only", "seconds": round(parse_seconds, 3)}), flush=True)

        first = import_folder(conn, content, settings)
        print(
            json.dumps(
                {
                    "step": "import",
                    "seconds": round(first.seconds, 3),
                    "rows_changed": first.rows_changed,
                    "target_seconds": 10,
                    "ok": first.seconds < 10,
                }
            ),
            flush=True,
        )
        before = conn.total_changes
        second = import_folder(conn, content, settings)
        unchanged = conn.total_changes == before and second.rows_changed == 0
        print(
            json.dumps(
                {
                    "step": "re-import",
                    "seconds": round(second.seconds, 3),
                    "rows_changed": second.rows_changed,
                    "target_seconds": 5,
                    "ok": second.seconds < 5 and unchanged,
                }
            ),
            flush=True,
        )
        started = time.perf_counter()
        catalogue = load_catalogue(conn)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(1000):
            catalogue_version(conn)
        version_us = (time.perf_counter() - started) * 1000
        print(
            json.dumps(
                {
                    "step": "load_catalogue",
                    "courses": len(catalogue.courses),
                    "seconds": round(load_seconds, 3),
                    "catalogue_version_us": round(version_us, 1),
                }
            ),
            flush=True,
        )
        conn.close()

        rows = args.courses + args.courses * args.lessons * 4  # courses + lessons + 3 questions each
        bare = baseline(root / "baseline.db", rows)
        print(json.dumps({"step": "baseline executemany", "rows": rows, "seconds": round(bare, 3)}), flush=True)
        print(
            json.dumps(
                {
                    "step": "ratios",
                    "import_vs_baseline": round(first.seconds / bare, 1),
                    "reimport_vs_baseline": round(second.seconds / bare, 1),
                    "parse_share_of_import": round(parse_seconds / first.seconds, 2),
                }
            ),
            flush=True,
        )
        return 0 if first.seconds < 10 and second.seconds < 5 and unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
