-- 0013_outbox_proactive: which outbound rows the box starts on its own (daily lessons and what their turn says,
-- quiz follow-ups, reminders, weekly summaries, broadcasts, subscription reminders, a teacher's message set to
-- wait for the end of quiet hours). Quiet hours hold only these, and STOP cancels only these; every other row
-- answers a person (the learner's own message, what they asked a worker for, a teacher writing now) and goes at
-- once. The writer says which (store.messages.OutboxDraft.proactive): guessing it from the kind held a learner's
-- M-PESA prompt and an answer behind it until morning, and cancelled the goodbye after DELETE.
ALTER TABLE messages ADD COLUMN proactive INTEGER NOT NULL DEFAULT 0;

-- Rows still to send when this runs, by the keys their writers give them. Final rows keep 0: nothing reads it.
UPDATE messages SET proactive = 1
WHERE direction = 'out' AND status IN ('queued', 'retry', 'sending', 'waiting')
  AND (idempotency_key LIKE 'daily_lesson:%' OR idempotency_key LIKE 'quiz_followup:%'
       OR idempotency_key LIKE 'reminder:%' OR idempotency_key LIKE 'weekly_summary:%'
       OR idempotency_key LIKE 'broadcast:%' OR idempotency_key LIKE 'payments:reminder:%'
       OR idempotency_key LIKE 'payments:expired:%');
