-- What the workers of one EBP subscription share (adapters::store::erp_gate).
--
-- Call gate: the next free call slot (ms UTC) and the calls counted on `day` (UTC date,
-- 'YYYY-MM-DD' text: compared as text, identical on both databases). One row per
-- subscription, claimed by a single UPDATE.
CREATE TABLE IF NOT EXISTS erp_call_gate (
    subscription text PRIMARY KEY,
    next_slot_at bigint NOT NULL,
    day text NOT NULL,
    calls_today bigint NOT NULL
);

-- OAuth token pair of an EBP connection, both tokens encrypted (SecretBox, 'v1:…');
-- `version` grows with every stored refresh or login; instants in ms UTC.
CREATE TABLE IF NOT EXISTS erp_tokens (
    connection text PRIMARY KEY,
    access_token_enc text NOT NULL,
    refresh_token_enc text NOT NULL,
    expires_at bigint NOT NULL,
    version bigint NOT NULL,
    updated_at bigint NOT NULL
);
