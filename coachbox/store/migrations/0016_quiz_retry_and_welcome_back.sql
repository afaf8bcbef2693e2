-- 0016_quiz_retry_and_welcome_back: a failed quiz is retried on the questions missed, not the whole quiz
-- (coachbox.conversation.quiz), and a learner back after missed days is welcomed once (coachbox.conversation.welcome).
-- Both columns start empty: attempts from before this migration have no missed questions on record, so their
-- QUIZ asks the whole quiz as it always did, and nobody has been welcomed back yet.
ALTER TABLE progress ADD COLUMN missed TEXT;            -- question ids still wrong after the latest attempt: '12,14'
ALTER TABLE learners ADD COLUMN welcomed_back_on TEXT;  -- learner's local date (YYYY-MM-DD) of the last welcome back
