-- Tamper-evident log (issue 17.3): one hash chain per account over the stored events,
-- linked in each appending transaction (adapters/src/store/chain.rs). A link names its
-- event by the events' primary key and holds SHA-256(previous hash ‖ canonical row), hex.
CREATE TABLE IF NOT EXISTS audit_links (
    account_id text NOT NULL,
    link_no bigint NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (account_id, link_no),
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

-- The last link of each account's chain: the row appenders lock to serialise on the chain.
CREATE TABLE IF NOT EXISTS audit_heads (
    account_id text PRIMARY KEY,
    link_no bigint NOT NULL,
    hash text NOT NULL
);

-- Events stored before this migration are not in any chain: `audit verify` counts them
-- apart instead of reporting them as inserted around the chain.
CREATE TABLE IF NOT EXISTS audit_origin (
    id integer PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO audit_origin (id, position) SELECT 1, COALESCE(MAX(position), 0) FROM events;
