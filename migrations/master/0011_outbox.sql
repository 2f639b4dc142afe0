-- Messages to send (Telegram, email, the staff group), written in the same transaction as the
-- change that causes them. `key` makes each one happen once; a sender delivers and marks them.

CREATE TABLE outbox (
    id                TEXT PRIMARY KEY,
    key               TEXT NOT NULL UNIQUE,
    -- telegram | email | staff
    channel           TEXT NOT NULL,
    -- A customer id (telegram, email) or '' for the staff group.
    recipient         TEXT NOT NULL,
    template          TEXT NOT NULL,
    -- JSON object: the template's arguments.
    args              TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    send_after        BIGINT NOT NULL,
    sent_at           BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT
);
CREATE INDEX outbox_unsent ON outbox (sent_at, send_after);
