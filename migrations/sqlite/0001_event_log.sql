-- The cqrs-es `events` table (same columns as sqlite-es 0.5) plus a global `position`.
-- SQLite has one writer at a time, so position order is commit order.
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence >= 0),
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE IF NOT EXISTS snapshots (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    last_sequence INTEGER NOT NULL CHECK (last_sequence >= 0),
    current_snapshot INTEGER NOT NULL CHECK (current_snapshot >= 0),
    payload TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

CREATE TABLE IF NOT EXISTS run_queue (
    run_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    profile_id TEXT NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ready', 'leased', 'done')),
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    lease_epoch INTEGER NOT NULL DEFAULT 0,
    cancel_requested_by TEXT,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS run_queue_one_active
    ON run_queue (account_id, profile_id, action) WHERE state <> 'done';
CREATE INDEX IF NOT EXISTS run_queue_due ON run_queue (due_at) WHERE state <> 'done';

CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name TEXT PRIMARY KEY,
    tx_id INTEGER NOT NULL,
    position INTEGER NOT NULL
);
