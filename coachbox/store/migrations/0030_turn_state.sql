-- 0030_turn_state: a learner's conversation session and inbound rate-limit counters, written in the turn's own
-- transaction (issue #15). They were in diskcache: a second SQLite file, so every turn paid a second transaction
-- and commit, and a crash between the two commits left a session a turn behind (the version check caught it).
-- Both are small and rebuildable: a missing session is rebuilt from the database, missing counters start afresh.
CREATE TABLE learner_sessions (
    learner_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,        -- conversation.state.State.to_json(), its version = the learner's turn counter
    expires_at REAL NOT NULL    -- unix seconds ([learning] session_ttl_hours after the turn); pruned nightly
);
CREATE TABLE learner_rate_limits (
    learner_id INTEGER PRIMARY KEY,
    minute INTEGER NOT NULL,    -- the fixed minute window (unix seconds // 60) and the messages counted in it
    in_minute INTEGER NOT NULL,
    hour INTEGER NOT NULL,      -- the fixed hour window and its count
    in_hour INTEGER NOT NULL,
    noticed TEXT                -- the window ("m:…" / "h:…") whose one polite notice went out
);
