-- 0002_lessons_fts: full-text search over lessons for the tutor, plus two things the content importer needs:
--   * questions.published, so a question removed from disk that learners have answered is retired, not
--     deleted (deleting it would cascade to their answers and review items);
--   * content_version, a counter every change to courses, lessons, questions or badges bumps, so callers can
--     cache the catalogue and check freshness with one primary-key read (coachbox.content.catalogue).

-- External-content FTS5 index: the text lives in `lessons`; the triggers keep the index in step.
-- remove_diacritics 2 lets "mkopo" match "mkopó" and "cafe" match "café".
CREATE VIRTUAL TABLE lessons_fts USING fts5(
    title, body, content='lessons', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);

CREATE TRIGGER lessons_fts_insert AFTER INSERT ON lessons BEGIN
    INSERT INTO lessons_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;

CREATE TRIGGER lessons_fts_delete AFTER DELETE ON lessons BEGIN
    INSERT INTO lessons_fts(lessons_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;

-- Only when the indexed text can change: publishing or reordering a lesson does not touch the index.
CREATE TRIGGER lessons_fts_update AFTER UPDATE OF title, body ON lessons BEGIN
    INSERT INTO lessons_fts(lessons_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
    INSERT INTO lessons_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;

INSERT INTO lessons_fts(lessons_fts) VALUES ('rebuild');

ALTER TABLE questions ADD COLUMN published INTEGER NOT NULL DEFAULT 1;

CREATE TABLE content_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO content_version (id, version) VALUES (1, 1);

CREATE TRIGGER content_version_courses_insert AFTER INSERT ON courses BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_courses_update AFTER UPDATE ON courses BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_courses_delete AFTER DELETE ON courses BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_lessons_insert AFTER INSERT ON lessons BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_lessons_update AFTER UPDATE ON lessons BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_lessons_delete AFTER DELETE ON lessons BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_questions_insert AFTER INSERT ON questions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_questions_update AFTER UPDATE ON questions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_questions_delete AFTER DELETE ON questions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_badges_insert AFTER INSERT ON badge_definitions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_badges_update AFTER UPDATE ON badge_definitions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER content_version_badges_delete AFTER DELETE ON badge_definitions BEGIN
    UPDATE content_version SET version = version + 1 WHERE id = 1;
END;
