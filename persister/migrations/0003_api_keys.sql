-- Tachyon persister schema, version 3: API keys as the engine keeps them (created and
-- revoked through the admin API, journaled like every command).
--
-- One row per registration: several active keys may share a CompID (rotation: create the
-- new key, move the client, revoke the old one), and a revoked id may in principle be
-- registered again, so the key is (key_id, created_seq) and only one registration of an
-- id is active at a time. The secret is never stored (the gateway derives it from the
-- master secret in its configuration); neither is the nonce it is derived from.

DROP INDEX api_keys_active_comp_id_idx;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey;
ALTER TABLE api_keys
    ADD COLUMN created_seq BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN revoked_seq BIGINT,
    ADD CHECK (revoked_seq IS NULL OR revoked_seq > created_seq),
    ADD CHECK ((revoked_at IS NULL) = (revoked_seq IS NULL));
ALTER TABLE api_keys ALTER COLUMN created_seq DROP DEFAULT;
ALTER TABLE api_keys ADD PRIMARY KEY (key_id, created_seq);
CREATE UNIQUE INDEX api_keys_active_key_idx ON api_keys (key_id) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_comp_id_idx ON api_keys (comp_id);
