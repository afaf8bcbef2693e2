-- 0006_admin_sessions: server-side admin sessions, and the indexes the admin page's queries need.

-- One row per signed-in browser. The cookie holds a random id; only its SHA-256 is stored, so a copy of the
-- database does not let anyone sign in.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_sessions_admin ON admin_sessions(admin_id);

-- Learner list: newest first, and the "inactive N days" filter.
CREATE INDEX admin_learners_last_inbound ON learners(last_inbound_at);
-- Dashboard live counts: failed/queued messages by recency without scanning every message.
CREATE INDEX admin_messages_out_status ON messages(status, created_at) WHERE direction = 'out';
-- Enrollments by learner are covered by the UNIQUE (learner_id, course_id) index.
-- Audit log by admin.
CREATE INDEX admin_audit_admin ON audit_log(admin_id, id);
