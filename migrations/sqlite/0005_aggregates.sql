-- Folded state of the small aggregates (Profile, ShopOrder, Subscription), written in the
-- same transaction as their events; `last_sequence` is the optimistic lock. The events stay
-- the truth: this is what commands decide on without re-reading a stream.
CREATE TABLE IF NOT EXISTS aggregate_state (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    account_id text NOT NULL,
    last_sequence bigint NOT NULL,
    state_json text NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
CREATE INDEX IF NOT EXISTS aggregate_state_account ON aggregate_state (account_id, aggregate_type);

-- Encrypted credentials of profiles (AES-256-GCM, `v1:` + base64). Events only carry a
-- fingerprint; the clear text never reaches the event log or the logs.
CREATE TABLE IF NOT EXISTS credentials (
    account_id text NOT NULL,
    profile_id text NOT NULL,
    name text NOT NULL,
    ciphertext text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (account_id, profile_id, name)
);
