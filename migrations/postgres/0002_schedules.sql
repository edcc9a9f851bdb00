-- Operational state of schedules, written in the same transaction as their events: the
-- folded aggregate (JSON) and the next trigger instant (ms UTC) the scheduler claims on.
CREATE TABLE IF NOT EXISTS schedule_state (
    schedule_id text PRIMARY KEY,
    account_id text NOT NULL,
    profile_id text NOT NULL,
    action text NOT NULL,
    next_due_at bigint,
    last_sequence bigint NOT NULL,
    state_json text NOT NULL
);
CREATE INDEX IF NOT EXISTS schedule_state_due ON schedule_state (next_due_at) WHERE next_due_at IS NOT NULL;
