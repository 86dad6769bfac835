-- The capture store's schema (D1_SCHEMA in packages/core/src/store/d1.ts):
-- regenerate with `node --import tsx scripts/write-migration.ts`.
CREATE TABLE captures (id INTEGER PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
    login_name TEXT NOT NULL, node_id TEXT NOT NULL, model TEXT NOT NULL, api_type TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, cost_usd REAL, duration_ms INTEGER NOT NULL,
    status_code INTEGER NOT NULL, record_bytes INTEGER NOT NULL,
    content_purged INTEGER NOT NULL DEFAULT 0, claim_id TEXT, exported_at_ms INTEGER,
    export_key TEXT, capture_id TEXT);
CREATE TABLE capture_records (id INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE INDEX captures_waiting ON captures (id) WHERE exported_at_ms IS NULL;
CREATE INDEX captures_claim ON captures (claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX captures_purgeable ON captures (timestamp_ms) WHERE content_purged = 0;
CREATE INDEX captures_model ON captures (model, id);
CREATE INDEX captures_login ON captures (login_name, id);
CREATE INDEX captures_time ON captures (timestamp_ms);
CREATE UNIQUE INDEX captures_capture_id ON captures (capture_id) WHERE capture_id IS NOT NULL;
CREATE TABLE export_claims (claim_id TEXT PRIMARY KEY, object_key TEXT NOT NULL,
    key_seconds INTEGER NOT NULL, prefix TEXT NOT NULL, first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL, record_count INTEGER NOT NULL, cbor_bytes INTEGER NOT NULL,
    owner TEXT NOT NULL, lease_until_ms INTEGER NOT NULL, endpoint TEXT NOT NULL DEFAULT '',
    bucket TEXT NOT NULL DEFAULT '', last_error TEXT);
CREATE TABLE export_files (object_key TEXT NOT NULL, endpoint TEXT NOT NULL,
    bucket TEXT NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
    cbor_bytes INTEGER NOT NULL, exported_at_ms INTEGER NOT NULL);
CREATE TABLE store_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO store_state (name, value) VALUES ('next_id', 1), ('last_key_seconds', 0),
    ('exported_files', 0), ('exported_records', 0), ('exported_bytes', 0),
    ('exported_cbor_bytes', 0);
CREATE TABLE export_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL);
