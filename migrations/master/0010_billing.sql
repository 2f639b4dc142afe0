-- Billing: customers' wallets, orders, invoices, payments, subscriptions, coupons.
-- Exactly-once rules live in the schema too: a payment is applied once (applied_at set by a
-- guarded update), a provider's reference maps to one payment, and every wallet movement has
-- a unique reference.

ALTER TABLE customers ADD COLUMN email TEXT;
ALTER TABLE customers ADD COLUMN password_hash TEXT;
ALTER TABLE customers ADD COLUMN email_verified_at BIGINT;
CREATE UNIQUE INDEX customers_email ON customers (email);

-- Every movement of a customer's balance; the balance is the sum. `reference` makes each
-- movement happen once (e.g. 'payment:<id>' for a payment credited to the wallet).
CREATE TABLE wallet_entries (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    reason            TEXT NOT NULL,
    reference         TEXT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL
);
CREATE INDEX wallet_entries_customer ON wallet_entries (customer_id, currency);

CREATE TABLE coupons (
    id                TEXT PRIMARY KEY,
    code              TEXT NOT NULL UNIQUE,
    -- 'percent' (value = percent 1-100) or 'fixed' (value = minor units of `currency`).
    kind              TEXT NOT NULL,
    value             BIGINT NOT NULL,
    currency          TEXT,
    expires_at        BIGINT,
    max_uses          BIGINT,
    uses              BIGINT NOT NULL DEFAULT 0,
    active            BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL
);

-- A subscription keeps a copy of what was bought (`terms`, JSON), so later edits of the
-- package never change what a paying customer has.
CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    customer_id           TEXT NOT NULL REFERENCES customers(id),
    package_id            TEXT NOT NULL REFERENCES packages(id),
    terms                 TEXT NOT NULL,
    period_months         BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    -- trial | active | grace | suspended | cancelled | deleted
    status                TEXT NOT NULL,
    current_period_start  BIGINT NOT NULL,
    current_period_end    BIGINT NOT NULL,
    cancel_at_period_end  BIGINT NOT NULL DEFAULT 0,
    -- A downgrade waits for the next period.
    next_package_id       TEXT REFERENCES packages(id),
    next_terms            TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
CREATE INDEX subscriptions_period_end ON subscriptions (status, current_period_end);

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    -- new | renew | upgrade
    kind              TEXT NOT NULL,
    package_id        TEXT NOT NULL REFERENCES packages(id),
    terms             TEXT NOT NULL,
    period_months     BIGINT NOT NULL,
    subscription_id   TEXT REFERENCES subscriptions(id),
    currency          TEXT NOT NULL,
    subtotal_minor    BIGINT NOT NULL,
    discount_minor    BIGINT NOT NULL DEFAULT 0,
    credit_minor      BIGINT NOT NULL DEFAULT 0,
    total_minor       BIGINT NOT NULL,
    coupon_id         TEXT REFERENCES coupons(id),
    created_at        BIGINT NOT NULL
);

CREATE TABLE invoices (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL UNIQUE REFERENCES orders(id),
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    -- open | paid | expired | cancelled
    status            TEXT NOT NULL,
    expires_at        BIGINT NOT NULL,
    paid_at           BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_id, status);

CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    invoice_id        TEXT NOT NULL REFERENCES invoices(id),
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    -- card | zarinpal | nowpayments | stars | wallet
    method            TEXT NOT NULL,
    -- The provider's id for this payment (authority, payment id, charge id); unique per method.
    provider_ref      TEXT,
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    -- pending | in_review | paid | failed | rejected | mismatch
    status            TEXT NOT NULL,
    detail            TEXT,
    card_id           TEXT,
    receipt_file_id   TEXT,
    reviewed_by       TEXT,
    applied_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX payments_provider_ref ON payments (method, provider_ref);
CREATE INDEX payments_status ON payments (status, created_at);

-- Runs of time-based jobs that must happen once per key (a reminder per subscription and
-- period, a suspension, ...).
CREATE TABLE job_marks (
    key               TEXT PRIMARY KEY,
    done_at           BIGINT NOT NULL
);

-- Longer periods for the default packages: 3 months at 10% off, 12 months at 20% off.
INSERT INTO package_prices (package_id, period_months, currency, amount_minor) VALUES
    ('pkg-starter',      3,  'IRT', 783000),
    ('pkg-starter',      3,  'USD', 1347),
    ('pkg-starter',      12, 'IRT', 2784000),
    ('pkg-starter',      12, 'USD', 4790),
    ('pkg-professional', 3,  'IRT', 1863000),
    ('pkg-professional', 3,  'USD', 3237),
    ('pkg-professional', 12, 'IRT', 6624000),
    ('pkg-professional', 12, 'USD', 11510),
    ('pkg-enterprise',   3,  'IRT', 4023000),
    ('pkg-enterprise',   3,  'USD', 6747),
    ('pkg-enterprise',   12, 'IRT', 14304000),
    ('pkg-enterprise',   12, 'USD', 23990);
