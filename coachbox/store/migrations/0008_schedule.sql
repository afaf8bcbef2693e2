-- 0008_schedule: what the coach's clock needs: each learner's next lesson instant, and a record of job runs.

-- The UTC instant of the learner's next daily lesson (quiet hours already applied). The per-minute scan is then
-- a range query on this index instead of a time-zone computation per learner. NULL = "work it out again":
-- set on insert, and by the trigger below whenever something that moves the lesson changes.
ALTER TABLE learners ADD COLUMN next_lesson_at TEXT;
CREATE INDEX schedule_learners_next_lesson ON learners(next_lesson_at) WHERE status = 'active' AND opted_out = 0;

-- Any writer (the conversation, the admin page, an import) may change these; none of them needs to know about
-- next_lesson_at, the scan recomputes it. Only real changes count, so touching updated_at costs nothing.
CREATE TRIGGER schedule_learners_reschedule
AFTER UPDATE OF lesson_time, timezone, status, opted_out ON learners
WHEN NEW.lesson_time IS NOT OLD.lesson_time OR NEW.timezone IS NOT OLD.timezone
  OR NEW.status IS NOT OLD.status OR NEW.opted_out IS NOT OLD.opted_out
BEGIN
    UPDATE learners SET next_lesson_at = NULL WHERE id = NEW.id;
END;

-- One row per run of a scheduled job (`coachbox jobs` and the admin page read the latest per name).
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',   -- running | ok | error
    detail TEXT NOT NULL DEFAULT ''            -- a short summary: "312 lessons, 4 skipped late" or the error
);
CREATE INDEX job_runs_name ON job_runs(name, id);

-- Spaced repetition: how many times an item lapsed and when it was last shown (SM-2 keeps the rest).
ALTER TABLE review_items ADD COLUMN lapses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE review_items ADD COLUMN last_reviewed_at TEXT;
ALTER TABLE review_items ADD COLUMN source_answer_id INTEGER;  -- the wrong answer that (re)started the item

-- Reminders and summaries find one day's deliveries of a kind (kind, key); per learner the UNIQUE index serves.
CREATE INDEX schedule_deliveries_kind_key ON deliveries(kind, key);
-- The nightly roll-up counts one day's deliveries by creation time.
CREATE INDEX schedule_deliveries_created ON deliveries(created_at);
