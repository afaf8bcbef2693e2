-- 0020_handover: a learner talking to a person (issue #17). One handover per conversation with a teacher: opened by
-- the learner (TEACHER), the tutor (nothing in the course, guardrail, flag), a payment or a safeguarding word; at
-- most one open per learner. Its events are the conversation and its history; notes are internal (never sent).
CREATE TABLE handovers (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    reason TEXT NOT NULL CHECK (reason IN ('asked', 'tutor_no_answer', 'tutor_flagged', 'tutor_guardrail',
                                           'payment', 'safeguarding')),  -- why it was first opened
    detail TEXT NOT NULL DEFAULT '',           -- what opened it (the words, the question, the payment's state)
    opened_at TEXT NOT NULL,
    waiting_since TEXT,                        -- the learner waits for a person since then; NULL once answered
    assigned_to INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    first_reply_at TEXT,                       -- a teacher's first reply (time to first human reply)
    closed_at TEXT,
    closed_by INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    bot_paused INTEGER NOT NULL DEFAULT 1,     -- the bot does not answer the learner's free text while open
    lessons_paused INTEGER NOT NULL DEFAULT 0, -- a teacher paused the scheduled lessons meanwhile
    tutor_exchange_id INTEGER REFERENCES tutor_exchanges(id) ON DELETE SET NULL,
    payment_id INTEGER REFERENCES payments(id) ON DELETE SET NULL,
    acked_at TEXT,                             -- the learner was last told "a teacher will answer" (once an hour)
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX handovers_one_open ON handovers(learner_id) WHERE status = 'open';
CREATE INDEX handovers_status ON handovers(status, waiting_since);
CREATE INDEX handovers_learner ON handovers(learner_id, id);

CREATE TABLE handover_events (
    id INTEGER PRIMARY KEY,
    handover_id INTEGER NOT NULL REFERENCES handovers(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('opened', 'learner_message', 'teacher_reply', 'note', 'assigned', 'closed',
                                       'reopened')),
    reason TEXT,                               -- 'opened': why (a second reason on an open handover adds one)
    admin_id INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    body TEXT NOT NULL DEFAULT '',
    message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
    dedupe_key TEXT UNIQUE,                    -- an opener's key ("payment:12:failed"): a replay adds nothing
    created_at TEXT NOT NULL
);
CREATE INDEX handover_events_handover ON handover_events(handover_id, id);

-- A teacher's saved replies, per language (the inbox offers those in the learner's language).
CREATE TABLE saved_replies (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX saved_replies_language ON saved_replies(language, title);
