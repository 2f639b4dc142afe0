-- The tenant's end users: people who talk to the tenant's bot.

CREATE TABLE end_users (
    telegram_id       BIGINT PRIMARY KEY,
    first_name        TEXT NOT NULL DEFAULT '',
    username          TEXT,
    telegram_locale   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
