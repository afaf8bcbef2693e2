-- 0004_outbox_delivery: what the Twilio sender needs to deliver exactly once and to report delivery.
ALTER TABLE messages ADD COLUMN claimed_at TEXT;          -- when a sender set status 'sending'
ALTER TABLE messages ADD COLUMN claimed_by TEXT;          -- host:pid:nonce of that sender (crash reconciliation)
ALTER TABLE messages ADD COLUMN use_template INTEGER NOT NULL DEFAULT 0;  -- 1 after error 63016: send the template
ALTER TABLE messages ADD COLUMN content_sid TEXT;         -- the Content template actually sent, if any
ALTER TABLE messages ADD COLUMN delivered_at TEXT;
ALTER TABLE messages ADD COLUMN read_at TEXT;             -- WhatsApp read receipt (analytics)
-- Unsent rows per learner, so a learner's parts go out in order without scanning their whole history.
CREATE INDEX messages_outbox_learner ON messages(learner_id, id)
    WHERE direction = 'out' AND status IN ('queued', 'retry', 'sending');
