-- 0026_inbound_queue (issue #15): learner messages accepted but not yet turned into a reply. When turns fall behind
-- (a burst beyond what the box can answer within the webhook's time budget), a webhook is answered as soon as its
-- message is stored here, in the same commit that makes it a duplicate for the provider's retries; the web worker
-- then runs the turns in arrival order, and each turn deletes its row in its own transaction. Rows left by a crash
-- are run on the next start: nothing acknowledged is lost, nothing runs twice.
CREATE TABLE inbound_queue (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,   -- the same key the messages row gets (in:<channel>:<provider id>)
    address TEXT NOT NULL,                  -- the learner's channel key: their messages run one after another
    payload TEXT NOT NULL,                  -- the parsed, verified Inbound as JSON
    received_at TEXT NOT NULL,
    claimed_by TEXT,                        -- the web worker running it (pid:start), NULL while waiting
    claimed_until TEXT,                     -- a claim older than this is a dead worker's: taken over
    attempts INTEGER NOT NULL DEFAULT 0,    -- failed turns; after 5 the row stays as 'failed' for the operator
    failed_at TEXT,
    last_error TEXT
);
CREATE INDEX inbound_queue_address ON inbound_queue(address);
