-- Selling VPN accounts: panels, plans, wallets, orders, services, payments, notices.
-- Money is integer minor units with a currency; times are unix seconds; JSON is TEXT.

-- The tenant's settings, one JSON value per name (trial, channel, reminders, gateways, limits).
CREATE TABLE settings (
    name              TEXT PRIMARY KEY,
    value             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- People who run the shop from the bot. The owner comes from the master.
CREATE TABLE admins (
    telegram_id       BIGINT PRIMARY KEY,
    -- owner | admin | seller | support
    role              TEXT NOT NULL,
    -- master | bot
    source            TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);

-- The tenant's VPN panels.
CREATE TABLE panels (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    -- marzban | xui
    kind              TEXT NOT NULL,
    url               TEXT NOT NULL,
    -- 3x-UI: where its subscription server serves links; NULL = the panel's host, port 2096.
    subscription_base TEXT,
    -- PanelCredentials as JSON, encrypted with the bot's data key.
    credentials_enc   TEXT NOT NULL,
    -- master (entered when the bot was set up) | bot (added by the tenant's admins)
    source            TEXT NOT NULL,
    -- The master's id for a panel that came from the master.
    source_ref        TEXT UNIQUE,
    weight            BIGINT NOT NULL DEFAULT 1,
    -- Most live accounts placed on it; NULL = no limit.
    capacity          BIGINT,
    location          TEXT,
    -- Inbound refs new accounts go into (JSON list); [] = every inbound.
    inbounds          TEXT NOT NULL DEFAULT '[]',
    -- Taken out of rotation by an admin: no new accounts.
    enabled           BIGINT NOT NULL DEFAULT 1,
    -- The last health check: 1 ok, 0 failing (no new accounts).
    healthy           BIGINT NOT NULL DEFAULT 1,
    health_error      TEXT,
    checked_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE plans (
    id                TEXT PRIMARY KEY,
    name_fa           TEXT NOT NULL,
    name_en           TEXT NOT NULL,
    -- NULL = unlimited data.
    data_bytes        BIGINT,
    days              BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    price_minor       BIGINT NOT NULL,
    -- Most devices at once; NULL = no limit.
    ip_limit          BIGINT,
    -- Bound to a location (any panel there) or to one panel; both NULL = any panel.
    location          TEXT,
    panel_id          TEXT REFERENCES panels(id),
    hidden            BIGINT NOT NULL DEFAULT 0,
    sort_order        BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- End users' balances: a ledger; each movement has a unique reference so it happens once.
CREATE TABLE wallet_entries (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    -- topup | order | refund | admin | referral ...
    reason            TEXT NOT NULL,
    reference         TEXT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL
);
CREATE INDEX wallet_entries_user ON wallet_entries (telegram_id, created_at);

-- What end users have: one account on one panel.
CREATE TABLE services (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT NOT NULL,
    panel_id          TEXT NOT NULL REFERENCES panels(id),
    username          TEXT NOT NULL,
    plan_id           TEXT,
    is_trial          BIGINT NOT NULL DEFAULT 0,
    data_limit_bytes  BIGINT,
    used_bytes        BIGINT NOT NULL DEFAULT 0,
    expire_at         BIGINT,
    -- active | disabled | limited | expired | on_hold | deleted (gone from the panel)
    status            TEXT NOT NULL,
    online_at         BIGINT,
    subscription_url  TEXT NOT NULL,
    synced_at         BIGINT,
    -- When each reminder went out for the current period (cleared by renew / add data).
    reminded_days3_at BIGINT,
    reminded_days1_at BIGINT,
    reminded_data_at  BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (panel_id, username)
);
CREATE INDEX services_user ON services (telegram_id);

-- An order is a persisted state machine:
-- created -> paid -> provisioning -> delivered, or -> refunded (money back to the wallet),
-- or created -> cancelled.
CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT NOT NULL,
    -- new | renew | add_data | trial
    kind              TEXT NOT NULL,
    plan_id           TEXT,
    -- The service a renew / add_data acts on; for new and trial, the one delivered.
    service_id        TEXT,
    state             TEXT NOT NULL,
    currency          TEXT NOT NULL,
    price_minor       BIGINT NOT NULL,
    -- What the order gives, copied from the plan when it was made.
    data_bytes        BIGINT,
    days              BIGINT NOT NULL DEFAULT 0,
    ip_limit          BIGINT,
    -- The panel account: fixed before the first call so every retry acts on the same one.
    panel_id          TEXT,
    username          TEXT NOT NULL,
    -- For renew / add_data: what the account should show once the order is applied.
    target_expire_at  BIGINT,
    target_data_bytes BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    -- A worker holds the order until then; nobody else works on it meanwhile.
    lease_until       BIGINT,
    last_error        TEXT,
    -- A refunded order's account may exist on a panel that could not be asked: delete it
    -- when the panel answers again.
    cleanup_pending   BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    paid_at           BIGINT,
    delivered_at      BIGINT,
    closed_at         BIGINT,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX orders_user ON orders (telegram_id, created_at);
CREATE INDEX orders_due ON orders (state, next_attempt_at);

-- The free trial, once per Telegram user.
CREATE TABLE trials (
    telegram_id       BIGINT PRIMARY KEY,
    order_id          TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);

-- Money coming in through a gateway: it tops up the wallet, and pays its order if it has one.
CREATE TABLE payments (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT NOT NULL,
    order_id          TEXT,
    -- card_to_card | zarinpal | nowpayments | telegram_stars
    method            TEXT NOT NULL,
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    -- What the wallet is credited, in the wallet's currency (Stars and USD are converted).
    credit_minor      BIGINT NOT NULL,
    -- pending | in_review | paid | failed | rejected | mismatch
    status            TEXT NOT NULL,
    provider_ref      TEXT,
    -- The gateway's answer to start (authority, pay address...), JSON.
    checkout          TEXT,
    detail            TEXT,
    card_number       TEXT,
    receipt_file_id   TEXT,
    submitted_at      BIGINT,
    decided_by        BIGINT,
    applied_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (method, provider_ref)
);
CREATE INDEX payments_status ON payments (status, created_at);

-- Messages to send (to end users and admins), written in the same transaction as the change
-- they tell about; a sender delivers them. dedupe_key makes each notice happen once.
CREATE TABLE notices (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    data              TEXT NOT NULL,
    dedupe_key        TEXT NOT NULL UNIQUE,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    sent_at           BIGINT,
    -- Given up (the user blocked the bot, or too many failures).
    dropped_at        BIGINT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX notices_due ON notices (sent_at, next_attempt_at);

-- What the bot waits for from a person between messages (a receipt photo...).
CREATE TABLE conversations (
    telegram_id       BIGINT PRIMARY KEY,
    kind              TEXT NOT NULL,
    data              TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);

ALTER TABLE end_users ADD COLUMN locale TEXT;
ALTER TABLE end_users ADD COLUMN referred_by BIGINT;
ALTER TABLE end_users ADD COLUMN start_payload TEXT;
ALTER TABLE end_users ADD COLUMN joined_channel_at BIGINT;
ALTER TABLE end_users ADD COLUMN blocked BIGINT NOT NULL DEFAULT 0;
