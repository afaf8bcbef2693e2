-- 0027_learning_tallies: the course page's learning figures kept as they happen (issue #16), so the page reads a
-- few rows instead of aggregating every answer and progress row of a course (2.7 s at 100,000 learners).
-- Triggers keep them, in the same transaction as the write they count, whichever code path writes (a turn, the
-- simulator's time travel, an import, a cascade): store.stats and store.dashboard read them.
--
-- first_answers: each learner's first answer to each question (the lowest answers.id), its correctness.
CREATE TABLE first_answers (
    question_id INTEGER NOT NULL,
    learner_id INTEGER NOT NULL,
    answer_id INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    PRIMARY KEY (question_id, learner_id)
) WITHOUT ROWID;
-- question_tallies: per question, learners who answered it and how many of them were right at their first try.
CREATE TABLE question_tallies (
    question_id INTEGER PRIMARY KEY,
    answered INTEGER NOT NULL DEFAULT 0,
    right_first INTEGER NOT NULL DEFAULT 0
);
-- lesson_tallies: per lesson, progress rows delivered and completed (COUNT(delivered_at), COUNT(completed_at)).
CREATE TABLE lesson_tallies (
    lesson_id INTEGER PRIMARY KEY,
    delivered INTEGER NOT NULL DEFAULT 0,
    completed INTEGER NOT NULL DEFAULT 0
);
-- course_learners: per course and learner, quizzes finished (completed, total > 0) and passed among them: the
-- funnel's "finished a quiz" and "passed one" count the learners with quizzes > 0 and passes > 0.
CREATE TABLE course_learners (
    course_id INTEGER NOT NULL,
    learner_id INTEGER NOT NULL,
    quizzes INTEGER NOT NULL DEFAULT 0,
    passes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (course_id, learner_id)
) WITHOUT ROWID;
-- wrong_answers: per question and wrong answer given, the learners who gave it (each learner once per answer).
CREATE TABLE wrong_answers (
    question_id INTEGER NOT NULL,
    given TEXT NOT NULL,
    learners INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (question_id, given)
) WITHOUT ROWID;

INSERT INTO first_answers (question_id, learner_id, answer_id, correct)
SELECT question_id, learner_id, MIN(id), correct FROM answers GROUP BY question_id, learner_id;
INSERT INTO question_tallies (question_id, answered, right_first)
SELECT question_id, COUNT(*), SUM(correct) FROM first_answers GROUP BY question_id;
INSERT INTO lesson_tallies (lesson_id, delivered, completed)
SELECT lesson_id, COUNT(delivered_at), COUNT(completed_at) FROM progress GROUP BY lesson_id;
INSERT INTO course_learners (course_id, learner_id, quizzes, passes)
SELECT l.course_id, p.learner_id, COUNT(*), SUM(p.passed = 1)
FROM progress p JOIN lessons l ON l.id = p.lesson_id
WHERE p.completed_at IS NOT NULL AND p.total > 0 GROUP BY l.course_id, p.learner_id;
INSERT INTO wrong_answers (question_id, given, learners)
SELECT question_id, given, COUNT(DISTINCT learner_id) FROM answers WHERE correct = 0 GROUP BY question_id, given;

-- answers -> first_answers. A new answer is the first only when the learner had none to that question yet; an
-- answer deleted or moved (a question renumbered) hands "first" to the learner's earliest remaining answer.
CREATE TRIGGER first_answers_insert AFTER INSERT ON answers BEGIN
    INSERT OR IGNORE INTO first_answers (question_id, learner_id, answer_id, correct)
    VALUES (new.question_id, new.learner_id, new.id, new.correct);
END;

CREATE TRIGGER first_answers_delete AFTER DELETE ON answers BEGIN
    DELETE FROM first_answers WHERE question_id = old.question_id AND learner_id = old.learner_id
        AND answer_id = old.id;
    INSERT OR IGNORE INTO first_answers (question_id, learner_id, answer_id, correct)
    SELECT question_id, learner_id, id, correct FROM answers
    WHERE question_id = old.question_id AND learner_id = old.learner_id ORDER BY id LIMIT 1;
END;

CREATE TRIGGER first_answers_update AFTER UPDATE OF question_id, learner_id, correct ON answers BEGIN
    DELETE FROM first_answers WHERE (question_id = old.question_id AND learner_id = old.learner_id)
        OR (question_id = new.question_id AND learner_id = new.learner_id);
    INSERT OR IGNORE INTO first_answers (question_id, learner_id, answer_id, correct)
    SELECT question_id, learner_id, id, correct FROM answers
    WHERE question_id = old.question_id AND learner_id = old.learner_id ORDER BY id LIMIT 1;
    INSERT OR IGNORE INTO first_answers (question_id, learner_id, answer_id, correct)
    SELECT question_id, learner_id, id, correct FROM answers
    WHERE question_id = new.question_id AND learner_id = new.learner_id ORDER BY id LIMIT 1;
END;

-- first_answers -> question_tallies.
CREATE TRIGGER question_tallies_insert AFTER INSERT ON first_answers BEGIN
    INSERT INTO question_tallies (question_id, answered, right_first) VALUES (new.question_id, 1, new.correct)
    ON CONFLICT (question_id) DO UPDATE SET answered = answered + 1, right_first = right_first + excluded.right_first;
END;

CREATE TRIGGER question_tallies_delete AFTER DELETE ON first_answers BEGIN
    UPDATE question_tallies SET answered = answered - 1, right_first = right_first - old.correct
    WHERE question_id = old.question_id;
END;

-- progress -> lesson_tallies and course_learners (an update counts as the old row out, the new row in).
CREATE TRIGGER learning_tallies_progress_insert AFTER INSERT ON progress BEGIN
    INSERT INTO lesson_tallies (lesson_id, delivered, completed)
    VALUES (new.lesson_id, new.delivered_at IS NOT NULL, new.completed_at IS NOT NULL)
    ON CONFLICT (lesson_id) DO UPDATE SET delivered = delivered + excluded.delivered,
                                          completed = completed + excluded.completed;
    INSERT INTO course_learners (course_id, learner_id, quizzes, passes)
    SELECT course_id, new.learner_id, 1, new.passed = 1 FROM lessons
    WHERE id = new.lesson_id AND new.completed_at IS NOT NULL AND new.total > 0
    ON CONFLICT (course_id, learner_id) DO UPDATE SET quizzes = quizzes + 1, passes = passes + excluded.passes;
END;

CREATE TRIGGER learning_tallies_progress_delete AFTER DELETE ON progress BEGIN
    UPDATE lesson_tallies SET delivered = delivered - (old.delivered_at IS NOT NULL),
                              completed = completed - (old.completed_at IS NOT NULL)
    WHERE lesson_id = old.lesson_id;
    UPDATE course_learners SET quizzes = quizzes - 1, passes = passes - (old.passed = 1)
    WHERE old.completed_at IS NOT NULL AND old.total > 0 AND learner_id = old.learner_id
      AND course_id = (SELECT course_id FROM lessons WHERE id = old.lesson_id);
END;

CREATE TRIGGER learning_tallies_progress_update
AFTER UPDATE OF learner_id, lesson_id, delivered_at, completed_at, total, passed ON progress BEGIN
    UPDATE lesson_tallies SET delivered = delivered - (old.delivered_at IS NOT NULL),
                              completed = completed - (old.completed_at IS NOT NULL)
    WHERE lesson_id = old.lesson_id;
    INSERT INTO lesson_tallies (lesson_id, delivered, completed)
    VALUES (new.lesson_id, new.delivered_at IS NOT NULL, new.completed_at IS NOT NULL)
    ON CONFLICT (lesson_id) DO UPDATE SET delivered = delivered + excluded.delivered,
                                          completed = completed + excluded.completed;
    UPDATE course_learners SET quizzes = quizzes - 1, passes = passes - (old.passed = 1)
    WHERE old.completed_at IS NOT NULL AND old.total > 0 AND learner_id = old.learner_id
      AND course_id = (SELECT course_id FROM lessons WHERE id = old.lesson_id);
    INSERT INTO course_learners (course_id, learner_id, quizzes, passes)
    SELECT course_id, new.learner_id, 1, new.passed = 1 FROM lessons
    WHERE id = new.lesson_id AND new.completed_at IS NOT NULL AND new.total > 0
    ON CONFLICT (course_id, learner_id) DO UPDATE SET quizzes = quizzes + 1, passes = passes + excluded.passes;
END;

-- answers -> wrong_answers: a learner's wrong answer counts when it is the first time they gave it to that question
-- and stops counting when the last such row goes (each check one probe of the answers_wrong index, migration 0025).
CREATE TRIGGER wrong_answers_insert AFTER INSERT ON answers
WHEN new.correct = 0 AND NOT EXISTS (
    SELECT 1 FROM answers WHERE question_id = new.question_id AND given = new.given AND learner_id = new.learner_id
        AND correct = 0 AND id != new.id) BEGIN
    INSERT INTO wrong_answers (question_id, given, learners) VALUES (new.question_id, new.given, 1)
    ON CONFLICT (question_id, given) DO UPDATE SET learners = learners + 1;
END;

CREATE TRIGGER wrong_answers_delete AFTER DELETE ON answers
WHEN old.correct = 0 AND NOT EXISTS (
    SELECT 1 FROM answers WHERE question_id = old.question_id AND given = old.given AND learner_id = old.learner_id
        AND correct = 0) BEGIN
    UPDATE wrong_answers SET learners = learners - 1 WHERE question_id = old.question_id AND given = old.given;
END;

-- An update (a redacted answer's text, a question renumbered) is the old row out and the new one in; when both are
-- the same wrong answer of the same learner, nothing changes.
CREATE TRIGGER wrong_answers_update AFTER UPDATE OF question_id, learner_id, given, correct ON answers BEGIN
    UPDATE wrong_answers SET learners = learners - 1
    WHERE question_id = old.question_id AND given = old.given AND old.correct = 0 AND NOT EXISTS (
        SELECT 1 FROM answers WHERE question_id = old.question_id AND given = old.given
            AND learner_id = old.learner_id AND correct = 0);
    INSERT INTO wrong_answers (question_id, given, learners)
    SELECT new.question_id, new.given, 1
    WHERE new.correct = 0
      AND NOT (old.correct = 0 AND old.question_id = new.question_id AND old.given = new.given
               AND old.learner_id = new.learner_id)
      AND NOT EXISTS (
        SELECT 1 FROM answers WHERE question_id = new.question_id AND given = new.given
            AND learner_id = new.learner_id AND correct = 0 AND id != new.id)
    ON CONFLICT (question_id, given) DO UPDATE SET learners = learners + 1;
END;
