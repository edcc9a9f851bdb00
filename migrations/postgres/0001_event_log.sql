-- The cqrs-es `events` table (same columns as postgres-es 0.5 expects) plus our global order:
-- `position` (bigserial) and `tx_id` (the writing transaction's id). Projections read in
-- (tx_id, position) order and only below the oldest transaction still in flight
-- (pg_snapshot_xmin), so an event committed late is never skipped (docs/ARCHITECTURE.md).
CREATE TABLE IF NOT EXISTS events (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint CHECK (sequence >= 0) NOT NULL,
    event_type text NOT NULL,
    event_version text NOT NULL,
    payload json NOT NULL,
    metadata json NOT NULL,
    position bigserial NOT NULL,
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_global_order ON events (tx_id, position);

-- cqrs-es snapshots, for aggregates that use postgres-es snapshot stores.
CREATE TABLE IF NOT EXISTS snapshots (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    last_sequence bigint CHECK (last_sequence >= 0) NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- The run queue: operational state of runs (who holds which lease until when). Times are
-- milliseconds since the Unix epoch, UTC. At most one active run per (account, profile, action).
CREATE TABLE IF NOT EXISTS run_queue (
    run_id text PRIMARY KEY,
    account_id text NOT NULL,
    profile_id text NOT NULL,
    action text NOT NULL,
    state text NOT NULL CHECK (state IN ('ready', 'leased', 'done')),
    due_at bigint NOT NULL,
    lease_owner text,
    lease_until bigint,
    lease_epoch bigint NOT NULL DEFAULT 0,
    cancel_requested_by text,
    created_at bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS run_queue_one_active
    ON run_queue (account_id, profile_id, action) WHERE state <> 'done';
CREATE INDEX IF NOT EXISTS run_queue_due ON run_queue (due_at) WHERE state <> 'done';

-- Projector checkpoints, written in the same transaction as the projection's rows.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name text PRIMARY KEY,
    tx_id bigint NOT NULL,
    position bigint NOT NULL
);
