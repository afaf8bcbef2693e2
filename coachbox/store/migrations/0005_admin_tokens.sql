-- 0005_admin_tokens: one-time links that let an added or reset admin choose a password.
-- Only the SHA-256 of a token is stored, so a copy of the database cannot be used to take over an account.
CREATE TABLE admin_tokens (
    id INTEGER PRIMARY KEY,
    admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL DEFAULT 'reset',     -- invite | reset
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX admin_tokens_admin ON admin_tokens(admin_id);
