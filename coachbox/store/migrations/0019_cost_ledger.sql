-- 0019_cost_ledger: what each message costs (issue #19). Figures are integers in millionths of a US dollar
-- ("micros"): $0.0040 is 4000. The rate card (content/rates/*.toml, overridable in [costs]) gives the estimate;
-- the provider's own figure, when it tells us (Twilio's price on the message resource, Meta's pricing block
-- through the rate card), lands beside it.
ALTER TABLE messages ADD COLUMN market TEXT;                    -- ISO country of the learner's number ('KE', 'NG'…); NULL when unknown
ALTER TABLE messages ADD COLUMN cost_category TEXT;             -- service | utility | marketing | authentication | free
ALTER TABLE messages ADD COLUMN cost_estimate_micros INTEGER;   -- WhatsApp + provider fee, written when sent (out) or stored (in); NULL for the simulator
ALTER TABLE messages ADD COLUMN cost_actual_micros INTEGER;     -- what the provider later said; NULL until known
ALTER TABLE messages ADD COLUMN cost_checked_at TEXT;           -- last time the provider was asked for the price (polite re-asking)

-- Month and day roll-ups read only costed rows; the figures are in the index, so the budget's month-to-date sum
-- (asked before a broadcast or reminder goes) never reads the rows themselves.
CREATE INDEX messages_costed ON messages(created_at, cost_estimate_micros, cost_actual_micros)
    WHERE cost_estimate_micros IS NOT NULL;
-- The price look-up reads final outbound rows without an actual figure.
CREATE INDEX messages_cost_pending ON messages(updated_at)
    WHERE direction = 'out' AND cost_actual_micros IS NULL AND provider_sid IS NOT NULL;
