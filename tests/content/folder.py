"""Small content folders for the content tests, written into a temporary directory."""

from __future__ import annotations

from pathlib import Path

COURSE = """title = "Mobile Money Basics"
description = "Stay safe with mobile money."
language = "en"
level = "beginner"
premium = false
passing_score = 70
position = 1
"""

COURSE_SW = """title = "Misingi ya Pesa za Simu"
language = "sw"
position = 1
translation_of = "money"
"""

LESSON_ONE = """+++
title = "What is mobile money?"
minutes = 4

[[quiz]]
kind = "true_false"
question = "Your money is kept inside the SIM card."
answer = false
explanation = "The provider keeps it, linked to your number."
+++
*Mobile money* lets you keep and send money with your phone.

Your number works like an account number.
"""

LESSON_TWO = """+++
title = "Keep your PIN secret"

[[quiz]]
kind = "choice"
question = "Who may know your PIN?"
choices = ["Only you", "The agent", "Your cousin"]
answer = 1
explanation = "Nobody else, ever."

[[quiz]]
kind = "short"
question = "What do you never share?"
accept = ["PIN", "my PIN"]
explanation = "Your PIN protects your money."
+++
Your *PIN* is yours alone.
- Never say it on the phone
- Cover the keypad
"""

LESSON_SW = """+++
title = "Pesa za simu ni nini?"

[[quiz]]
kind = "true_false"
question = "Pesa zako zimo ndani ya kadi ya SIM."
answer = false
explanation = "Mtoa huduma ndiye anayezitunza."
+++
*Pesa za simu* hukuwezesha kutuma pesa kwa simu yako.
"""

BADGES = """[[badge]]
code = "first-lesson"
name = "First Step"
name_sw = "Hatua ya Kwanza"
emoji = "🌱"
description = "Completed your first lesson"
description_sw = "Umekamilisha somo lako la kwanza"
rule = "lessons_completed"
threshold = 1

[[badge]]
code = "streak-3"
name = "On a Roll"
emoji = "🔥"
rule = "streak"
threshold = 3
"""

EN = """greeting = "Hello {name}!"

[menu]
help = "Send HELP for the menu"
stop = ["STOP"]
"""

SW = """greeting = "Habari {name}!"

[menu]
help = "Tuma MSAADA kupata menyu"
stop = ["STOP", "ACHA"]
"""

FILES = {
    "locales/en.toml": EN,
    "locales/sw.toml": SW,
    "courses/money/course.toml": COURSE,
    "courses/money/01-what-is-mobile-money.md": LESSON_ONE,
    "courses/money/02-keep-your-pin-secret.md": LESSON_TWO,
    "courses/pesa/course.toml": COURSE_SW,
    "courses/pesa/01-pesa-za-simu.md": LESSON_SW,
    "badges.toml": BADGES,
}


def content_folder(root: Path, changes: dict[str, str | bytes | None] | None = None) -> Path:
    """Write root/content with FILES, then `changes` (None removes a file). Returns the content folder."""
    folder = root / "content"
    files = {**FILES, **(changes or {})}
    for name, text in files.items():
        path = folder / name
        if text is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return folder
