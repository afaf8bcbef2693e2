-- 0021_classes: classes and their teachers (issue #17). A learner belongs to classes (learner_classes, many to
-- many); an editor or viewer (admin_classes) or an API token (api_token_classes) may be limited to some classes, and
-- then sees, messages and exports only those classes' learners. learners.cohort stays: it is the learner's MAIN
-- class (nightly roll-ups, leaderboard, costs per class, broadcasts to `cohort:<name>` read it), and the triggers
-- below keep it in step: every cohort is one of the learner's classes, whoever writes it (the engine, the CSV
-- enrolment, the learner page, a test's INSERT).
CREATE TABLE classes (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE learner_classes (
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    class_name TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (learner_id, class_name)
) WITHOUT ROWID;
-- Scope checks read "learners of these classes": one range of this index per class.
CREATE INDEX learner_classes_class ON learner_classes(class_name, learner_id);

CREATE TABLE admin_classes (
    admin_id INTEGER NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    class_name TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (admin_id, class_name)
) WITHOUT ROWID;

CREATE TABLE api_token_classes (
    token_id INTEGER NOT NULL REFERENCES api_tokens(id) ON DELETE CASCADE,
    class_name TEXT NOT NULL REFERENCES classes(name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (token_id, class_name)
) WITHOUT ROWID;

-- Every existing cohort becomes a class, and each learner a member of their cohort's class.
INSERT INTO classes (name, created_at)
    SELECT cohort, MIN(created_at) FROM learners WHERE cohort IS NOT NULL AND cohort != '' GROUP BY cohort;
INSERT INTO learner_classes (learner_id, class_name, added_at)
    SELECT id, cohort, created_at FROM learners WHERE cohort IS NOT NULL AND cohort != '';

-- A new learner with a cohort joins that class (made when new).
CREATE TRIGGER learners_cohort_insert AFTER INSERT ON learners
WHEN NEW.cohort IS NOT NULL AND NEW.cohort != ''
BEGIN
    INSERT OR IGNORE INTO classes (name, created_at) VALUES (NEW.cohort, NEW.updated_at);
    INSERT OR IGNORE INTO learner_classes (learner_id, class_name, added_at)
        VALUES (NEW.id, NEW.cohort, NEW.updated_at);
END;

-- A new main class replaces the old one among the learner's classes (a move from Form 2 to Form 3 leaves Form 2);
-- the learner's other classes stay.
CREATE TRIGGER learners_cohort_update AFTER UPDATE OF cohort ON learners
WHEN NEW.cohort IS NOT OLD.cohort
BEGIN
    DELETE FROM learner_classes WHERE learner_id = NEW.id AND class_name = OLD.cohort;
    INSERT OR IGNORE INTO classes (name, created_at)
        SELECT NEW.cohort, NEW.updated_at WHERE NEW.cohort IS NOT NULL AND NEW.cohort != '';
    INSERT OR IGNORE INTO learner_classes (learner_id, class_name, added_at)
        SELECT NEW.id, NEW.cohort, NEW.updated_at WHERE NEW.cohort IS NOT NULL AND NEW.cohort != '';
END;

-- Leaving the main class makes another of the learner's classes the main one (or none).
CREATE TRIGGER learner_classes_delete AFTER DELETE ON learner_classes
BEGIN
    UPDATE learners SET cohort = (
        SELECT class_name FROM learner_classes WHERE learner_id = OLD.learner_id ORDER BY added_at, class_name LIMIT 1)
    WHERE id = OLD.learner_id AND cohort = OLD.class_name;
END;

-- Joining a class makes it the main one when the learner had none.
CREATE TRIGGER learner_classes_insert AFTER INSERT ON learner_classes
BEGIN
    UPDATE learners SET cohort = NEW.class_name WHERE id = NEW.learner_id AND (cohort IS NULL OR cohort = '');
END;
