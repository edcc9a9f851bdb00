-- The request gate of each BigCommerce store, shared by every worker
-- (adapters::cms::bigcommerce::gate).
--
-- BigCommerce meters its API per store, all apps together, in windows of 30 s (150
-- requests on Standard/Plus; platforms.md §4): `remaining` is what this side may still
-- send in the current window (never more than the store last reported), `reset_at` the
-- end of that window (ms UTC, as the store reported it), `quota` and `window_ms` the
-- store's figures, `probing` 1 while the first request of a new window is in flight (its
-- answer tells what the other apps left), `granted` whether the last take got a request.
-- One row per store, taken and reported by single UPDATE statements, like erp_call_gate.
CREATE TABLE IF NOT EXISTS bigcommerce_rate_gate (
    store text PRIMARY KEY,
    remaining bigint NOT NULL,
    reset_at bigint NOT NULL,
    quota bigint NOT NULL,
    window_ms bigint NOT NULL,
    probing bigint NOT NULL,
    granted bigint NOT NULL
);
