-- Telegram Stars prices for the default packages (XTR, whole stars).
INSERT INTO package_prices (package_id, period_months, currency, amount_minor) VALUES
    ('pkg-starter',      1,  'XTR', 400),
    ('pkg-starter',      3,  'XTR', 1080),
    ('pkg-starter',      12, 'XTR', 3840),
    ('pkg-professional', 1,  'XTR', 950),
    ('pkg-professional', 3,  'XTR', 2565),
    ('pkg-professional', 12, 'XTR', 9120),
    ('pkg-enterprise',   1,  'XTR', 1950),
    ('pkg-enterprise',   3,  'XTR', 5265),
    ('pkg-enterprise',   12, 'XTR', 18720);

-- What the master bot is waiting for from a person (a coupon code, a receipt photo, a reason
-- for a rejection...), so a conversation survives a restart.
CREATE TABLE conversations (
    telegram_id       BIGINT PRIMARY KEY,
    kind              TEXT NOT NULL,
    data              TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
