-- 0012_opt_out_log: when each learner opted out, however it happened, for the dashboard's opt-outs per day.
-- A learner opts out by a keyword of any language (STOP, ACHA, "Stop!"), by Twilio's Advanced Opt-Out
-- (OptOutType=STOP on the webhook) or by Twilio refusing a send with error 21610; the conversation, the webhook,
-- the sender and the status callbacks each set learners.opted_out. Counting inbound words missed all but the
-- first, so the trigger below records every change from 0 to 1, whichever writer made it (at the writer's
-- updated_at: the box clock). An erasure also sets opted_out but is not an opt-out.
CREATE TABLE learner_opt_outs (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    opted_out_at TEXT NOT NULL
);
CREATE INDEX learner_opt_outs_at ON learner_opt_outs(opted_out_at);

CREATE TRIGGER learner_opt_outs_record
AFTER UPDATE OF opted_out ON learners
WHEN NEW.opted_out = 1 AND OLD.opted_out = 0 AND NEW.status != 'deleted'
BEGIN
    INSERT INTO learner_opt_outs (learner_id, opted_out_at) VALUES (NEW.id, NEW.updated_at);
END;

-- Learners opted out before this migration: their last change is the best time there is.
INSERT INTO learner_opt_outs (learner_id, opted_out_at)
    SELECT id, updated_at FROM learners WHERE opted_out = 1 AND status != 'deleted';
