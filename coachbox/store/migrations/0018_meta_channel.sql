-- 0018_meta_channel: what Meta's WhatsApp Cloud API adds (issue #20).
-- A learner's business-scoped user id (BSUID, "US.1349…"): Meta sends it beside wa_id, and alone when the learner
-- uses a WhatsApp username and hides their number. A learner first met by number is still recognised by it.
ALTER TABLE learners ADD COLUMN wa_user_id TEXT;
CREATE INDEX learners_wa_user_id ON learners(wa_user_id) WHERE wa_user_id IS NOT NULL;

-- What Meta's status webhooks say a message costs (statuses[].pricing and .conversation.origin.type): the cost
-- ledger reads them. billable: 1/0, NULL when Meta did not say.
ALTER TABLE messages ADD COLUMN pricing_category TEXT;         -- utility | marketing | authentication | service | …
ALTER TABLE messages ADD COLUMN pricing_billable INTEGER;
ALTER TABLE messages ADD COLUMN pricing_model TEXT;            -- CBP (per conversation) | PMP (per message)
ALTER TABLE messages ADD COLUMN pricing_type TEXT;             -- pricing.type (regular | free_customer_service …)
ALTER TABLE messages ADD COLUMN conversation_type TEXT;        -- conversation.origin.type, when Meta sends one
