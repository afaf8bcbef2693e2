-- 0009_payments: paid plans (snapshots), payments, subscriptions, provider events and callbacks kept for review.
-- Money is INTEGER minor units with its ISO 4217 currency next to it (KES 200.00 = 20000 'KES'); never REAL.

-- The plan as it was when a learner paid for it: a later edit of coachbox.toml does not rewrite history.
CREATE TABLE plan_snapshots (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,               -- sha256 of the definition: one row per distinct version
    definition TEXT NOT NULL,                  -- JSON: prices, period_days, courses, free_lessons, grace_days
    created_at TEXT NOT NULL
);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER NOT NULL REFERENCES learners(id) ON DELETE CASCADE,
    plan TEXT NOT NULL,
    plan_snapshot_id INTEGER REFERENCES plan_snapshots(id),
    provider TEXT NOT NULL CHECK (provider IN ('mpesa', 'stripe', 'manual')),
    provider_ref TEXT,                         -- Stripe subscription id (sub_…); NULL for M-PESA and manual grants
    courses TEXT NOT NULL,                     -- "all-premium" or a JSON list of course slugs (from the snapshot)
    status TEXT NOT NULL,                      -- active | past_due | cancelled (paid up, no renewal) | ended
    current_period_end TEXT NOT NULL,          -- the paid period ends here…
    access_until TEXT NOT NULL,                -- …and access here (period end + grace days; earlier when ended)
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    status_event_at INTEGER NOT NULL DEFAULT 0, -- Stripe event `created` of the newest status applied (out of order)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ended_at TEXT,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX subscriptions_learner ON subscriptions(learner_id, access_until);
CREATE INDEX subscriptions_period_end ON subscriptions(status, current_period_end);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    learner_id INTEGER REFERENCES learners(id) ON DELETE SET NULL,
    subscription_id INTEGER REFERENCES subscriptions(id) ON DELETE SET NULL,
    plan TEXT NOT NULL,
    plan_snapshot_id INTEGER REFERENCES plan_snapshots(id),
    provider TEXT NOT NULL CHECK (provider IN ('mpesa', 'stripe', 'manual')),
    amount_minor INTEGER NOT NULL CHECK (typeof(amount_minor) = 'integer' AND amount_minor >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    phone TEXT,                                -- M-PESA: the number asked to pay (E.164)
    status TEXT NOT NULL,                      -- new | pending | paid | failed | cancelled | refunded
    provider_ref TEXT,                         -- CheckoutRequestID / Stripe invoice id / Checkout Session id
    merchant_request_id TEXT,
    receipt TEXT,                              -- MpesaReceiptNumber / Stripe invoice number
    result_code TEXT,
    result_desc TEXT,
    period_days INTEGER NOT NULL,
    query_attempts INTEGER NOT NULL DEFAULT 0, -- STK queries made for a callback that never came
    next_query_at TEXT,
    note TEXT,                                 -- manual grant reason, refund note
    admin_id INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    paid_at TEXT,
    refunded_at TEXT,
    UNIQUE (provider, provider_ref)
);
CREATE INDEX payments_learner ON payments(learner_id, id);
CREATE INDEX payments_status ON payments(status, next_query_at);
CREATE INDEX payments_created ON payments(created_at);

-- Provider events applied, one row each: a retried webhook finds its row and changes nothing.
CREATE TABLE payment_events (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,                    -- Stripe evt_… / M-PESA CheckoutRequestID
    kind TEXT NOT NULL,                        -- Stripe event type / stk_callback / stk_query
    payment_id INTEGER REFERENCES payments(id) ON DELETE SET NULL,
    outcome TEXT NOT NULL,                     -- what we did with it
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (provider, event_id)
);

-- Callbacks that must not grant anything: unknown CheckoutRequestID, wrong amount or phone, no learner.
CREATE TABLE payment_reviews (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    reason TEXT NOT NULL,
    reference TEXT,
    payment_id INTEGER REFERENCES payments(id) ON DELETE SET NULL,
    fingerprint TEXT NOT NULL UNIQUE,          -- sha256 of provider, reason and body: replays add no rows
    payload TEXT NOT NULL,
    remote_addr TEXT,
    created_at TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by INTEGER REFERENCES admins(id) ON DELETE SET NULL,
    resolution TEXT
);
CREATE INDEX payment_reviews_open ON payment_reviews(resolved_at, id);
