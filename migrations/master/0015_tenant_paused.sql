-- A customer may stop their bot while the subscription runs; it starts again when they ask.
ALTER TABLE tenants ADD COLUMN paused BIGINT NOT NULL DEFAULT 0;
