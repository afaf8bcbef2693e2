-- 0032_inbound_queue_claimed (issue #15): the kept messages' claim skips learners whose earlier message another
-- worker holds. Without an index that check read the whole queue on every claim of eight learners: at 100,000 kept
-- messages (five times capacity for a minute) the backlog drained at about half the turn capacity. Only the rows
-- being run are claimed at any moment, so this partial index stays a handful of entries.
CREATE INDEX inbound_queue_claimed ON inbound_queue(address) WHERE claimed_by IS NOT NULL;
