-- 0014_message_sends: every provider sid an outbound row was sent under, not only the last one.
-- A send whose answer was lost (a timeout, a 5xx after Twilio took it) and that the look-up before the resend did
-- not find is sent again; messages.provider_sid then keeps one sid, and the first shows up only in its status
-- callback (?m=<id>). Both land here, so a row with more than one sid is a message the learner got twice, and
-- the look-up never takes a sid any row was sent under as another row's.
CREATE TABLE message_sends (
    provider_sid TEXT PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    recorded_at TEXT NOT NULL,
    refused INTEGER NOT NULL DEFAULT 0     -- 1: WhatsApp refused it (63016) and the row went again as a template
);
CREATE INDEX message_sends_message ON message_sends(message_id);

-- Whatever path sets a row's sid (the send, the look-up, a reconcile, a status callback), it is recorded.
CREATE TRIGGER message_sends_on_update AFTER UPDATE OF provider_sid ON messages
WHEN NEW.direction = 'out' AND NEW.provider_sid IS NOT NULL AND OLD.provider_sid IS NOT NEW.provider_sid
BEGIN
    INSERT OR IGNORE INTO message_sends (provider_sid, message_id, recorded_at)
    VALUES (NEW.provider_sid, NEW.id, COALESCE(NEW.updated_at, NEW.created_at));
END;

CREATE TRIGGER message_sends_on_insert AFTER INSERT ON messages
WHEN NEW.direction = 'out' AND NEW.provider_sid IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO message_sends (provider_sid, message_id, recorded_at)
    VALUES (NEW.provider_sid, NEW.id, COALESCE(NEW.updated_at, NEW.created_at));
END;

INSERT OR IGNORE INTO message_sends (provider_sid, message_id, recorded_at)
SELECT provider_sid, id, COALESCE(sent_at, updated_at, created_at) FROM messages
WHERE direction = 'out' AND provider_sid IS NOT NULL;
