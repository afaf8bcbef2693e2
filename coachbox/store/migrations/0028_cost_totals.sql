-- 0028_cost_totals: the Costs page's figures kept as messages are written (issue #16), so a month reads a few
-- thousand rows instead of adding up every message (1.2-4.2 s at 5,000,000 messages). Triggers keep them in the
-- same transaction as the message they count, whichever code path writes; store.costs reads them.
--
-- Each message is counted under the learner's main class and current course AT SEND TIME, stored on the message
-- (cost_class: '' for none; cost_course_id: 0 for none; NULL on rows older than this migration, which count
-- under the learner's class and course of the day it ran), so a later class or course change does not rewrite
-- history, and a price written a week later lands in the same row as the message.
ALTER TABLE messages ADD COLUMN cost_class TEXT;
ALTER TABLE messages ADD COLUMN cost_course_id INTEGER;

-- One row per UTC hour ('YYYY-MM-DDTHH', the first 13 characters of created_at), direction, kind, WhatsApp
-- category ('' for none), channel, course (0 for none) and class ('' for none). UTC hours add up to the org's
-- local days in every zone a whole number of hours from UTC; the reads fall back to the messages elsewhere.
CREATE TABLE cost_totals (
    hour TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    course_id INTEGER NOT NULL,
    class TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    costed INTEGER NOT NULL DEFAULT 0,               -- messages with an estimate
    cost INTEGER NOT NULL DEFAULT 0,                 -- best figure: actual where known, else estimate (micros)
    estimate INTEGER NOT NULL DEFAULT 0,
    with_actual INTEGER NOT NULL DEFAULT 0,          -- messages the provider priced
    actual INTEGER NOT NULL DEFAULT 0,
    estimate_of_actual INTEGER NOT NULL DEFAULT 0,   -- the estimate of those priced messages
    PRIMARY KEY (hour, direction, kind, category, channel, course_id, class)
) WITHOUT ROWID;

INSERT INTO cost_totals (hour, direction, kind, category, channel, course_id, class, messages, costed, cost,
                         estimate, with_actual, actual, estimate_of_actual)
SELECT substr(m.created_at, 1, 13), m.direction, m.kind, COALESCE(m.cost_category, ''), m.channel,
       COALESCE(l.current_course_id, 0), COALESCE(l.cohort, ''),
       COUNT(*), SUM(m.cost_estimate_micros IS NOT NULL),
       COALESCE(SUM(COALESCE(m.cost_actual_micros, m.cost_estimate_micros)), 0),
       COALESCE(SUM(m.cost_estimate_micros), 0), SUM(m.cost_actual_micros IS NOT NULL),
       COALESCE(SUM(m.cost_actual_micros), 0),
       COALESCE(SUM(CASE WHEN m.cost_actual_micros IS NOT NULL THEN m.cost_estimate_micros END), 0)
FROM messages m LEFT JOIN learners l ON l.id = m.learner_id
GROUP BY 1, 2, 3, 4, 5, 6, 7;

-- A new message: note its learner's class and course now, then add it to its row.
CREATE TRIGGER cost_totals_insert AFTER INSERT ON messages BEGIN
    UPDATE messages SET
        cost_class = COALESCE((SELECT cohort FROM learners WHERE id = new.learner_id), ''),
        cost_course_id = COALESCE((SELECT current_course_id FROM learners WHERE id = new.learner_id), 0)
    WHERE id = new.id;
    INSERT INTO cost_totals (hour, direction, kind, category, channel, course_id, class, messages, costed, cost,
                             estimate, with_actual, actual, estimate_of_actual)
    VALUES (substr(new.created_at, 1, 13), new.direction, new.kind, COALESCE(new.cost_category, ''), new.channel,
            COALESCE((SELECT current_course_id FROM learners WHERE id = new.learner_id), 0),
            COALESCE((SELECT cohort FROM learners WHERE id = new.learner_id), ''),
            1, new.cost_estimate_micros IS NOT NULL, COALESCE(new.cost_actual_micros, new.cost_estimate_micros, 0),
            COALESCE(new.cost_estimate_micros, 0), new.cost_actual_micros IS NOT NULL,
            COALESCE(new.cost_actual_micros, 0),
            CASE WHEN new.cost_actual_micros IS NOT NULL THEN COALESCE(new.cost_estimate_micros, 0) ELSE 0 END)
    ON CONFLICT DO UPDATE SET
        messages = messages + 1,
        costed = costed + excluded.costed,
        cost = cost + excluded.cost,
        estimate = estimate + excluded.estimate,
        with_actual = with_actual + excluded.with_actual,
        actual = actual + excluded.actual,
        estimate_of_actual = estimate_of_actual + excluded.estimate_of_actual;
END;

-- An estimate or the provider's price written later (or a category): take the old figures out of the message's
-- row and put the new ones in (the row moves when the category changes). The class and course are the ones
-- noted at send time; a message older than this migration uses its learner's current ones, as the fill did.
CREATE TRIGGER cost_totals_update
AFTER UPDATE OF cost_estimate_micros, cost_actual_micros, cost_category, kind, direction, channel, created_at
ON messages BEGIN
    UPDATE cost_totals SET
        messages = messages - 1,
        costed = costed - (old.cost_estimate_micros IS NOT NULL),
        cost = cost - COALESCE(old.cost_actual_micros, old.cost_estimate_micros, 0),
        estimate = estimate - COALESCE(old.cost_estimate_micros, 0),
        with_actual = with_actual - (old.cost_actual_micros IS NOT NULL),
        actual = actual - COALESCE(old.cost_actual_micros, 0),
        estimate_of_actual = estimate_of_actual
            - CASE WHEN old.cost_actual_micros IS NOT NULL THEN COALESCE(old.cost_estimate_micros, 0) ELSE 0 END
    WHERE hour = substr(old.created_at, 1, 13) AND direction = old.direction AND kind = old.kind
      AND category = COALESCE(old.cost_category, '') AND channel = old.channel
      AND course_id = COALESCE(old.cost_course_id, (SELECT current_course_id FROM learners WHERE id = old.learner_id), 0)
      AND class = COALESCE(old.cost_class, (SELECT cohort FROM learners WHERE id = old.learner_id), '');
    INSERT INTO cost_totals (hour, direction, kind, category, channel, course_id, class, messages, costed, cost,
                             estimate, with_actual, actual, estimate_of_actual)
    VALUES (substr(new.created_at, 1, 13), new.direction, new.kind, COALESCE(new.cost_category, ''), new.channel,
            COALESCE(old.cost_course_id, (SELECT current_course_id FROM learners WHERE id = old.learner_id), 0),
            COALESCE(old.cost_class, (SELECT cohort FROM learners WHERE id = old.learner_id), ''),
            1, new.cost_estimate_micros IS NOT NULL, COALESCE(new.cost_actual_micros, new.cost_estimate_micros, 0),
            COALESCE(new.cost_estimate_micros, 0), new.cost_actual_micros IS NOT NULL,
            COALESCE(new.cost_actual_micros, 0),
            CASE WHEN new.cost_actual_micros IS NOT NULL THEN COALESCE(new.cost_estimate_micros, 0) ELSE 0 END)
    ON CONFLICT DO UPDATE SET
        messages = messages + 1,
        costed = costed + excluded.costed,
        cost = cost + excluded.cost,
        estimate = estimate + excluded.estimate,
        with_actual = with_actual + excluded.with_actual,
        actual = actual + excluded.actual,
        estimate_of_actual = estimate_of_actual + excluded.estimate_of_actual;
END;

-- active_months: per learner and UTC month ('YYYY-MM'), their first and last message to us: the "active learners"
-- of a local month (the cost per learner divides by them) without counting a month of messages. A local month
-- overlaps two UTC months; a learner wrote in it when one of them has first_in < its end and last_in >= its start
-- (store.costs.kept_active_learners says why that is exact). Rows stay when messages are deleted (an erased
-- learner's anonymous stub still wrote that month), and go with the learner's row, as messages do.
CREATE TABLE active_months (
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    month TEXT NOT NULL,
    first_in TEXT NOT NULL,
    last_in TEXT NOT NULL,
    PRIMARY KEY (learner_id, month)
) WITHOUT ROWID;
CREATE INDEX active_months_month ON active_months(month, first_in, last_in, learner_id);

INSERT INTO active_months (learner_id, month, first_in, last_in)
SELECT learner_id, substr(created_at, 1, 7), MIN(created_at), MAX(created_at) FROM messages
WHERE direction = 'in' AND learner_id IS NOT NULL
GROUP BY 1, 2;

CREATE TRIGGER active_months_insert AFTER INSERT ON messages
WHEN new.direction = 'in' AND new.learner_id IS NOT NULL BEGIN
    INSERT INTO active_months (learner_id, month, first_in, last_in)
    VALUES (new.learner_id, substr(new.created_at, 1, 7), new.created_at, new.created_at)
    ON CONFLICT DO UPDATE SET first_in = MIN(first_in, excluded.first_in), last_in = MAX(last_in, excluded.last_in);
END;
