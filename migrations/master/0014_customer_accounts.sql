-- Email sign-in for customers, and linking an email account with a Telegram one.

-- One-time codes: email verification, password reset, and linking Telegram to an account.
CREATE TABLE customer_codes (
    code_hash         TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    -- verify_email | reset_password | link_telegram
    purpose           TEXT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX customer_codes_customer ON customer_codes (customer_id, purpose);
