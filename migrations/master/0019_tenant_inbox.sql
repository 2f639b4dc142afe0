-- Messages for a tenant bot that arrive at the master's public address (tenant bots have
-- none): a gateway's notification, stored as received, until the bot fetches and acks it.
-- The master never reads the body: the bot checks the signature with its own secret.
CREATE TABLE tenant_inbox (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    -- nowpayments
    kind          TEXT NOT NULL,
    -- The request body exactly as received.
    body          TEXT NOT NULL,
    -- The signature header as received; NULL when there was none.
    signature     TEXT,
    received_at   BIGINT NOT NULL,
    -- When the bot acked it; NULL = still to deliver. Delivered items are purged after a week.
    delivered_at  BIGINT
);
CREATE INDEX tenant_inbox_pending ON tenant_inbox (tenant_id, delivered_at, received_at);
