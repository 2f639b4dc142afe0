-- Portable SQL (SQLite and PostgreSQL): app-generated TEXT ids, BIGINT everywhere for integers,
-- money as integer minor units with a currency code, times as unix seconds, flags as 0/1.

CREATE TABLE customers (
    id                TEXT PRIMARY KEY,
    telegram_id       BIGINT UNIQUE,
    first_name        TEXT NOT NULL DEFAULT '',
    username          TEXT,
    -- The language the customer chose in the bot; NULL means "follow Telegram's language".
    chosen_locale     TEXT,
    telegram_locale   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE packages (
    id                TEXT PRIMARY KEY,
    code              TEXT NOT NULL UNIQUE,
    name_fa           TEXT NOT NULL,
    name_en           TEXT NOT NULL,
    -- NULL limit = unlimited.
    max_bots          BIGINT,
    max_end_users     BIGINT,
    max_panels        BIGINT,
    bot_memory_mb     BIGINT NOT NULL,
    bot_cpu_millis    BIGINT NOT NULL,
    trial_days        BIGINT NOT NULL DEFAULT 0,
    active            BIGINT NOT NULL DEFAULT 1,
    sort_order        BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE package_prices (
    package_id        TEXT NOT NULL REFERENCES packages(id),
    period_months     BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL,
    PRIMARY KEY (package_id, period_months, currency)
);

-- Small named values a bot keeps between runs, e.g. the last Telegram update handled.
CREATE TABLE bot_state (
    name              TEXT PRIMARY KEY,
    value             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
