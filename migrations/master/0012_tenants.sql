-- Tenants: a customer's white-label bot, set up in an onboarding dialogue after the first
-- payment. The instance (desired state, container) lives in `instances`, written through the
-- provisioner's store.

CREATE TABLE tenants (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL REFERENCES customers(id),
    subscription_id     TEXT NOT NULL REFERENCES subscriptions(id),
    -- token | admin | channel | panel_kind | panel_url | panel_username | panel_password | done
    onboarding_step     TEXT NOT NULL,
    -- Answers given so far that are not in their own columns (JSON).
    onboarding_draft    TEXT NOT NULL DEFAULT '{}',
    bot_id              BIGINT UNIQUE,
    bot_username        TEXT,
    bot_token_enc       TEXT,
    admin_telegram_id   BIGINT,
    channel             TEXT,
    onboarded_at        BIGINT,
    -- When the customer was told the bot is live (or why it is not), for the current start.
    live_notified_at    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX tenants_customer ON tenants (customer_id);
CREATE INDEX tenants_subscription ON tenants (subscription_id);

CREATE TABLE tenant_panels (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    -- marzban | xui
    kind                TEXT NOT NULL,
    url                 TEXT NOT NULL,
    username            TEXT NOT NULL,
    password_enc        TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX tenant_panels_tenant ON tenant_panels (tenant_id);
