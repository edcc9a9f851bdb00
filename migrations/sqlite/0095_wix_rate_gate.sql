-- The Wix request gate of each app instance (site), shared by every worker
-- (adapters::cms::wix::gate).
--
-- Wix allows 200 requests per minute per app instance (cms-apis.md §5, platforms.md §6): a
-- token bucket per site, `level` in "request-milliseconds" (one request costs the window's
-- length in ms, the bucket restores the limit per ms elapsed, so integers need no
-- rounding), `updated_at` the instant of that level (ms UTC). Debts are allowed: a worker
-- that reserved past zero waits until the bucket has restored it. One row per site, taken
-- by a single UPDATE statement, like erp_call_gate and shopify_cost_bucket.
CREATE TABLE IF NOT EXISTS wix_rate_gate (
    instance text PRIMARY KEY,
    level bigint NOT NULL,
    updated_at bigint NOT NULL
);
