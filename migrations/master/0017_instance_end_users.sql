-- How many end users a tenant bot has, as its heartbeat reports (for "My bots" and limits).
ALTER TABLE instances ADD COLUMN end_users BIGINT;
