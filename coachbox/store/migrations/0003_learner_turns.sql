-- 0003_learner_turns: a per-learner turn counter. Each conversation turn increments it in the turn's
-- transaction; the cached session carries the counter it was saved at, so a stale or half-written session
-- (crash between commit and cache write, another process's turn) is detected and rebuilt from the database.
ALTER TABLE learners ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
