-- 0007: the AI tutor's exchanges and per-call usage, and who revoked a certificate and why.

-- One learner question and what the tutor did with it; the answer row in messages is kind 'tutor'.
CREATE TABLE tutor_exchanges (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    question_key TEXT NOT NULL UNIQUE,          -- the inbound message key (or a made-up one): retries are no-ops
    question TEXT NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    course_id INTEGER REFERENCES courses(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending',     -- pending | answered | failed
    source TEXT,                                -- llm | excerpt | refusal | limit | budget | nothing
    answer TEXT,
    lesson_ids TEXT NOT NULL DEFAULT '[]',      -- JSON: lessons the answer was grounded in, best first
    message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,  -- the outbound answer
    attempts INTEGER NOT NULL DEFAULT 0,
    flagged_at TEXT,                            -- a teacher marked the answer as bad
    flagged_by INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    flag_note TEXT,
    created_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE INDEX tutor_exchanges_learner ON tutor_exchanges(learner_id, created_at);
CREATE INDEX tutor_exchanges_flagged ON tutor_exchanges(flagged_at) WHERE flagged_at IS NOT NULL;

-- Every call to the model server: what it cost and how long it took (the monthly budget sums this).
CREATE TABLE tutor_usage (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER REFERENCES learners(id) ON DELETE SET NULL,
    exchange_id INTEGER REFERENCES tutor_exchanges(id) ON DELETE SET NULL,
    purpose TEXT NOT NULL DEFAULT 'answer',     -- answer | transcription | personalise
    model TEXT NOT NULL,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    latency_ms INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,               -- in the currency of [ai] *_price_per_million
    outcome TEXT NOT NULL DEFAULT 'ok',         -- ok | timeout | error
    created_at TEXT NOT NULL
);
CREATE INDEX tutor_usage_created ON tutor_usage(created_at);

ALTER TABLE certificates ADD COLUMN revoked_by INTEGER REFERENCES admins(id) ON DELETE SET NULL;
ALTER TABLE certificates ADD COLUMN revoke_reason TEXT;
