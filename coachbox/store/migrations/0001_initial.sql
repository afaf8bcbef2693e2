-- 0001_initial: the whole schema of the first release. Never edit once released; add 0002_… instead.
-- Times are ISO-8601 UTC text ("2026-11-25T06:15:08.123456+00:00"); local dates are "YYYY-MM-DD".

CREATE TABLE learners (
    id INTEGER PRIMARY KEY,
    channel_key TEXT NOT NULL UNIQUE,          -- "whatsapp:+2547…", "whatsapp:KE.abc…" (BSUID), "sms:+…", "sim:+…"
    channel TEXT NOT NULL DEFAULT 'whatsapp',  -- whatsapp | sms | simulator
    phone TEXT,                                -- E.164 when known; NULL for business-scoped ids
    wa_id TEXT,
    name TEXT,
    profile_name TEXT,                         -- WhatsApp ProfileName as last seen
    language TEXT NOT NULL DEFAULT 'en',
    timezone TEXT NOT NULL DEFAULT 'Africa/Nairobi',
    lesson_time TEXT NOT NULL DEFAULT '07:00',
    status TEXT NOT NULL DEFAULT 'onboarding', -- onboarding | active | paused | finished | deleted
    opted_out INTEGER NOT NULL DEFAULT 0,
    cohort TEXT,
    current_course_id INTEGER REFERENCES courses(id) ON DELETE SET NULL,
    streak INTEGER NOT NULL DEFAULT 0,
    best_streak INTEGER NOT NULL DEFAULT 0,
    streak_freezes INTEGER NOT NULL DEFAULT 0,
    last_active_date TEXT,                     -- local date of the last completed lesson
    next_taken_date TEXT,                      -- local date NEXT was last used on
    next_taken_count INTEGER NOT NULL DEFAULT 0,
    last_inbound_at TEXT,                      -- opens the 24-hour WhatsApp window
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX learners_phone ON learners(phone);
CREATE INDEX learners_status ON learners(status, opted_out);
CREATE INDEX learners_cohort ON learners(cohort);
CREATE INDEX learners_lesson_time ON learners(lesson_time, timezone);

CREATE TABLE courses (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    translation_of TEXT,                       -- slug of the original course, for translated folders
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL DEFAULT 'beginner',
    premium INTEGER NOT NULL DEFAULT 0,
    passing_score INTEGER NOT NULL DEFAULT 70,
    position INTEGER NOT NULL DEFAULT 0,
    published INTEGER NOT NULL DEFAULT 1,
    source_hash TEXT,                          -- hash of course.toml as imported: re-import skips unchanged
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE lessons (
    id INTEGER PRIMARY KEY,
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    minutes INTEGER NOT NULL DEFAULT 5,
    body TEXT NOT NULL,
    media TEXT,                                -- path relative to data/media, or NULL
    published INTEGER NOT NULL DEFAULT 1,
    source_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (course_id, slug)
);
CREATE INDEX lessons_course_position ON lessons(course_id, position);

CREATE TABLE questions (
    id INTEGER PRIMARY KEY,
    lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('choice', 'true_false', 'short')),
    prompt TEXT NOT NULL,
    choices TEXT NOT NULL DEFAULT '[]',        -- JSON list of strings (choice questions)
    answer TEXT NOT NULL,                      -- JSON: 1-based index | true/false | list of accepted strings
    explanation TEXT NOT NULL DEFAULT '',
    UNIQUE (lesson_id, position)
);

CREATE TABLE badge_definitions (
    code TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    threshold INTEGER NOT NULL DEFAULT 1,
    emoji TEXT NOT NULL DEFAULT '',
    names TEXT NOT NULL DEFAULT '{}',          -- JSON {language: name}
    descriptions TEXT NOT NULL DEFAULT '{}'    -- JSON {language: description}
);

CREATE TABLE enrollments (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    course_id INTEGER NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'active',     -- active | completed | dropped
    next_position INTEGER NOT NULL DEFAULT 1,  -- position of the next lesson to deliver
    started_at TEXT NOT NULL,
    completed_at TEXT,
    score INTEGER,                             -- percent over all quizzes, set on completion
    UNIQUE (learner_id, course_id)
);
CREATE INDEX enrollments_course ON enrollments(course_id, status);

CREATE TABLE progress (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    lesson_id INTEGER NOT NULL REFERENCES lessons(id) ON DELETE CASCADE,
    delivered_at TEXT,
    quiz_started_at TEXT,
    completed_at TEXT,
    completed_local_date TEXT,
    correct INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (learner_id, lesson_id)
);
CREATE INDEX progress_completed ON progress(completed_local_date);

CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    given TEXT NOT NULL,
    correct INTEGER NOT NULL,
    answered_at TEXT NOT NULL
);
CREATE INDEX answers_learner ON answers(learner_id, answered_at);
CREATE INDEX answers_question ON answers(question_id);

