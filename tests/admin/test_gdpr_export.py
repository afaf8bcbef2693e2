"""GDPR: the export names every table that holds a learner's data, and erasure leaves nothing that names them.

Both read the live schema of a migrated database (sqlite_master, pragma table_info), so a table added later is
checked without anyone remembering to add it here: it must be exported, or listed below with a reason.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from coachbox.channels.base import Inbound
from coachbox.content.importer import import_folder
from coachbox.store import admins, checkins, checkpoint, classes, learners, progress, reviews, transaction, tutor
from coachbox.store import payments as pay
from coachbox.turns import exports
from coachbox.turns.runner import Resources, erase_learner, handle_inbound_sync, remove_files

PHONE = "+254712345678"
NAME, PROFILE = "Nyokabi", "Nyokabi Chepkoech"
EMAIL = "nyokabi.c@example.org"  # only Stripe knows it: it reaches us inside their events
# What must not survive an erasure anywhere in the database or data/: the number in any form (+254…, 254…, 07…),
# the names, and the e-mail a payment provider told us.
SECRETS = ("712345678", NAME, "Chepkoech", EMAIL)

# Tables with a learner id or phone column that the export leaves out, and why.
NOT_EXPORTED = {
    "tutor_usage": "cost bookkeeping of the tutor's model calls (tokens, latency, cost): nothing the learner said "
    "or was told; the questions and answers themselves are exported as tutor_exchanges",
    "first_answers": "a copy of which of their answers came first (migration 0027's tallies); the answers themselves "
    "are exported",
    "course_learners": "counts of their quizzes finished and passed per course (migration 0027's tallies), kept from "
    "progress, which is exported",
    "active_months": "when their first and last message of each month came (migration 0028: the Costs page's active "
    "learners), kept from messages, which are exported",
    "learner_sessions": "the conversation's working state (where they are in a quiz), rebuilt from the exported "
    "tables at any time and expired after [learning] session_ttl_hours (migration 0030); erased with them",
    "learner_rate_limits": "how many messages they sent this minute and hour (migration 0030), counted from their "
    "messages, which are exported; pruned when the hour is over and erased with them",
}
# The export's name for a table, when not its own.
EXPORT_KEY = {"learners": "learner", "learner_badges": "badges", "learner_opt_outs": "opt_outs"}

# Tables that keep rows under the erased learner's id: the id then names an anonymous stub (learners row with no
# number, name or channel key), never a person. Each for a reason.
KEPT_UNDER_THE_ID = {
    "learners": "the anonymous stub: school totals do not change after an erasure",
    "enrollments": "anonymous course totals (who finished, scores) for the school's reports",
    "progress": "anonymous lesson totals",
    "answers": "anonymous question statistics (the words of short answers are blanked by redaction, not here)",
    "learner_badges": "anonymous badge counts",
    "first_answers": "the course page's first-try figures, as answers stay (migration 0027): ids and right or wrong",
    "course_learners": "the course funnel's counts, as progress stays (migration 0027): numbers only",
    "active_months": "the Costs page's active learners of past months (migration 0028): the bill and its cost per "
    "learner do not change after an erasure; two times a month, no words",
    "checkin_answers": "the course's anonymous learning gain (right or wrong, before and after); the words are blanked",
    "review_log": "anonymous calibration of review (predicted recall against actual): ratings and times, no words",
    "learner_opt_outs": "the opt-out count in the daily roll-ups",
    "learner_classes": "the anonymous stub's classes, as its learners.cohort stays: class totals in the roll-ups",
    "certificates": "a certificate stays verifiable (code, course, date, score); its name is '(erased)', its PDF gone",
    "payments": "the books: amount, currency, dates, status, receipt and reference stay; phone is NULL",
    "subscriptions": "the books: which plan was paid for which period; nothing personal in it",
    "tutor_usage": "cost bookkeeping of model calls (tokens, cost): no words",
    "handovers": "the inbox figures (time to first human reply, open items per teacher and class): reasons and "
    "times; the words of the handover and its events are blanked",
    "messages": "the learner's own DELETE only: the confirming message as an empty tombstone (a webhook retry of it "
    "stays a duplicate), and the goodbye, which forgets the address once sent (migration 0010)",
}
# Columns where a secret may survive erasure, and why. Empty: none may.
ALLOWED_HITS: dict[tuple[str, str], str] = {}

_sids = itertools.count(1)


def _say(conn, cache, settings, res, clock, text: str, media=()) -> int:
    inbound = Inbound(
        "whatsapp",
        f"whatsapp:{PHONE}",
        text,
        f"SM{next(_sids):06d}",
        clock.now(),
        phone=PHONE,
        profile_name=PROFILE,
        media=media,
    )
    outcome = handle_inbound_sync(conn, cache, settings, res.catalogue(conn), res.texts, inbound, clock.now())
    assert outcome.learner_id is not None
    return outcome.learner_id


def learner_everywhere(conn, cache, settings, clock) -> int:
    """A learner who used every feature: onboarding, lessons, a quiz, review, the tutor, STOP/START, M-PESA and
    Stripe payments (an unmatched M-PESA callback with their number, Stripe events with their id in metadata), a
    certificate and a voice note on disk, a MYDATA export."""
    import_folder(conn, settings.content_dir, settings, progress=None)
    res = Resources.build(settings)
    for text in ("hi", NAME, "1", "1", "7", "quiz", "1", "1", "1"):
        learner_id = _say(conn, cache, settings, res, clock, text)
    _say(conn, cache, settings, res, clock, "ask why does a PIN matter, Nyokabi asks?")
    _say(conn, cache, settings, res, clock, "stop")
    _say(conn, cache, settings, res, clock, "start")
    _say(conn, cache, settings, res, clock, "mydata")
    _say(conn, cache, settings, res, clock, f"teacher please call me, {NAME} here")  # a handover (migration 0020)
    now = clock.now()
    with transaction(conn):
        question_id = conn.execute("SELECT question_id FROM answers WHERE learner_id = ?", (learner_id,)).fetchone()[0]
        reviews.record_review(conn, learner_id, question_id, 2, now)
        badge = conn.execute("SELECT code FROM badge_definitions ORDER BY code LIMIT 1").fetchone()[0]
        progress.award_badge(conn, learner_id, badge, None, now)
        classes.add_learner(conn, learner_id, "Form 2", now)  # a class (migration 0021)
        course_id = conn.execute("SELECT current_course_id FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
        checkins.record_answer(conn, learner_id, course_id, "before", 1, "b", True, now)  # the course check-in
        exchange = conn.execute("SELECT id FROM tutor_exchanges WHERE learner_id = ?", (learner_id,)).fetchone()[0]
        tutor.finish_exchange(conn, exchange, source="ai", answer=f"Good question, {NAME}!", lesson_ids=[], now=now)
        tutor.record_usage(
            conn,
            learner_id=learner_id,
            exchange_id=exchange,
            purpose="answer",
            model="m",
            tokens_in=10,
            tokens_out=20,
            latency_ms=5,
            cost=0.001,
            outcome="ok",
            now=now,
        )
        mpesa = pay.create_payment(
            conn,
            learner_id=learner_id,
            plan="monthly",
            plan_snapshot_id=None,
            provider="mpesa",
            amount_minor=20000,
            currency="KES",
            period_days=30,
            now=now,
            status="paid",
            phone=PHONE,
            provider_ref="ws_CO_X1",
            receipt="RKT0001",
        )
        callback = {
            "stkCallback": {
                "CheckoutRequestID": "ws_CO_X1",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 200},
                        {"Name": "MpesaReceiptNumber", "Value": "RKT0001"},
                        {"Name": "PhoneNumber", "Value": int(PHONE[1:])},
                    ]
                },
            }
        }
        pay.record_event(
            conn, "mpesa", "ws_CO_X1", "stk_callback", json.dumps(callback), now, outcome="paid", payment_id=mpesa
        )
        # A callback nobody could match (unknown CheckoutRequestID): no payment, only the number links it to them.
        stray = {
            "stkCallback": {
                "CheckoutRequestID": "ws_CO_UNKNOWN",
                "CallbackMetadata": {
                    "Item": [{"Name": "Amount", "Value": 200}, {"Name": "PhoneNumber", "Value": int(PHONE[1:])}]
                },
            }
        }
        pay.record_review(conn, "mpesa", "unknown_checkout", json.dumps(stray), now, reference="ws_CO_UNKNOWN")
        subscription = pay.insert_subscription(
            conn,
            learner_id=learner_id,
            plan="monthly",
            plan_snapshot_id=None,
            provider="stripe",
            provider_ref="sub_X1",
            courses="all-premium",
            status="active",
            period_end=now + timedelta(days=30),
            access_until=now + timedelta(days=32),
            now=now,
        )
        card = pay.create_payment(
            conn,
            learner_id=learner_id,
            plan="monthly",
            plan_snapshot_id=None,
            provider="stripe",
            amount_minor=250,
            currency="USD",
            period_days=30,
            now=now,
            status="paid",
            provider_ref="in_X1",
            receipt="INV-1",
        )
        assert card is not None
        pay.link_subscription(conn, card, subscription)
        # An admin's refund note names them, by name and by the number as people write it.
        note = f"{NAME} asked for it back, call 0{PHONE[4:]}"
        pay.mark_refunded(conn, card, note=note, admin_id=None, now=now)
        admins.audit(conn, None, "payment.refund_marked", f"payment:{card}", now, note=note)
        details = {"email": EMAIL, "name": PROFILE, "phone": PHONE}
        session = {
            "id": "evt_1",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "object": "checkout.session",
                    "client_reference_id": str(learner_id),
                    "customer_details": details,
                    "metadata": {"learner_id": str(learner_id), "plan": "monthly"},
                }
            },
        }
        pay.record_event(conn, "stripe", "evt_1", session["type"], json.dumps(session), now, outcome="applied")
        updated = {
            "id": "evt_2",
            "type": "customer.subscription.updated",
            "data": {"object": {"object": "subscription", "id": "sub_X1", "metadata": {"learner_id": str(learner_id)}}},
        }
        pay.record_event(conn, "stripe", "evt_2", updated["type"], json.dumps(updated), now, outcome="applied")
        invoice = {
            "id": "evt_3",
            "type": "invoice.paid",
            "data": {"object": {"object": "invoice", "id": "in_X1", "customer_email": EMAIL, "customer_name": PROFILE}},
        }
        pay.record_event(conn, "stripe", "evt_3", invoice["type"], json.dumps(invoice), now, outcome="unmatched")
        pay.record_review(conn, "stripe", "no_learner", json.dumps(invoice), now, reference="evt_3")
        # A certificate with their name and its PDF; a voice note they sent, on disk.
        course_id = conn.execute("SELECT current_course_id FROM learners WHERE id = ?", (learner_id,)).fetchone()[0]
        conn.execute(
            """INSERT INTO certificates (code, learner_id, course_id, learner_name, score, language, path, issued_at)
               VALUES ('K7QM-0001', ?, ?, ?, 90, 'en', 'certificates/K7QM-0001.pdf', ?)""",
            (learner_id, course_id, PROFILE, now.isoformat()),
        )
        conn.execute(
            """INSERT INTO messages (learner_id, direction, channel, address, body, media, kind, status, created_at,
                                     updated_at)
               VALUES (?, 'in', 'whatsapp', ?, '', ?, 'inbound', 'received', ?, ?)""",
            (
                learner_id,
                f"whatsapp:{PHONE}",
                json.dumps([{"path": "media/inbound/MMx1.ogg"}]),
                now.isoformat(),
                now.isoformat(),
            ),
        )
    for relative, body in (("certificates/K7QM-0001.pdf", f"%PDF {PROFILE}"), ("media/inbound/MMx1.ogg", PHONE)):
        (settings.data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / relative).write_text(body)
    with transaction(conn):
        exports.write(settings.data_dir, learner_id, learners.export_learner(conn, learner_id), now)
    return learner_id


def personal_tables(conn) -> dict[str, list[str]]:
    """Every table of the live schema with a learner id or phone column: {table: those columns}."""
    found = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
        personal = [c for c in columns if c in ("learner_id", "phone")]
        if personal:
            found[table] = personal
    return found


def test_the_export_has_every_table_that_holds_a_learners_data(conn, services, settings, clock):
    learner_id = learner_everywhere(conn, services.cache, settings, clock)
    data = learners.export_learner(conn, learner_id)
    json.dumps(data)  # JSON-able as it is
    tables = personal_tables(conn)
    assert "payments" in tables and "learners" in tables  # the schema is read, not assumed
    missing = []
    for table, columns in tables.items():
        if table in NOT_EXPORTED:
            continue
        key = EXPORT_KEY.get(table, table)
        column = "id" if table == "learners" else columns[0]
        stored = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (learner_id,)).fetchone()[0]
        assert stored, f"the seed left {table} empty: make learner_everywhere() use it"
        if len(data.get(key, [])) != stored:
            missing.append(f"{table}: {stored} rows stored, {len(data.get(key, []))} exported as '{key}'")
    assert not missing, "export_learner() leaves out:\n" + "\n".join(missing)
    assert [p["phone"] for p in data["payments"] if p["provider"] == "mpesa"] == [PHONE]
    assert {m["body"] for m in data["messages"] if m["direction"] == "in"} >= {"hi", "stop", "mydata"}


def _hits(value, secrets: tuple[str, ...], learner_id: int) -> list[str]:
    text = value if isinstance(value, str) else value.decode(errors="replace") if isinstance(value, bytes) else ""
    hits = [s for s in secrets if s.lower() in text.lower()]
    try:
        parsed = json.loads(text) if text[:1] in "{[" else None
    except ValueError:
        parsed = None
    stack = [parsed]
    while stack:  # a provider payload naming them by our id (Stripe metadata, client_reference_id)
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key in ("learner_id", "client_reference_id") and str(inner) == str(learner_id):
                    hits.append(f"{key}={inner}")
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return hits


@pytest.mark.parametrize("how", ["admin", "learner"])
def test_erasure_leaves_nothing_that_names_them(conn, services, settings, clock, how):
    learner_id = learner_everywhere(conn, services.cache, settings, clock)
    if how == "admin":
        with transaction(conn):
            files = erase_learner(conn, services.cache, learner_id, clock.now(), data_dir=settings.data_dir)
        remove_files(settings, files)
    else:
        res = Resources.build(settings)
        _say(conn, services.cache, settings, res, clock, "delete")
        _say(conn, services.cache, settings, res, clock, "yes")
        # The goodbye is the one message that still has their address, until the sender hands it over (then
        # migration 0010 forgets it): send it as the outbox would.
        conn.execute("UPDATE messages SET status = 'sent' WHERE kind = 'farewell'")

    found = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]
        for row in conn.execute(f"SELECT * FROM '{table}'"):
            for column, value in zip(columns, row, strict=True):
                for hit in _hits(value, SECRETS, learner_id):
                    if (table, column) not in ALLOWED_HITS:
                        found.append(f"{table}.{column}: {hit}")
    assert not found, "erasure left personal data in the database:\n" + "\n".join(sorted(set(found)))
    # Nor in the file's free pages: rows are deleted with secure_delete, and a checkpoint moves the WAL in.
    checkpoint(conn)
    raw = settings.db_path.read_bytes()
    assert [s for s in SECRETS if s.encode() in raw] == [], "erased data lingers in coachbox.db's free pages"

    kept = {t for t in personal_tables(conn) if "learner_id" in personal_tables(conn)[t] or t == "learners"}
    kept = {
        t
        for t in kept
        if conn.execute(
            f"SELECT COUNT(*) FROM {t} WHERE {'id' if t == 'learners' else 'learner_id'} = ?", (learner_id,)
        ).fetchone()[0]
    }
    assert kept <= set(KEPT_UNDER_THE_ID), (
        f"rows kept under the erased id without a reason: {kept - set(KEPT_UNDER_THE_ID)}"
    )
    stub = conn.execute("SELECT * FROM learners WHERE id = ?", (learner_id,)).fetchone()
    assert stub["status"] == "deleted" and stub["phone"] is None and stub["channel_key"] == f"erased:{learner_id}"
    paid = conn.execute("SELECT amount_minor, currency, receipt, phone, note FROM payments ORDER BY id").fetchall()
    assert [tuple(r) for r in paid] == [  # the books
        (20000, "KES", "RKT0001", None, None),
        (250, "USD", "INV-1", None, "(erased) asked for it back, call (erased)"),
    ]

    on_disk = []
    for path in sorted(settings.data_dir.rglob("*")):
        relative = path.relative_to(settings.data_dir)
        # The databases were scanned table by table above; the cache folder is diskcache's (sessions forgotten).
        if not path.is_file() or path.name.startswith(("coachbox.db", "queue.db")) or relative.parts[0] == "cache":
            continue
        on_disk += [f"{relative}: {hit}" for hit in _hits(path.read_bytes(), SECRETS, learner_id)]
        if relative.parts[0] == "exports" and path.name.startswith(f"{learner_id}-"):
            on_disk.append(f"{relative}: their MYDATA export")
    assert not on_disk, "erasure left personal data under data/:\n" + "\n".join(on_disk)
