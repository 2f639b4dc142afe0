-- The default packages, seeded once. Staff may edit or hide them afterwards; a migration never
-- runs twice, so their edits are kept.

INSERT INTO packages (id, code, name_fa, name_en, max_bots, max_end_users, max_panels,
                      bot_memory_mb, bot_cpu_millis, trial_days, active, sort_order, created_at, updated_at)
VALUES
    ('pkg-starter',      'starter',      'استارتر',     'Starter',      1,    100,  1,    64,  250, 0, 1, 10, 0, 0),
    ('pkg-professional', 'professional', 'حرفه‌ای',     'Professional', 3,    500,  5,    128, 500, 0, 1, 20, 0, 0),
    ('pkg-enterprise',   'enterprise',   'سازمانی',     'Enterprise',   NULL, NULL, NULL, 256, 1000, 0, 1, 30, 0, 0);

-- Monthly prices: Toman (IRT, minor unit = 1 Toman) and US dollars (USD, cents).
INSERT INTO package_prices (package_id, period_months, currency, amount_minor) VALUES
    ('pkg-starter',      1, 'IRT', 290000),
    ('pkg-starter',      1, 'USD', 499),
    ('pkg-professional', 1, 'IRT', 690000),
    ('pkg-professional', 1, 'USD', 1199),
    ('pkg-enterprise',   1, 'IRT', 1490000),
    ('pkg-enterprise',   1, 'USD', 2499);
