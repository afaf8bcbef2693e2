-- 0010_farewell_forgets_address: the goodbye after a learner's DELETE must reach their phone, so its outbox row
-- is written with the address; as soon as the sender has handed it over (or given up), nothing needs the number
-- any more: the row forgets it in the same statement that records the send. Status callbacks find the row by
-- its provider sid, never by address. Only 'farewell' rows are touched; every other status update pays one
-- comparison.
CREATE TRIGGER farewell_forgets_address
AFTER UPDATE OF status ON messages
WHEN NEW.kind = 'farewell' AND NEW.status NOT IN ('queued', 'retry', 'sending', 'waiting')
  AND NEW.address NOT LIKE 'erased:%'
BEGIN
    UPDATE messages SET address = 'erased:' || COALESCE(NEW.learner_id, NEW.id) WHERE id = NEW.id;
END;
