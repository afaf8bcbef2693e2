-- 0011_message_redaction: [schedule] message_retention_days blanks old messages' words and media at night but
-- keeps the rows (statistics, de-duplication by idempotency_key, delivery status). redacted_at says when, so the
-- admin transcript shows "removed" instead of an empty bubble and the next night skips the row. NULL = intact.
ALTER TABLE messages ADD COLUMN redacted_at TEXT;
