-- 0024_lesson_text_changed: when a lesson's words last changed (its title, text or, through the importer's
-- source_hash, its questions), apart from publishing, reordering or new media, which also move updated_at.
-- The lesson editor compares a translated lesson's text_changed_at with its original's (the lesson with the same
-- slug in the course named by courses.translation_of) and says "older than the English one" when it is older.
-- The admin's quiz editor sets it itself (store.courses.touch_lesson_text): questions have no timestamps.
ALTER TABLE lessons ADD COLUMN text_changed_at TEXT;
UPDATE lessons SET text_changed_at = updated_at;

CREATE TRIGGER lessons_text_changed_insert AFTER INSERT ON lessons WHEN new.text_changed_at IS NULL BEGIN
    UPDATE lessons SET text_changed_at = new.updated_at WHERE id = new.id;
END;

CREATE TRIGGER lessons_text_changed_update AFTER UPDATE OF title, body, source_hash ON lessons
WHEN old.title IS NOT new.title OR old.body IS NOT new.body OR old.source_hash IS NOT new.source_hash BEGIN
    UPDATE lessons SET text_changed_at = new.updated_at WHERE id = new.id;
END;
