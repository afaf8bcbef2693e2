"""Course page figures on a 10,000-learner box: the funnel, question difficulty and the check-in's learning gain.

Run: .venv/bin/python bench/course_stats_bench.py [--learners 10000]
Prints one JSON object per line. It imports the repo's content, adds a 3-question check-in to Mobile Money
Safety, then writes learners as a busy school would have them (enrolled, most got lessons and took quizzes, with
first answers and retakes, check-in answers before and after, spread over 20 classes), and times each live query
the course page runs (median of 5). Question: are live queries cheap enough to skip the nightly roll-up?
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coachbox import store  # noqa: E402
from coachbox.admin import learning  # noqa: E402
from coachbox.content.importer import import_folder  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402
from coachbox.store import checkins, stats  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHECKIN = (
    """
[[checkin]]
kind = "true_false"
question = "Your money is kept inside the SIM card."
answer = false
explanation = "x"
"""
    * 3
)
NOW = "2026-03-02T05:00:00+00:00"


def _timed(fn, *args) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        fn(*args)
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        content = root / "content"
        os.system(f"cp -r {REPO / 'content'} {content}")  # noqa: S605 (a fixed path of our own)
        toml = content / "courses" / "mobile-money-safety" / "course.toml"
        toml.write_text(toml.read_text(encoding="utf-8") + CHECKIN, encoding="utf-8")
        settings = Settings.load(
            REPO / "coachbox.toml",
            {
                **{k: v for k, v in os.environ.items() if not k.startswith("COACHBOX_")},
                "COACHBOX_PATHS_DATA_DIR": str(root / "data"),
                "COACHBOX_PATHS_CONTENT_DIR": str(content),
            },
        )
        conn = store.open_database(settings.db_path)
        import_folder(conn, content, settings)
        course_id = conn.execute("SELECT id FROM courses WHERE slug = 'mobile-money-safety'").fetchone()[0]
        lessons = conn.execute("SELECT id FROM lessons WHERE course_id = ? ORDER BY position", (course_id,)).fetchall()
        questions = {
            lesson_id: [r[0] for r in conn.execute("SELECT id FROM questions WHERE lesson_id = ?", (lesson_id,))]
            for (lesson_id,) in lessons
        }
        started = time.perf_counter()
        with store.transaction(conn):
            for n in range(args.learners):
                learner_id = conn.execute(
                    "INSERT INTO learners (channel_key, phone, name, status, cohort, current_course_id, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?)",
                    (f"sim:+2547{n:08d}", f"+2547{n:08d}", f"L{n}", f"Class {n % 20}", course_id, NOW, NOW),
                ).lastrowid
                reached = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 7, 7])  # lessons delivered
                conn.execute(
                    "INSERT INTO enrollments (learner_id, course_id, status, next_position, started_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (learner_id, course_id, "completed" if reached == 7 else "active", reached + 1, NOW),
                )
                skill = rng.random()
                for (lesson_id,) in lessons[:reached]:
                    took = rng.random() < 0.85
                    right = sum(rng.random() < 0.4 + 0.5 * skill for _ in questions[lesson_id]) if took else 0
                    total = len(questions[lesson_id]) if took else 0
                    conn.execute(
                        "INSERT INTO progress (learner_id, lesson_id, delivered_at, completed_at, correct, total, "
                        "passed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (learner_id, lesson_id, NOW, NOW if took else None, right, total, int(right * 3 >= total * 2)),
                    )
                    for attempt in range(2 if took and rng.random() < 0.3 else 1 if took else 0):
                        for question_id in questions[lesson_id]:
                            conn.execute(
                                "INSERT INTO answers (learner_id, question_id, given, correct, answered_at) "
                                "VALUES (?, ?, 'a', ?, ?)",
                                (learner_id, question_id, int(rng.random() < 0.4 + 0.5 * skill + 0.1 * attempt), NOW),
                            )
                phases = ["before"] if rng.random() < 0.8 else []
                if phases and reached == 7 and rng.random() < 0.7:
                    phases.append("after")
                for phase in phases:
                    for position in (1, 2, 3):
                        p = 0.35 + 0.2 * skill + (0.3 if phase == "after" else 0)
                        conn.execute(
                            "INSERT INTO checkin_answers (learner_id, course_id, phase, position, given, correct, "
                            "answered_at) VALUES (?, ?, ?, ?, 'a', ?, ?)",
                            (learner_id, course_id, phase, position, int(rng.random() < p), NOW),
                        )
        rows = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
            for table in ("learners", "enrollments", "progress", "answers", "checkin_answers")
        }
        print(json.dumps({"step": "seed", "seconds": round(time.perf_counter() - started, 1), **rows}), flush=True)
        course = conn.execute("SELECT * FROM courses WHERE id = ?", (course_id,)).fetchone()
        for name, fn, fargs in (
            ("course_funnel", stats.course_funnel, (conn, course_id)),
            ("question_difficulty", stats.question_difficulty, (conn, course_id)),
            ("learning_gain", checkins.learning_gain, (conn, course_id, 3)),
            ("whole section (admin.learning.load)", learning.load, (conn, course)),
        ):
            print(json.dumps({"query": name, "median_ms": _timed(fn, *fargs)}), flush=True)
        gain = checkins.learning_gain(conn, course_id, 3)[0]
        print(
            json.dumps(
                {
                    "funnel": stats.course_funnel(conn, course_id),
                    "gain_learners": gain.learners,
                    "before": round(gain.share_before or 0, 3),
                    "after": round(gain.share_after or 0, 3),
                }
            ),
            flush=True,
        )
        conn.close()


if __name__ == "__main__":
    main()