CREATE TABLE learner_badges (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    course_id INTEGER REFERENCES courses(id) ON DELETE SET NULL,
    awarded_at TEXT NOT NULL,
    UNIQUE (learner_id, code)
);

-- Every message in and out. Outbound rows are the outbox: the truth the sender works from.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER REFERENCES learners(id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    channel TEXT NOT NULL,                     -- whatsapp | sms | simulator
    address TEXT NOT NULL,                     -- the learner's channel address (From for in, To for out)
    body TEXT NOT NULL DEFAULT '',
    media TEXT NOT NULL DEFAULT '[]',          -- JSON list: inbound {url, content_type, path}; outbound paths
    kind TEXT NOT NULL DEFAULT 'reply',        -- reply | lesson | quiz | reminder | broadcast | certificate | …
    template_key TEXT,                         -- [twilio.templates] key used outside the 24-hour window
    content_variables TEXT,                    -- JSON for Twilio ContentVariables
    idempotency_key TEXT UNIQUE,               -- outbound: deterministic key; inbound: channel + provider sid
    provider_sid TEXT,
    status TEXT NOT NULL,                      -- in: received; out: queued|sending|sent|delivered|read|failed|undelivered|waiting|cancelled
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    error_code TEXT,
    error_message TEXT,
    sequence INTEGER NOT NULL DEFAULT 0,       -- order of parts within one turn
    created_at TEXT NOT NULL,
    sent_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX messages_learner ON messages(learner_id, id);
CREATE INDEX messages_outbox_due ON messages(status, next_attempt_at) WHERE direction = 'out';
CREATE INDEX messages_provider_sid ON messages(provider_sid);
CREATE INDEX messages_created ON messages(created_at);

-- Proactive deliveries (daily lesson, quiz follow-up, reminder, summary): one per learner, kind and key.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,                         -- usually the learner's local date
    lesson_id INTEGER REFERENCES lessons(id) ON DELETE SET NULL,
    due_at TEXT,
    status TEXT NOT NULL DEFAULT 'done',       -- pending | done | cancelled
    created_at TEXT NOT NULL,
    UNIQUE (learner_id, kind, key)
);
CREATE INDEX deliveries_due ON deliveries(status, due_at);

CREATE TABLE review_items (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    due_at TEXT NOT NULL,
    interval_days REAL NOT NULL DEFAULT 1,
    ease REAL NOT NULL DEFAULT 2.5,
    repetitions INTEGER NOT NULL DEFAULT 0,
    UNIQUE (learner_id, question_id)
);
CREATE INDEX review_items_due ON review_items(learner_id, due_at);

CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    learner_id INTEGER REFERENCES learners(id) ON DELETE SET NULL,
    course_id INTEGER NOT NULL REFERENCES courses(id),
    learner_name TEXT NOT NULL,
    score INTEGER NOT NULL,
    language TEXT NOT NULL DEFAULT 'en',
    path TEXT,
    issued_at TEXT NOT NULL,
    revoked_at TEXT,
    UNIQUE (learner_id, course_id)
);

CREATE TABLE admins (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    created_at TEXT NOT NULL,
    last_login_at TEXT,
    disabled INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'viewer',
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    admin_id INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_created ON audit_log(created_at);

CREATE TABLE daily_stats (
    date TEXT NOT NULL,
    course_id INTEGER NOT NULL DEFAULT 0,      -- 0 = all courses
    cohort TEXT NOT NULL DEFAULT '',           -- '' = all cohorts
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (date, course_id, cohort, metric)
);

CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    audience TEXT NOT NULL DEFAULT 'all',      -- all | course:<id> | cohort:<name>
    template_key TEXT,
    scheduled_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'scheduled',  -- scheduled | sending | done | cancelled
    created_by INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);

-- Small named values the box keeps for itself (first-run setup token, generated secret key…).
CREATE TABLE box_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
