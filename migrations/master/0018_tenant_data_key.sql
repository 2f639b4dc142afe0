-- Each tenant bot encrypts secrets in its own database (panel credentials...) with a data key
-- of its own, made once by the master and handed to every container the tenant gets, so it
-- stays the same across recreates. Stored encrypted with the master's keys.
-- tenants: context 'tenant:<id>:data_key'; instances (the provisioner's copy, like the bot
-- token): context 'instance:<tenant_id>:data_key'. NULL = not made yet.
ALTER TABLE tenants ADD COLUMN data_key_enc TEXT;
ALTER TABLE instances ADD COLUMN data_key_enc TEXT;
