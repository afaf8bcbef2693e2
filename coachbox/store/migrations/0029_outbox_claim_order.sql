-- 0029_outbox_claim_order: the sender's claim reads its rows in the order it claims them (issue #15). Before it,
-- the claim found every due row through messages_outbox_due and sorted them all under the write lock: 4 ms at
-- 1,000 queued rows, 37-72 ms at 10,000-14,000. With this index the claim walks answers, then proactive rows, in
-- (next_attempt_at, id) order and stops after its LIMIT: rows held for later (quiet hours, the budget, a backoff,
-- a teacher's "send at the end of quiet hours") sort after `now` and are never read (store.messages.due_outbound).
-- Only rows still to claim are in it: a claimed row leaves it, a row moved on moves in it.
CREATE INDEX messages_outbox_claim ON messages(proactive, next_attempt_at)
    WHERE direction = 'out' AND status IN ('queued', 'retry');
