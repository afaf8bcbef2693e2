-- 0022_inbox_notifications: the teacher's inbox (issue #17) tells the teacher on duty that something waits, at most
-- once per handover: a row here once the notice about it went out (by e-mail, WhatsApp, or both).
CREATE TABLE inbox_notifications (
    handover_id INTEGER PRIMARY KEY REFERENCES handovers(id) ON DELETE CASCADE,
    notified_at TEXT NOT NULL,
    via TEXT NOT NULL DEFAULT ''  -- "email", "whatsapp", "email,whatsapp"; "" = nobody to tell at the time
);
