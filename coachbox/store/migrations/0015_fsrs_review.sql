-- 0015_fsrs_review: review moves from a hand-written SM-2 to FSRS-6 (the `fsrs` package, coachbox.learning.review).
-- Every item keeps its due_at (no one loses a due question, nothing comes early), and gets an FSRS card from its
-- SM-2 state (learning.review.from_sm2, the same formula): stability = the SM-2 interval (at 90 % retention FSRS's
-- interval equals the stability, so the pace stays), difficulty = 17 - 5.4 x ease within 1-10 (ease 1.96, one
-- lapse, is FSRS's 6.4 after one Again; 1.3, the floor, is 10). interval_days stays the last interval in days;
-- ease is no longer written (SM-2 only).
ALTER TABLE review_items ADD COLUMN stability REAL;   -- days until the chance of recall falls to 90 %; NULL: new
ALTER TABLE review_items ADD COLUMN difficulty REAL;  -- 1 (easy) to 10 (hard)

UPDATE review_items
SET stability = MAX(interval_days, 0.01),
    difficulty = MIN(10.0, MAX(1.0, 17.0 - 5.4 * ease));

-- Every review (a review question answered, or a quiz answer on a question under review): what FSRS predicted and
-- what happened, enough to draw calibration (predicted recall against actual) and to fit parameters one day.
CREATE TABLE review_log (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    reviewed_at TEXT NOT NULL,
    source TEXT NOT NULL,                 -- 'review' (asked in a review) or 'quiz' (a quiz answer, review job)
    rating INTEGER NOT NULL,              -- fsrs.Rating: 1 Again (wrong), 2 Hard (right after a retry), 3 Good
    retrievability REAL,                  -- predicted chance of recall at reviewed_at; NULL for a new card
    elapsed_days REAL,                    -- since the card's last review; NULL for a new card
    stability_before REAL,
    difficulty_before REAL,
    due_before TEXT,
    stability_after REAL NOT NULL,
    difficulty_after REAL NOT NULL,
    due_after TEXT NOT NULL,
    desired_retention REAL NOT NULL
);
CREATE INDEX review_log_learner ON review_log(learner_id, reviewed_at);
-- The calibration chart reads a course's rows by question: covered by this index, without touching the table.
CREATE INDEX review_log_question ON review_log(question_id, retrievability, rating, elapsed_days);
