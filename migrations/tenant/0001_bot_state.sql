-- The tenant bot's own database. Portable SQL, as in migrations/master.

CREATE TABLE bot_state (
    name              TEXT PRIMARY KEY,
    value             TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
