-- 0025_dashboard_indexes: the teacher's dashboard and the course page (store.dashboard).
-- The course page's per-lesson figures (lesson_completion) and funnel (store.stats.course_funnel) read a course's
-- progress rows by lesson: without this they scan every learner's progress. Covering: the counts, and the time from
-- delivery to finishing of a lesson's latest finishers (newest first), come from the index alone.
CREATE INDEX IF NOT EXISTS progress_lesson ON progress(lesson_id, completed_at, delivered_at);
-- The dashboard's "failing repeatedly" (two or more quizzes failed lately, none passed since): the failed quizzes
-- by the local date they were finished (a few % of all progress rows, read alone and covered), then one probe per
-- such learner for a pass after their first recent fail.
CREATE INDEX IF NOT EXISTS progress_failed ON progress(completed_local_date, learner_id, completed_at, correct, total)
    WHERE total > 0 AND passed = 0;
CREATE INDEX IF NOT EXISTS progress_passed ON progress(learner_id, completed_at) WHERE total > 0 AND passed = 1;
-- The course page's most common wrong answers per question (common_wrong_answers): the wrong answers alone, covered.
CREATE INDEX IF NOT EXISTS answers_wrong ON answers(question_id, given, learner_id) WHERE correct = 0;
