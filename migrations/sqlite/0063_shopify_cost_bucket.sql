-- The Shopify cost bucket of each shop, shared by every worker (adapters::cms::shopify::bucket).
--
-- Shopify meters its Admin GraphQL API per app and shop with a leaky bucket of cost points
-- (platforms.md §3): `level_milli` is what this side believes is left, in thousandths of a
-- point (debts allowed: a worker that reserved more than what is left waits until the
-- bucket has restored it), `updated_at` the instant of that level (ms UTC), `maximum` and
-- `restore_rate` (points per second) as the shop last reported them in `throttleStatus`.
-- One row per shop, taken and settled by single UPDATE statements, like erp_call_gate.
CREATE TABLE IF NOT EXISTS shopify_cost_bucket (
    shop text PRIMARY KEY,
    level_milli bigint NOT NULL,
    maximum bigint NOT NULL,
    restore_rate bigint NOT NULL,
    updated_at bigint NOT NULL
);
