-- Support tickets from customers to platform staff.
CREATE TABLE tickets (
    id                TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL REFERENCES customers(id),
    -- open | answered | closed
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX tickets_status ON tickets (status, created_at);

CREATE TABLE ticket_messages (
    id                TEXT PRIMARY KEY,
    ticket_id         TEXT NOT NULL REFERENCES tickets(id),
    -- customer | staff
    author            TEXT NOT NULL,
    author_name       TEXT NOT NULL,
    body              TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, created_at);
