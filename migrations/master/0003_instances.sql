-- Tenant-bot instances: the master writes the desired state and spec; the provisioner writes
-- the lifecycle state it observed and acted on. Portable SQL (SQLite and PostgreSQL).

CREATE TABLE instances (
    tenant_id          TEXT PRIMARY KEY,
    -- running | stopped | deleted
    desired            TEXT NOT NULL,
    -- Encrypted with the keyring, context 'instance:<tenant_id>:bot_token'.
    bot_token_enc      TEXT NOT NULL,
    -- The Telegram bot id (the token's prefix): one tenant per bot.
    bot_id             BIGINT NOT NULL,
    -- The non-secret spec as JSON: package limits, panels, image version.
    spec_json          TEXT NOT NULL,
    -- Hash of everything that shapes the container, token included: a change recreates it.
    spec_hash          TEXT NOT NULL,
    -- pending | creating | starting | running | stopping | stopped | crash_looping | failed
    -- | deleting | deleted
    state              TEXT NOT NULL,
    -- Why the instance is failed or crash looping, in words a customer can act on.
    reason             TEXT,
    state_changed_at   BIGINT NOT NULL,
    bot_username       TEXT,
    -- sha256 (hex) of the instance's API key for the master's internal API.
    api_key_hash       TEXT,
    -- Unix times of recent crash restarts (JSON array), and the runtime's restart counter
    -- when last looked at.
    restarts_json      TEXT NOT NULL DEFAULT '[]',
    restart_count_seen BIGINT NOT NULL DEFAULT 0,
    last_heartbeat_at  BIGINT,
    heartbeat_version  TEXT,
    bot_started_at     BIGINT,
    updates_handled    BIGINT,
    -- 1 while heartbeats arrive on time.
    healthy            BIGINT NOT NULL DEFAULT 0,
    deleted_at         BIGINT,
    -- When the kept data volume may be purged; NULL: keep.
    purge_after        BIGINT,
    purged_at          BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE INDEX instances_bot_id ON instances (bot_id);

-- Every lifecycle transition, for staff and for debugging.
CREATE TABLE instance_transitions (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES instances(tenant_id),
    from_state         TEXT NOT NULL,
    to_state           TEXT NOT NULL,
    reason             TEXT,
    at                 BIGINT NOT NULL
);

CREATE INDEX instance_transitions_tenant ON instance_transitions (tenant_id, at);
